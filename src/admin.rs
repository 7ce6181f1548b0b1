//! What operators do to accounts (docs/admin.md): find users, make and unmake admins, disable
//! and enable accounts, end their sessions, remove identities, and read the audit log, each
//! action audited on the subject user with the admin who did it (`None`: the command line).
//! Used by `munji users …`, the admin API and the admin pages; no HTTP here.

pub mod cursor;

use chrono::Utc;
use uuid::Uuid;

use crate::{
    audit::{self, AuditEvent},
    sessions::{self, Ending, SessionError},
    state::AppState,
    store::{
        StoreError,
        identities::{self, LastIdentity, Unlinked},
        users::{self, Listed, Search, User},
    },
};

/// Who acted: an admin user, or `None` for the command line.
pub type Actor = Option<Uuid>;

/// The one error type of admin actions.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no such user")]
    NoSuchUser,
    #[error("no such identity of this user")]
    NoSuchIdentity,
    #[error("the last identity of an account that is not disabled cannot be removed")]
    LastIdentity,
    #[error("the cursor is not one this list gave")]
    BadCursor,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sessions(#[from] SessionError),
    #[error(transparent)]
    Clients(#[from] crate::oidc::clients::ClientError),
}

pub type Result<T, E = AdminError> = std::result::Result<T, E>;

/// The user `spec` names: a user id or a username.
pub async fn find_user(state: &AppState, spec: &str) -> Result<User> {
    let found = match Uuid::parse_str(spec) {
        Ok(id) => users::find_by_id(&state.db, id).await?,
        Err(_) => users::find_by_username(&state.db, spec).await?,
    };
    found.ok_or(AdminError::NoSuchUser)
}

async fn user(state: &AppState, user_id: Uuid) -> Result<User> {
    users::find_by_id(&state.db, user_id).await?.ok_or(AdminError::NoSuchUser)
}

/// Make the user an admin (`true`) or not. Returns the user as they are now.
pub async fn set_admin(state: &AppState, actor: Actor, user_id: Uuid, is_admin: bool) -> Result<User> {
    if !users::set_admin(&state.db, user_id, is_admin, Utc::now()).await? {
        return Err(AdminError::NoSuchUser);
    }
    let event = if is_admin { AuditEvent::AdminGrant } else { AuditEvent::AdminRevoke };
    audit::record_by(&state.db, user_id, actor, event).await?;
    user(state, user_id).await
}

/// Disable the account: no sign-in from now on (the flag goes first, so a sign-in under way
/// sees it), then every session ends with its tokens (and back-channel logout).
pub async fn disable(state: &AppState, actor: Actor, user_id: Uuid, reason: &str) -> Result<User> {
    if !users::set_disabled(&state.db, user_id, Some(reason), Utc::now()).await? {
        return Err(AdminError::NoSuchUser);
    }
    sessions::end(state, Ending::AllOf(user_id)).await?;
    audit::record_by(&state.db, user_id, actor, AuditEvent::AdminDisable { reason }).await?;
    user(state, user_id).await
}

/// Enable the account again: the user may sign in; tokens from before stay dead.
pub async fn enable(state: &AppState, actor: Actor, user_id: Uuid) -> Result<User> {
    if !users::set_disabled(&state.db, user_id, None, Utc::now()).await? {
        return Err(AdminError::NoSuchUser);
    }
    audit::record_by(&state.db, user_id, actor, AuditEvent::AdminEnable).await?;
    user(state, user_id).await
}

/// End every session of the user (a stolen device, a worried user).
pub async fn end_sessions(state: &AppState, actor: Actor, user_id: Uuid) -> Result<()> {
    user(state, user_id).await?;
    sessions::end(state, Ending::AllOf(user_id)).await?;
    audit::record_by(&state.db, user_id, actor, AuditEvent::AdminEndSessions).await?;
    Ok(())
}

/// Remove one of the user's identities; the last one only once the account is disabled. The
/// user's sessions end (an identity is a way in: whoever used it is out).
pub async fn unlink(state: &AppState, actor: Actor, user_id: Uuid, identity_id: Uuid) -> Result<()> {
    user(state, user_id).await?;
    let kept = identities::upstream_token_of(&state.db, identity_id).await?;
    let removed =
        match identities::unlink(&state.db, user_id, identity_id, LastIdentity::RemovableIfDisabled, Utc::now()).await?
        {
            Unlinked::Removed(identity) => identity,
            Unlinked::NotFound => return Err(AdminError::NoSuchIdentity),
            Unlinked::Last => return Err(AdminError::LastIdentity),
        };
    crate::identity::link::revoke_kept_grant(state, &removed, kept).await;
    sessions::end(state, Ending::AllOf(user_id)).await?;
    let event = AuditEvent::AdminUnlink { provider: removed.provider, identity_id };
    audit::record_by(&state.db, user_id, actor, event).await?;
    Ok(())
}

/// One page of a list, and where the next one starts (`None` on the last page).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Users matching `q` (docs/admin.md), newest first, `limit` at a time.
pub async fn search_users(state: &AppState, q: &str, cursor: Option<&str>, limit: i64) -> Result<Page<Listed>> {
    let after = cursor.map(cursor::decode).transpose()?;
    let mut items = users::search(&state.db, &Search { q: q.to_owned() }, after, limit + 1).await?;
    let next_cursor = next(&mut items, limit, |u| cursor::encode(u.user.created_at, u.user.id));
    Ok(Page { items, next_cursor })
}

/// Keep `limit` of `limit + 1` fetched rows; the cursor of the last kept one if there were more.
fn next<T>(items: &mut Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(0);
    if items.len() <= limit {
        return None;
    }
    items.truncate(limit);
    items.last().map(cursor_of)
}

/// Audit events of every user (or one), of one kind if given, newest first.
pub async fn audit_log(
    state: &AppState,
    user_id: Option<Uuid>,
    kind: Option<&str>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<crate::store::audit::AdminAuditRow>> {
    let after = cursor.map(cursor::decode).transpose()?;
    let mut items = crate::store::audit::list_filtered(&state.db, user_id, kind, after, limit + 1).await?;
    let next_cursor = next(&mut items, limit, |e| cursor::encode(e.at, e.id));
    Ok(Page { items, next_cursor })
}

/// Everything an admin sees of one user (no secrets: Gmail tokens stay sealed and unshown).
pub struct Detail {
    pub user: Listed,
    /// Each identity with the e-mails it had before, oldest first.
    pub identities: Vec<(crate::store::identities::Identity, Vec<String>)>,
    pub sessions: Vec<crate::store::sessions::SessionRow>,
    pub apps: Vec<crate::oidc::apps::ConnectedApp>,
    pub gmail: Vec<crate::store::gmail::Connection>,
}

/// One user as the lists show them (after an action, say).
pub async fn listed(state: &AppState, user_id: Uuid) -> Result<Listed> {
    users::find_listed(&state.db, user_id).await?.ok_or(AdminError::NoSuchUser)
}

/// One user, whole.
pub async fn detail(state: &AppState, user_id: Uuid) -> Result<Detail> {
    let user = user(state, user_id).await?;
    let mut with_history = Vec::new();
    for identity in identities::list_for_user(&state.db, user_id).await? {
        let history = identities::email_history(&state.db, identity.id).await?;
        with_history.push((identity, history));
    }
    let last_login_at = with_history.iter().filter_map(|(i, _)| i.last_login_at).max();
    let apps = crate::oidc::apps::list(state, user_id).await?;
    Ok(Detail {
        user: Listed { user, last_login_at },
        identities: with_history,
        sessions: sessions::list(state, user_id).await?,
        apps,
        gmail: crate::store::gmail::list_for_user(&state.db, user_id).await?,
    })
}

/// The dashboard's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub users: i64,
    pub active_1d: i64,
    pub active_30d: i64,
    pub identities: Vec<(String, i64)>,
    pub legacy_pending: Vec<(String, i64)>,
    pub gmail: Vec<(String, i64)>,
}

pub async fn stats(state: &AppState) -> Result<Stats> {
    use crate::store::stats;
    let now = Utc::now();
    Ok(Stats {
        users: stats::users(&state.db).await?,
        active_1d: stats::active_since(&state.db, now - chrono::Duration::days(1)).await?,
        active_30d: stats::active_since(&state.db, now - chrono::Duration::days(30)).await?,
        identities: stats::identities_by_provider(&state.db).await?,
        legacy_pending: crate::store::legacy::pending_by_provider(&state.db).await?,
        gmail: stats::gmail_by_status(&state.db).await?,
    })
}

/// Every client, configured ones first.
pub async fn clients(state: &AppState) -> Result<Vec<crate::oidc::clients::Client>> {
    Ok(crate::oidc::clients::list(&state.config, &state.db).await?)
}

/// Register a client; its secret (unless public) is returned once.
pub async fn add_client(state: &AppState, actor: Uuid, new: crate::oidc::clients::NewClient) -> Result<Option<String>> {
    let id = new.id.clone();
    let secret = crate::oidc::clients::add(&state.config, &state.db, new).await?;
    client_changed(state, actor, &id, "created").await?;
    Ok(secret)
}

pub async fn remove_client(state: &AppState, actor: Uuid, id: &str) -> Result<()> {
    crate::oidc::clients::remove(&state.config, &state.db, id).await?;
    client_changed(state, actor, id, "removed").await
}

pub async fn new_client_secret(state: &AppState, actor: Uuid, id: &str) -> Result<String> {
    let secret = crate::oidc::clients::new_secret(&state.config, &state.db, id).await?;
    client_changed(state, actor, id, "new_secret").await?;
    Ok(secret)
}

async fn client_changed(state: &AppState, actor: Uuid, client_id: &str, change: &str) -> Result<()> {
    state.clients.forget(client_id);
    let event = AuditEvent::AdminClientChange { client_id, change };
    Ok(audit::record_by(&state.db, actor, Some(actor), event).await?)
}
