//! The providers' account-event hooks (docs/provider-events.md): every refusal changes nothing,
//! and each accepted event has its effect (identity gone, sessions ended, account disabled on
//! the last identity, Gmail marked for reconnection, an audit event).

use munji::{
    store::{audit, gmail, identities, users},
    upstream::{Provider, naver::notice},
};
use reqwest::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, api::error_code, oidc::rp_http, social::Person};

crate::on_every_backend!(
    kakao_refusals_change_nothing_and_an_unknown_person_is_a_200,
    a_kakao_unlink_removes_the_identity_and_ends_the_sessions,
    the_last_identity_unlinked_disables_the_account,
    naver_refuses_a_bad_signature_or_an_old_timestamp_and_unlinks_on_a_good_one,
    risc_refusals_change_nothing,
    sessions_revoked_ends_sessions_and_a_replayed_jti_does_nothing,
    tokens_revoked_marks_gmail_and_account_purged_unlinks,
    the_dev_providers_buttons_send_each_event_for_real,
    hooks_that_are_not_set_up_are_not_there,
);

const ADMIN_KEY: &str = "kakao-admin-key-of-the-tests";
const DEV_KID: &str = "munji-dev-google-1";
const SESSIONS_REVOKED: &str = "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked";
const TOKENS_REVOKED: &str = "https://schemas.openid.net/secevent/oauth/event-type/tokens-revoked";
const ACCOUNT_PURGED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-purged";

async fn spawn(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .with_web_client()
        .env("MUNJI_PROVIDERS__KAKAO__ADMIN_KEY", ADMIN_KEY)
        .env("MUNJI_PROVIDERS__GOOGLE__RISC", "true")
        .spawn()
        .await
}

/// A new user signed up with `provider` as `uid`, and a live access token of theirs.
async fn user(app: &TestApp, provider: Provider, uid: u64, username: &str) -> (Uuid, String, reqwest::Client) {
    let browser = app.browser();
    let person = Person::new(uid, &format!("{username}@example.com"));
    assert_eq!(app.sign_up_with(&browser, provider, &person, username).await.status(), 303);
    let (access, _) = app.tokens_for(&browser).await;
    assert_eq!(app.verify_status(&access).await, 200);
    let id = users::find_by_username(&app.state.db, username).await.unwrap().unwrap().id;
    (id, access, browser)
}

/// Give the user a second identity (as linking would).
async fn add_identity(app: &TestApp, user_id: Uuid, provider: Provider, uid: &str) {
    let new = identities::NewIdentity {
        provider,
        uid,
        email: None,
        email_verified: false,
        logged_in: false,
        upstream_token: None,
    };
    identities::insert_for_user(&app.state.db, user_id, &new, chrono::Utc::now()).await.unwrap();
}

async fn has_identity(app: &TestApp, provider: Provider, uid: &str) -> bool {
    identities::find_by_provider_uid(&app.state.db, provider, uid).await.unwrap().is_some()
}

async fn kinds(app: &TestApp, user_id: Uuid) -> Vec<(String, Value)> {
    let rows = audit::list_for_user(&app.state.db, user_id, 50).await.unwrap();
    rows.into_iter().map(|r| (r.kind, r.detail.0)).collect()
}

async fn provider_audits(app: &TestApp, user_id: Uuid) -> Vec<Value> {
    let all = kinds(app, user_id).await;
    all.into_iter().filter(|(k, _)| k.starts_with("provider_")).map(|(_, d)| d).collect()
}

async fn disabled_reason(app: &TestApp, user_id: Uuid) -> Option<String> {
    let user = users::find_by_id(&app.state.db, user_id).await.unwrap().unwrap();
    user.disabled_at.map(|_| user.disabled_reason.unwrap_or_default())
}

