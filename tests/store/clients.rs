//! OIDC clients: every column round-trips, ids are unique, rows from before migration 0011 read
//! with its defaults.

use munji::store::{
    Db,
    clients::{self, ID_KEY, StoredClient},
};

use crate::now;

on_every_durable_backend!(
    a_client_round_trips_every_column,
    a_taken_client_id_conflicts,
    clients_are_listed_by_id_and_deleted_once,
    a_client_from_before_logout_and_consent_reads_with_the_defaults,
);

fn client(id: &str) -> StoredClient {
    StoredClient {
        id: id.to_owned(),
        secret_hash: Some("c0ffee".into()),
        redirect_uris: r#"["https://app.example/cb"]"#.into(),
        grant_types: r#"["authorization_code","refresh_token"]"#.into(),
        scopes: r#"["openid","email"]"#.into(),
        gmail_targets: r#"["bot-1"]"#.into(),
        created_at: now(),
        name: Some("The App".into()),
        first_party: false,
        post_logout_redirect_uris: r#"["https://app.example/bye"]"#.into(),
        backchannel_logout_uri: Some("https://app.example/logout".into()),
        backchannel_logout_session_required: false,
    }
}

/// Every column of a client, to compare two.
fn columns(c: &StoredClient) -> impl PartialEq + std::fmt::Debug + use<> {
    (
        (c.id.clone(), c.secret_hash.clone(), c.redirect_uris.clone(), c.grant_types.clone(), c.scopes.clone()),
        (c.gmail_targets.clone(), c.created_at, c.name.clone(), c.first_party, c.post_logout_redirect_uris.clone()),
        (c.backchannel_logout_uri.clone(), c.backchannel_logout_session_required),
    )
}

async fn a_client_round_trips_every_column(db: Db) {
    let full = client("full");
    let bare = StoredClient {
        secret_hash: None,
        name: None,
        first_party: true,
        post_logout_redirect_uris: "[]".into(),
        backchannel_logout_uri: None,
        backchannel_logout_session_required: true,
        ..client("bare")
    };
    for written in [full, bare] {
        clients::insert(&db, &written).await.unwrap();
        let read = clients::find(&db, &written.id).await.unwrap().unwrap();
        assert_eq!(columns(&read), columns(&written));
    }
    assert!(clients::find(&db, "nobody").await.unwrap().is_none());
    assert!(clients::find(&db, "FULL").await.unwrap().is_none(), "ids are exact");
}

async fn a_taken_client_id_conflicts(db: Db) {
    clients::insert(&db, &client("app")).await.unwrap();
    let err = clients::insert(&db, &StoredClient { name: None, ..client("app") }).await.unwrap_err();
    assert!(err.on_constraint(ID_KEY), "{err:?}");
    assert_eq!(clients::find(&db, "app").await.unwrap().unwrap().name.as_deref(), Some("The App"));
}

async fn clients_are_listed_by_id_and_deleted_once(db: Db) {
    for id in ["b", "c", "a"] {
        clients::insert(&db, &client(id)).await.unwrap();
    }
    let ids = |list: Vec<StoredClient>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(ids(clients::list(&db).await.unwrap()), ["a", "b", "c"]);
    assert!(clients::delete(&db, "b").await.unwrap());
    assert!(!clients::delete(&db, "b").await.unwrap(), "already gone");
    assert!(!clients::delete(&db, "nobody").await.unwrap());
    assert_eq!(ids(clients::list(&db).await.unwrap()), ["a", "c"]);
}

async fn a_client_from_before_logout_and_consent_reads_with_the_defaults(db: Db) {
    let created = now();
    // Only the columns of migration 0005, as a client registered then was written.
    let insert = "INSERT INTO clients (id, secret_hash, redirect_uris, grant_types, scopes, gmail_targets, created_at)
                  VALUES ($1, NULL, '[]', '[]', '[]', '[]', $2)";
    on_pool!(&db, pool => {
        sqlx::query(insert).bind("old").bind(created).execute(pool).await.unwrap();
    });
    let read = clients::find(&db, "old").await.unwrap().unwrap();
    assert_eq!(read.name, None);
    assert!(read.first_party, "clients registered before consent existed need none");
    assert_eq!(read.post_logout_redirect_uris, "[]");
    assert_eq!(read.backchannel_logout_uri, None);
    assert!(read.backchannel_logout_session_required);
    assert_eq!(read.created_at, created);
}
