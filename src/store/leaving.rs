//! Deleted accounts (docs/leaving.md): removing everything of a user in one transaction, the
//! receipt that stays, and the quarantined usernames.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, Result, on_pool};

/// How a value that must not be kept in clear is kept: its SHA-256, in hex.
pub fn hash(value: &str) -> String {
    Sha256::digest(value.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// What stays of a deleted account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Receipt {
    pub id: Uuid,
    /// [`hash`] of the user id (hyphenated, lower case).
    pub user_id_hash: String,
    pub deleted_at: DateTime<Utc>,
    /// `user`, `admin` or `cli`.
    pub deleted_by: String,
    /// The admin who deleted it.
    pub actor_id: Option<Uuid>,
    /// What the providers answered (docs/leaving.md).
    pub upstream: Json<Value>,
}

/// Delete the user and every row that is theirs, write the receipt and quarantine the username
/// until `quarantine_until`, all in one transaction. `false` (and nothing written) if there is
/// no such user.
///
/// The user's row takes identities, their e-mail history, sessions, refresh tokens, Gmail
/// connections, consents, the clients a session gave tokens to and legacy imports with it
/// (`ON DELETE CASCADE`); audit events are deleted first, since their foreign key would only
/// cascade too, but the events the user did as an admin to others stay with those others.
/// Logout tokens already queued for apps stay until delivered (they carry the user id as `sub`).
pub async fn delete_user(
    db: &Db,
    user_id: Uuid,
    username: &str,
    quarantine_until: DateTime<Utc>,
    receipt: &Receipt,
) -> Result<bool> {
    const AUDIT: &str = "DELETE FROM audit_events WHERE user_id = $1";
    const USER: &str = "DELETE FROM users WHERE id = $1";
    const RECEIPT: &str = "INSERT INTO deleted_accounts (id, user_id_hash, deleted_at, deleted_by, actor_id, upstream)
                           VALUES ($1, $2, $3, $4, $5, $6)";
    const EXPIRED: &str = "DELETE FROM quarantined_usernames WHERE until <= $1";
    const QUARANTINE: &str = "INSERT INTO quarantined_usernames (username_hash, until) VALUES ($1, $2)
                              ON CONFLICT (username_hash) DO UPDATE SET until = excluded.until";
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(AUDIT).bind(user_id).execute(&mut *tx).await?;
        if sqlx::query(USER).bind(user_id).execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(RECEIPT)
            .bind(receipt.id)
            .bind(&receipt.user_id_hash)
            .bind(receipt.deleted_at)
            .bind(&receipt.deleted_by)
            .bind(receipt.actor_id)
            .bind(&receipt.upstream)
            .execute(&mut *tx)
            .await?;
        sqlx::query(EXPIRED).bind(receipt.deleted_at).execute(&mut *tx).await?;
        sqlx::query(QUARANTINE).bind(hash(username)).bind(quarantine_until).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(true)
}

/// The receipts of the account `user_id`, newest first (normally one).
pub async fn receipts_of(db: &Db, user_id: Uuid) -> Result<Vec<Receipt>> {
    const SQL: &str = "SELECT id, user_id_hash, deleted_at, deleted_by, actor_id, upstream FROM deleted_accounts
                       WHERE user_id_hash = $1 ORDER BY deleted_at DESC";
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(hash(&user_id.to_string())).fetch_all(pool).await?))
}

/// The condition under which `username` is quarantined at `$2`, the name's [`hash`] being `$1`.
pub(super) const QUARANTINED: &str =
    "SELECT COUNT(*) FROM quarantined_usernames WHERE username_hash = $1 AND until > $2";

/// Whether `username` belonged to an account deleted less than `username_quarantine` before `now`.
pub async fn is_quarantined(db: &Db, username: &str, now: DateTime<Utc>) -> Result<bool> {
    let count: i64 =
        on_pool!(db, pool => sqlx::query_scalar(QUARANTINED).bind(hash(username)).bind(now).fetch_one(pool).await?);
    Ok(count > 0)
}
