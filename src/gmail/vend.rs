//! Vending Gmail access tokens to services (DESIGN §8): the connection a user equipped to a
//! target, its access token refreshed at Google when under a minute is left.
//!
//! Concurrent vends of one connection, on one instance or many, cause one refresh: the first
//! takes a lock in the ephemeral store (`SET NX PX` in Redis, a conditional insert in the SQL
//! table), re-reads the row and refreshes; the others wait for the row to turn fresh. The lock
//! expires after the upstream timeout, so a crashed holder cannot wedge a connection.
//! `invalid_grant` marks the connection `needs_reauth`. The refresh token never leaves here.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    connect::{open_access, open_refresh, seal_tokens},
    vault::VaultError,
};
use crate::{
    audit::{self, AuditEvent},
    crypto,
    ephemeral::EphemeralError,
    state::AppState,
    store::{
        self, StoreError,
        gmail::{self, Connection, Refreshed},
    },
    upstream::UpstreamError,
};

/// A token with less than this left is refreshed before it is handed out.
pub const MIN_LIFETIME: Duration = Duration::from_secs(60);
/// How often a vend waiting for another's refresh looks at the row again.
const POLL: Duration = Duration::from_millis(25);
/// Added to the upstream timeout for the lock's lifetime and the waiters' patience.
const LOCK_SLACK: Duration = Duration::from_secs(5);

/// What a service receives. Never the refresh token.
pub struct Vended {
    pub connection_id: Uuid,
    pub access_token: String,
    pub expires_at: DateTime<Utc>,
    pub scopes: Vec<String>,
    pub gmail_address: String,
}

impl std::fmt::Debug for Vended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vended")
            .field("connection_id", &self.connection_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VendError {
    #[error("no such user")]
    UserNotFound,
    #[error("nothing is equipped to this target")]
    NotEquipped,
    #[error("Google refused the grant; the user has to connect Gmail again")]
    Revoked,
    #[error("Google did not refresh the token: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("another refresh of this connection did not finish in time")]
    Busy,
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
}

impl VendError {
    /// The label of `munji_gmail_vends_total{outcome}`.
    fn outcome(&self) -> &'static str {
        match self {
            Self::UserNotFound | Self::NotEquipped => "not_equipped",
            Self::Revoked => "revoked",
            Self::Upstream(_) | Self::Busy => "upstream_error",
            Self::Vault(_) | Self::Store(_) | Self::Ephemeral(_) => "error",
        }
    }
}

/// A live access token of `user_id`'s connection equipped to `target`, for service
/// `client_id` (whose right to vend for `target` the caller has checked).
pub async fn vend(state: &AppState, client_id: &str, user_id: Uuid, target: &str) -> Result<Vended, VendError> {
    let result = vend_inner(state, user_id, target).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    };
    state.metrics.gmail_vends.with_label_values(&[outcome]).inc();
    let vended = result?;
    let event = AuditEvent::GmailVend { connection_id: vended.connection_id, client_id, target };
    audit::record(&state.db, Some(user_id), event).await?;
    Ok(vended)
}

async fn vend_inner(state: &AppState, user_id: Uuid, target: &str) -> Result<Vended, VendError> {
    let Some(connection) = gmail::find_equipped(&state.db, user_id, target).await? else {
        return Err(match store::users::find_by_id(&state.db, user_id).await? {
            Some(_) => VendError::NotEquipped,
            None => VendError::UserNotFound,
        });
    };
    let fresh = fresh(state, connection).await?;
    Ok(Vended {
        connection_id: fresh.id,
        access_token: open_access(&state.vault, &fresh)?,
        expires_at: fresh.access_expires_at,
        scopes: fresh.scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        gmail_address: fresh.gmail_address,
    })
}

fn is_fresh(c: &Connection) -> bool {
    c.access_expires_at - Utc::now() > chrono::Duration::from_std(MIN_LIFETIME).unwrap_or_default()
}

/// The connection with an access token that lives at least [`MIN_LIFETIME`] more: as it is,
/// refreshed here under the lock, or refreshed by whoever holds the lock.
async fn fresh(state: &AppState, mut c: Connection) -> Result<Connection, VendError> {
    let patience = state.config.upstream_timeout() + LOCK_SLACK;
    let deadline = Instant::now() + patience;
    let key = format!("gmail-refresh:{}", c.id);
    loop {
        if c.status != "active" {
            return Err(VendError::Revoked);
        }
        if is_fresh(&c) {
            return Ok(c);
        }
        let holder = crypto::random_token(16);
        if state.ephemeral.put_new(&key, holder.as_bytes(), patience).await? {
            let refreshed = refresh_locked(state, c.id).await;
            if let Err(e) = state.ephemeral.delete_if(&key, holder.as_bytes()).await {
                // It expires on its own; the next vend only waits a little longer.
                tracing::warn!(error.message = %e, "could not release a Gmail refresh lock");
            }
            return refreshed;
        }
        if Instant::now() >= deadline {
            return Err(VendError::Busy);
        }
        tokio::time::sleep(POLL).await;
        c = gmail::find(&state.db, c.id).await?.ok_or(VendError::NotEquipped)?;
    }
}

/// Refresh connection `id` at Google; the caller holds its lock. The row is read again first:
/// whoever held the lock before may have refreshed it already.
async fn refresh_locked(state: &AppState, id: Uuid) -> Result<Connection, VendError> {
    let c = gmail::find(&state.db, id).await?.ok_or(VendError::NotEquipped)?;
    if c.status != "active" {
        return Err(VendError::Revoked);
    }
    if is_fresh(&c) {
        return Ok(c);
    }
    let Some(refresh_token) = open_refresh(&state.vault, &c)? else {
        // Google sent no refresh token at connect time: only a new consent helps.
        return Err(revoked(state, &c).await?);
    };
    let count = |outcome: &str| state.metrics.gmail_refreshes.with_label_values(&[outcome]).inc();
    let tokens = match state.upstreams.refresh_gmail(&refresh_token).await {
        Ok(tokens) => tokens,
        Err(UpstreamError::InvalidGrant(_)) => {
            count("revoked");
            return Err(revoked(state, &c).await?);
        }
        Err(e) => {
            count("failed");
            state.metrics.upstream_errors.with_label_values(&["google", e.kind()]).inc();
            return Err(e.into());
        }
    };
    count("ok");
    let (access, refresh) = seal_tokens(&state.vault, c.id, &tokens.access_token, tokens.refresh_token.as_deref())?;
    let scopes = tokens.scopes.map(|s| s.join(" "));
    let now = Utc::now();
    let refreshed = Refreshed {
        access_token: &access,
        access_expires_at: now + tokens.expires_in,
        refresh_token: refresh.as_deref(),
        scopes: scopes.as_deref(),
    };
    if !gmail::store_refreshed(&state.db, c.id, &refreshed, now).await? {
        return Err(VendError::NotEquipped);
    }
    audit::record(&state.db, Some(c.user_id), AuditEvent::GmailRefresh { connection_id: c.id }).await?;
    gmail::find(&state.db, c.id).await?.ok_or(VendError::NotEquipped)
}

/// Mark `c` as needing a new consent and say so.
async fn revoked(state: &AppState, c: &Connection) -> Result<VendError, VendError> {
    gmail::mark_needs_reauth(&state.db, c.id, Utc::now()).await?;
    audit::record(&state.db, Some(c.user_id), AuditEvent::GmailRevoked { connection_id: c.id }).await?;
    Ok(VendError::Revoked)
}
