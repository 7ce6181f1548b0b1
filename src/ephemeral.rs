//! The ephemeral store (docs/operations.md): short-lived values with a TTL and an atomic
//! take-once, shared by every instance. OAuth state, PKCE verifiers, nonces, link intents,
//! browser sessions, rate-limit counters and revocation lists live here, never in a process.
//!
//! Redis when `redis_url` is set (`SET … PX`, `GETDEL`); otherwise the `ephemeral` table of the
//! durable store (`DELETE … RETURNING`), with expiry read from the database's clock.
//! Depends on [`crate::store`].

mod redis_store;
mod sql_store;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::store::{Db, StoreError};

pub use redis_store::RedisStore;

/// The longest any single operation may take before the store counts as down.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);

/// One of the two ephemeral backends, and how many round trips were made to it.
#[derive(Clone)]
pub struct Ephemeral {
    backend: Backend,
    round_trips: Arc<AtomicU64>,
}

#[derive(Clone)]
enum Backend {
    Redis(RedisStore),
    Sql(Db),
}

/// A counter to count one more in, with the window a first count starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub key: String,
    pub window: Duration,
}

/// What one batch found: each hit's count and the time left in its window, and for each key
/// asked about whether a live value is there, in the order they were given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub counts: Vec<(u64, Duration)>,
    pub present: Vec<bool>,
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
        Ok(Self::with(Backend::Redis(RedisStore::new(url, prefix)?)))
    }

    /// The `ephemeral` table of the durable store.
    pub fn sql(db: Db) -> Self {
        Self::with(Backend::Sql(db))
    }

    fn with(backend: Backend) -> Self {
        Self { backend, round_trips: Arc::default() }
    }

    /// "redis" or "database table", for logs and `/readyz`.
    pub fn kind(&self) -> &'static str {
        match &self.backend {
            Backend::Redis(_) => "redis",
            Backend::Sql(_) => "database table",
        }
    }

    /// Round trips made so far by this store and its clones on behalf of requests (the
    /// operations below, one each, but for the background `ping` and `purge_expired`;
    /// docs/operations.md says which requests make how many).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Count one more in each of `hits` and read whether each of `present` holds a live value,
    /// in one round trip: what a request that is both rate-limited and checked against
    /// revocations asks of the store.
    pub async fn batch(&self, hits: &[Hit], present: &[String]) -> Result<Found> {
        if hits.is_empty() && present.is_empty() {
            return Ok(Found::default());
        }
        let found = self
            .bounded(async {
                match &self.backend {
                    Backend::Redis(r) => r.batch(hits, present).await,
                    Backend::Sql(db) => Ok(sql_store::batch(db, hits, present).await?),
                }
            })
            .await?;
        let counts =
            found.0.into_iter().map(|(n, left)| (n, Duration::from_millis(u64::try_from(left).unwrap_or(0)))).collect();
        Ok(Found { counts, present: found.1 })
    }

    /// Store `value` under `key` for `ttl`, replacing any value there.
    pub async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.bounded(async {
            match &self.backend {
                Backend::Redis(r) => r.put(key, value, ttl).await,
                Backend::Sql(db) => Ok(sql_store::put(db, key, value, ttl).await?),
            }
        })
        .await
    }

    /// Store `value` under `key` for `ttl` only if no live value is there. Of any number of
    /// concurrent callers, on any number of instances, exactly one succeeds (a lock or a lease).
    pub async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
        self.bounded(async {
            match &self.backend {
                Backend::Redis(r) => r.put_new(key, value, ttl).await,
                Backend::Sql(db) => Ok(sql_store::put_new(db, key, value, ttl).await?),
            }
        })
        .await
    }

    /// Delete `key` only while it still holds `value` (release a lock that is still ours).
    pub async fn delete_if(&self, key: &str, value: &[u8]) -> Result<bool> {
        self.bounded(async {
            match &self.backend {
                Backend::Redis(r) => r.delete_if(key, value).await,
                Backend::Sql(db) => Ok(sql_store::delete_if(db, key, value).await?),
            }
        })
        .await
    }

    /// Count one more for `key` in a fixed window of `window` that starts at the first count.
    /// Returns the count in the current window and the time left in it; every instance counts
    /// into the same window.
    pub async fn incr(&self, key: &str, window: Duration) -> Result<(u64, Duration)> {
        let (count, left_ms) = self
            .bounded(async {
                match &self.backend {
                    Backend::Redis(r) => r.incr(key, window).await,
                    Backend::Sql(db) => Ok(sql_store::incr(db, key, window).await?),
                }
            })
            .await?;
        Ok((count, Duration::from_millis(u64::try_from(left_ms).unwrap_or(0))))
    }

    /// The live value under `key`, left in place.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.bounded(async {
            match &self.backend {
                Backend::Redis(r) => r.get(key).await,
                Backend::Sql(db) => Ok(sql_store::get(db, key).await?),
            }
        })
        .await
    }

    /// Remove and return the live value under `key`. Of any number of concurrent callers, on any
    /// number of instances, exactly one receives it.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.bounded(async {
            match &self.backend {
                Backend::Redis(r) => r.take(key).await,
                Backend::Sql(db) => Ok(sql_store::take(db, key).await?),
            }
        })
        .await
    }

    /// Forget the counter `key` of [`Self::incr`].
    pub async fn delete_count(&self, key: &str) -> Result<()> {
        self.bounded(async {
            match &self.backend {
                // Counters are plain keys in Redis.
                Backend::Redis(r) => r.delete(key).await,
                Backend::Sql(db) => Ok(sql_store::delete_count(db, key).await?),
            }
        })
        .await
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        self.bounded(async {
            match &self.backend {
                Backend::Redis(r) => r.delete(key).await,
                Backend::Sql(db) => Ok(sql_store::delete(db, key).await?),
            }
        })
        .await
    }

    /// One round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        uncounted(async {
            match &self.backend {
                Backend::Redis(r) => r.ping().await,
                Backend::Sql(db) => Ok(sql_store::ping(db).await?),
            }
        })
        .await
    }

    /// Delete expired rows (the SQL backend only; Redis expires keys itself). Returns how many.
    pub async fn purge_expired(&self) -> Result<u64> {
        match &self.backend {
            Backend::Redis(_) => Ok(0),
            Backend::Sql(db) => uncounted(async { Ok(sql_store::purge_expired(db).await?) }).await,
        }
    }

    /// One round trip, counted, given up after [`OPERATION_TIMEOUT`].
    async fn bounded<T>(&self, op: impl Future<Output = Result<T>>) -> Result<T> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        uncounted(op).await
    }
}

async fn uncounted<T>(op: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(OPERATION_TIMEOUT, op).await.unwrap_or(Err(EphemeralError::Timeout(OPERATION_TIMEOUT)))
}
