//! The Redis backend of the ephemeral store.

use std::time::Duration;

use std::sync::Arc;

use redis::{
    aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection},
    sentinel::{SentinelClient, SentinelServerType},
};

use super::{Hit, Result};

/// Count one more in `KEYS[1]`, starting a window of `ARGV[1]` ms with the first count; the
/// count and the milliseconds left in the window.
const INCR_SOURCE: &str = "local n = redis.call('INCR', KEYS[1]) \
     if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
     return {n, redis.call('PTTL', KEYS[1])}";

fn window_millis(window: Duration) -> u64 {
    u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// A Redis connection that heals itself, and the prefix of every key it writes.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: String,
    /// Wrap the part of a key after its kind in a hash tag (Redis Cluster: `code:{h}` and
    /// `code_spent:{h}` stay in one slot).
    tagged: bool,
}

/// One server (`redis://`, `rediss://`), a Sentinel set (`redis+sentinel://h:p,h:p/MASTER`),
/// or a Cluster (`redis+cluster://h:p,h:p`).
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Sentinel(Arc<SentinelConn>),
    Cluster(Arc<ClusterConn>),
}

/// A Cluster's connection, made on first use (then it follows `MOVED` and failovers itself).
struct ClusterConn {
    client: redis::cluster::ClusterClient,
    conn: tokio::sync::OnceCell<redis::cluster_async::ClusterConnection>,
}

impl ClusterConn {
    async fn get(&self) -> redis::RedisResult<redis::cluster_async::ClusterConnection> {
        Ok(self.conn.get_or_try_init(|| self.client.get_async_connection()).await?.clone())
    }
}

/// The primary a Sentinel set names, asked again after any connection failure or a `READONLY`
/// answer (the old primary, demoted).
struct SentinelConn {
    sentinel: tokio::sync::Mutex<SentinelClient>,
    primary: tokio::sync::RwLock<Option<MultiplexedConnection>>,
}

const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The nodes of a `redis+sentinel://` or `redis+cluster://` URL as `redis://` URLs, and the
/// path (the Sentinel master's name).
fn nodes(rest: &str) -> (Vec<String>, &str) {
    let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
    (hosts.split(',').filter(|h| !h.is_empty()).map(|h| format!("redis://{h}")).collect(), path)
}

fn invalid(what: &str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "invalid redis_url", what.to_owned()))
}

impl Conn {
    fn open(url: &str) -> Result<Self> {
        if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            let (nodes, master) = nodes(rest);
            if nodes.is_empty() || master.is_empty() {
                return Err(invalid("redis+sentinel://HOST:PORT,HOST:PORT/MASTER").into());
            }
            let sentinel = SentinelClient::build(nodes, master.to_owned(), None, SentinelServerType::Master)?;
            return Ok(Self::Sentinel(Arc::new(SentinelConn {
                sentinel: tokio::sync::Mutex::new(sentinel),
                primary: tokio::sync::RwLock::new(None),
            })));
        }
        if let Some(rest) = url.strip_prefix("redis+cluster://") {
            let (nodes, _) = nodes(rest);
            if nodes.is_empty() {
                return Err(invalid("redis+cluster://HOST:PORT,HOST:PORT").into());
            }
            let client = redis::cluster::ClusterClientBuilder::new(nodes)
                .connection_timeout(CONNECTION_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .retries(2)
                .build()?;
            return Ok(Self::Cluster(Arc::new(ClusterConn { client, conn: tokio::sync::OnceCell::new() })));
        }
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        Ok(Self::Single(ConnectionManager::new_lazy_with_config(client, config)?))
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        match self {
            Self::Single(conn) => cmd.query_async(&mut conn.clone()).await,
            Self::Cluster(cluster) => cmd.query_async(&mut cluster.get().await?).await,
            Self::Sentinel(sentinel) => {
                let mut conn = sentinel.primary().await?;
                sentinel.forget_on_failure(cmd.query_async(&mut conn).await).await
            }
        }
    }

    async fn pipeline(&self, pipe: &redis::Pipeline) -> redis::RedisResult<Vec<redis::Value>> {
        match self {
            Self::Single(conn) => pipe.query_async(&mut conn.clone()).await,
            // A pipeline must stay in one slot; its commands go out at once instead, each to
            // its node, so the batch still costs one round trip of time.
            Self::Cluster(cluster) => {
                let conn = cluster.get().await?;
                let each = pipe.cmd_iter().map(|cmd| {
                    let mut conn = conn.clone();
                    async move { cmd.query_async::<redis::Value>(&mut conn).await }
                });
                futures_util::future::try_join_all(each).await
            }
            Self::Sentinel(sentinel) => {
                let mut conn = sentinel.primary().await?;
                sentinel.forget_on_failure(pipe.query_async(&mut conn).await).await
            }
        }
    }
}

