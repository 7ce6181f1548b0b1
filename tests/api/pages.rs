//! Page behaviour, the same on every storage backend: languages, security headers,
//! cookie attributes, redirects that stay local, the sign-up form's rules, session rotation.

use munji::upstream::Provider;
use wiremock::MockServer;

use crate::helpers::{
    Backend, TestApp,
    social::{Person, form_value, location},
};

crate::on_every_backend!(
    the_login_page_offers_each_provider_in_the_browsers_language,
    pages_send_a_strict_csp_and_no_script,
    unknown_providers_and_paths_get_a_404_page_with_the_request_id,
    cookies_are_http_only_lax_and_secure_behind_https,
    the_dev_provider_is_not_mounted_outside_dev_mode,
    return_to_stays_on_munji,
    the_signup_form_explains_bad_usernames_and_creates_nothing_until_valid,
    signup_without_a_pending_sign_in_is_refused,
    the_session_id_changes_at_every_sign_in,
    a_provider_whose_discovery_fails_shows_the_error_page_at_login,
    the_account_page_shows_times_in_the_display_timezone_in_the_page_language,
    the_favicon_and_the_provider_symbols_are_served_by_munji,
    an_error_on_the_account_page_leads_back_to_the_account,
    the_account_pages_forms_may_lead_to_each_providers_authorization_endpoint,
);

async fn the_login_page_offers_each_provider_in_the_browsers_language(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let en = app.get("/login").await;
    assert_eq!(en.status(), 200);
    let html = en.text().await.unwrap();
    for provider in ["google", "naver", "kakao"] {
        assert!(html.contains(&format!("href=\"/login/{provider}?return_to=%2Faccount\"")), "{html}");
    }
    for wording in ["Sign in with Google", "Log in with NAVER", "Login with Kakao"] {
        assert!(html.contains(wording), "the provider's own wording {wording:?}: {html}");
    }
    assert!(html.contains("lang=\"en\""));

    let ko =
        app.client.get(app.url("/login")).header("Accept-Language", "ko-KR,ko;q=0.9,en;q=0.8").send().await.unwrap();
    let html = ko.text().await.unwrap();
    for wording in ["Google 계정으로 로그인", "네이버 로그인", "카카오 로그인"] {
        assert!(html.contains(wording), "the provider's own wording {wording:?}: {html}");
    }
    assert!(html.contains("lang=\"ko\""), "{html}");
}

async fn pages_send_a_strict_csp_and_no_script(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/login", "/account", "/nowhere", "/callback/google"] {
        let resp = app.get(path).await;
        let headers = resp.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(!resp.text().await.unwrap().contains("<script"), "{path}");
    }
    let css = app.get("/static/munji.css").await;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
}

async fn unknown_providers_and_paths_get_a_404_page_with_the_request_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/login/facebook", "/callback/github?code=x&state=y", "/no/such/page"] {
        let resp = app.client.get(app.url(path)).header("X-Request-Id", "req-404-page").send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        assert!(resp.text().await.unwrap().contains("req-404-page"), "{path}");
    }
}

