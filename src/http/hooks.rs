//! The providers' account-event hooks (docs/provider-events.md), each mounted only when its
//! provider is set up for it:
//!
//! - `GET|POST /hooks/kakao/unlink` (`providers.kakao.admin_key` set): 200, also for a person
//!   munji does not know; 401 without the admin key.
//! - `POST /hooks/naver/unlink` (Naver on): 204; 403 for a bad signature or a stale timestamp.
//! - `POST /hooks/google/risc` (`providers.google.risc = true`): 202, also for a `jti` seen
//!   before; 400 for a token that fails verification or is malformed.
//! - `POST /hooks/apple` (Apple configured): JSON `{"payload": "<JWT>"}`; 200 (Apple retries
//!   anything else), also for a `jti` seen before; 400 for a payload that fails verification.
//!
//! Refusals answer in the `/api/v1` error envelope. The handlers only read the request; the
//! checks and their effects are [`crate::provider_events`]'.

use poem::{
    Body, IntoResponse, Request, Response, Route, get, handler,
    http::{StatusCode, header},
    post,
    web::Data,
};
use serde_json::Value;

use super::api::error::{ErrorCode, render};
use crate::{
    provider_events::{self, EventError, HookError, Refusal},
    state::AppState,
    upstream::naver::notice::Notice,
};

/// Add the hooks that the configuration turns on.
pub fn mount(mut routes: Route, state: &AppState) -> Route {
    if state.config.providers.kakao.admin_key().is_some() {
        routes = routes.at("/hooks/kakao/unlink", get(kakao_unlink).post(kakao_unlink));
    }
    if state.config.providers.naver.enabled() {
        routes = routes.at("/hooks/naver/unlink", post(naver_unlink));
    }
    if state.upstreams.receives_risc() {
        routes = routes.at("/hooks/google/risc", post(google_risc));
    }
    if state.upstreams.receives_apple() {
        routes = routes.at("/hooks/apple", post(apple));
    }
    routes
}

/// The parameters of a call: the query string, then the body (form or JSON) over it.
async fn parameters(req: &Request, body: Body) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
    let bytes = body.into_vec().await.unwrap_or_default();
    let is_json = req.content_type().is_some_and(|t| t.starts_with("application/json"));
    let from_body: Vec<(String, String)> = if is_json {
        let object = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| v.as_object().cloned());
        object
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                Value::Number(n) => Some((k, n.to_string())),
                _ => None,
            })
            .collect()
    } else {
        url::form_urlencoded::parse(&bytes).into_owned().collect()
    };
    params.extend(from_body);
    params
}

/// The last value of `name` (the body's, when both carry it).
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[handler]
async fn kakao_unlink(req: &Request, body: Body, state: Data<&AppState>) -> Response {
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let params = parameters(req, body).await;
    match provider_events::kakao_unlink(&state, authorization, param(&params, "user_id")).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => refusal(e),
    }
}

#[handler]
async fn naver_unlink(req: &Request, body: Body, state: Data<&AppState>) -> Response {
    let params = parameters(req, body).await;
    let field = |name: &str| param(&params, name).unwrap_or_default().to_owned();
    let notice = Notice {
        client_id: field("clientId"),
        encrypt_unique_id: field("encryptUniqueId"),
        timestamp: field("timestamp"),
        signature: field("signature"),
    };
    match provider_events::naver_unlink(&state, &notice).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refusal(e),
    }
}

#[handler]
async fn google_risc(body: Body, state: Data<&AppState>) -> Response {
    let token = match body.into_string().await {
        Ok(token) => token,
        Err(_) => return render(ErrorCode::InvalidEvent, "the body is not a security event token"),
    };
    match provider_events::google_risc(&state, &token).await {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(e) => refusal(e),
    }
}

#[handler]
async fn apple(req: &Request, body: Body, state: Data<&AppState>) -> Response {
    let params = parameters(req, body).await;
    match provider_events::apple(&state, param(&params, "payload")).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => refusal(e),
    }
}

/// A refusal in the envelope; a store or upstream failure as 503 or 502 (the provider may try
/// again), its cause logged and not sent.
fn refusal(e: HookError) -> Response {
    match e {
        HookError::Refused(why) => {
            tracing::info!(reason = %why, "provider hook refused");
            match why {
                Refusal::BadAdminKey => {
                    let mut resp = render(ErrorCode::InvalidToken, "Authorization must be KakaoAK with the admin key");
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("KakaoAK"));
                    resp
                }
                Refusal::BadNotice(why) => render(ErrorCode::InvalidSignature, why.to_string()),
                Refusal::BadToken(why) => render(ErrorCode::InvalidEvent, format!("the token was refused: {why}")),
                Refusal::Malformed(why) => render(ErrorCode::InvalidEvent, why),
            }
        }
        HookError::Upstream(e) => {
            tracing::warn!(error.message = %e, "provider keys unavailable");
            render(ErrorCode::UpstreamUnavailable, "the provider's keys could not be fetched; try again later")
        }
        HookError::Event(EventError::Store(e)) if !e.is_unavailable() => {
            tracing::error!(error.message = %e, "provider event failed");
            render(ErrorCode::Internal, "internal error; quote the request id when reporting it")
        }
        HookError::Event(e) => {
            tracing::warn!(error.message = %e, "a store is unavailable for a provider event");
            render(ErrorCode::ServiceUnavailable, "a store is unreachable; try again shortly")
        }
    }
}
