//! Sessions: the one place where a session starts, ends, and is judged alive (docs/sessions.md).
//!
//! A session is a row in the durable store (found by the hash of the browser cookie's secret,
//! listed per user). Tokens carry the session's handle as their `sid`. Ending a session, for
//! whatever cause, does three things, always here:
//!
//! 1. an "ended" mark for each ended `sid` in the ephemeral store, which the online checks
//!    (`/api/v1/verify`, `/introspect`, `/userinfo`, the refresh grant) read: one look-up, with
//!    no clock involved, so a session that starts after an ending can never be caught by it;
//! 2. the session rows are deleted and every refresh token issued under them is revoked, in
//!    one transaction.
//!
//! The marks go first: if the database step fails, the tokens are already dead and the caller
//! sees an error and may try again. Which sessions "all of a user's sessions" are is read from
//! the database at that moment, so sessions that start later are not touched.
//! Depends on [`crate::store`], [`crate::ephemeral`] and [`crate::oidc::tokens`].

mod marks;

use std::{collections::HashSet, net::IpAddr};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    crypto,
    ephemeral::EphemeralError,
    oidc::{
        clients,
        tokens::{AccessClaims, TokenError},
    },
    state::AppState,
    store::{
        StoreError,
        sessions::{self as rows, SessionRow},
    },
};

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session's opaque handle: the `sid` of its tokens and the `id` of the sessions API.
    pub sid: String,
    pub user_id: Uuid,
    /// When the user signed in at a provider (Unix seconds).
    pub auth_time: i64,
    pub started_at: DateTime<Utc>,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Self { sid: row.sid, user_id: row.user_id, auth_time: row.auth_time, started_at: row.started_at }
    }
}

/// The random secret a session cookie carries. Only its SHA-256 is stored.
pub struct CookieSecret(pub String);

impl CookieSecret {
    fn hash(&self) -> String {
        crypto::sha256_hex(&self.0)
    }
}

/// Where a session was started from, as the user will see it in their list.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub user_agent: Option<String>,
    pub ip: Option<IpAddr>,
}

/// Longest user agent kept (they are shown, not parsed).
const USER_AGENT_MAX: usize = 256;

/// How stale `last_seen_at` may get before a use of the session writes it again.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::minutes(1);

/// The one error type of this layer: one of the two stores failed. Nothing was ended unless
/// the call returned `Ok`.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
}

pub type Result<T, E = SessionError> = std::result::Result<T, E>;

/// Start a session for `user_id`, signed in at a provider just now.
pub async fn start(state: &AppState, user_id: Uuid, origin: &Origin) -> Result<(CookieSecret, Session)> {
    let secret = CookieSecret(crypto::random_token(32));
    let now = Utc::now();
    let user_agent = origin.user_agent.as_deref().map(|ua| ua.chars().take(USER_AGENT_MAX).collect::<String>());
    let row = SessionRow {
        sid: crypto::random_token(16),
        user_id,
        auth_time: now.timestamp(),
        started_at: now,
        last_seen_at: now,
        expires_at: now + state.config.refresh_token_ttl.0,
        user_agent,
        ip: origin.ip.map(|ip| ip.to_string()),
    };
    rows::insert(&state.db, &row, &secret.hash()).await?;
    Ok((secret, row.into()))
}

/// The live session a cookie names, if any; notes that it was used.
pub async fn find(state: &AppState, secret: &CookieSecret) -> Result<Option<Session>> {
    let now = Utc::now();
    let Some(row) = rows::find_by_cookie(&state.db, &secret.hash(), now).await? else { return Ok(None) };
    if now - row.last_seen_at > TOUCH_EVERY {
        rows::touch(&state.db, &row.sid, now).await?;
    }
    Ok(Some(row.into()))
}

/// The user's sessions, newest first.
pub async fn list(state: &AppState, user_id: Uuid) -> Result<Vec<SessionRow>> {
    Ok(rows::list_for_user(&state.db, user_id, Utc::now()).await?)
}

