//! Gmail connections, with their tokens sealed (see `gmail::vault`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Db, Result, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Connection {
    pub id: Uuid,
    pub user_id: Uuid,
    pub gmail_address: String,
    /// Space-separated, as Google granted them.
    pub scopes: String,
    /// Sealed.
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    /// Sealed; absent when Google sent none.
    pub refresh_token: Option<String>,
    pub status: ConnectionStatus,
    pub equipped_to: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Whether a connection can vend: `active`, or `needs_reauth` once Google refused its grant
/// (the user must connect again). Stored as that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    NeedsReauth,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NeedsReauth => "needs_reauth",
        }
    }
}

impl Connection {
    /// The granted scopes, one by one.
    pub fn scope_list(&self) -> impl Iterator<Item = &str> {
        self.scopes.split(' ').filter(|s| !s.is_empty())
    }
}

const COLUMNS: &str = "id, user_id, gmail_address, scopes, access_token, access_expires_at, refresh_token, status, equipped_to, created_at";

pub async fn insert(db: &Db, c: &Connection) -> Result<()> {
    const SQL: &str = "INSERT INTO gmail_connections
        (id, user_id, gmail_address, scopes, access_token, access_expires_at, refresh_token, status, equipped_to, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)";
    on_pool!(db, pool => {
        sqlx::query(SQL)
            .bind(c.id).bind(c.user_id).bind(&c.gmail_address).bind(&c.scopes).bind(&c.access_token)
            .bind(c.access_expires_at).bind(&c.refresh_token).bind(c.status).bind(&c.equipped_to).bind(c.created_at)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// A user's connections, oldest first.
pub async fn list_for_user(db: &Db, user_id: Uuid) -> Result<Vec<Connection>> {
    const SQL: &str = const_format::concatcp!(
        "SELECT ",
        COLUMNS,
        " FROM gmail_connections WHERE user_id = $1 ORDER BY created_at, id"
    );
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await?))
}

/// Every connection (for re-sealing under a new key).
pub async fn list_all(db: &Db) -> Result<Vec<Connection>> {
    const SQL: &str = const_format::concatcp!("SELECT ", COLUMNS, " FROM gmail_connections ORDER BY created_at, id");
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?))
}

/// Replace a connection's sealed tokens (key rotation), if they are still the ones read.
pub async fn reseal(
    db: &Db,
    id: Uuid,
    old_access: &str,
    access: &str,
    refresh: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    const SQL: &str = "UPDATE gmail_connections SET access_token = $3, refresh_token = $4, updated_at = $5
                       WHERE id = $1 AND access_token = $2";
    let rows = on_pool!(db, pool => {
        sqlx::query(SQL).bind(id).bind(old_access).bind(access).bind(refresh).bind(now).execute(pool).await?.rows_affected()
    });
    Ok(rows == 1)
}

/// One of the user's connections.
pub async fn find_for_user(db: &Db, user_id: Uuid, id: Uuid) -> Result<Option<Connection>> {
    const SQL: &str =
        const_format::concatcp!("SELECT ", COLUMNS, " FROM gmail_connections WHERE id = $1 AND user_id = $2");
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(id).bind(user_id).fetch_optional(pool).await?))
}

/// A connection by id, whoever's it is (vending re-reads the row it is refreshing).
pub async fn find(db: &Db, id: Uuid) -> Result<Option<Connection>> {
    const SQL: &str = const_format::concatcp!("SELECT ", COLUMNS, " FROM gmail_connections WHERE id = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?))
}

/// The user's connection equipped to `target`, if any (there is at most one).
pub async fn find_equipped(db: &Db, user_id: Uuid, target: &str) -> Result<Option<Connection>> {
    const SQL: &str =
        const_format::concatcp!("SELECT ", COLUMNS, " FROM gmail_connections WHERE user_id = $1 AND equipped_to = $2");
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).bind(target).fetch_optional(pool).await?))
}

/// The user's connection of a Gmail address (ignoring case), if any, oldest first.
pub async fn find_by_address(db: &Db, user_id: Uuid, address: &str) -> Result<Option<Connection>> {
    const SQL: &str = const_format::concatcp!(
        "SELECT ",
        COLUMNS,
        " FROM gmail_connections WHERE user_id = $1 AND LOWER(gmail_address) = LOWER($2) ORDER BY created_at, id LIMIT 1"
    );
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).bind(address).fetch_optional(pool).await?))
}

