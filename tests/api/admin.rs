//! The admin API and disabled accounts (docs/admin.md): who may call it, searching users,
//! stable pages, disabling and enabling, ending sessions, removing identities, the audit log and
//! the counts.

use munji::{store::users, upstream::Provider};
use reqwest::{Client, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Backend, TestApp,
    clients::{self, RegisteredClient, WEB_REDIRECT_URI},
    oidc::rp_http,
    social::Person,
};

crate::on_every_backend!(
    only_an_admins_token_with_scope_admin_gets_in_and_a_revoked_admin_is_out_at_once,
    users_are_found_by_username_prefix_email_past_email_uid_and_id,
    pages_stay_stable_while_users_are_added,
    a_disabled_user_is_out_everywhere_and_enabling_lets_them_sign_in_again,
    the_last_identity_goes_only_from_a_disabled_account,
    ending_sessions_and_the_audit_log_name_the_admin,
    the_dashboard_counts,
    clients_are_added_given_new_secrets_and_removed,
);

async fn spawn(backend: Backend) -> TestApp {
    let console = clients::web("console", WEB_REDIRECT_URI, &["openid", "profile", "email", "admin"]);
    TestApp::builder(backend).with_client(console).with_vending_client("mailer", &["bot-1"]).spawn().await
}

/// A new user `username` (Google uid `uid`) signed in to a browser of their own.
async fn person(app: &TestApp, uid: u64, username: &str) -> (Client, Uuid) {
    let browser = app.browser();
    let resp = app
        .sign_up_with(&browser, Provider::Google, &Person::new(uid, &format!("{username}@example.com")), username)
        .await;
    assert_eq!(resp.status(), 303, "{username} signed up");
    (browser, user_id(app, username).await)
}

async fn user_id(app: &TestApp, username: &str) -> Uuid {
    users::find_by_username(&app.state.db, username).await.unwrap().unwrap().id
}

/// The console client's token response for whoever is signed in to `browser`, asking for
/// `scope`.
async fn console_tokens(app: &TestApp, browser: &Client, scope: &str) -> Value {
    let console: &RegisteredClient = app.registered("console");
    let code = app.authorize_code(browser, console, &[("scope", scope)]).await;
    app.redeem_code(console, &code, None).await.json().await.unwrap()
}

/// An access token of the console client, and the scope it was given.
async fn console_token(app: &TestApp, browser: &Client, scope: &str) -> (String, String) {
    let issued = console_tokens(app, browser, scope).await;
    (issued["access_token"].as_str().unwrap().to_owned(), issued["scope"].as_str().unwrap().to_owned())
}

/// A signed-in admin and their admin token.
async fn admin(app: &TestApp) -> (Client, Uuid, String) {
    let (browser, id) = person(app, 1, "root.admin").await;
    munji::admin::set_admin(&app.state, None, id, true).await.unwrap();
    let (token, scope) = console_token(app, &browser, "openid admin").await;
    assert!(scope.split(' ').any(|s| s == "admin"), "{scope}");
    (browser, id, token)
}

async fn get(app: &TestApp, token: &str, path: &str) -> Response {
    rp_http().get(app.url(&format!("/api/v1/admin{path}"))).bearer_auth(token).send().await.unwrap()
}

