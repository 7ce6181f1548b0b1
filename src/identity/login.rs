//! Finishing a sign-in (docs/identity.md): a profile the provider has vouched for becomes a
//! signed-in session, a sign-up still to finish, or a refusal, each with its audit event and
//! its count in `munji_logins_total`. No HTTP here: the page maps the outcome to a response.

use super::{IdentityError, Resolution};
use crate::{
    audit::{self, AuditEvent},
    config::RequiredField,
    sessions::{self, CookieSecret, Ending, Origin, Session, SessionError},
    state::AppState,
    store::{
        StoreError,
        users::{self, User},
    },
    upstream::UpstreamProfile,
};

/// What a finished sign-in at a provider leads to.
pub enum LoginOutcome {
    /// The browser is signed in to a new session.
    SignedIn(SignedIn),
    /// A new person and `registration = "form"`: the sign-up form must finish.
    SignupNeeded(UpstreamProfile),
    /// The person declined a field the provider's `required_fields` names; nothing was written.
    ConsentRequired,
    /// Two or more legacy mappings share the e-mail; nobody signs in.
    LegacyAmbiguous,
    /// A new person and `registration = "closed"`.
    RegistrationClosed,
    /// The account is disabled by an admin (docs/admin.md); nobody signs in.
    Disabled,
}

/// A new session, and the secret its cookie must carry.
pub struct SignedIn {
    pub user: User,
    pub session: Session,
    pub cookie: CookieSecret,
}

/// The one error type of sign-in: a store failed (nothing half-done is visible to the user:
/// a session only counts once its cookie is set).
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Sessions(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ephemeral(#[from] crate::ephemeral::EphemeralError),
}

/// Finish a sign-in for `profile`, in the browser whose current session cookie is `previous`
/// (that session ends: a sign-in always starts a new one).
pub async fn finish(
    state: &AppState,
    profile: UpstreamProfile,
    origin: &Origin,
    previous: Option<&CookieSecret>,
) -> Result<LoginOutcome, LoginError> {
    let provider = profile.provider;
    let count = |outcome: &str| state.metrics.logins.with_label_values(&[provider.as_str(), outcome]).inc();
    let refused = |reason: &'static str| AuditEvent::LoginRefused { provider, reason };

    if missing_required(state, &profile) {
        count("consent_required");
        audit::record(&state.db, None, refused("consent_required")).await?;
        return Ok(LoginOutcome::ConsentRequired);
    }
    let signed_in = match super::resolve(&state.db, state.identity_policy(provider), &profile).await? {
        Resolution::Known(user) | Resolution::Backfilled { user, .. } if user.is_disabled() => {
            count("disabled");
            audit::record(&state.db, Some(user.id), refused("disabled")).await?;
            return Ok(LoginOutcome::Disabled);
        }
        Resolution::Known(user) => {
            count("login");
            sign_in(state, user, AuditEvent::Login { provider }, origin, previous).await?
        }
        Resolution::Backfilled { user, identity_id } => {
            count("legacy_backfill");
            state.metrics.legacy_backfills.with_label_values(&[provider.as_str()]).inc();
            audit::record(&state.db, Some(user.id), AuditEvent::LegacyBackfill { provider, identity_id }).await?;
            // Whoever held a session of this account before it was claimed loses it.
            sessions::end(state, Ending::AllOf(user.id)).await?;
            sign_in(state, user, AuditEvent::Login { provider }, origin, previous).await?
        }
        Resolution::Created(user) => {
            count("signup");
            sign_in(state, user, AuditEvent::Signup { provider, identity_id: None }, origin, previous).await?
        }
        Resolution::SignupNeeded => {
            count("signup_form");
            return Ok(LoginOutcome::SignupNeeded(profile));
        }
        Resolution::LegacyAmbiguous => {
            count("legacy_ambiguous");
            audit::record(&state.db, None, refused("legacy_ambiguous")).await?;
            return Ok(LoginOutcome::LegacyAmbiguous);
        }
        Resolution::Closed => {
            count("registration_closed");
            audit::record(&state.db, None, refused("registration_closed")).await?;
            return Ok(LoginOutcome::RegistrationClosed);
        }
    };
    // An admin may have disabled the account while this sign-in was under way, after its
    // sessions were ended: the new session must not outlive that.
    if users::find_by_id(&state.db, signed_in.user.id).await?.is_none_or(|u| u.is_disabled()) {
        sessions::end(state, Ending::One(&signed_in.session.sid)).await?;
        count("disabled");
        return Ok(LoginOutcome::Disabled);
    }
    Ok(LoginOutcome::SignedIn(signed_in))
}

/// Sign `user` in: the browser's previous session ends, a new one starts, `event` is audited.
pub async fn sign_in(
    state: &AppState,
    user: User,
    event: AuditEvent<'_>,
    origin: &Origin,
    previous: Option<&CookieSecret>,
) -> Result<SignedIn, LoginError> {
    if let Some(previous) = previous
        && let Some(old) = sessions::find(state, previous).await?
    {
        sessions::end(state, Ending::One(&old.sid)).await?;
    }
    let (cookie, session) = sessions::start(state, user.id, origin).await?;
    audit::record(&state.db, Some(user.id), event).await?;
    tracing::info!(user.id = %user.id, "signed in");
    Ok(SignedIn { user, session, cookie })
}

/// Whether the profile lacks a field the provider's `required_fields` names.
fn missing_required(state: &AppState, profile: &UpstreamProfile) -> bool {
    profile.provider.required_fields(&state.config).iter().any(|field| match field {
        RequiredField::Email => profile.email.is_none(),
        RequiredField::Name => profile.name.is_none(),
    })
}
