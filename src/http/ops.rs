//! Operations endpoints: `/healthz` (the process answers), `/readyz` (the stores answer),
//! `/metrics` (Prometheus).

use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{Data, Json},
};
use serde_json::json;

use crate::state::AppState;

/// 200 while the process can answer at all; touches no store.
#[handler]
pub fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when the database and the ephemeral store both answer, else 503 naming the one that
/// failed. The stores are asked at most once a second ([`crate::readiness`]); in between, the
/// last check's answer is given again, so a store that goes down or comes back is seen within
/// a second.
#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    let report = state.readiness.check(&state.db, &state.ephemeral).await;
    let check = |name: &str, result: &Result<(), String>| json!({"name": name, "status": if result.is_ok() { "ok" } else { "failed" }});
    let failed: Vec<&str> = [("database", &report.database), ("ephemeral_store", &report.ephemeral_store)]
        .into_iter()
        .filter(|(_, r)| r.is_err())
        .map(|(name, _)| name)
        .collect();
    let body = json!({
        "status": if report.ready() { "ready" } else { "not ready" },
        "failed": failed,
        "checks": {
            "database": check(state.db.backend_name(), &report.database),
            "ephemeral_store": check(state.ephemeral.kind(), &report.ephemeral_store),
        },
    });
    let status = if report.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
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
