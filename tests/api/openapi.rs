//! The committed `openapi/munji.json` is the generated document, and the served one; and it is
//! a valid OpenAPI document by a standard validator, so client generators accept it.
//!
//! The validator is Python's `openapi-spec-validator` (`.ci/run` installs it:
//! `python3 -m pip install openapi-spec-validator`). Set `SKIP_OPENAPI_VALIDATOR=1` to skip that
//! test on a machine without it; nothing skips it silently.

use std::process::Command;

use crate::helpers::{Backend, TestApp};

crate::on_every_backend!(served_openapi_document_equals_the_committed_one);

const COMMITTED: &str = include_str!("../../openapi/munji.json");

#[test]
fn committed_openapi_document_is_up_to_date() {
    let generated = munji::http::api::spec_json();
    assert!(
        generated == COMMITTED,
        "openapi/munji.json is out of date; regenerate it with `cargo run -q -- openapi > openapi/munji.json`"
    );
}

async fn served_openapi_document_equals_the_committed_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = app.get("/api/v1/openapi.json").await;
    assert_eq!(resp.status(), 200);
    let served = resp.text().await.unwrap();
    assert!(served == COMMITTED, "the served document differs from openapi/munji.json");

    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

// The served bytes are the same on every backend (checked above); one validator run is enough.
#[tokio::test]
async fn the_served_document_passes_a_standard_openapi_validator() {
    if std::env::var_os("SKIP_OPENAPI_VALIDATOR").is_some() {
        eprintln!("SKIP_OPENAPI_VALIDATOR is set: OpenAPI validation skipped");
        return;
    }
    let present = Command::new("python3").args(["-c", "import openapi_spec_validator"]).output();
    assert!(
        present.is_ok_and(|out| out.status.success()),
        "the OpenAPI validator is needed: python3 -m pip install openapi-spec-validator \
         (or set SKIP_OPENAPI_VALIDATOR=1)"
    );
    let app = TestApp::spawn(Backend::Sqlite).await;
    let resp = app.get("/api/v1/openapi.json").await;
    assert_eq!(resp.status(), 200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, resp.bytes().await.unwrap()).unwrap();
    let out = Command::new("python3").arg("-m").arg("openapi_spec_validator").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator refuses the served document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
