//! `/healthz`, `/readyz`, `/metrics`, request ids, the `/api/v1` error envelope, body limits.

use serde_json::Value;

use crate::helpers::{Backend, TestApp};

crate::on_every_backend!(
    healthz_and_readyz_answer_200_with_both_stores_up,
    metrics_count_requests_by_route_pattern_and_status,
    metrics_label_requests_no_route_matched_as_unmatched,
    every_response_carries_a_request_id_and_a_well_formed_one_is_echoed,
    unknown_api_routes_answer_the_error_envelope,
    oversized_bodies_are_refused_with_413,
);

async fn healthz_and_readyz_answer_200_with_both_stores_up(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let health = app.get_healthz().await;
    assert_eq!(health.status(), 200);

    let ready = app.get_readyz().await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["failed"], serde_json::json!([]));
    let (database, ephemeral) = match backend {
        Backend::Sqlite => ("sqlite", "database table"),
        Backend::Postgres => ("postgresql", "database table"),
        Backend::PostgresRedis => ("postgresql", "redis"),
    };
    assert_eq!(body["checks"]["database"]["name"], database);
    assert_eq!(body["checks"]["ephemeral_store"]["name"], ephemeral);
}

async fn metrics_count_requests_by_route_pattern_and_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..3 {
        app.get_healthz().await;
    }
    app.get("/api/v1/does-not-exist").await;

    let metrics = app.get_metrics().await;
    assert!(
        metrics.contains(r#"munji_http_requests_total{method="GET",route="/healthz",status="200"} 3"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"munji_http_requests_total{method="GET",route="unmatched",status="404"} 1"#));
    assert!(
        metrics.contains(r#"munji_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 3"#)
    );
}

// Paths no route matches: the pages' 404 and a path under a nested service
// (docs/operations.md#health-readiness-and-metrics).
async fn metrics_label_requests_no_route_matched_as_unmatched(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.get("/nowhere").await.status(), 404);
    assert_eq!(app.get("/docs/nowhere/at/all").await.status(), 404);

    let metrics = app.get_metrics().await;
    assert!(
        metrics.contains(r#"munji_http_requests_total{method="GET",route="unmatched",status="404"} 2"#),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"route="""#) && !metrics.contains(r#"route="/docs""#), "{metrics}");
}

async fn every_response_carries_a_request_id_and_a_well_formed_one_is_echoed(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let fresh = app.get_healthz().await;
    let id = fresh.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    let echoed = app.client.get(app.url("/readyz")).header("X-Request-Id", "trace-42.a_b").send().await.unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-42.a_b");

    let replaced = app.client.get(app.url("/healthz")).header("X-Request-Id", "bad id <script>").send().await.unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "bad id <script>");

    let missing = app.get("/nowhere").await;
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().contains_key("x-request-id"));
}

async fn unknown_api_routes_answer_the_error_envelope(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let resp = app.client.get(app.url("/api/v1/nothing-here")).header("X-Request-Id", "req-404").send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    assert_eq!(body["error"]["request_id"], "req-404");
    assert!(body["error"]["message"].as_str().unwrap().contains("/api/v1/nothing-here"));
}

async fn oversized_bodies_are_refused_with_413(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let big = vec![b'a'; munji::http::MAX_BODY_BYTES + 1];

    // Declared in Content-Length.
    let declared = app.client.post(app.url("/api/v1/anything")).body(big.clone()).send().await.unwrap();
    assert_eq!(declared.status(), 413);
    let body: Value = declared.json().await.unwrap();
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");

    // Streamed without a length (chunked).
    let chunks =
        futures_util::stream::iter(big.chunks(4096).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
    let streamed = app.client.post(app.url("/healthz")).body(reqwest::Body::wrap_stream(chunks)).send().await.unwrap();
    assert_eq!(streamed.status(), 413);

    // A body under the limit is fine.
    let small = app.client.get(app.url("/healthz")).body("x".repeat(100)).send().await.unwrap();
    assert_eq!(small.status(), 200);
}

/// A page route's refusal is counted under its pattern, not as unmatched.
#[tokio::test]
async fn a_refused_page_is_counted_under_its_route() {
    let app = crate::helpers::TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    assert_eq!(app.get("/login/facebook").await.status(), 404);
    let metrics = app.get_metrics().await;
    assert!(
        metrics.lines().any(|l| l.starts_with("munji_http_requests_total")
            && l.contains(r#"route="/login/:provider""#)
            && l.contains(r#"status="404""#)),
        "{metrics}"
    );
}
