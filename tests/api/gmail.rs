//! Connecting Gmail (docs/gmail.md): the Google authorization for `gmail.send` with offline access,
//! the connection kept sealed, listed on the page and the API, and the encryption key rotated.

use munji::{
    gmail::{connect, vault::Vault},
    store::gmail,
    upstream::{GMAIL_SEND, Provider},
};
use reqwest::Client;
use serde_json::Value;

use crate::helpers::{
    Backend, ENCRYPTION_KEY, TestApp,
    oidc::rp_http,
    social::{Person, form_value, location},
};

crate::on_every_backend!(
    a_connected_gmail_is_listed_with_its_scopes_and_kept_sealed,
    a_grant_without_gmail_send_is_kept_but_marked,
    rotating_the_encryption_key_keeps_every_connection_readable,
    a_target_has_at_most_one_equipped_connection,
    disconnecting_revokes_the_grant_at_google_then_deletes,
);

pub fn gmail_person() -> Person {
    Person::new(9001, "sender@gmail.com")
}

/// Sign up, then connect Gmail as `person` in `browser`; returns the final response.
pub async fn connect_gmail(app: &TestApp, browser: &Client, person: &Person) -> reqwest::Response {
    let page = app.get_account(browser).await.text().await.unwrap();
    assert!(page.contains("gmail-connect"), "the account page offers to connect Gmail");
    let csrf = form_value(&page, "csrf").unwrap();
    let resp = browser.post(app.url("/account/gmail/connect")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let authorize = location(&resp, &app.base_url);
    let query = authorize.query().unwrap().to_owned();
    for asked in ["access_type=offline", "prompt=consent", "include_granted_scopes=true", "gmail.send"] {
        assert!(query.contains(asked), "{asked} in {query}");
    }
    let callback = app.provider_decides(browser, &authorize, person, true).await;
    browser.get(callback).send().await.unwrap()
}

/// `munji keys rotate-encryption` with `test2:{new_key}` first and the old key still configured
/// (as docs/gmail.md says to run it); what it printed.
pub fn rotate_encryption(app: &TestApp, new_key: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_munji"))
        .args(["keys", "rotate-encryption"])
        .env_clear()
        .env("MUNJI_DATABASE_URL", &app.database_url)
        .env("MUNJI_ENCRYPTION_KEYS", format!("test2:{new_key},test1:{ENCRYPTION_KEY}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub async fn signed_up(app: &TestApp) -> Client {
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Google, &Person::new(9000, "owner@example.com"), "mailer").await;
    browser
}

async fn a_connected_gmail_is_listed_with_its_scopes_and_kept_sealed(backend: Backend) {
    let app = TestApp::builder(backend).with_web_client().spawn().await;
    let browser = signed_up(&app).await;

    let done = connect_gmail(&app, &browser, &gmail_person()).await;

    assert_eq!(location(&done, &app.base_url).path(), "/account");
    let page = app.get_account(&browser).await.text().await.unwrap();
    assert!(page.contains("sender@gmail.com"));
    let (access, _) = app.tokens_for(&browser).await;
    let list = app.get_api_json("/me/gmail", &access).await;
    let connection = &list["connections"][0];
    assert_eq!(connection["gmail_address"], "sender@gmail.com");
    assert_eq!(connection["status"], "active");
    assert_eq!(connection["equipped_to"], Value::Null);
    assert!(connection["scopes"].as_array().unwrap().contains(&Value::from(GMAIL_SEND)));
    let listed = serde_json::to_string(&list).unwrap();
    assert!(!listed.contains("access_token") && !listed.contains("refresh_token"));

    // The database holds no plaintext token: what is stored opens only with the vault.
    let stored = gmail::list_all(&app.state.db).await.unwrap();
    let row = &stored[0];
    let plain_access = app.state.vault.open(&connect::context(row.id, "access"), &row.access_token).unwrap();
    let plain_refresh =
        app.state.vault.open(&connect::context(row.id, "refresh"), row.refresh_token.as_deref().unwrap()).unwrap();
    assert!(row.access_token.starts_with("test1:") && row.refresh_token.as_deref().unwrap().starts_with("test1:"));
    assert!(
        !row.access_token.contains(&plain_access) && !row.refresh_token.as_deref().unwrap().contains(&plain_refresh)
    );
    let events = munji::store::audit::list_for_user(&app.state.db, row.user_id, 10).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "gmail_connect" && e.detail.0["gmail_address"] == "sender@gmail.com"));
}

async fn a_grant_without_gmail_send_is_kept_but_marked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = signed_up(&app).await;
    let stingy = Person { grant_gmail: false, ..gmail_person() };

    connect_gmail(&app, &browser, &stingy).await;

    let stored = gmail::list_all(&app.state.db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!connect::can_send(&stored[0]));
    assert!(app.get_account(&browser).await.text().await.unwrap().contains("sending not allowed"));
}

