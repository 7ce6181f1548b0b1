//! RP-initiated logout (docs/logout.md): a relying party signs a user in and out through
//! `/end-session` and gets its `state` back; every request that could sign a user out without
//! their say, or send them somewhere unregistered, is refused or asked about first.

use munji::upstream::Provider;
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, LogoutRequest, Nonce,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl,
    core::{CoreClient, CoreResponseType},
};

use crate::helpers::{
    Backend, TestApp,
    clients::{self, AFTER_LOGOUT_URI as AFTER_LOGOUT, AppOptions, RegisteredClient, WEB_REDIRECT_URI},
    oidc::rp_http,
    social::{Person, form_value, location},
};

crate::on_every_backend!(
    a_relying_party_signs_the_user_out_and_gets_its_state_back,
    an_unregistered_post_logout_uri_is_refused_and_nothing_changes,
    a_hint_issued_to_another_client_is_refused,
    a_hint_that_is_not_a_munji_id_token_is_refused,
    without_a_hint_of_this_session_the_user_is_asked_first,
    the_confirmation_without_its_csrf_field_signs_nobody_out,
    an_expired_hint_of_this_session_still_signs_out_at_once,
    a_confirmed_sign_out_goes_back_to_the_app_with_its_state,
);

/// Register [`clients::app`] `id` now.
pub async fn register_app(app: &TestApp, id: &str, options: AppOptions<'_>) -> RegisteredClient {
    app.register(clients::app(id, options)).await
}

/// `client`'s token response (with an ID token) for whoever is signed in to `browser`.
pub async fn sign_in_to(app: &TestApp, browser: &reqwest::Client, client: &RegisteredClient) -> serde_json::Value {
    let code = app.authorize_code(browser, client, &[("scope", "openid profile")]).await;
    let resp = app.redeem_code(client, &code, None).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// A signed-up user in a browser of their own, and client `web`'s tokens for them.
async fn user_with_tokens(app: &TestApp, uid: u64) -> (reqwest::Client, serde_json::Value, RegisteredClient) {
    let web = register_app(app, "web", AppOptions::default()).await;
    let browser = app.browser();
    let person = Person::new(uid, &format!("user{uid}@example.com"));
    app.sign_up_with(&browser, Provider::Google, &person, &format!("user{uid}")).await;
    let issued = sign_in_to(app, &browser, &web).await;
    (browser, issued, web)
}

/// The claims of a JWT, unverified (the test reads what munji wrote).
pub fn payload(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn end_session(browser: &reqwest::Client, app: &TestApp, query: &[(&str, &str)]) -> reqwest::Response {
    browser.get(app.url("/end-session")).query(query).send().await.unwrap()
}

async fn still_signed_in(app: &TestApp, browser: &reqwest::Client, access_token: &str) -> bool {
    let verify = rp_http().get(app.url("/api/v1/verify")).bearer_auth(access_token).send().await.unwrap();
    let signed_in = app.signed_in_username(browser).await.is_some();
    assert_eq!(signed_in, verify.status() == 200, "the browser and its tokens agree");
    signed_in
}

async fn a_relying_party_signs_the_user_out_and_gets_its_state_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let web = register_app(&app, "web", AppOptions::default()).await;
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Google, &Person::new(7, "rp.out@example.com"), "rp.out").await;
    let http = rp_http();

    let metadata =
        ProviderMetadataWithLogout::discover_async(IssuerUrl::new(app.base_url.clone()).unwrap(), &http).await.unwrap();
    let end_session_endpoint = metadata.additional_metadata().end_session_endpoint.clone().unwrap();
    assert_eq!(end_session_endpoint.url().as_str(), app.url("/end-session"));
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("web".into()),
        Some(ClientSecret::new(web.secret().to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(WEB_REDIRECT_URI.into()).unwrap());
    let (url, _, nonce) = rp
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .url();
    let back = location(&browser.get(url).send().await.unwrap(), &app.base_url);
    let code = back.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let token = rp.exchange_code(AuthorizationCode::new(code)).unwrap().request_async(&http).await.unwrap();
    let id_token = openidconnect::TokenResponse::id_token(&token).unwrap().clone();
    id_token.claims(&rp.id_token_verifier(), &nonce).unwrap();
    let access_token = openidconnect::OAuth2TokenResponse::access_token(&token).secret().clone();
    assert!(still_signed_in(&app, &browser, &access_token).await);
    let sid = payload(&id_token.to_string())["sid"].clone();
    assert!(sid.as_str().is_some_and(|s| !s.is_empty()), "ID tokens carry sid: {sid}");

    let logout = LogoutRequest::from(end_session_endpoint)
        .set_id_token_hint(&id_token)
        .set_client_id(ClientId::new("web".into()))
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(AFTER_LOGOUT.into()).unwrap())
        .set_state(CsrfToken::new("bye-123".into()))
        .http_get_url();
    let resp = browser.get(logout).send().await.unwrap();
    assert_eq!(resp.status(), 303, "the hint names this browser's session: no question");
    let to = location(&resp, &app.base_url);
    assert_eq!(to.as_str(), format!("{AFTER_LOGOUT}?state=bye-123"));
    assert!(!still_signed_in(&app, &browser, &access_token).await, "the session and its tokens ended");
}

