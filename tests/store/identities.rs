//! Identities: one per (provider, uid), listed oldest first, e-mail changes kept as history, and
//! a user's last way to sign in is never unlinked.

use std::sync::Arc;

use chrono::Duration;
use munji::{
    store::{
        Db,
        identities::{self, LastIdentity, NewIdentity, PROVIDER_UID_KEY, Unlinked},
        legacy::{self, LegacyMapping, LegacyUser},
    },
    upstream::Provider,
};
use uuid::Uuid;

use crate::{now, read_then_write, user};

on_every_durable_backend!(
    one_identity_per_provider_and_uid,
    a_user_lists_identities_oldest_link_first,
    a_login_keeps_replaced_emails_as_history,
    unlink_keeps_the_last_way_to_sign_in,
    concurrent_unlinks_never_remove_the_last_two,
    a_refused_unlink_holds_no_lock_afterwards,
    any_well_formed_provider_name_is_stored,
);

fn identity(provider: Provider, uid: &str) -> NewIdentity<'_> {
    NewIdentity {
        provider,
        uid,
        email: Some("a@example.com"),
        email_verified: false,
        logged_in: false,
        upstream_token: None,
    }
}

async fn one_identity_per_provider_and_uid(db: Db) {
    let (alice, bob) = (user(&db, "alice").await, user(&db, "bob").await);
    let kakao = identity(Provider::Kakao, "k-1");
    identities::insert_for_user(&db, alice, &kakao, now()).await.unwrap();
    for owner in [alice, bob] {
        let err = identities::insert_for_user(&db, owner, &kakao, now()).await.unwrap_err();
        assert!(err.on_constraint(PROVIDER_UID_KEY), "{err:?}");
    }
    identities::insert_for_user(&db, bob, &identity(Provider::Naver, "k-1"), now()).await.unwrap();
    let found = identities::find_by_provider_uid(&db, Provider::Kakao, "k-1").await.unwrap().unwrap();
    assert_eq!(found.user_id, alice);
    assert!(identities::find_by_provider_uid(&db, Provider::Google, "k-1").await.unwrap().is_none());
    assert!(identities::find_by_provider_uid(&db, Provider::Kakao, "K-1").await.unwrap().is_none(), "uids are exact");
}

async fn a_user_lists_identities_oldest_link_first(db: Db) {
    let alice = user(&db, "alice").await;
    let later = now() + Duration::seconds(10);
    let kakao = identities::insert_for_user(&db, alice, &identity(Provider::Kakao, "k"), later).await.unwrap();
    let naver = identities::insert_for_user(&db, alice, &identity(Provider::Naver, "n"), later - Duration::seconds(5))
        .await
        .unwrap();
    let listed: Vec<_> = identities::list_for_user(&db, alice).await.unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(listed[1..], [naver, kakao]);
    assert_eq!(listed.len(), 3);
    assert!(identities::list_for_user(&db, Uuid::new_v4()).await.unwrap().is_empty());
}

async fn a_login_keeps_replaced_emails_as_history(db: Db) {
    let alice = user(&db, "alice").await;
    let id = identities::insert_for_user(&db, alice, &identity(Provider::Naver, "n"), now()).await.unwrap();
    let start = now();
    let logins = [Some("a@example.com"), Some("b@example.com"), None, Some("c@example.com")];
    for (seconds, email) in (1..).zip(logins) {
        let current = identities::find_by_provider_uid(&db, Provider::Naver, "n").await.unwrap().unwrap();
        let login = identities::Login { email, email_verified: seconds % 2 == 1, upstream_token: None };
        identities::record_login(&db, &current, &login, start + Duration::seconds(seconds)).await.unwrap();
    }
    let after = identities::find_by_provider_uid(&db, Provider::Naver, "n").await.unwrap().unwrap();
    assert_eq!((after.id, after.email.as_deref(), after.email_verified), (id, Some("c@example.com"), false));
    assert_eq!(after.last_login_at, Some(start + Duration::seconds(4)));
    assert_eq!(
        identities::email_history(&db, id).await.unwrap(),
        ["a@example.com", "b@example.com"],
        "the same e-mail again and a first e-mail after none replace nothing"
    );
}