/// Replace a connection's grant (a reconnect): scopes, tokens, status and target as given.
pub async fn renew(db: &Db, c: &Connection, now: DateTime<Utc>) -> Result<bool> {
    const SQL: &str = "UPDATE gmail_connections SET gmail_address = $3, scopes = $4, access_token = $5,
                       access_expires_at = $6, refresh_token = $7, status = $8, equipped_to = $9, updated_at = $10
                       WHERE id = $1 AND user_id = $2";
    let rows = on_pool!(db, pool => {
        sqlx::query(SQL)
            .bind(c.id).bind(c.user_id).bind(&c.gmail_address).bind(&c.scopes).bind(&c.access_token)
            .bind(c.access_expires_at).bind(&c.refresh_token).bind(c.status).bind(&c.equipped_to).bind(now)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(rows == 1)
}

/// A refreshed access token (sealed), its expiry, and what Google sent besides: a new refresh
/// token or the granted scopes replace the stored ones only when present.
pub struct Refreshed<'a> {
    pub access_token: &'a str,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: Option<&'a str>,
    pub scopes: Option<&'a str>,
}

/// Store a refresh's result on a connection that is still active and still holds the refresh
/// token `seen` (sealed) that was used: a reconnect in the meantime wins. Whether it stored.
pub async fn store_refreshed(
    db: &Db,
    id: Uuid,
    seen: Option<&str>,
    r: &Refreshed<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    const SQL: &str = "UPDATE gmail_connections SET access_token = $2, access_expires_at = $3,
                       refresh_token = COALESCE($4, refresh_token), scopes = COALESCE($5, scopes), updated_at = $6
                       WHERE id = $1 AND status = 'active' AND refresh_token IS NOT DISTINCT FROM $7";
    let rows = on_pool!(db, pool => {
        sqlx::query(SQL)
            .bind(id).bind(r.access_token).bind(r.access_expires_at).bind(r.refresh_token).bind(r.scopes).bind(now)
            .bind(seen)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(rows == 1)
}

/// Google refused the grant whose refresh token (sealed) is `seen`: the user has to connect the
/// account again. Whether it applied (not if a reconnect replaced the grant meanwhile).
pub async fn mark_needs_reauth(db: &Db, id: Uuid, seen: Option<&str>, now: DateTime<Utc>) -> Result<bool> {
    const SQL: &str = "UPDATE gmail_connections SET status = 'needs_reauth', updated_at = $2
                       WHERE id = $1 AND refresh_token IS NOT DISTINCT FROM $3";
    let rows =
        on_pool!(db, pool => sqlx::query(SQL).bind(id).bind(now).bind(seen).execute(pool).await?.rows_affected());
    Ok(rows == 1)
}

/// Google says the grants of the account `address` are gone (docs/provider-events.md): every
/// active connection of that address, whoever holds it, needs to be connected again. Returns the
/// connections marked, as `(id, user_id)`.
pub async fn mark_address_needs_reauth(db: &Db, address: &str, now: DateTime<Utc>) -> Result<Vec<(Uuid, Uuid)>> {
    const SQL: &str = "UPDATE gmail_connections SET status = 'needs_reauth', updated_at = $2
                       WHERE LOWER(gmail_address) = LOWER($1) AND status = 'active' RETURNING id, user_id";
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(address).bind(now).fetch_all(pool).await?))
}

/// Equip connection `id` to `target`, moving the target away from any other connection of the
/// user in the same transaction (at most one connection per user and target). The user's row
/// is locked first, so concurrent equips of one target cannot both win. When `id` is not the
/// user's (`false`), nothing changes: the target stays where it was.
pub async fn equip(db: &Db, user_id: Uuid, id: Uuid, target: &str, now: DateTime<Utc>) -> Result<bool> {
    const LOCK: &str = "UPDATE users SET updated_at = $2 WHERE id = $1";
    const RELEASE: &str = "UPDATE gmail_connections SET equipped_to = NULL, updated_at = $4
                           WHERE user_id = $1 AND equipped_to = $2 AND id <> $3";
    const EQUIP: &str = "UPDATE gmail_connections SET equipped_to = $3, updated_at = $4 WHERE id = $1 AND user_id = $2";
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(LOCK).bind(user_id).bind(now).execute(&mut *tx).await?;
        sqlx::query(RELEASE).bind(user_id).bind(target).bind(id).bind(now).execute(&mut *tx).await?;
        let rows = sqlx::query(EQUIP).bind(id).bind(user_id).bind(target).bind(now).execute(&mut *tx).await?.rows_affected();
        if rows != 1 {
            // The release above must not outlive a refused equip.
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    })
}

/// Unequip connection `id`; whether it was the user's.
pub async fn unequip(db: &Db, user_id: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
    const SQL: &str = "UPDATE gmail_connections SET equipped_to = NULL, updated_at = $3 WHERE id = $1 AND user_id = $2";
    let rows =
        on_pool!(db, pool => sqlx::query(SQL).bind(id).bind(user_id).bind(now).execute(pool).await?.rows_affected());
    Ok(rows == 1)
}

/// Delete the user's connection `id`; whether there was one.
pub async fn delete(db: &Db, user_id: Uuid, id: Uuid) -> Result<bool> {
    const SQL: &str = "DELETE FROM gmail_connections WHERE id = $1 AND user_id = $2";
    let rows = on_pool!(db, pool => sqlx::query(SQL).bind(id).bind(user_id).execute(pool).await?.rows_affected());
    Ok(rows == 1)
}
