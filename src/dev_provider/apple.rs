//! Apple's imitation (docs/providers.md, "Apple"): `/auth/authorize` answers with a page that
//! posts the code back (`response_mode=form_post`), with the `user` field the first time a
//! person authorizes a client only; `/auth/token` checks the client-secret JWT munji signs
//! (ES256 with the dev key, `kid`, `iss` = the team, `sub` = the client, `aud` = Apple, a
//! lifetime Apple would take) and answers with an RS256 ID token whose booleans are strings, as
//! Apple's often are; `/auth/keys`; `/auth/revoke`, which forgets the authorization so the next
//! one sends `user` again.
//!
//! The issuer is `http://{Host}/dev/apple`, from the request: munji's tests and `serve --dev`
//! reach the imitation under another host name than munji's own, so that its form post really
//! crosses sites.

use std::sync::{Arc, LazyLock, atomic::Ordering};

use askama::Template;
use base64::{Engine as _, engine::general_purpose::STANDARD};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::Jwk};
use poem::{
    IntoResponse, Request, Response, Route, get, handler,
    http::{HeaderValue, StatusCode, header},
    post,
    web::{Data, Form, Html, Json},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{Decided, Decision, DevProvider, Person, TokenError, authorize_form, decide, redeem, token_request};
use crate::upstream::{Provider, apple::CLIENT_SECRET_AUDIENCE};

/// The key id of the imitation's ID-token key (the same RSA key as Google's imitation).
pub(super) const KID: &str = "munji-dev-apple-1";
/// The team the dev client secret must be issued by.
pub const TEAM_ID: &str = "MUNJIDEV01";
/// The key id the dev client secret must name.
pub const KEY_ID: &str = "DEVKEY0001";
/// The dev `.p8` key that signs client secrets (a test key, public in the repository).
pub const PRIVATE_KEY: &str = include_str!("../../fixtures/keys/dev-apple-es256.p8");
/// The longest client-secret lifetime Apple accepts: six months.
const MAX_SECRET_LIFETIME: i64 = 15_777_000;

/// The client-secret key's public half.
static SECRET_KEY: LazyLock<Option<DecodingKey>> = LazyLock::new(|| {
    let key = EncodingKey::from_ec_pem(PRIVATE_KEY.as_bytes()).ok()?;
    DecodingKey::from_jwk(&Jwk::from_encoding_key(&key, Algorithm::ES256).ok()?).ok()
});

/// The script of the form-post page, and the policy that lets it alone run.
const POST_SCRIPT: &str = r#"document.getElementById("post").submit();"#;
static POST_CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = STANDARD.encode(Sha256::digest(POST_SCRIPT.as_bytes()));
    format!("default-src 'none'; style-src 'self'; frame-ancestors 'none'; script-src 'sha256-{hash}'")
});

pub(super) fn routes() -> Route {
    Route::new()
        .at("/auth/authorize", get(authorize_form).post(decision))
        .at("/auth/token", post(token))
        .at("/auth/keys", get(keys))
        .at("/auth/revoke", post(revoke))
        .at("/_stats", get(stats))
        .at("/_faults", post(faults))
}

/// The issuer as the caller addressed the imitation.
fn issuer(req: &Request) -> String {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}/dev/apple")
}

#[derive(Template)]
#[template(
    source = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Apple (dev imitation)</title></head>
