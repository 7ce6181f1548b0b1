//! Finishing a new account after a first sign-in (`registration = "form"`, docs/identity.md).
//!
//! The verified profile waits in the ephemeral store for 30 minutes, bound to the browser that
//! signed in (by the SHA-256 of its binding id); the form only chooses the username and display
//! name. Nothing is written until the form is valid, and a pending sign-up is used once.
//! No HTTP here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    IdentityError, Policy, Resolution, Username, UsernameProblem,
    login::{self, LoginError, SignedIn},
};
use crate::{
    audit::AuditEvent,
    config::{EmailTrust, Registration},
    crypto,
    ephemeral::EphemeralError,
    sessions::{CookieSecret, Origin},
    state::AppState,
    store::{StoreError, identities, users},
    upstream::UpstreamProfile,
};

/// How long a sign-up form may wait after the provider step.
pub const SIGNUP_TTL: Duration = Duration::from_secs(30 * 60);

/// A sign-up waiting for its form.
#[derive(Serialize, Deserialize)]
pub struct Pending {
    pub profile: UpstreamProfile,
    pub return_to: String,
    /// SHA-256 of the binding id of the browser that signed in.
    browser: String,
}

fn key(id: &str) -> String {
    format!("signup:{}", crypto::sha256_hex(id))
}

/// Keep the verified profile for the browser `browser`; returns the id its cookie carries.
pub async fn begin(
    state: &AppState,
    profile: UpstreamProfile,
    return_to: String,
    browser: &str,
) -> Result<String, EphemeralError> {
    let id = crypto::random_token(32);
    keep(state, &id, &Pending { profile, return_to, browser: crypto::sha256_hex(browser) }).await?;
    Ok(id)
}

async fn keep(state: &AppState, id: &str, pending: &Pending) -> Result<(), EphemeralError> {
    let value = serde_json::to_vec(pending).unwrap_or_default();
    state.ephemeral.put(&key(id), &value, SIGNUP_TTL).await
}

/// The pending sign-up `id`, if it is still there and belongs to the browser `browser`.
pub async fn load(state: &AppState, id: &str, browser: Option<&str>) -> Result<Option<Pending>, EphemeralError> {
    let Some(value) = state.ephemeral.get(&key(id)).await? else { return Ok(None) };
    let Ok(pending) = serde_json::from_slice::<Pending>(&value) else { return Ok(None) };
    let same_browser =
        browser.is_some_and(|b| crypto::constant_time_eq(crypto::sha256_hex(b).as_bytes(), pending.browser.as_bytes()));
    Ok(same_browser.then_some(pending))
}

/// What the form suggests before the person types anything.
pub fn suggestions(pending: &Pending) -> (Username, String) {
    let username = super::suggested_username(&pending.profile);
    let display_name = super::suggested_display_name(&pending.profile, &username);
    (username, display_name)
}

/// What submitting the sign-up form led to.
pub enum SignupOutcome {
    /// The account exists and the browser is signed in; go to `return_to`.
    SignedIn { signed_in: Box<SignedIn>, return_to: String },
    /// The form must be shown again; nothing was written.
    Invalid { username: Option<UsernameProblem>, display_name_invalid: bool },
    /// No pending sign-up for this browser (expired, used, or another browser's).
    Expired,
}

/// The form as typed.
#[derive(Clone, Copy)]
pub struct SignupForm<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
}

/// Submit the form of pending sign-up `id` from the browser `browser`.
pub async fn complete(
    state: &AppState,
    id: &str,
    browser: Option<&str>,
    form: SignupForm<'_>,
    origin: &Origin,
    previous: Option<&CookieSecret>,
) -> Result<SignupOutcome, LoginError> {
    let Some(pending) = load(state, id, browser).await? else {
        return Ok(SignupOutcome::Expired);
    };
    let (username, display_name) = match (Username::parse(form.username), super::parse_display_name(form.display_name))
    {
        (Ok(u), Some(d)) => (u, d),
        (u, d) => return Ok(SignupOutcome::Invalid { username: u.err(), display_name_invalid: d.is_none() }),
    };
    if users::username_taken(&state.db, username.as_str(), state.clock.now()).await? {
        return Ok(SignupOutcome::Invalid { username: Some(UsernameProblem::Taken), display_name_invalid: false });
    }
    // One use: a second submit of the same sign-up finds nothing.
    if state.ephemeral.take(&key(id)).await?.is_none() {
        return Ok(SignupOutcome::Expired);
    }
    let provider = pending.profile.provider;
    let return_to = pending.return_to.clone();
    let signed_in = match super::sign_up(&state.db, &pending.profile, &username, &display_name, state.clock.now()).await
    {
        Ok(user) => {
            state.metrics.logins.with_label_values(&[provider.as_str(), "signup"]).inc();
            let identity_id = signed_up_identity(state, &pending.profile).await?;
            login::sign_in(state, user, AuditEvent::Signup { provider, identity_id }, origin, previous).await?
        }
        Err(IdentityError::UsernameTaken) => {
            // Taken between the check and the insert: keep the sign-up for another try.
            keep(state, id, &pending).await?;
            return Ok(SignupOutcome::Invalid { username: Some(UsernameProblem::Taken), display_name_invalid: false });
        }
        Err(IdentityError::IdentityTaken) => {
            // The same person finished signing up in another tab first: sign in to that account.
            let known_only =
                Policy { registration: Registration::Closed, legacy_fallback: false, email_trust: EmailTrust::Never };
            match super::resolve(&state.db, known_only, &pending.profile).await? {
                Resolution::Known(user) => {
                    login::sign_in(state, user, AuditEvent::Login { provider }, origin, previous).await?
                }
                _ => return Ok(SignupOutcome::Expired),
            }
        }
        Err(e) => return Err(e.into()),
    };
    Ok(SignupOutcome::SignedIn { signed_in: Box::new(signed_in), return_to })
}

/// The identity a just-created account signed up with, for the audit event.
async fn signed_up_identity(state: &AppState, profile: &UpstreamProfile) -> Result<Option<uuid::Uuid>, StoreError> {
    Ok(identities::find_by_provider_uid(&state.db, profile.provider, &profile.uid).await?.map(|i| i.id))
}