async fn an_unregistered_post_logout_uri_is_refused_and_nothing_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, issued, _) = user_with_tokens(&app, 8).await;
    let hint = issued["id_token"].as_str().unwrap();
    let access = issued["access_token"].as_str().unwrap();
    for uri in ["https://evil.example/bye", "https://app.example/bye/", "https://app.example/bye?x=1"] {
        let resp = end_session(&browser, &app, &[("id_token_hint", hint), ("post_logout_redirect_uri", uri)]).await;
        assert_eq!(resp.status(), 400, "{uri}");
        assert!(resp.headers().get("location").is_none());
        assert!(resp.text().await.unwrap().contains("invalid_request"));
    }
    // A redirect URI with no client to check it against is refused too.
    let resp = end_session(&browser, &app, &[("post_logout_redirect_uri", AFTER_LOGOUT)]).await;
    assert_eq!(resp.status(), 400);
    assert!(still_signed_in(&app, &browser, access).await);
}

async fn a_hint_issued_to_another_client_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, issued, _) = user_with_tokens(&app, 9).await;
    register_app(&app, "other", AppOptions::default()).await;
    let hint = issued["id_token"].as_str().unwrap();
    let query = [("id_token_hint", hint), ("client_id", "other"), ("post_logout_redirect_uri", AFTER_LOGOUT)];
    let resp = end_session(&browser, &app, &query).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    let resp = end_session(&browser, &app, &[("id_token_hint", hint), ("client_id", "nobody")]).await;
    assert_eq!(resp.status(), 400, "an unknown client_id");
    assert!(still_signed_in(&app, &browser, issued["access_token"].as_str().unwrap()).await);
}

async fn a_hint_that_is_not_a_munji_id_token_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, issued, _) = user_with_tokens(&app, 10).await;
    let access = issued["access_token"].as_str().unwrap();
    // An access token is signed by munji but is no ID token; the others are not munji's at all.
    for hint in [access, "not-a-jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."] {
        let resp = end_session(&browser, &app, &[("id_token_hint", hint)]).await;
        assert_eq!(resp.status(), 400, "{hint}");
    }
    let resp = browser.get(app.url("/end-session?state=a&state=b")).send().await.unwrap();
    assert_eq!(resp.status(), 400, "a parameter given twice");
    assert!(still_signed_in(&app, &browser, access).await);
}

