//! [`AppState`]: what every handler can reach. Cheap to clone (one `Arc`).

use std::sync::Arc;

use crate::{config::Config, ephemeral::Ephemeral, metrics::Metrics, store::Db};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    /// Validated configuration; read-only after start-up.
    pub config: Config,
    /// The durable store.
    pub db: Db,
    /// Short-lived shared state (Redis or the `ephemeral` table).
    pub ephemeral: Ephemeral,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
