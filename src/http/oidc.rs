//! The OpenID Connect provider's HTTP side: discovery, JWKS, the token endpoint and userinfo.
//! (`/authorize` is a browser page and lives with the pages.) Errors are RFC 6749 JSON with
//! `Cache-Control: no-store`.

mod discovery;
mod revoke;
mod token;
mod userinfo;

use poem::{
    EndpointExt as _, IntoResponse, Response, Route, get,
    http::{HeaderValue, StatusCode, header},
    web::Json,
};

use super::{cors, rate_limit::IpLimit};
use crate::{config::Config, oidc::error::OAuthError, rate_limit::Group};

/// Add the provider's endpoints to `routes` (they sit at the root, beside the pages). The
/// ones single-page apps call answer CORS for `cors_origins`; `/introspect` is for servers.
pub fn mount(routes: Route, config: &Config) -> Route {
    routes
        .at("/.well-known/openid-configuration", cors::allow(config, get(discovery::configuration)))
        .at("/jwks", cors::allow(config, get(discovery::jwks)))
        .at("/token", cors::allow(config, poem::post(token::token).with(IpLimit(Group::OAuth))))
        .at("/userinfo", cors::allow(config, get(userinfo::userinfo).post(userinfo::userinfo)))
        .at("/revoke", cors::allow(config, poem::post(revoke::revoke).with(IpLimit(Group::OAuth))))
        .at("/introspect", poem::post(revoke::introspect).with(IpLimit(Group::OAuth)))
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
