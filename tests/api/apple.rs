//! Sign in with Apple (docs/providers.md, "Apple"; docs/security.md, "Form-post callbacks")
//! through the imitation: the answer comes back as a form post that munji relays from its own
//! origin before it checks the state; the name comes once; a private relay address never
//! claims a legacy mapping; the imitation checks munji's client-secret JWT; munji refuses a
//! forged, expired, wrong-audience or wrong-issuer ID token; Apple's grant is revoked when the
//! account is deleted; each kind of Apple notification has its effect, and each bad one none.

use munji::{
    store::{identities, legacy, users},
    upstream::Provider,
};
use reqwest::{Client, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Backend, TestApp,
    api::error_code,
    oidc::rp_http,
    social::{Person, form_value, location},
};

crate::on_every_backend!(
    the_first_sign_in_keeps_the_name_and_the_second_comes_without_it,
    a_signed_in_person_links_apple_from_the_account_page,
    a_cross_site_post_is_relayed_and_the_state_still_binds_the_browser,
    every_bad_state_on_the_form_post_creates_nothing,
    a_private_relay_address_never_claims_a_legacy_mapping,
    a_bad_id_token_creates_nothing,
    the_imitation_refuses_a_client_secret_from_another_team,
    deleting_the_account_revokes_the_grant_at_apple,
    each_notification_has_its_effect_and_a_bad_one_none,
);

const CLIENT_ID: &str = "test-apple";

fn apple_env(team_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("MUNJI_PROVIDERS__APPLE__CLIENT_ID", CLIENT_ID.to_owned()),
        ("MUNJI_PROVIDERS__APPLE__TEAM_ID", team_id.to_owned()),
        ("MUNJI_PROVIDERS__APPLE__KEY_ID", munji::dev_provider::apple::KEY_ID.to_owned()),
        ("MUNJI_PROVIDERS__APPLE__PRIVATE_KEY", munji::dev_provider::apple::PRIVATE_KEY.to_owned()),
        // Another host name for the imitation than munji's own, as in `serve --dev`.
        ("MUNJI_PROVIDERS__APPLE__ISSUER_URL", "{dev-other-site}/dev/apple".to_owned()),
    ]
}

async fn spawn_with_team(backend: Backend, team_id: &str) -> TestApp {
    let builder = TestApp::builder(backend).with_web_client();
    apple_env(team_id).into_iter().fold(builder, |b, (k, v)| b.env(k, &v)).spawn().await
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with_team(backend, munji::dev_provider::apple::TEAM_ID).await
}

/// The fields of the form a page posts, and where to.
fn posted_form(html: &str) -> (String, Vec<(String, String)>) {
    let action_at = html.find("action=\"").expect("a form") + "action=\"".len();
    let action = unescape(&html[action_at..action_at + html[action_at..].find('"').unwrap()]);
    let mut fields = Vec::new();
    for name in ["code", "state", "error", "user", "relayed"] {
        if let Some(value) = form_value(html, name) {
            fields.push((name.to_owned(), unescape(&value)));
        }
    }
    (action, fields)
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// What a person does at Apple: the page that posts the answer back to munji, read.
async fn at_apple(
    app: &TestApp,
    browser: &Client,
    person: &Person,
    hide_email: bool,
) -> (String, Vec<(String, String)>) {
    let authorize = app.start_login(browser, Provider::Apple).await;
    decide_at_apple(browser, &authorize, person, hide_email).await
}

/// At Apple's authorization page `authorize`: the person allows; the page that posts back, read.
async fn decide_at_apple(
    browser: &Client,
    authorize: &url::Url,
    person: &Person,
    hide_email: bool,
) -> (String, Vec<(String, String)>) {
    assert_eq!(authorize.query_pairs().find(|(k, _)| k == "response_mode").unwrap().1, "form_post");
    assert!(authorize.as_str().contains("scope=name%20email"), "{authorize}");
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.extend([
        ("uid".to_owned(), person.uid.clone()),
        ("email".to_owned(), person.email.clone()),
        ("name".to_owned(), person.name.clone()),
        ("decision".to_owned(), "allow".to_owned()),
    ]);
    if hide_email {
        form.push(("hide_email".to_owned(), "on".to_owned()));
    }
    let mut action = authorize.clone();
    action.set_query(None);
    let resp = browser.post(action).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 200, "Apple answers with a page that posts back");
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    posted_form(&resp.text().await.unwrap())
}

