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
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict { constraint: db.constraint().unwrap_or_default().to_owned() }
            }
            _ => Self::Backend(e),
        }
    }
}

impl StoreError {
    /// Whether this is a violation of the named unique constraint (PostgreSQL reports its name;
    /// SQLite reports none, so there any unique violation matches).
    pub fn on_constraint(&self, name: &str) -> bool {
        matches!(self, Self::Conflict { constraint } if constraint.is_empty() || constraint == name)
    }

    /// Whether the store could not be reached (as opposed to refusing the request).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Backend(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed))
    }
}
