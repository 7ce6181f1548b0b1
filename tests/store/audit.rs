//! The audit log: a user's events newest first, filtered by kind prefix; unowned events by kind;
//! purged by age.

use chrono::Duration;
use munji::store::{Db, audit};
use serde_json::json;

use crate::{now, user};

on_every_durable_backend!(
    a_users_events_are_listed_newest_first_up_to_the_limit,
    a_prefix_selects_kinds_that_start_with_it,
    unowned_events_are_listed_by_kind,
    purging_deletes_only_older_events,
);

fn kinds(rows: Vec<audit::AuditRow>) -> Vec<String> {
    rows.into_iter().map(|r| r.kind).collect()
}

async fn a_users_events_are_listed_newest_first_up_to_the_limit(db: Db) {
    let (alice, bob) = (user(&db, "alice").await, user(&db, "bob").await);
    let start = now();
    for (i, kind) in ["login", "link", "gmail_equip", "logout"].into_iter().enumerate() {
        let detail = json!({"n": i, "nested": {"ok": true}, "text": "é"});
        audit::insert(&db, Some(alice), kind, &detail, start + Duration::seconds(i as i64)).await.unwrap();
    }
    audit::insert(&db, Some(bob), "login", &json!({}), start).await.unwrap();
    audit::insert(&db, None, "login_refused", &json!({}), start).await.unwrap();

    let rows = audit::list_for_user(&db, alice, 10).await.unwrap();
    assert_eq!(kinds(rows.clone()), ["logout", "gmail_equip", "link", "login"]);
    assert_eq!(rows[0].detail.0, json!({"n": 3, "nested": {"ok": true}, "text": "é"}));
    assert_eq!(rows[0].at, start + Duration::seconds(3));
    assert_eq!(kinds(audit::list_for_user(&db, alice, 2).await.unwrap()), ["logout", "gmail_equip"]);
    assert_eq!(kinds(audit::list_for_user(&db, bob, 10).await.unwrap()), ["login"]);
}

async fn a_prefix_selects_kinds_that_start_with_it(db: Db) {
    let alice = user(&db, "alice").await;
    let start = now();
    for (i, kind) in ["gmail_equip", "gmailx", "gmail_vend", "login", "xgmail_", "gmail%"].into_iter().enumerate() {
        audit::insert(&db, Some(alice), kind, &json!({}), start + Duration::seconds(i as i64)).await.unwrap();
    }
    let with = |prefix: &'static str| {
        let db = db.clone();
        async move { kinds(audit::list_for_user_with_prefix(&db, alice, prefix, 10).await.unwrap()) }
    };
    assert_eq!(with("gmail_").await, ["gmail_vend", "gmail_equip"], "_ is no wildcard");
    assert_eq!(with("gmail%").await, ["gmail%"], "% is no wildcard");
    assert_eq!(with("GMAIL_").await, Vec::<String>::new(), "kinds are exact");
    assert_eq!(with("").await.len(), 6);
}

async fn unowned_events_are_listed_by_kind(db: Db) {
    let alice = user(&db, "alice").await;
    let start = now();
    for i in 0..3 {
        audit::insert(&db, None, "login_refused", &json!({"i": i}), start + Duration::seconds(i)).await.unwrap();
    }
    audit::insert(&db, None, "other", &json!({}), start).await.unwrap();
    audit::insert(&db, Some(alice), "login_refused", &json!({}), start).await.unwrap();
    let rows = audit::list_unowned(&db, "login_refused", 2).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.detail.0.clone()).collect::<Vec<_>>(), [json!({"i": 2}), json!({"i": 1})]);
    assert_eq!(audit::list_unowned(&db, "login_refused", 10).await.unwrap().len(), 3, "not the user's");
}

async fn purging_deletes_only_older_events(db: Db) {
    let alice = user(&db, "alice").await;
    let cutoff = now();
    for offset in [-3, -2, -1, 0, 1] {
        audit::insert(&db, Some(alice), &format!("at{offset}"), &json!({}), cutoff + Duration::seconds(offset))
            .await
            .unwrap();
    }
    audit::insert(&db, None, "unowned", &json!({}), cutoff - Duration::days(400)).await.unwrap();
    assert_eq!(audit::purge_older_than(&db, cutoff).await.unwrap(), 4);
    assert_eq!(kinds(audit::list_for_user(&db, alice, 10).await.unwrap()), ["at1", "at0"]);
    assert!(audit::list_unowned(&db, "unowned", 10).await.unwrap().is_empty());
    assert_eq!(audit::purge_older_than(&db, cutoff).await.unwrap(), 0);
}
