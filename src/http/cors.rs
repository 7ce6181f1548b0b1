//! CORS (`cors_origins`, docs/security.md) for what single-page apps call from the browser:
//! discovery, `/jwks`, `/token`, `/userinfo`, `/revoke` and `/api/v1`. Never on `/authorize` or
//! the pages (RFC 9700: the authorization endpoint is for top-level navigation only). poem's
//! middleware answers the preflight; no credentials are allowed (tokens travel in
//! `Authorization`, never in cookies), so `*` in `cors_origins` means any origin without
//! credentials. With `cors_origins` empty no CORS header is ever sent.

use poem::{
    EndpointExt as _, IntoEndpoint,
    http::{Method, header},
    middleware::Cors,
};

use crate::config::Config;

/// What a browser may send and read cross-origin.
fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::new()
        .allow_credentials(false)
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::HeaderName::from_static("x-request-id")])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ])
        .max_age(600);
    for origin in origins {
        cors = if origin == "*" { cors.allow_origin_regex("*") } else { cors.allow_origin(origin.as_str()) };
    }
    cors
}

/// `endpoint`, answering CORS for the configured origins (or unchanged when there are none).
pub fn allow<E>(config: &Config, endpoint: E) -> poem::endpoint::BoxEndpoint<'static>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let endpoint = endpoint.into_endpoint();
    if config.cors_origins.is_empty() {
        endpoint.map_to_response().boxed()
    } else {
        endpoint.with(cors(&config.cors_origins)).boxed()
    }
}
