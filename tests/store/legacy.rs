//! Legacy imports (docs/legacy.md): all or nothing, a second run changes nothing, a claimed
//! mapping stays retired; waiting identities are claimed once.

use std::sync::Arc;

use munji::{
    store::{
        Db,
        identities::{self, LastIdentity, Unlinked},
        legacy::{self, ImportCounts, ImportError, LegacyMapping, LegacyUser},
        users,
    },
    upstream::Provider,
};

use crate::{now, user};

on_every_durable_backend!(
    an_import_creates_users_and_waiting_identities_once,
    an_import_with_a_bad_row_writes_nothing,
    candidates_are_waiting_identities_of_the_provider_by_email,
    a_waiting_identity_is_claimed_once,
    a_claimed_mapping_stays_retired_after_an_unlink,
);

fn mapping(provider: &str, email: &str, uid: Option<&str>) -> LegacyMapping {
    LegacyMapping { provider: provider.into(), email: email.into(), uid: uid.map(Into::into), line: 2 }
}

fn legacy_user(legacy_id: &str, username: &str, mappings: Vec<LegacyMapping>) -> LegacyUser {
    LegacyUser {
        legacy_id: legacy_id.into(),
        username: username.into(),
        display_name: username.into(),
        line: 1,
        mappings,
    }
}

fn counts(users_created: u64, users_existing: u64, mappings_created: u64, mappings_existing: u64) -> ImportCounts {
    ImportCounts { users_created, users_existing, mappings_created, mappings_existing }
}

async fn an_import_creates_users_and_waiting_identities_once(db: Db) {
    let input = [
        legacy_user(
            "1",
            "ann",
            vec![mapping("google", "Ann@Example.com", None), mapping("kakao", "ann@k.example", Some("k-1"))],
        ),
        legacy_user("2", "ben", vec![]),
    ];
    assert_eq!(legacy::import(&db, &input, now()).await.unwrap(), counts(2, 0, 2, 0));
    assert_eq!(legacy::import(&db, &input, now()).await.unwrap(), counts(0, 2, 0, 2), "a second run changes nothing");
    let kakao = identities::find_by_provider_uid(&db, Provider::Kakao, "k-1").await.unwrap().unwrap();
    let ann = users::find_by_id(&db, kakao.user_id).await.unwrap().unwrap();
    assert_eq!((ann.username.as_str(), ann.email.as_deref()), ("ann", Some("Ann@Example.com")));
    assert_eq!(identities::list_for_user(&db, ann.id).await.unwrap().len(), 2);
    assert_eq!(legacy::pending_by_provider(&db).await.unwrap(), [("google".to_owned(), 1)]);

    let more = [legacy_user(
        "1",
        "ann",
        vec![mapping("google", "ann@example.com", None), mapping("naver", "ann@n.example", None)],
    )];
    assert_eq!(
        legacy::import(&db, &more, now()).await.unwrap(),
        counts(0, 1, 1, 1),
        "the e-mail is matched ignoring case"
    );
    assert_eq!(legacy::pending_by_provider(&db).await.unwrap(), [("google".to_owned(), 1), ("naver".to_owned(), 1)]);
}

