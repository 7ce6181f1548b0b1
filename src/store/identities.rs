//! Social identities, keyed by `(provider, uid)` (docs/identity.md), and their e-mail history.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Db, Result, on_pool};
use crate::upstream::Provider;

/// The unique constraint on `(provider, uid)`.
pub const PROVIDER_UID_KEY: &str = "identities_provider_uid_key";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Identity {
    pub id: Uuid,
    pub user_id: Uuid,
    pub provider: Provider,
    /// `None` only for an imported legacy mapping that has not signed in yet.
    pub uid: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub linked_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// False while the provider says mail to `email` is not forwarded (Apple's relay).
    pub email_deliverable: bool,
}

pub struct NewIdentity<'a> {
    pub provider: Provider,
    pub uid: &'a str,
    pub email: Option<&'a str>,
    pub email_verified: bool,
    /// Whether this identity is signing in now (sets `last_login_at`).
    pub logged_in: bool,
    /// The provider's token kept for revoking the grant later (Apple), sealed.
    pub upstream_token: Option<&'a str>,
}

pub(super) const COLUMNS: &str =
    "id, user_id, provider, uid, email, email_verified, linked_at, last_login_at, email_deliverable";

pub(super) const INSERT: &str = "INSERT INTO identities
    (id, user_id, provider, uid, email, email_verified, linked_at, last_login_at, upstream_token)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub async fn find_by_provider_uid(db: &Db, provider: Provider, uid: &str) -> Result<Option<Identity>> {
    const SQL: &str = const_format::concatcp!("SELECT ", COLUMNS, " FROM identities WHERE provider = $1 AND uid = $2");
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(provider).bind(uid).fetch_optional(pool).await?))
}

/// The identities of one user, oldest link first.
pub async fn list_for_user(db: &Db, user_id: Uuid) -> Result<Vec<Identity>> {
    const SQL: &str =
        const_format::concatcp!("SELECT ", COLUMNS, " FROM identities WHERE user_id = $1 ORDER BY linked_at, id");
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await?))
}

/// What a sign-in learnt about an identity.
pub struct Login<'a> {
    pub email: Option<&'a str>,
    pub email_verified: bool,
    /// A new sealed token to keep for revocation (Apple); `None` keeps the one there is.
    pub upstream_token: Option<&'a str>,
}

/// A sign-in through `identity`: refresh its e-mail and `last_login_at`. When the e-mail
/// changed, the old one goes to the history in the same transaction; nothing is re-keyed.
pub async fn record_login(db: &Db, identity: &Identity, login: &Login<'_>, now: DateTime<Utc>) -> Result<()> {
    const UPDATE: &str = "UPDATE identities SET email = $2, email_verified = $3, last_login_at = $4,
        upstream_token = COALESCE($5, upstream_token) WHERE id = $1";
    let (email, email_verified) = (login.email, login.email_verified);
    const HISTORY: &str = "INSERT INTO identity_emails (id, identity_id, email, replaced_at) VALUES ($1, $2, $3, $4)";
    let replaced = identity.email.as_deref().filter(|old| Some(*old) != email);
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        if let Some(old) = replaced {
            sqlx::query(HISTORY).bind(Uuid::new_v4()).bind(identity.id).bind(old).bind(now).execute(&mut *tx).await?;
        }
        sqlx::query(UPDATE)
            .bind(identity.id)
            .bind(email)
            .bind(email_verified)
            .bind(now)
            .bind(login.upstream_token)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// The sealed upstream tokens of a user's identities at `provider` (for revoking them).
pub async fn upstream_tokens(db: &Db, user_id: Uuid, provider: Provider) -> Result<Vec<(String, String)>> {
    const SQL: &str = "SELECT uid, upstream_token FROM identities
        WHERE user_id = $1 AND provider = $2 AND uid IS NOT NULL AND upstream_token IS NOT NULL";
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).bind(provider).fetch_all(pool).await?))
}

/// The sealed upstream token kept for the identity `identity_id`, if any.
pub async fn upstream_token_of(db: &Db, identity_id: Uuid) -> Result<Option<String>> {
    const SQL: &str = "SELECT upstream_token FROM identities WHERE id = $1";
    let found: Option<Option<String>> =
        on_pool!(db, pool => sqlx::query_scalar(SQL).bind(identity_id).fetch_optional(pool).await?);
    Ok(found.flatten())
}

