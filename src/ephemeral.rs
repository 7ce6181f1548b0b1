//! The ephemeral store (docs/operations.md): short-lived values with a TTL and an atomic
//! take-once, shared by every instance. OAuth state, PKCE verifiers, nonces, link intents,
//! browser sessions, rate-limit counters and revocation lists live here, never in a process.
//!
//! Redis when `redis_url` is set (`SET … PX`, `GETDEL`); otherwise the `ephemeral` table of the
//! durable store (`DELETE … RETURNING`), with expiry read from the database's clock.
//! Depends on [`crate::store`].

mod redis_store;
mod sql_store;

use std::time::Duration;

use crate::store::{Db, StoreError};

pub use redis_store::RedisStore;

/// The longest any single operation may take before the store counts as down.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);

/// One of the two ephemeral backends.
#[derive(Clone)]
pub enum Ephemeral {
    Redis(RedisStore),
    Sql(Db),
}

/// The ephemeral store's one error type: it could not be reached or answered wrongly.
/// Callers turn it into a 503, never into "valid".
#[derive(Debug, thiserror::Error)]
pub enum EphemeralError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("database: {0}")]
    Sql(#[from] StoreError),
    #[error("the ephemeral store did not answer within {0:?}")]
    Timeout(Duration),
}

pub type Result<T, E = EphemeralError> = std::result::Result<T, E>;

impl std::fmt::Debug for Ephemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Ephemeral {
    /// Redis at `url` (connected lazily and re-connected after failures), keys under `prefix`.
    pub fn redis(url: &str, prefix: &str) -> Result<Self> {
        Ok(Self::Redis(RedisStore::new(url, prefix)?))
    }

    /// The `ephemeral` table of the durable store.
    pub fn sql(db: Db) -> Self {
        Self::Sql(db)
    }

    /// "redis" or "database table", for logs and `/readyz`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Redis(_) => "redis",
            Self::Sql(_) => "database table",
        }
    }

    /// Store `value` under `key` for `ttl`, replacing any value there.
    pub async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        bounded(async {
            match self {
                Self::Redis(r) => r.put(key, value, ttl).await,
                Self::Sql(db) => Ok(sql_store::put(db, key, value, ttl).await?),
            }
        })
        .await
    }

    /// Store `value` under `key` for `ttl` only if no live value is there. Of any number of
    /// concurrent callers, on any number of instances, exactly one succeeds (a lock or a lease).
    pub async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
        bounded(async {
            match self {
                Self::Redis(r) => r.put_new(key, value, ttl).await,
                Self::Sql(db) => Ok(sql_store::put_new(db, key, value, ttl).await?),
            }
        })
        .await
    }

    /// Delete `key` only while it still holds `value` (release a lock that is still ours).
    pub async fn delete_if(&self, key: &str, value: &[u8]) -> Result<bool> {
        bounded(async {
            match self {
                Self::Redis(r) => r.delete_if(key, value).await,
                Self::Sql(db) => Ok(sql_store::delete_if(db, key, value).await?),
            }
        })
        .await
    }

    /// Count one more for `key` in a fixed window of `window` that starts at the first count.
    /// Returns the count in the current window and the time left in it; every instance counts
    /// into the same window.
    pub async fn incr(&self, key: &str, window: Duration) -> Result<(u64, Duration)> {
        let (count, left_ms) = bounded(async {
            match self {
                Self::Redis(r) => r.incr(key, window).await,
                Self::Sql(db) => Ok(sql_store::incr(db, key, window).await?),
            }
        })
        .await?;
        Ok((count, Duration::from_millis(u64::try_from(left_ms).unwrap_or(0))))
    }

    /// The live value under `key`, left in place.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        bounded(async {
            match self {
                Self::Redis(r) => r.get(key).await,
                Self::Sql(db) => Ok(sql_store::get(db, key).await?),
            }
        })
        .await
    }

    /// Remove and return the live value under `key`. Of any number of concurrent callers, on any
    /// number of instances, exactly one receives it.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        bounded(async {
            match self {
                Self::Redis(r) => r.take(key).await,
                Self::Sql(db) => Ok(sql_store::take(db, key).await?),
            }
        })
        .await
    }

    /// Forget the counter `key` of [`Self::incr`].
    pub async fn delete_count(&self, key: &str) -> Result<()> {
        bounded(async {
            match self {
                // Counters are plain keys in Redis.
                Self::Redis(r) => r.delete(key).await,
                Self::Sql(db) => Ok(sql_store::delete_count(db, key).await?),
            }
        })
        .await
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        bounded(async {
            match self {
                Self::Redis(r) => r.delete(key).await,
                Self::Sql(db) => Ok(sql_store::delete(db, key).await?),
            }
        })
        .await
    }

    /// One round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        bounded(async {
            match self {
                Self::Redis(r) => r.ping().await,
                Self::Sql(db) => Ok(sql_store::ping(db).await?),
            }
        })
        .await
    }

    /// Delete expired rows (the SQL backend only; Redis expires keys itself). Returns how many.
    pub async fn purge_expired(&self) -> Result<u64> {
        match self {
            Self::Redis(_) => Ok(0),
            Self::Sql(db) => bounded(async { Ok(sql_store::purge_expired(db).await?) }).await,
        }
    }
}

async fn bounded<T>(op: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(OPERATION_TIMEOUT, op).await.unwrap_or(Err(EphemeralError::Timeout(OPERATION_TIMEOUT)))
}
