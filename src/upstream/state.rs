//! The OAuth `state` that guards every callback (docs/identity.md, docs/security.md):
//! random, HMAC-signed with the server secret, single-use, kept in the ephemeral store with the
//! provider it was made for (mix-up defence), the PKCE verifier and the nonce, and bound to the
//! browser that started it.
//!
//! The `state` parameter is `{id}.{signature}`. The record lives under `flow:{id}` for ten
//! minutes and is taken (deleted) by the first callback that presents it, from any instance.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Provider;
use crate::{
    crypto,
    ephemeral::{Ephemeral, EphemeralError},
};

/// How long a sign-in may take at the provider.
pub const FLOW_TTL: Duration = Duration::from_secs(10 * 60);

/// Anything longer is not a state munji made.
const MAX_STATE_LEN: usize = 128;

/// What a flow was started for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Purpose {
    /// Sign in, then go to `return_to` (a local path).
    Login { return_to: String },
    /// Link the identity to this user; valid only in the same browser session (`sid`).
    Link { user_id: uuid::Uuid, sid: String },
    /// Connect a Gmail account (Google) for this user, in the same browser session.
    GmailConnect { user_id: uuid::Uuid, sid: String },
}

/// The server-side half of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRecord {
    pub provider: Provider,
    pub purpose: Purpose,
    pub pkce_verifier: String,
    pub nonce: String,
    /// SHA-256 of the browser-binding cookie of the browser that started the flow.
    pub browser: String,
}

/// Why a callback's state was refused. Every variant means "create and change nothing".
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the callback carries no state")]
    Missing,
    #[error("the state's signature is wrong")]
    BadSignature,
    #[error("the state is unknown, expired or already used")]
    Unknown,
    #[error("the state was started in another browser")]
    OtherBrowser,
    #[error("the state was started for {0}")]
    OtherProvider(Provider),
    #[error("the state record is unreadable")]
    Corrupt,
    #[error(transparent)]
    Store(#[from] EphemeralError),
}

/// Issues and checks states with a key derived from the server secret.
pub struct StateSigner {
    key: [u8; 32],
}

impl StateSigner {
    pub fn new(secret: &[u8]) -> Self {
        Self { key: crypto::derive_key(secret, "oauth state") }
    }

    /// Store `record` and return the `state` parameter that names it.
    pub async fn begin(&self, store: &Ephemeral, record: &FlowRecord) -> Result<String, EphemeralError> {
        let id = crypto::random_token(24);
        let value = serde_json::to_vec(record).unwrap_or_default();
        store.put(&key(&id), &value, FLOW_TTL).await?;
        Ok(format!("{id}.{}", crypto::sign(&self.key, &id)))
    }

    /// The flow id named by a callback's `state`, if munji signed it. This is the part of
    /// [`Self::finish`] that reads untrusted input without touching the store; it is public so
    /// that the `callback_state` fuzz target can drive it directly.
    pub fn verify<'s>(&self, state: Option<&'s str>) -> Result<&'s str, StateError> {
        let state = state.filter(|s| !s.is_empty()).ok_or(StateError::Missing)?;
        let (id, signature) = state.split_once('.').ok_or(StateError::BadSignature)?;
        if state.len() > MAX_STATE_LEN || !crypto::verify(&self.key, id, signature) {
            return Err(StateError::BadSignature);
        }
        Ok(id)
    }

    /// Check the signature, take the record (one use), then check that it was started in this
    /// browser for this provider. Nothing is taken when the signature is wrong.
    pub async fn finish(
        &self,
        store: &Ephemeral,
        state: Option<&str>,
        browser: Option<&str>,
        provider: Provider,
    ) -> Result<FlowRecord, StateError> {
        let id = self.verify(state)?;
        let value = store.take(&key(id)).await?.ok_or(StateError::Unknown)?;
        let record: FlowRecord = serde_json::from_slice(&value).map_err(|_| StateError::Corrupt)?;
        let same_browser = browser
            .map(crypto::sha256_hex)
            .is_some_and(|hash| crypto::constant_time_eq(hash.as_bytes(), record.browser.as_bytes()));
        if !same_browser {
            return Err(StateError::OtherBrowser);
        }
        if record.provider != provider {
            return Err(StateError::OtherProvider(record.provider));
        }
        Ok(record)
    }
}

fn key(id: &str) -> String {
    format!("flow:{id}")
}
