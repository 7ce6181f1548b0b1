//! Back-channel logout bookkeeping (docs/logout.md): which clients received tokens under which
//! session (`session_clients`), and the outbox of logout tokens still to deliver
//! (`backchannel_outbox`). Rows enter the outbox in the same transaction that ends a session
//! (see [`super::sessions::delete`]) or removes a connected app; one instance at a time claims a
//! due row for a while, and the row is deleted once delivered or given up.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Db, Result, on_pool};

/// Note that `client_id` received tokens under the session `sid` (once per pair).
pub async fn record_client(db: &Db, sid: &str, client_id: &str, user_id: Uuid, now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "INSERT INTO session_clients (sid, client_id, user_id, first_at) VALUES ($1, $2, $3, $4)
                       ON CONFLICT (sid, client_id) DO NOTHING";
    on_pool!(db, pool => {
        sqlx::query(SQL).bind(sid).bind(client_id).bind(user_id).bind(now).execute(pool).await?;
    });
    Ok(())
}

/// A session and a client that held tokens under it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionClient {
    pub sid: String,
    pub client_id: String,
    pub user_id: Uuid,
}

/// A logout token to deliver.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: Uuid,
    /// The token's `jti`: the same on every attempt, so receivers can deduplicate.
    pub jti: String,
    pub client_id: String,
    pub user_id: Uuid,
    pub sid: String,
    pub created_at: DateTime<Utc>,
    pub attempts: i32,
}

const OUTBOX_COLUMNS: &str = "id, jti, client_id, user_id, sid, created_at, attempts";

/// Queue a delivery to the [`SessionClient`] `$row`, due at `$now`, on the open transaction `$tx`.
macro_rules! enqueue {
    ($tx:expr, $row:expr, $now:expr) => {{
        const SQL: &str = "INSERT INTO backchannel_outbox
            (id, jti, client_id, user_id, sid, created_at, next_attempt_at, attempts)
            VALUES ($1, $2, $3, $4, $5, $6, $6, 0)";
        let row: &$crate::store::backchannel::SessionClient = $row;
        sqlx::query(SQL)
            .bind(uuid::Uuid::new_v4())
            .bind(uuid::Uuid::new_v4().simple().to_string())
            .bind(&row.client_id)
            .bind(row.user_id)
            .bind(&row.sid)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(super) use enqueue;

/// Forget the clients of a session, returning them. Used inside the ending transaction.
pub(super) const TAKE_SESSION_CLIENTS: &str =
    "DELETE FROM session_clients WHERE sid = $1 RETURNING sid, client_id, user_id";

/// Forget which sessions of `user_id` gave tokens to `client_id`, and queue a logout token for
/// each of them if `notify`; in one transaction. Returns the sessions.
pub async fn forget_client_of_user(
    db: &Db,
    user_id: Uuid,
    client_id: &str,
    notify: bool,
    now: DateTime<Utc>,
) -> Result<Vec<SessionClient>> {
    const TAKE: &str = "DELETE FROM session_clients WHERE user_id = $1 AND client_id = $2
                        RETURNING sid, client_id, user_id";
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let taken: Vec<SessionClient> = sqlx::query_as(TAKE).bind(user_id).bind(client_id).fetch_all(&mut *tx).await?;
        if notify {
            for row in &taken {
                enqueue!(tx, row, now);
            }
        }
        tx.commit().await?;
        Ok(taken)
    })
}

/// Claim up to `limit` deliveries that are due at `now` and not claimed by another instance,
/// until `until`. On PostgreSQL concurrent claimers skip each other's rows
/// (`FOR UPDATE SKIP LOCKED`); SQLite runs one writer at a time, so its single statement is
/// already exclusive. Most rounds find nothing: they only read.
pub async fn claim_due(db: &Db, now: DateTime<Utc>, until: DateTime<Utc>, limit: i64) -> Result<Vec<OutboxRow>> {
    const ANY: &str = "SELECT COUNT(*) FROM backchannel_outbox
                       WHERE next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)";
    let due: i64 = on_pool!(db, pool => sqlx::query_scalar(ANY).bind(now).fetch_one(pool).await?);
    if due == 0 {
        return Ok(vec![]);
    }
    const POSTGRES: &str = const_format::concatcp!(
        "UPDATE backchannel_outbox SET locked_until = $2 WHERE id IN (
            SELECT id FROM backchannel_outbox
            WHERE next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)
            ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING ",
        OUTBOX_COLUMNS
    );
    const SQLITE: &str = const_format::concatcp!(
        "UPDATE backchannel_outbox SET locked_until = $2 WHERE id IN (
            SELECT id FROM backchannel_outbox
            WHERE next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)
            ORDER BY next_attempt_at LIMIT $3)
         RETURNING ",
        OUTBOX_COLUMNS
    );
    Ok(match db {
        Db::Postgres(pool) => sqlx::query_as(POSTGRES).bind(now).bind(until).bind(limit).fetch_all(pool).await?,
        Db::Sqlite(pool) => sqlx::query_as(SQLITE).bind(now).bind(until).bind(limit).fetch_all(pool).await?,
    })
}

/// The delivery is done (delivered, or given up): remove it.
pub async fn remove(db: &Db, id: Uuid) -> Result<()> {
    const SQL: &str = "DELETE FROM backchannel_outbox WHERE id = $1";
    on_pool!(db, pool => {
        sqlx::query(SQL).bind(id).execute(pool).await?;
    });
    Ok(())
}

/// An attempt failed: try again at `next_attempt_at`, and let any instance claim it then.
pub async fn retry_at(db: &Db, id: Uuid, attempts: i32, next_attempt_at: DateTime<Utc>) -> Result<()> {
    const SQL: &str =
        "UPDATE backchannel_outbox SET attempts = $2, next_attempt_at = $3, locked_until = NULL WHERE id = $1";
    on_pool!(db, pool => {
        sqlx::query(SQL).bind(id).bind(attempts).bind(next_attempt_at).execute(pool).await?;
    });
    Ok(())
}

/// How many deliveries are waiting (for tests and `/metrics`).
pub async fn pending(db: &Db) -> Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM backchannel_outbox";
    Ok(on_pool!(db, pool => sqlx::query_scalar(SQL).fetch_one(pool).await?))
}