async fn post(app: &TestApp, token: &str, path: &str, body: Option<Value>) -> Response {
    let request = rp_http().post(app.url(&format!("/api/v1/admin{path}"))).bearer_auth(token);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

async fn json_of(resp: Response, status: u16) -> Value {
    assert_eq!(resp.status(), status);
    resp.json().await.unwrap()
}

async fn usernames(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let body = json_of(get(app, token, &format!("/users?{query}")).await, 200).await;
    body["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect()
}

async fn only_an_admins_token_with_scope_admin_gets_in_and_a_revoked_admin_is_out_at_once(backend: Backend) {
    let app = spawn(backend).await;
    let (admin_browser, admin_id, token) = admin(&app).await;
    assert_eq!(get(&app, &token, "/users").await.status(), 200);

    // A non-admin asking for `admin` gets a token without it, and is refused.
    let (browser, _) = person(&app, 2, "plain.user").await;
    let (plain, scope) = console_token(&app, &browser, "openid admin").await;
    assert!(!scope.split(' ').any(|s| s == "admin"), "{scope}");
    let refused = json_of(get(&app, &plain, "/users").await, 403).await;
    assert_eq!(refused["error"]["code"], "FORBIDDEN");
    // An admin's token without the scope is refused too, and so is a service's.
    let (unscoped, _) = console_token(&app, &admin_browser, "openid").await;
    assert_eq!(get(&app, &unscoped, "/stats").await.status(), 403);
    let service = app.service_token(app.registered("mailer")).await;
    assert_eq!(get(&app, &service, "/stats").await.status(), 403);
    assert_eq!(get(&app, "not-a-token", "/stats").await.status(), 401);

    // Revoked after the token was issued: refused at the next call.
    munji::admin::set_admin(&app.state, None, admin_id, false).await.unwrap();
    assert_eq!(get(&app, &token, "/users").await.status(), 403);
}

async fn users_are_found_by_username_prefix_email_past_email_uid_and_id(backend: Backend) {
    let app = spawn(backend).await;
    let (_, _, token) = admin(&app).await;
    let (_, kim) = person(&app, 4242, "kim.minsu").await;
    person(&app, 43, "kim_jisoo").await;
    person(&app, 44, "kimberly").await;
    person(&app, 45, "park.kim").await;
    // kim.minsu's Google address changes: the old one is history.
    let browser = app.browser();
    app.sign_in_with(&browser, Provider::Google, &Person::new(4242, "Minsu.New@Example.com")).await;

    assert_eq!(usernames(&app, &token, "q=kim").await, ["kimberly", "kim_jisoo", "kim.minsu"], "prefix, newest first");
    assert_eq!(usernames(&app, &token, "q=kim_").await, ["kim_jisoo"], "_ is a character, not a wildcard");
    assert_eq!(usernames(&app, &token, "q=kim%25").await, Vec::<String>::new(), "% is a character too");
    assert_eq!(usernames(&app, &token, "q=KIM.MINSU@EXAMPLE.COM").await, ["kim.minsu"], "a past e-mail, any case");
    assert_eq!(usernames(&app, &token, "q=minsu.new@example.com").await, ["kim.minsu"], "the current e-mail");
    assert_eq!(usernames(&app, &token, "q=4242").await, ["kim.minsu"], "a provider uid");
    assert_eq!(usernames(&app, &token, &format!("q={kim}")).await, ["kim.minsu"], "a user id");
    assert_eq!(usernames(&app, &token, "q=nobody").await, Vec::<String>::new());
    let all = usernames(&app, &token, "").await;
    assert_eq!(all.len(), 5);
    let listed = json_of(get(&app, &token, "/users?q=kim.minsu").await, 200).await;
    let user = &listed["users"][0];
    assert_eq!((user["is_admin"].clone(), user["disabled"].clone()), (json!(false), json!(false)));
    assert!(user["last_login_at"].is_string());

    let detail = json_of(get(&app, &token, &format!("/users/{kim}")).await, 200).await;
    assert_eq!(detail["username"], "kim.minsu");
    assert_eq!(detail["email_history"][0]["email"], "kim.minsu@example.com");
    assert_eq!(detail["identities"][0]["uid"], "4242");
    assert!(detail["sessions"].as_array().unwrap().len() >= 2);
    assert!(!detail.to_string().contains("refresh_token"), "no secrets");
    assert_eq!(get(&app, &token, &format!("/users/{}", Uuid::new_v4())).await.status(), 404);
    assert_eq!(
        json_of(get(&app, &token, "/users?cursor=garbage").await, 422).await["error"]["code"],
        "VALIDATION_FAILED"
    );
}

async fn pages_stay_stable_while_users_are_added(backend: Backend) {
    let app = spawn(backend).await;
    let (_, _, token) = admin(&app).await;
    for n in 0..5 {
        person(&app, 100 + n, &format!("early{n}")).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut added = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("/users?q=early&limit=2&cursor={c}"),
            None => "/users?q=early&limit=2".to_owned(),
        };
        let page = json_of(get(&app, &token, &query).await, 200).await;
        seen.extend(page["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()));
        // Someone signs up between pages: they sort before the cursor and never show up late.
        person(&app, 200 + added, &format!("early.late{added}")).await;
        added += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["early4", "early3", "early2", "early1", "early0"]);
    assert_eq!(usernames(&app, &token, "q=early.late").await.len(), added as usize);
}

async fn a_disabled_user_is_out_everywhere_and_enabling_lets_them_sign_in_again(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin_id, token) = admin(&app).await;
    let (browser, victim) = person(&app, 7, "mallory").await;
    let issued = console_tokens(&app, &browser, "openid").await;
    let (access, refresh) = (issued["access_token"].as_str().unwrap(), issued["refresh_token"].as_str().unwrap());
    assert_eq!(app.verify_status(access).await, 200);

    let disabled =
        json_of(post(&app, &token, &format!("/users/{victim}/disable"), Some(json!({"reason": "spam"}))).await, 200)
            .await;
    assert_eq!((disabled["disabled"].clone(), disabled["disabled_reason"].clone()), (json!(true), json!("spam")));
    assert_eq!(app.signed_in_username(&browser).await, None, "the browser is signed out");
    assert_eq!(app.verify_status(access).await, 401, "the access token is dead");
    assert_eq!(app.refresh(app.registered("console"), refresh).await.status(), 400, "the refresh token is dead");
    // No new sign-in: a 403 page.
    let again = app.browser();
    let resp = app.sign_in_with(&again, Provider::Google, &Person::new(7, "mallory@example.com")).await;
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("ACCOUNT_DISABLED"));
    assert_eq!(app.signed_in_username(&again).await, None);
    // No Gmail token for them.
    let service = app.service_token(app.registered("mailer")).await;
    let vend = json_of(app.post_vend(&service, victim, "bot-1").await, 403).await;
    assert_eq!(vend["error"]["code"], "USER_DISABLED");

    let enabled = json_of(post(&app, &token, &format!("/users/{victim}/enable"), None).await, 200).await;
    assert_eq!(enabled["disabled"], false);
    let resp = app.sign_in_with(&again, Provider::Google, &Person::new(7, "mallory@example.com")).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(app.signed_in_username(&again).await.as_deref(), Some("mallory"));
    assert_eq!(app.verify_status(access).await, 401, "old tokens stay dead");

    let events = json_of(get(&app, &token, &format!("/audit?user_id={victim}&kind=admin_disable")).await, 200).await;
    assert_eq!(events["events"][0]["actor_id"], admin_id.to_string());
    assert_eq!(events["events"][0]["detail"]["reason"], "spam");
    assert_eq!(post(&app, &token, &format!("/users/{}/disable", Uuid::new_v4()), Some(json!({}))).await.status(), 404);
}

async fn the_last_identity_goes_only_from_a_disabled_account(backend: Backend) {
    let app = spawn(backend).await;
    let (_, _, token) = admin(&app).await;
    let (_, user) = person(&app, 8, "lonely").await;
    let detail = json_of(get(&app, &token, &format!("/users/{user}")).await, 200).await;
    let identity = detail["identities"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/admin/users/{user}/identities/{identity}");
    let delete = || async { rp_http().delete(app.url(&path)).bearer_auth(&token).send().await.unwrap() };
    assert_eq!(json_of(delete().await, 409).await["error"]["code"], "LAST_IDENTITY");
    post(&app, &token, &format!("/users/{user}/disable"), Some(json!({"reason": "closing"}))).await;
    assert_eq!(delete().await.status(), 204);
    assert_eq!(delete().await.status(), 404);
}

async fn ending_sessions_and_the_audit_log_name_the_admin(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin_id, token) = admin(&app).await;
    let (browser, user) = person(&app, 9, "stolen.phone").await;
    assert_eq!(post(&app, &token, &format!("/users/{user}/end-sessions"), None).await.status(), 204);
    assert_eq!(app.signed_in_username(&browser).await, None);
    let page = json_of(get(&app, &token, "/audit?kind=admin_end_sessions").await, 200).await;
    let event = &page["events"][0];
    assert_eq!((event["user_id"].clone(), event["actor_id"].clone()), (json!(user), json!(admin_id)));
    // Every event, a page at a time.
    let first = json_of(get(&app, &token, "/audit?limit=1").await, 200).await;
    let next = first["next_cursor"].as_str().unwrap();
    let second = json_of(get(&app, &token, &format!("/audit?limit=1&cursor={next}")).await, 200).await;
    assert_ne!(first["events"][0], second["events"][0]);
}

async fn the_dashboard_counts(backend: Backend) {
    let app = spawn(backend).await;
    let (_, _, token) = admin(&app).await;
    person(&app, 10, "counted").await;
    let stats = json_of(get(&app, &token, "/stats").await, 200).await;
    assert_eq!(stats["users"], 2);
    assert_eq!(stats["active_1d"], 2);
    assert_eq!(stats["active_30d"], 2);
    assert_eq!(stats["identities"]["google"], 2);
    assert_eq!(stats["gmail"], json!({"active": 0, "needs_reauth": 0}));
    assert!(stats["legacy_pending"].is_object());
}

// The command line acts on the database (and, without Redis, the ephemeral table in it): the
// SQLite backend carries both, which is what a CLI run against a test app can reach.
#[tokio::test]
async fn the_users_commands_find_promote_disable_and_enable() {
    use crate::oidc_more::munji_cli;
    let app = spawn(Backend::Sqlite).await;
    let (browser, id) = person(&app, 11, "cli.user").await;
    let stdout = |out: std::process::Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let listed: Value = serde_json::from_str(&stdout(munji_cli(&app, &["users", "list", "--json"]))).unwrap();
    assert_eq!(listed[0]["id"], id.to_string());
    assert_eq!(listed[0]["is_admin"], false);
    let shown: Value =
        serde_json::from_str(&stdout(munji_cli(&app, &["users", "show", "cli.user", "--json"]))).unwrap();
    assert_eq!(
        (shown["username"].clone(), shown["identities"][0]["provider"].clone()),
        (json!("cli.user"), json!("google"))
    );
    assert!(stdout(munji_cli(&app, &["users", "grant-admin", &id.to_string()])).contains("\tadmin\t"));
    assert!(users::find_by_id(&app.state.db, id).await.unwrap().unwrap().is_admin);
    assert!(stdout(munji_cli(&app, &["users", "disable", "cli.user", "--reason", "test"])).contains("disabled"));
    assert_eq!(app.signed_in_username(&browser).await, None, "the CLI ended the sessions");
    assert!(stdout(munji_cli(&app, &["users", "enable", "cli.user"])).contains("enabled"));
    let found = stdout(munji_cli(&app, &["users", "list", "--query", "cli.user@EXAMPLE.com"]));
    assert_eq!(found.lines().count(), 1, "{found}");
    for refused in [vec!["users", "show", "nobody"], vec!["users", "delete", "cli.user"]] {
        let out = munji_cli(&app, &refused);
        assert!(!out.status.success(), "{refused:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
    assert!(users::find_by_id(&app.state.db, id).await.unwrap().is_some(), "delete changed nothing");
}

async fn clients_are_added_given_new_secrets_and_removed(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin_id, token) = admin(&app).await;
    let new = json!({"id": "reports", "grant_types": ["client_credentials"], "scopes": ["reports.read"]});
    let created = json_of(post(&app, &token, "/clients", Some(new.clone())).await, 201).await;
    let first = created["client_secret"].as_str().unwrap().to_owned();
    let reports = |secret: &str| RegisteredClient::claiming("reports", secret);
    assert_eq!(app.client_credentials(&reports(&first)).await.status(), 200);
    assert_eq!(json_of(post(&app, &token, "/clients", Some(new)).await, 409).await["error"]["code"], "CLIENT_EXISTS");
    let bad = json!({"id": "bad", "redirect_uris": ["http://evil.example/cb"]});
    assert_eq!(
        json_of(post(&app, &token, "/clients", Some(bad)).await, 422).await["error"]["code"],
        "VALIDATION_FAILED"
    );

    let listed = json_of(get(&app, &token, "/clients").await, 200).await;
    let row = listed["clients"].as_array().unwrap().iter().find(|c| c["id"] == "reports").unwrap().clone();
    assert_eq!((row["source"].clone(), row["public"].clone()), (json!("database"), json!(false)));

    let renewed = json_of(post(&app, &token, "/clients/reports/secret", None).await, 200).await;
    let second = renewed["client_secret"].as_str().unwrap();
    assert_eq!(app.client_credentials(&reports(second)).await.status(), 200, "the new secret works at once");
    assert_eq!(app.client_credentials(&reports(&first)).await.status(), 401, "the old one is dead");
    assert_eq!(post(&app, &token, "/clients/nobody/secret", None).await.status(), 404);

    let delete =
        |id: &str| rp_http().delete(app.url(&format!("/api/v1/admin/clients/{id}"))).bearer_auth(&token).send();
    assert_eq!(delete("reports").await.unwrap().status(), 204);
    assert_eq!(app.client_credentials(&reports(second)).await.status(), 401);
    assert_eq!(delete("reports").await.unwrap().status(), 404);
    let events =
        json_of(get(&app, &token, &format!("/audit?user_id={admin_id}&kind=admin_client_change")).await, 200).await;
    let changes: Vec<&str> =
        events["events"].as_array().unwrap().iter().map(|e| e["detail"]["change"].as_str().unwrap()).collect();
    assert_eq!(changes, ["removed", "new_secret", "created"]);
}
