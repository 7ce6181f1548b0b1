//! Google's imitation: discovery, JWKS, authorize, token (with an RS256 ID token), userinfo.

use std::sync::{Arc, atomic::Ordering};

use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use poem::{
    IntoResponse, Request, Response, Route, get, handler,
    http::StatusCode,
    post,
    web::{Data, Json},
};
use serde_json::{Value, json};

use super::{DevProvider, TokenError, authorize_decision, authorize_form, redeem, token_request};
use crate::upstream::Provider;

pub(super) const KID: &str = "munji-dev-google-1";

/// The fixed RSA key of the imitation (`fixtures/keys/dev-google-rsa.pem`) and its JWK.
pub(super) struct Keys {
    pub(super) signing: EncodingKey,
    pub(super) jwk: Jwk,
}

impl Keys {
    pub(super) fn load() -> anyhow::Result<Self> {
        let signing = EncodingKey::from_rsa_pem(include_bytes!("../../fixtures/keys/dev-google-rsa.pem"))?;
        let mut jwk = Jwk::from_encoding_key(&signing, Algorithm::RS256)?;
        jwk.common.key_id = Some(KID.to_owned());
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        Ok(Self { signing, jwk })
    }
}

pub(super) fn routes() -> Route {
    Route::new()
        .at("/.well-known/openid-configuration", get(discovery))
        .at("/jwks", get(jwks))
        .at("/.well-known/risc-configuration", get(risc_configuration))
        .at("/authorize", get(authorize_form).post(authorize_decision))
        .at("/token", post(token))
        .at("/userinfo", get(userinfo))
        .at("/revoke", post(revoke))
        .at("/gmail/v1/users/:user_id/messages/send", post(send_mail))
        .at("/_stats", get(stats))
        .at("/_faults", post(faults))
}

/// How the imitation signs ID tokens: RS256 with its key, as Google does, or (mounted at
/// [`HS256_PATH`]) HS256 keyed with the client secret, as LINE's web login does, to imitate a
/// generic OpenID Connect provider of either kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdTokens {
    Rs256,
    Hs256,
}

/// Where the HS256 variant is mounted, below the imitation's base.
pub(super) const HS256_PATH: &str = "/oidc-hs256";

impl IdTokens {
    /// The issuer of this variant, and the base of its endpoints.
    fn url(self, dev: &DevProvider, path: &str) -> String {
        match self {
            Self::Rs256 => dev.url(Provider::Google, path),
            Self::Hs256 => format!("{}{HS256_PATH}{path}", dev.base),
        }
    }
}

