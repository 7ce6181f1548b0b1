//! Leaving (docs/leaving.md): everything munji holds about a user, as they may download it, and
//! the deletion of an account, by the user, an admin or the command line.
//!
//! A deletion first closes the door (the account is disabled, so no sign-in can start a new
//! session, then every session ends with back-channel logout), then asks the providers to
//! forget the grants munji holds (Google revokes each Gmail grant; Kakao unlinks each Kakao
//! identity when the admin key is set; Apple revokes each Apple grant munji kept), and last deletes every row of the user in one
//! transaction that also writes the receipt and quarantines the username. A provider that
//! fails is noted in the receipt and never stops the deletion: the account is gone either way.
//! No HTTP here. Depends on [`crate::store`], [`crate::sessions`], [`crate::upstream`],
//! [`crate::rate_limit`] (the user's counters),
//! [`crate::gmail`] (to open the tokens it revokes) and [`crate::admin`] (the user's detail).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    admin::{self, AdminError},
    gmail::{connect::context, vault::VaultError},
    sessions::{self, Ending, SessionError},
    state::AppState,
    store::{
        StoreError,
        audit::{self, AuditRow},
        gmail, identities,
        leaving::{self as rows, Receipt},
        users,
    },
    upstream::Provider,
};

/// How recent a sign-in must be for the user to delete their own account.
pub const REAUTH_WITHIN: chrono::Duration = chrono::Duration::minutes(5);

/// Who deletes an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleter {
    /// The user, from the account page or with their own token.
    User,
    /// An admin, from the admin API or pages.
    Admin(Uuid),
    /// An operator at the command line (`munji users delete`).
    Cli,
}

impl Deleter {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin(_) => "admin",
            Self::Cli => "cli",
        }
    }
}

/// The one error type of this module.
#[derive(Debug, thiserror::Error)]
pub enum LeavingError {
    #[error("no such user")]
    NoSuchUser,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sessions(#[from] SessionError),
}

impl From<AdminError> for LeavingError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Store(e) => Self::Store(e),
            AdminError::Sessions(e) => Self::Sessions(e),
            AdminError::Clients(crate::oidc::clients::ClientError::Store(e)) => Self::Store(e),
            AdminError::NoSuchUser
            | AdminError::NoSuchIdentity
            | AdminError::LastIdentity
            | AdminError::BadCursor
            | AdminError::Clients(_) => Self::NoSuchUser,
        }
    }
}

pub type Result<T, E = LeavingError> = std::result::Result<T, E>;

/// Whether a sign-in at `auth_time` (Unix seconds) is recent enough to delete the account.
pub fn signed_in_recently(state: &AppState, auth_time: i64) -> bool {
    state.clock.now().timestamp() - auth_time <= REAUTH_WITHIN.num_seconds()
}

/// Everything munji holds about a user, but secrets: the account and what an admin sees of it
/// (identities with their past e-mails, sessions, apps, Gmail connections without tokens), and
/// every audit event of the user.
pub struct Export {
    pub exported_at: DateTime<Utc>,
    pub detail: admin::Detail,
    /// Newest first.
    pub audit: Vec<AuditRow>,
}

pub async fn export(state: &AppState, user_id: Uuid) -> Result<Export> {
    let detail = admin::detail(state, user_id).await?;
    let audit = audit::list_for_user(&state.db, user_id, i64::MAX).await?;
    Ok(Export { exported_at: state.clock.now(), detail, audit })
}

/// What became of a deletion: the receipt that stays.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub receipt: Receipt,
}

