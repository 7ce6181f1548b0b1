//! The durable store: PostgreSQL or SQLite, chosen by the scheme of `database_url`.
//!
//! Each backend has its own SQL (no `sqlx::Any`: the dialects differ where it matters, in
//! `RETURNING`, upserts and locking) and its own migrations under `migrations/{postgres,sqlite}`,
//! with the same file names in both. Every migration is reversible. SQL that reads the same in
//! both dialects is written once and run through [`on_pool!`].
//! Depends on nothing else in the crate.

pub mod audit;
pub mod backchannel;
pub mod clients;
pub mod consents;
mod error;
pub mod gmail;
pub mod identities;
pub mod keys;
pub mod leaving;
pub mod legacy;
pub mod refresh_tokens;
pub mod sessions;
pub mod stats;
pub mod users;

use std::{path::PathBuf, str::FromStr, time::Duration};

use sqlx::{
    migrate::Migrator,
    postgres::{PgPool, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous},
};

pub use error::{Result, StoreError};

/// Run the same code against whichever pool `db` holds. For SQL that both dialects read alike
/// (`$N` placeholders work in SQLite too); where they differ, match on [`Db`] instead.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Postgres($pool) => $body,
            $crate::store::Db::Sqlite($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a request waits for a pooled connection before the store counts as down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection pool to one of the two backends.
#[derive(Clone, Debug)]
pub enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Which backend a `database_url` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(StoreError::Config(
                "database_url must start with sqlite:// or postgres:// (for example sqlite://munji.db)".into(),
            ))
        }
    }
}

/// The file a `sqlite://` URL points at, if it is a file (not `:memory:`).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

impl Db {
    /// Open a pool. SQLite files are created on first use, in WAL mode with foreign keys on.
    pub async fn connect(url: &str) -> Result<Self> {
        match Backend::of(url)? {
            Backend::Postgres => {
                let pool =
                    PgPoolOptions::new().max_connections(16).acquire_timeout(ACQUIRE_TIMEOUT).connect(url).await?;
                Ok(Self::Postgres(pool))
            }
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await?;
                Ok(Self::Sqlite(pool))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// "postgresql" or "sqlite", for logs and `/readyz`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgresql",
            Self::Sqlite(_) => "sqlite",
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self {
            Self::Postgres(_) => &POSTGRES_MIGRATIONS,
            Self::Sqlite(_) => &SQLITE_MIGRATIONS,
        }
    }

    /// Apply every pending migration.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Self::Postgres(pool) => self.migrator().run(pool).await?,
            Self::Sqlite(pool) => self.migrator().run(pool).await?,
        }
        Ok(())
    }

    /// Run down scripts until `target` is the newest applied version (`0`: revert all). Without a
    /// target, revert only the newest migration. Returns the versions reverted, newest first.
    pub async fn revert(&self, target: Option<i64>) -> Result<Vec<i64>> {
        let applied = self.applied_versions().await?;
        let target = match target {
            Some(target) => target,
            None => applied.iter().rev().nth(1).copied().unwrap_or(0),
        };
        match self {
            Self::Postgres(pool) => self.migrator().undo(pool, target).await?,
            Self::Sqlite(pool) => self.migrator().undo(pool, target).await?,
        }
        Ok(applied.into_iter().rev().filter(|v| *v > target).collect())
    }

    /// Versions of the applied migrations, oldest first.
    pub async fn applied_versions(&self) -> Result<Vec<i64>> {
        const SQL: &str = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        let versions = match self {
            Self::Postgres(pool) => sqlx::query_scalar(SQL).fetch_all(pool).await,
            Self::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_all(pool).await,
        };
        match versions {
            Ok(versions) => Ok(versions),
            // No migration table yet: nothing applied.
            Err(sqlx::Error::Database(e)) if e.message().contains("_sqlx_migrations") => Ok(vec![]),
            Err(e) => Err(e.into()),
        }
    }

    /// Versions that the binary knows, oldest first.
    pub fn known_versions(&self) -> Vec<i64> {
        self.migrator().iter().filter(|m| m.migration_type.is_up_migration()).map(|m| m.version).collect()
    }

    /// One round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        match self {
            Self::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Self::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}
