//! Google's Cross-Account Protection events (docs/provider-events.md), once their token is
//! verified (`upstream::risc`). The subject is the Google account whose uid is `subject.sub`;
//! the user is the one who signs in with it.
//!
//! | event | what munji does |
//! |---|---|
//! | `sessions-revoked`, `account-disabled` | ends every session of the user |
//! | `tokens-revoked` | ends them too, and marks that account's Gmail connections `needs_reauth` |
//! | `account-purged` | removes the identity as an unlink does ([`super::unlink`]) |
//! | anything else | recorded only |
//!
//! Each event is an audit event `provider_event` (of the user, or of no one when no identity has
//! that uid). A token's `jti` is kept for [`JTI_TTL`] in the ephemeral store, taken with
//! `put_new`, so a redelivery, on any instance, does nothing twice.

use chrono::Utc;

use super::{Cause, Result, Unlink, unlink};
use crate::{
    audit::{self, AuditEvent},
    sessions::{self, Ending},
    state::AppState,
    store::{gmail, identities},
    upstream::{
        Provider,
        risc::{RiscEvent, SecurityEvent},
    },
};

pub const SESSIONS_REVOKED: &str = "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked";
pub const ACCOUNT_DISABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
pub const TOKENS_REVOKED: &str = "https://schemas.openid.net/secevent/oauth/event-type/tokens-revoked";
pub const ACCOUNT_PURGED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-purged";

/// What receiving a token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Its events were handled.
    Handled,
    /// Its `jti` was seen before: nothing was done.
    Replayed,
}

/// Handle a verified token's events, unless its `jti` was seen before. When handling fails the
/// `jti` is forgotten again, so Google's redelivery is handled.
pub async fn receive(state: &AppState, token: &SecurityEvent) -> Result<Received> {
    let Some(first) = super::FirstDelivery::take(state, "risc-jti", &token.jti).await? else {
        return Ok(Received::Replayed);
    };
    for event in &token.events {
        if let Err(e) = handle(state, &token.jti, event).await {
            first.forget(state).await;
            return Err(e);
        }
    }
    Ok(Received::Handled)
}

async fn handle(state: &AppState, jti: &str, event: &RiscEvent) -> Result<()> {
    let identity = match &event.subject {
        Some(sub) => identities::find_by_provider_uid(&state.db, Provider::Google, sub).await?,
        None => None,
    };
    let user_id = identity.as_ref().map(|i| i.user_id);
    let action = match (event.event_type.as_str(), user_id) {
        (SESSIONS_REVOKED | ACCOUNT_DISABLED, Some(user_id)) => {
            sessions::end(state, Ending::AllOf(user_id)).await?;
            "sessions_ended"
        }
        (TOKENS_REVOKED, _) => {
            if let Some(user_id) = user_id {
                sessions::end(state, Ending::AllOf(user_id)).await?;
            }
            let addresses = [identity.as_ref().and_then(|i| i.email.clone()), event.email.clone()];
            let marked = gmail_needs_reauth(state, addresses.iter().flatten()).await?;
            match (user_id.is_some(), marked) {
                (true, _) => "sessions_ended",
                (false, 0) => "no_account",
                (false, _) => "gmail_marked",
            }
        }
        (ACCOUNT_PURGED, Some(_)) => {
            // The identity is looked up again there, so a concurrent removal is no error.
            match event.subject.as_deref() {
                Some(sub) => match unlink(state, Cause::GooglePurged, sub).await? {
                    Unlink::Removed { .. } => "unlinked",
                    Unlink::RemovedAndDisabled { .. } => "unlinked_and_disabled",
                    Unlink::Unknown => "no_account",
                },
                None => "no_account",
            }
        }
        (SESSIONS_REVOKED | ACCOUNT_DISABLED | ACCOUNT_PURGED, None) => "no_account",
        _ => "recorded",
    };
    let audited = AuditEvent::ProviderEvent { provider: Provider::Google, event_type: &event.event_type, jti, action };
    audit::record(&state.db, user_id, audited).await?;
    tracing::info!(event_type = %event.event_type, action, "google account event");
    Ok(())
}

/// Mark the Gmail connections of these addresses `needs_reauth`; how many were marked. Each is
/// audited as `gmail_revoked` on its holder.
async fn gmail_needs_reauth(state: &AppState, addresses: impl Iterator<Item = &String>) -> Result<usize> {
    let mut seen: Vec<String> = Vec::new();
    let mut marked = 0;
    for address in addresses {
        let folded = address.to_lowercase();
        if seen.contains(&folded) {
            continue;
        }
        seen.push(folded);
        for (connection_id, holder) in gmail::mark_address_needs_reauth(&state.db, address, Utc::now()).await? {
            audit::record(&state.db, Some(holder), AuditEvent::GmailRevoked { connection_id }).await?;
            marked += 1;
        }
    }
    Ok(marked)
}
