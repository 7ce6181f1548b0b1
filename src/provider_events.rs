//! What munji does when a provider tells it about one of its accounts (docs/provider-events.md):
//! a person disconnected munji at Kakao or Naver, or Google reports something about a Google
//! account ([`risc`]). No HTTP here: the hooks check who is calling and hand over the
//! provider's uid or the verified event.
//!
//! An unlink removes the identity and ends the user's sessions (with back-channel logout). When
//! it was the user's last identity, the account is disabled instead of deleted: nothing else
//! could sign in to it, and deleting is the person's or an admin's decision (docs/leaving.md).
//! Depends on [`crate::store`], [`crate::sessions`], [`crate::audit`] and [`crate::upstream`].

pub mod risc;

use chrono::Utc;
use uuid::Uuid;

use crate::{
    audit::{self, AuditEvent},
    ephemeral::EphemeralError,
    sessions::{self, Ending, SessionError},
    state::AppState,
    store::{
        StoreError,
        identities::{self, LastIdentity, Unlinked},
        users,
    },
    upstream::Provider,
};

/// The one error type of this layer: a store failed. What was done before the failure stays
/// done; doing it again is harmless.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
}

impl From<SessionError> for EventError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Store(e) => Self::Store(e),
            SessionError::Ephemeral(e) => Self::Ephemeral(e),
        }
    }
}

pub type Result<T, E = EventError> = std::result::Result<T, E>;

/// Why a provider took an identity away; the reason an account is disabled with when it was the
/// last identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Kakao's unlink callback.
    KakaoUnlinked,
    /// Naver's unlink notification.
    NaverUnlinked,
    /// Google's `account-purged` event.
    GooglePurged,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KakaoUnlinked => "kakao_unlinked",
            Self::NaverUnlinked => "naver_unlinked",
            Self::GooglePurged => "google_purged",
        }
    }

    fn provider(self) -> Provider {
        match self {
            Self::KakaoUnlinked => Provider::Kakao,
            Self::NaverUnlinked => Provider::Naver,
            Self::GooglePurged => Provider::Google,
        }
    }
}

/// What an unlink did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlink {
    /// No identity has that uid (never signed in, or already removed): nothing changed.
    Unknown,
    /// The identity is gone and the user's sessions ended; the user has other identities.
    Removed { user_id: Uuid },
    /// It was the user's last identity: gone, and the account disabled.
    RemovedAndDisabled { user_id: Uuid },
}

/// The person with `uid` at the provider of `cause` disconnected munji there.
pub async fn unlink(state: &AppState, cause: Cause, uid: &str) -> Result<Unlink> {
    let provider = cause.provider();
    let Some(identity) = identities::find_by_provider_uid(&state.db, provider, uid).await? else {
        return Ok(Unlink::Unknown);
    };
    let user_id = identity.user_id;
    let now = Utc::now();
    let mut disabled = false;
    let removed = match identities::unlink(&state.db, user_id, identity.id, LastIdentity::Keep, now).await? {
        Unlinked::Removed(_) => true,
        // Removed meanwhile by someone else: nothing left to do.
        Unlinked::NotFound => false,
        Unlinked::Last => {
            // The flag goes first, so a sign-in under way sees it (docs/admin.md). An account an
            // admin disabled already keeps its reason.
            let user = users::find_by_id(&state.db, user_id).await?;
            if user.as_ref().is_some_and(|u| !u.is_disabled()) {
                users::set_disabled(&state.db, user_id, Some(cause.as_str()), now).await?;
            }
            disabled = true;
            matches!(
                identities::unlink(&state.db, user_id, identity.id, LastIdentity::RemovableIfDisabled, now).await?,
                Unlinked::Removed(_)
            )
        }
    };
    if !removed {
        return Ok(Unlink::Unknown);
    }
    sessions::end(state, Ending::AllOf(user_id)).await?;
    let event = AuditEvent::ProviderUnlink { provider, identity_id: identity.id, cause: cause.as_str(), disabled };
    audit::record(&state.db, Some(user_id), event).await?;
    tracing::info!(%provider, %user_id, disabled, "provider unlinked an identity");
    Ok(if disabled { Unlink::RemovedAndDisabled { user_id } } else { Unlink::Removed { user_id } })
}
