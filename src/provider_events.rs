//! What munji does when a provider tells it about one of its accounts (docs/provider-events.md):
//! a person disconnected munji at Kakao or Naver, or Google reports something about a Google
//! account ([`risc`]). No HTTP here: the hooks check who is calling and hand over the
//! provider's uid or the verified event.
//!
//! An unlink removes the identity and ends the user's sessions (with back-channel logout). When
//! it was the user's last identity, the account is disabled instead of deleted: nothing else
//! could sign in to it, and deleting is the person's or an admin's decision (docs/provider-events.md).
//! Depends on [`crate::store`], [`crate::sessions`], [`crate::audit`] and [`crate::upstream`].

pub mod apple;
pub mod risc;

use std::time::Duration;

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
    /// Apple's `consent-revoked` notification.
    AppleConsentRevoked,
    /// Apple's `account-delete` notification.
    AppleAccountDeleted,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KakaoUnlinked => "kakao_unlinked",
            Self::NaverUnlinked => "naver_unlinked",
            Self::GooglePurged => "google_purged",
            Self::AppleConsentRevoked => "apple_consent_revoked",
            Self::AppleAccountDeleted => "apple_account_deleted",
        }
    }

    fn provider(self) -> Provider {
        match self {
            Self::KakaoUnlinked => Provider::Kakao,
            Self::NaverUnlinked => Provider::Naver,
            Self::GooglePurged => Provider::Google,
            Self::AppleConsentRevoked | Self::AppleAccountDeleted => Provider::Apple,
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

/// How long a pushed event's `jti` is remembered. Providers redeliver for a limited time only;
/// a month covers it with room to spare.
pub const JTI_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The first delivery of a pushed event: its `jti` taken in the ephemeral store (with
/// `put_new`, so a redelivery, on any instance, does nothing twice).
struct FirstDelivery {
    key: String,
}

impl FirstDelivery {
    /// `None` when `jti` was seen before.
    async fn take(state: &AppState, namespace: &str, jti: &str) -> Result<Option<Self>> {
        let key = format!("{namespace}:{}", crate::crypto::sha256_hex(jti));
        Ok(state.ephemeral.put_new(&key, b"1", JTI_TTL).await?.then_some(Self { key }))
    }

    /// Handling failed: forget the `jti` again, so the provider's redelivery is handled.
    async fn forget(self, state: &AppState) {
        if let Err(e) = state.ephemeral.delete(&self.key).await {
            tracing::warn!(error.message = %e, "could not forget a pushed event's jti");
        }
    }
}

/// Why a provider's call was not taken: it could not prove it came from the provider, or it
/// did not say what it is about. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Kakao's `Authorization: KakaoAK …` is missing or not the admin key.
    #[error("the admin key is missing or wrong")]
    BadAdminKey,
    /// Naver's signature, client id or timestamp is wrong.
    #[error(transparent)]
    BadNotice(#[from] crate::upstream::naver::notice::NoticeError),
    /// Google's or Apple's token failed verification or is malformed.
    #[error("{0}")]
    BadToken(String),
    /// An authenticated call without the fields it must carry.
    #[error("{0}")]
    Malformed(&'static str),
}

/// What went wrong with a provider's call.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The provider's keys could not be fetched: nothing can be checked now.
    #[error(transparent)]
    Upstream(#[from] crate::upstream::UpstreamError),
    #[error(transparent)]
    Event(#[from] EventError),
}

/// A pushed token (Google's or Apple's) that failed verification is the sender's fault; keys
/// that could not be fetched are not.
impl From<crate::upstream::risc::RiscError> for HookError {
    fn from(e: crate::upstream::risc::RiscError) -> Self {
        match e {
            crate::upstream::risc::RiscError::Refused(why) => Self::Refused(Refusal::BadToken(why)),
            crate::upstream::risc::RiscError::Upstream(e) => Self::Upstream(e),
        }
    }
}

/// Kakao's unlink callback: `authorization` is the `Authorization` header as sent; the admin key
/// is compared in constant time, before anything else is looked at.
pub async fn kakao_unlink(
    state: &AppState,
    authorization: Option<&str>,
    user_id: Option<&str>,
) -> Result<Unlink, HookError> {
    let key = state.config.providers.kakao.admin_key().ok_or(Refusal::BadAdminKey)?;
    let presented = authorization.and_then(|h| h.trim().strip_prefix("KakaoAK ")).unwrap_or_default().trim();
    let expected = secrecy::ExposeSecret::expose_secret(key);
    if !crate::crypto::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        return Err(Refusal::BadAdminKey.into());
    }
    let user_id = user_id.map(str::trim).filter(|u| !u.is_empty()).ok_or(Refusal::Malformed("user_id is missing"))?;
    Ok(unlink(state, Cause::KakaoUnlinked, user_id).await?)
}

/// Naver's unlink notification: signature, client id and timestamp checked, the id decrypted.
pub async fn naver_unlink(
    state: &AppState,
    notice: &crate::upstream::naver::notice::Notice,
) -> Result<Unlink, HookError> {
    let naver = &state.config.providers.naver;
    let secret = secrecy::ExposeSecret::expose_secret(&naver.client_secret);
    let uid = crate::upstream::naver::notice::open(&naver.client_id, secret, notice, Utc::now().timestamp())
        .map_err(Refusal::from)?;
    Ok(unlink(state, Cause::NaverUnlinked, &uid).await?)
}

/// Google's pushed Security Event Token, verified, then its events handled once.
pub async fn google_risc(state: &AppState, token: &str) -> Result<risc::Received, HookError> {
    let event = state.upstreams.verify_risc(token.trim()).await?;
    Ok(risc::receive(state, &event).await?)
}

/// Apple's notification: the `payload` verified, then its event handled once.
pub async fn apple(state: &AppState, payload: Option<&str>) -> Result<risc::Received, HookError> {
    let payload = payload.map(str::trim).filter(|p| !p.is_empty()).ok_or(Refusal::Malformed("payload is missing"))?;
    let notification = state.upstreams.verify_apple_notification(payload).await?;
    Ok(apple::receive(state, &notification).await?)
}
