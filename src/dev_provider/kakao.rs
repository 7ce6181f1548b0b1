//! Kakao's imitation: `/oauth/authorize`, `/oauth/token` (numeric `expires_in`, `KOE` error
//! codes), `/v2/user/me` (numeric `id`, `kakao_account` with its agreement flags) and the
//! admin-key unlink `/v1/user/unlink` (counted in `/_stats`).

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
        .at("/v1/user/unlink", post(unlink))
        .at("/_stats", get(stats))
}

/// `POST /v1/user/unlink` with `Authorization: KakaoAK {admin key}` and the form fields
/// `target_id_type=user_id`, `target_id`: `{"id": target_id}`. A wrong or missing key is 401, a
/// missing or non-numeric target 400 (kapi's `{"msg","code"}` errors).
#[handler]
async fn unlink(req: &Request, body: poem::Body, dev: Data<&Arc<DevProvider>>) -> Response {
    let key = req.headers().get(poem::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let key_ok = key
        .and_then(|k| k.strip_prefix("KakaoAK "))
        .is_some_and(|k| crypto::constant_time_eq(k.as_bytes(), super::KAKAO_ADMIN_KEY.as_bytes()));
    if !key_ok {
        let body = json!({"msg": "wrong appKey(adminKey) format", "code": -401});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let bytes = body.into_vec().await.unwrap_or_default();
    let field = |name: &str| url::form_urlencoded::parse(&bytes).find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let target = (field("target_id_type").as_deref() == Some("user_id"))
        .then(|| field("target_id").and_then(|id| id.parse::<u64>().ok()))
        .flatten();
    let Some(id) = target else {
        let body = json!({"msg": "target_id_type and a numeric target_id are required", "code": -2});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    };
    dev.kakao_unlinks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Json(json!({ "id": id })).into_response()
}

/// What the imitation answered (tests count unlinks).
#[handler]
fn stats(dev: Data<&Arc<DevProvider>>) -> Json<serde_json::Value> {
    Json(json!({ "unlinks": dev.kakao_unlinks.load(std::sync::atomic::Ordering::SeqCst) }))
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
