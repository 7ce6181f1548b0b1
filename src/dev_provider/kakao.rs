//! Kakao's imitation: `/oauth/authorize`, `/oauth/token` (numeric `expires_in`, `KOE` error
//! codes) and `/v2/user/me` (numeric `id`, `kakao_account` with its agreement flags).

use std::sync::Arc;

use poem::{
    IntoResponse, Request, Response, Route, get, handler,
    http::StatusCode,
    post,
    web::{Data, Json},
};
use serde_json::json;

use super::{DevProvider, TokenError, authorize_decision, authorize_form, redeem, token_request};
use crate::{crypto, upstream::Provider};

pub(super) fn routes() -> Route {
    Route::new()
        .at("/oauth/authorize", get(authorize_form).post(authorize_decision))
        .at("/oauth/token", post(token))
        .at("/v2/user/me", get(me))
}

#[handler]
async fn token(req: &Request, body: poem::Body, dev: Data<&Arc<DevProvider>>) -> Response {
    let request = token_request(req, body).await;
    match redeem(&dev, Provider::Kakao, &request) {
        Ok(claims) => Json(json!({
            "token_type": "bearer",
            "access_token": dev.access_token(Provider::Kakao, &claims.person),
            "expires_in": 21599,
            "refresh_token": crypto::random_token(32),
            "refresh_token_expires_in": 5183999,
            "scope": if claims.person.consent_email { "account_email profile_nickname" } else { "profile_nickname" },
        }))
        .into_response(),
        Err(TokenError::UnsupportedGrant) => error("unsupported_grant_type", "grant_type is not supported", "KOE010"),
        Err(TokenError::InvalidGrant(why)) => error("invalid_grant", why, "KOE320"),
    }
}

fn error(code: &str, description: &str, koe: &str) -> Response {
    let body = json!({"error": code, "error_description": description, "error_code": koe});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

#[handler]
fn me(req: &Request, dev: Data<&Arc<DevProvider>>) -> Response {
    let known = dev.bearer(req, Provider::Kakao).and_then(|p| p.uid.parse::<u64>().ok().map(|id| (p, id)));
    let Some((person, id)) = known else {
        let body = json!({"msg": "this access token does not exist", "code": -401});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    };
    let mut account = json!({
        "profile_nickname_needs_agreement": false,
        "profile": { "nickname": person.name, "is_default_image": true },
        "email_needs_agreement": !person.consent_email,
    });
    if let Some(email) = person.shared_email() {
        account["email"] = json!(email);
        account["is_email_valid"] = json!(true);
        account["is_email_verified"] = json!(person.email_verified);
    }
    Json(json!({
        "id": id,
        "connected_at": "2026-01-01T00:00:00Z",
        "properties": { "nickname": person.name },
        "kakao_account": account,
    }))
    .into_response()
}
