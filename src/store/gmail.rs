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
    pub status: String,
    pub equipped_to: Option<String>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, user_id, gmail_address, scopes, access_token, access_expires_at, refresh_token, status, equipped_to, created_at";

pub async fn insert(db: &Db, c: &Connection) -> Result<()> {
    const SQL: &str = "INSERT INTO gmail_connections
        (id, user_id, gmail_address, scopes, access_token, access_expires_at, refresh_token, status, equipped_to, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)";
    on_pool!(db, pool => {
        sqlx::query(SQL)
            .bind(c.id).bind(c.user_id).bind(&c.gmail_address).bind(&c.scopes).bind(&c.access_token)
            .bind(c.access_expires_at).bind(&c.refresh_token).bind(&c.status).bind(&c.equipped_to).bind(c.created_at)
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