/// Record whether mail to the identity `(provider, uid)`'s address is forwarded; false when
/// there is no such identity.
pub async fn set_email_deliverable(db: &Db, provider: Provider, uid: &str, deliverable: bool) -> Result<bool> {
    const SQL: &str = "UPDATE identities SET email_deliverable = $3 WHERE provider = $1 AND uid = $2";
    let rows = on_pool!(db, pool => sqlx::query(SQL).bind(provider).bind(uid).bind(deliverable).execute(pool).await?.rows_affected());
    Ok(rows > 0)
}

/// Earlier e-mails of an identity, oldest first.
pub async fn email_history(db: &Db, identity_id: Uuid) -> Result<Vec<String>> {
    const SQL: &str = "SELECT email FROM identity_emails WHERE identity_id = $1 ORDER BY replaced_at, id";
    Ok(on_pool!(db, pool => sqlx::query_scalar(SQL).bind(identity_id).fetch_all(pool).await?))
}

/// Link a new identity to an existing user. A `(provider, uid)` someone already has fails with
/// `Conflict` on [`PROVIDER_UID_KEY`].
pub async fn insert_for_user(db: &Db, user_id: Uuid, identity: &NewIdentity<'_>, now: DateTime<Utc>) -> Result<Uuid> {
    let id = Uuid::new_v4();
    on_pool!(db, pool => {
        sqlx::query(INSERT)
            .bind(id)
            .bind(user_id)
            .bind(identity.provider)
            .bind(identity.uid)
            .bind(identity.email)
            .bind(identity.email_verified)
            .bind(now)
            .bind(identity.logged_in.then_some(now))
            .bind(identity.upstream_token)
            .execute(pool)
            .await?;
    });
    Ok(id)
}

/// What an unlink did.
#[derive(Debug)]
pub enum Unlinked {
    Removed(Identity),
    /// No such identity of this user.
    NotFound,
    /// It is the user's last identity: kept.
    Last,
}

/// Who may take a user's last identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastIdentity {
    /// Nobody: the user keeps a way to sign in.
    Keep,
    /// An admin, once the account is disabled (docs/admin.md).
    RemovableIfDisabled,
}

/// Remove one of the user's identities unless it is the last (see [`LastIdentity`]). The user's
/// row is locked first (an `UPDATE`), so two concurrent unlinks cannot together remove the last
/// two, nor an enable slip between the check and the removal.
pub async fn unlink(
    db: &Db,
    user_id: Uuid,
    identity_id: Uuid,
    last: LastIdentity,
    now: DateTime<Utc>,
) -> Result<Unlinked> {
    const LOCK: &str = "UPDATE users SET updated_at = $2 WHERE id = $1";
    const FIND: &str = const_format::concatcp!("SELECT ", COLUMNS, " FROM identities WHERE id = $1 AND user_id = $2");
    // Imported mappings still waiting for their uid are no way to sign in: they do not count.
    const COUNT: &str = "SELECT COUNT(*) FROM identities WHERE user_id = $1 AND uid IS NOT NULL AND id <> $2";
    const DELETE: &str = "DELETE FROM identities WHERE id = $1";
    const DISABLED: &str = "SELECT COUNT(*) FROM users WHERE id = $1 AND disabled_at IS NOT NULL";
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(LOCK).bind(user_id).bind(now).execute(&mut *tx).await?;
        let found: Option<Identity> = sqlx::query_as(FIND).bind(identity_id).bind(user_id).fetch_optional(&mut *tx).await?;
        // A refused unlink rolls back before it returns: a dropped transaction would roll back
        // later, in the background, and keep SQLite's write lock (taken by LOCK) until then.
        let Some(identity) = found else {
            tx.rollback().await?;
            return Ok(Unlinked::NotFound);
        };
        let others: i64 = sqlx::query_scalar(COUNT).bind(user_id).bind(identity_id).fetch_one(&mut *tx).await?;
        let removable = match last {
            LastIdentity::Keep => false,
            LastIdentity::RemovableIfDisabled => {
                sqlx::query_scalar::<_, i64>(DISABLED).bind(user_id).fetch_one(&mut *tx).await? > 0
            }
        };
        if others == 0 && !removable {
            tx.rollback().await?;
            return Ok(Unlinked::Last);
        }
        sqlx::query(DELETE).bind(identity_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Unlinked::Removed(identity))
    })
}
