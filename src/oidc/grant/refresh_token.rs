//! `grant_type=refresh_token` (RFC 6749 §6): rotation at every use, a grace window for
//! concurrent duplicates, and a replay revoking the family's session (docs/tokens.md).

use chrono::Utc;

use super::{Issued, UserGrant, user_tokens};
use crate::{
    crypto,
    oidc::{
        clients::{Client, REFRESH_TOKEN},
        error::OAuthError,
    },
    sessions::{self, Ending},
    state::AppState,
    store::refresh_tokens::{self, Successor, Use},
};

/// `grant_type=refresh_token`: rotate at every use; a concurrent duplicate within the grace
/// window gets the same successor; a replay after it revokes the family and its session.
/// Another client's token is refused before anything changes.
pub(super) async fn rotate(state: &AppState, client: &Client, presented: &str) -> Result<Issued, OAuthError> {
    if !client.allows_grant(REFRESH_TOKEN) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let hash = crypto::sha256_hex(presented);
    let dead = OAuthError::InvalidGrant("the refresh token is invalid, expired or revoked");
    let next = crypto::random_token(32);
    let sealed = crypto::seal(&state.secrets.refresh_key, SUCCESSOR_CONTEXT, next.as_bytes());
    let successor = Successor { token_hash: &crypto::sha256_hex(&next), sealed: &sealed };
    let grace = chrono::Duration::from_std(state.config.refresh_token_grace.0).unwrap_or_default();
    let now = Utc::now();
    let (row, refresh) = match refresh_tokens::present(&state.db, &hash, &client.id, &successor, grace, now).await? {
        Use::Rotated(row) => (row, next),
        Use::Grace(row, sealed) => {
            let successor = crypto::open(&state.secrets.refresh_key, SUCCESSOR_CONTEXT, &sealed)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or(OAuthError::ServerError)?;
            (row, successor)
        }
        Use::Replayed(row) => {
            sessions::end(state, Ending::One(&row.sid)).await?;
            tracing::warn!(client.id = %client.id, "refresh token replayed; its family is revoked");
            return Err(OAuthError::InvalidGrant("the refresh token was already used; its family is revoked"));
        }
        Use::OtherClient => {
            return Err(OAuthError::InvalidGrant("the refresh token was issued to another client"));
        }
        Use::Unknown | Use::Dead(_) => return Err(dead),
    };
    if !sessions::is_alive(state, &row.sid).await? {
        return Err(dead);
    }
    let grant =
        UserGrant { user_id: row.user_id, sid: &row.sid, scope: &row.scope, auth_time: row.auth_time, nonce: None };
    user_tokens(state, client, &grant, Some(refresh)).await
}

/// The context successors are sealed under.
const SUCCESSOR_CONTEXT: &str = "refresh token successor";
