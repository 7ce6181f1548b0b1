//! `grant_type=client_credentials` (RFC 6749 §4.4, RFC 9068 §2.2): a service's own token.

use chrono::Utc;

use super::{Issued, access_claims, minting_failed};
use crate::{
    oidc::{
        clients::{CLIENT_CREDENTIALS, Client},
        error::OAuthError,
    },
    state::AppState,
};

/// `grant_type=client_credentials` (RFC 9068 §2.2): a service token, `sub` = `client_id`.
pub(super) fn issue(state: &AppState, client: &Client, requested: Option<&str>) -> Result<Issued, OAuthError> {
    if !client.allows_grant(CLIENT_CREDENTIALS) || client.is_public() {
        return Err(OAuthError::UnauthorizedClient);
    }
    let scope = match requested {
        Some(requested) => {
            let requested: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
            if requested.iter().any(|s| !client.scopes.iter().any(|allowed| allowed == s)) {
                return Err(OAuthError::InvalidScope);
            }
            requested.join(" ")
        }
        None => client.scopes.join(" "),
    };
    let now = Utc::now().timestamp();
    let ttl = state.config.access_token_ttl.0.as_secs();
    let claims = access_claims(state, client.id.clone(), client, &scope, now);
    let access_token = state.tokens.mint_access(&claims).map_err(minting_failed)?;
    Ok(Issued { access_token, token_type: "Bearer", expires_in: ttl, scope, id_token: None, refresh_token: None })
}
