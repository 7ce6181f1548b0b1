//! The shared storage suite (docs/operations.md): the ephemeral store behaves the same on Redis,
//! on the SQLite table and on the PostgreSQL table; migrations are reversible and mirror each
//! other; the durable store keeps the same contract on SQLite and on PostgreSQL.

// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/databases.rs"]
mod databases;

use chrono::{DateTime, Duration, SubsecRound as _, Utc};
use databases::TestDatabase;
use munji::{
    store::{
        Db,
        gmail::{Connection, ConnectionStatus},
        identities::NewIdentity,
        legacy::LegacyUser,
        users::NewUser,
    },
    upstream::Provider,
};
use uuid::Uuid;

/// Run the same code against whichever pool `db` holds (the tests' copy of `store::on_pool!`).
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            munji::store::Db::Postgres($pool) => $body,
            munji::store::Db::Sqlite($pool) => $body,
        }
    };
}

/// Each named `async fn(Db)` becomes one test on a migrated SQLite database and one on a
/// migrated PostgreSQL database, each database private to the test.
macro_rules! on_every_durable_backend {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test] async fn $name() {
                let (db, _database) = crate::migrated(crate::databases::TestDatabase::sqlite()).await;
                super::$name(db).await
            })*
        }
        mod on_postgres {
            $(#[tokio::test] async fn $name() {
                let (db, _database) = crate::migrated(crate::databases::TestDatabase::postgres_migrated().await).await;
                super::$name(db).await
            })*
        }
    };
}

mod audit;
mod backchannel;
mod clients;
mod ephemeral;
mod gmail;
mod identities;
mod keys;
mod legacy;
mod migrations;
mod refresh_tokens;
mod sessions;
mod users;

/// A pool on `database` with every migration applied, and the database it must not outlive.
async fn migrated(database: TestDatabase) -> (Db, TestDatabase) {
    let db = Db::connect(&database.url).await.unwrap();
    db.migrate().await.unwrap();
    (db, database)
}

/// The current time at the precision both backends keep (PostgreSQL keeps microseconds).
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A new account named `username`, signed up through Google with the uid `username`.
async fn user(db: &Db, username: &str) -> Uuid {
    let identity = NewIdentity {
        provider: Provider::Google,
        uid: username,
        email: None,
        email_verified: false,
        logged_in: true,
        upstream_token: None,
    };
    let user = NewUser { username, display_name: username, email: None };
    munji::store::users::insert_with_identity(db, user, identity, now()).await.unwrap().id
}

/// An active connection of `user_id` to `address`, created now.
fn gmail_connection(user_id: Uuid, address: &str, equipped_to: Option<&str>) -> Connection {
    let at = now();
    Connection {
        id: Uuid::new_v4(),
        user_id,
        gmail_address: address.to_owned(),
        scopes: "openid https://www.googleapis.com/auth/gmail.send".into(),
        access_token: format!("sealed-access-{address}"),
        access_expires_at: at + Duration::hours(1),
        refresh_token: Some(format!("sealed-refresh-{address}")),
        status: ConnectionStatus::Active,
        equipped_to: equipped_to.map(str::to_owned),
        created_at: at,
    }
}

/// A write transaction that reads first. On SQLite it cannot wait for a write lock held by
/// another connection (it fails at once with "database is locked"), so running it right after a
/// call tells whether that call let go of its lock.
async fn read_then_write(db: &Db, round: usize) {
    let user = LegacyUser {
        legacy_id: format!("L{round}"),
        username: format!("legacy-{round}"),
        display_name: "L".into(),
        line: 1,
        mappings: vec![],
    };
    munji::store::legacy::import(db, &[user], now()).await.unwrap();
}

/// How many rows of `table` belong to `user_id`.
async fn rows_of(db: &Db, table: &str, user_id: Uuid) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE user_id = $1");
    on_pool!(db, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_one(pool).await.unwrap())
}

/// What a `SELECT COUNT(*)` counts.
async fn count(db: &Db, sql: &'static str) -> i64 {
    on_pool!(db, pool => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap())
}

/// Delete an account (the store leaves that to the database's cascades).
async fn delete_user(db: &Db, id: Uuid) {
    on_pool!(db, pool => {
        sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(pool).await.unwrap();
    });
}

/// Run statements the store has no function for (a test's setup).
async fn execute(db: &Db, sql: &str) {
    on_pool!(db, pool => {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(pool).await.unwrap();
    });
}