<body><form id="post" method="post" action="{{ action }}">
{% for (name, value) in fields %}<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}<button type="submit">Continue</button></form>
<script>{{ script|safe }}</script></body></html>"#,
    ext = "html"
)]
struct FormPost {
    action: String,
    fields: Vec<(&'static str, String)>,
    script: &'static str,
}

/// `POST /auth/authorize`: the answer goes back as a form post, from this origin.
#[handler]
fn decision(Form(form): Form<Decision>, dev: Data<&Arc<DevProvider>>) -> Response {
    let uid = form.uid.clone().unwrap_or_default().trim().to_owned();
    let client_id = form.params.client_id.clone().unwrap_or_default();
    let (email, hide, name) = (form.email.clone(), form.hide_email.is_some(), form.name.clone());
    let (redirect_uri, mut fields) = match decide(&dev, Provider::Apple, form, "user_cancelled_authorize") {
        Decided::Answer(redirect_uri, fields) => (redirect_uri, fields),
        Decided::Refused(resp) => return resp,
    };
    let first_time = fields.iter().any(|(name, _)| *name == "code")
        && dev.apple_authorized.lock().is_ok_and(|mut set| set.insert((client_id.clone(), uid.clone())));
    if first_time {
        let person = Person {
            uid,
            email: email.unwrap_or_default(),
            email_verified: true,
            consent_email: true,
            name: String::new(),
            hide_email: hide,
        };
        let full = name.unwrap_or_default().trim().to_owned();
        let (first, last) = full.split_once(' ').unwrap_or((full.as_str(), ""));
        let user = json!({
            "name": { "firstName": first, "lastName": last },
            "email": address(&person, &client_id),
        });
        fields.push(("user", user.to_string()));
    }
    let page = FormPost { action: redirect_uri.to_string(), fields, script: POST_SCRIPT };
    let mut resp = match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if let Ok(policy) = HeaderValue::from_str(&POST_CSP) {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    resp
}

/// The address Apple gives the client: the person's own, or their relay address.
fn address(person: &Person, client_id: &str) -> String {
    if person.hide_email { relay_address(client_id, &person.uid) } else { person.email.clone() }
}

/// The private relay address of the person `uid` for `client_id`: one per person and client,
/// hiding their own.
pub fn relay_address(client_id: &str, uid: &str) -> String {
    let digest = Sha256::digest(format!("{client_id}/{uid}").as_bytes());
    let local: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{local}@privaterelay.appleid.com")
}

/// Why a client secret is refused (the imitation answers `invalid_client`).
fn check_client_secret(secret: Option<&str>, client_id: &str) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Claims {
        sub: String,
        iat: i64,
        exp: i64,
    }
    let secret = secret.filter(|s| !s.is_empty()).ok_or("client_secret is missing")?;
    let header = jsonwebtoken::decode_header(secret).map_err(|e| format!("client_secret is not a JWT: {e}"))?;
    if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(KEY_ID) {
        return Err(format!("client_secret must be ES256 with kid {KEY_ID}"));
    }
    let key = SECRET_KEY.as_ref().ok_or("the imitation's key did not load")?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[CLIENT_SECRET_AUDIENCE]);
    validation.set_issuer(&[TEAM_ID]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(secret, key, &validation).map_err(|e| e.to_string())?.claims;
    if claims.sub != client_id {
        return Err("client_secret's sub is not the client_id".into());
    }
    if claims.iat > Utc::now().timestamp() + 60 || claims.exp - claims.iat > MAX_SECRET_LIFETIME {
        return Err("client_secret's iat is in the future or it lives longer than six months".into());
    }
    Ok(())
}

/// What the imitation's refresh token stands for.
#[derive(Serialize, Deserialize)]
struct RefreshClaims {
    client_id: String,
    uid: String,
    id: String,
}

#[handler]
async fn token(req: &Request, body: poem::Body, dev: Data<&Arc<DevProvider>>) -> Response {
    let issuer = issuer(req);
    let request = token_request(req, body).await;
    let client_id = request.client_id.clone().unwrap_or_default();
    if let Err(why) = check_client_secret(request.client_secret.as_deref(), &client_id) {
        return error("invalid_client", &why);
    }
    let claims = match redeem(&dev, Provider::Apple, &request) {
        Ok(claims) => claims,
        Err(TokenError::UnsupportedGrant) => return error("unsupported_grant_type", "Invalid grant_type"),
        Err(TokenError::InvalidGrant(why)) => return error("invalid_grant", why),
    };
    let now = Utc::now().timestamp();
    let person = &claims.person;
    let mut id_claims = json!({
        "iss": issuer,
        "aud": claims.client_id,
        "sub": person.uid,
        "iat": now,
        "exp": now + 600,
        "auth_time": now,
        "nonce_supported": true,
    });
    if let Some(nonce) = &claims.nonce {
        id_claims["nonce"] = json!(nonce);
    }
    if !person.email.is_empty() {
        id_claims["email"] = json!(address(person, &claims.client_id));
        // Apple sends these booleans as strings.
        id_claims["email_verified"] = json!("true");
        id_claims["is_private_email"] = json!(if person.hide_email { "true" } else { "false" });
    }
    let fault = dev.apple_id_token_fault.lock().ok().and_then(|mut f| f.take());
    match fault.as_deref() {
        Some("expired") => (id_claims["iat"], id_claims["exp"]) = (json!(now - 7200), json!(now - 3600)),
        Some("wrong_audience") => id_claims["aud"] = json!("someone-else"),
        Some("wrong_issuer") => id_claims["iss"] = json!("https://appleid.apple.com.evil.example"),
        _ => {}
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.to_owned());
    let Ok(mut id_token) = jsonwebtoken::encode(&header, &id_claims, &dev.google.signing) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if fault.as_deref() == Some("forged") {
        // Another person's claims under the real signature.
        let mut forged = id_claims.clone();
        forged["sub"] = json!("000000.forged");
        let parts: Vec<&str> = id_token.split('.').collect();
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
        id_token = format!("{}.{body}.{}", parts[0], parts[2]);
    }
    let refresh =
        RefreshClaims { client_id: claims.client_id, uid: person.uid.clone(), id: crate::crypto::random_token(8) };
    Json(json!({
        "access_token": dev.access_token(Provider::Apple, person),
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": dev.seal(&refresh),
        "id_token": id_token,
    }))
    .into_response()
}

#[handler]
fn keys(dev: Data<&Arc<DevProvider>>) -> Json<Value> {
    let mut jwk = dev.google.jwk.clone();
    jwk.common.key_id = Some(KID.to_owned());
    Json(json!({ "keys": [jwk] }))
}

#[derive(Deserialize)]
struct RevokeForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    token: Option<String>,
}

