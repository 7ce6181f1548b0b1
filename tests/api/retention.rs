//! Audit events are kept for `audit_retention` (default 400 days), then purged in the background.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use munji::store::audit;
use serde_json::json;

use crate::helpers::{Backend, TestApp};

crate::on_every_backend!(audit_events_older_than_the_retention_are_purged_in_the_background);

/// The `detail.n` of the unowned `login_refused` events, newest first.
async fn kept(app: &TestApp) -> Vec<i64> {
    let rows = audit::list_unowned(&app.state.db, "login_refused", 100).await.unwrap();
    rows.iter().map(|r| r.detail.0["n"].as_i64().unwrap()).collect()
}

/// Wait (up to ten seconds) until the events are `expected`.
async fn until_kept(app: &TestApp, expected: &[i64]) {
    for _ in 0..100 {
        if kept(app).await == expected {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert_eq!(kept(app).await, expected);
}

async fn audit_events_older_than_the_retention_are_purged_in_the_background(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = Utc::now();
    for (n, age) in [(1, Duration::days(401)), (2, Duration::days(399)), (3, Duration::hours(2)), (4, Duration::zero())]
    {
        audit::insert(&app.state.db, None, "login_refused", &json!({"n": n}), now - age).await.unwrap();
    }

    // An instance with the default retention (400 days) purges as it starts.
    let default = app.sibling(&[]).await;
    until_kept(&app, &[4, 3, 2]).await;
    drop(default);

    // A shorter retention, from the configuration.
    let short = app.sibling(&[("MUNJI_AUDIT_RETENTION", "1h")]).await;
    until_kept(&app, &[4]).await;
    drop(short);

    assert_eq!(audit::purge_older_than(&app.state.db, now + Duration::seconds(1)).await.unwrap(), 1);
    assert!(kept(&app).await.is_empty());
}
