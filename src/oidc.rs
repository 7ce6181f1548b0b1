//! The authorization server core (docs/tokens.md): signing keys, tokens, clients. No poem types
//! here; `http::oidc` translates between HTTP and this module.

pub mod apps;
pub mod authorize;
pub mod backchannel;
pub mod client_auth;
pub mod clients;
pub mod error;
pub mod grant;
pub mod keys;
pub mod logout;
pub mod proof;
pub mod revocation;
pub mod tokens;
pub mod verified;
