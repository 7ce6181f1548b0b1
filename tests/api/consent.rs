//! Consent for third-party clients and connected apps (docs/consent.md): the consent page, its
//! refusals, what is remembered, the apps list and removing an app.

use munji::upstream::Provider;
use url::Url;

use crate::{
    backchannel::{Receiver, validate},
    helpers::{
        Backend, TestApp,
        clients::{AppOptions, WEB_REDIRECT_URI as REDIRECT_URI},
        social::{Person, form_value, location},
    },
    logout::{payload, register_app, sign_in_to},
};

crate::on_every_backend!(
    a_third_party_app_asks_once_and_is_remembered,
    prompt_none_without_consent_is_consent_required_and_deny_is_access_denied,
    the_consent_answer_needs_its_csrf_field,
    connected_apps_are_listed_and_removing_one_kills_its_tokens_and_tells_it,
);

async fn signed_up(app: &TestApp, uid: u64) -> reqwest::Client {
    let browser = app.browser();
    let person = Person::new(uid, &format!("c{uid}@example.com"));
    app.sign_up_with(&browser, Provider::Google, &person, &format!("consent{uid}")).await;
    browser
}

async fn authorize(
    app: &TestApp,
    browser: &reqwest::Client,
    client: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut query =
        vec![("client_id", client), ("redirect_uri", REDIRECT_URI), ("response_type", "code"), ("state", "st")];
    query.extend_from_slice(extra);
    browser.get(app.url("/authorize")).query(&query).send().await.unwrap()
}

