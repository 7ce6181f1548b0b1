//! Browser sessions as rows: found by the hash of the cookie's secret, listed per user, deleted
//! when they end (see `crate::sessions`, which owns every way a session ends).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Db, Result,
    backchannel::{SessionClient, TAKE_SESSION_CLIENTS, enqueue},
    on_pool,
};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    pub sid: String,
    pub user_id: Uuid,
    pub auth_time: i64,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

const COLUMNS: &str = "sid, user_id, auth_time, started_at, last_seen_at, expires_at, user_agent, ip";

pub async fn insert(db: &Db, row: &SessionRow, cookie_hash: &str) -> Result<()> {
    const SQL: &str = "INSERT INTO sessions
        (sid, cookie_hash, user_id, auth_time, started_at, last_seen_at, expires_at, user_agent, ip)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    on_pool!(db, pool => {
        sqlx::query(SQL)
            .bind(&row.sid).bind(cookie_hash).bind(row.user_id).bind(row.auth_time).bind(row.started_at)
            .bind(row.last_seen_at).bind(row.expires_at).bind(&row.user_agent).bind(&row.ip)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// The unexpired session whose cookie secret hashes to `cookie_hash`.
pub async fn find_by_cookie(db: &Db, cookie_hash: &str, now: DateTime<Utc>) -> Result<Option<SessionRow>> {
    const SQL: &str =
        const_format::concatcp!("SELECT ", COLUMNS, " FROM sessions WHERE cookie_hash = $1 AND expires_at > $2");
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(cookie_hash).bind(now).fetch_optional(pool).await?))
}

/// The user's unexpired sessions, newest first.
pub async fn list_for_user(db: &Db, user_id: Uuid, now: DateTime<Utc>) -> Result<Vec<SessionRow>> {
    const SQL: &str = const_format::concatcp!(
        "SELECT ",
        COLUMNS,
        " FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY started_at DESC, sid"
    );
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).bind(now).fetch_all(pool).await?))
}

/// Every session handle that may still have live tokens: the user's session rows and the
/// sessions of their unrevoked refresh tokens (a refresh family may outlive its browser session).
pub async fn sids_of_user(db: &Db, user_id: Uuid, now: DateTime<Utc>) -> Result<Vec<String>> {
    const SQL: &str = "SELECT sid FROM sessions WHERE user_id = $1
                       UNION
                       SELECT sid FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2";
    Ok(on_pool!(db, pool => sqlx::query_scalar(SQL).bind(user_id).bind(now).fetch_all(pool).await?))
}

/// Delete the sessions `sids`, revoke every refresh token issued under them and forget which
/// clients they gave tokens to, in one transaction; the clients for which `notify` says yes get
/// a back-channel logout queued in the same transaction. Returns how many were queued.
pub async fn delete(db: &Db, sids: &[String], notify: impl Fn(&str) -> bool, now: DateTime<Utc>) -> Result<usize> {
    const SESSION: &str = "DELETE FROM sessions WHERE sid = $1";
    const REFRESH: &str = "UPDATE refresh_tokens SET revoked_at = $2 WHERE sid = $1 AND revoked_at IS NULL";
    let mut queued = 0;
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        for sid in sids {
            sqlx::query(SESSION).bind(sid).execute(&mut *tx).await?;
            sqlx::query(REFRESH).bind(sid).bind(now).execute(&mut *tx).await?;
            let clients: Vec<SessionClient> = sqlx::query_as(TAKE_SESSION_CLIENTS).bind(sid).fetch_all(&mut *tx).await?;
            for client in clients.iter().filter(|c| notify(&c.client_id)) {
                enqueue!(tx, client, now);
                queued += 1;
            }
        }
        tx.commit().await?;
    });
    Ok(queued)
}

/// Note that the session was used now (callers do this at most once a minute per session).
pub async fn touch(db: &Db, sid: &str, now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "UPDATE sessions SET last_seen_at = $2 WHERE sid = $1";
    on_pool!(db, pool => {
        sqlx::query(SQL).bind(sid).bind(now).execute(pool).await?;
    });
    Ok(())
}

/// Delete sessions that expired before `before`. Returns how many.
pub async fn purge_expired(db: &Db, before: DateTime<Utc>) -> Result<u64> {
    const SQL: &str = "DELETE FROM sessions WHERE expires_at < $1";
    Ok(on_pool!(db, pool => sqlx::query(SQL).bind(before).execute(pool).await?.rows_affected()))
}
