//! Fresh, private stores for one test each, removed again when the test ends (even when it
//! fails): a SQLite file in a temp dir, a new PostgreSQL database (empty, or copied from a
//! migrated template that stays on the server), a unique Redis key prefix.
//!
//! Where the servers are: `TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, used to create and drop databases) and
//! `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`).

#![allow(dead_code)] // each test binary uses a different part

use sqlx::{Connection as _, PgConnection};

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("munji.db").display());
        Self { url, postgres_name: None, _dir: Some(dir) }
    }

    /// A new, empty PostgreSQL database.
    pub async fn postgres() -> Self {
        Self::postgres_copy_of(None).await
    }

    /// A new PostgreSQL database with every migration applied: a copy of a migrated template,
    /// which is quicker than migrating each database anew.
    pub async fn postgres_migrated() -> Self {
        let template = TEMPLATE.get_or_init(migrated_template).await;
        Self::postgres_copy_of(Some(template)).await
    }

    async fn postgres_copy_of(template: Option<&str>) -> Self {
        let name = format!("munji_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin().await;
        let sql = match template {
            Some(template) => format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#),
            None => format!(r#"CREATE DATABASE "{name}""#),
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("create test database");
        conn.close().await.ok();
        Self { url: postgres_url(&name), postgres_name: Some(name), _dir: None }
    }
}

/// The PostgreSQL migrations, the same that `munji::store::Db::migrate` applies.
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The migrated template of this test process, once it exists.
static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// The name of a database with every migration applied, made when missing. It is named after the
/// migrations' checksums and kept on the server, so every test run of the same migrations (and
/// every test binary) shares it, and a changed migration gets a template of its own.
async fn migrated_template() -> String {
    use sha2::Digest as _;
    let mut digest = sha2::Sha256::new();
    for migration in POSTGRES_MIGRATIONS.iter() {
        digest.update(migration.version.to_le_bytes());
        digest.update(&migration.checksum);
    }
    let hash: String = digest.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("munji_template_{hash}");
    let mut conn = admin().await;
    const EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)";
    let exists: bool = sqlx::query_scalar(EXISTS).bind(&name).fetch_one(&mut conn).await.expect("look up template");
    if !exists {
        // Built under a name of its own and renamed once complete: the template's name never
        // denotes a half-migrated database, whichever of several processes builds it.
        let mut building = TestDatabase::postgres().await;
        let mut target = PgConnection::connect(&building.url).await.expect("connect to template");
        POSTGRES_MIGRATIONS.run(&mut target).await.expect("migrate template");
        target.close().await.ok();
        let building_name = building.postgres_name.clone().unwrap_or_default();
        let rename = format!(r#"ALTER DATABASE "{building_name}" RENAME TO "{name}""#);
        for _ in 0..50 {
            match sqlx::raw_sql(sqlx::AssertSqlSafe(rename.clone())).execute(&mut conn).await {
                Ok(_) => {
                    building.postgres_name = None; // it is the template now: kept
                    break;
                }
                // Our closed connection may still be leaving the server ("object in use").
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55006") => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                // Another process made the template meanwhile: `building` is dropped below.
                Err(_) => break,
            }
        }
    }
    conn.close().await.ok();
    name
}

async fn admin() -> PgConnection {
    let admin = postgres_admin_url();
    PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed for this test (set TEST_POSTGRES_URL): {e}"))
}

/// The URL of database `name` on the server of `TEST_POSTGRES_URL`.
fn postgres_url(name: &str) -> String {
    let mut url = url::Url::parse(&postgres_admin_url()).expect("TEST_POSTGRES_URL is a URL");
    url.set_path(name);
    url.to_string()
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        // Drop runs inside the test's runtime; a thread of its own may block on a new one.
        let admin = postgres_admin_url();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("warning: could not drop a test database");
        }
    }
}

/// A Redis key prefix that belongs to one test; its keys are deleted when it is dropped.
pub struct RedisPrefix {
    pub url: String,
    pub prefix: String,
}

impl RedisPrefix {
    pub fn new() -> Self {
        Self::on(&redis_url())
    }

    /// A prefix on the Redis server at `url`.
    pub fn on(url: &str) -> Self {
        Self { url: url.to_owned(), prefix: format!("munji-test-{}:", uuid::Uuid::new_v4().simple()) }
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else { return };
        let Ok(mut conn) = client.get_connection() else { return };
        let keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query(&mut conn).unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query(&mut conn);
        }
    }
}
