//! Gmail connections (docs/gmail.md): at most one connection per user and target; equipping
//! moves a target, and a refused equip changes nothing; refreshes and re-seals only apply to the
//! grant they read.

use std::sync::Arc;

use chrono::Duration;
use munji::store::{
    Db,
    gmail::{self, Connection, ConnectionStatus, Refreshed},
};
use uuid::Uuid;

use crate::{gmail_connection, now, user};

on_every_durable_backend!(
    connections_round_trip_and_are_found_per_user,
    equipping_moves_the_target_to_the_connection,
    a_refused_equip_changes_nothing,
    concurrent_equips_of_one_target_leave_one_equipped,
    a_refresh_applies_only_to_the_grant_it_used,
    reauth_reseal_renew_and_delete,
);

/// Where each of the user's connections is equipped, oldest first.
async fn targets(db: &Db, user_id: Uuid) -> Vec<Option<String>> {
    gmail::list_for_user(db, user_id).await.unwrap().into_iter().map(|c| c.equipped_to).collect()
}

async fn connections_round_trip_and_are_found_per_user(db: Db) {
    let (alice, bob) = (user(&db, "alice").await, user(&db, "bob").await);
    let mut second = gmail_connection(alice, "Second@Gmail.com", None);
    second.created_at += Duration::seconds(1);
    second.refresh_token = None;
    second.status = ConnectionStatus::NeedsReauth;
    let first = gmail_connection(alice, "first@gmail.com", Some("bot-1"));
    gmail::insert(&db, &second).await.unwrap();
    gmail::insert(&db, &first).await.unwrap();
    gmail::insert(&db, &gmail_connection(bob, "second@gmail.com", Some("bot-1"))).await.unwrap();

    let listed = gmail::list_for_user(&db, alice).await.unwrap();
    assert_eq!(listed.iter().map(|c| c.id).collect::<Vec<_>>(), [first.id, second.id], "oldest first");
    let read = &listed[1];
    assert_eq!(
        (read.gmail_address.as_str(), read.scopes.as_str(), read.access_token.as_str(), read.access_expires_at),
        (second.gmail_address.as_str(), second.scopes.as_str(), second.access_token.as_str(), second.access_expires_at)
    );
    assert_eq!(
        (read.refresh_token.as_deref(), read.status, read.created_at),
        (None, ConnectionStatus::NeedsReauth, second.created_at)
    );
    assert_eq!(read.scope_list().collect::<Vec<_>>(), ["openid", "https://www.googleapis.com/auth/gmail.send"]);
    assert_eq!(gmail::list_all(&db).await.unwrap().len(), 3);

    assert!(gmail::find_for_user(&db, alice, first.id).await.unwrap().is_some());
    assert!(gmail::find_for_user(&db, bob, first.id).await.unwrap().is_none(), "another user's connection");
    assert_eq!(gmail::find(&db, first.id).await.unwrap().unwrap().user_id, alice);
    assert_eq!(gmail::find_equipped(&db, alice, "bot-1").await.unwrap().unwrap().id, first.id);
    assert!(gmail::find_equipped(&db, alice, "bot-2").await.unwrap().is_none());
    assert!(gmail::find_equipped(&db, alice, "BOT-1").await.unwrap().is_none(), "targets are exact");
    let by_address = gmail::find_by_address(&db, alice, "second@GMAIL.com").await.unwrap().unwrap();
    assert_eq!(by_address.id, second.id, "addresses ignore case");
    assert!(gmail::find_by_address(&db, alice, "third@gmail.com").await.unwrap().is_none());

    let twice = gmail_connection(alice, "third@gmail.com", Some("bot-1"));
    let err = gmail::insert(&db, &twice).await.unwrap_err();
    assert!(err.on_constraint("gmail_connections_user_id_equipped_to_key"), "{err:?}");
}

async fn equipping_moves_the_target_to_the_connection(db: Db) {
    let alice = user(&db, "alice").await;
    let (a, mut b) =
        (gmail_connection(alice, "a@gmail.com", Some("bot-1")), gmail_connection(alice, "b@gmail.com", Some("bot-2")));
    b.created_at += Duration::seconds(1);
    gmail::insert(&db, &a).await.unwrap();
    gmail::insert(&db, &b).await.unwrap();
    assert!(gmail::equip(&db, alice, b.id, "bot-1", now()).await.unwrap());
    assert_eq!(targets(&db, alice).await, [None, Some("bot-1".into())], "bot-1 moved; b left bot-2");
    assert!(gmail::equip(&db, alice, b.id, "bot-1", now()).await.unwrap(), "equipping again is no change");
    assert!(gmail::equip(&db, alice, a.id, "bot-2", now()).await.unwrap());
    assert_eq!(targets(&db, alice).await, [Some("bot-2".into()), Some("bot-1".into())]);
    assert!(gmail::unequip(&db, alice, a.id, now()).await.unwrap());
    assert_eq!(targets(&db, alice).await, [None, Some("bot-1".into())]);
    assert!(gmail::unequip(&db, alice, a.id, now()).await.unwrap(), "unequipping an unequipped one of the user's");
}

async fn a_refused_equip_changes_nothing(db: Db) {
    let (alice, bob) = (user(&db, "alice").await, user(&db, "bob").await);
    let held = gmail_connection(alice, "a@gmail.com", Some("bot-1"));
    let bobs = gmail_connection(bob, "b@gmail.com", None);
    gmail::insert(&db, &held).await.unwrap();
    gmail::insert(&db, &bobs).await.unwrap();
    // Another user's connection, and one that is gone (deleted after the caller read it).
    for refused in [bobs.id, Uuid::new_v4()] {
        assert!(!gmail::equip(&db, alice, refused, "bot-1", now()).await.unwrap());
        assert_eq!(targets(&db, alice).await, [Some("bot-1".into())], "the target stays where it was");
    }
    assert_eq!(targets(&db, bob).await, [None]);
    assert!(!gmail::unequip(&db, alice, bobs.id, now()).await.unwrap());
}

