//! The OpenID Connect provider's HTTP side: discovery, JWKS, the token endpoint and userinfo.
//! (`/authorize` is a browser page and lives with the pages.) Errors are RFC 6749 JSON with
//! `Cache-Control: no-store`.

mod discovery;
mod revoke;
mod token;
mod userinfo;

use poem::{Route, get};

use super::cors;
pub use super::oauth_response::{error_response, no_store};
use crate::config::Config;

/// Add the provider's endpoints to `routes` (they sit at the root, beside the pages). The
/// ones single-page apps call answer CORS for `cors_origins`; `/introspect` is for servers.
/// `/token`, `/revoke` and `/introspect` count their `oauth` limits themselves, per address and
/// per client together (`oidc::client_auth::Caller`), so that each costs one round trip.
pub fn mount(routes: Route, config: &Config) -> Route {
    routes
        .at("/.well-known/openid-configuration", cors::allow(config, get(discovery::configuration)))
        .at("/jwks", cors::allow(config, get(discovery::jwks)))
        .at("/token", cors::allow(config, poem::post(token::token)))
        .at("/userinfo", cors::allow(config, get(userinfo::userinfo).post(userinfo::userinfo)))
        .at("/revoke", cors::allow(config, poem::post(revoke::revoke)))
        .at("/introspect", poem::post(revoke::introspect))
}
