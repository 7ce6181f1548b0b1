//! Leaving (docs/leaving.md): the export holds every section and no secret; a deletion revokes
//! at Google, unlinks at Kakao, ends the sessions with back-channel logout, leaves no row of
//! the user in any table, quarantines the username, and finishes while Google is down; the
//! page, the API and the command line each guard it.

use std::time::Duration;

use munji::{
    gmail::connect::context,
    leaving,
    store::{gmail, users},
    upstream::Provider,
};
use reqwest::Client;
use serde_json::Value;
use uuid::Uuid;

use crate::{
    backchannel::{Receiver, listening_app},
    gmail::{connect_gmail, gmail_person},
    helpers::{
        Backend, ENCRYPTION_KEY, SECRET_KEY, TestApp,
        api::error_code,
        clients::{self, WEB_REDIRECT_URI},
        social::{Person, form_value, location},
    },
    logout::sign_in_to,
    oidc_more::munji_cli,
};

crate::on_every_backend!(
    the_export_has_every_section_and_no_secret,
    a_deletion_revokes_upstream_ends_sessions_and_leaves_no_row,
    a_deletion_finishes_while_google_is_down,
    deleting_needs_a_recent_sign_in,
    a_wrong_confirmation_or_a_missing_csrf_field_changes_nothing,
    the_account_page_deletes_the_account,
    the_command_line_deletes_after_asking,
    an_admin_deletes_an_account_with_a_receipt_and_no_audit_event,
);

const KAKAO_UID: u64 = 4_100_000_777;

/// An app with the Kakao admin key the imitation takes (its unlink URL is the imitation's in
/// every test app).
async fn spawn(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .with_web_client()
        .env("MUNJI_PROVIDERS__KAKAO__ADMIN_KEY", munji::dev_provider::KAKAO_ADMIN_KEY)
        .spawn()
        .await
}

/// `leaver` signs up with Kakao and connects Gmail; returns the browser and the user id.
async fn leaver(app: &TestApp) -> (Client, Uuid) {
    let browser = app.browser();
    let person = Person::new(KAKAO_UID, "leaver@example.com");
    let resp = app.sign_up_with(&browser, Provider::Kakao, &person, "leaver").await;
    assert_eq!(resp.status(), 303, "signed up");
    let done = connect_gmail(app, &browser, &gmail_person()).await;
    assert_eq!(location(&done, &app.base_url).path(), "/account");
    (browser, users::find_by_username(&app.state.db, "leaver").await.unwrap().unwrap().id)
}

async fn stats(app: &TestApp, provider: &str) -> Value {
    let url = format!("{}/dev/{provider}/_stats", app.dev_provider_url);
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

async fn delete_me(app: &TestApp, bearer: &str) -> reqwest::Response {
    app.client.delete(app.url("/api/v1/me")).bearer_auth(bearer).send().await.unwrap()
}

/// The CSRF field of the account page.
async fn csrf(app: &TestApp, browser: &Client) -> String {
    form_value(&app.get_account(browser).await.text().await.unwrap(), "csrf").unwrap()
}

async fn post_delete(app: &TestApp, browser: &Client, form: &[(&str, &str)]) -> reqwest::Response {
    browser.post(app.url("/account/delete")).form(form).send().await.unwrap()
}

/// The Gmail tokens munji holds for the user, sealed and opened.
async fn gmail_token_material(app: &TestApp, user_id: Uuid) -> Vec<String> {
    let mut material = Vec::new();
    for c in gmail::list_for_user(&app.state.db, user_id).await.unwrap() {
        material.push(app.state.vault.open(&context(c.id, "access"), &c.access_token).unwrap());
        material.push(c.access_token);
        if let Some(refresh) = c.refresh_token {
            material.push(app.state.vault.open(&context(c.id, "refresh"), &refresh).unwrap());
            material.push(refresh);
        }
    }
    assert!(material.len() >= 3, "a connection with both tokens");
    material
}

async fn the_export_has_every_section_and_no_secret(backend: Backend) {
    let app = spawn(backend).await;
    let (browser, user_id) = leaver(&app).await;
    let issued = app.web_token_response(&browser, &[]).await;
    let access = issued["access_token"].as_str().unwrap().to_owned();

    let resp = app.client.get(app.url("/api/v1/me/export")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let export: Value = serde_json::from_str(&text).unwrap();
    for section in ["exported_at", "user", "identities", "email_history", "sessions", "apps", "gmail", "audit"] {
        assert!(export.get(section).is_some(), "{section} in {export}");
    }
    assert_eq!(export["user"]["id"], user_id.to_string());
    assert_eq!(export["identities"][0]["uid"], KAKAO_UID.to_string());
    assert_eq!(export["gmail"][0]["gmail_address"], "sender@gmail.com");
    assert!(export["sessions"].as_array().unwrap().iter().any(|s| s["current"] == true));
    assert!(export["apps"].as_array().unwrap().iter().any(|a| a["client_id"] == "web"));
    assert!(export["audit"].as_array().unwrap().iter().any(|e| e["kind"] == "gmail_connect"));

    let mut secrets = gmail_token_material(&app, user_id).await;
    for name in ["access_token", "refresh_token", "id_token"] {
        secrets.push(issued[name].as_str().unwrap().to_owned());
    }
    secrets.extend([app.web_client().secret().to_owned(), SECRET_KEY.to_owned(), ENCRYPTION_KEY.to_owned()]);
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "a secret in the export");
    }
    for marker in ["PRIVATE KEY", "secret_hash", "cookie_hash", "token_hash", "sealed"] {
        assert!(!text.contains(marker), "{marker} in the export");
    }

    let download = browser.get(app.url("/account/export")).send().await.unwrap();
    assert_eq!(download.status(), 200);
    let disposition = download.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment;") && disposition.contains(".json"), "{disposition}");
    let page: Value = download.json().await.unwrap();
    assert_eq!((page["user"].clone(), page["gmail"].clone()), (export["user"].clone(), export["gmail"].clone()));
    assert_eq!(app.get("/account/export").await.status(), 303, "a signed-out browser signs in first");
}