/// Delete the account `user_id` (docs/leaving.md). Providers that fail are recorded in the
/// receipt; only munji's own stores failing stops it (and the user may try again: what was done
/// stays done, the account stays disabled).
pub async fn delete_account(state: &AppState, user_id: Uuid, deleter: Deleter) -> Result<Deleted> {
    let user = users::find_by_id(&state.db, user_id).await?.ok_or(LeavingError::NoSuchUser)?;
    let now = state.clock.now();
    // No sign-in from here on, then out with every session that exists.
    users::set_disabled(&state.db, user_id, Some("account deletion"), now).await?;
    sessions::end(state, Ending::AllOf(user_id)).await?;

    let upstream = json!({
        "google": revoke_gmail(state, user_id).await?,
        "kakao": unlink_kakao(state, user_id).await?,
        "apple": revoke_apple(state, user_id).await?,
    });
    let receipt = Receipt {
        id: Uuid::new_v4(),
        user_id_hash: rows::hash(&user_id.to_string()),
        deleted_at: now,
        deleted_by: deleter.as_str().to_owned(),
        actor_id: match deleter {
            Deleter::Admin(admin) => Some(admin),
            Deleter::User | Deleter::Cli => None,
        },
        upstream: sqlx::types::Json(upstream),
    };
    let until = now + state.config.username_quarantine.0;
    if !rows::delete_user(&state.db, user_id, &user.username, until, &receipt).await? {
        return Err(LeavingError::NoSuchUser);
    }
    // Counters expire by themselves within their window; forgetting them now leaves none.
    if let Err(e) = crate::rate_limit::RateLimiter::forget_user(&state.ephemeral, user_id).await {
        tracing::warn!(error.message = %e, "the rate-limit counters of a deleted account were left to expire");
    }
    tracing::info!(receipt.id = %receipt.id, deleted_by = deleter.as_str(), "account deleted");
    Ok(Deleted { receipt })
}

/// One provider call's outcome, for the receipt: no token, uid or address in it.
fn outcome(result: std::result::Result<(), String>) -> Value {
    match result {
        Ok(()) => json!({"outcome": "done"}),
        Err(error) => json!({"outcome": "failed", "error": error}),
    }
}

/// Revoke every Gmail grant of the user at Google (the refresh token ends the grant; without
/// one, the access token).
async fn revoke_gmail(state: &AppState, user_id: Uuid) -> Result<Vec<Value>> {
    let mut outcomes = Vec::new();
    for connection in gmail::list_for_user(&state.db, user_id).await? {
        let id = connection.id;
        let token = match &connection.refresh_token {
            Some(refresh) => state.vault.open(&context(id, "refresh"), refresh),
            None => state.vault.open(&context(id, "access"), &connection.access_token),
        };
        let result = match token {
            Ok(token) => state.upstreams.revoke_google(&token).await.map_err(|e| e.kind().to_owned()),
            Err(VaultError::NoKey | VaultError::UnknownKey(_) | VaultError::Corrupt) => Err("unopenable".to_owned()),
        };
        if let Err(error) = &result {
            tracing::warn!(error.kind = %error, "a Gmail grant of a deleted account was not revoked");
        }
        outcomes.push(outcome(result));
    }
    Ok(outcomes)
}

/// Unlink every Kakao identity of the user with the admin key, if one is configured.
async fn unlink_kakao(state: &AppState, user_id: Uuid) -> Result<Vec<Value>> {
    let kakao = &state.config.providers.kakao;
    let mut outcomes = Vec::new();
    for identity in identities::list_for_user(&state.db, user_id).await? {
        let (Provider::Kakao, Some(uid)) = (identity.provider, identity.uid.as_deref()) else { continue };
        let (Some(key), Some(url)) = (kakao.admin_key(), kakao.unlink_url.as_ref()) else {
            outcomes.push(json!({"outcome": "skipped", "reason": "no_admin_key"}));
            continue;
        };
        let result = state.upstreams.unlink_kakao(url, key, uid).await.map_err(|e| e.kind().to_owned());
        if let Err(error) = &result {
            tracing::warn!(error.kind = %error, "a Kakao identity of a deleted account was not unlinked");
        }
        outcomes.push(outcome(result));
    }
    Ok(outcomes)
}

/// Revoke, at Apple, the grant of every Apple identity of the user munji holds a token for (as
/// Apple requires of apps that delete accounts).
async fn revoke_apple(state: &AppState, user_id: Uuid) -> Result<Vec<Value>> {
    let mut outcomes = Vec::new();
    for (uid, sealed) in identities::upstream_tokens(&state.db, user_id, Provider::Apple).await? {
        let result = state.upstreams.revoke_kept(Provider::Apple, &uid, &sealed).await.map_err(|e| e.kind().to_owned());
        if let Err(error) = &result {
            tracing::warn!(error.kind = %error, "an Apple grant of a deleted account was not revoked");
        }
        outcomes.push(outcome(result));
    }
    Ok(outcomes)
}

/// The receipts of the account `user_id` (normally one; none if it was never deleted).
pub async fn receipts(state: &AppState, user_id: Uuid) -> Result<Vec<Receipt>> {
    Ok(rows::receipts_of(&state.db, user_id).await?)
}