async fn cookies_are_http_only_lax_and_secure_behind_https(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = app.client.get(app.url("/login/naver")).send().await.unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("munji_browser="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"));

    let https = TestApp::builder(backend).env("MUNJI_PUBLIC_URL", "https://id.example").spawn().await;
    let resp = https.client.get(https.url("/login/naver")).send().await.unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-munji_browser=") && cookie.contains("Secure"), "{cookie}");
    let page = https.get("/login").await;
    assert!(page.headers().contains_key("strict-transport-security"));
}

async fn the_dev_provider_is_not_mounted_outside_dev_mode(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = app.get("/dev/google/.well-known/openid-configuration").await;
    assert_eq!(resp.status(), 404);
}

async fn return_to_stays_on_munji(backend: Backend) {
    let app = TestApp::builder(backend).env("MUNJI_REGISTRATION", "auto").spawn().await;
    let cases = [
        ("//evil.example", "/account"),
        ("https://evil.example/x", "/account"),
        ("/\\evil.example", "/account"),
        ("/account?tab=1", "/account?tab=1"),
    ];
    for (i, (return_to, lands)) in cases.into_iter().enumerate() {
        let browser = app.browser();
        let start = browser.get(app.url("/login/kakao")).query(&[("return_to", return_to)]).send().await.unwrap();
        let authorize = location(&start, &app.base_url);
        let callback =
            app.provider_decides(&browser, &authorize, &Person::new(100 + i as u64, "r@example.com"), true).await;
        let done = browser.get(callback).send().await.unwrap();
        let target = location(&done, &app.base_url);
        assert_eq!(target.origin(), url::Url::parse(&app.base_url).unwrap().origin(), "{return_to}");
        let path_and_query = match target.query() {
            Some(q) => format!("{}?{q}", target.path()),
            None => target.path().to_owned(),
        };
        assert_eq!(path_and_query, lands, "{return_to}");
    }
}

async fn the_signup_form_explains_bad_usernames_and_creates_nothing_until_valid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.sign_up_with(&app.browser(), Provider::Google, &Person::new(1, "taken@example.com"), "taken").await;

    let browser = app.browser();
    let callback = app.sign_in_with(&browser, Provider::Naver, &Person::new(2, "new@example.com")).await;
    assert_eq!(location(&callback, &app.base_url).path(), "/signup");
    let page = browser.get(app.url("/signup")).send().await.unwrap().text().await.unwrap();
    let csrf = form_value(&page, "csrf").unwrap();

    let cases = [
        ("ab", "Person", "too short"),
        (&"x".repeat(33) as &str, "Person", "too long"),
        ("Has Caps", "Person", "may only contain"),
        ("taken", "Person", "taken"),
        ("fine.name", "   ", "display name"),
    ];
    for (username, display_name, message) in cases {
        let resp = app.post_signup(&browser, username, display_name, &csrf).await;
        assert_eq!(resp.status(), 422, "{username:?}");
        let html = resp.text().await.unwrap();
        assert!(html.contains(message), "{username:?}: {html}");
        assert!(html.contains("aria-invalid=\"true\""));
    }
    assert_eq!(app.count_users().await, 1);

    let forged = app.post_signup(&browser, "fine.name", "Person", "not-the-token").await;
    assert_eq!(forged.status(), 400);
    assert_eq!(app.count_users().await, 1);

    let ok = app.post_signup(&browser, "fine.name", "Person", &csrf).await;
    assert_eq!(ok.status(), 303);
    // The pending sign-up is used once.
    let again = app.post_signup(&browser, "other.name", "Person", &csrf).await;
    assert_eq!(again.status(), 400);
    assert_eq!(app.count_users().await, 2);
}

async fn signup_without_a_pending_sign_in_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.get("/signup").await.status(), 400);
}

async fn the_session_id_changes_at_every_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = app.browser();
    let person = Person::new(77, "rotate@example.com");
    let first = app.sign_up_with(&browser, Provider::Kakao, &person, "rotating").await;
    let old_cookie = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("munji_session="))
        .unwrap();
    let old_cookie = old_cookie.split(';').next().unwrap().to_owned();

    // Sign in again in the same browser.
    let again = app.sign_in_with(&browser, Provider::Kakao, &person).await;
    assert_eq!(location(&again, &app.base_url).path(), "/account");

    // The first session no longer opens the account page.
    let replay = app.browser().get(app.url("/account")).header("Cookie", old_cookie).send().await.unwrap();
    assert_eq!(replay.status(), 303, "the old session was ended at the new sign-in");
    assert_eq!(app.signed_in_username(&browser).await.as_deref(), Some("rotating"));
}

async fn a_provider_whose_discovery_fails_shows_the_error_page_at_login(backend: Backend) {
    let silent = MockServer::start().await; // answers 404 to everything
    let app = TestApp::builder(backend).upstream(Provider::Google, &silent.uri()).spawn().await;
    let resp = app.get("/login/google").await;
    assert_eq!(resp.status(), 502);
}

