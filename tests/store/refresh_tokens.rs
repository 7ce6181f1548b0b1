//! Refresh tokens (docs/tokens.md): rotation leaves one live head per family, a replay after the
//! grace window revokes the family, and only live tokens are found live.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use munji::store::{
    Db,
    refresh_tokens::{self, NewRefresh, Successor, Use},
};
use uuid::Uuid;

use crate::{now, read_then_write, user};

on_every_durable_backend!(
    a_token_is_found_live_until_it_expires,
    token_hashes_are_unique,
    presenting_a_live_token_rotates_it_to_the_successor,
    a_token_presented_by_another_client_is_left_as_it_was,
    a_rotated_token_within_the_grace_window_gets_the_same_successor,
    a_replay_after_the_grace_window_revokes_only_its_family,
    revoked_expired_and_unknown_tokens_do_not_rotate,
    concurrent_presentations_rotate_once,
    purging_deletes_tokens_that_expired_before_the_cutoff,
    an_unknown_token_holds_no_lock_afterwards,
);

const GRACE: Duration = Duration::seconds(30);

/// A token of a new family, for `user_id` under session `sid`.
fn token<'a>(hash: &'a str, user_id: Uuid, sid: &'a str, expires_at: DateTime<Utc>) -> NewRefresh<'a> {
    NewRefresh {
        token_hash: hash,
        family_id: Uuid::new_v4(),
        client_id: "app",
        user_id,
        sid,
        scope: "openid offline_access",
        auth_time: 1_700_000_000,
        expires_at,
    }
}

/// Present `hash` as client `app`, with `successor` (also its own sealed text) as the successor.
async fn present(db: &Db, hash: &str, successor: &str, at: DateTime<Utc>) -> Use {
    let next = Successor { token_hash: successor, sealed: successor.as_bytes() };
    refresh_tokens::present(db, hash, "app", &next, GRACE, at).await.unwrap()
}

async fn a_token_is_found_live_until_it_expires(db: Db) {
    let alice = user(&db, "alice").await;
    let at = now();
    // Sub-second expiries: SQLite compares the stored times as text.
    let expires = at + Duration::milliseconds(1500);
    refresh_tokens::insert(&db, &token("rt", alice, "s1", expires), at).await.unwrap();
    let live = refresh_tokens::find_live(&db, "rt", at).await.unwrap().unwrap();
    assert_eq!((live.user_id, live.sid.as_str(), live.client_id.as_str()), (alice, "s1", "app"));
    assert_eq!(
        (live.scope.as_str(), live.auth_time, live.expires_at),
        ("openid offline_access", 1_700_000_000, expires)
    );
    assert_eq!((live.rotated_at, live.revoked_at, live.successor_sealed), (None, None, None));
    for still in [at + Duration::seconds(1), expires - Duration::microseconds(1)] {
        assert!(refresh_tokens::find_live(&db, "rt", still).await.unwrap().is_some(), "live at {still}");
    }
    for after in [expires, expires + Duration::microseconds(1), at + Duration::seconds(2)] {
        assert!(refresh_tokens::find_live(&db, "rt", after).await.unwrap().is_none(), "expired at {after}");
    }
    assert!(refresh_tokens::find(&db, "rt").await.unwrap().is_some(), "find sees it in any state");
    assert!(refresh_tokens::find_live(&db, "other", at).await.unwrap().is_none());
    assert_eq!(refresh_tokens::live_heads(&db, live.family_id, at).await.unwrap(), 1);
    assert_eq!(refresh_tokens::live_heads(&db, live.family_id, expires).await.unwrap(), 0);
}

async fn token_hashes_are_unique(db: Db) {
    let alice = user(&db, "alice").await;
    let at = now();
    refresh_tokens::insert(&db, &token("rt", alice, "s1", at + GRACE), at).await.unwrap();
    let err = refresh_tokens::insert(&db, &token("rt", alice, "s2", at + GRACE), at).await.unwrap_err();
    assert!(err.on_constraint("refresh_tokens_token_hash_key"), "{err:?}");
}

async fn presenting_a_live_token_rotates_it_to_the_successor(db: Db) {
    let alice = user(&db, "alice").await;
    let at = now();
    let expires = at + Duration::days(30);
    refresh_tokens::insert(&db, &token("rt1", alice, "s1", expires), at).await.unwrap();
    let later = at + Duration::minutes(5);
    let Use::Rotated(old) = present(&db, "rt1", "rt2", later).await else { panic!("not rotated") };
    assert_eq!(old.rotated_at, None, "the row as it was presented");
    let rotated = refresh_tokens::find(&db, "rt1").await.unwrap().unwrap();
    assert_eq!((rotated.rotated_at, rotated.successor_sealed.as_deref()), (Some(later), Some(&b"rt2"[..])));
    assert!(refresh_tokens::find_live(&db, "rt1", later).await.unwrap().is_none(), "a rotated token is not live");
    let next = refresh_tokens::find_live(&db, "rt2", later).await.unwrap().unwrap();
    assert_eq!(
        (next.family_id, next.sid.as_str(), next.scope.as_str(), next.auth_time, next.expires_at),
        (old.family_id, "s1", old.scope.as_str(), old.auth_time, expires),
        "the successor inherits the family, session, scope and expiry, not what was passed in"
    );
    assert_eq!(refresh_tokens::live_heads(&db, old.family_id, later).await.unwrap(), 1);
}

