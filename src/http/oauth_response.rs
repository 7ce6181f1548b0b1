//! Responses in the OAuth 2.0 shape (RFC 6749 §5.2): what the token endpoint, `/revoke`,
//! `/introspect`, `/userinfo` and their rate limit answer.

use poem::{
    IntoResponse, Response,
    http::{HeaderValue, StatusCode, header},
    web::Json,
};

use crate::oidc::error::OAuthError;

/// `{"error", "error_description"}` with the right status; `WWW-Authenticate` on 401.
pub fn error_response(error: &OAuthError) -> Response {
    let body = serde_json::json!({"error": error.code(), "error_description": error.description()});
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (status, Json(body)).into_response();
    match error {
        OAuthError::InvalidClient { basic: true } => {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="munji""#));
        }
        OAuthError::InvalidToken(_) => {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="munji", error="invalid_token""#),
            );
        }
        OAuthError::SlowDown { retry_after_secs } => {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        _ => {}
    }
    no_store(resp)
}

/// Token responses must not be cached (RFC 6749 §5.1).
pub fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}
