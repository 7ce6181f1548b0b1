//! Operations endpoints: `/healthz` (the process answers), `/readyz` (the stores answer),
//! `/metrics` (Prometheus).

use std::time::Duration;

use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{Data, Json},
};
use serde_json::json;

use crate::state::AppState;

/// How long `/readyz` waits for each store.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// 200 while the process can answer at all; touches no store.
#[handler]
pub fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when the database and the ephemeral store both answer, else 503 naming the one that
/// failed. Each check is bounded, and nothing is cached: a store that comes back is seen at once.
#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    let (db, ephemeral) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, state.db.ping()),
        state.ephemeral.ping(), // bounded by the ephemeral store itself
    );
    let db = match db {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    };
    let ephemeral = ephemeral.map_err(|e| e.to_string());
    let check = |name: &str, result: &Result<(), String>| match result {
        Ok(()) => json!({"name": name, "status": "ok"}),
        Err(error) => {
            tracing::warn!(check = name, error = %error, "readiness check failed");
            json!({"name": name, "status": "failed"})
        }
    };
    let failed: Vec<&str> = [("database", &db), ("ephemeral_store", &ephemeral)]
        .into_iter()
        .filter(|(_, r)| r.is_err())
        .map(|(name, _)| name)
        .collect();
    let body = json!({
        "status": if failed.is_empty() { "ready" } else { "not ready" },
        "failed": failed,
        "checks": {
            "database": check(state.db.backend_name(), &db),
            "ephemeral_store": check(state.ephemeral.kind(), &ephemeral),
        },
    });
    let status = if failed.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

/// The Prometheus text exposition format.
#[handler]
pub fn metrics(state: Data<&AppState>) -> Response {
    match state.metrics.render() {
        Ok(text) => text.with_content_type("text/plain; version=0.0.4").into_response(),
        Err(e) => {
            tracing::error!(error.message = %e, "rendering metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
