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
}

/// The random secret that the cookie carries.
pub struct SessionId(pub String);

fn key(id: &SessionId) -> String {
    format!("session:{}", crypto::sha256_hex(&id.0))
}

/// Start a session for `user_id`; returns the id for the cookie and the record.
pub async fn start(store: &Ephemeral, user_id: Uuid, ttl: Duration) -> Result<(SessionId, Session)> {
    let id = SessionId(crypto::random_token(32));
    let session = Session { sid: crypto::random_token(16), user_id, auth_time: Utc::now().timestamp() };
    store.put(&key(&id), &serde_json::to_vec(&session).unwrap_or_default(), ttl).await?;
    Ok((id, session))
}

/// The live session the cookie names, if any.
pub async fn find(store: &Ephemeral, id: &SessionId) -> Result<Option<Session>> {
    let value = store.get(&key(id)).await?;
    Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
}

/// End the session the cookie names (nothing happens if it has already ended).
pub async fn end(store: &Ephemeral, id: &SessionId) -> Result<()> {
    store.delete(&key(id)).await
}