/// Which sessions an ending takes.
#[derive(Debug, Clone, Copy)]
pub enum Ending<'a> {
    /// One session (this browser's, a reused code's or refresh token's, a revoked token's).
    One(&'a str),
    /// Every session of the user.
    AllOf(Uuid),
    /// Every session of the user but the one making the request.
    AllBut(Uuid, &'a str),
}

/// End sessions: their tokens are refused at once by every online check, their refresh tokens
/// are revoked, and their browsers are signed out. Returns the handles that were ended.
pub async fn end(state: &AppState, ending: Ending<'_>) -> Result<Vec<String>> {
    let now = Utc::now();
    let sids = match ending {
        Ending::One(sid) => vec![sid.to_owned()],
        Ending::AllOf(user_id) => rows::sids_of_user(&state.db, user_id, now).await?,
        Ending::AllBut(user_id, keep) => {
            let mut sids = rows::sids_of_user(&state.db, user_id, now).await?;
            sids.retain(|sid| sid != keep);
            sids
        }
    };
    marks::mark_ended(state, &sids).await?;
    let listening = clients_with_backchannel(state).await?;
    let queued = rows::delete(&state.db, &sids, |client| listening.contains(client), state.clock.now()).await?;
    if queued > 0 {
        state.backchannel.notify_one();
    }
    Ok(sids)
}

/// The clients that take back-channel logout tokens (docs/logout.md).
async fn clients_with_backchannel(state: &AppState) -> Result<HashSet<String>> {
    let all = clients::list(&state.config, &state.db).await.map_err(|e| match e {
        clients::ClientError::Store(e) => SessionError::Store(e),
        other => SessionError::Store(StoreError::Config(other.to_string())),
    })?;
    Ok(all.into_iter().filter(|c| c.backchannel_logout_uri.is_some()).map(|c| c.id).collect())
}

/// End the user's session `sid` (the sessions API and the account page). `false` if the user
/// has no such session (another user's handle is "no such session").
pub async fn end_own(state: &AppState, user_id: Uuid, sid: &str) -> Result<bool> {
    let owned = list(state, user_id).await?.iter().any(|s| s.sid == sid);
    if owned {
        end(state, Ending::One(sid)).await?;
    }
    Ok(owned)
}

/// Whether the session `sid` is still alive for the online checks (the refresh grant and the
/// code redemption ask this too, so a grant obtained before an ending cannot outlive it).
pub async fn is_alive(state: &AppState, sid: &str) -> Result<bool, EphemeralError> {
    Ok(!marks::is_ended(state, sid).await?)
}

/// The ephemeral key whose presence refuses `claims`: its session's end mark, or a service
/// token's own revocation. For callers that read it together with other things in one round
/// trip ([`crate::rate_limit::RateLimiter::check_all`]); [`live_claims`] reads it alone.
pub fn refusal_mark(claims: &AccessClaims) -> String {
    match &claims.sid {
        Some(sid) => marks::ended_key(sid),
        None => marks::revoked_token_key(&claims.jti),
    }
}

/// The ephemeral key whose presence says that the session `sid` has ended (see [`refusal_mark`]).
pub fn ended_mark(sid: &str) -> String {
    marks::ended_key(sid)
}

/// Refuse one service token (which belongs to no session) until it would have expired.
pub async fn revoke_service_token(state: &AppState, claims: &AccessClaims) -> Result<(), EphemeralError> {
    marks::revoke_token(state, &claims.jti, claims.exp).await
}

/// Why a presented access token is not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    Invalid(&'static str),
    Expired,
    /// Well signed, but its session ended (or, for a service token, it was revoked).
    Ended,
    /// The ephemeral store could not be asked: never "valid".
    Unavailable,
}

/// The claims of a valid access token whose session is alive: signature and claims first,
/// then one look-up in the ephemeral store (a user token's session, or a service token's own
/// revocation).
pub async fn live_claims(state: &AppState, token: &str) -> Result<AccessClaims, TokenRefusal> {
    let claims = state.tokens.verify_access(token).await.map_err(|e| match e {
        TokenError::Expired => TokenRefusal::Expired,
        TokenError::Invalid(why) => TokenRefusal::Invalid(why),
    })?;
    let ended = match &claims.sid {
        Some(sid) => marks::is_ended(state, sid).await,
        None => marks::is_token_revoked(state, &claims.jti).await,
    };
    match ended {
        Ok(false) => Ok(claims),
        Ok(true) => Err(TokenRefusal::Ended),
        Err(e) => {
            tracing::warn!(error.message = %e, "session marks unreachable");
            Err(TokenRefusal::Unavailable)
        }
    }
}