#[handler]
fn discovery(dev: Data<&Arc<DevProvider>>, mode: Data<&IdTokens>) -> Json<Value> {
    let url = |path: &str| mode.url(&dev, path);
    Json(json!({
        "issuer": url(""),
        "authorization_endpoint": url("/authorize"),
        "token_endpoint": url("/token"),
        "userinfo_endpoint": url("/userinfo"),
        "revocation_endpoint": url("/revoke"),
        "jwks_uri": url("/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        // LINE too lists only an asymmetric algorithm while signing web logins with HS256.
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "email", "email_verified", "exp", "iat", "iss", "name", "sub"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
    }))
}

/// Google's Cross-Account Protection document: its events are signed with the same keys as
/// its ID tokens, as Google's are.
#[handler]
fn risc_configuration(dev: Data<&Arc<DevProvider>>) -> Json<Value> {
    let url = |path: &str| dev.url(Provider::Google, path);
    Json(json!({
        "issuer": url(""),
        "jwks_uri": url("/jwks"),
        "delivery_methods_supported": ["http://schemas.openid.net/secevent/risc/delivery-method/push"],
    }))
}

#[handler]
fn jwks(dev: Data<&Arc<DevProvider>>) -> Json<Value> {
    Json(json!({ "keys": [dev.google.jwk] }))
}

/// The scopes Google reports as granted for a requested `scope` (full URLs for the Google
/// APIs, as its token endpoint writes them); `gmail.send` only if the person granted it.
pub(super) fn granted_scopes(requested: &str, grant_gmail: bool) -> String {
    let mut granted = vec!["openid"];
    for scope in requested.split(' ') {
        match scope {
            "email" => granted.push("https://www.googleapis.com/auth/userinfo.email"),
            "profile" => granted.push("https://www.googleapis.com/auth/userinfo.profile"),
            crate::upstream::GMAIL_SEND if grant_gmail => granted.push(crate::upstream::GMAIL_SEND),
            _ => {}
        }
    }
    granted.join(" ")
}

/// A refresh token of the imitation: the person and what was granted, sealed.
#[derive(serde::Serialize, serde::Deserialize)]
struct RefreshClaims {
    person: super::Person,
    granted: String,
    nonce: String,
}

/// `grant_type=refresh_token`: a new access token, no new refresh token (as Google does).
fn refresh(dev: &DevProvider, presented: Option<&str>) -> Response {
    let presented = presented.unwrap_or_default();
    let Some(claims) = dev
        .unseal::<RefreshClaims>(presented)
        .filter(|c| !dev.is_revoked(presented) && !dev.is_revoked(&super::grant_key(&c.nonce)))
    else {
        return error(StatusCode::BAD_REQUEST, "invalid_grant", "Token has been expired or revoked.");
    };
    dev.google_refreshes.fetch_add(1, Ordering::SeqCst);
    let access = dev.scoped_access_token(Provider::Google, &claims.person, claims.granted.clone(), Some(claims.nonce));
    Json(json!({
        "access_token": access,
        "expires_in": 3599,
        "token_type": "Bearer",
        "scope": claims.granted,
    }))
    .into_response()
}

#[handler]
async fn token(req: &Request, body: poem::Body, dev: Data<&Arc<DevProvider>>, mode: Data<&IdTokens>) -> Response {
    let request = token_request(req, body).await;
    if request.grant_type.as_deref() == Some("refresh_token") {
        return refresh(&dev, request.refresh_token.as_deref());
    }
    let claims = match redeem(&dev, Provider::Google, &request) {
        Ok(claims) => claims,
        Err(TokenError::UnsupportedGrant) => {
            return error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Invalid grant_type");
        }
        Err(TokenError::InvalidGrant(why)) => return error(StatusCode::BAD_REQUEST, "invalid_grant", why),
    };
    let now = Utc::now().timestamp();
    let person = &claims.person;
    let mut id_claims = json!({
        "iss": mode.url(&dev, ""),
        "aud": claims.client_id,
        "sub": person.uid,
        "iat": now,
        "exp": now + 3600,
    });
    if let Some(nonce) = &claims.nonce {
        id_claims["nonce"] = json!(nonce);
    }
    if let Some(email) = person.shared_email() {
        id_claims["email"] = json!(email);
        id_claims["email_verified"] = json!(person.email_verified);
    }
    if !person.name.is_empty() {
        id_claims["name"] = json!(person.name);
    }
    let signed = match *mode {
        IdTokens::Rs256 => {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(KID.to_owned());
            jsonwebtoken::encode(&header, &id_claims, &dev.google.signing)
        }
        IdTokens::Hs256 => {
            let Some(secret) = request.client_secret.as_deref().filter(|s| !s.is_empty()) else {
                return error(StatusCode::BAD_REQUEST, "invalid_client", "client_secret is required");
            };
            let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &id_claims, &key)
        }
    };
    let id_token = match signed {
        Ok(token) => token,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let granted = claims.granted.clone().unwrap_or_else(|| granted_scopes("openid email profile", false));
    let grant = claims.offline.then(|| crate::crypto::random_token(8));
    let mut body = json!({
        "access_token": dev.scoped_access_token(Provider::Google, person, granted.clone(), grant.clone()),
        "expires_in": 3599,
        "token_type": "Bearer",
        "scope": granted,
        "id_token": id_token,
    });
    if let Some(nonce) = grant {
        body["refresh_token"] = json!(dev.seal(&RefreshClaims { person: person.clone(), granted, nonce }));
    }
    Json(body).into_response()
}

#[handler]
fn userinfo(req: &Request, dev: Data<&Arc<DevProvider>>) -> Response {
    let Some(person) = dev.bearer(req, Provider::Google) else {
        return error(StatusCode::UNAUTHORIZED, "invalid_token", "Invalid Credentials");
    };
    let mut body = json!({ "sub": person.uid });
    if let Some(email) = person.shared_email() {
        body["email"] = json!(email);
        body["email_verified"] = json!(person.email_verified);
    }
    if !person.name.is_empty() {
        body["name"] = json!(person.name);
    }
    Json(body).into_response()
}

/// `POST /revoke` (`token=` in the form or the query): 200, and the token stops working.
#[handler]
async fn revoke(req: &Request, body: poem::Body, dev: Data<&Arc<DevProvider>>) -> Response {
    let bytes = body.into_vec().await.unwrap_or_default();
    let from_body = url::form_urlencoded::parse(&bytes).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned());
    let from_query = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned())
    });
    if dev.google_revoke_down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match from_body.or(from_query) {
        Some(revoked) => {
            dev.google_revocations.fetch_add(1, Ordering::SeqCst);
            // Revoking either token of a grant ends the grant, as at Google (docs/providers.md).
            let grant = dev
                .unseal::<RefreshClaims>(&revoked)
                .map(|c| c.nonce)
                .or_else(|| dev.unseal::<super::AccessClaims>(&revoked).and_then(|c| c.grant));
            if let Some(grant) = grant {
                dev.revoke(&super::grant_key(&grant));
            }
            dev.revoke(&revoked);
            StatusCode::OK.into_response()
        }
        None => error(StatusCode::BAD_REQUEST, "invalid_request", "token is missing"),
    }
}

