//! Back-channel logout bookkeeping (docs/logout.md): which clients got tokens under which
//! session, the outbox written when a session ends or an app is removed, and claiming due
//! deliveries one instance at a time; consents (docs/consent.md).

use chrono::Duration;
use munji::store::{
    Db,
    backchannel::{self, OutboxRow},
    consents, sessions,
};

use crate::{now, user};

on_every_durable_backend!(
    ending_a_session_queues_a_logout_for_the_listening_clients_only,
    removing_an_app_queues_a_logout_for_each_of_its_sessions,
    a_due_row_is_claimed_by_one_caller_until_its_claim_runs_out,
    a_retry_waits_until_its_time_and_a_removed_row_is_gone,
    consents_are_remembered_per_user_and_client_and_forgotten,
);

async fn ending_a_session_queues_a_logout_for_the_listening_clients_only(db: Db) {
    let user_id = user(&db, "alice").await;
    let at = now();
    for (sid, client) in [("s1", "web"), ("s1", "web"), ("s1", "quiet"), ("s2", "web")] {
        backchannel::record_client(&db, sid, client, user_id, at).await.unwrap();
    }
    let queued = sessions::delete(&db, &["s1".to_owned()], |client| client == "web", at).await.unwrap();
    assert_eq!(queued, 1, "one row per session and listening client");
    let rows = backchannel::claim_due(&db, at, at + Duration::seconds(30), 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].sid.as_str(), rows[0].client_id.as_str(), rows[0].user_id), ("s1", "web", user_id));
    assert_eq!(rows[0].attempts, 0);
    // The session's clients are forgotten: ending it again queues nothing; s2 is untouched.
    assert_eq!(sessions::delete(&db, &["s1".to_owned()], |_| true, at).await.unwrap(), 0);
    assert_eq!(sessions::delete(&db, &["s2".to_owned()], |_| true, at).await.unwrap(), 1);
}

async fn removing_an_app_queues_a_logout_for_each_of_its_sessions(db: Db) {
    let (alice, bob) = (user(&db, "alice").await, user(&db, "bob").await);
    let at = now();
    for (sid, client, user_id) in
        [("a1", "app", alice), ("a2", "app", alice), ("a1", "other", alice), ("b1", "app", bob)]
    {
        backchannel::record_client(&db, sid, client, user_id, at).await.unwrap();
    }
    let mut taken = backchannel::forget_client_of_user(&db, alice, "app", true, at).await.unwrap();
    taken.sort_by(|a, b| a.sid.cmp(&b.sid));
    assert_eq!(taken.iter().map(|t| t.sid.as_str()).collect::<Vec<_>>(), ["a1", "a2"]);
    assert_eq!(backchannel::pending(&db).await.unwrap(), 2);
    // Without a back-channel URI the notes go and nothing is queued.
    assert_eq!(backchannel::forget_client_of_user(&db, alice, "other", false, at).await.unwrap().len(), 1);
    assert_eq!(backchannel::pending(&db).await.unwrap(), 2);
    // Bob's session is his own.
    assert_eq!(sessions::delete(&db, &["b1".to_owned()], |_| true, at).await.unwrap(), 1);
}

async fn queued_row(db: &Db) -> chrono::DateTime<chrono::Utc> {
    let user_id = user(db, "carol").await;
    let at = now();
    backchannel::record_client(db, "s", "web", user_id, at).await.unwrap();
    sessions::delete(db, &["s".to_owned()], |_| true, at).await.unwrap();
    at
}

async fn a_due_row_is_claimed_by_one_caller_until_its_claim_runs_out(db: Db) {
    let at = queued_row(&db).await;
    let until = at + Duration::seconds(30);
    let claims = futures_claims(&db, at, until).await;
    assert_eq!(claims.iter().map(Vec::len).sum::<usize>(), 1, "eight concurrent claimers, one row, one winner");
    assert!(backchannel::claim_due(&db, at + Duration::seconds(29), until, 10).await.unwrap().is_empty());
    let again = backchannel::claim_due(&db, until, until + Duration::seconds(30), 10).await.unwrap();
    assert_eq!(again.len(), 1, "a claim that ran out can be taken by another instance");
}

/// Eight claims at once, on separate connections.
async fn futures_claims(
    db: &Db,
    at: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
) -> Vec<Vec<OutboxRow>> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let db = db.clone();
        set.spawn(async move { backchannel::claim_due(&db, at, until, 10).await.unwrap() });
    }
    set.join_all().await
}

async fn a_retry_waits_until_its_time_and_a_removed_row_is_gone(db: Db) {
    let at = queued_row(&db).await;
    let row = backchannel::claim_due(&db, at, at + Duration::seconds(30), 10).await.unwrap().remove(0);
    let next = at + Duration::seconds(10);
    backchannel::retry_at(&db, row.id, 1, next).await.unwrap();
    assert!(backchannel::claim_due(&db, at + Duration::seconds(9), next, 10).await.unwrap().is_empty(), "not yet");
    let retried = backchannel::claim_due(&db, next, next + Duration::seconds(30), 10).await.unwrap();
    assert_eq!((retried.len(), retried[0].attempts, &retried[0].jti), (1, 1, &row.jti), "the same jti");
    backchannel::remove(&db, row.id).await.unwrap();
    assert_eq!(backchannel::pending(&db).await.unwrap(), 0);
}

async fn consents_are_remembered_per_user_and_client_and_forgotten(db: Db) {
    let (alice, bob) = (user(&db, "alice").await, user(&db, "bob").await);
    let at = now();
    assert!(consents::find(&db, alice, "third").await.unwrap().is_none());
    consents::save(&db, alice, "third", &["openid".to_owned()], at).await.unwrap();
    consents::save(&db, alice, "third", &["openid".to_owned(), "email".to_owned()], at + Duration::hours(1))
        .await
        .unwrap();
    let found = consents::find(&db, alice, "third").await.unwrap().unwrap();
    assert_eq!(found.scopes, ["openid", "email"]);
    assert_eq!(found.granted_at, at, "first granted when first allowed");
    assert!(consents::find(&db, bob, "third").await.unwrap().is_none());
    assert_eq!(consents::list_for_user(&db, alice).await.unwrap().len(), 1);
    assert!(consents::forget(&db, alice, "third").await.unwrap());
    assert!(!consents::forget(&db, alice, "third").await.unwrap());
    assert!(consents::list_for_user(&db, alice).await.unwrap().is_empty());
}
