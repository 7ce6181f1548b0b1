//! Counts for the admin dashboard (docs/admin.md).

use chrono::{DateTime, Utc};

use super::{Db, Result, on_pool};

/// Users in all.
pub async fn users(db: &Db) -> Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM users";
    Ok(on_pool!(db, pool => sqlx::query_scalar(SQL).fetch_one(pool).await?))
}

/// Users who signed in (through any identity) since `since`.
pub async fn active_since(db: &Db, since: DateTime<Utc>) -> Result<i64> {
    const SQL: &str = "SELECT COUNT(DISTINCT user_id) FROM identities WHERE last_login_at >= $1";
    Ok(on_pool!(db, pool => sqlx::query_scalar(SQL).bind(since).fetch_one(pool).await?))
}

/// Identities that can sign in (imported mappings still waiting for their uid are not), per
/// provider.
pub async fn identities_by_provider(db: &Db) -> Result<Vec<(String, i64)>> {
    const SQL: &str =
        "SELECT provider, COUNT(*) FROM identities WHERE uid IS NOT NULL GROUP BY provider ORDER BY provider";
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?))
}

/// Gmail connections per status (`active`, `needs_reauth`).
pub async fn gmail_by_status(db: &Db) -> Result<Vec<(String, i64)>> {
    const SQL: &str = "SELECT status, COUNT(*) FROM gmail_connections GROUP BY status ORDER BY status";
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?))
}