impl SentinelConn {
    /// The current primary's connection, asking the Sentinels when there is none.
    async fn primary(&self) -> redis::RedisResult<MultiplexedConnection> {
        if let Some(conn) = self.primary.read().await.as_ref() {
            return Ok(conn.clone());
        }
        let mut primary = self.primary.write().await;
        if let Some(conn) = primary.as_ref() {
            return Ok(conn.clone());
        }
        let client = self.sentinel.lock().await.async_get_client().await?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let conn = client.get_multiplexed_async_connection_with_config(&config).await?;
        *primary = Some(conn.clone());
        Ok(conn)
    }

    /// Drop the connection after a failure that may mean the primary moved; the request fails
    /// (503 where the store is needed), the next one asks the Sentinels.
    async fn forget_on_failure<T>(&self, result: redis::RedisResult<T>) -> redis::RedisResult<T> {
        if let Err(e) = &result
            && (e.is_io_error()
                || e.is_connection_dropped()
                || e.is_timeout()
                || e.is_unrecoverable_error()
                || e.code() == Some("READONLY"))
        {
            *self.primary.write().await = None;
        }
        result
    }
}

impl RedisStore {
    /// Parse `url` and prepare a connection made on first use, so start-up does not depend on
    /// Redis being up; a lost connection is re-made by the next command. A Sentinel set is
    /// asked for the primary on first use and after every connection failure.
    pub fn new(url: &str, prefix: &str) -> Result<Self> {
        let conn = Conn::open(url)?;
        let tagged = matches!(conn, Conn::Cluster(_));
        Ok(Self { conn, prefix: prefix.to_owned(), tagged })
    }

    fn key(&self, key: &str) -> String {
        match key.split_once(':') {
            Some((kind, rest)) if self.tagged => format!("{}{kind}:{{{rest}}}", self.prefix),
            _ => format!("{}{key}", self.prefix),
        }
    }

    pub async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("PX").arg(window_millis(ttl));
        Ok(self.conn.query(&cmd).await?)
    }

    /// `SET … NX PX`: only the first of concurrent callers stores its value.
    pub async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("NX").arg("PX").arg(window_millis(ttl));
        let stored: Option<String> = self.conn.query(&cmd).await?;
        Ok(stored.is_some())
    }

    /// Delete `key` only while it still holds `value` (one script, so atomic).
    pub async fn delete_if(&self, key: &str, value: &[u8]) -> Result<bool> {
        const SOURCE: &str =
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
        let deleted: i64 = self.conn.query(redis::cmd("EVAL").arg(SOURCE).arg(1).arg(self.key(key)).arg(value)).await?;
        Ok(deleted == 1)
    }

    /// `INCR`, with the window's expiry set by the first increment (one script, so atomic); the
    /// count and the milliseconds left.
    pub async fn incr(&self, key: &str, window: Duration) -> Result<(u64, i64)> {
        Ok(self.conn.query(&eval_incr(&self.key(key), window)).await?)
    }

    /// The hits and the presence checks of one request in one pipeline: each hit is the
    /// [`INCR_SOURCE`] script on its own key (sent whole with `EVAL`, so a fresh primary after
    /// a failover needs nothing loaded), each check an `EXISTS`.
    pub async fn batch(&self, hits: &[Hit], present: &[String]) -> Result<(Vec<(u64, i64)>, Vec<bool>)> {
        let mut pipe = redis::pipe();
        for hit in hits {
            pipe.add_command(eval_incr(&self.key(&hit.key), hit.window));
        }
        for key in present {
            pipe.exists(self.key(key));
        }
        let mut answers = self.conn.pipeline(&pipe).await?;
        let checks = answers.split_off(hits.len().min(answers.len()));
        let counts = answers.into_iter().map(redis::from_redis_value).collect::<Result<Vec<(u64, i64)>, _>>();
        let present = checks.into_iter().map(redis::from_redis_value).collect::<Result<Vec<bool>, _>>();
        Ok((counts.map_err(redis::RedisError::from)?, present.map_err(redis::RedisError::from)?))
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.conn.query(redis::cmd("GET").arg(self.key(key))).await?)
    }

    /// `GETDEL` is atomic: of concurrent callers, one gets the value and the rest get nothing.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.conn.query(redis::cmd("GETDEL").arg(self.key(key))).await?)
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        Ok(self.conn.query(redis::cmd("DEL").arg(self.key(key))).await?)
    }

    pub async fn ping(&self) -> Result<()> {
        Ok(self.conn.query(&redis::cmd("PING")).await?)
    }
}

/// The [`INCR_SOURCE`] script on `key`, sent whole.
fn eval_incr(key: &str, window: Duration) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(INCR_SOURCE).arg(1).arg(key).arg(window_millis(window));
    cmd
}
