//! The audit log: what happened to whom, newest first.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, Result, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub kind: String,
    pub detail: Json<Value>,
    pub at: DateTime<Utc>,
}

pub async fn insert(db: &Db, user_id: Option<Uuid>, kind: &str, detail: &Value, now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "INSERT INTO audit_events (id, user_id, kind, detail, at) VALUES ($1, $2, $3, $4, $5)";
    on_pool!(db, pool => {
        sqlx::query(SQL).bind(Uuid::new_v4()).bind(user_id).bind(kind).bind(Json(detail)).bind(now).execute(pool).await?;
    });
    Ok(())
}

/// A user's events, newest first.
pub async fn list_for_user(db: &Db, user_id: Uuid, limit: i64) -> Result<Vec<AuditRow>> {
    list_for_user_with_prefix(db, user_id, "", limit).await
}

/// A user's events whose kind starts with `prefix` (e.g. `gmail_`), newest first.
pub async fn list_for_user_with_prefix(db: &Db, user_id: Uuid, prefix: &str, limit: i64) -> Result<Vec<AuditRow>> {
    const SQL: &str =
        "SELECT kind, detail, at FROM audit_events WHERE user_id = $1 AND SUBSTR(kind, 1, LENGTH($2)) = $2
                       ORDER BY at DESC, id LIMIT $3";
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).bind(prefix).bind(limit).fetch_all(pool).await?))
}

/// Events of one kind that belong to no account (refused first logins), newest first.
pub async fn list_unowned(db: &Db, kind: &str, limit: i64) -> Result<Vec<AuditRow>> {
    const SQL: &str =
        "SELECT kind, detail, at FROM audit_events WHERE user_id IS NULL AND kind = $1 ORDER BY at DESC, id LIMIT $2";
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(kind).bind(limit).fetch_all(pool).await?))
}

/// How many events one purge statement deletes, so a first purge of a large backlog holds no
/// lock for long.
const PURGE_BATCH: i64 = 10_000;

/// Delete every event that happened before `before`; returns how many.
pub async fn purge_older_than(db: &Db, before: DateTime<Utc>) -> Result<u64> {
    const SQL: &str = "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < $1 LIMIT $2)";
    let mut purged = 0;
    loop {
        let deleted =
            on_pool!(db, pool => sqlx::query(SQL).bind(before).bind(PURGE_BATCH).execute(pool).await?.rows_affected());
        purged += deleted;
        if deleted < PURGE_BATCH.unsigned_abs() {
            return Ok(purged);
        }
    }
}