/// The confirmation page: its one POST form, and its fields.
async fn confirmation_form(resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert_eq!(html.matches("<form").count(), 1, "exactly one form: {html}");
    assert!(html.contains(r#"method="post" action="/end-session""#));
    assert!(form_value(&html, "csrf").is_some());
    html
}

async fn without_a_hint_of_this_session_the_user_is_asked_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, issued, _) = user_with_tokens(&app, 11).await;
    let access = issued["access_token"].as_str().unwrap();
    // Another browser of the same user: its ID token names another session.
    let other = app.browser();
    app.sign_in_with(&other, Provider::Google, &Person::new(11, "user11@example.com")).await;
    let second = register_app(&app, "second", AppOptions::default()).await;
    let other_hint = sign_in_to(&app, &other, &second).await["id_token"].as_str().unwrap().to_owned();

    for query in [vec![], vec![("id_token_hint", other_hint.as_str()), ("ui_locales", "ko")]] {
        let html = confirmation_form(end_session(&browser, &app, &query).await).await;
        assert!(still_signed_in(&app, &browser, access).await, "asking ends nothing");
        if !query.is_empty() {
            assert!(html.contains("로그아웃"), "ui_locales=ko picks Korean");
            assert!(html.contains("The second app"), "names the app");
        }
    }
    // The user confirms: signed out, and munji's own page says so.
    let html = confirmation_form(end_session(&browser, &app, &[("state", "s1")]).await).await;
    let csrf = form_value(&html, "csrf").unwrap();
    let resp =
        browser.post(app.url("/end-session")).form(&[("csrf", csrf.as_str()), ("confirm", "1")]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains(r#"id="signed-out""#));
    assert!(!still_signed_in(&app, &browser, access).await);
}

async fn the_confirmation_without_its_csrf_field_signs_nobody_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, issued, _) = user_with_tokens(&app, 12).await;
    let access = issued["access_token"].as_str().unwrap();
    let html = confirmation_form(end_session(&browser, &app, &[]).await).await;
    let csrf = form_value(&html, "csrf").unwrap();
    let wrong = format!("{}{}", &csrf[..csrf.len() - 1], if csrf.ends_with('x') { "y" } else { "x" });
    for form in [vec![("confirm", "1")], vec![("confirm", "1"), ("csrf", wrong.as_str())]] {
        let resp = browser.post(app.url("/end-session")).form(&form).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{form:?}");
    }
    // A GET cannot confirm, even with the right field.
    let resp = end_session(&browser, &app, &[("confirm", "1"), ("csrf", csrf.as_str())]).await;
    confirmation_form(resp).await;
    assert!(still_signed_in(&app, &browser, access).await);
}

async fn an_expired_hint_of_this_session_still_signs_out_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, issued, _) = user_with_tokens(&app, 13).await;
    let access = issued["access_token"].as_str().unwrap();
    let fresh = issued["id_token"].as_str().unwrap();
    let mut claims: munji::oidc::tokens::IdClaims = serde_json::from_value(payload(fresh)).unwrap();
    claims.iat -= 7200;
    claims.exp -= 7200;
    let expired = app.state.tokens.mint_id(&claims).unwrap();
    let query = [("id_token_hint", expired.as_str()), ("post_logout_redirect_uri", AFTER_LOGOUT)];
    let resp = end_session(&browser, &app, &query).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp, &app.base_url).as_str(), AFTER_LOGOUT);
    assert!(!still_signed_in(&app, &browser, access).await);
}

async fn a_confirmed_sign_out_goes_back_to_the_app_with_its_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, issued, _) = user_with_tokens(&app, 14).await;
    let query = [("client_id", "web"), ("post_logout_redirect_uri", AFTER_LOGOUT), ("state", "z 1")];
    let resp = end_session(&browser, &app, &query).await;
    // Browsers hold the form's redirect to `form-action`: the page lets it reach the app, only.
    let policy = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("form-action 'self' https://app.example;"), "{policy}");
    let html = confirmation_form(resp).await;
    let mut form: Vec<(String, String)> = vec![("confirm".into(), "1".into())];
    for name in ["csrf", "client_id", "post_logout_redirect_uri", "state"] {
        form.push((name.into(), form_value(&html, name).unwrap().replace("&#38;", "&")));
    }
    let resp = browser.post(app.url("/end-session")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp, &app.base_url).as_str(), format!("{AFTER_LOGOUT}?state=z+1"));
    assert!(!still_signed_in(&app, &browser, issued["access_token"].as_str().unwrap()).await);
    // Other pages keep the strict policy.
    let policy = app.get("/login").await.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("form-action 'self';"), "{policy}");
}
