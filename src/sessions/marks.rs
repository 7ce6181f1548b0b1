//! The marks the online checks read, in the ephemeral store: "session `sid` has ended" and
//! "service token `jti` was revoked". A mark lives as long as anything it refuses could.

use std::time::Duration;

use crate::{ephemeral::Result, oidc::tokens::LEEWAY_SECS, state::AppState};

pub fn ended_key(sid: &str) -> String {
    format!("session_ended:{sid}")
}

pub fn revoked_token_key(jti: &str) -> String {
    format!("revoked_jti:{jti}")
}

/// How long an ended session's mark stays: as long as a token minted under it can live (an
/// access token minted by the last refresh, a code redeemed at its last second).
fn ended_ttl(state: &AppState) -> Duration {
    state.config.access_token_ttl.0.max(state.config.refresh_token_ttl.0) + Duration::from_secs(LEEWAY_SECS)
}

pub async fn mark_ended(state: &AppState, sids: &[String]) -> Result<()> {
    let ttl = ended_ttl(state);
    for sid in sids {
        state.ephemeral.put(&ended_key(sid), b"1", ttl).await?;
    }
    Ok(())
}

pub async fn is_ended(state: &AppState, sid: &str) -> Result<bool> {
    Ok(state.ephemeral.get(&ended_key(sid)).await?.is_some())
}

/// Refuse the service token `jti` until `exp` (Unix seconds) and the clock leeway have passed.
pub async fn revoke_token(state: &AppState, jti: &str, exp: i64) -> Result<()> {
    let left = (exp - chrono::Utc::now().timestamp()).max(0).unsigned_abs() + LEEWAY_SECS;
    state.ephemeral.put(&revoked_token_key(jti), b"1", Duration::from_secs(left.max(1))).await
}

pub async fn is_token_revoked(state: &AppState, jti: &str) -> Result<bool> {
    Ok(state.ephemeral.get(&revoked_token_key(jti)).await?.is_some())
}
