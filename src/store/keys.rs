//! Signing keys, sealed at rest.

use chrono::{DateTime, Utc};

use super::{Db, Result, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub sealed_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Keys still published: not retired, or retired after `cutoff`. Newest first.
pub async fn list_published(db: &Db, cutoff: DateTime<Utc>) -> Result<Vec<StoredKey>> {
    const SQL: &str = "SELECT kid, alg, sealed_key, public_jwk, created_at, retired_at FROM signing_keys
                       WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, kid";
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(cutoff).fetch_all(pool).await?))
}

/// Every key ever made, newest first (for `munji keys list`).
pub async fn list_all(db: &Db) -> Result<Vec<StoredKey>> {
    const SQL: &str = "SELECT kid, alg, sealed_key, public_jwk, created_at, retired_at FROM signing_keys
                       ORDER BY created_at DESC, kid";
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?))
}

/// Add a key; with `retire_others`, retire every other unretired key in the same transaction.
pub async fn insert(
    db: &Db,
    kid: &str,
    alg: &str,
    sealed_key: &[u8],
    public_jwk: &str,
    now: DateTime<Utc>,
    retire_others: bool,
) -> Result<()> {
    const INSERT: &str =
        "INSERT INTO signing_keys (kid, alg, sealed_key, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5)";
    const RETIRE: &str = "UPDATE signing_keys SET retired_at = $2 WHERE kid <> $1 AND retired_at IS NULL";
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(INSERT).bind(kid).bind(alg).bind(sealed_key).bind(public_jwk).bind(now).execute(&mut *tx).await?;
        if retire_others {
            sqlx::query(RETIRE).bind(kid).bind(now).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(())
}
