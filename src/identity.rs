//! Login resolution (docs/identity.md): who a verified upstream profile is. No HTTP here.
//!
//! 1. `(provider, uid)` known → that user; the identity's e-mail and last login are refreshed
//!    (a changed e-mail goes to the history; nothing is re-keyed).
//! 2. no such identity, the legacy fallback is on and the provider's e-mail passes its
//!    `legacy_email_trust` → an imported mapping of the same provider with that e-mail
//!    (ignoring case) and no uid yet gets the uid, exactly once, and signs in. Two or more
//!    candidates → nobody signs in (`LegacyAmbiguous`). A pinned row is never matched by e-mail
//!    again.
//! 3. unknown → `registration`: `form` asks the sign-up page to finish, `auto` creates the account
//!    with a unique username made from the profile, `closed` creates nothing.
//!
//! Accounts are never merged by e-mail: an unknown uid with a known e-mail is a new person.
//! Depends on [`crate::store`] and [`crate::upstream`] (types only).

pub mod link;
pub mod login;
pub mod signup;
pub mod username;

use chrono::Utc;

use uuid::Uuid;

use crate::{
    config::{EmailTrust, Registration},
    store::{
        Db, StoreError,
        identities::{self, NewIdentity},
        legacy,
        users::{self, NewUser, User},
    },
    upstream::UpstreamProfile,
};
pub use username::{Username, UsernameProblem};

/// The longest display name kept.
pub const MAX_DISPLAY_NAME: usize = 64;

/// The operator's settings that shape resolution.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub registration: Registration,
    /// Whether step 2 (the legacy e-mail fallback) runs at all (`legacy_fallback`).
    pub legacy_fallback: bool,
    /// The provider's `legacy_email_trust`.
    pub email_trust: EmailTrust,
}

/// What a sign-in leads to.
#[derive(Debug)]
pub enum Resolution {
    /// A returning user.
    Known(User),
    /// A legacy mapping just got its uid (`identity_id`): the imported user signs in.
    Backfilled { user: User, identity_id: Uuid },
    /// Two or more legacy mappings share the e-mail: nobody signs in.
    LegacyAmbiguous,
    /// A new account made at once (`registration = "auto"`).
    Created(User),
    /// A new person; the sign-up page must finish (`registration = "form"`).
    SignupNeeded,
    /// A new person, and registration is closed.
    Closed,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the username is taken")]
    UsernameTaken,
    #[error("this identity already belongs to an account")]
    IdentityTaken,
    #[error("the identity's account is gone")]
    AccountGone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolve a profile that the provider has vouched for.
#[tracing::instrument(skip_all, fields(provider = %profile.provider))]
pub async fn resolve(db: &Db, policy: Policy, profile: &UpstreamProfile) -> Result<Resolution, IdentityError> {
    if let Some(user) = sign_in_known(db, profile).await? {
        return Ok(Resolution::Known(user));
    }
    if policy.legacy_fallback
        && let Some(email) = trusted_email(profile, policy.email_trust)
        && let Some(resolution) = legacy_backfill(db, profile, email).await?
    {
        return Ok(resolution);
    }
    match policy.registration {
        Registration::Form => Ok(Resolution::SignupNeeded),
        Registration::Closed => Ok(Resolution::Closed),
        Registration::Auto => create_with_generated_username(db, profile).await,
    }
}

/// The profile's e-mail if the provider's policy lets it claim a legacy mapping: Google and
/// Kakao must say it is verified (Kakao: verified and valid); Naver's is asserted.
fn trusted_email(profile: &UpstreamProfile, trust: EmailTrust) -> Option<&str> {
    let trusted = match trust {
        EmailTrust::Verified => profile.email_verified,
        EmailTrust::Asserted => true,
        EmailTrust::Never => false,
    };
    // A relay address stands for nobody's own mailbox: it can never be the one on file.
    profile.email.as_deref().filter(|_| trusted && !profile.email_private)
}

/// Step 2. `None` when no mapping waits for this e-mail.
async fn legacy_backfill(db: &Db, profile: &UpstreamProfile, email: &str) -> Result<Option<Resolution>, IdentityError> {
    let provider = profile.provider.as_str();
    let candidates = legacy::find_candidates(db, provider, email).await?;
    let [candidate] = candidates.as_slice() else {
        if candidates.is_empty() {
            // A concurrent sign-in may have pinned the row since step 1 looked.
            return Ok(sign_in_known(db, profile).await?.map(Resolution::Known));
        }
        return Ok(Some(Resolution::LegacyAmbiguous));
    };
    if legacy::pin_uid(db, candidate.id, &profile.uid, email, profile.email_verified, Utc::now()).await? {
        let user = users::find_by_id(db, candidate.user_id).await?.ok_or(IdentityError::AccountGone)?;
        tracing::info!(identity.id = %candidate.id, user.id = %user.id, "legacy mapping back-filled");
        return Ok(Some(Resolution::Backfilled { user, identity_id: candidate.id }));
    }
    // Another sign-in of the same person pinned it first: it is theirs, and so this one's.
    Ok(sign_in_known(db, profile).await?.map(Resolution::Known))
}

/// Step 1: a known `(provider, uid)` signs in.
async fn sign_in_known(db: &Db, profile: &UpstreamProfile) -> Result<Option<User>, IdentityError> {
    let Some(identity) = identities::find_by_provider_uid(db, profile.provider, &profile.uid).await? else {
        return Ok(None);
    };
    let login = identities::Login {
        email: profile.email.as_deref(),
        email_verified: profile.email_verified,
        upstream_token: profile.upstream_token.as_ref().map(|t| t.0.as_str()),
    };
    identities::record_login(db, &identity, &login, Utc::now()).await?;
    let user = users::find_by_id(db, identity.user_id).await?.ok_or(IdentityError::AccountGone)?;
    Ok(Some(user))
}

/// Create the account and its first identity, signed in at `now` (the clock a username's
/// quarantine is judged by, docs/leaving.md).
pub async fn sign_up(
    db: &Db,
    profile: &UpstreamProfile,
    username: &Username,
    display_name: &str,
    now: chrono::DateTime<Utc>,
) -> Result<User, IdentityError> {
    let user = NewUser { username: username.as_str(), display_name, email: profile.email.as_deref() };
    users::insert_with_identity(db, user, new_identity(profile, true), now).await.map_err(|e| {
        if e.on_constraint(users::USERNAME_KEY) {
            IdentityError::UsernameTaken
        } else if e.on_constraint(identities::PROVIDER_UID_KEY) {
            IdentityError::IdentityTaken
        } else {
            e.into()
        }
    })
}

/// The identity row a verified profile makes; `logged_in` when it is signing in now.
pub fn new_identity(profile: &UpstreamProfile, logged_in: bool) -> NewIdentity<'_> {
    NewIdentity {
        provider: profile.provider,
        uid: &profile.uid,
        email: profile.email.as_deref(),
        email_verified: profile.email_verified,
        logged_in,
        upstream_token: profile.upstream_token.as_ref().map(|t| t.0.as_str()),
    }
}

