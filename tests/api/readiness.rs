//! `/readyz` turns 503 naming the store that went away, and back to 200 when it returns,
//! without a restart.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::helpers::{Backend, TestApp, databases};

/// A redis-server of this test's own, on a port of its own, so it can be stopped.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for this test");
        let mut redis = Self { port, child: Some(child) };
        redis.wait_until_up();
        redis
    }

    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self::start_on(port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn wait_until_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Poll `/readyz` until it answers `status`; return the body and how long it took.
async fn readyz_becomes(app: &TestApp, status: u16, within: Duration) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let resp = app.get_readyz().await;
        if resp.status() == status {
            return (resp.json().await.unwrap(), started.elapsed());
        }
        assert!(started.elapsed() < within, "/readyz still {} after {within:?}", resp.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// Stopping a redis-server needs the Redis backend.
#[tokio::test]
async fn readyz_names_redis_while_it_is_down_and_recovers_without_a_restart() {
    let mut redis = PrivateRedis::start();
    let app = TestApp::builder(Backend::PostgresRedis).redis_url(&redis.url()).spawn().await;
    readyz_becomes(&app, 200, Duration::from_secs(5)).await;

    redis.stop();
    let (body, took) = readyz_becomes(&app, 503, Duration::from_secs(5)).await;
    assert_eq!(body["failed"], serde_json::json!(["ephemeral_store"]));
    assert_eq!(body["checks"]["ephemeral_store"]["status"], "failed");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    eprintln!("readyz saw redis go down after {took:?}");

    let _redis = PrivateRedis::start_on(redis.port);
    let (body, took) = readyz_becomes(&app, 200, Duration::from_secs(10)).await;
    assert_eq!(body["status"], "ready");
    eprintln!("readyz saw redis come back after {took:?}");
}

// Stopping PostgreSQL while Redis stays up needs that one backend.
#[tokio::test]
async fn readyz_names_postgres_while_it_refuses_connections_and_recovers() {
    // With Redis as the ephemeral store, only the database goes away.
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    readyz_becomes(&app, 200, Duration::from_secs(5)).await;

    postgres_allows_connections(&app, false).await;

    let (body, _) = readyz_becomes(&app, 503, Duration::from_secs(5)).await;
    assert_eq!(body["failed"], serde_json::json!(["database"]));

    postgres_allows_connections(&app, true).await;
    // New connections are opened with a back-off; on a loaded machine that takes a while.
    let (_, took) = readyz_becomes(&app, 200, Duration::from_secs(30)).await;
    eprintln!("readyz saw postgres come back after {took:?}");
}

/// With `false`, the app's PostgreSQL database refuses new connections and drops the ones it
/// has (the database is down as far as the app can tell); with `true`, it accepts them again.
pub async fn postgres_allows_connections(app: &TestApp, allowed: bool) {
    let url = url::Url::parse(&app.database_url).unwrap();
    let name = url.path().trim_start_matches('/');
    assert!(url.scheme().starts_with("postgres") && !name.is_empty(), "a PostgreSQL test app");
    let mut sql = format!(r#"ALTER DATABASE "{name}" ALLOW_CONNECTIONS {allowed};"#);
    if !allowed {
        sql += &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'");
    }
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&databases::postgres_admin_url()).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
}

/// `/readyz` checks the stores at most once a second: a store that goes down right after a
/// check is not seen by a call within that second (the last answer is given again), but is
/// by the first call after it. Whether the second call came within the second is measured
/// from the client's side (send of the first to answer of the second), so a slow machine
/// makes a round inconclusive, never wrong; such a round is run again.
// Stopping a redis-server needs the Redis backend.
#[tokio::test]
async fn readyz_checks_the_stores_at_most_once_a_second() {
    let mut redis = PrivateRedis::start();
    let app = TestApp::builder(Backend::PostgresRedis).redis_url(&redis.url()).spawn().await;
    let mut conclusive = false;
    for _ in 0..5 {
        readyz_becomes(&app, 200, Duration::from_secs(10)).await;
        // Let the last answer age, so the next call checks afresh.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let sent = Instant::now();
        assert_eq!(app.get_readyz().await.status(), 200);
        redis.stop();
        let second = app.get_readyz().await;
        let took = sent.elapsed();
        if took < Duration::from_millis(900) {
            assert_eq!(second.status(), 200, "within a second of a check, its answer is given again");
            let (body, _) = readyz_becomes(&app, 503, Duration::from_secs(5)).await;
            assert_eq!(body["failed"], serde_json::json!(["ephemeral_store"]));
            assert!(sent.elapsed() >= Duration::from_secs(1), "not before the answer is a second old");
            // The failed answer is reused too, and the next check after a second sees it go.
            let _redis = PrivateRedis::start_on(redis.port);
            readyz_becomes(&app, 200, Duration::from_secs(10)).await;
            conclusive = true;
            break;
        }
        redis = PrivateRedis::start_on(redis.port);
    }
    assert!(conclusive, "five rounds in a row took over 0.9 s between the two calls");
}

// Stopping a redis-server needs the Redis backend.
#[tokio::test]
async fn a_callback_while_redis_is_down_shows_a_503_page_and_signs_nobody_in_then_recovers() {
    use munji::upstream::Provider;

    use crate::helpers::social::{Person, location};

    let mut redis = PrivateRedis::start();
    let app = TestApp::builder(Backend::PostgresRedis).redis_url(&redis.url()).spawn().await;
    let browser = app.browser();
    let person = Person::new(31337, "down@example.com");
    let authorize = app.start_login(&browser, Provider::Naver).await;
    let callback = app.provider_decides(&browser, &authorize, &person, true).await;

    // The state record is in Redis, which goes away before the browser comes back.
    redis.stop();
    let resp = browser.get(callback).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.text().await.unwrap().contains("cannot reach its storage"));
    assert_eq!(app.count_users().await, 0);

    // Back up: a new sign-in works without a restart.
    let _redis = PrivateRedis::start_on(redis.port);
    readyz_becomes(&app, 200, Duration::from_secs(10)).await;
    let resp = app.sign_in_with(&browser, Provider::Naver, &person).await;
    assert_eq!(location(&resp, &app.base_url).path(), "/signup");
}

// Stopping a redis-server needs the Redis backend.
#[tokio::test]
async fn rate_limits_fail_open_while_redis_is_down_and_hold_again_after() {
    let mut redis = PrivateRedis::start();
    let app = TestApp::builder(Backend::PostgresRedis)
        .redis_url(&redis.url())
        .env("MUNJI_RATE_LIMITS__OAUTH", "2/min")
        .with_service_client("svc", &["gmail.vend"])
        .spawn()
        .await;
    let token = || app.client_credentials(app.registered("svc"));

    redis.stop();
    for _ in 0..4 {
        assert_eq!(token().await.status(), 200, "over the limit, but the limiter cannot count: open");
    }
    assert!(app.get_metrics().await.contains(r#"munji_rate_limit_unchecked_total{group="oauth"}"#));

    let _redis = PrivateRedis::start_on(redis.port);
    readyz_becomes(&app, 200, Duration::from_secs(10)).await;
    let statuses = [token().await.status(), token().await.status(), token().await.status()];
    assert_eq!(statuses.map(|s| s.as_u16()), [200, 200, 429], "counting again once Redis is back");
}
