//! Google's imitation: discovery, JWKS, authorize, token (with an RS256 ID token), userinfo.

use std::sync::Arc;

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

const KID: &str = "munji-dev-google-1";

/// The fixed RSA key of the imitation (`fixtures/keys/dev-google-rsa.pem`) and its JWK.
pub(super) struct Keys {
    signing: EncodingKey,
    jwk: Jwk,
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
        .at("/authorize", get(authorize_form).post(authorize_decision))
        .at("/token", post(token))
        .at("/userinfo", get(userinfo))
}

#[handler]
fn discovery(dev: Data<&Arc<DevProvider>>) -> Json<Value> {
    let url = |path: &str| dev.url(Provider::Google, path);
    Json(json!({
        "issuer": url(""),
        "authorization_endpoint": url("/authorize"),
        "token_endpoint": url("/token"),
        "userinfo_endpoint": url("/userinfo"),
        "revocation_endpoint": url("/revoke"),
        "jwks_uri": url("/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "email", "email_verified", "exp", "iat", "iss", "name", "sub"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
    }))
}

#[handler]
fn jwks(dev: Data<&Arc<DevProvider>>) -> Json<Value> {
    Json(json!({ "keys": [dev.google.jwk] }))
}

#[handler]
async fn token(req: &Request, body: poem::Body, dev: Data<&Arc<DevProvider>>) -> Response {
    let request = token_request(req, body).await;
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
        "iss": dev.url(Provider::Google, ""),
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
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.to_owned());
    let id_token = match jsonwebtoken::encode(&header, &id_claims, &dev.google.signing) {
        Ok(token) => token,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    Json(json!({
        "access_token": dev.access_token(Provider::Google, person),
        "expires_in": 3599,
        "token_type": "Bearer",
        "scope": "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
        "id_token": id_token,
    }))
    .into_response()
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

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (status, Json(json!({ "error": code, "error_description": description }))).into_response()
}
