//! Vending Gmail access tokens to services (docs/gmail.md): the connection a user equipped to a
//! target, its access token refreshed at Google when under a minute is left. What a refresh
//! brings is handed out as long as it has not expired, with its real expiry: a provider that
//! issues tokens for less than a minute still gets its tokens vended.
//!
//! Concurrent vends of one connection, on one instance or many, cause one refresh: the first
//! takes a lock in the ephemeral store (`SET NX PX` in Redis, a conditional insert in the SQL
//! table), re-reads the row and refreshes; the others wait for the row to turn fresh. The lock
//! expires after three upstream timeouts, so a crashed holder cannot wedge a connection; after a
//! failure at Google it holds "failed" for three seconds, so waiters answer at once (no retry storm).
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
        gmail::{self, Connection, ConnectionStatus, Refreshed},
    },
    upstream::{GMAIL_SEND, UpstreamError},
};

/// A token with less than this left is refreshed before it is handed out.
pub const MIN_LIFETIME: Duration = Duration::from_secs(60);
/// How often a vend waiting for another's refresh looks at the row again.
const POLL: Duration = Duration::from_millis(25);
/// Added to the upstream timeouts for the lock's lifetime and the waiters' patience.
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
    #[error("the user is disabled")]
    UserDisabled,
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
            Self::UserDisabled => "disabled",
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
    // A disabled user's mail is sent by nobody (docs/admin.md).
    let user = store::users::find_by_id(&state.db, user_id).await?.ok_or(VendError::UserNotFound)?;
    if user.is_disabled() {
        return Err(VendError::UserDisabled);
    }
    let Some(connection) = gmail::find_equipped(&state.db, user_id, target).await? else {
        return Err(VendError::NotEquipped);
    };
    let wanted = Wanted { user_id, target, first_seen: connection.access_token.clone() };
    let fresh = fresh(state, &wanted, connection).await?;
    Ok(Vended {
        connection_id: fresh.id,
        access_token: open_access(&state.vault, &fresh)?,
        expires_at: fresh.access_expires_at,
        scopes: fresh.scope_list().map(str::to_owned).collect(),
        gmail_address: fresh.gmail_address,
    })
}

fn is_fresh(c: &Connection) -> bool {
    c.access_expires_at - Utc::now() > chrono::Duration::from_std(MIN_LIFETIME).unwrap_or_default()
}

fn is_alive(c: &Connection) -> bool {
    c.access_expires_at > Utc::now()
}

/// What a vend wants of the row it reads (again): still this user's, equipped to this target,
/// and active.
struct Wanted<'a> {
    user_id: Uuid,
    target: &'a str,
    /// The sealed access token the vend found first. A different one that has not expired was
    /// refreshed (or reconnected) meanwhile: as new as a refresh would make it, however short
    /// the provider made its life, so it is handed out rather than refreshed again.
    first_seen: String,
}

impl Wanted<'_> {
    fn usable(&self, c: &Connection) -> bool {
        is_fresh(c) || (c.access_token != self.first_seen && is_alive(c))
    }

    fn check(&self, c: Connection) -> Result<Connection, VendError> {
        if c.user_id != self.user_id || c.equipped_to.as_deref() != Some(self.target) {
            return Err(VendError::NotEquipped);
        }
        if c.status != ConnectionStatus::Active {
            return Err(VendError::Revoked);
        }
        Ok(c)
    }

    async fn read(&self, state: &AppState, id: Uuid) -> Result<Connection, VendError> {
        self.check(gmail::find(&state.db, id).await?.ok_or(VendError::NotEquipped)?)
    }
}

/// How long the refresh lock lives and waiters wait: a refresh may fetch Google's discovery
/// document and keys before the token request, each bounded by the upstream timeout.
fn lock_ttl(state: &AppState) -> Duration {
    state.config.upstream_timeout() * 3 + LOCK_SLACK
}

/// What the lock holds for a short while after a refresh failed at Google, so that the waiting
/// vends answer at once instead of each trying Google again.
const FAILED: &[u8] = b"failed";
pub const FAILURE_HOLD: Duration = Duration::from_secs(3);

