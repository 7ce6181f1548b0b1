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
    insert_by(db, user_id, None, kind, detail, now).await
}

/// [`insert`] with the admin who acted on the user (docs/admin.md).
pub async fn insert_by(
    db: &Db,
    user_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    kind: &str,
    detail: &Value,
    now: DateTime<Utc>,
) -> Result<()> {
    const SQL: &str =
        "INSERT INTO audit_events (id, user_id, actor_id, kind, detail, at) VALUES ($1, $2, $3, $4, $5, $6)";
    on_pool!(db, pool => {
        sqlx::query(SQL)
            .bind(Uuid::new_v4()).bind(user_id).bind(actor_id).bind(kind).bind(Json(detail)).bind(now)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// An event as the admin API lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminAuditRow {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub kind: String,
    pub detail: Json<Value>,
    pub at: DateTime<Utc>,
}

/// Events of every user (or of `user_id`), of one `kind` if given, newest first, after the
/// event `(at, id)`, at most `limit`.
pub async fn list_filtered(
    db: &Db,
    user_id: Option<Uuid>,
    kind: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<AdminAuditRow>> {
    const SQL: &str = "SELECT id, user_id, actor_id, kind, detail, at FROM audit_events
        WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR kind = $2)
          AND ($3 IS NULL OR at < $3 OR (at = $3 AND id < $4))
        ORDER BY at DESC, id DESC LIMIT $5";
    let (at, id) = (after.map(|a| a.0), after.map(|a| a.1).unwrap_or_default());
    Ok(
        on_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).bind(kind).bind(at).bind(id).bind(limit).fetch_all(pool).await?),
    )
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
