//! Vending Gmail access tokens to services (docs/gmail.md): only to services with `gmail.vend`
//! for their `gmail_targets`, only what the user equipped, refreshed once however many ask, a
//! revoked grant reported as such, and never the refresh token.

use chrono::{Duration, Utc};
use futures_util::future::join_all;
use munji::{
    gmail::connect,
    store::gmail::{self, Refreshed},
    upstream::{GMAIL_SEND, Provider},
};
use reqwest::{Client, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    faults::{Fault, faulty, mock_provider},
    gmail::{connect_gmail, gmail_person, rotate_encryption, signed_up},
};
use crate::helpers::{
    Backend, TestApp,
    api::{error_code, post_vend},
    clients,
    oidc::rp_http,
    social::form_value,
};
use wiremock::ResponseTemplate;

crate::on_every_backend!(
    a_service_vends_a_working_access_token_and_nothing_else,
    vending_follows_the_services_targets_and_the_users_choice,
    twenty_concurrent_vends_of_an_expiring_token_refresh_once,
    a_revoked_grant_needs_reauth_until_the_user_connects_again,
    a_failing_google_answers_upstream_unavailable_and_keeps_the_connection,
    after_rotating_the_encryption_key_every_connection_still_vends,
    a_refresh_that_lands_after_a_reconnect_changes_nothing,
    refusals_count_against_the_callers_vend_limit_and_past_it_write_nothing,
    a_malformed_target_is_a_validation_error_and_writes_nothing,
    equipping_and_unequipping_have_a_limit_per_user,
    a_short_lived_token_from_google_is_handed_out_with_its_real_expiry,
);

/// A user with one Gmail connection equipped to `bot-1`, and a service `mailer` that may vend
/// for `targets`.
struct Setup {
    app: TestApp,
    browser: Client,
    user_token: String,
    user_id: Uuid,
    connection_id: Uuid,
    service_token: String,
}

async fn setup(backend: Backend, targets: &[&str]) -> Setup {
    let app = TestApp::builder(backend).with_web_client().with_vending_client("mailer", targets).spawn().await;
    let browser = signed_up(&app).await;
    connect_gmail(&app, &browser, &gmail_person()).await;
    let (user_token, _) = app.tokens_for(&browser).await;
    let row = gmail::list_all(&app.state.db).await.unwrap().remove(0);
    assert_eq!(app.post_equip(&user_token, row.id, "bot-1").await.status(), 200);
    let service_token = app.service_token(app.registered("mailer")).await;
    Setup { app, browser, user_token, user_id: row.user_id, connection_id: row.id, service_token }
}

/// Register a client-credentials client and return a token of it.
async fn service_token(app: &TestApp, id: &str, scopes: &[&str], targets: &[&str]) -> String {
    app.service_token(&app.register(clients::service(id, scopes, targets)).await).await
}

/// Make the stored access token look as if it had `left` to live.
async fn expire_in(app: &TestApp, id: Uuid, left: Duration) {
    let row = gmail::find(&app.state.db, id).await.unwrap().unwrap();
    let now = Utc::now();
    let refreshed =
        Refreshed { access_token: &row.access_token, access_expires_at: now + left, refresh_token: None, scopes: None };
    assert!(gmail::store_refreshed(&app.state.db, id, row.refresh_token.as_deref(), &refreshed, now).await.unwrap());
}

/// What the Google imitation counted: refreshes answered and messages sent.
async fn google_stats(app: &TestApp) -> Value {
    let url = format!("{}/dev/google/_stats", app.dev_provider_url);
    rp_http().get(url).send().await.unwrap().json().await.unwrap()
}

async fn gmail_events(app: &TestApp, user_id: Uuid, kind: &str) -> usize {
    let events = munji::store::audit::list_for_user(&app.state.db, user_id, 200).await.unwrap();
    events.iter().filter(|e| e.kind == kind).count()
}

