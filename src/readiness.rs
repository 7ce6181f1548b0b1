//! Whether the database and the ephemeral store answer (`/readyz`). A check's result is kept for
//! a second: however often probes and load balancers ask, each instance asks the stores at most
//! once a second, and anyone may ask without loading them.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::{ephemeral::Ephemeral, store::Db};

/// How long the check waits for the database (the ephemeral store bounds its own calls).
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a check's result is given again before the stores are asked anew.
pub const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// What one check found; an error says why a store did not answer.
#[derive(Debug, Clone)]
pub struct Report {
    pub database: Result<(), String>,
    pub ephemeral_store: Result<(), String>,
}

impl Report {
    pub fn ready(&self) -> bool {
        self.database.is_ok() && self.ephemeral_store.is_ok()
    }
}

/// The last check's result and when it was made.
#[derive(Default)]
pub struct Readiness {
    last: Mutex<Option<(Instant, Report)>>,
}

impl Readiness {
    /// The last result while it is under [`RECHECK_AFTER`] old, else a new check's. Callers that
    /// arrive during a check wait for its result instead of starting another.
    pub async fn check(&self, db: &Db, ephemeral: &Ephemeral) -> Report {
        let mut last = self.last.lock().await;
        if let Some((at, report)) = last.as_ref()
            && at.elapsed() < RECHECK_AFTER
        {
            return report.clone();
        }
        let report = check_now(db, ephemeral).await;
        *last = Some((Instant::now(), report.clone()));
        report
    }
}

async fn check_now(db: &Db, ephemeral: &Ephemeral) -> Report {
    let (database, ephemeral_store) = tokio::join!(tokio::time::timeout(CHECK_TIMEOUT, db.ping()), ephemeral.ping());
    let database = match database {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    };
    let report = Report { database, ephemeral_store: ephemeral_store.map_err(|e| e.to_string()) };
    for (check, result) in [("database", &report.database), ("ephemeral_store", &report.ephemeral_store)] {
        if let Err(error) = result {
            tracing::warn!(check, error = %error, "readiness check failed");
        }
    }
    report
}
