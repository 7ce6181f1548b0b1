//! Legacy mappings: users imported from an e-mail-keyed system, and their identities waiting
//! (uid NULL) for the first login to pin the uid (docs/legacy.md).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Db, Result, StoreError, identities::Identity, on_pool};

/// A user to import, with the line of the file (or row of the database) it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyUser {
    /// The id the user had in the old system; importing it again changes nothing.
    pub legacy_id: String,
    pub username: String,
    pub display_name: String,
    pub line: usize,
    pub mappings: Vec<LegacyMapping>,
}

/// One (provider, e-mail) of a legacy user, with the uid when the old system knew it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyMapping {
    pub provider: String,
    pub email: String,
    pub uid: Option<String>,
    pub line: usize,
}

/// What an import did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportCounts {
    pub users_created: u64,
    pub users_existing: u64,
    pub mappings_created: u64,
    pub mappings_existing: u64,
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("line {line}: {message}")]
    Row { line: usize, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

fn row(line: usize, message: String) -> ImportError {
    ImportError::Row { line, message }
}

/// Import `users` in one transaction: all of them or, at the first conflict, none. Users found
/// by `legacy_id` and mappings already present are left as they are, so a second run of the
/// same input changes nothing.
///
/// Every mapping dealt with is recorded (`legacy_imports`), and a recorded one is never made
/// again: once claimed, a mapping stays retired even after its identity is unlinked, so the old
/// e-mail cannot claim the account a second time.
pub async fn import(db: &Db, users: &[LegacyUser], now: DateTime<Utc>) -> Result<ImportCounts, ImportError> {
    const USER_BY_LEGACY_ID: &str = "SELECT id, username FROM users WHERE legacy_id = $1";
    const USERNAME_OWNER: &str = "SELECT COUNT(*) FROM users WHERE username = $1";
    const INSERT_USER: &str = "INSERT INTO users (id, username, display_name, email, created_at, updated_at, legacy_id)
                               VALUES ($1, $2, $3, $4, $5, $5, $6)";
    const UID_OWNER: &str = "SELECT user_id FROM identities WHERE provider = $1 AND uid = $2";
    // A user who already has an identity of this provider (claimed or waiting) gets no new
    // e-mail mapping: after a claim (whose e-mail may have changed since), the old address must
    // not become claimable. After an unlink the record of imports (below) says so.
    const SAME_MAPPING: &str = "SELECT COUNT(*) FROM identities WHERE user_id = $1 AND provider = $2
                                AND (lower(email) = lower($3) OR uid IS NOT NULL)";
    const INSERT_MAPPING: &str = "INSERT INTO identities (id, user_id, provider, uid, email, email_verified, linked_at)
                                  VALUES ($1, $2, $3, $4, $5, FALSE, $6)";
    // What a mapping matches on: $3 is `uid` or `email`, $4 the value (an e-mail in lower case,
    // as the sign-in lookup compares it). `email:*` retires every e-mail of the provider (the
    // migration's record of a claim whose identity was gone before imports were recorded).
    const MATCHES_ON: &str = "$3 || ':' || CASE WHEN $3 = 'email' THEN lower($4) ELSE $4 END";
    const RECORDED: &str = const_format::concatcp!(
        "SELECT COUNT(*) FROM legacy_imports WHERE user_id = $1 AND provider = $2
         AND (matches_on = ",
        MATCHES_ON,
        " OR ($3 = 'email' AND matches_on = 'email:*'))"
    );
    const RECORD: &str = const_format::concatcp!(
        "INSERT INTO legacy_imports (user_id, provider, matches_on, imported_at) VALUES ($1, $2, ",
        MATCHES_ON,
        ", $5) ON CONFLICT DO NOTHING"
    );
    let mut counts = ImportCounts::default();
    on_pool!(db, pool => {
        // Each refusal below rolls back before it returns: a dropped transaction would roll back
        // later, in the background, and keep SQLite's write lock until then.
        let mut tx = pool.begin().await?;
        for user in users {
            let existing: Option<(Uuid, String)> =
                sqlx::query_as(USER_BY_LEGACY_ID).bind(&user.legacy_id).fetch_optional(&mut *tx).await?;
            let user_id = match existing {
                Some((_, username)) if username != user.username => {
                    tx.rollback().await?;
                    return Err(row(user.line, format!(
                        "legacy user {:?} was imported before with username {username:?}, not {:?}",
                        user.legacy_id, user.username
                    )));
                }
                Some((id, _)) => {
                    counts.users_existing += 1;
                    id
                }
                None => {
                    let taken: i64 = sqlx::query_scalar(USERNAME_OWNER).bind(&user.username).fetch_one(&mut *tx).await?;
                    if taken > 0 {
                        tx.rollback().await?;
                        return Err(row(user.line, format!("username {:?} belongs to another account", user.username)));
                    }
                    let id = Uuid::new_v4();
                    let email = user.mappings.first().map(|m| m.email.as_str());
                    sqlx::query(INSERT_USER)
                        .bind(id).bind(&user.username).bind(&user.display_name).bind(email).bind(now).bind(&user.legacy_id)
                        .execute(&mut *tx)
                        .await?;
                    counts.users_created += 1;
                    id
                }
            };
            for mapping in &user.mappings {
                let (on, value) = match &mapping.uid {
                    Some(uid) => ("uid", uid),
                    None => ("email", &mapping.email),
                };
                let recorded: i64 = sqlx::query_scalar(RECORDED)
                    .bind(user_id).bind(&mapping.provider).bind(on).bind(value)
                    .fetch_one(&mut *tx)
                    .await?;
                if recorded > 0 {
                    counts.mappings_existing += 1;
                    continue;
                }
                let present = match &mapping.uid {
                    Some(uid) => {
                        let owner: Option<Uuid> =
                            sqlx::query_scalar(UID_OWNER).bind(&mapping.provider).bind(uid).fetch_optional(&mut *tx).await?;
                        match owner {
                            Some(owner) if owner != user_id => {
                                tx.rollback().await?;
                                return Err(row(mapping.line, format!(
                                    "{} uid {uid:?} already belongs to another account", mapping.provider
                                )));
                            }
                            owner => owner.is_some(),
                        }
                    }
                    None => {
                        let same: i64 = sqlx::query_scalar(SAME_MAPPING)
                            .bind(user_id).bind(&mapping.provider).bind(&mapping.email)
                            .fetch_one(&mut *tx)
                            .await?;
                        same > 0
                    }
                };
                sqlx::query(RECORD)
                    .bind(user_id).bind(&mapping.provider).bind(on).bind(value).bind(now)
                    .execute(&mut *tx)
                    .await?;
                if present {
                    counts.mappings_existing += 1;
                    continue;
                }
                sqlx::query(INSERT_MAPPING)
                    .bind(Uuid::new_v4()).bind(user_id).bind(&mapping.provider).bind(&mapping.uid).bind(&mapping.email).bind(now)
                    .execute(&mut *tx)
                    .await?;
                counts.mappings_created += 1;
            }
        }
        tx.commit().await?;
    });
    Ok(counts)
}

/// Identities of `provider` waiting for their uid whose e-mail equals `email` ignoring case.
/// At most two are returned: two already mean "ambiguous".
pub async fn find_candidates(db: &Db, provider: &str, email: &str) -> Result<Vec<Identity>> {
    const SQL: &str = const_format::concatcp!(
        "SELECT ",
        super::identities::COLUMNS,
        " FROM identities WHERE provider = $1 AND uid IS NULL AND lower(email) = lower($2)
          ORDER BY linked_at, id LIMIT 2"
    );
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).bind(provider).bind(email).fetch_all(pool).await?))
}

