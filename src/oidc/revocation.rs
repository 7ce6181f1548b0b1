//! `/revoke` (RFC 7009) and `/introspect` (RFC 7662) without HTTP.

use chrono::Utc;
use serde_json::{Value, json};

use super::{clients::Client, error::OAuthError};
use crate::{
    crypto,
    sessions::{self, Ending, TokenRefusal},
    state::AppState,
    store::refresh_tokens,
};

/// Revoke `token` if it is the client's: a refresh token or a user's access token ends the
/// session it was issued under, with everything issued under it (RFC 7009 §2.1); a service
/// token is refused alone. Anything else is ignored: the answer is the same (RFC 7009 §2.2).
pub async fn revoke(state: &AppState, client: &Client, token: &str) -> Result<(), OAuthError> {
    if let Some(row) = refresh_tokens::find(&state.db, &crypto::sha256_hex(token)).await? {
        if row.client_id == client.id {
            sessions::end(state, Ending::One(&row.sid)).await?;
        }
        return Ok(());
    }
    let Ok(claims) = state.tokens.verify_access(token).await else { return Ok(()) };
    if claims.client_id != client.id {
        return Ok(());
    }
    match &claims.sid {
        Some(sid) => {
            sessions::end(state, Ending::One(sid)).await?;
        }
        None => sessions::revoke_service_token(state, &claims).await?,
    }
    Ok(())
}

/// What `/introspect` says of `token`: live access tokens (anyone's: resource servers ask) and
/// the client's own live refresh tokens are active; anything else is exactly
/// `{"active": false}`. A store that cannot be reached is an error, never "active".
pub async fn introspect(state: &AppState, client: &Client, token: &str) -> Result<Value, OAuthError> {
    match sessions::live_claims(state, token).await {
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
        Err(TokenRefusal::Unavailable) => return Err(OAuthError::TemporarilyUnavailable),
        Err(_) => {}
    }
    let inactive = json!({"active": false});
    let Some(row) = refresh_tokens::find_live(&state.db, &crypto::sha256_hex(token), Utc::now()).await? else {
        return Ok(inactive);
    };
    if row.client_id != client.id || !sessions::is_alive(state, &row.sid).await? {
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
