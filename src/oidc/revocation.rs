//! `/revoke` (RFC 7009) and `/introspect` (RFC 7662) without HTTP.

use chrono::Utc;
use serde_json::{Value, json};

use super::{clients::Client, error::OAuthError, grant::revocation_ttl};
use crate::{
    crypto,
    http::bearer::{self, BearerError},
    session,
    state::AppState,
    store::refresh_tokens,
};

/// Revoke `token` if it is the client's: a refresh token takes its family and session with it;
/// a user's access token ends its session (DESIGN §7); a service token is listed by `jti`.
/// Anything else is ignored: the answer is the same (RFC 7009 §2.2).
pub async fn revoke(state: &AppState, client: &Client, token: &str) -> Result<(), OAuthError> {
    if let Some(row) = refresh_tokens::find(&state.db, &crypto::sha256_hex(token)).await? {
        if row.client_id == client.id {
            // The grant and everything issued under its session go (RFC 7009 §2.1).
            refresh_tokens::revoke_sid(&state.db, &row.sid, Utc::now()).await?;
            session::revoke_sid(&state.ephemeral, &row.sid, revocation_ttl(state)).await?;
        }
        return Ok(());
    }
    let Ok(claims) = state.tokens.verify_access(token).await else { return Ok(()) };
    if claims.client_id != client.id {
        return Ok(());
    }
    match &claims.sid {
        Some(sid) => {
            session::revoke_sid(&state.ephemeral, sid, revocation_ttl(state)).await?;
            refresh_tokens::revoke_sid(&state.db, sid, Utc::now()).await?;
        }
        None => {
            let left = (claims.exp - Utc::now().timestamp()).max(0) as u64 + super::tokens::LEEWAY_SECS;
            session::revoke_jti(&state.ephemeral, &claims.jti, std::time::Duration::from_secs(left)).await?;
        }
    }
    Ok(())
}

/// What `/introspect` says of `token`: live access tokens (anyone's: resource servers ask) and
/// the client's own live refresh tokens are active; anything else is exactly
/// `{"active": false}`. A store that cannot be reached is an error, never "active".
pub async fn introspect(state: &AppState, client: &Client, token: &str) -> Result<Value, OAuthError> {
    match bearer::live_claims(state, token).await {
        Ok(claims) => {
            let mut body = json!({
                "active": true,
                "token_type": "Bearer",
                "scope": claims.scope,
                "client_id": claims.client_id,
                "sub": claims.sub,
                "aud": claims.aud,
                "iss": claims.iss,
                "exp": claims.exp,
                "iat": claims.iat,
                "jti": claims.jti,
            });
            if let Some(username) = claims.username {
                body["username"] = json!(username);
            }
            if let Some(sid) = claims.sid {
                body["sid"] = json!(sid);
            }
            return Ok(body);
        }
        Err(BearerError::Unavailable) => return Err(OAuthError::TemporarilyUnavailable),
        Err(_) => {}
    }
    let inactive = json!({"active": false});
    let Some(row) = refresh_tokens::find_live(&state.db, &crypto::sha256_hex(token), Utc::now()).await? else {
        return Ok(inactive);
    };
    if row.client_id != client.id || session::is_sid_revoked(&state.ephemeral, &row.sid).await? {
        return Ok(inactive);
    }
    Ok(json!({
        "active": true,
        "token_type": "refresh_token",
        "scope": row.scope,
        "client_id": row.client_id,
        "sub": row.user_id,
        "exp": row.expires_at.timestamp(),
    }))
}