/// Send a message with `access_token` through the Gmail imitation.
async fn send_mail(app: &TestApp, access_token: &str) -> Response {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode("To: friend@example.com\r\nSubject: hello\r\n\r\nsent by a bot");
    rp_http()
        .post(format!("{}/dev/google/gmail/v1/users/me/messages/send", app.dev_provider_url))
        .bearer_auth(access_token)
        .json(&json!({"raw": raw}))
        .send()
        .await
        .unwrap()
}

async fn a_service_vends_a_working_access_token_and_nothing_else(backend: Backend) {
    let s = setup(backend, &["bot-1"]).await;
    let app = &s.app;

    let resp = app.post_vend(&s.service_token, s.user_id, "bot-1").await;

    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access_token", "expires_at", "gmail_address", "scopes"]);
    assert_eq!(body["gmail_address"], "sender@gmail.com");
    assert!(body["scopes"].as_array().unwrap().contains(&Value::from(GMAIL_SEND)));
    let expires_at: chrono::DateTime<Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires_at > Utc::now() + Duration::seconds(60));
    // The token is the stored one and it sends mail; the refresh token stays in munji.
    let row = gmail::find(&app.state.db, s.connection_id).await.unwrap().unwrap();
    let refresh = connect::open_refresh(&app.state.vault, &row).unwrap().unwrap();
    let access_token = body["access_token"].as_str().unwrap();
    assert_eq!(access_token, connect::open_access(&app.state.vault, &row).unwrap());
    let text = body.to_string();
    assert!(!text.contains(&refresh) && !text.contains("test-secret"), "no refresh token, no client secret");
    assert_eq!(send_mail(app, access_token).await.status(), 200);
    assert_eq!(send_mail(app, "not-a-token").await.status(), 401);
    assert_eq!(google_stats(app).await["refreshes"], 0, "a fresh token is not refreshed");

    // Audited for the user (with the service and target), and counted.
    let audit = app.get_api_json("/me/gmail/audit", &s.user_token).await;
    let events = audit["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["gmail_vend", "gmail_equip", "gmail_connect"], "newest first, Gmail only");
    assert_eq!(events[0]["detail"]["client_id"], "mailer");
    assert_eq!(events[0]["detail"]["equipped_to"], "bot-1");
    assert!(events[0]["at"].as_str().unwrap().parse::<chrono::DateTime<Utc>>().is_ok());
    let all = app.get_api_json("/me/audit?limit=2", &s.user_token).await;
    assert_eq!(all["events"].as_array().unwrap().len(), 2);
    let everything = app.get_api_json("/me/audit", &s.user_token).await;
    assert!(everything["events"].as_array().unwrap().iter().any(|e| e["kind"] == "signup"));
    let bad_limit = app.get_api("/me/audit?limit=0", &s.user_token).await;
    assert_eq!(bad_limit.status(), 422);
    let by_service = app.get_api("/me/gmail/audit", &s.service_token).await;
    assert_eq!(by_service.status(), 403, "a service has no audit log of its own here");
    assert!(app.get_metrics().await.contains(r#"munji_gmail_vends_total{outcome="ok"} 1"#));
}

async fn vending_follows_the_services_targets_and_the_users_choice(backend: Backend) {
    let s = setup(backend, &["bot-2"]).await;
    let app = &s.app;
    let base = app.base_url.as_str();

    // bot-1 is not among mailer's targets.
    let resp = post_vend(base, &s.service_token, s.user_id, "bot-1").await;
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "FORBIDDEN");
    // A user's token, or a service without gmail.vend, may not vend at all.
    assert_eq!(post_vend(base, &s.user_token, s.user_id, "bot-1").await.status(), 403);
    let reader = service_token(app, "reader", &["api"], &["*"]).await;
    assert_eq!(post_vend(base, &reader, s.user_id, "bot-1").await.status(), 403);
    // No token, or a forged one.
    let anonymous = rp_http()
        .post(app.url("/api/v1/gmail/access-token"))
        .json(&json!({"user_id": s.user_id, "equipped_to": "bot-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(error_code(post_vend(base, "e30.e30.e30", s.user_id, "bot-1").await).await, "INVALID_TOKEN");

    // A service for any target: what is equipped vends, what is not is 404.
    let any = service_token(app, "any-bot", &["gmail.vend"], &["*"]).await;
    assert_eq!(post_vend(base, &any, s.user_id, "bot-1").await.status(), 200);
    let resp = post_vend(base, &any, s.user_id, "bot-2").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "GMAIL_NOT_EQUIPPED");
    assert_eq!(error_code(post_vend(base, &any, Uuid::new_v4(), "bot-1").await).await, "USER_NOT_FOUND");
    let malformed = rp_http()
        .post(app.url("/api/v1/gmail/access-token"))
        .bearer_auth(&any)
        .json(&json!({"user_id": "not-a-uuid", "equipped_to": "bot-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 422);
    assert_eq!(error_code(malformed).await, "VALIDATION_FAILED");

    // The user unequips: nothing to vend any more.
    let unequip = app.delete_equip(&s.user_token, s.connection_id).await;
    assert_eq!(unequip.status(), 204);
    assert_eq!(error_code(post_vend(base, &any, s.user_id, "bot-1").await).await, "GMAIL_NOT_EQUIPPED");

    assert_eq!(gmail_events(app, s.user_id, "gmail_vend").await, 1, "only the one vend that succeeded is audited");
    let refused = app.get_api_json("/me/gmail/audit", &s.user_token).await["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "gmail_vend_refused")
        .map(|e| {
            (e["detail"]["client_id"].as_str().unwrap().to_owned(), e["detail"]["reason"].as_str().unwrap().to_owned())
        })
        .collect::<Vec<_>>();
    assert_eq!(
        refused,
        [
            ("reader".to_owned(), "not_a_vending_service".to_owned()),
            ("web".to_owned(), "not_a_vending_service".to_owned()),
            ("mailer".to_owned(), "target_not_allowed".to_owned()),
        ],
        "every refusal is in the user's log, newest first"
    );
    assert!(app.get_metrics().await.contains(r#"munji_gmail_vends_total{outcome="not_equipped"} 3"#));
}

async fn twenty_concurrent_vends_of_an_expiring_token_refresh_once(backend: Backend) {
    let s = setup(backend, &["bot-1"]).await;
    let app = &s.app;
    let before = app.post_vend(&s.service_token, s.user_id, "bot-1").await.json::<Value>().await.unwrap();
    expire_in(app, s.connection_id, Duration::seconds(30)).await;

    let answers = join_all((0..20).map(|_| app.post_vend(&s.service_token, s.user_id, "bot-1"))).await;

    let mut tokens = vec![];
    for answer in answers {
        assert_eq!(answer.status(), 200);
        let body: Value = answer.json().await.unwrap();
        let expires_at: chrono::DateTime<Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
        assert!(expires_at > Utc::now() + Duration::minutes(50), "a new token, live for about an hour");
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "everyone got the one refreshed token");
    assert_ne!(tokens[0], before["access_token"].as_str().unwrap());
    assert_eq!(google_stats(app).await["refreshes"], 1, "one refresh at Google");
    assert_eq!(gmail_events(app, s.user_id, "gmail_refresh").await, 1);
    assert_eq!(send_mail(app, &tokens[0]).await.status(), 200);

    // Fifty vends on two instances of munji on the same stores: still one refresh.
    let other = app.sibling(&[]).await;
    expire_in(app, s.connection_id, Duration::seconds(-10)).await;
    let bases = [app.base_url.as_str(), other.base_url.as_str()];
    let answers = join_all((0..50).map(|i| post_vend(bases[i % 2], &s.service_token, s.user_id, "bot-1"))).await;
    assert!(answers.iter().all(|a| a.status() == 200));
    assert_eq!(google_stats(app).await["refreshes"], 2, "one more refresh for both instances");
    assert!(app.get_metrics().await.contains(r#"munji_gmail_refreshes_total{outcome="ok"}"#));
}

async fn a_revoked_grant_needs_reauth_until_the_user_connects_again(backend: Backend) {
    let s = setup(backend, &["bot-1"]).await;
    let app = &s.app;
    // The user revokes munji's access in their Google account.
    let row = gmail::find(&app.state.db, s.connection_id).await.unwrap().unwrap();
    let refresh = connect::open_refresh(&app.state.vault, &row).unwrap().unwrap();
    let revoked = rp_http()
        .post(format!("{}/dev/google/revoke", app.dev_provider_url))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    expire_in(app, s.connection_id, Duration::seconds(10)).await;

    let resp = app.post_vend(&s.service_token, s.user_id, "bot-1").await;

    assert_eq!(resp.status(), 409);
    assert_eq!(error_code(resp).await, "GMAIL_TOKEN_REVOKED");
    let list = app.get_api_json("/me/gmail", &s.user_token).await;
    assert_eq!(list["connections"][0]["status"], "needs_reauth");
    assert!(app.get_account(&s.browser).await.text().await.unwrap().contains("needs to be connected again"));
    // Asking again does not ask Google again.
    assert_eq!(error_code(app.post_vend(&s.service_token, s.user_id, "bot-1").await).await, "GMAIL_TOKEN_REVOKED");
    assert_eq!(gmail_events(app, s.user_id, "gmail_revoked").await, 1);

    // Connecting the same address again renews the connection, target and all.
    connect_gmail(app, &s.browser, &gmail_person()).await;
    let list = app.get_api_json("/me/gmail", &s.user_token).await;
    let connections = list["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1, "renewed, not duplicated");
    assert_eq!(connections[0]["status"], "active");
    assert_eq!(connections[0]["equipped_to"], "bot-1");
    let resp = app.post_vend(&s.service_token, s.user_id, "bot-1").await;
    assert_eq!(resp.status(), 200);
    let token = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(send_mail(app, &token).await.status(), 200);
}

async fn a_failing_google_answers_upstream_unavailable_and_keeps_the_connection(backend: Backend) {
    let s = setup(backend, &["bot-1"]).await;
    let app = &s.app;
    expire_in(app, s.connection_id, Duration::seconds(-60)).await;

    for fault in [Fault::ServerError, Fault::Timeout] {
        let google = mock_provider(Provider::Google, faulty(fault)).await;
        let broken = app
            .sibling(&[("MUNJI_PROVIDERS__GOOGLE__ISSUER_URL", &google.uri()), ("MUNJI_UPSTREAM_TIMEOUT", "1s")])
            .await;
        let answers =
            join_all((0..10).map(|_| post_vend(&broken.base_url, &s.service_token, s.user_id, "bot-1"))).await;
        for answer in answers {
            assert_eq!(answer.status(), 502, "{fault:?}");
            assert_eq!(error_code(answer).await, "UPSTREAM_UNAVAILABLE");
        }
        let requests = google.received_requests().await.unwrap();
        let tried = requests.iter().filter(|r| r.url.path() == "/token").count();
        // One try per failure window (a loaded machine may spread ten requests over two).
        assert!(tried <= 2, "{fault:?}: {tried} tries at Google; not one per waiting vend");
        // The failure is remembered for a few seconds only.
        tokio::time::sleep(munji::gmail::vend::FAILURE_HOLD + std::time::Duration::from_millis(100)).await;
    }

    let row = gmail::find(&app.state.db, s.connection_id).await.unwrap().unwrap();
    assert_eq!(row.status, munji::store::gmail::ConnectionStatus::Active, "an outage is not a revocation");
    assert_eq!(app.post_vend(&s.service_token, s.user_id, "bot-1").await.status(), 200, "Google is back");
}

async fn after_rotating_the_encryption_key_every_connection_still_vends(backend: Backend) {
    let s = setup(backend, &["*"]).await;
    let app = &s.app;
    connect_gmail(app, &s.browser, &crate::helpers::social::Person::new(9002, "second@gmail.com")).await;
    let second = gmail::list_all(&app.state.db).await.unwrap().into_iter().find(|c| c.id != s.connection_id).unwrap();
    let page = app.get_account(&s.browser).await.text().await.unwrap();
    let csrf = form_value(&page, "csrf").unwrap();
    let equipped = s
        .browser
        .post(app.url(&format!("/account/gmail/{}/equip", second.id)))
        .form(&[("csrf", csrf.as_str()), ("equipped_to", "bot-2")])
        .send()
        .await
        .unwrap();
    assert_eq!(equipped.status(), 303);

    rotate_encryption(app, "bmV3LWVuY3J5cHRpb24ta2V5LW9mLTMyLWJ5dGVzISE=");

    // An instance that knows only the new key vends both, fresh and refreshed.
    let rotated = app.sibling(&[("MUNJI_ENCRYPTION_KEYS", "test2:bmV3LWVuY3J5cHRpb24ta2V5LW9mLTMyLWJ5dGVzISE=")]).await;
    expire_in(app, second.id, Duration::seconds(-1)).await;
    for target in ["bot-1", "bot-2"] {
        let resp = post_vend(&rotated.base_url, &s.service_token, s.user_id, target).await;
        assert_eq!(resp.status(), 200, "{target}");
        let token = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(send_mail(app, &token).await.status(), 200);
    }
    for row in gmail::list_all(&app.state.db).await.unwrap() {
        assert!(row.access_token.starts_with("test2:") && row.refresh_token.unwrap().starts_with("test2:"));
    }
    assert_eq!(google_stats(app).await["refreshes"], 1, "the expired one was refreshed with its re-sealed token");
}

async fn a_refresh_that_lands_after_a_reconnect_changes_nothing(backend: Backend) {
    let s = setup(backend, &["bot-1"]).await;
    let app = &s.app;
    let before = gmail::find(&app.state.db, s.connection_id).await.unwrap().unwrap();

    // The user reconnects while a refresh with the old grant is on its way to Google.
    connect_gmail(app, &s.browser, &gmail_person()).await;
    let renewed = gmail::find(&app.state.db, s.connection_id).await.unwrap().unwrap();
    assert_ne!(renewed.refresh_token, before.refresh_token, "a new grant");

    let now = Utc::now();
    let late =
        Refreshed { access_token: &before.access_token, access_expires_at: now, refresh_token: None, scopes: None };
    let seen = before.refresh_token.as_deref();
    assert!(!gmail::store_refreshed(&app.state.db, s.connection_id, seen, &late, now).await.unwrap());
    assert!(!gmail::mark_needs_reauth(&app.state.db, s.connection_id, seen, now).await.unwrap());
    let after = gmail::find(&app.state.db, s.connection_id).await.unwrap().unwrap();
    assert_eq!(after.access_token, renewed.access_token, "the reconnect's token stays");
    assert_eq!(after.status, munji::store::gmail::ConnectionStatus::Active);
    assert_eq!(app.post_vend(&s.service_token, s.user_id, "bot-1").await.status(), 200);
}

/// How many audit events of `user_id` there are in all.
async fn all_events(app: &TestApp, user_id: Uuid) -> usize {
    munji::store::audit::list_for_user(&app.state.db, user_id, 200).await.unwrap().len()
}

async fn refusals_count_against_the_callers_vend_limit_and_past_it_write_nothing(backend: Backend) {
    let s = setup(backend, &["bot-1"]).await;
    let app = &s.app;
    let limited = app.sibling(&[("MUNJI_RATE_LIMITS__VEND", "3/min")]).await;
    let base = limited.base_url.as_str();
    let reader = service_token(app, "reader", &["api"], &["*"]).await;

    // A signed-in user's token (not a service's): refused and audited within the limit, then
    // 429 with nothing written, however large the target.
    // As large as a request body may be.
    let huge = "x".repeat(64 * 1024 - 100);
    for _ in 0..3 {
        assert_eq!(post_vend(base, &s.user_token, s.user_id, "bot-1").await.status(), 403);
    }
    let written = all_events(app, s.user_id).await;
    for target in ["bot-1", "bot-2", huge.as_str()] {
        let resp = post_vend(base, &s.user_token, s.user_id, target).await;
        if target == huge {
            assert_eq!(resp.status(), 422, "a malformed target is refused before anything else");
            continue;
        }
        assert_eq!(resp.status(), 429);
        assert!(resp.headers().contains_key("retry-after"));
        assert_eq!(error_code(resp).await, "RATE_LIMIT_EXCEEDED");
    }
    assert_eq!(all_events(app, s.user_id).await, written, "nothing written past the limit");
    assert_eq!(gmail_events(app, s.user_id, "gmail_vend_refused").await, 3);

    // Per caller: a service without gmail.vend has a budget of its own, and so has the service
    // that may vend, which still does.
    for expected in [403, 403, 403, 429] {
        assert_eq!(post_vend(base, &reader, s.user_id, "bot-1").await.status(), expected);
    }
    assert_eq!(gmail_events(app, s.user_id, "gmail_vend_refused").await, 6);
    assert_eq!(post_vend(base, &s.service_token, s.user_id, "bot-1").await.status(), 200);
}

async fn a_malformed_target_is_a_validation_error_and_writes_nothing(backend: Backend) {
    let s = setup(backend, &["*"]).await;
    let app = &s.app;
    let base = app.base_url.as_str();
    let written = all_events(app, s.user_id).await;
    let too_long = "x".repeat(65);
    let huge = "x".repeat(64 * 1024 - 100);
    let bad = ["", "has space", "a/b", "<script>", "bot-1\n", "b\u{f6}t", too_long.as_str(), huge.as_str()];

    for target in bad {
        for token in [&s.service_token, &s.user_token] {
            let resp = post_vend(base, token, s.user_id, target).await;
            assert_eq!(resp.status(), 422, "vend {:?}", target.get(..20));
            assert_eq!(error_code(resp).await, "VALIDATION_FAILED");
        }
        let equip = app.post_equip(&s.user_token, s.connection_id, target).await;
        assert_eq!(equip.status(), 422, "equip {:?}", target.get(..20));
        assert_eq!(error_code(equip).await, "VALIDATION_FAILED");
    }
    // The account page's form refuses them too.
    let page = app.get_account(&s.browser).await.text().await.unwrap();
    let csrf = form_value(&page, "csrf").unwrap();
    for target in ["has space", too_long.as_str()] {
        let resp = s
            .browser
            .post(app.url(&format!("/account/gmail/{}/equip", s.connection_id)))
            .form(&[("csrf", csrf.as_str()), ("equipped_to", target)])
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error(), "page {:?}: {}", target.get(..20), resp.status());
    }

    assert_eq!(all_events(app, s.user_id).await, written, "nothing was written");
    let connection = gmail::find(&app.state.db, s.connection_id).await.unwrap().unwrap();
    assert_eq!(connection.equipped_to.as_deref(), Some("bot-1"));
    // The longest and oddest target allowed is a target like any other.
    let edge = format!("a.b_c:d-{}", "9".repeat(56));
    assert_eq!(edge.len(), 64);
    assert_eq!(error_code(post_vend(base, &s.service_token, s.user_id, &edge).await).await, "GMAIL_NOT_EQUIPPED");
}

async fn equipping_and_unequipping_have_a_limit_per_user(backend: Backend) {
    let s = setup(backend, &["*"]).await;
    let app = &s.app;
    // Five a minute, one of which the set-up's equip used.
    let limited = app.sibling(&[("MUNJI_RATE_LIMITS__PAGES", "5/min")]).await;
    let http = rp_http();
    let url = format!("{}/api/v1/me/gmail/{}/equip", limited.base_url, s.connection_id);
    let equip =
        |target: &'static str| http.post(&url).bearer_auth(&s.user_token).json(&json!({"equipped_to": target})).send();
    let unequip = || http.delete(&url).bearer_auth(&s.user_token).send();

    assert_eq!(equip("bot-2").await.unwrap().status(), 200);
    assert_eq!(unequip().await.unwrap().status(), 204);
    assert_eq!(equip("bot-3").await.unwrap().status(), 200);
    assert_eq!(unequip().await.unwrap().status(), 204);
    let written = all_events(app, s.user_id).await;
    for resp in [equip("bot-4").await.unwrap(), unequip().await.unwrap()] {
        assert_eq!(resp.status(), 429);
        assert!(resp.headers().contains_key("retry-after"));
        assert_eq!(error_code(resp).await, "RATE_LIMIT_EXCEEDED");
    }
    // The account page's forms share the user's budget.
    let page = app.get_account(&s.browser).await.text().await.unwrap();
    let csrf = form_value(&page, "csrf").unwrap();
    let form = s
        .browser
        .post(format!("{}/account/gmail/{}/equip", limited.base_url, s.connection_id))
        .form(&[("csrf", csrf.as_str()), ("equipped_to", "bot-5")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 429);
    assert_eq!(all_events(app, s.user_id).await, written, "nothing written past the limit");
    assert_eq!(gmail::find(&app.state.db, s.connection_id).await.unwrap().unwrap().equipped_to, None);

    // Another user has a budget of their own.
    let other = app.browser();
    app.sign_up_with(&other, Provider::Kakao, &crate::helpers::social::Person::new(77, "other@kakao.com"), "other")
        .await;
    let (other_token, _) = app.tokens_for(&other).await;
    let missing = format!("{}/api/v1/me/gmail/{}/equip", limited.base_url, Uuid::new_v4());
    let resp =
        http.post(missing).bearer_auth(&other_token).json(&json!({"equipped_to": "bot-1"})).send().await.unwrap();
    assert_eq!(resp.status(), 404, "counted for the other user, not refused");
}

async fn a_short_lived_token_from_google_is_handed_out_with_its_real_expiry(backend: Backend) {
    let s = setup(backend, &["bot-1"]).await;
    let app = &s.app;
    // A Google that issues tokens good for thirty seconds, a little slowly.
    let short = ResponseTemplate::new(200)
        .set_body_json(json!({"access_token": "short-lived", "token_type": "Bearer", "expires_in": 30}))
        .set_delay(std::time::Duration::from_millis(500));
    let google = mock_provider(Provider::Google, short).await;
    let other = app.sibling(&[("MUNJI_PROVIDERS__GOOGLE__ISSUER_URL", &google.uri())]).await;
    expire_in(app, s.connection_id, Duration::seconds(-5)).await;

    let answers = join_all((0..10).map(|_| post_vend(&other.base_url, &s.service_token, s.user_id, "bot-1"))).await;

    for answer in answers {
        assert_eq!(answer.status(), 200);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["access_token"], "short-lived");
        let expires_at: chrono::DateTime<Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
        assert!(expires_at > Utc::now() && expires_at <= Utc::now() + Duration::seconds(30), "{expires_at}");
    }
    let requests = google.received_requests().await.unwrap();
    assert_eq!(requests.iter().filter(|r| r.url.path() == "/token").count(), 1, "one refresh for all ten");
    assert_eq!(gmail_events(app, s.user_id, "gmail_refresh").await, 1);

    // One that has already expired when it arrives is no token to hand out.
    let expired = ResponseTemplate::new(200)
        .set_body_json(json!({"access_token": "dead-on-arrival", "token_type": "Bearer", "expires_in": 0}));
    let google = mock_provider(Provider::Google, expired).await;
    let broken = app.sibling(&[("MUNJI_PROVIDERS__GOOGLE__ISSUER_URL", &google.uri())]).await;
    expire_in(app, s.connection_id, Duration::seconds(-5)).await;
    let resp = post_vend(&broken.base_url, &s.service_token, s.user_id, "bot-1").await;
    assert_eq!(resp.status(), 502);
    assert_eq!(error_code(resp).await, "UPSTREAM_UNAVAILABLE");
}
