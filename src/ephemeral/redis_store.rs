//! The Redis backend of the ephemeral store.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Hit, Result};

/// Count one more in `KEYS[1]`, starting a window of `ARGV[1]` ms with the first count; the
/// count and the milliseconds left in the window.
const INCR_SOURCE: &str = "local n = redis.call('INCR', KEYS[1]) \
     if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
     return {n, redis.call('PTTL', KEYS[1])}";
static INCR: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| redis::Script::new(INCR_SOURCE));

fn window_millis(window: Duration) -> u64 {
    u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// A self-healing Redis connection and the prefix of every key it writes.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisStore {
    /// Parse `url` and prepare a connection made on first use, so start-up does not depend on
    /// Redis being up; a lost connection is re-made by the next command.
    pub fn new(url: &str, prefix: &str) -> Result<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self { conn, prefix: prefix.to_owned() })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis)
            .query_async::<()>(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// `SET … NX PX`: only the first of concurrent callers stores its value.
    pub async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let stored: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(stored.is_some())
    }

    /// Delete `key` only while it still holds `value` (one script, so atomic).
    pub async fn delete_if(&self, key: &str, value: &[u8]) -> Result<bool> {
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
            )
        });
        let deleted: i64 = SCRIPT.key(self.key(key)).arg(value).invoke_async(&mut self.conn.clone()).await?;
        Ok(deleted == 1)
    }

    /// `INCR`, with the window's expiry set by the first increment (one script, so atomic); the
    /// count and the milliseconds left.
    pub async fn incr(&self, key: &str, window: Duration) -> Result<(u64, i64)> {
        Ok(INCR.key(self.key(key)).arg(window_millis(window)).invoke_async(&mut self.conn.clone()).await?)
    }

    /// The hits and the presence checks of one request in one pipeline: each hit is the
    /// [`INCR`] script on its own key (sent whole with `EVAL`, so a fresh primary after a
    /// failover needs nothing loaded), each check an `EXISTS`.
    pub async fn batch(&self, hits: &[Hit], present: &[String]) -> Result<(Vec<(u64, i64)>, Vec<bool>)> {
        let mut pipe = redis::pipe();
        for hit in hits {
            pipe.cmd("EVAL").arg(INCR_SOURCE).arg(1).arg(self.key(&hit.key)).arg(window_millis(hit.window));
        }
        for key in present {
            pipe.exists(self.key(key));
        }
        let mut answers: Vec<redis::Value> = pipe.query_async(&mut self.conn.clone()).await?;
        let checks = answers.split_off(hits.len().min(answers.len()));
        let counts = answers.into_iter().map(redis::from_redis_value).collect::<Result<Vec<(u64, i64)>, _>>();
        let present = checks.into_iter().map(redis::from_redis_value).collect::<Result<Vec<bool>, _>>();
        Ok((counts.map_err(redis::RedisError::from)?, present.map_err(redis::RedisError::from)?))
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(redis::cmd("GET").arg(self.key(key)).query_async(&mut self.conn.clone()).await?)
    }

    /// `GETDEL` is atomic: of concurrent callers, one gets the value and the rest get nothing.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(redis::cmd("GETDEL").arg(self.key(key)).query_async(&mut self.conn.clone()).await?)
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        redis::cmd("DEL").arg(self.key(key)).query_async::<()>(&mut self.conn.clone()).await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<()> {
        redis::cmd("PING").query_async::<()>(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Delete every key under this store's prefix (tests use a prefix of their own).
    pub async fn delete_prefixed(&self) -> Result<u64> {
        let mut conn = self.conn.clone();
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query_async(&mut conn).await?;
        if keys.is_empty() {
            return Ok(0);
        }
        Ok(redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?)
    }
}