/// Where a 303 back to the client goes, and its query parameter `name`.
fn param(resp: &reqwest::Response, base: &str, name: &str) -> Option<String> {
    let to: Url = location(resp, base);
    assert!(to.as_str().starts_with(REDIRECT_URI), "{to}");
    to.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The consent page's form fields `(csrf, query)`, checking its shape: one POST form with two
/// submit buttons named `decision` (`allow`, `deny`) and each requested scope by name.
async fn consent_page(resp: reqwest::Response, scopes: &[&str]) -> (String, String) {
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert_eq!(html.matches("<form").count(), 1, "{html}");
    assert!(html.contains(r#"name="decision" value="allow""#) && html.contains(r#"name="decision" value="deny""#));
    for scope in scopes {
        assert!(html.contains(&format!("<code>{scope}</code>")), "{scope} is named: {html}");
    }
    let query = unescape(&form_value(&html, "query").unwrap());
    (form_value(&html, "csrf").unwrap(), query)
}

/// An HTML attribute value as the browser reads it.
fn unescape(value: &str) -> String {
    [("&#38;", "&"), ("&amp;", "&"), ("&#34;", "\""), ("&quot;", "\""), ("&#39;", "'"), ("&#60;", "<"), ("&#62;", ">")]
        .iter()
        .fold(value.to_owned(), |v, (from, to)| v.replace(from, to))
}

async fn answer(app: &TestApp, browser: &reqwest::Client, form: &[(&str, &str)]) -> reqwest::Response {
    browser.post(app.url("/authorize")).form(form).send().await.unwrap()
}

async fn a_third_party_app_asks_once_and_is_remembered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    register_app(&app, "third", AppOptions { third_party: true, ..Default::default() }).await;
    let browser = signed_up(&app, 1).await;

    let (csrf, query) =
        consent_page(authorize(&app, &browser, "third", &[("scope", "openid profile")]).await, &["openid", "profile"])
            .await;
    let resp = answer(&app, &browser, &[("csrf", &csrf), ("query", &query), ("decision", "allow")]).await;
    assert!(param(&resp, &app.base_url, "code").is_some());
    assert_eq!(param(&resp, &app.base_url, "state").as_deref(), Some("st"));
    // Remembered: the same scopes again, even with prompt=none, need no question.
    let resp = authorize(&app, &browser, "third", &[("scope", "openid"), ("prompt", "none")]).await;
    assert!(param(&resp, &app.base_url, "code").is_some());
    // More than was allowed asks again, for everything requested.
    let resp = authorize(&app, &browser, "third", &[("scope", "openid email")]).await;
    consent_page(resp, &["openid", "email"]).await;
    // prompt=consent always asks, even a first-party client.
    register_app(&app, "first", AppOptions::default()).await;
    let resp = authorize(&app, &browser, "first", &[("scope", "openid")]).await;
    assert!(param(&resp, &app.base_url, "code").is_some(), "first-party: no question");
    consent_page(authorize(&app, &browser, "first", &[("scope", "openid"), ("prompt", "consent")]).await, &["openid"])
        .await;
    let korean = browser
        .get(app.url("/authorize"))
        .header("accept-language", "ko")
        .query(&[("client_id", "third"), ("redirect_uri", REDIRECT_URI), ("response_type", "code"), ("scope", "email")])
        .send()
        .await
        .unwrap();
    assert!(korean.text().await.unwrap().contains("이메일 주소"), "the page speaks Korean");
}

async fn prompt_none_without_consent_is_consent_required_and_deny_is_access_denied(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    register_app(&app, "third", AppOptions { third_party: true, ..Default::default() }).await;
    let browser = signed_up(&app, 2).await;
    let resp = authorize(&app, &browser, "third", &[("scope", "openid"), ("prompt", "none")]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(param(&resp, &app.base_url, "error").as_deref(), Some("consent_required"));
    assert_eq!(param(&resp, &app.base_url, "state").as_deref(), Some("st"));
    assert!(param(&resp, &app.base_url, "code").is_none());

    let (csrf, query) =
        consent_page(authorize(&app, &browser, "third", &[("scope", "openid")]).await, &["openid"]).await;
    let resp = answer(&app, &browser, &[("csrf", &csrf), ("query", &query), ("decision", "deny")]).await;
    assert_eq!(param(&resp, &app.base_url, "error").as_deref(), Some("access_denied"));
    assert!(param(&resp, &app.base_url, "code").is_none());
    // A refusal is not remembered as consent.
    let resp = authorize(&app, &browser, "third", &[("scope", "openid"), ("prompt", "none")]).await;
    assert_eq!(param(&resp, &app.base_url, "error").as_deref(), Some("consent_required"));
}

async fn the_consent_answer_needs_its_csrf_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    register_app(&app, "third", AppOptions { third_party: true, ..Default::default() }).await;
    let browser = signed_up(&app, 3).await;
    let (csrf, query) =
        consent_page(authorize(&app, &browser, "third", &[("scope", "openid")]).await, &["openid"]).await;
    let wrong = format!("{}{}", if csrf.starts_with('x') { "y" } else { "x" }, &csrf[1..]);
    for form in [
        vec![("query", query.as_str()), ("decision", "allow")],
        vec![("csrf", wrong.as_str()), ("query", &query), ("decision", "allow")],
    ] {
        assert_eq!(answer(&app, &browser, &form).await.status(), 400, "{form:?}");
    }
    let resp = answer(&app, &browser, &[("csrf", &csrf), ("query", &query), ("decision", "maybe")]).await;
    assert_eq!(resp.status(), 400);
    // Nothing was allowed.
    let resp = authorize(&app, &browser, "third", &[("scope", "openid"), ("prompt", "none")]).await;
    assert_eq!(param(&resp, &app.base_url, "error").as_deref(), Some("consent_required"));
}

async fn connected_apps_are_listed_and_removing_one_kills_its_tokens_and_tells_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    let options = AppOptions { third_party: true, backchannel_logout_uri: Some(&receiver.url) };
    let third_app = register_app(&app, "third", options).await;
    let web_app = register_app(&app, "web", AppOptions::default()).await;
    let browser = signed_up(&app, 4).await;
    let (csrf, query) =
        consent_page(authorize(&app, &browser, "third", &[("scope", "openid profile")]).await, &["openid", "profile"])
            .await;
    answer(&app, &browser, &[("csrf", &csrf), ("query", &query), ("decision", "allow")]).await;
    let third = sign_in_to(&app, &browser, &third_app).await;
    let web = sign_in_to(&app, &browser, &web_app).await;
    let bearer = web["access_token"].as_str().unwrap();
    let apps_now = || async {
        let resp = app.get_apps(bearer).await;
        assert_eq!(resp.status(), 200);
        resp.json::<serde_json::Value>().await.unwrap()["apps"].as_array().unwrap().clone()
    };
    let apps = apps_now().await;
    let ids: Vec<&str> = apps.iter().map(|a| a["client_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["third", "web"]);
    assert_eq!(apps[0]["name"], "The third app");
    assert_eq!(apps[0]["first_party"], false);
    assert_eq!(apps[0]["scopes"], serde_json::json!(["openid", "profile"]));
    assert!(apps[0]["authorized_at"].is_string() && apps[0]["last_used_at"].is_string());
    assert_eq!(apps[1]["first_party"], true);

    let resp = app.delete_app(bearer, "third").await;
    assert_eq!(resp.status(), 204);
    let resp = app.refresh(&third_app, third["refresh_token"].as_str().unwrap()).await;
    assert_eq!(resp.status(), 400, "the removed app's refresh token is dead");
    let tokens = receiver.wait_for(1).await;
    let claims = validate(&app.base_url, "third", &tokens[0]).await;
    assert_eq!(claims["sid"], payload(third["id_token"].as_str().unwrap())["sid"]);
    let ids: Vec<String> = apps_now().await.iter().map(|a| a["client_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, ["web"]);
    // The consent went too: the app must ask again.
    let resp = authorize(&app, &browser, "third", &[("scope", "openid"), ("prompt", "none")]).await;
    assert_eq!(param(&resp, &app.base_url, "error").as_deref(), Some("consent_required"));
    let resp = app.delete_app(bearer, "third").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"]["code"], "NOT_FOUND");
    // The user's own session is untouched.
    assert!(app.signed_in_username(&browser).await.is_some());
}