async fn kakao(app: &TestApp, authorization: Option<&str>, form: &[(&str, &str)]) -> Response {
    let mut request = rp_http().post(app.url("/hooks/kakao/unlink")).form(form);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

fn kakao_form(user_id: &str) -> Vec<(&'static str, String)> {
    vec![("app_id", "1234".to_owned()), ("user_id", user_id.to_owned()), ("referrer_type", "UNLINK_FROM_APPS".into())]
}

async fn kakao_refusals_change_nothing_and_an_unknown_person_is_a_200(backend: Backend) {
    let app = spawn(backend).await;
    let (id, access, _) = user(&app, Provider::Kakao, 4100000001, "kakao.kim").await;
    let form = kakao_form("4100000001");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for authorization in [None, Some("KakaoAK wrong-key"), Some(&format!("Bearer {ADMIN_KEY}")[..]), Some("KakaoAK ")] {
        let resp = kakao(&app, authorization, &form).await;
        assert_eq!(resp.status(), 401, "{authorization:?}");
        assert_eq!(error_code(resp).await, "INVALID_TOKEN");
    }
    // Well authenticated, but about no one: refused as malformed.
    let resp = kakao(&app, Some(&format!("KakaoAK {ADMIN_KEY}")), &[("app_id", "1234")]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "INVALID_EVENT");
    assert!(has_identity(&app, Provider::Kakao, "4100000001").await);
    assert_eq!(app.verify_status(&access).await, 200);
    assert_eq!(disabled_reason(&app, id).await, None);
    assert!(provider_audits(&app, id).await.is_empty());

    // Someone munji never saw: 200, nothing changes (also as GET with the query string).
    let unknown = kakao(&app, Some(&format!("KakaoAK {ADMIN_KEY}")), &[("user_id", "4999999999")]).await;
    assert_eq!(unknown.status(), 200);
    let get = rp_http()
        .get(app.url("/hooks/kakao/unlink?app_id=1&user_id=4999999998&referrer_type=ACCOUNT_DELETE"))
        .header("authorization", format!("KakaoAK {ADMIN_KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(app.count_identities().await, 1);
    assert_eq!(app.verify_status(&access).await, 200);
}

async fn a_kakao_unlink_removes_the_identity_and_ends_the_sessions(backend: Backend) {
    let app = spawn(backend).await;
    let (id, access, browser) = user(&app, Provider::Kakao, 4100000002, "kakao.lee").await;
    add_identity(&app, id, Provider::Google, "20002").await;
    // Kakao may send JSON.
    let resp = rp_http()
        .post(app.url("/hooks/kakao/unlink"))
        .header("authorization", format!("KakaoAK {ADMIN_KEY}"))
        .json(&json!({"app_id": "1234", "user_id": 4100000002u64, "referrer_type": "UNLINK_FROM_APPS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(!has_identity(&app, Provider::Kakao, "4100000002").await, "the Kakao identity is gone");
    assert!(has_identity(&app, Provider::Google, "20002").await, "the other one stays");
    assert_eq!(app.verify_status(&access).await, 401, "the session ended");
    assert_eq!(app.signed_in_username(&browser).await, None, "the browser is signed out");
    assert_eq!(disabled_reason(&app, id).await, None, "other identities remain: not disabled");
    let audits = provider_audits(&app, id).await;
    assert_eq!(audits.len(), 1);
    assert_eq!((audits[0]["provider"].clone(), audits[0]["disabled"].clone()), (json!("kakao"), json!(false)));
    assert_eq!(audits[0]["cause"], "kakao_unlinked");
    assert!(kinds(&app, id).await.iter().any(|(k, _)| k == "provider_unlink"));

    // Told twice: the second call finds no one and changes nothing.
    let again = kakao(&app, Some(&format!("KakaoAK {ADMIN_KEY}")), &[("user_id", "4100000002")]).await;
    assert_eq!(again.status(), 200);
    assert_eq!(provider_audits(&app, id).await.len(), 1);
}

async fn the_last_identity_unlinked_disables_the_account(backend: Backend) {
    let app = spawn(backend).await;
    let (id, access, _) = user(&app, Provider::Kakao, 4100000003, "kakao.park").await;
    let resp = kakao(&app, Some(&format!("KakaoAK {ADMIN_KEY}")), &[("user_id", "4100000003")]).await;
    assert_eq!(resp.status(), 200);
    assert!(!has_identity(&app, Provider::Kakao, "4100000003").await);
    assert!(users::find_by_id(&app.state.db, id).await.unwrap().is_some(), "disabled, not deleted");
    assert_eq!(disabled_reason(&app, id).await.as_deref(), Some("kakao_unlinked"));
    assert_eq!(app.verify_status(&access).await, 401);
    assert_eq!(provider_audits(&app, id).await[0]["disabled"], true);
}

fn naver_notice(uid: &str, timestamp: i64) -> notice::Notice {
    notice::seal("test-naver", "test-secret", uid, timestamp)
}

async fn post_naver(app: &TestApp, notice: &notice::Notice) -> Response {
    // Naver's sample puts the fields in the query string.
    let query = serde_urlencoded::to_string(notice).unwrap();
    rp_http()
        .post(app.url(&format!("/hooks/naver/unlink?{query}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap()
}

async fn naver_refuses_a_bad_signature_or_an_old_timestamp_and_unlinks_on_a_good_one(backend: Backend) {
    let app = spawn(backend).await;
    let (id, access, _) = user(&app, Provider::Naver, 30001, "naver.choi").await;
    let now = chrono::Utc::now().timestamp();
    let forged = notice::seal("test-naver", "not-the-secret", "30001", now);
    let old = naver_notice("30001", now - 301);
    let mut tampered = naver_notice("30001", now);
    tampered.encrypt_unique_id = naver_notice("30002", now).encrypt_unique_id;
    let unsigned = notice::Notice { signature: String::new(), ..naver_notice("30001", now) };
    for (why, bad) in [("forged", forged), ("old", old), ("tampered", tampered), ("unsigned", unsigned)] {
        let resp = post_naver(&app, &bad).await;
        assert_eq!(resp.status(), 403, "{why}");
        assert_eq!(error_code(resp).await, "INVALID_SIGNATURE", "{why}");
    }
    assert!(has_identity(&app, Provider::Naver, "30001").await);
    assert_eq!(app.verify_status(&access).await, 200);
    assert!(provider_audits(&app, id).await.is_empty());

    // A good notice, in a form body this time.
    let good = naver_notice("30001", now);
    let resp = rp_http().post(app.url("/hooks/naver/unlink")).form(&good).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert!(!has_identity(&app, Provider::Naver, "30001").await);
    assert_eq!(app.verify_status(&access).await, 401);
    assert_eq!(disabled_reason(&app, id).await.as_deref(), Some("naver_unlinked"));
    assert_eq!(provider_audits(&app, id).await[0]["cause"], "naver_unlinked");
}

/// A Security Event Token as the imitated Google signs it, with `claims` over the defaults.
fn set(app: &TestApp, events: Value, overrides: Value) -> String {
    sign(include_bytes!("../../fixtures/keys/dev-google-rsa.pem"), app, events, overrides)
}

fn sign(pem: &[u8], app: &TestApp, events: Value, overrides: Value) -> String {
    sign_as(DEV_KID, pem, app, events, overrides)
}

fn sign_as(kid: &str, pem: &[u8], app: &TestApp, events: Value, overrides: Value) -> String {
    let claims = json!({
        "iss": format!("{}/dev/google", app.dev_provider_url),
        "aud": "test-google",
        "iat": chrono::Utc::now().timestamp(),
        "jti": Uuid::new_v4().simple().to_string(),
        "events": events,
    });
    crate::helpers::sign_rs256(kid, pem, claims, overrides)
}

fn event(uri: &str, sub: &str) -> Value {
    json!({ uri: { "subject": { "subject_type": "iss-sub", "iss": "https://accounts.google.com/", "sub": sub } } })
}

async fn post_risc(app: &TestApp, body: &str) -> Response {
    rp_http()
        .post(app.url("/hooks/google/risc"))
        .header("content-type", "application/secevent+jwt")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn risc_refusals_change_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let (id, access, _) = user(&app, Provider::Google, 50001, "google.jung").await;
    let revoked = event(SESSIONS_REVOKED, "50001");
    let forged = sign(include_bytes!("../../fixtures/keys/forger-rsa.pem"), &app, revoked.clone(), json!({}));
    let unknown_kid = sign_as(
        "not-a-google-key",
        include_bytes!("../../fixtures/keys/forger-rsa.pem"),
        &app,
        revoked.clone(),
        json!({}),
    );
    let wrong_aud = set(&app, revoked.clone(), json!({"aud": "someone-else"}));
    let wrong_iss = set(&app, revoked.clone(), json!({"iss": "https://accounts.google.com/"}));
    let no_events = set(&app, revoked.clone(), json!({"events": "none"}));
    let stale = set(&app, revoked.clone(), json!({"iat": chrono::Utc::now().timestamp() - 8 * 24 * 3600}));
    let mut unsigned = set(&app, revoked.clone(), json!({}));
    unsigned.truncate(unsigned.rfind('.').unwrap() + 1);
    for (why, body) in [
        ("forged", forged.as_str()),
        ("unknown kid", &unknown_kid),
        ("wrong aud", &wrong_aud),
        ("wrong iss", &wrong_iss),
        ("malformed events", &no_events),
        ("issued eight days ago", &stale),
        ("no signature", &unsigned),
        ("not a token", "hello"),
        ("empty", ""),
    ] {
        let resp = post_risc(&app, body).await;
        assert_eq!(resp.status(), 400, "{why}");
        assert_eq!(error_code(resp).await, "INVALID_EVENT", "{why}");
    }
    assert_eq!(app.verify_status(&access).await, 200);
    assert!(provider_audits(&app, id).await.is_empty());
    assert!(audit::list_unowned(&app.state.db, "provider_event", 10).await.unwrap().is_empty());
}

async fn sessions_revoked_ends_sessions_and_a_replayed_jti_does_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let (id, access, browser) = user(&app, Provider::Google, 50002, "google.han").await;
    let token = set(&app, event(SESSIONS_REVOKED, "50002"), json!({}));
    assert_eq!(post_risc(&app, &token).await.status(), 202);
    assert_eq!(app.verify_status(&access).await, 401, "the session ended");
    assert!(has_identity(&app, Provider::Google, "50002").await, "the identity stays");
    assert_eq!(disabled_reason(&app, id).await, None);
    let audits = provider_audits(&app, id).await;
    assert_eq!(
        (audits[0]["event_type"].clone(), audits[0]["action"].clone()),
        (json!(SESSIONS_REVOKED), json!("sessions_ended"))
    );

    // Signed in again; the same token delivered again is acknowledged and does nothing.
    let resp = app.sign_in_with(&browser, Provider::Google, &Person::new(50002, "google.han@example.com")).await;
    assert_eq!(resp.status(), 303);
    let (fresh, _) = app.tokens_for(&browser).await;
    assert_eq!(post_risc(&app, &token).await.status(), 202);
    assert_eq!(app.verify_status(&fresh).await, 200, "a replay ends nothing");
    assert_eq!(provider_audits(&app, id).await.len(), 1);

    // An event type munji does not act on is accepted and recorded only.
    let unknown = set(&app, event("https://schemas.openid.net/secevent/risc/event-type/new-thing", "50002"), json!({}));
    assert_eq!(post_risc(&app, &unknown).await.status(), 202);
    assert_eq!(app.verify_status(&fresh).await, 200);
    assert_eq!(provider_audits(&app, id).await[0]["action"], "recorded");
}

async fn tokens_revoked_marks_gmail_and_account_purged_unlinks(backend: Backend) {
    let app = spawn(backend).await;
    let (id, access, browser) = user(&app, Provider::Google, 50003, "google.yoon").await;
    let person = Person::new(50003, "google.yoon@example.com");
    assert_eq!(crate::gmail::connect_gmail(&app, &browser, &person).await.status(), 303);
    let statuses = || async {
        gmail::list_for_user(&app.state.db, id).await.unwrap().iter().map(|c| c.status.as_str()).collect::<Vec<_>>()
    };
    assert_eq!(statuses().await, ["active"]);

    assert_eq!(post_risc(&app, &set(&app, event(TOKENS_REVOKED, "50003"), json!({}))).await.status(), 202);
    assert_eq!(app.verify_status(&access).await, 401, "sessions ended");
    assert_eq!(statuses().await, ["needs_reauth"]);
    assert!(kinds(&app, id).await.iter().any(|(k, _)| k == "gmail_revoked"));

    // The account is gone at Google: its identity goes too; it was the last, so the account is
    // disabled.
    assert_eq!(post_risc(&app, &set(&app, event(ACCOUNT_PURGED, "50003"), json!({}))).await.status(), 202);
    assert!(!has_identity(&app, Provider::Google, "50003").await);
    assert_eq!(disabled_reason(&app, id).await.as_deref(), Some("google_purged"));
    let audits = provider_audits(&app, id).await;
    assert!(audits.iter().any(|a| a["action"] == "unlinked_and_disabled"), "{audits:?}");
    assert!(kinds(&app, id).await.iter().any(|(k, _)| k == "provider_unlink"));
}

/// The events page of an imitation like the test app's (same key, same URLs), served on a port
/// of its own and aimed at the app.
async fn events_page(app: &TestApp) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    use poem::{EndpointExt as _, Route};
    let base = url::Url::parse(&format!("{}/dev/", app.dev_provider_url)).unwrap();
    let dev = munji::dev_provider::DevProvider::new(&base, [7; 32]).unwrap();
    dev.aim_events(munji::dev_provider::events::EventsTarget::from_config(&app.state.config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/dev/events", listener.local_addr().unwrap());
    let routes = Route::new().nest("/dev", munji::dev_provider::routes(dev)).boxed();
    let acceptor = poem::listener::TcpAcceptor::from_std(listener).unwrap();
    (url, tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(routes)))
}

async fn press(page: &str, event: &str, uid: &str) -> String {
    let resp = rp_http().post(page).form(&[("event", event), ("uid", uid)]).send().await.unwrap();
    assert_eq!(resp.status(), 303, "{event}");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let status = url::Url::parse("http://x").unwrap().join(&location).unwrap();
    status.query_pairs().find(|(k, _)| k == "status").map(|(_, v)| v.into_owned()).unwrap()
}

async fn the_dev_providers_buttons_send_each_event_for_real(backend: Backend) {
    let app = spawn(backend).await;
    let (page, server) = events_page(&app).await;
    let english = rp_http().get(&page).header("accept-language", "en").send().await.unwrap().text().await.unwrap();
    let korean = rp_http().get(&page).header("accept-language", "ko").send().await.unwrap().text().await.unwrap();
    for id in [
        "kakao_unlink",
        "naver_unlink",
        "google_sessions_revoked",
        "google_tokens_revoked",
        "google_account_disabled",
        "google_account_purged",
    ] {
        assert!(english.contains(&format!("value=\"{id}\"")), "a button for {id}");
    }
    assert!(english.contains("Kakao: unlink") && korean.contains("카카오: 연결 끊기"));

    let (kakao_user, kakao_access, _) = user(&app, Provider::Kakao, 4100000009, "dev.kakao").await;
    add_identity(&app, kakao_user, Provider::Google, "60009").await;
    assert_eq!(press(&page, "kakao_unlink", "4100000009").await, "200");
    assert!(!has_identity(&app, Provider::Kakao, "4100000009").await);
    assert_eq!(app.verify_status(&kakao_access).await, 401);

    let (naver_user, _, _) = user(&app, Provider::Naver, 30009, "dev.naver").await;
    assert_eq!(press(&page, "naver_unlink", "30009").await, "204");
    assert_eq!(disabled_reason(&app, naver_user).await.as_deref(), Some("naver_unlinked"));

    let (google_user, google_access, _) = user(&app, Provider::Google, 50009, "dev.google").await;
    assert_eq!(press(&page, "google_account_disabled", "50009").await, "202");
    assert_eq!(app.verify_status(&google_access).await, 401);
    assert_eq!(press(&page, "google_account_purged", "50009").await, "202");
    assert_eq!(disabled_reason(&app, google_user).await.as_deref(), Some("google_purged"));
    let shown = rp_http()
        .get(format!("{page}?uid=50009&sent=google_account_purged&status=202"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(shown.contains("Google: account purged: Sent; munji answered HTTP 202"), "{shown}");
    server.abort();
}

async fn hooks_that_are_not_set_up_are_not_there(backend: Backend) {
    // No admin key and RISC off: the two routes do not exist, whatever the caller sends.
    let app = TestApp::builder(backend).with_web_client().spawn().await;
    let (_, access, _) = user(&app, Provider::Google, 50010, "not.hooked").await;
    let kakao = kakao(&app, Some("KakaoAK "), &[("user_id", "1")]).await;
    assert_eq!(kakao.status(), 404);
    let token = set(&app, event(SESSIONS_REVOKED, "50010"), json!({}));
    assert_eq!(post_risc(&app, &token).await.status(), 404);
    assert_eq!(app.verify_status(&access).await, 200);
}