/// The sign-up form's starting values: a username made from the profile, and its name.
pub fn suggested_username(profile: &UpstreamProfile) -> Username {
    [profile.email.as_deref(), profile.name.as_deref()]
        .into_iter()
        .flatten()
        .find_map(Username::suggest)
        .unwrap_or_else(|| Username::suggest(&format!("{}user", profile.provider)).unwrap_or_else(|| unreachable!()))
}

pub fn suggested_display_name(profile: &UpstreamProfile, username: &Username) -> String {
    profile.name.clone().unwrap_or_else(|| username.to_string()).chars().take(MAX_DISPLAY_NAME).collect()
}

/// Check a display name as typed: 1–64 characters after trimming, no control characters.
pub fn parse_display_name(input: &str) -> Option<String> {
    let name = input.trim();
    let len = name.chars().count();
    ((1..=MAX_DISPLAY_NAME).contains(&len) && !name.chars().any(char::is_control)).then(|| name.to_owned())
}

/// `registration = "auto"`: try the suggested username, then numbered variants.
async fn create_with_generated_username(db: &Db, profile: &UpstreamProfile) -> Result<Resolution, IdentityError> {
    let base = suggested_username(profile);
    let display_name = suggested_display_name(profile, &base);
    for attempt in 0..50u32 {
        let candidate = match attempt {
            0 => base.clone(),
            n if n < 10 => base.with_suffix(n),
            _ => base.with_suffix(rand::random_range(1000..1_000_000)),
        };
        match sign_up(db, profile, &candidate, &display_name, Utc::now()).await {
            Ok(user) => return Ok(Resolution::Created(user)),
            Err(IdentityError::UsernameTaken) => continue,
            // The same person signed in twice at once and the other request won.
            Err(IdentityError::IdentityTaken) => {
                return sign_in_known(db, profile).await?.map(Resolution::Known).ok_or(IdentityError::AccountGone);
            }
            Err(e) => return Err(e),
        }
    }
    Err(IdentityError::UsernameTaken)
}
