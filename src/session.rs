//! Browser sessions: a record in the ephemeral store, found by the id in the session cookie.
//! Records are stored under the SHA-256 of the id, so whoever reads the store cannot use them.
//! Depends on [`crate::ephemeral`] and [`crate::crypto`].

use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    crypto,
    ephemeral::{Ephemeral, Result},
};

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// A random id of its own, also used as the `sid` of tokens issued under this session.
    pub sid: String,
    pub user_id: Uuid,
    /// When the user last authenticated at a provider (Unix seconds).
    pub auth_time: i64,
    /// When the session started (Unix milliseconds): sessions that started before the user's
    /// "ended before" mark are over (see [`end_all`]).
    pub started_ms: i64,
}

/// The random secret that the cookie carries.
pub struct SessionId(pub String);

fn key(id: &SessionId) -> String {
    format!("session:{}", crypto::sha256_hex(&id.0))
}

/// Start a session for `user_id`; returns the id for the cookie and the record.
pub async fn start(store: &Ephemeral, user_id: Uuid, ttl: Duration) -> Result<(SessionId, Session)> {
    let id = SessionId(crypto::random_token(32));
    let now = Utc::now();
    let session = Session {
        sid: crypto::random_token(16),
        user_id,
        auth_time: now.timestamp(),
        started_ms: now.timestamp_millis(),
    };
    store.put(&key(&id), &serde_json::to_vec(&session).unwrap_or_default(), ttl).await?;
    Ok((id, session))
}

fn ended_before_key(user_id: Uuid) -> String {
    format!("sessions_ended_before:{user_id}")
}

/// The user's "sessions that started before this millisecond are over" mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedBefore {
    pub at_ms: i64,
    /// The one session the mark spares (the one that ended the others), if any.
    pub keep_sid: Option<String>,
}

impl EndedBefore {
    /// Whether a session (or a token of it) that started at `started_ms` under `sid` is over.
    pub fn ends(&self, sid: &str, started_ms: i64) -> bool {
        started_ms < self.at_ms && self.keep_sid.as_deref() != Some(sid)
    }
}

/// The user's mark, if any.
pub async fn ended_before(store: &Ephemeral, user_id: Uuid) -> Result<Option<EndedBefore>> {
    let Some(value) = store.get(&ended_before_key(user_id)).await? else { return Ok(None) };
    let text = String::from_utf8_lossy(&value);
    let (at, keep) = text.split_once(':').map_or((text.as_ref(), None), |(at, keep)| (at, Some(keep)));
    Ok(at.parse().ok().map(|at_ms| EndedBefore { at_ms, keep_sid: keep.map(str::to_owned) }))
}

/// Whether the session `sid` of `user_id`, started at `started_ms`, is over: revoked (a
/// reused code or refresh token, a revoked token) or ended with all of the user's sessions.
/// The grants ask this too, so that a code or refresh token obtained before the end cannot
/// bring an ended session back.
pub async fn is_over(store: &Ephemeral, user_id: Uuid, sid: &str, started_ms: i64) -> Result<bool> {
    if is_sid_revoked(store, sid).await? {
        return Ok(true);
    }
    let mark = ended_before(store, user_id).await?;
    Ok(mark.is_some_and(|mark| mark.ends(sid, started_ms)))
}

/// The live session the cookie names, if any.
pub async fn find(store: &Ephemeral, id: &SessionId) -> Result<Option<Session>> {
    let Some(value) = store.get(&key(id)).await? else { return Ok(None) };
    let Ok(session) = serde_json::from_slice::<Session>(&value) else { return Ok(None) };
    if is_over(store, session.user_id, &session.sid, session.started_ms).await? {
        store.delete(&key(id)).await?;
        return Ok(None);
    }
    Ok(Some(session))
}

/// End every session of `user_id` that has started so far, except `keep_sid`, on every
/// instance, without listing them: sessions that started before this moment no longer count.
/// The mark lives as long as a session can (`ttl`).
pub async fn end_all(store: &Ephemeral, user_id: Uuid, keep_sid: Option<&str>, ttl: Duration) -> Result<()> {
    let now = Utc::now().timestamp_millis();
    let value = match keep_sid {
        Some(sid) => format!("{now}:{sid}"),
        None => now.to_string(),
    };
    store.put(&ended_before_key(user_id), value.as_bytes(), ttl).await
}

/// End the session the cookie names (nothing happens if it has already ended).
pub async fn end(store: &Ephemeral, id: &SessionId) -> Result<()> {
    store.delete(&key(id)).await
}

fn revoked_sid_key(sid: &str) -> String {
    format!("revoked_sid:{sid}")
}

/// Put `sid` on the revocation list: tokens issued under it stop being accepted by
/// `/api/v1/verify`, `/userinfo` and `/introspect` at once. Kept as long as such a token lives.
pub async fn revoke_sid(store: &Ephemeral, sid: &str, ttl: Duration) -> Result<()> {
    store.put(&revoked_sid_key(sid), b"1", ttl).await
}

/// Whether `sid` was revoked (logout, a reused code, a reused refresh token).
pub async fn is_sid_revoked(store: &Ephemeral, sid: &str) -> Result<bool> {
    Ok(store.get(&revoked_sid_key(sid)).await?.is_some())
}

fn revoked_jti_key(jti: &str) -> String {
    format!("revoked_jti:{jti}")
}

/// Put one token (by `jti`) on the revocation list until it would have expired anyway; for
/// service tokens, which belong to no session.
pub async fn revoke_jti(store: &Ephemeral, jti: &str, ttl: Duration) -> Result<()> {
    store.put(&revoked_jti_key(jti), b"1", ttl.max(Duration::from_secs(1))).await
}

pub async fn is_jti_revoked(store: &Ephemeral, jti: &str) -> Result<bool> {
    Ok(store.get(&revoked_jti_key(jti)).await?.is_some())
}
