//! Naver's imitation: classic `/oauth2.0/…` endpoints (parameters in the query string or the
//! body, errors with HTTP 200, `expires_in` as a string) and `/v1/nid/me` in its envelope.

use std::sync::Arc;

use poem::{
    IntoResponse, Request, Response, Route, get, handler,
    http::StatusCode,
    web::{Data, Json},
};
use serde_json::json;

use super::{DevProvider, TokenError, authorize_decision, authorize_form, redeem, token_request};
use crate::{crypto, upstream::Provider};

pub(super) fn routes() -> Route {
    Route::new()
        .at("/oauth2.0/authorize", get(authorize_form).post(authorize_decision))
        .at("/oauth2.0/token", get(token).post(token))
        .at("/v1/nid/me", get(me))
}

#[handler]
async fn token(req: &Request, body: poem::Body, dev: Data<&Arc<DevProvider>>) -> Response {
    let request = token_request(req, body).await;
    match redeem(&dev, Provider::Naver, &request) {
        Ok(claims) => Json(json!({
            "access_token": dev.access_token(Provider::Naver, &claims.person),
            "refresh_token": crypto::random_token(32),
            "token_type": "bearer",
            "expires_in": "3600",
        }))
        .into_response(),
        // Naver answers token errors with HTTP 200 and an `error` field.
        Err(TokenError::UnsupportedGrant) => {
            Json(json!({"error": "unsupported_response_type", "error_description": "invalid grant_type"}))
                .into_response()
        }
        Err(TokenError::InvalidGrant(why)) => {
            Json(json!({"error": "invalid_request", "error_description": why})).into_response()
        }
    }
}

#[handler]
fn me(req: &Request, dev: Data<&Arc<DevProvider>>) -> Response {
    let Some(person) = dev.bearer(req, Provider::Naver) else {
        let body = json!({"resultcode": "024", "message": "Authentication failed / 인증에 실패했습니다."});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    };
    // A declined item comes back empty, one of the two forms Naver is seen to use.
    let mut response = json!({ "id": person.uid, "email": person.shared_email().unwrap_or("") });
    if !person.name.is_empty() {
        response["name"] = json!(person.name);
        response["nickname"] = json!(person.name);
    }
    Json(json!({ "resultcode": "00", "message": "success", "response": response })).into_response()
}
