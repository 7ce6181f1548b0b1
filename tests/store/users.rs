//! Accounts: a user is created with its first identity or not at all; usernames are unique;
//! deleting a user deletes what belongs to it.

use munji::{
    store::{
        Db, audit, gmail,
        identities::{self, NewIdentity, PROVIDER_UID_KEY},
        refresh_tokens::{self, NewRefresh},
        sessions::{self, SessionRow},
        users::{self, NewUser, USERNAME_KEY},
    },
    upstream::Provider,
};
use uuid::Uuid;

use crate::{count, delete_user, gmail_connection, now, rows_of, user};

on_every_durable_backend!(
    a_user_is_created_with_its_first_identity,
    a_taken_username_conflicts_and_writes_nothing,
    usernames_are_compared_exactly,
    an_identity_someone_has_conflicts_and_creates_no_user,
    deleting_a_user_deletes_what_belongs_to_it,
);

fn google(uid: &str) -> NewIdentity<'_> {
    NewIdentity {
        provider: Provider::Google,
        uid,
        email: Some("a@example.com"),
        email_verified: true,
        logged_in: true,
        upstream_token: None,
    }
}

fn login(email: Option<&str>) -> identities::Login<'_> {
    identities::Login { email, email_verified: true, upstream_token: None }
}

async fn a_user_is_created_with_its_first_identity(db: Db) {
    let at = now();
    let new = NewUser { username: "alice", display_name: "Alice", email: Some("a@example.com") };
    let created = users::insert_with_identity(&db, new, google("g-1"), at).await.unwrap();
    let found = users::find_by_id(&db, created.id).await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.username.as_str(), found.display_name.as_str(), found.email.as_deref(), found.created_at),
        (created.id, "alice", "Alice", Some("a@example.com"), at)
    );
    let identities = identities::list_for_user(&db, created.id).await.unwrap();
    assert_eq!(identities.len(), 1);
    let identity = &identities[0];
    assert_eq!((identity.provider, identity.uid.as_deref()), (Provider::Google, Some("g-1")));
    assert_eq!((identity.email.as_deref(), identity.email_verified), (Some("a@example.com"), true));
    assert_eq!((identity.linked_at, identity.last_login_at), (at, Some(at)), "signing in now sets last_login_at");
    assert!(users::username_taken(&db, "alice", now()).await.unwrap());
    assert!(users::find_by_id(&db, Uuid::new_v4()).await.unwrap().is_none());

    let quiet = NewIdentity { logged_in: false, ..google("g-2") };
    let other = NewUser { username: "bob", display_name: "Bob", email: None };
    let bob = users::insert_with_identity(&db, other, quiet, at).await.unwrap();
    let identity = identities::find_by_provider_uid(&db, Provider::Google, "g-2").await.unwrap().unwrap();
    assert_eq!((identity.user_id, identity.last_login_at), (bob.id, None), "a link without a sign-in");
}

async fn a_taken_username_conflicts_and_writes_nothing(db: Db) {
    user(&db, "alice").await;
    let again = NewUser { username: "alice", display_name: "Other", email: None };
    let err = users::insert_with_identity(&db, again, google("g-other"), now()).await.unwrap_err();
    assert!(err.on_constraint(USERNAME_KEY), "{err:?}");
    assert!(
        identities::find_by_provider_uid(&db, Provider::Google, "g-other").await.unwrap().is_none(),
        "the identity is rolled back with the user"
    );
}

async fn usernames_are_compared_exactly(db: Db) {
    // Case is Username::parse's to refuse; the store keeps names as given.
    user(&db, "alice").await;
    assert!(!users::username_taken(&db, "Alice", now()).await.unwrap());
    assert!(!users::username_taken(&db, "alice ", now()).await.unwrap());
    user(&db, "Alice").await;
    assert!(users::username_taken(&db, "Alice", now()).await.unwrap());
}

async fn an_identity_someone_has_conflicts_and_creates_no_user(db: Db) {
    user(&db, "alice").await;
    let bob = NewUser { username: "bob", display_name: "Bob", email: None };
    let err = users::insert_with_identity(&db, bob, google("alice"), now()).await.unwrap_err();
    assert!(err.on_constraint(PROVIDER_UID_KEY), "{err:?}");
    assert!(!users::username_taken(&db, "bob", now()).await.unwrap(), "the user is rolled back with the identity");

    let naver = NewIdentity { provider: Provider::Naver, ..google("alice") };
    let bob = NewUser { username: "bob", display_name: "Bob", email: None };
    users::insert_with_identity(&db, bob, naver, now()).await.unwrap();
}

async fn deleting_a_user_deletes_what_belongs_to_it(db: Db) {
    let (alice, bob) = (user(&db, "alice").await, user(&db, "bob").await);
    for owner in [alice, bob] {
        let at = now();
        let identity = &identities::list_for_user(&db, owner).await.unwrap()[0];
        identities::record_login(&db, identity, &login(Some("old@example.com")), at).await.unwrap();
        let identity = &identities::list_for_user(&db, owner).await.unwrap()[0];
        identities::record_login(&db, identity, &login(Some("new@example.com")), at).await.unwrap();
        let sid = format!("sid-{owner}");
        let session = SessionRow {
            sid: sid.clone(),
            user_id: owner,
            auth_time: at.timestamp(),
            started_at: at,
            last_seen_at: at,
            expires_at: at + chrono::Duration::hours(1),
            user_agent: None,
            ip: None,
        };
        sessions::insert(&db, &session, &format!("cookie-{owner}")).await.unwrap();
        let refresh = NewRefresh {
            token_hash: &format!("rt-{owner}"),
            family_id: Uuid::new_v4(),
            client_id: "app",
            user_id: owner,
            sid: &sid,
            scope: "openid",
            auth_time: at.timestamp(),
            expires_at: at + chrono::Duration::days(1),
        };
        refresh_tokens::insert(&db, &refresh, at).await.unwrap();
        gmail::insert(&db, &gmail_connection(owner, "me@gmail.com", None)).await.unwrap();
        audit::insert(&db, Some(owner), "login", &serde_json::json!({}), at).await.unwrap();
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM identity_emails").await, 2);
    delete_user(&db, alice).await;

    for table in ["identities", "sessions", "refresh_tokens", "gmail_connections", "audit_events"] {
        assert_eq!(rows_of(&db, table, alice).await, 0, "{table} of the deleted user");
        assert_eq!(rows_of(&db, table, bob).await, 1, "{table} of another user");
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM identity_emails").await, 1, "the history goes with its identity");
    assert!(users::find_by_id(&db, alice).await.unwrap().is_none());
}
