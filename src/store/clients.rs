//! OIDC clients registered with `munji clients add`.

use chrono::{DateTime, Utc};

use super::{Db, Result, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredClient {
    pub id: String,
    pub secret_hash: Option<String>,
    /// JSON arrays of strings.
    pub redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub gmail_targets: String,
    pub created_at: DateTime<Utc>,
    pub name: Option<String>,
    pub first_party: bool,
    /// A JSON array of strings.
    pub post_logout_redirect_uris: String,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
}

/// The unique constraint a taken client id violates.
pub const ID_KEY: &str = "clients_pkey";

const COLUMNS: &str = "id, secret_hash, redirect_uris, grant_types, scopes, gmail_targets, created_at, name, \
    first_party, post_logout_redirect_uris, backchannel_logout_uri, backchannel_logout_session_required";

pub async fn insert(db: &Db, client: &StoredClient) -> Result<()> {
    const SQL: &str = const_format::concatcp!(
        "INSERT INTO clients (",
        COLUMNS,
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    on_pool!(db, pool => {
        sqlx::query(SQL)
            .bind(&client.id).bind(&client.secret_hash).bind(&client.redirect_uris).bind(&client.grant_types)
            .bind(&client.scopes).bind(&client.gmail_targets).bind(client.created_at).bind(&client.name)
            .bind(client.first_party).bind(&client.post_logout_redirect_uris).bind(&client.backchannel_logout_uri)
            .bind(client.backchannel_logout_session_required)
            .execute(pool)
            .await?;
    });
    Ok(())
}

pub async fn find(db: &Db, id: &str) -> Result<Option<StoredClient>> {
    const SQL: &str = const_format::concatcp!("SELECT ", COLUMNS, " FROM clients WHERE id = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?))
}

pub async fn list(db: &Db) -> Result<Vec<StoredClient>> {
    const SQL: &str = const_format::concatcp!("SELECT ", COLUMNS, " FROM clients ORDER BY id");
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?))
}

/// Whether a client was removed.
pub async fn delete(db: &Db, id: &str) -> Result<bool> {
    const SQL: &str = "DELETE FROM clients WHERE id = $1";
    let rows = on_pool!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await?.rows_affected());
    Ok(rows > 0)
}

/// Replace a confidential client's secret hash. `false` if there is no such client with a secret.
pub async fn set_secret_hash(db: &Db, id: &str, secret_hash: &str) -> Result<bool> {
    const SQL: &str = "UPDATE clients SET secret_hash = $2 WHERE id = $1 AND secret_hash IS NOT NULL";
    let rows = on_pool!(db, pool => sqlx::query(SQL).bind(id).bind(secret_hash).execute(pool).await?.rows_affected());
    Ok(rows > 0)
}
