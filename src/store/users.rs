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
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
}

/// The unique constraint a taken username violates.
pub const USERNAME_KEY: &str = "users_username_key";

pub async fn find_by_id(db: &Db, id: Uuid) -> Result<Option<User>> {
    const SQL: &str = "SELECT id, username, display_name, email, created_at FROM users WHERE id = $1";
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?))
}

pub async fn username_taken(db: &Db, username: &str) -> Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM users WHERE username = $1";
    let count: i64 = on_pool!(db, pool => sqlx::query_scalar(SQL).bind(username).fetch_one(pool).await?);
    Ok(count > 0)
}

/// Create an account and its first identity in one transaction. A taken username fails with
/// `Conflict` on [`USERNAME_KEY`]; an identity someone else registered meanwhile fails with
/// `Conflict` on [`super::identities::PROVIDER_UID_KEY`]. Either way nothing is written.
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
        let mut tx = pool.begin().await?;
        sqlx::query(USER)
            .bind(id)
            .bind(user.username)
            .bind(user.display_name)
            .bind(user.email)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(super::identities::INSERT)
            .bind(Uuid::new_v4())
            .bind(id)
            .bind(identity.provider)
            .bind(identity.uid)
            .bind(identity.email)
            .bind(identity.email_verified)
            .bind(now)
            .bind(identity.logged_in.then_some(now))
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
    })
}