/// Times on the account page are in `display_timezone` (default `Asia/Seoul`), written the way
/// the page's language writes them, with the exact offset in `<time datetime>`.
async fn the_account_page_shows_times_in_the_display_timezone_in_the_page_language(backend: Backend) {
    use chrono::{Datelike as _, FixedOffset, Timelike as _};

    let linked_at = |app: &TestApp, uid: String| {
        let db = app.state.db.clone();
        async move {
            munji::store::identities::find_by_provider_uid(&db, Provider::Naver, &uid).await.unwrap().unwrap().linked_at
        }
    };
    let app = TestApp::spawn(backend).await;
    let browser = app.browser();
    let person = Person::new(31, "zone@example.com");
    app.sign_up_with(&browser, Provider::Naver, &person, "zone").await;
    let at = linked_at(&app, person.uid.clone()).await.with_timezone(&FixedOffset::east_opt(9 * 3600).unwrap());
    let korean = browser.get(app.url("/account")).header("Accept-Language", "ko").send().await.unwrap();
    let html = korean.text().await.unwrap();
    let text = format!("{}. {}. {}. {:02}:{:02} KST", at.year(), at.month(), at.day(), at.hour(), at.minute());
    let datetime = at.format("%Y-%m-%dT%H:%M:%S+09:00").to_string();
    assert!(html.contains(&format!(r#"<time datetime="{datetime}">{text}</time>"#)), "{text}: {html}");
    assert!(!html.contains(" UTC<"), "no UTC time on a Korean page: {html}");
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = months[at.month0() as usize];
    let english = app.get_account(&browser).await.text().await.unwrap();
    let text = format!("{} {month} {}, {:02}:{:02} KST", at.day(), at.year(), at.hour(), at.minute());
    assert!(english.contains(&format!(r#"<time datetime="{datetime}">{text}</time>"#)), "{text}: {english}");

    let utc = TestApp::builder(backend).env("MUNJI_DISPLAY_TIMEZONE", "UTC").spawn().await;
    let browser = utc.browser();
    utc.sign_up_with(&browser, Provider::Naver, &person, "zone").await;
    let at = linked_at(&utc, person.uid.clone()).await;
    let html = utc.get_account(&browser).await.text().await.unwrap();
    let text =
        format!("{} {} {}, {:02}:{:02} UTC", at.day(), months[at.month0() as usize], at.year(), at.hour(), at.minute());
    assert!(html.contains(&format!(r#"datetime="{}">{text}<"#, at.format("%Y-%m-%dT%H:%M:%S+00:00"))), "{html}");
}

/// An unknown time zone stops start-up with a message that names the key, before anything runs.
#[test]
fn an_unknown_display_timezone_is_refused_at_start_up() {
    use munji::config::{Config, Purpose, Sources};
    let env = |zone: &str| {
        vec![
            ("MUNJI_SECRET_KEY".to_owned(), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned()),
            ("MUNJI_DISPLAY_TIMEZONE".to_owned(), zone.to_owned()),
        ]
    };
    let load = |zone: &str| Config::load(Sources { file: None, env: env(zone), purpose: Purpose::Admin });
    for bad in ["Asia/Seol", "KST+9", "", "Mars/Olympus_Mons"] {
        let err = format!("{:#}", load(bad).unwrap_err());
        assert!(err.contains("display_timezone") && err.contains("MUNJI_DISPLAY_TIMEZONE"), "{bad:?}: {err}");
    }
    assert_eq!(load("Europe/Berlin").unwrap().display_timezone, chrono_tz::Europe::Berlin);
    assert_eq!(
        Config::load(Sources { file: None, env: vec![], purpose: Purpose::Admin }).unwrap().display_timezone,
        chrono_tz::Asia::Seoul
    );
}

/// The favicon and every symbol a page shows come from munji itself (no CDN, no 404).
async fn the_favicon_and_the_provider_symbols_are_served_by_munji(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let html = app.get("/login").await.text().await.unwrap();
    assert!(html.contains(r#"<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">"#), "{html}");
    let mut paths = vec!["/favicon.ico".to_owned(), "/static/favicon.svg".to_owned()];
    for provider in ["google", "naver", "kakao"] {
        let symbol = format!("/static/{provider}.svg");
        assert!(html.contains(&format!(r#"src="{symbol}""#)), "{provider}'s symbol on its button: {html}");
        paths.push(symbol);
    }
    for path in paths {
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["content-type"], "image/svg+xml", "{path}");
        assert!(resp.headers()["cache-control"].to_str().unwrap().starts_with("public"), "{path}");
        assert!(resp.text().await.unwrap().starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{path}");
    }
    for missing in ["/static/nothing.svg", "/static/", "/static/../Cargo.toml", "/static/%2e%2e%2fCargo.toml"] {
        assert_eq!(app.get(missing).await.status(), 404, "{missing}");
    }
}

/// A refusal met on the account page offers the account page as the next step, in words that
/// say so; elsewhere the error page leads to the sign-in page.
async fn an_error_on_the_account_page_leads_back_to_the_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Naver, &Person::new(41, "only@example.com"), "only").await;
    let page = app.get_account(&browser).await.text().await.unwrap();
    let csrf = form_value(&page, "csrf").unwrap();
    let start = page.find("/account/unlink/").unwrap();
    let action = &page[start..start + page[start..].find('"').unwrap()];
    for (lang, label) in [("en", "Back to your account"), ("ko", "내 계정으로 돌아가기")] {
        let resp = browser
            .post(app.url(action))
            .header("Accept-Language", lang)
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 409);
        let html = resp.text().await.unwrap();
        assert!(html.contains("LAST_IDENTITY") && html.contains(&format!(r#"href="/account">{label}<"#)), "{html}");
    }
    let elsewhere = app.get("/no/such/page").await.text().await.unwrap();
    assert!(elsewhere.contains(r#"href="/login">Back to sign in<"#), "{elsewhere}");
    assert_eq!(app.count_identities().await, 1);
}

/// The dev provider's form speaks the browser's language, as munji's pages do.
#[tokio::test]
async fn the_dev_providers_form_speaks_korean_and_english() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let form = |provider: &str, path: &str, lang: &str| {
        let url = format!("{}/dev/{provider}{path}?client_id=x&redirect_uri=http://127.0.0.1/cb", app.dev_provider_url);
        let request = app.client.get(url).header("Accept-Language", lang);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let korean = form("naver", "/oauth2.0/authorize", "ko-KR,ko;q=0.9").await;
    for text in [r#"<html lang="ko">"#, "<h1>네이버 로그인</h1>", "이메일 제공에 동의", "취소"] {
        assert!(korean.contains(text), "{text}: {korean}");
    }
    let english = form("kakao", "/oauth/authorize", "en").await;
    for text in [r#"<html lang="en">"#, "<h1>Sign in to Kakao</h1>", "Share my e-mail (consent)", "Cancel"] {
        assert!(english.contains(text), "{text}: {english}");
    }
}

/// The account page's link and Gmail buttons post forms that are answered with a redirect to the
/// provider; browsers hold that redirect to `form-action`, so the page names each provider's
/// origin (and only there: other pages keep `form-action 'self'`).
async fn the_account_pages_forms_may_lead_to_each_providers_authorization_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Naver, &Person::new(32, "forms@example.com"), "forms").await;
    let resp = app.get_account(&browser).await;
    let policy = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let provider = url::Url::parse(&app.dev_provider_url).unwrap().origin().ascii_serialization();
    assert_ne!(provider, url::Url::parse(&app.base_url).unwrap().origin().ascii_serialization());
    let form_action = policy.split(';').find(|d| d.trim().starts_with("form-action")).unwrap().trim();
    assert_eq!(form_action, format!("form-action 'self' {provider}"), "{policy}");
    let login = app.get("/login").await.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(login.contains("form-action 'self';"), "{login}");
}
