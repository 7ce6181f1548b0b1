//! Linking another provider's identity to a signed-in user, unlinking, and the tickets that let
//! an app start a link in a browser (docs/identity.md). No HTTP here.
//!
//! The link intent itself is the callback's state record (`upstream::state`, purpose `Link`),
//! bound to the user, the browser and its session. A ticket is what `POST
//! /api/v1/me/identities/{provider}/link` hands out: a signed, single-use, 10-minute promise that
//! whoever opens it *as the same user* may start that link (it does nothing for anyone else).

use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::IdentityError;
use crate::{
    audit::{self, AuditEvent},
    crypto,
    ephemeral::{Ephemeral, EphemeralError},
    sessions::{self, Ending, SessionError},
    state::AppState,
    store::{
        Db,
        identities::{self, LastIdentity, PROVIDER_UID_KEY, Unlinked},
    },
    upstream::{Provider, UpstreamProfile},
};

/// How long a link ticket can wait to be opened.
pub const TICKET_TTL: Duration = Duration::from_secs(600);

/// What linking a verified profile to a user did.
#[derive(Debug, PartialEq, Eq)]
pub enum Linked {
    /// A new identity of the user.
    New(Uuid),
    /// The user had it already: nothing to do.
    AlreadyYours,
    /// Another user has it: refused (`IDENTITY_ALREADY_LINKED`).
    OwnedByOther,
}

/// Link `profile` to `user_id`, unless another user has that `(provider, uid)`.
pub async fn link(db: &Db, user_id: Uuid, profile: &UpstreamProfile) -> Result<Linked, IdentityError> {
    let owner = |identity: Option<identities::Identity>| match identity {
        Some(i) if i.user_id == user_id => Linked::AlreadyYours,
        Some(_) => Linked::OwnedByOther,
        None => Linked::OwnedByOther,
    };
    let existing = identities::find_by_provider_uid(db, profile.provider, &profile.uid).await?;
    if existing.is_some() {
        return Ok(owner(existing));
    }
    match identities::insert_for_user(db, user_id, &super::new_identity(profile, false), Utc::now()).await {
        Ok(id) => Ok(Linked::New(id)),
        // Linked by someone (perhaps this user) between the look-up and the insert.
        Err(e) if e.on_constraint(PROVIDER_UID_KEY) => {
            Ok(owner(identities::find_by_provider_uid(db, profile.provider, &profile.uid).await?))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Serialize, Deserialize)]
struct Ticket {
    user_id: Uuid,
    provider: Provider,
}

fn ticket_key(id: &str) -> String {
    format!("link_ticket:{id}")
}

/// A ticket for `user_id` to link `provider`: `{id}.{signature}`.
pub async fn issue_ticket(
    store: &Ephemeral,
    key: &[u8],
    user_id: Uuid,
    provider: Provider,
) -> Result<String, EphemeralError> {
    let id = crypto::random_token(24);
    let value = serde_json::to_vec(&Ticket { user_id, provider }).unwrap_or_default();
    store.put(&ticket_key(&id), &value, TICKET_TTL).await?;
    Ok(format!("{id}.{}", crypto::sign(key, &id)))
}

/// Take a ticket (one use): the user it was issued to, if it is genuine, live and for
/// `provider`.
pub async fn take_ticket(
    store: &Ephemeral,
    key: &[u8],
    ticket: &str,
    provider: Provider,
) -> Result<Option<Uuid>, EphemeralError> {
    let Some((id, signature)) = ticket.split_once('.') else { return Ok(None) };
    if ticket.len() > 128 || !crypto::verify(key, id, signature) {
        return Ok(None);
    }
    let Some(value) = store.take(&ticket_key(id)).await? else { return Ok(None) };
    let ticket: Option<Ticket> = serde_json::from_slice(&value).ok();
    Ok(ticket.filter(|t| t.provider == provider).map(|t| t.user_id))
}

/// Unlink one of the user's identities, never the last: audit it and end the user's other
/// sessions and their refresh tokens (everything but `keep_sid`), for the page and the API.
pub async fn unlink(
    state: &AppState,
    user_id: Uuid,
    identity_id: Uuid,
    keep_sid: &str,
) -> Result<Unlinked, UnlinkError> {
    // Ending the other sessions needs the ephemeral store: without it, unlink nothing.
    state.ephemeral.ping().await.map_err(SessionError::from)?;
    let kept = identities::upstream_token_of(&state.db, identity_id).await?;
    let outcome = identities::unlink(&state.db, user_id, identity_id, LastIdentity::Keep, chrono::Utc::now()).await?;
    if let Unlinked::Removed(identity) = &outcome {
        revoke_kept_grant(state, identity, kept).await;
        let provider = identity.provider;
        sessions::end(state, Ending::AllBut(user_id, keep_sid)).await?;
        audit::record(&state.db, Some(user_id), AuditEvent::Unlink { provider, identity_id }).await?;
    }
    Ok(outcome)
}

/// Revoke, at its provider, the grant munji kept for an identity that was just removed (Apple's
/// refresh token, `sealed`; other providers' identities have none), so the provider too stops
/// counting munji among the person's apps. Best effort: a failure is logged and changes nothing
/// (docs/identity.md, "Linking and unlinking").
pub async fn revoke_kept_grant(state: &AppState, removed: &identities::Identity, sealed: Option<String>) {
    let (Some(uid), Some(sealed)) = (removed.uid.as_deref(), sealed) else { return };
    if let Err(e) = state.upstreams.revoke_kept(removed.provider, uid, &sealed).await {
        tracing::warn!(provider = %removed.provider, error.kind = e.kind(), "the grant of an unlinked identity was not revoked");
    }
}

/// Why an unlink could not be done (nothing was unlinked unless the database said so).
#[derive(Debug, thiserror::Error)]
pub enum UnlinkError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Sessions(#[from] SessionError),
}