/// The tables and columns of the database that mention any of `needles` (as text, or as the
/// hex of its bytes, which is how UUIDs and byte values are kept), outside `kept`.
async fn rows_mentioning(app: &TestApp, needles: &[String], kept: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    macro_rules! scan {
        ($pool:expr, $tables:expr, $columns:expr, $hex:expr, $upper:expr) => {{
            let tables: Vec<String> = sqlx::query_scalar($tables).fetch_all($pool).await.unwrap();
            for table in tables.into_iter().filter(|t| !kept.contains(&t.as_str())) {
                let columns: Vec<String> = sqlx::query_scalar($columns).bind(&table).fetch_all($pool).await.unwrap();
                for column in columns {
                    for needle in needles {
                        // A UUID in its simple form is already the hex of its 16 bytes.
                        let hex: String = if Uuid::try_parse(needle).is_ok() && !needle.contains('-') {
                            needle.clone()
                        } else {
                            needle.bytes().map(|b| format!("{b:02x}")).collect()
                        };
                        let hex = if $upper { hex.to_uppercase() } else { hex };
                        let sql = format!(
                            "SELECT COUNT(*) FROM \"{table}\" WHERE CAST(\"{column}\" AS TEXT) LIKE $1 OR {} LIKE $2",
                            $hex.replace("{c}", &column)
                        );
                        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                            .bind(format!("%{needle}%"))
                            .bind(format!("%{hex}%"))
                            .fetch_one($pool)
                            .await
                            .unwrap();
                        if n > 0 {
                            found.push(format!("{table}.{column} mentions {needle}"));
                        }
                    }
                }
            }
        }};
    }
    match &app.state.db {
        munji::store::Db::Postgres(pool) => scan!(
            pool,
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
            "CAST(\"{c}\" AS TEXT)",
            false
        ),
        munji::store::Db::Sqlite(pool) => scan!(
            pool,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            "SELECT name FROM pragma_table_info($1)",
            "hex(\"{c}\")",
            true
        ),
    }
    found
}

