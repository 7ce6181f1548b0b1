//! Accounts.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Db, Result, identities::NewIdentity, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    /// May use the admin API and pages (docs/admin.md).
    pub is_admin: bool,
    /// Set while the account is disabled: no sign-in, no vending.
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
}

impl User {
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// The columns of [`User`], for `SELECT`s.
pub const COLUMNS: &str = "id, username, display_name, email, created_at, is_admin, disabled_at, disabled_reason";

pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
}

/// The unique constraint a taken username violates.
pub const USERNAME_KEY: &str = "users_username_key";

pub async fn find_by_id(db: &Db, id: Uuid) -> Result<Option<User>> {
    const SQL: &str = const_format::concatcp!("SELECT ", COLUMNS, " FROM users WHERE id = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?))
}

pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<User>> {
    const SQL: &str = const_format::concatcp!("SELECT ", COLUMNS, " FROM users WHERE username = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(username).fetch_optional(pool).await?))
}

/// Make the user an admin or not. `false` if there is no such user.
pub async fn set_admin(db: &Db, id: Uuid, is_admin: bool, now: DateTime<Utc>) -> Result<bool> {
    const SQL: &str = "UPDATE users SET is_admin = $2, updated_at = $3 WHERE id = $1";
    Ok(
        on_pool!(db, pool => sqlx::query(SQL).bind(id).bind(is_admin).bind(now).execute(pool).await?.rows_affected() > 0),
    )
}

/// Disable the user (`Some(reason)`, the reason may be empty) or enable them (`None`). `false`
/// if there is no such user.
pub async fn set_disabled(db: &Db, id: Uuid, disabled: Option<&str>, now: DateTime<Utc>) -> Result<bool> {
    const SQL: &str = "UPDATE users SET disabled_at = $2, disabled_reason = $3, updated_at = $4 WHERE id = $1";
    let at = disabled.map(|_| now);
    Ok(
        on_pool!(db, pool => sqlx::query(SQL).bind(id).bind(at).bind(disabled).bind(now).execute(pool).await?.rows_affected() > 0),
    )
}

/// Whether `username` belongs to an account, or to an account deleted less than
/// `username_quarantine` before `now` (docs/leaving.md).
pub async fn username_taken(db: &Db, username: &str, now: DateTime<Utc>) -> Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM users WHERE username = $1";
    let count: i64 = on_pool!(db, pool => sqlx::query_scalar(SQL).bind(username).fetch_one(pool).await?);
    Ok(count > 0 || super::leaving::is_quarantined(db, username, now).await?)
}

/// Create an account and its first identity in one transaction, at `now`. A taken username, or
/// one quarantined at `now` (docs/leaving.md), fails with `Conflict` on [`USERNAME_KEY`]; an
/// identity someone else registered meanwhile fails with `Conflict` on
/// [`super::identities::PROVIDER_UID_KEY`]. Either way nothing is written.
pub async fn insert_with_identity(
    db: &Db,
    user: NewUser<'_>,
    identity: NewIdentity<'_>,
    now: DateTime<Utc>,
) -> Result<User> {
    const USER: &str = "INSERT INTO users (id, username, display_name, email, created_at, updated_at)
                        VALUES ($1, $2, $3, $4, $5, $5)";
    let id = Uuid::new_v4();
    on_pool!(db, pool => {
        // The write comes first: on SQLite a transaction that reads and then writes fails at
        // once (not after the busy timeout) when another write landed in between.
        let mut tx = pool.begin().await?;
        sqlx::query(USER)
            .bind(id)
            .bind(user.username)
            .bind(user.display_name)
            .bind(user.email)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let quarantined: i64 = sqlx::query_scalar(super::leaving::QUARANTINED)
            .bind(super::leaving::hash(user.username))
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        if quarantined > 0 {
            // Roll back now: a dropped transaction would keep SQLite's write lock until later.
            tx.rollback().await?;
            return Err(super::StoreError::Conflict { constraint: USERNAME_KEY.to_owned() });
        }
        sqlx::query(super::identities::INSERT)
            .bind(Uuid::new_v4())
            .bind(id)
            .bind(identity.provider)
            .bind(identity.uid)
            .bind(identity.email)
            .bind(identity.email_verified)
            .bind(now)
            .bind(identity.logged_in.then_some(now))
            .bind(identity.upstream_token)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(User {
        id,
        username: user.username.to_owned(),
        display_name: user.display_name.to_owned(),
        email: user.email.map(str::to_owned),
        created_at: now,
        is_admin: false,
        disabled_at: None,
        disabled_reason: None,
    })
}

/// What an admin search looks for (docs/admin.md): a username prefix, an e-mail (current or
/// past, any letter case), a provider uid, or a user id; all of them at once, since one string
/// may be any of them.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// Empty: every user.
    pub q: String,
}

/// Where a page of users starts: after this `(created_at, id)`, newest first.
pub type After = (DateTime<Utc>, Uuid);

/// A user as admins list them: with their latest sign-in through any identity.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    #[sqlx(flatten)]
    pub user: User,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// The columns of [`Listed`].
const LISTED: &str = const_format::concatcp!(
    COLUMNS,
    ", (SELECT MAX(i.last_login_at) FROM identities i WHERE i.user_id = users.id) AS last_login_at"
);

/// [`search`] without `q`: `$1`, `$2` the cursor (or NULL, any id), `$3` the limit. Public for
/// `benches/admin_search.rs`, which explains the plans.
///
/// The cursor is a row comparison, not `created_at < $1 OR (created_at = $1 AND id < $2)`:
/// PostgreSQL starts a scan of `users_created_at_id_idx` at a row comparison, where it would
/// read the OR's index from the newest row on and filter (a page deep in a million users read
/// every row before it). SQLite compares row values the same way.
#[doc(hidden)]
pub const SEARCH_ALL: &str = const_format::concatcp!(
    "SELECT ",
    LISTED,
    " FROM users WHERE ($1 IS NULL OR (created_at, id) < ($1, $2))
      ORDER BY created_at DESC, id DESC LIMIT $3"
);

// The username prefix: PostgreSQL matches it with LIKE on a text_pattern_ops index, whatever
// the database's collation; SQLite compares bytes, so the range [q, q + DEL) is exactly the
// (ASCII) names starting with q, and it uses the username index.
//
// Only a page of them can be on the page, so the prefix is a page of its own (after the cursor,
// newest first, at most the limit) before the union: a prefix that matches a hundred thousand
// names then reads `users_created_at_id_idx` from the cursor on until it has a page of matches,
// where joining all of them and sorting took a fifth of a second on a million users
// (docs/operations.md). The planner still takes the username index for a prefix of few names.
const PAGE: &str = " AND ($6 IS NULL OR (created_at, id) < ($6, $7)) ORDER BY created_at DESC, id DESC LIMIT $8";
const POSTGRES_PREFIX: &str = const_format::concatcp!(
    "SELECT id FROM (SELECT id FROM users WHERE username LIKE $1 ESCAPE '!' AND $2 = $2",
    PAGE,
    ") AS prefixed"
);
const SQLITE_PREFIX: &str = const_format::concatcp!(
    "SELECT id FROM (SELECT id FROM users WHERE username >= $1 AND username < $2",
    PAGE,
    ") AS prefixed"
);
const REST: &str = const_format::concatcp!(
    "
        UNION SELECT id FROM users WHERE LOWER(email) = $3
        UNION SELECT user_id FROM identities WHERE LOWER(email) = $3
        UNION SELECT i.user_id FROM identity_emails e JOIN identities i ON i.id = e.identity_id
              WHERE LOWER(e.email) = $3
        UNION SELECT user_id FROM identities WHERE uid = $4
        UNION SELECT id FROM users WHERE id = $5)",
    PAGE
);

/// [`search`] with a `q` on PostgreSQL: `$1` the LIKE pattern ([`postgres_prefix`]), `$2` unused
/// (''), `$3` q in lower case, `$4` q, `$5` q as a user id or NULL, `$6`, `$7` the cursor, `$8` the
/// limit. Public for `benches/admin_search.rs`, which explains the plans.
#[doc(hidden)]
pub const SEARCH_POSTGRES: &str =
    const_format::concatcp!("SELECT ", LISTED, " FROM users WHERE id IN (", POSTGRES_PREFIX, REST);
const SEARCH_SQLITE: &str =
    const_format::concatcp!("SELECT ", LISTED, " FROM users WHERE id IN (", SQLITE_PREFIX, REST);

/// The LIKE pattern of names starting with `q`, `!` escaping the wildcards.
#[doc(hidden)]
pub fn postgres_prefix(q: &str) -> String {
    format!("{}%", q.replace('!', "!!").replace('%', "!%").replace('_', "!_"))
}

/// One user as admins list them.
pub async fn find_listed(db: &Db, id: Uuid) -> Result<Option<Listed>> {
    const SQL: &str = const_format::concatcp!("SELECT ", LISTED, " FROM users WHERE id = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?))
}

/// Users matching `search`, newest first (then by id), after `after`, at most `limit`.
pub async fn search(db: &Db, search: &Search, after: Option<After>, limit: i64) -> Result<Vec<Listed>> {
    let q = search.q.trim();
    let (at, after_id) = (after.map(|a| a.0), after.map(|a| a.1).unwrap_or_default());
    if q.is_empty() {
        return Ok(
            on_pool!(db, pool => sqlx::query_as(SEARCH_ALL).bind(at).bind(after_id).bind(limit).fetch_all(pool).await?),
        );
    }
    let (sql, first, second) = match db {
        Db::Postgres(_) => (SEARCH_POSTGRES, postgres_prefix(q), String::new()),
        Db::Sqlite(_) => (SEARCH_SQLITE, q.to_owned(), format!("{q}\u{7f}")),
    };
    let (email, id) = (q.to_lowercase(), Uuid::parse_str(q).ok());
    Ok(on_pool!(db, pool => sqlx::query_as(sql)
        .bind(&first).bind(&second).bind(&email).bind(q).bind(id).bind(at).bind(after_id).bind(limit)
        .fetch_all(pool)
        .await?))
}