async fn unlink_keeps_the_last_way_to_sign_in(db: Db) {
    let (alice, bob) = (user(&db, "alice").await, user(&db, "bob").await);
    let google = identities::find_by_provider_uid(&db, Provider::Google, "alice").await.unwrap().unwrap().id;
    assert!(matches!(identities::unlink(&db, alice, google, LastIdentity::Keep, now()).await.unwrap(), Unlinked::Last));
    assert!(
        matches!(identities::unlink(&db, bob, google, LastIdentity::Keep, now()).await.unwrap(), Unlinked::NotFound),
        "another user's identity"
    );

    // A legacy mapping still waiting for its uid is no way to sign in.
    let mapping = |provider: &str, uid: Option<&str>| LegacyMapping {
        provider: provider.into(),
        email: "l@example.com".into(),
        uid: uid.map(Into::into),
        line: 1,
    };
    let imported = LegacyUser {
        legacy_id: "L1".into(),
        username: "legacy".into(),
        display_name: "L".into(),
        line: 1,
        mappings: vec![mapping("kakao", Some("k-1")), mapping("naver", None)],
    };
    legacy::import(&db, &[imported], now()).await.unwrap();
    let kakao = identities::find_by_provider_uid(&db, Provider::Kakao, "k-1").await.unwrap().unwrap();
    assert!(matches!(
        identities::unlink(&db, kakao.user_id, kakao.id, LastIdentity::Keep, now()).await.unwrap(),
        Unlinked::Last
    ));

    let naver = identities::insert_for_user(&db, alice, &identity(Provider::Naver, "n"), now()).await.unwrap();
    identities::record_login(
        &db,
        &identities::find_by_provider_uid(&db, Provider::Naver, "n").await.unwrap().unwrap(),
        &identities::Login { email: Some("b@example.com"), email_verified: true, upstream_token: None },
        now(),
    )
    .await
    .unwrap();
    match identities::unlink(&db, alice, naver, LastIdentity::Keep, now()).await.unwrap() {
        Unlinked::Removed(removed) => assert_eq!((removed.id, removed.provider), (naver, Provider::Naver)),
        other => panic!("{other:?}"),
    }
    assert!(identities::email_history(&db, naver).await.unwrap().is_empty(), "its history goes with it");
    assert!(matches!(
        identities::unlink(&db, alice, naver, LastIdentity::Keep, now()).await.unwrap(),
        Unlinked::NotFound
    ));
    assert_eq!(identities::list_for_user(&db, alice).await.unwrap().len(), 1, "google is left");
}

async fn concurrent_unlinks_never_remove_the_last_two(db: Db) {
    let db = Arc::new(db);
    for round in 0..5 {
        let alice = user(&db, &format!("alice-{round}")).await;
        let uid = format!("n-{round}");
        identities::insert_for_user(&db, alice, &identity(Provider::Naver, &uid), now()).await.unwrap();
        let ids: Vec<Uuid> = identities::list_for_user(&db, alice).await.unwrap().iter().map(|i| i.id).collect();
        let unlinks: Vec<_> = ids
            .into_iter()
            .map(|id| {
                let db = db.clone();
                tokio::spawn(
                    async move { identities::unlink(&db, alice, id, LastIdentity::Keep, now()).await.unwrap() },
                )
            })
            .collect();
        let mut removed = 0;
        for unlink in unlinks {
            removed += usize::from(matches!(unlink.await.unwrap(), Unlinked::Removed(_)));
        }
        assert_eq!(removed, 1, "round {round}");
        assert_eq!(identities::list_for_user(&db, alice).await.unwrap().len(), 1);
    }
}

async fn a_refused_unlink_holds_no_lock_afterwards(db: Db) {
    let alice = user(&db, "alice").await;
    let google = identities::list_for_user(&db, alice).await.unwrap()[0].id;
    for round in 0..30 {
        let refused = if round % 2 == 0 { google } else { Uuid::new_v4() };
        assert!(!matches!(
            identities::unlink(&db, alice, refused, LastIdentity::Keep, now()).await.unwrap(),
            Unlinked::Removed(_)
        ));
        read_then_write(&db, round).await;
    }
}

/// Apple and configured OpenID Connect providers are stored by name; the column refuses a name
/// of any other shape.
async fn any_well_formed_provider_name_is_stored(db: Db) {
    let alice = user(&db, "alice").await;
    let line = Provider::intern("line-jp").unwrap();
    for provider in [Provider::Apple, line] {
        identities::insert_for_user(&db, alice, &identity(provider, "u-1"), now()).await.unwrap();
        let found = identities::find_by_provider_uid(&db, provider, "u-1").await.unwrap().unwrap();
        assert_eq!((found.user_id, found.provider), (alice, provider));
    }
    let listed: Vec<_> = identities::list_for_user(&db, alice).await.unwrap().into_iter().map(|i| i.provider).collect();
    assert!(listed.contains(&line) && listed.contains(&Provider::Apple), "{listed:?}");
    for bad in ["Line", "line_jp", "a b"] {
        let sql = format!(
            "INSERT INTO identities (id, user_id, provider, uid, email_verified, linked_at) \
             SELECT id, user_id, '{bad}', 'x', FALSE, linked_at FROM identities LIMIT 1"
        );
        let refused = on_pool!(&db, pool => sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(pool).await.is_err());
        assert!(refused, "{bad:?} was stored");
    }
}