/// The post back as a browser makes it from Apple's site: without munji's cookies, then the
/// relay page's post from munji's origin, with them. munji's answer to the second.
async fn post_back(app: &TestApp, browser: &Client, action: &str, fields: &[(String, String)]) -> Response {
    let cross_site = rp_http().post(action).form(fields).send().await.unwrap();
    assert_eq!(cross_site.status(), 200, "a cross-site post is relayed");
    let csp = cross_site.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("; script-src 'sha256-") && csp.contains("form-action 'self';"), "{csp}");
    let (relay_action, relayed) = posted_form(&cross_site.text().await.unwrap());
    assert_eq!(relay_action, "/callback/apple");
    assert_eq!(field(&relayed, "relayed"), Some("1"));
    assert_eq!(field(&relayed, "state"), field(fields, "state"), "the relay carries the fields unchanged");
    browser.post(app.url(&relay_action)).form(&relayed).send().await.unwrap()
}

/// A whole sign-in with Apple; munji's answer to the callback.
async fn sign_in(app: &TestApp, browser: &Client, person: &Person, hide_email: bool) -> Response {
    let (action, fields) = at_apple(app, browser, person, hide_email).await;
    post_back(app, browser, &action, &fields).await
}

/// A first sign-in finished through the sign-up form; the new user's id.
async fn sign_up(app: &TestApp, browser: &Client, person: &Person, username: &str) -> Uuid {
    let callback = sign_in(app, browser, person, false).await;
    assert_eq!(location(&callback, &app.base_url).path(), "/signup");
    let page = browser.get(app.url("/signup")).send().await.unwrap().text().await.unwrap();
    let csrf = form_value(&page, "csrf").unwrap();
    let display_name = form_value(&page, "display_name").unwrap();
    assert_eq!(app.post_signup(browser, username, &display_name, &csrf).await.status(), 303);
    users::find_by_username(&app.state.db, username).await.unwrap().unwrap().id
}

fn person(uid: &str, name: &str) -> Person {
    Person { uid: uid.to_owned(), name: name.to_owned(), ..Person::new(0, &format!("{uid}@example.com")) }
}

async fn apple_stats(app: &TestApp) -> Value {
    rp_http().get(format!("{}/dev/apple/_stats", app.dev_provider_url)).send().await.unwrap().json().await.unwrap()
}