/// `POST /auth/revoke`: 200 with an empty body, also for a token that is no longer valid.
#[handler]
fn revoke(Form(form): Form<RevokeForm>, dev: Data<&Arc<DevProvider>>) -> Response {
    let client_id = form.client_id.unwrap_or_default();
    if let Err(why) = check_client_secret(form.client_secret.as_deref(), &client_id) {
        return error("invalid_client", &why);
    }
    let presented = form.token.unwrap_or_default();
    if let Some(claims) = dev.unseal::<RefreshClaims>(&presented).filter(|c| c.client_id == client_id) {
        if let Ok(mut set) = dev.apple_authorized.lock() {
            set.remove(&(claims.client_id, claims.uid));
        }
        dev.revoke(&presented);
        dev.apple_revocations.fetch_add(1, Ordering::SeqCst);
    }
    StatusCode::OK.into_response()
}

#[handler]
fn stats(dev: Data<&Arc<DevProvider>>) -> Json<Value> {
    Json(json!({ "revocations": dev.apple_revocations.load(Ordering::SeqCst) }))
}

/// `POST /_faults` `{"id_token": "forged" | "expired" | "wrong_audience" | "wrong_issuer"}`:
/// the next ID token is wrong that way.
#[handler]
fn faults(Json(body): Json<Value>, dev: Data<&Arc<DevProvider>>) -> StatusCode {
    if let Ok(mut fault) = dev.apple_id_token_fault.lock() {
        *fault = body["id_token"].as_str().map(str::to_owned);
    }
    StatusCode::NO_CONTENT
}

fn error(code: &str, description: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": code, "error_description": description }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::AppleConfig, upstream::apple::ClientSecret};

    fn settings(team_id: &str, key_id: &str, client_id: &str) -> AppleConfig {
        AppleConfig {
            client_id: client_id.into(),
            team_id: team_id.into(),
            key_id: key_id.into(),
            private_key: PRIVATE_KEY.to_owned().into(),
            issuer_url: url::Url::parse("http://127.0.0.1:9/dev/apple").unwrap(),
            legacy_email_trust: crate::config::EmailTrust::Verified,
        }
    }

    fn secret(team_id: &str, key_id: &str, client_id: &str, at: i64) -> String {
        ClientSecret::new(&settings(team_id, key_id, client_id)).unwrap().at(at).unwrap()
    }

    #[test]
    fn the_imitation_takes_munjis_client_secret_and_nothing_else() {
        let now = Utc::now().timestamp();
        assert_eq!(check_client_secret(Some(&secret(TEAM_ID, KEY_ID, "web", now)), "web"), Ok(()));
        let refused = [
            (secret("OTHERTEAM1", KEY_ID, "web", now), "web"),
            (secret(TEAM_ID, "OTHERKEY01", "web", now), "web"),
            (secret(TEAM_ID, KEY_ID, "other", now), "web"),
            // Signed for the future, or expired.
            (secret(TEAM_ID, KEY_ID, "web", now + 600), "web"),
            (secret(TEAM_ID, KEY_ID, "web", now - 7200), "web"),
            ("".to_owned(), "web"),
            ("not.a.jwt".to_owned(), "web"),
        ];
        for (presented, client_id) in refused {
            assert!(check_client_secret(Some(&presented), client_id).is_err(), "{presented:.40}");
        }
        assert!(check_client_secret(None, "web").is_err());
    }
}
