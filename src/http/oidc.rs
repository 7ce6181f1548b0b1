//! The OpenID Connect provider's HTTP side: discovery, JWKS, the token endpoint and userinfo.
//! (`/authorize` is a browser page and lives with the pages.) Errors are RFC 6749 JSON with
//! `Cache-Control: no-store`.

mod discovery;
mod revoke;
mod token;
mod userinfo;

use poem::{EndpointExt as _, Route, get};

pub use super::oauth_response::{error_response, no_store};
use super::{cors, rate_limit::IpLimit};
use crate::{config::Config, rate_limit::Group};

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