async fn a_deletion_revokes_upstream_ends_sessions_and_leaves_no_row(backend: Backend) {
    let app = spawn(backend).await;
    let receiver = Receiver::start().await;
    let bc = listening_app(&app, &receiver).await;
    let (browser, user_id) = leaver(&app).await;
    let issued = sign_in_to(&app, &browser, &bc).await;
    let access = issued["access_token"].as_str().unwrap();
    assert_eq!(app.verify_status(access).await, 200);
    // Equipping is counted per user: a counter named after the user id.
    let connection = app.gmail_connections(access).await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.post_equip(access, &connection, "bot-1").await.status(), 200);
    let (revoked_before, unlinked_before) =
        (stats(&app, "google").await["revocations"].clone(), stats(&app, "kakao").await["unlinks"].clone());
    assert_eq!((revoked_before, unlinked_before), (0.into(), 0.into()));

    let needles = vec![
        user_id.to_string(),
        user_id.simple().to_string(),
        "leaver".to_owned(),
        "leaver@example.com".to_owned(),
        "sender@gmail.com".to_owned(),
        KAKAO_UID.to_string(),
        gmail_person().uid,
    ];
    // Kept by the contract: logout tokens still to deliver (they name the user as `sub`).
    let kept = ["backchannel_outbox", "_sqlx_migrations"];
    let before = rows_mentioning(&app, &needles, &kept).await;
    let mut expected = vec!["users.id", "users.username", "identities.uid", "gmail_connections.gmail_address"];
    expected.push("sessions.user_id");
    if backend != Backend::PostgresRedis {
        expected.push("counters.key");
    }
    for seen in expected {
        assert!(before.iter().any(|f| f.starts_with(&format!("{seen} "))), "the scan sees {seen}: {before:?}");
    }

    assert_eq!(delete_me(&app, access).await.status(), 204);

    assert_eq!(stats(&app, "google").await["revocations"], 1, "the Gmail grant is revoked at Google");
    assert_eq!(stats(&app, "kakao").await["unlinks"], 1, "the Kakao identity is unlinked");
    assert_eq!(app.verify_status(access).await, 401, "the token died with its session");
    assert_eq!(app.signed_in_username(&browser).await, None);
    let logout = crate::backchannel::validate(&app.base_url, "bc", &receiver.wait_for(1).await[0]).await;
    assert_eq!(logout["sub"], user_id.to_string());

    let left = rows_mentioning(&app, &needles, &kept).await;
    assert!(left.is_empty(), "rows of the deleted user: {left:?}");

    let receipts = leaving::receipts(&app.state, user_id).await.unwrap();
    assert_eq!(receipts.len(), 1);
    let receipt = &receipts[0];
    assert_eq!((receipt.deleted_by.as_str(), receipt.actor_id), ("user", None));
    assert_eq!(receipt.upstream.0["google"][0]["outcome"], "done");
    assert_eq!(receipt.upstream.0["kakao"][0]["outcome"], "done");

    // The username is quarantined, then free again.
    let other = app.browser();
    let someone = Person::new(4_100_000_888, "someone@example.com");
    let taken = app.sign_up_with(&other, Provider::Kakao, &someone, "leaver").await;
    assert_ne!(taken.status(), 303, "the username is quarantined");
    let users_before = app.count_users().await;
    app.state.clock.advance(Duration::from_secs(31 * 86_400));
    let page = other.get(app.url("/signup")).send().await.unwrap().text().await.unwrap();
    let csrf = form_value(&page, "csrf").unwrap();
    let freed = app.post_signup(&other, "leaver", "Someone", &csrf).await;
    assert_eq!(freed.status(), 303, "the quarantine is over");
    assert_eq!(app.count_users().await, users_before + 1);
}

async fn a_deletion_finishes_while_google_is_down(backend: Backend) {
    let app = spawn(backend).await;
    let (browser, user_id) = leaver(&app).await;
    let (access, _) = app.tokens_for(&browser).await;
    let faults = format!("{}/dev/google/_faults", app.dev_provider_url);
    assert!(
        reqwest::Client::new().post(faults).form(&[("revoke", "down")]).send().await.unwrap().status().is_success()
    );

    assert_eq!(delete_me(&app, &access).await.status(), 204);

    assert!(users::find_by_id(&app.state.db, user_id).await.unwrap().is_none(), "deleted all the same");
    assert!(gmail::list_for_user(&app.state.db, user_id).await.unwrap().is_empty());
    let receipt = leaving::receipts(&app.state, user_id).await.unwrap().remove(0);
    assert_eq!(receipt.upstream.0["google"][0]["outcome"], "failed", "{}", receipt.upstream.0);
    assert_eq!(receipt.upstream.0["kakao"][0]["outcome"], "done");
}

async fn deleting_needs_a_recent_sign_in(backend: Backend) {
    let app = spawn(backend).await;
    let (browser, user_id) = leaver(&app).await;
    let (access, _) = app.tokens_for(&browser).await;
    let csrf = csrf(&app, &browser).await;
    app.state.clock.advance(Duration::from_secs(6 * 60));

    let resp = delete_me(&app, &access).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "REAUTH_REQUIRED");
    let resp = post_delete(&app, &browser, &[("csrf", &csrf), ("confirm", "leaver")]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp, &app.base_url).path(), "/login", "sent to sign in again");

    assert!(users::find_by_id(&app.state.db, user_id).await.unwrap().is_some());
    assert_eq!(app.verify_status(&access).await, 200, "nothing ended");
    assert_eq!(stats(&app, "google").await["revocations"], 0);
}