/// Gmail's `users.messages.send` (docs/gmail.md): a live access token with `gmail.send` and
/// a `raw` RFC 2822 message in base64url. The message goes nowhere; it is only counted.
#[handler]
async fn send_mail(req: &Request, body: poem::Body, dev: Data<&Arc<DevProvider>>) -> Response {
    let Some(claims) = dev.bearer_claims(req, Provider::Google) else {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials.",
            "UNAUTHENTICATED",
        );
    };
    if !claims.scope.split(' ').any(|s| s == crate::upstream::GMAIL_SEND) {
        return api_error(
            StatusCode::FORBIDDEN,
            "Request had insufficient authentication scopes.",
            "PERMISSION_DENIED",
        );
    }
    let message: Option<Value> = serde_json::from_slice(&body.into_vec().await.unwrap_or_default()).ok();
    let raw = message.as_ref().and_then(|m| m["raw"].as_str()).map(|r| r.trim_end_matches('='));
    if raw.and_then(|r| base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, r).ok()).is_none() {
        return api_error(StatusCode::BAD_REQUEST, "Invalid value for ByteString", "INVALID_ARGUMENT");
    }
    dev.gmail_sent.fetch_add(1, Ordering::SeqCst);
    let id = crate::crypto::random_token(8);
    Json(json!({ "id": id, "threadId": id, "labelIds": ["SENT"] })).into_response()
}

/// What the imitation answered (tests count upstream refreshes and sent mail).
#[handler]
fn stats(dev: Data<&Arc<DevProvider>>) -> Json<Value> {
    Json(json!({
        "refreshes": dev.google_refreshes.load(Ordering::SeqCst),
        "sent": dev.gmail_sent.load(Ordering::SeqCst),
        "revocations": dev.google_revocations.load(Ordering::SeqCst),
    }))
}

/// `POST /_faults` with `revoke=down` (or `up`): the revocation endpoint fails until told
/// otherwise (tests of a deletion while Google is down).
#[handler]
async fn faults(body: poem::Body, dev: Data<&Arc<DevProvider>>) -> StatusCode {
    let bytes = body.into_vec().await.unwrap_or_default();
    for (key, value) in url::form_urlencoded::parse(&bytes) {
        if key == "revoke" {
            dev.google_revoke_down.store(value == "down", Ordering::SeqCst);
        }
    }
    StatusCode::NO_CONTENT
}

/// A Google API error (Gmail), as opposed to the OAuth shape of [`error`].
fn api_error(status: StatusCode, message: &str, code: &str) -> Response {
    (status, Json(json!({ "error": { "code": status.as_u16(), "message": message, "status": code } }))).into_response()
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (status, Json(json!({ "error": code, "error_description": description }))).into_response()
}
