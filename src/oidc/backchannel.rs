//! Back-channel logout delivery (docs/logout.md; OpenID Connect Back-Channel Logout 1.0).
//!
//! When a session ends, [`crate::sessions::end`] writes one outbox row per client that received
//! tokens under it and registered a `backchannel_logout_uri`, in the transaction that ends it.
//! [`run`] (one task per instance) delivers them: it claims due rows for [`CLAIM_FOR`] (so two
//! instances never send the same row at once), signs a logout token anew for each attempt with
//! the row's `jti`, and POSTs it with a 5 s timeout. A 2xx removes the row; anything else tries
//! again after 10 s, 20 s, 40 s … doubling up to 10 minutes, until an hour has passed since the
//! session ended. Nothing here runs in a user's request.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{clients::ClientError, tokens::LogoutClaims};
use crate::{
    audit::{self, AuditEvent},
    state::AppState,
    store::{
        StoreError,
        backchannel::{self as outbox, OutboxRow},
    },
};

/// How long one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a claimed row is left to its claimer before another instance may take it.
const CLAIM_FOR: chrono::Duration = chrono::Duration::seconds(30);
/// How often each instance looks for due rows when nothing woke it.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Rows claimed per round.
const BATCH: i64 = 32;
/// Retries stop once this long has passed since the session ended.
pub const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// The wait before the next attempt after `attempts` failed ones: 10 s, 20 s, 40 s … at most
/// 10 minutes.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 10) as u32;
    chrono::Duration::seconds((10_i64 << doublings).min(600))
}

/// Deliver queued logout tokens until the task is aborted.
pub async fn run(state: AppState) {
    let http =
        match reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT).redirect(reqwest::redirect::Policy::none()).build() {
            Ok(http) => http,
            Err(e) => {
                tracing::error!(error.message = %e, "back-channel logout cannot start its HTTP client");
                return;
            }
        };
    loop {
        if let Err(e) = deliver_due(&state, &http).await {
            tracing::warn!(error.message = %e, "back-channel logout: the outbox could not be read");
        }
        tokio::select! {
            () = tokio::time::sleep(POLL_EVERY) => {}
            () = state.backchannel.notified() => {}
        }
    }
}

/// One round: claim what is due now and attempt each, all at once. Returns how many were
/// attempted.
pub async fn deliver_due(state: &AppState, http: &reqwest::Client) -> Result<usize, StoreError> {
    let now = state.clock.now();
    let due = outbox::claim_due(&state.db, now, now + CLAIM_FOR, BATCH).await?;
    let count = due.len();
    let mut attempts = tokio::task::JoinSet::new();
    for row in due {
        let (state, http) = (state.clone(), http.clone());
        attempts.spawn(async move { attempt(&state, &http, row).await });
    }
    attempts.join_all().await;
    Ok(count)
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Failed,
    GivenUp,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::GivenUp => "given_up",
        }
    }
}

async fn attempt(state: &AppState, http: &reqwest::Client, row: OutboxRow) {
    let outcome = match send(state, http, &row).await {
        Ok(()) => Outcome::Delivered,
        Err(NotSent { why, lasting }) => {
            tracing::info!(client.id = %row.client_id, attempts = row.attempts + 1, reason = %why,
                "back-channel logout not delivered");
            let too_late = state.clock.now() - row.created_at >= GIVE_UP_AFTER;
            if lasting || too_late { Outcome::GivenUp } else { Outcome::Failed }
        }
    };
    state.metrics.backchannel_deliveries.with_label_values(&[outcome.label()]).inc();
    if let Err(e) = settle(state, &row, outcome).await {
        // The claim runs out and another round tries again: a receiver may see the jti twice.
        tracing::warn!(error.message = %e, "back-channel logout: the outcome could not be stored");
    }
}

async fn settle(state: &AppState, row: &OutboxRow, outcome: Outcome) -> Result<(), StoreError> {
    match outcome {
        Outcome::Failed => {
            let attempts = row.attempts + 1;
            let next: DateTime<Utc> = state.clock.now() + backoff(attempts);
            return outbox::retry_at(&state.db, row.id, attempts, next).await;
        }
        Outcome::Delivered | Outcome::GivenUp => outbox::remove(&state.db, row.id).await?,
    }
    let event = AuditEvent::BackchannelLogout { client_id: &row.client_id, delivered: outcome == Outcome::Delivered };
    if let Err(e) = audit::record(&state.db, Some(row.user_id), event).await {
        // The user may be gone (deleted): their apps are still told, the audit has no owner.
        tracing::debug!(error.message = %e, "back-channel logout audit not written");
    }
    Ok(())
}

/// Why an attempt did not land, and whether trying again could change that.
struct NotSent {
    why: String,
    /// The client is gone or no longer takes logout tokens: no retry.
    lasting: bool,
}

impl NotSent {
    fn retry(why: impl ToString) -> Self {
        Self { why: why.to_string(), lasting: false }
    }

    fn lasting(why: &str) -> Self {
        Self { why: why.to_owned(), lasting: true }
    }
}

/// Sign the row's logout token and POST it to the client.
async fn send(state: &AppState, http: &reqwest::Client, row: &OutboxRow) -> Result<(), NotSent> {
    let client = state
        .clients
        .find(&state.config, &state.db, &row.client_id)
        .await
        .map_err(NotSent::retry)?
        .ok_or_else(|| NotSent::lasting("the client no longer exists"))?;
    let uri =
        client.backchannel_logout_uri.ok_or_else(|| NotSent::lasting("the client has no backchannel_logout_uri"))?;
    let claims = LogoutClaims::new(
        &state.tokens.issuer,
        &row.client_id,
        &row.user_id.to_string(),
        &row.sid,
        &row.jti,
        state.clock.now().timestamp(),
    );
    let token = state.tokens.mint_logout(&claims).map_err(NotSent::retry)?;
    let resp = http.post(uri).form(&[("logout_token", token)]).send().await.map_err(NotSent::retry)?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(NotSent::retry(format!("the receiver answered {}", resp.status())))
    }
}

/// Queue logout tokens for the sessions under which `client_id` received tokens of `user_id`,
/// and forget them (a connected app removed). Returns how many sessions were affected.
pub async fn client_removed(state: &AppState, user_id: uuid::Uuid, client_id: &str) -> Result<usize, ClientError> {
    let client = state.clients.find(&state.config, &state.db, client_id).await?;
    let notify = client.is_some_and(|c| c.backchannel_logout_uri.is_some());
    let taken = outbox::forget_client_of_user(&state.db, user_id, client_id, notify, state.clock.now()).await?;
    if notify && !taken.is_empty() {
        state.backchannel.notify_one();
    }
    Ok(taken.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_10_20_40_seconds_doubling_up_to_10_minutes() {
        let waits: Vec<i64> = (1..=9).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 600, 600, 600]);
        assert_eq!(backoff(1000).num_seconds(), 600);
    }
}