async fn rotating_the_encryption_key_keeps_every_connection_readable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = signed_up(&app).await;
    connect_gmail(&app, &browser, &gmail_person()).await;
    let before = gmail::list_all(&app.state.db).await.unwrap().remove(0);
    let plain = app
        .state
        .vault
        .open(&connect::context(before.id, "refresh"), before.refresh_token.as_deref().unwrap())
        .unwrap();

    let new_key = "bmV3LWVuY3J5cHRpb24ta2V5LW9mLTMyLWJ5dGVzISE=";
    assert!(rotate_encryption(&app, new_key).contains("re-encrypted 1 Gmail connection(s) under key test2"));

    let after = gmail::list_all(&app.state.db).await.unwrap().remove(0);
    assert!(after.refresh_token.as_deref().unwrap().starts_with("test2:"));
    let config = munji::config::Config::load(munji::config::Sources {
        file: None,
        env: vec![("MUNJI_ENCRYPTION_KEYS".into(), format!("test2:{new_key}"))],
        purpose: munji::config::Purpose::Admin,
    })
    .unwrap();
    let only_new = Vault::from_config(&config);
    let reopened =
        only_new.open(&connect::context(after.id, "refresh"), after.refresh_token.as_deref().unwrap()).unwrap();
    assert_eq!(reopened, plain, "the new key alone opens it: the old key can go");
}

async fn a_target_has_at_most_one_equipped_connection(backend: Backend) {
    let app = TestApp::builder(backend).with_web_client().spawn().await;
    let browser = signed_up(&app).await;
    connect_gmail(&app, &browser, &gmail_person()).await;
    connect_gmail(&app, &browser, &Person::new(9002, "second@gmail.com")).await;
    connect_gmail(&app, &browser, &Person { grant_gmail: false, ..Person::new(9003, "readonly@gmail.com") }).await;
    let (access, _) = app.tokens_for(&browser).await;
    let list = || app.gmail_connections(&access);
    let ids: Vec<String> = list().await.iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    let equip = |id: &str, target: &'static str| app.post_equip(&access, id.to_owned(), target);

    let first = equip(&ids[0], "bot-1").await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.json::<Value>().await.unwrap()["equipped_to"], "bot-1");
    // Equipping the same target elsewhere moves it, in one change.
    assert_eq!(equip(&ids[1], "bot-1").await.status(), 200);
    let now = list().await;
    assert_eq!(now[0]["equipped_to"], Value::Null);
    assert_eq!(now[1]["equipped_to"], "bot-1");
    // Another target is independent.
    assert_eq!(equip(&ids[0], "bot-2").await.status(), 200);
    // A grant without gmail.send cannot be equipped; a bad target is refused.
    let resp = equip(&ids[2], "bot-3").await;
    assert_eq!(resp.status(), 422);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "GMAIL_SCOPE_MISSING");
    assert_eq!(equip(&ids[0], "has space").await.status(), 422);
    // Someone else's (or no) connection is 404.
    assert_eq!(equip(&uuid::Uuid::new_v4().to_string(), "bot-1").await.status(), 404);

    let unequip = app.delete_equip(&access, &ids[1]).await;
    assert_eq!(unequip.status(), 204);
    assert_eq!(list().await[1]["equipped_to"], Value::Null);

    // The page does the same.
    let page = app.get_account(&browser).await.text().await.unwrap();
    let csrf = form_value(&page, "csrf").unwrap();
    let resp = browser
        .post(app.url(&format!("/account/gmail/{}/equip", ids[1])))
        .form(&[("csrf", csrf.as_str()), ("equipped_to", "bot-9")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(app.get_account(&browser).await.text().await.unwrap().contains("bot-9"));
    let kinds: Vec<String> =
        munji::store::audit::list_for_user(&app.state.db, gmail::list_all(&app.state.db).await.unwrap()[0].user_id, 50)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
    assert!(kinds.iter().any(|k| k == "gmail_equip") && kinds.iter().any(|k| k == "gmail_unequip"));
}

async fn disconnecting_revokes_the_grant_at_google_then_deletes(backend: Backend) {
    let app = TestApp::builder(backend).with_web_client().spawn().await;
    let browser = signed_up(&app).await;
    connect_gmail(&app, &browser, &gmail_person()).await;
    let row = gmail::list_all(&app.state.db).await.unwrap().remove(0);
    let refresh =
        app.state.vault.open(&connect::context(row.id, "refresh"), row.refresh_token.as_deref().unwrap()).unwrap();
    let (access, _) = app.tokens_for(&browser).await;

    let other = app.delete_gmail(&access, uuid::Uuid::new_v4()).await;
    assert_eq!(other.status(), 404);
    let resp = app.delete_gmail(&access, row.id).await;
    assert_eq!(resp.status(), 204);

    assert!(gmail::list_all(&app.state.db).await.unwrap().is_empty());
    // Google (the imitation) no longer honours the refresh token.
    let google_token = format!("{}/dev/google/token", app.dev_provider_url);
    let refused = rp_http()
        .post(google_token)
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let events = munji::store::audit::list_for_user(&app.state.db, row.user_id, 20).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "gmail_disconnect"));
}
