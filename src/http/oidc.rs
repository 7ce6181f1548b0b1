//! The OpenID Connect provider's HTTP side: discovery, JWKS, the token endpoint and userinfo.
//! (`/authorize` is a browser page and lives with the pages.) Errors are RFC 6749 JSON with
//! `Cache-Control: no-store`.

mod discovery;
mod revoke;
mod token;
mod userinfo;

use poem::{
    IntoResponse, Response, Route, get,
    http::{HeaderValue, StatusCode, header},
    web::Json,
};

use crate::oidc::error::OAuthError;

/// Add the provider's endpoints to `routes` (they sit at the root, beside the pages).
pub fn mount(routes: Route) -> Route {
    routes
        .at("/.well-known/openid-configuration", get(discovery::configuration))
        .at("/jwks", get(discovery::jwks))
        .at("/token", poem::post(token::token))
        .at("/userinfo", get(userinfo::userinfo).post(userinfo::userinfo))
        .at("/revoke", poem::post(revoke::revoke))
        .at("/introspect", poem::post(revoke::introspect))
}

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
