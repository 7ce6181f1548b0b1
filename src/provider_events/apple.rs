//! Apple's server-to-server notifications (docs/provider-events.md), once their `payload` is
//! verified (`upstream::apple`). The subject is the Apple account whose uid is the event's
//! `sub`.
//!
//! | type | what munji does |
//! |---|---|
//! | `consent-revoked`, `account-delete` (also spelt `account-deleted`) | removes the identity as an unlink does ([`super::unlink`]) |
//! | `email-disabled`, `email-enabled` | records whether mail to the identity's relay address is forwarded |
//! | anything else | recorded only |
//!
//! Each is an audit event `provider_event`; a `jti` seen before does nothing.

use super::{Cause, FirstDelivery, Result, Unlink, risc::Received, unlink};
use crate::{
    audit::{self, AuditEvent},
    state::AppState,
    store::identities,
    upstream::{Provider, apple::Notification},
};

/// Handle a verified notification, unless its `jti` was seen before.
pub async fn receive(state: &AppState, notification: &Notification) -> Result<Received> {
    let Some(first) = FirstDelivery::take(state, "apple-jti", &notification.jti).await? else {
        return Ok(Received::Replayed);
    };
    if let Err(e) = handle(state, notification).await {
        first.forget(state).await;
        return Err(e);
    }
    Ok(Received::Handled)
}

async fn handle(state: &AppState, notification: &Notification) -> Result<()> {
    let sub = notification.sub.as_str();
    let identity = identities::find_by_provider_uid(&state.db, Provider::Apple, sub).await?;
    let user_id = identity.as_ref().map(|i| i.user_id);
    let removed = |outcome: Unlink| match outcome {
        Unlink::Removed { .. } => "unlinked",
        Unlink::RemovedAndDisabled { .. } => "unlinked_and_disabled",
        Unlink::Unknown => "no_account",
    };
    let action = match notification.kind.as_str() {
        "consent-revoked" => removed(unlink(state, Cause::AppleConsentRevoked, sub).await?),
        "account-delete" | "account-deleted" => removed(unlink(state, Cause::AppleAccountDeleted, sub).await?),
        kind @ ("email-disabled" | "email-enabled") => {
            let deliverable = kind == "email-enabled";
            match identities::set_email_deliverable(&state.db, Provider::Apple, sub, deliverable).await? {
                true if deliverable => "email_enabled",
                true => "email_disabled",
                false => "no_account",
            }
        }
        _ => "recorded",
    };
    let jti = notification.jti.as_str();
    let audited = AuditEvent::ProviderEvent { provider: Provider::Apple, event_type: &notification.kind, jti, action };
    audit::record(&state.db, user_id, audited).await?;
    tracing::info!(event_type = %notification.kind, action, "apple account event");
    Ok(())
}
