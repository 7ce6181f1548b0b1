//! Refresh tokens: hashes, families, rotation (docs/tokens.md; RFC 9700 §4.14.2).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Db, Result, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub id: Uuid,
    pub family_id: Uuid,
    pub client_id: String,
    pub user_id: Uuid,
    pub sid: String,
    pub scope: String,
    pub auth_time: i64,
    pub expires_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub successor_sealed: Option<Vec<u8>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token to store. `family_id` is new for a login, inherited on rotation.
pub struct NewRefresh<'a> {
    pub token_hash: &'a str,
    pub family_id: Uuid,
    pub client_id: &'a str,
    pub user_id: Uuid,
    pub sid: &'a str,
    pub scope: &'a str,
    pub auth_time: i64,
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, family_id, client_id, user_id, sid, scope, auth_time, expires_at, rotated_at, successor_sealed, revoked_at";

const INSERT: &str = "INSERT INTO refresh_tokens
    (id, token_hash, family_id, client_id, user_id, sid, scope, auth_time, created_at, expires_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

pub async fn insert(db: &Db, new: &NewRefresh<'_>, now: DateTime<Utc>) -> Result<()> {
    on_pool!(db, pool => {
        sqlx::query(INSERT)
            .bind(Uuid::new_v4()).bind(new.token_hash).bind(new.family_id).bind(new.client_id).bind(new.user_id)
            .bind(new.sid).bind(new.scope).bind(new.auth_time).bind(now).bind(new.expires_at)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// What presenting a refresh token led to.
pub enum Use {
    /// Unknown hash.
    Unknown,
    /// Issued to another client than the one presenting it: nothing changed.
    OtherClient,
    /// The token was live and is now rotated to the successor that was passed in.
    Rotated(RefreshRow),
    /// Already rotated, within the grace window: the sealed successor it was rotated to.
    Grace(RefreshRow, Vec<u8>),
    /// Already rotated, after the grace window (a replay): the family is now revoked.
    Replayed(RefreshRow),
    /// Revoked or expired, or rotated without a successor on record.
    Dead(RefreshRow),
}

/// The successor a live token is rotated to: the hash of its text, and the text sealed (for a
/// duplicate presentation within the grace window). The rest is inherited from the token.
pub struct Successor<'a> {
    pub token_hash: &'a str,
    pub sealed: &'a [u8],
}

const REVOKE_FAMILY: &str = "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL";

/// Present the token with `hash` on behalf of `client_id`. Concurrent presentations of one
/// token are serialised on its row lock on both backends: exactly one rotates it, the others see
/// the rotation. On PostgreSQL the rotation is one statement (the token endpoint's busiest
/// path); SQLite, without data-modifying `WITH`, takes the write lock in a transaction.
pub async fn present(
    db: &Db,
    hash: &str,
    client_id: &str,
    successor: &Successor<'_>,
    grace: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<Use> {
    let presented = match db {
        Db::Postgres(pool) => {
            const ROTATE: &str = const_format::concatcp!(
                "WITH cur AS (SELECT ",
                COLUMNS,
                " FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE),
                 rotated AS (
                     UPDATE refresh_tokens t SET used_at = $3, rotated_at = $3, successor_sealed = $5 FROM cur
                     WHERE t.id = cur.id AND cur.client_id = $2 AND cur.rotated_at IS NULL
                       AND cur.revoked_at IS NULL AND cur.expires_at > $3
                     RETURNING t.id),
                 successor AS (
                     INSERT INTO refresh_tokens
                         (id, token_hash, family_id, client_id, user_id, sid, scope, auth_time, created_at, expires_at)
                     SELECT $6, $4, cur.family_id, cur.client_id, cur.user_id, cur.sid, cur.scope, cur.auth_time,
                            $3, cur.expires_at
                     FROM cur JOIN rotated ON rotated.id = cur.id
                     RETURNING id)
                 SELECT cur.*, EXISTS (SELECT 1 FROM successor) AS rotated FROM cur"
            );
            let found: Option<Presented> = sqlx::query_as(ROTATE)
                .bind(hash)
                .bind(client_id)
                .bind(now)
                .bind(successor.token_hash)
                .bind(successor.sealed)
                .bind(Uuid::new_v4())
                .fetch_optional(pool)
                .await?;
            found
        }
        Db::Sqlite(pool) => {
            const LOCK: &str = const_format::concatcp!(
                "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 RETURNING ",
                COLUMNS
            );
            const ROTATE: &str = "UPDATE refresh_tokens SET rotated_at = $2, successor_sealed = $3 WHERE id = $1";
            let mut tx = pool.begin().await?;
            let row: Option<RefreshRow> = sqlx::query_as(LOCK).bind(hash).bind(now).fetch_optional(&mut *tx).await?;
            let rotates = row.as_ref().is_some_and(|row| row.client_id == client_id && row.is_live(now));
            match &row {
                Some(row) if rotates => {
                    sqlx::query(INSERT)
                        .bind(Uuid::new_v4())
                        .bind(successor.token_hash)
                        .bind(row.family_id)
                        .bind(&row.client_id)
                        .bind(row.user_id)
                        .bind(&row.sid)
                        .bind(&row.scope)
                        .bind(row.auth_time)
                        .bind(now)
                        .bind(row.expires_at)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(ROTATE).bind(row.id).bind(now).bind(successor.sealed).execute(&mut *tx).await?;
                    tx.commit().await?;
                }
                // Roll back now: a dropped transaction would roll back later, in the background,
                // and keep SQLite's write lock (taken by LOCK) until then.
                _ => tx.rollback().await?,
            }
            row.map(|row| Presented { row, rotated: rotates })
        }
    };
    let Some(Presented { row, rotated }) = presented else {
        return Ok(Use::Unknown);
    };
    if row.client_id != client_id {
        return Ok(Use::OtherClient);
    }
    if rotated {
        return Ok(Use::Rotated(row));
    }
    match (row.rotated_at, row.successor_sealed.clone()) {
        _ if row.revoked_at.is_some() || row.expires_at <= now => Ok(Use::Dead(row)),
        (Some(rotated_at), Some(sealed)) if now - rotated_at <= grace => Ok(Use::Grace(row, sealed)),
        (Some(_), _) => {
            // Revoking a family twice changes nothing: no transaction needed around the read.
            on_pool!(db, pool => {
                sqlx::query(REVOKE_FAMILY).bind(row.family_id).bind(now).execute(pool).await?;
            });
            Ok(Use::Replayed(row))
        }
        (None, _) => Ok(Use::Dead(row)),
    }
}

/// A presented token as it was, and whether this presentation rotated it.
#[derive(sqlx::FromRow)]
struct Presented {
    #[sqlx(flatten)]
    row: RefreshRow,
    rotated: bool,
}

impl RefreshRow {
    /// Neither rotated, revoked nor expired at `now`.
    fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.rotated_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

/// The live (unrotated, unrevoked, unexpired) token with `hash`.
pub async fn find_live(db: &Db, hash: &str, now: DateTime<Utc>) -> Result<Option<RefreshRow>> {
    const SQL: &str = const_format::concatcp!(
        "SELECT ",
        COLUMNS,
        " FROM refresh_tokens WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $2"
    );
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(hash).bind(now).fetch_optional(pool).await?))
}

/// The token with `hash`, whatever its state.
pub async fn find(db: &Db, hash: &str) -> Result<Option<RefreshRow>> {
    const SQL: &str = const_format::concatcp!("SELECT ", COLUMNS, " FROM refresh_tokens WHERE token_hash = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(hash).fetch_optional(pool).await?))
}

/// How many live heads a family has (tests: never more than one).
pub async fn live_heads(db: &Db, family_id: Uuid, now: DateTime<Utc>) -> Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM refresh_tokens
                       WHERE family_id = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $2";
    Ok(on_pool!(db, pool => sqlx::query_scalar(SQL).bind(family_id).bind(now).fetch_one(pool).await?))
}

/// Delete refresh tokens whose family expired before `before` (nothing can use or replay them
/// any more: an expired token is refused either way). Returns how many.
pub async fn purge_expired(db: &Db, before: DateTime<Utc>) -> Result<u64> {
    const SQL: &str = "DELETE FROM refresh_tokens WHERE expires_at < $1";
    Ok(on_pool!(db, pool => sqlx::query(SQL).bind(before).execute(pool).await?.rows_affected()))
}

/// One client's live grants of a user: what it was allowed and when it got and last renewed
/// its tokens (the connected apps list).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClientGrant {
    pub client_id: String,
    pub scope: String,
    pub created_at: DateTime<Utc>,
}

/// The user's unrevoked, unexpired refresh tokens (every rotation of each family), oldest first.
pub async fn live_grants_of_user(db: &Db, user_id: Uuid, now: DateTime<Utc>) -> Result<Vec<ClientGrant>> {
    const SQL: &str = "SELECT client_id, scope, created_at FROM refresh_tokens
                       WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at";
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).bind(now).fetch_all(pool).await?))
}

/// Revoke every refresh token `client_id` holds for the user. Returns how many.
pub async fn revoke_client_of_user(db: &Db, user_id: Uuid, client_id: &str, now: DateTime<Utc>) -> Result<u64> {
    const SQL: &str = "UPDATE refresh_tokens SET revoked_at = $3
                       WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL";
    Ok(
        on_pool!(db, pool => sqlx::query(SQL).bind(user_id).bind(client_id).bind(now).execute(pool).await?.rows_affected()),
    )
}