async fn the_first_sign_in_keeps_the_name_and_the_second_comes_without_it(backend: Backend) {
    let app = spawn(backend).await;
    let jiwoo = person("001234.apple.jiwoo", "Jiwoo Han");
    let browser = app.browser();
    let (action, fields) = at_apple(&app, &browser, &jiwoo, false).await;
    let user = field(&fields, "user").expect("the first authorization carries `user`");
    assert!(user.contains("Jiwoo"), "{user}");
    let callback = post_back(&app, &browser, &action, &fields).await;
    assert_eq!(location(&callback, &app.base_url).path(), "/signup");
    let page = browser.get(app.url("/signup")).send().await.unwrap().text().await.unwrap();
    assert_eq!(form_value(&page, "display_name").as_deref(), Some("Jiwoo Han"), "the name from `user`");
    let csrf = form_value(&page, "csrf").unwrap();
    assert_eq!(app.post_signup(&browser, "jiwoo", "Jiwoo Han", &csrf).await.status(), 303);
    let identity = identities::find_by_provider_uid(&app.state.db, Provider::Apple, &jiwoo.uid).await.unwrap().unwrap();
    assert_eq!(identity.email.as_deref(), Some("001234.apple.jiwoo@example.com"));
    let kept = kept_token(&app, identity.user_id).await;
    assert!(kept.starts_with("test1:"), "Apple's refresh token is kept sealed: {kept}");

    // The second time, in another browser, Apple sends no `user`: the account keeps its name.
    let other = app.browser();
    let (action, fields) = at_apple(&app, &other, &jiwoo, false).await;
    assert_eq!(field(&fields, "user"), None);
    let callback = post_back(&app, &other, &action, &fields).await;
    assert_eq!(location(&callback, &app.base_url).path(), "/account");
    assert_eq!(app.signed_in_username(&other).await.as_deref(), Some("jiwoo"));
    let user = users::find_by_username(&app.state.db, "jiwoo").await.unwrap().unwrap();
    assert_eq!(user.display_name, "Jiwoo Han");
    assert_ne!(kept_token(&app, user.id).await, kept, "the newest grant's token replaces the old one");
    let metrics = app.get_metrics().await;
    assert!(metrics.contains(r#"munji_logins_total{outcome="signup",provider="apple"} 1"#), "{metrics}");
}

async fn kept_token(app: &TestApp, user_id: Uuid) -> String {
    let tokens = identities::upstream_tokens(&app.state.db, user_id, Provider::Apple).await.unwrap();
    assert_eq!(tokens.len(), 1);
    tokens[0].1.clone()
}

async fn a_cross_site_post_is_relayed_and_the_state_still_binds_the_browser(backend: Backend) {
    let app = spawn(backend).await;
    let victim = app.browser();
    let _ = victim.get(app.url("/login")).send().await.unwrap();
    // An attacker signs in at Apple as themselves and has the victim's browser post the answer.
    let attacker = app.browser();
    let (action, fields) = at_apple(&app, &attacker, &person("000666.attacker", "Mallory"), false).await;
    let resp = post_back(&app, &victim, &action, &fields).await;
    assert_eq!(resp.status(), 400, "the state was started in another browser");
    // Relayed, but still without any cookie: refused as well.
    let mut relayed = fields.clone();
    relayed.push(("relayed".to_owned(), "1".to_owned()));
    let resp = rp_http().post(&action).form(&relayed).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!((app.count_users().await, app.count_identities().await), (0, 0));
    // A provider that redirects has no form-post callback.
    let resp = victim.post(app.url("/callback/google")).form(&fields).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

async fn every_bad_state_on_the_form_post_creates_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let browser = app.browser();
    let (action, fields) = at_apple(&app, &browser, &person("000777.state", "State"), false).await;
    let state = field(&fields, "state").unwrap().to_owned();
    let code = field(&fields, "code").unwrap().to_owned();
    let google_state = {
        let authorize = app.start_login(&browser, Provider::Google).await;
        authorize.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned()
    };
    let tampered = format!("{}x", &state[..state.len() - 1]);
    let cases: [(&str, Vec<(&str, &str)>); 4] = [
        ("no state", vec![("code", &code)]),
        ("a bad signature", vec![("code", &code), ("state", &tampered)]),
        ("Google's state", vec![("code", &code), ("state", &google_state)]),
        ("an unknown state", vec![("code", &code), ("state", "AAAA.BBBB")]),
    ];
    for (what, form) in cases {
        let resp = browser.post(&action).form(&form).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{what}");
    }
    // The good one once, then never again.
    let ok = browser.post(&action).form(&[("code", &code), ("state", &state)]).send().await.unwrap();
    assert_eq!(location(&ok, &app.base_url).path(), "/signup");
    let again = browser.post(&action).form(&[("code", &code), ("state", &state)]).send().await.unwrap();
    assert_eq!(again.status(), 400, "a state is used once");
    assert_eq!((app.count_users().await, app.count_identities().await), (0, 0));
}

async fn a_private_relay_address_never_claims_a_legacy_mapping(backend: Backend) {
    let app = spawn(backend).await;
    let hidden = person("000888.hidden", "Hidden");
    let relay = munji::dev_provider::apple::relay_address(CLIENT_ID, &hidden.uid);
    let open = person("000999.open", "Open");
    let csv = format!(
        "legacy_user_id,username,display_name,email,provider\n1,relayed.one,,{relay},apple\n2,open.one,,{},apple\n",
        open.email
    );
    let providers = munji::upstream::listed_providers(&app.state.config);
    let parsed = munji::legacy::parse_csv_for(csv.as_bytes(), &providers).unwrap();
    legacy::import(&app.state.db, &parsed, chrono::Utc::now()).await.unwrap();

    let browser = app.browser();
    let resp = sign_in(&app, &browser, &hidden, true).await;
    assert_eq!(location(&resp, &app.base_url).path(), "/signup", "the relay address claims nothing");
    let pending = legacy::find_candidates(&app.state.db, "apple", &relay).await.unwrap();
    assert_eq!(pending.len(), 1, "the mapping still waits");

    // The same rule lets a verified address of one's own claim its mapping.
    let browser = app.browser();
    let resp = sign_in(&app, &browser, &open, false).await;
    assert_eq!(location(&resp, &app.base_url).path(), "/account");
    assert_eq!(app.signed_in_username(&browser).await.as_deref(), Some("open.one"));
}

async fn a_bad_id_token_creates_nothing(backend: Backend) {
    let app = spawn(backend).await;
    for fault in ["forged", "expired", "wrong_audience", "wrong_issuer"] {
        let faults = format!("{}/dev/apple/_faults", app.dev_provider_url);
        rp_http().post(&faults).json(&json!({ "id_token": fault })).send().await.unwrap();
        let resp = sign_in(&app, &app.browser(), &person("000555.bad", "Bad"), false).await;
        assert_eq!(resp.status(), 502, "{fault}");
    }
    assert_eq!((app.count_users().await, app.count_identities().await), (0, 0));
    let metrics = app.get_metrics().await;
    assert!(metrics.contains(r#"munji_upstream_errors_total{kind="bad_id_token",provider="apple"} 4"#), "{metrics}");
}

async fn the_imitation_refuses_a_client_secret_from_another_team(backend: Backend) {
    let app = spawn_with_team(backend, "OTHERTEAM1").await;
    let resp = sign_in(&app, &app.browser(), &person("000444.team", "Team"), false).await;
    assert_eq!(resp.status(), 502, "invalid_client at the token endpoint");
    assert_eq!((app.count_users().await, app.count_identities().await), (0, 0));
}

async fn deleting_the_account_revokes_the_grant_at_apple(backend: Backend) {
    let app = spawn(backend).await;
    let minji = person("000333.minji", "Minji Kim");
    let browser = app.browser();
    let user_id = sign_up(&app, &browser, &minji, "minji").await;
    let (access, _) = app.tokens_for(&browser).await;
    let resp = app.client.delete(app.url("/api/v1/me")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(apple_stats(&app).await["revocations"], 1);
    let receipt = &munji::leaving::receipts(&app.state, user_id).await.unwrap()[0];
    assert_eq!(receipt.upstream.0["apple"], json!([{"outcome": "done"}]), "{:?}", receipt.upstream.0);
    // Revoked at Apple: the next authorization is a first one again, with `user`.
    let (_, fields) = at_apple(&app, &app.browser(), &minji, false).await;
    assert!(field(&fields, "user").is_some());
}

/// An Apple notification as the imitation signs it, with `claims` over the defaults.
fn notification(app: &TestApp, kind: &str, sub: &str, overrides: Value) -> String {
    let events = json!({ "type": kind, "sub": sub, "event_time": 1_700_000_000_000i64 }).to_string();
    let issuer = app.state.config.providers.apple.issuer_url.as_str().trim_end_matches('/').to_owned();
    let claims = json!({
        "iss": issuer,
        "aud": CLIENT_ID,
        "iat": chrono::Utc::now().timestamp(),
        "jti": Uuid::new_v4().simple().to_string(),
        "events": events,
    });
    let pem = include_bytes!("../../fixtures/keys/dev-google-rsa.pem");
    crate::helpers::sign_rs256("munji-dev-apple-1", pem, claims, overrides)
}

async fn notify(app: &TestApp, payload: &str) -> Response {
    rp_http().post(app.url("/hooks/apple")).json(&json!({ "payload": payload })).send().await.unwrap()
}

async fn each_notification_has_its_effect_and_a_bad_one_none(backend: Backend) {
    let app = spawn(backend).await;
    let seoyeon = person("000111.seoyeon", "Seoyeon");
    let browser = app.browser();
    let user_id = sign_up(&app, &browser, &seoyeon, "seoyeon").await;
    let (access, _) = app.tokens_for(&browser).await;

    // Refusals: nothing changes.
    let forged = {
        let good = notification(&app, "account-delete", &seoyeon.uid, json!({}));
        let parts: Vec<&str> = good.split('.').collect();
        let other = notification(&app, "email-disabled", &seoyeon.uid, json!({}));
        format!("{}.{}.{}", parts[0], other.split('.').nth(1).unwrap(), parts[2])
    };
    let wrong_audience = notification(&app, "account-delete", &seoyeon.uid, json!({"aud": "someone-else"}));
    let wrong_issuer = notification(&app, "account-delete", &seoyeon.uid, json!({"iss": "https://appleid.apple.com"}));
    let eight_days_ago = chrono::Utc::now().timestamp() - 8 * 24 * 3600;
    let old = notification(&app, "account-delete", &seoyeon.uid, json!({"iat": eight_days_ago}));
    let blank_jti = notification(&app, "account-delete", &seoyeon.uid, json!({"jti": " "}));
    let refusals = [
        ("forged", forged.as_str()),
        ("aud", &wrong_audience),
        ("iss", &wrong_issuer),
        ("old", &old),
        ("blank jti", &blank_jti),
        ("junk", "a.b.c"),
    ];
    for (what, payload) in refusals {
        let resp = notify(&app, payload).await;
        assert_eq!(resp.status(), 400, "{what}");
        assert_eq!(error_code(resp).await, "INVALID_EVENT", "{what}");
    }
    let resp = rp_http().post(app.url("/hooks/apple")).json(&json!({"nothing": 1})).send().await.unwrap();
    assert_eq!(resp.status(), 400, "no payload");
    assert_eq!(app.verify_status(&access).await, 200);

    // The relay address stops forwarding, and starts again.
    let deliverable = |app: &TestApp| {
        let db = app.state.db.clone();
        let uid = seoyeon.uid.clone();
        async move { identities::find_by_provider_uid(&db, Provider::Apple, &uid).await.unwrap().unwrap().email_deliverable }
    };
    assert_eq!(notify(&app, &notification(&app, "email-disabled", &seoyeon.uid, json!({}))).await.status(), 200);
    assert!(!deliverable(&app).await);
    assert_eq!(notify(&app, &notification(&app, "email-enabled", &seoyeon.uid, json!({}))).await.status(), 200);
    assert!(deliverable(&app).await);
    // A type munji does not know is recorded only.
    assert_eq!(notify(&app, &notification(&app, "something-new", &seoyeon.uid, json!({}))).await.status(), 200);
    assert_eq!(app.verify_status(&access).await, 200);

    // Consent revoked with another identity left: the Apple identity goes, sessions end.
    let new = identities::NewIdentity {
        provider: Provider::Google,
        uid: "70111",
        email: None,
        email_verified: false,
        logged_in: false,
        upstream_token: None,
    };
    identities::insert_for_user(&app.state.db, user_id, &new, chrono::Utc::now()).await.unwrap();
    let revoked = notification(&app, "consent-revoked", &seoyeon.uid, json!({}));
    assert_eq!(notify(&app, &revoked).await.status(), 200);
    assert!(identities::find_by_provider_uid(&app.state.db, Provider::Apple, &seoyeon.uid).await.unwrap().is_none());
    assert_eq!(app.verify_status(&access).await, 401);
    assert!(users::find_by_id(&app.state.db, user_id).await.unwrap().unwrap().disabled_at.is_none());

    // Account deleted at Apple, on the last identity: the account is disabled. Sent twice (the
    // same jti), it acts once.
    let hana = person("000222.hana", "Hana");
    let hana_id = sign_up(&app, &app.browser(), &hana, "hana").await;
    let deleted = notification(&app, "account-deleted", &hana.uid, json!({}));
    assert_eq!(notify(&app, &deleted).await.status(), 200);
    assert_eq!(notify(&app, &deleted).await.status(), 200, "a redelivery is acknowledged");
    let hana_user = users::find_by_id(&app.state.db, hana_id).await.unwrap().unwrap();
    assert_eq!(hana_user.disabled_reason.as_deref(), Some("apple_account_deleted"));
    let events = munji::store::audit::list_for_user(&app.state.db, hana_id, 50).await.unwrap();
    let apple_events = events.iter().filter(|e| e.kind == "provider_event").count();
    assert_eq!(apple_events, 1, "the replay did nothing");
}

async fn a_signed_in_person_links_apple_from_the_account_page(backend: Backend) {
    let app = spawn(backend).await;
    let browser = app.browser();
    let google = Person::new(70222, "linker@example.com");
    assert_eq!(app.sign_up_with(&browser, Provider::Google, &google, "linker").await.status(), 303);
    let account = browser.get(app.url("/account")).send().await.unwrap();
    let csp = account.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let apple_origin = url::Url::parse(app.state.config.providers.apple.issuer_url.as_str()).unwrap().origin();
    assert!(csp.contains(&apple_origin.ascii_serialization()), "the page's forms may lead to Apple: {csp}");
    let authorize = crate::linking::start_link(&app, &browser, Provider::Apple).await;
    let (action, fields) = decide_at_apple(&browser, &authorize, &person("000321.linker", "Linker"), false).await;
    let back = post_back(&app, &browser, &action, &fields).await;
    assert_eq!(location(&back, &app.base_url).path(), "/account");
    let linked =
        identities::find_by_provider_uid(&app.state.db, Provider::Apple, "000321.linker").await.unwrap().unwrap();
    let user = users::find_by_username(&app.state.db, "linker").await.unwrap().unwrap();
    assert_eq!(linked.user_id, user.id);
    assert!(
        kept_token(&app, user.id).await.starts_with("test1:"),
        "the linked identity's grant is kept for revocation"
    );
}