async fn a_token_presented_by_another_client_is_left_as_it_was(db: Db) {
    let alice = user(&db, "alice").await;
    let at = now();
    refresh_tokens::insert(&db, &token("rt1", alice, "s1", at + Duration::days(1)), at).await.unwrap();
    let next = Successor { token_hash: "rt2", sealed: b"rt2" };
    let used = refresh_tokens::present(&db, "rt1", "other-app", &next, GRACE, at).await.unwrap();
    assert!(matches!(used, Use::OtherClient));
    assert!(refresh_tokens::find_live(&db, "rt1", at).await.unwrap().is_some(), "still live");
    assert!(refresh_tokens::find(&db, "rt2").await.unwrap().is_none(), "no successor");
    assert!(matches!(present(&db, "rt1", "rt2", at).await, Use::Rotated(_)), "its own client rotates it");
}

async fn a_rotated_token_within_the_grace_window_gets_the_same_successor(db: Db) {
    let alice = user(&db, "alice").await;
    let at = now();
    refresh_tokens::insert(&db, &token("rt1", alice, "s1", at + Duration::days(1)), at).await.unwrap();
    assert!(matches!(present(&db, "rt1", "rt2", at).await, Use::Rotated(_)));
    for within in [at + Duration::seconds(1), at + GRACE] {
        match present(&db, "rt1", "rt3", within).await {
            Use::Grace(row, sealed) => assert_eq!((row.rotated_at, sealed), (Some(at), b"rt2".to_vec())),
            _ => panic!("not within the grace window at {within}"),
        }
    }
    assert!(refresh_tokens::find(&db, "rt3").await.unwrap().is_none(), "no second successor");
    let family = refresh_tokens::find(&db, "rt1").await.unwrap().unwrap().family_id;
    assert_eq!(refresh_tokens::live_heads(&db, family, at).await.unwrap(), 1);
}

async fn a_replay_after_the_grace_window_revokes_only_its_family(db: Db) {
    let alice = user(&db, "alice").await;
    let at = now();
    let expires = at + Duration::days(1);
    refresh_tokens::insert(&db, &token("rt1", alice, "s1", expires), at).await.unwrap();
    refresh_tokens::insert(&db, &token("other", alice, "s1", expires), at).await.unwrap();
    assert!(matches!(present(&db, "rt1", "rt2", at).await, Use::Rotated(_)));
    let replay = at + GRACE + Duration::microseconds(1);
    let Use::Replayed(row) = present(&db, "rt1", "rt3", replay).await else { panic!("not a replay") };
    for hash in ["rt1", "rt2"] {
        assert_eq!(refresh_tokens::find(&db, hash).await.unwrap().unwrap().revoked_at, Some(replay), "{hash}");
    }
    assert_eq!(refresh_tokens::live_heads(&db, row.family_id, replay).await.unwrap(), 0);
    assert!(refresh_tokens::find_live(&db, "other", replay).await.unwrap().is_some(), "another family");
    assert!(matches!(present(&db, "rt2", "rt4", replay).await, Use::Dead(_)), "the successor is dead too");
}

async fn revoked_expired_and_unknown_tokens_do_not_rotate(db: Db) {
    let alice = user(&db, "alice").await;
    let at = now();
    refresh_tokens::insert(&db, &token("expiring", alice, "s1", at + Duration::seconds(1)), at).await.unwrap();
    refresh_tokens::insert(&db, &token("revoked", alice, "s2", at + Duration::days(1)), at).await.unwrap();
    munji::store::sessions::delete(&db, &["s2".to_owned()], |_| false, at).await.unwrap();
    assert!(matches!(present(&db, "expiring", "n1", at + Duration::seconds(1)).await, Use::Dead(_)));
    assert!(matches!(present(&db, "revoked", "n2", at).await, Use::Dead(_)));
    assert!(matches!(present(&db, "unknown", "n3", at).await, Use::Unknown));
    for successor in ["n1", "n2", "n3"] {
        assert!(refresh_tokens::find(&db, successor).await.unwrap().is_none(), "{successor} was not stored");
    }
}

async fn concurrent_presentations_rotate_once(db: Db) {
    let alice = user(&db, "alice").await;
    let at = now();
    refresh_tokens::insert(&db, &token("rt", alice, "s1", at + Duration::days(1)), at).await.unwrap();
    let db = Arc::new(db);
    let presentations: Vec<_> = (0..20)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move { present(&db, "rt", &format!("next-{i}"), at).await })
        })
        .collect();
    let (mut rotated, mut grace) = (0, 0);
    for presentation in presentations {
        match presentation.await.unwrap() {
            Use::Rotated(_) => rotated += 1,
            Use::Grace(..) => grace += 1,
            _ => panic!("neither rotated nor within the grace window"),
        }
    }
    assert_eq!((rotated, grace), (1, 19));
    let family = refresh_tokens::find(&db, "rt").await.unwrap().unwrap().family_id;
    assert_eq!(refresh_tokens::live_heads(&db, family, at).await.unwrap(), 1);
}

async fn purging_deletes_tokens_that_expired_before_the_cutoff(db: Db) {
    let alice = user(&db, "alice").await;
    let cutoff = now();
    for (hash, offset) in [("old", -2_000), ("older", -90_000_000), ("edge", 0), ("new", 1)] {
        let expires = cutoff + Duration::milliseconds(offset);
        refresh_tokens::insert(&db, &token(hash, alice, "s", expires), cutoff - Duration::days(100)).await.unwrap();
    }
    assert_eq!(refresh_tokens::purge_expired(&db, cutoff).await.unwrap(), 2);
    for (hash, kept) in [("old", false), ("older", false), ("edge", true), ("new", true)] {
        assert_eq!(refresh_tokens::find(&db, hash).await.unwrap().is_some(), kept, "{hash}");
    }
}

async fn an_unknown_token_holds_no_lock_afterwards(db: Db) {
    for round in 0..30 {
        assert!(matches!(present(&db, "unknown", "next", now()).await, Use::Unknown));
        read_then_write(&db, round).await;
    }
}
