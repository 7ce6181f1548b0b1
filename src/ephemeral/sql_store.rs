//! The SQL backend of the ephemeral store: the `ephemeral` table of either database.
//!
//! Expiry times are milliseconds on the database's clock, so instances with skewed clocks still
//! agree on what has expired. Reads ignore expired rows; [`purge_expired`] removes them.

use std::time::Duration;

use super::Hit;
use crate::store::{Db, Result, StoreError};

/// "Now" in Unix milliseconds, as each dialect writes it (macros, so that `concat!` can build
/// static SQL from them).
macro_rules! pg_now {
    () => {
        "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
    };
}
macro_rules! sqlite_now {
    () => {
        "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    };
}

fn millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2).max(1)
}

pub async fn put(db: &Db, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
    match db {
        Db::Postgres(pool) => {
            const SQL: &str = concat!(
                "INSERT INTO ephemeral (key, value, expires_at) VALUES ($1, $2, ",
                pg_now!(),
                " + $3)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
            );
            sqlx::query(SQL).bind(key).bind(value).bind(millis(ttl)).execute(pool).await?;
        }
        Db::Sqlite(pool) => {
            const SQL: &str = concat!(
                "INSERT INTO ephemeral (key, value, expires_at) VALUES (?1, ?2, ",
                sqlite_now!(),
                " + ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
            );
            sqlx::query(SQL).bind(key).bind(value).bind(millis(ttl)).execute(pool).await?;
        }
    }
    Ok(())
}

/// Insert, or replace an expired row; a live row stays. Whether `value` was stored.
pub async fn put_new(db: &Db, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
    let rows = match db {
        Db::Postgres(pool) => {
            const SQL: &str = concat!(
                "INSERT INTO ephemeral (key, value, expires_at) VALUES ($1, $2, ",
                pg_now!(),
                " + $3)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
                 WHERE ephemeral.expires_at <= ",
                pg_now!()
            );
            sqlx::query(SQL).bind(key).bind(value).bind(millis(ttl)).execute(pool).await?.rows_affected()
        }
        Db::Sqlite(pool) => {
            const SQL: &str = concat!(
                "INSERT INTO ephemeral (key, value, expires_at) VALUES (?1, ?2, ",
                sqlite_now!(),
                " + ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
                 WHERE ephemeral.expires_at <= ",
                sqlite_now!()
            );
            sqlx::query(SQL).bind(key).bind(value).bind(millis(ttl)).execute(pool).await?.rows_affected()
        }
    };
    Ok(rows == 1)
}

/// Delete the row only while it holds `value`.
pub async fn delete_if(db: &Db, key: &str, value: &[u8]) -> Result<bool> {
    let rows = match db {
        Db::Postgres(pool) => sqlx::query("DELETE FROM ephemeral WHERE key = $1 AND value = $2")
            .bind(key)
            .bind(value)
            .execute(pool)
            .await?
            .rows_affected(),
        Db::Sqlite(pool) => sqlx::query("DELETE FROM ephemeral WHERE key = ?1 AND value = ?2")
            .bind(key)
            .bind(value)
            .execute(pool)
            .await?
            .rows_affected(),
    };
    Ok(rows == 1)
}

/// Count one more for `key` in its window (a new window of `window` starts when the last has
/// ended); the count so far and the milliseconds left in the window.
pub async fn incr(db: &Db, key: &str, window: Duration) -> Result<(u64, i64)> {
    match db {
        Db::Postgres(pool) => {
            let hit = Hit { key: key.to_owned(), window };
            let (counts, _) = pg_batch(pool, std::slice::from_ref(&hit), &[]).await?;
            counts.into_iter().next().ok_or_else(|| StoreError::Config(format!("counter {key} was not counted")))
        }
        Db::Sqlite(pool) => sqlite_incr(pool, key, window).await,
    }
}

async fn sqlite_incr(pool: &sqlx::SqlitePool, key: &str, window: Duration) -> Result<(u64, i64)> {
    let (count, left): (i64, i64) = {
        const SQL: &str = concat!(
            "INSERT INTO counters AS c (key, count, expires_at) VALUES (?1, 1, ",
            sqlite_now!(),
            " + ?2)
                 ON CONFLICT (key) DO UPDATE SET
                   count = CASE WHEN c.expires_at <= ",
            sqlite_now!(),
            " THEN 1 ELSE c.count + 1 END,
                   expires_at = CASE WHEN c.expires_at <= ",
            sqlite_now!(),
            " THEN excluded.expires_at ELSE c.expires_at END
                 RETURNING count, expires_at - ",
            sqlite_now!()
        );
        sqlx::query_as(SQL).bind(key).bind(millis(window)).fetch_one(pool).await?
    };
    Ok((u64::try_from(count).unwrap_or(0), left))
}

/// [`incr`] for each hit and [`get`] for each key in `present` (whether a live value is there).
/// PostgreSQL answers all of it in one statement; SQLite, in the process, runs them in turn.
pub async fn batch(db: &Db, hits: &[Hit], present: &[String]) -> Result<(Vec<(u64, i64)>, Vec<bool>)> {
    match db {
        Db::Postgres(pool) => pg_batch(pool, hits, present).await,
        Db::Sqlite(pool) => {
            let mut counts = Vec::with_capacity(hits.len());
            for hit in hits {
                counts.push(sqlite_incr(pool, &hit.key, hit.window).await?);
            }
            let mut found = Vec::with_capacity(present.len());
            for key in present {
                found.push(get(db, key).await?.is_some());
            }
            Ok((counts, found))
        }
    }
}

