//! `/revoke` (RFC 7009) and `/introspect` (RFC 7662) without HTTP.

use chrono::Utc;
use serde_json::{Value, json};

use super::{client_auth::Caller, clients::Client, error::OAuthError, tokens::AccessClaims};
use crate::{
    crypto,
    sessions::{self, Ending},
    state::AppState,
    store::refresh_tokens::{self, RefreshRow},
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

/// What an introspected token turned out to be, before its session is asked about.
enum Introspected {
    Access(AccessClaims),
    Refresh(RefreshRow),
    /// Nothing live of this client's: `{"active": false}` whatever the store says.
    Unknown,
}

impl Introspected {
    /// Read `token` as a valid access token (anyone's: resource servers ask), else as one of
    /// `client`'s live refresh tokens.
    async fn read(state: &AppState, client: &Client, token: &str) -> Result<Self, OAuthError> {
        if let Ok(claims) = state.tokens.verify_access(token).await {
            return Ok(Self::Access(claims));
        }
        Ok(match refresh_tokens::find_live(&state.db, &crypto::sha256_hex(token), Utc::now()).await? {
            Some(row) if row.client_id == client.id => Self::Refresh(row),
            _ => Self::Unknown,
        })
    }

    /// The ephemeral mark whose presence makes the token inactive.
    fn mark(&self) -> Option<String> {
        match self {
            Self::Access(claims) => Some(sessions::refusal_mark(claims)),
            Self::Refresh(row) => Some(sessions::ended_mark(&row.sid)),
            Self::Unknown => None,
        }
    }
}

/// What `/introspect` says of `token` to `caller` (a client with a secret): live access tokens
/// and the caller's own live refresh tokens are active; anything else is exactly
/// `{"active": false}`. The caller's rate limits and the token's revocation mark are one round
/// trip to the ephemeral store; a store that cannot be reached is an error, never "active".
pub async fn introspect(state: &AppState, caller: Caller, token: Option<&str>) -> Result<Value, OAuthError> {
    // The token is looked at only for a client that proved itself, and may introspect.
    let introspected = match (caller.client(), token) {
        (Some(client), Some(token)) if !client.is_public() => Some(Introspected::read(state, client, token).await?),
        _ => None,
    };
    let marks: Vec<String> = introspected.as_ref().and_then(Introspected::mark).into_iter().collect();
    let (_, marked) = caller.admit_reading(state, &marks).await?;
    let Some(introspected) = introspected else {
        return Err(match token {
            None => OAuthError::InvalidRequest("token is missing".into()),
            // Open to clients that have a secret: resource servers ask (docs/tokens.md).
            Some(_) => OAuthError::InvalidClient { basic: false },
        });
    };
    let ended = match (&introspected, marked) {
        (Introspected::Unknown, _) => true,
        (_, Ok(marked)) => marked.first().copied().unwrap_or(true),
        (_, Err(e)) => return Err(e.into()),
    };
    Ok(match introspected {
        _ if ended => json!({"active": false}),
        Introspected::Access(claims) => {
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
            body
        }
        Introspected::Refresh(row) => json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": row.scope,
            "client_id": row.client_id,
            "sub": row.user_id,
            "exp": row.expires_at.timestamp(),
        }),
        Introspected::Unknown => json!({"active": false}),
    })
}
