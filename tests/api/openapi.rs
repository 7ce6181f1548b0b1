//! The committed `openapi/munji.json` is the generated document, and the served one.

use crate::helpers::{Backend, TestApp};

const COMMITTED: &str = include_str!("../../openapi/munji.json");

#[test]
fn committed_openapi_document_is_up_to_date() {
    let generated = munji::http::api::spec_json();
    assert!(
        generated == COMMITTED,
        "openapi/munji.json is out of date; regenerate it with `cargo run -q -- openapi > openapi/munji.json`"
    );
}

#[tokio::test]
async fn served_openapi_document_equals_the_committed_one() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let resp = app.get("/api/v1/openapi.json").await;
    assert_eq!(resp.status(), 200);
    let served = resp.text().await.unwrap();
    assert!(served == COMMITTED, "the served document differs from openapi/munji.json");

    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
}