async fn concurrent_equips_of_one_target_leave_one_equipped(db: Db) {
    let alice = user(&db, "alice").await;
    let mut ids = vec![];
    for i in 0..8 {
        let c = gmail_connection(alice, &format!("{i}@gmail.com"), None);
        gmail::insert(&db, &c).await.unwrap();
        ids.push(c.id);
    }
    let db = Arc::new(db);
    let equips: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let db = db.clone();
            tokio::spawn(async move { gmail::equip(&db, alice, id, "bot-1", now()).await.unwrap() })
        })
        .collect();
    for equip in equips {
        assert!(equip.await.unwrap(), "each equip wins in its turn");
    }
    let equipped = targets(&db, alice).await.into_iter().flatten().collect::<Vec<_>>();
    assert_eq!(equipped, ["bot-1"]);
}

async fn a_refresh_applies_only_to_the_grant_it_used(db: Db) {
    let alice = user(&db, "alice").await;
    let c = gmail_connection(alice, "a@gmail.com", None);
    gmail::insert(&db, &c).await.unwrap();
    let seen = c.refresh_token.as_deref();
    let expires = now() + Duration::hours(2);
    let refreshed =
        Refreshed { access_token: "new-access", access_expires_at: expires, refresh_token: None, scopes: None };
    assert!(!gmail::store_refreshed(&db, c.id, Some("an older grant"), &refreshed, now()).await.unwrap());
    assert!(!gmail::store_refreshed(&db, c.id, None, &refreshed, now()).await.unwrap(), "NULL is not the grant");
    assert!(gmail::store_refreshed(&db, c.id, seen, &refreshed, now()).await.unwrap());
    let read = gmail::find(&db, c.id).await.unwrap().unwrap();
    assert_eq!((read.access_token.as_str(), read.access_expires_at), ("new-access", expires));
    assert_eq!((read.refresh_token.as_deref(), read.scopes.as_str()), (seen, c.scopes.as_str()), "kept when not sent");

    let rotated = Refreshed { refresh_token: Some("new-refresh"), scopes: Some("openid"), ..refreshed };
    assert!(gmail::store_refreshed(&db, c.id, seen, &rotated, now()).await.unwrap());
    let read = gmail::find(&db, c.id).await.unwrap().unwrap();
    assert_eq!((read.refresh_token.as_deref(), read.scopes.as_str()), (Some("new-refresh"), "openid"));
    assert!(!gmail::store_refreshed(&db, c.id, seen, &rotated, now()).await.unwrap(), "the old grant is gone");

    let mut without = gmail_connection(alice, "b@gmail.com", None);
    without.refresh_token = None;
    gmail::insert(&db, &without).await.unwrap();
    assert!(gmail::store_refreshed(&db, without.id, None, &refreshed, now()).await.unwrap(), "NULL matches NULL");
}

async fn reauth_reseal_renew_and_delete(db: Db) {
    let (alice, bob) = (user(&db, "alice").await, user(&db, "bob").await);
    let c = gmail_connection(alice, "a@gmail.com", Some("bot-1"));
    gmail::insert(&db, &c).await.unwrap();
    let seen = c.refresh_token.as_deref();
    assert!(!gmail::mark_needs_reauth(&db, c.id, Some("another grant"), now()).await.unwrap());
    assert!(gmail::mark_needs_reauth(&db, c.id, seen, now()).await.unwrap());
    assert_eq!(gmail::find(&db, c.id).await.unwrap().unwrap().status, ConnectionStatus::NeedsReauth);
    let refreshed = Refreshed { access_token: "new", access_expires_at: now(), refresh_token: None, scopes: None };
    assert!(!gmail::store_refreshed(&db, c.id, seen, &refreshed, now()).await.unwrap(), "only active ones");

    assert!(!gmail::reseal(&db, c.id, "not what was read", "x", None, now()).await.unwrap());
    assert!(
        gmail::reseal(&db, c.id, &c.access_token, "resealed-access", Some("resealed-refresh"), now()).await.unwrap()
    );
    let read = gmail::find(&db, c.id).await.unwrap().unwrap();
    assert_eq!(
        (read.access_token.as_str(), read.refresh_token.as_deref()),
        ("resealed-access", Some("resealed-refresh"))
    );

    let renewed = Connection {
        gmail_address: "A@gmail.com".into(),
        status: ConnectionStatus::Active,
        equipped_to: None,
        ..gmail_connection(alice, "a@gmail.com", None)
    };
    let renewed = Connection { id: c.id, ..renewed };
    assert!(!gmail::renew(&db, &Connection { user_id: bob, ..renewed.clone() }, now()).await.unwrap());
    assert!(gmail::renew(&db, &renewed, now()).await.unwrap());
    let read = gmail::find(&db, c.id).await.unwrap().unwrap();
    assert_eq!(
        (read.gmail_address.as_str(), read.status, read.equipped_to),
        ("A@gmail.com", ConnectionStatus::Active, None)
    );
    assert_eq!(read.created_at, c.created_at, "a reconnect keeps the connection's age");

    assert!(!gmail::delete(&db, bob, c.id).await.unwrap());
    assert!(gmail::delete(&db, alice, c.id).await.unwrap());
    assert!(!gmail::delete(&db, alice, c.id).await.unwrap());
    assert!(gmail::find(&db, c.id).await.unwrap().is_none());
}
