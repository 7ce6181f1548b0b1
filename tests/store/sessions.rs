//! Browser sessions (docs/sessions.md): found by cookie hash while unexpired, listed newest
//! first, and deleted together with the revocation of their refresh tokens.

use chrono::{DateTime, Duration, Utc};
use munji::store::{
    Db, StoreError,
    refresh_tokens::{self, NewRefresh},
    sessions::{self, SessionRow},
};
use uuid::Uuid;

use crate::{execute, now, user};

on_every_durable_backend!(
    a_session_is_found_by_its_cookie_hash_until_it_expires,
    cookie_hashes_are_unique,
    a_users_sessions_are_listed_newest_first,
    sids_of_a_user_include_sessions_of_live_refresh_tokens,
    deleting_sessions_revokes_their_refresh_tokens,
    deleting_sessions_is_all_or_nothing,
    touch_and_purge,
);

fn session(sid: &str, user_id: Uuid, started_at: DateTime<Utc>, expires_at: DateTime<Utc>) -> SessionRow {
    SessionRow {
        sid: sid.to_owned(),
        user_id,
        auth_time: started_at.timestamp(),
        started_at,
        last_seen_at: started_at,
        expires_at,
        user_agent: Some("Firefox".into()),
        ip: Some("192.0.2.1".into()),
    }
}

async fn refresh(db: &Db, hash: &str, user_id: Uuid, sid: &str, expires_at: DateTime<Utc>) {
    let new = NewRefresh {
        token_hash: hash,
        family_id: Uuid::new_v4(),
        client_id: "app",
        user_id,
        sid,
        scope: "openid",
        auth_time: 0,
        expires_at,
    };
    refresh_tokens::insert(db, &new, now()).await.unwrap();
}

fn sids(rows: Vec<SessionRow>) -> Vec<String> {
    rows.into_iter().map(|r| r.sid).collect()
}

async fn a_session_is_found_by_its_cookie_hash_until_it_expires(db: Db) {
    let alice = user(&db, "alice").await;
    let at = now();
    let row = SessionRow { user_agent: None, ip: None, ..session("s1", alice, at, at + Duration::milliseconds(1500)) };
    sessions::insert(&db, &row, "hash-1").await.unwrap();
    assert_eq!(sessions::find_by_cookie(&db, "hash-1", at).await.unwrap(), Some(row.clone()));
    let full = session("s2", alice, at, at + Duration::hours(1));
    sessions::insert(&db, &full, "hash-2").await.unwrap();
    assert_eq!(sessions::find_by_cookie(&db, "hash-2", at).await.unwrap(), Some(full));
    assert_eq!(
        sessions::find_by_cookie(&db, "hash-1", row.expires_at - Duration::microseconds(1)).await.unwrap(),
        Some(row.clone())
    );
    for after in [row.expires_at, at + Duration::seconds(2)] {
        assert_eq!(sessions::find_by_cookie(&db, "hash-1", after).await.unwrap(), None, "expired at {after}");
    }
    assert_eq!(sessions::find_by_cookie(&db, "s1", at).await.unwrap(), None, "by the hash, not the sid");
}

async fn cookie_hashes_are_unique(db: Db) {
    let alice = user(&db, "alice").await;
    let at = now();
    sessions::insert(&db, &session("s1", alice, at, at + Duration::hours(1)), "hash").await.unwrap();
    let err = sessions::insert(&db, &session("s2", alice, at, at + Duration::hours(1)), "hash").await.unwrap_err();
    assert!(err.on_constraint("sessions_cookie_hash_key"), "{err:?}");
    let err = sessions::insert(&db, &session("s1", alice, at, at + Duration::hours(1)), "other").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "one row per sid: {err:?}");
}

async fn a_users_sessions_are_listed_newest_first(db: Db) {
    let (alice, bob) = (user(&db, "alice").await, user(&db, "bob").await);
    let at = now();
    let day = at + Duration::days(1);
    for (sid, started, expires) in [
        ("old", at - Duration::hours(2), day),
        ("new", at, day),
        ("tie-b", at - Duration::hours(1), day),
        ("tie-a", at - Duration::hours(1), day),
        ("expired", at + Duration::hours(1), at),
    ] {
        sessions::insert(&db, &session(sid, alice, started, expires), &format!("hash-{sid}")).await.unwrap();
    }
    sessions::insert(&db, &session("bobs", bob, at, day), "hash-bob").await.unwrap();
    assert_eq!(sids(sessions::list_for_user(&db, alice, at).await.unwrap()), ["new", "tie-a", "tie-b", "old"]);
    assert_eq!(sids(sessions::list_for_user(&db, bob, at).await.unwrap()), ["bobs"]);
}