async fn an_import_with_a_bad_row_writes_nothing(db: Db) {
    user(&db, "taken").await;
    legacy::import(&db, &[legacy_user("1", "ann", vec![mapping("kakao", "a@k.example", Some("k-1"))])], now())
        .await
        .unwrap();
    let good = legacy_user("2", "ben", vec![mapping("google", "ben@example.com", None)]);
    let bad_rows = [
        (legacy_user("3", "taken", vec![]), 1, "belongs to another account"),
        (legacy_user("1", "anna", vec![]), 1, "was imported before with username"),
        (
            legacy_user("4", "cy", vec![mapping("kakao", "c@k.example", Some("k-1"))]),
            2,
            "already belongs to another account",
        ),
    ];
    for (bad, line, message) in bad_rows {
        match legacy::import(&db, &[good.clone(), bad], now()).await {
            Err(ImportError::Row { line: at, message: said }) => {
                assert_eq!(at, line, "{said}");
                assert!(said.contains(message), "{said}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!users::username_taken(&db, "ben", now()).await.unwrap(), "the good row is rolled back too");
    }
    assert_eq!(legacy::pending_by_provider(&db).await.unwrap(), []);
}

async fn candidates_are_waiting_identities_of_the_provider_by_email(db: Db) {
    let input = [
        legacy_user("1", "ann", vec![mapping("google", "Shared@Example.com", None)]),
        legacy_user(
            "2",
            "ben",
            vec![mapping("google", "shared@example.com", None), mapping("naver", "only@example.com", None)],
        ),
        legacy_user("3", "cy", vec![mapping("google", "shared@EXAMPLE.com", None)]),
    ];
    legacy::import(&db, &input, now()).await.unwrap();
    assert_eq!(
        legacy::find_candidates(&db, "google", "SHARED@example.com").await.unwrap().len(),
        2,
        "two mean ambiguous"
    );
    let only = legacy::find_candidates(&db, "naver", "Only@Example.com").await.unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!((only[0].provider, only[0].uid.as_deref()), (Provider::Naver, None));
    assert!(legacy::find_candidates(&db, "kakao", "only@example.com").await.unwrap().is_empty());
    let id = only[0].id;
    assert!(legacy::pin_uid(&db, id, "n-1", "only@example.com", true, now()).await.unwrap());
    assert!(legacy::find_candidates(&db, "naver", "only@example.com").await.unwrap().is_empty(), "claimed");
}

async fn a_waiting_identity_is_claimed_once(db: Db) {
    user(&db, "holder").await;
    let input = [legacy_user(
        "1",
        "ann",
        vec![mapping("google", "a@example.com", None), mapping("naver", "a@example.com", None)],
    )];
    legacy::import(&db, &input, now()).await.unwrap();
    let google = legacy::find_candidates(&db, "google", "a@example.com").await.unwrap()[0].id;
    let naver = legacy::find_candidates(&db, "naver", "a@example.com").await.unwrap()[0].id;
    assert!(!legacy::pin_uid(&db, google, "holder", "a@example.com", true, now()).await.unwrap(), "a uid someone has");

    let db = Arc::new(db);
    let pins: Vec<_> = (0..10)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                legacy::pin_uid(&db, naver, &format!("n-{i}"), "new@example.com", true, now()).await.unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for pin in pins {
        winners += usize::from(pin.await.unwrap());
    }
    assert_eq!(winners, 1);
    let mut found = vec![];
    for i in 0..10 {
        found.extend(identities::find_by_provider_uid(&db, Provider::Naver, &format!("n-{i}")).await.unwrap());
    }
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].id, found[0].email.as_deref(), found[0].email_verified),
        (naver, Some("new@example.com"), true)
    );
    assert!(found[0].last_login_at.is_some());
}

async fn a_claimed_mapping_stays_retired_after_an_unlink(db: Db) {
    let input = [legacy_user("1", "ann", vec![mapping("google", "a@example.com", None)])];
    legacy::import(&db, &input, now()).await.unwrap();
    let waiting = legacy::find_candidates(&db, "google", "a@example.com").await.unwrap()[0].clone();
    assert!(legacy::pin_uid(&db, waiting.id, "g-1", "changed@example.com", true, now()).await.unwrap());
    let naver = munji::store::identities::NewIdentity {
        provider: Provider::Naver,
        uid: "n-1",
        email: None,
        email_verified: false,
        logged_in: true,
        upstream_token: None,
    };
    identities::insert_for_user(&db, waiting.user_id, &naver, now()).await.unwrap();
    assert!(matches!(
        identities::unlink(&db, waiting.user_id, waiting.id, LastIdentity::Keep, now()).await.unwrap(),
        Unlinked::Removed(_)
    ));
    assert_eq!(legacy::import(&db, &input, now()).await.unwrap(), counts(0, 1, 0, 1));
    assert!(
        legacy::find_candidates(&db, "google", "a@example.com").await.unwrap().is_empty(),
        "the old e-mail is no way in"
    );
}
