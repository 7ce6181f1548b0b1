//! What users allowed third-party clients (docs/consent.md): the scopes, per user and client,
//! kept until the user removes the app.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Db, Result, on_pool};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

/// A row as stored: the scopes as a JSON array in text.
#[derive(sqlx::FromRow)]
struct Stored {
    client_id: String,
    scopes: String,
    granted_at: DateTime<Utc>,
}

impl From<Stored> for ConsentRow {
    fn from(row: Stored) -> Self {
        // Only `save` writes the column, always as an array of strings.
        let scopes = serde_json::from_str(&row.scopes).unwrap_or_default();
        Self { client_id: row.client_id, scopes, granted_at: row.granted_at }
    }
}

/// The user's consent for `client_id`, if they gave one.
pub async fn find(db: &Db, user_id: Uuid, client_id: &str) -> Result<Option<ConsentRow>> {
    const SQL: &str = "SELECT client_id, scopes, granted_at FROM consents WHERE user_id = $1 AND client_id = $2";
    let row: Option<Stored> =
        on_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).bind(client_id).fetch_optional(pool).await?);
    Ok(row.map(Into::into))
}

/// Every consent the user gave.
pub async fn list_for_user(db: &Db, user_id: Uuid) -> Result<Vec<ConsentRow>> {
    const SQL: &str = "SELECT client_id, scopes, granted_at FROM consents WHERE user_id = $1 ORDER BY client_id";
    let rows: Vec<Stored> = on_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await?);
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Remember that the user allowed `scopes` (the whole set now allowed) to `client_id`.
pub async fn save(db: &Db, user_id: Uuid, client_id: &str, scopes: &[String], now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4)
                       ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes";
    on_pool!(db, pool => {
        sqlx::query(SQL).bind(user_id).bind(client_id).bind(serde_json::to_string(scopes).unwrap_or_default()).bind(now).execute(pool).await?;
    });
    Ok(())
}

/// Forget the user's consent for `client_id`. Returns whether there was one.
pub async fn forget(db: &Db, user_id: Uuid, client_id: &str) -> Result<bool> {
    const SQL: &str = "DELETE FROM consents WHERE user_id = $1 AND client_id = $2";
    Ok(on_pool!(db, pool => sqlx::query(SQL).bind(user_id).bind(client_id).execute(pool).await?.rows_affected() > 0))
}