async fn pg_batch(pool: &sqlx::PgPool, hits: &[Hit], present: &[String]) -> Result<(Vec<(u64, i64)>, Vec<bool>)> {
    // Hits come back tagged 'h', present keys 'p'; order is restored from the keys.
    const SQL: &str = concat!(
        "WITH hits AS (
                   INSERT INTO counters AS c (key, count, expires_at)
                   SELECT k, 1, ",
        pg_now!(),
        " + w FROM unnest($1::text[], $2::bigint[]) AS t(k, w)
                   ON CONFLICT (key) DO UPDATE SET
                     count = CASE WHEN c.expires_at <= ",
        pg_now!(),
        " THEN 1 ELSE c.count + 1 END,
                     expires_at = CASE WHEN c.expires_at <= ",
        pg_now!(),
        " THEN EXCLUDED.expires_at ELSE c.expires_at END
                   RETURNING c.key, c.count, c.expires_at - ",
        pg_now!(),
        " AS left_ms)
                 SELECT 'h' AS kind, key, count, left_ms FROM hits
                 UNION ALL
                 SELECT 'p', key, 0, 0 FROM ephemeral WHERE key = ANY($3) AND expires_at > ",
        pg_now!()
    );
    let keys: Vec<&str> = hits.iter().map(|h| h.key.as_str()).collect();
    let windows: Vec<i64> = hits.iter().map(|h| millis(h.window)).collect();
    let rows: Vec<(String, String, i64, i64)> =
        sqlx::query_as(SQL).bind(&keys).bind(&windows).bind(present).fetch_all(pool).await?;
    let counts = hits
        .iter()
        .map(|hit| {
            rows.iter()
                .find(|(kind, key, ..)| kind == "h" && *key == hit.key)
                .map(|(_, _, count, left)| (u64::try_from(*count).unwrap_or(0), *left))
                .ok_or_else(|| StoreError::Config(format!("counter {} was not counted", hit.key)))
        })
        .collect::<Result<_>>()?;
    let found = present.iter().map(|p| rows.iter().any(|(kind, key, ..)| kind == "p" && key == p)).collect();
    Ok((counts, found))
}

pub async fn get(db: &Db, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(match db {
        Db::Postgres(pool) => {
            const SQL: &str = concat!("SELECT value FROM ephemeral WHERE key = $1 AND expires_at > ", pg_now!());
            sqlx::query_scalar(SQL).bind(key).fetch_optional(pool).await?
        }
        Db::Sqlite(pool) => {
            const SQL: &str = concat!("SELECT value FROM ephemeral WHERE key = ?1 AND expires_at > ", sqlite_now!());
            sqlx::query_scalar(SQL).bind(key).fetch_optional(pool).await?
        }
    })
}

/// `DELETE … RETURNING` removes the row and hands it to exactly one caller.
pub async fn take(db: &Db, key: &str) -> Result<Option<Vec<u8>>> {
    let value: Option<(Vec<u8>, bool)> = match db {
        Db::Postgres(pool) => {
            const SQL: &str = concat!("DELETE FROM ephemeral WHERE key = $1 RETURNING value, expires_at > ", pg_now!());
            sqlx::query_as(SQL).bind(key).fetch_optional(pool).await?
        }
        Db::Sqlite(pool) => {
            const SQL: &str =
                concat!("DELETE FROM ephemeral WHERE key = ?1 RETURNING value, expires_at > ", sqlite_now!());
            sqlx::query_as(SQL).bind(key).fetch_optional(pool).await?
        }
    };
    // An expired row is deleted all the same, but was never there for the caller.
    Ok(value.and_then(|(value, live)| live.then_some(value)))
}

/// Forget the counter `key` (its window starts again at the next count).
pub async fn delete_count(db: &Db, key: &str) -> Result<()> {
    match db {
        Db::Postgres(pool) => {
            sqlx::query("DELETE FROM counters WHERE key = $1").bind(key).execute(pool).await?;
        }
        Db::Sqlite(pool) => {
            sqlx::query("DELETE FROM counters WHERE key = ?1").bind(key).execute(pool).await?;
        }
    }
    Ok(())
}

pub async fn delete(db: &Db, key: &str) -> Result<()> {
    match db {
        Db::Postgres(pool) => {
            sqlx::query("DELETE FROM ephemeral WHERE key = $1").bind(key).execute(pool).await?;
        }
        Db::Sqlite(pool) => {
            sqlx::query("DELETE FROM ephemeral WHERE key = ?1").bind(key).execute(pool).await?;
        }
    }
    Ok(())
}

pub async fn ping(db: &Db) -> Result<()> {
    match db {
        Db::Postgres(pool) => {
            sqlx::query("SELECT 1 FROM ephemeral LIMIT 1").execute(pool).await?;
        }
        Db::Sqlite(pool) => {
            sqlx::query("SELECT 1 FROM ephemeral LIMIT 1").execute(pool).await?;
        }
    }
    Ok(())
}

/// Delete expired values and counters.
pub async fn purge_expired(db: &Db) -> Result<u64> {
    let done = match db {
        Db::Postgres(pool) => {
            let values = sqlx::query(concat!("DELETE FROM ephemeral WHERE expires_at <= ", pg_now!()));
            let counters = sqlx::query(concat!("DELETE FROM counters WHERE expires_at <= ", pg_now!()));
            values.execute(pool).await?.rows_affected() + counters.execute(pool).await?.rows_affected()
        }
        Db::Sqlite(pool) => {
            let values = sqlx::query(concat!("DELETE FROM ephemeral WHERE expires_at <= ", sqlite_now!()));
            let counters = sqlx::query(concat!("DELETE FROM counters WHERE expires_at <= ", sqlite_now!()));
            values.execute(pool).await?.rows_affected() + counters.execute(pool).await?.rows_affected()
        }
    };
    Ok(done)
}