/// Pin `uid` on a waiting identity and record the sign-in. The update only applies while the
/// uid is still empty, so of any number of concurrent sign-ins exactly one pins it; the others
/// get `false` (as does a uid that another identity already has).
pub async fn pin_uid(
    db: &Db,
    identity_id: Uuid,
    uid: &str,
    email: &str,
    email_verified: bool,
    now: DateTime<Utc>,
) -> Result<bool> {
    const SQL: &str = "UPDATE identities SET uid = $2, email = $3, email_verified = $4, last_login_at = $5
                       WHERE id = $1 AND uid IS NULL";
    let result = on_pool!(db, pool => {
        sqlx::query(SQL).bind(identity_id).bind(uid).bind(email).bind(email_verified).bind(now).execute(pool).await
            .map(|r| r.rows_affected())
    });
    match result {
        Ok(rows) => Ok(rows == 1),
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict { .. } => Ok(false),
            other => Err(other),
        },
    }
}

/// How many identities of each provider still wait for their uid, by provider name.
pub async fn pending_by_provider(db: &Db) -> Result<Vec<(String, i64)>> {
    const SQL: &str = "SELECT provider, COUNT(*) FROM identities WHERE uid IS NULL GROUP BY provider ORDER BY provider";
    Ok(on_pool!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?))
}