/// The connection with an access token that lives at least [`MIN_LIFETIME`] more, or that
/// was just refreshed and has not expired: as it is, refreshed here under the lock, or
/// refreshed by whoever holds the lock.
async fn fresh(state: &AppState, wanted: &Wanted<'_>, c: Connection) -> Result<Connection, VendError> {
    let ttl = lock_ttl(state);
    let deadline = Instant::now() + ttl;
    let key = format!("gmail-refresh:{}", c.id);
    let mut c = wanted.check(c)?;
    loop {
        if wanted.usable(&c) {
            return Ok(c);
        }
        match state.ephemeral.get(&key).await? {
            Some(value) if value == FAILED => return Err(VendError::Busy),
            Some(_) => {}
            None => {
                let holder = crypto::random_token(16);
                if state.ephemeral.put_new(&key, holder.as_bytes(), ttl).await? {
                    let refreshed = refresh_locked(state, wanted, c.id).await;
                    release(state, &key, holder.as_bytes(), matches!(refreshed, Err(VendError::Upstream(_)))).await;
                    return refreshed;
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(VendError::Busy);
        }
        tokio::time::sleep(POLL).await;
        c = wanted.read(state, c.id).await?;
    }
}

/// Release the lock if it is still ours; after a failure at Google, turn it into [`FAILED`]
/// for a while instead (in one write, so no waiter finds the key free in between).
async fn release(state: &AppState, key: &str, holder: &[u8], failed: bool) {
    let released = async {
        if failed {
            state.ephemeral.put(key, FAILED, FAILURE_HOLD).await
        } else {
            state.ephemeral.delete_if(key, holder).await.map(drop)
        }
    };
    if let Err(e) = released.await {
        // It expires on its own; the next vend only waits a little longer.
        tracing::warn!(error.message = %e, "could not release a Gmail refresh lock");
    }
}

/// Refresh connection `id` at Google; the caller holds its lock. The row is read again first:
/// whoever held the lock before may have refreshed it already. What is stored is conditional on
/// the refresh token used, so a reconnect meanwhile is never overwritten.
async fn refresh_locked(state: &AppState, wanted: &Wanted<'_>, id: Uuid) -> Result<Connection, VendError> {
    let c = wanted.read(state, id).await?;
    if wanted.usable(&c) {
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
            tracing::warn!(error.kind = e.kind(), error.message = %e, connection_id = %c.id, "Gmail refresh failed");
            return Err(e.into());
        }
    };
    count("ok");
    if tokens.scopes.as_ref().is_some_and(|s| !s.iter().any(|s| s == GMAIL_SEND)) {
        // Google no longer lets this grant send mail: as good as revoked for a service.
        return Err(revoked(state, &c).await?);
    }
    let (access, refresh) = seal_tokens(&state.vault, c.id, &tokens.access_token, tokens.refresh_token.as_deref())?;
    let scopes = tokens.scopes.map(|s| s.join(" "));
    let now = Utc::now();
    let refreshed = Refreshed {
        access_token: &access,
        access_expires_at: now + tokens.expires_in,
        refresh_token: refresh.as_deref(),
        scopes: scopes.as_deref(),
    };
    if gmail::store_refreshed(&state.db, c.id, c.refresh_token.as_deref(), &refreshed, now).await? {
        audit::record(&state.db, Some(c.user_id), AuditEvent::GmailRefresh { connection_id: c.id }).await?;
    }
    // Either ours, or a reconnect's that came in meanwhile; short-lived or not, what has not
    // expired is handed out with its real expiry.
    let now = wanted.read(state, c.id).await?;
    if is_alive(&now) { Ok(now) } else { Err(VendError::Busy) }
}

/// Mark `c` as needing a new consent (unless a reconnect replaced its grant meanwhile).
async fn revoked(state: &AppState, c: &Connection) -> Result<VendError, VendError> {
    if gmail::mark_needs_reauth(&state.db, c.id, c.refresh_token.as_deref(), Utc::now()).await? {
        audit::record(&state.db, Some(c.user_id), AuditEvent::GmailRevoked { connection_id: c.id }).await?;
        Ok(VendError::Revoked)
    } else {
        Ok(VendError::Busy)
    }
}