async fn a_wrong_confirmation_or_a_missing_csrf_field_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let (browser, user_id) = leaver(&app).await;
    let csrf = csrf(&app, &browser).await;

    let wrong = post_delete(&app, &browser, &[("csrf", &csrf), ("confirm", "someone-else")]).await;
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().await.unwrap().contains("does not match"));
    assert_eq!(post_delete(&app, &browser, &[("confirm", "leaver")]).await.status(), 400, "no CSRF field");
    let forged = post_delete(&app, &app.browser(), &[("csrf", &csrf), ("confirm", "leaver")]).await;
    assert_eq!(forged.status(), 400, "another browser's CSRF field");

    assert!(users::find_by_id(&app.state.db, user_id).await.unwrap().is_some());
    assert_eq!(app.signed_in_username(&browser).await.as_deref(), Some("leaver"));
    assert_eq!(stats(&app, "google").await["revocations"], 0);
    assert!(leaving::receipts(&app.state, user_id).await.unwrap().is_empty());
}

async fn the_account_page_deletes_the_account(backend: Backend) {
    let app = spawn(backend).await;
    let (browser, user_id) = leaver(&app).await;
    let page = app.get_account(&browser).await.text().await.unwrap();
    assert!(page.contains("id=\"delete-account\"") && page.contains("href=\"/account/export\""));
    let csrf = form_value(&page, "csrf").unwrap();

    let resp = post_delete(&app, &browser, &[("csrf", &csrf), ("confirm", "leaver")]).await;
    assert_eq!(resp.status(), 303);
    let deleted = location(&resp, &app.base_url);
    assert_eq!(deleted.path(), "/account/deleted");
    let page = browser.get(deleted).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("id=\"account-deleted\""));

    assert!(users::find_by_id(&app.state.db, user_id).await.unwrap().is_none());
    assert_eq!(app.signed_in_username(&browser).await, None);
    assert_eq!(leaving::receipts(&app.state, user_id).await.unwrap()[0].deleted_by, "user");
}

async fn the_command_line_deletes_after_asking(backend: Backend) {
    let app = spawn(backend).await;
    let (browser, user_id) = leaver(&app).await;

    let asked = munji_cli(&app, &["users", "delete", "leaver"]);
    assert!(!asked.status.success(), "without a terminal or --yes it refuses");
    assert!(String::from_utf8_lossy(&asked.stderr).contains("nothing was deleted"));
    assert!(users::find_by_id(&app.state.db, user_id).await.unwrap().is_some());

    let done = munji_cli(&app, &["users", "delete", "leaver", "--yes"]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(users::find_by_id(&app.state.db, user_id).await.unwrap().is_none());
    assert_eq!(app.signed_in_username(&browser).await, None);
    assert_eq!(leaving::receipts(&app.state, user_id).await.unwrap()[0].deleted_by, "cli");
}

async fn an_admin_deletes_an_account_with_a_receipt_and_no_audit_event(backend: Backend) {
    let console = clients::web("console", WEB_REDIRECT_URI, &["openid", "admin"]);
    let app = TestApp::builder(backend).with_client(console).spawn().await;
    let (_, user_id) = leaver(&app).await;
    let root = app.browser();
    app.sign_up_with(&root, Provider::Google, &Person::new(1, "root@example.com"), "root.admin").await;
    let root_id = users::find_by_username(&app.state.db, "root.admin").await.unwrap().unwrap().id;
    munji::admin::set_admin(&app.state, None, root_id, true).await.unwrap();
    let code = app.authorize_code(&root, app.registered("console"), &[("scope", "openid admin")]).await;
    let issued: Value = app.redeem_code(app.registered("console"), &code, None).await.json().await.unwrap();
    let token = issued["access_token"].as_str().unwrap();
    let admin_url = |id: Uuid| app.url(&format!("/api/v1/admin/users/{id}"));

    let refused = app.client.delete(admin_url(user_id)).bearer_auth(issued["id_token"].as_str().unwrap()).send();
    assert_eq!(refused.await.unwrap().status(), 401, "an ID token is no access token");
    let resp = app.client.delete(admin_url(user_id)).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let again = app.client.delete(admin_url(user_id)).bearer_auth(token).send().await.unwrap();
    assert_eq!(error_code(again).await, "USER_NOT_FOUND");

    let receipt = leaving::receipts(&app.state, user_id).await.unwrap().remove(0);
    assert_eq!((receipt.deleted_by.as_str(), receipt.actor_id), ("admin", Some(root_id)));
    let events = munji::store::audit::list_filtered(&app.state.db, None, Some("admin_delete"), None, 10).await.unwrap();
    assert!(events.is_empty(), "an admin deletion is recorded in the receipt, not the audit log");
}
