//! The durable store's one error type.

/// What can go wrong in the durable store. Callers give meaning to `Conflict` (a unique
/// constraint) through [`StoreError::on_constraint`]; everything else is an opaque failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("unique constraint {constraint} violated")]
    Conflict { constraint: String },
    #[error("{0}")]
    Config(String),
    #[error("database error")]
    Backend(#[source] sqlx::Error),
    #[error("migration error")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict {
                constraint: match db.constraint() {
                    Some(name) => name.to_owned(),
                    None => sqlite_constraint_name(db.message(), db.code().as_deref() == Some(SQLITE_PRIMARY_KEY)),
                },
            },
            _ => Self::Backend(e),
        }
    }
}

impl StoreError {
    /// Whether this is a violation of the named unique constraint.
    pub fn on_constraint(&self, name: &str) -> bool {
        matches!(self, Self::Conflict { constraint } if constraint == name)
    }

    /// Whether the store could not be reached (as opposed to refusing the request).
    /// A lost or refused connection counts too: SQLSTATE class 08, 57P01–03 (shutdown), 55000
    /// ("database does not allow connections"), 53300 (too many connections).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Backend(
                sqlx::Error::PoolTimedOut
                | sqlx::Error::Io(_)
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::Protocol(_)
                | sqlx::Error::Tls(_),
            ) => true,
            Self::Backend(sqlx::Error::Database(db)) => db.code().is_some_and(|code| {
                code.starts_with("08") || code.starts_with("57P") || code == "55000" || code == "53300"
            }),
            _ => false,
        }
    }
}

/// SQLite's extended result code for a violated primary key (SQLITE_CONSTRAINT_PRIMARYKEY).
const SQLITE_PRIMARY_KEY: &str = "1555";

/// SQLite names no constraint, only its columns: "UNIQUE constraint failed: users.username".
/// Rebuild the name PostgreSQL would give it: `{table}_pkey` for a primary key, otherwise
/// `{table}_{columns}_key`, which is the name every unique constraint in `migrations/` has.
fn sqlite_constraint_name(message: &str, primary_key: bool) -> String {
    let Some(columns) = message.strip_prefix("UNIQUE constraint failed: ") else {
        return String::new();
    };
    let mut table = "";
    let mut names = Vec::new();
    for column in columns.split(", ") {
        if let Some((t, c)) = column.split_once('.') {
            table = t;
            names.push(c);
        }
    }
    if primary_key { format!("{table}_pkey") } else { format!("{table}_{}_key", names.join("_")) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_messages_give_the_postgres_constraint_name() {
        assert_eq!(
            super::sqlite_constraint_name("UNIQUE constraint failed: users.username", false),
            "users_username_key"
        );
        assert_eq!(
            super::sqlite_constraint_name("UNIQUE constraint failed: identities.provider, identities.uid", false),
            "identities_provider_uid_key"
        );
        assert_eq!(super::sqlite_constraint_name("UNIQUE constraint failed: clients.id", true), "clients_pkey");
        assert_eq!(super::sqlite_constraint_name("something else", false), "");
    }
}