async fn sids_of_a_user_include_sessions_of_live_refresh_tokens(db: Db) {
    let (alice, bob) = (user(&db, "alice").await, user(&db, "bob").await);
    let at = now();
    let later = at + Duration::days(1);
    sessions::insert(&db, &session("browser", alice, at, later), "h1").await.unwrap();
    refresh(&db, "rt-browser", alice, "browser", later).await;
    refresh(&db, "rt-outlived", alice, "outlived", later).await;
    refresh(&db, "rt-expired", alice, "expired", at).await;
    refresh(&db, "rt-revoked", alice, "revoked", later).await;
    sessions::delete(&db, &["revoked".to_owned()], |_| false, at).await.unwrap();
    refresh(&db, "rt-bob", bob, "bobs", later).await;
    let mut found = sessions::sids_of_user(&db, alice, at).await.unwrap();
    found.sort();
    assert_eq!(found, ["browser", "outlived"]);
}

async fn deleting_sessions_revokes_their_refresh_tokens(db: Db) {
    let alice = user(&db, "alice").await;
    let at = now();
    let later = at + Duration::days(1);
    for sid in ["s1", "s2", "s3"] {
        sessions::insert(&db, &session(sid, alice, at, later), &format!("h-{sid}")).await.unwrap();
        refresh(&db, &format!("rt-{sid}"), alice, sid, later).await;
    }
    let earlier = at - Duration::minutes(1);
    sessions::delete(&db, &["s2".to_owned()], |_| false, earlier).await.unwrap();
    sessions::delete(&db, &["s1".to_owned(), "s2".to_owned(), "gone".to_owned()], |_| false, at).await.unwrap();
    assert_eq!(sids(sessions::list_for_user(&db, alice, at).await.unwrap()), ["s3"]);
    let revoked_at = |hash: &'static str| {
        let db = db.clone();
        async move { refresh_tokens::find(&db, hash).await.unwrap().unwrap().revoked_at }
    };
    assert_eq!(revoked_at("rt-s1").await, Some(at));
    assert_eq!(revoked_at("rt-s2").await, Some(earlier), "a revoked token keeps its time");
    assert_eq!(revoked_at("rt-s3").await, None);
    sessions::delete(&db, &[], |_| false, at).await.unwrap();
}

async fn deleting_sessions_is_all_or_nothing(db: Db) {
    let alice = user(&db, "alice").await;
    let at = now();
    let later = at + Duration::days(1);
    for sid in ["s1", "doomed"] {
        sessions::insert(&db, &session(sid, alice, at, later), &format!("h-{sid}")).await.unwrap();
        refresh(&db, &format!("rt-{sid}"), alice, sid, later).await;
    }
    // Revoking the tokens of session "doomed" fails, after s1 was already dealt with.
    execute(
        &db,
        match db {
            Db::Sqlite(_) => {
                "CREATE TRIGGER refuse BEFORE UPDATE ON refresh_tokens WHEN NEW.sid = 'doomed'
                          BEGIN SELECT RAISE(ABORT, 'refused'); END"
            }
            Db::Postgres(_) => {
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
                            $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
                            CREATE TRIGGER refuse BEFORE UPDATE ON refresh_tokens FOR EACH ROW
                            WHEN (NEW.sid = 'doomed') EXECUTE FUNCTION refuse()"
            }
        },
    )
    .await;
    sessions::delete(&db, &["s1".to_owned(), "doomed".to_owned()], |_| false, at).await.unwrap_err();
    assert_eq!(sids(sessions::list_for_user(&db, alice, at).await.unwrap()), ["doomed", "s1"]);
    assert!(refresh_tokens::find_live(&db, "rt-s1", at).await.unwrap().is_some(), "s1's revocation rolled back");
}

async fn touch_and_purge(db: Db) {
    let alice = user(&db, "alice").await;
    let at = now();
    sessions::insert(&db, &session("live", alice, at, at + Duration::hours(1)), "h1").await.unwrap();
    sessions::insert(&db, &session("edge", alice, at, at), "h2").await.unwrap();
    sessions::insert(&db, &session("old", alice, at, at - Duration::milliseconds(1)), "h3").await.unwrap();
    let seen = at + Duration::minutes(2);
    sessions::touch(&db, "live", seen).await.unwrap();
    sessions::touch(&db, "gone", seen).await.unwrap();
    assert_eq!(sessions::find_by_cookie(&db, "h1", at).await.unwrap().unwrap().last_seen_at, seen);
    assert_eq!(sessions::purge_expired(&db, at).await.unwrap(), 1);
    assert_eq!(sessions::purge_expired(&db, at + Duration::microseconds(1)).await.unwrap(), 1, "edge");
    assert_eq!(sids(sessions::list_for_user(&db, alice, at).await.unwrap()), ["live"]);
}
