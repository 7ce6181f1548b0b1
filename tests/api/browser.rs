//! End to end in a real browser (headless Chromium through ChromeDriver): sign up with Naver
//! through the provider imitation, land on `/account`, sign out.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Set
//! `SKIP_BROWSER_TEST=1` to skip it on a machine without them; nothing skips it silently.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{ClientBuilder, Locator};

use munji::oidc::clients::NewClient;

use crate::helpers::{Backend, TestApp, clients};

/// A ChromeDriver of this test's own, stopped when dropped.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is needed (apt-get install chromium chromium-driver, or SKIP_BROWSER_TEST=1)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, url: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

async fn wait_for_path(browser: &fantoccini::Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = browser.current_url().await.unwrap();
        if url.path() == path {
            return;
        }
        assert!(Instant::now() < deadline, "expected {path}, still at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// A real browser is slow to start; pages and login run the flow on every backend.
/// The element with `id` once the page has it (after a form's redirect, say).
async fn wait_for_id(browser: &fantoccini::Client, id: &str) -> fantoccini::elements::Element {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(found) = browser.find(Locator::Id(id)).await {
            return found;
        }
        let page = browser.source().await.unwrap_or_default();
        assert!(Instant::now() < deadline, "no #{id} at {:?}: {page}", browser.current_url().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Headless Chromium driven through `driver`.
async fn open_browser(driver: &ChromeDriver) -> fantoccini::Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--lang=en-US"],
        }),
    );
    // ChromeDriver speaks plain HTTP on loopback: no TLS connector needed.
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(capabilities).connect(&driver.url).await.unwrap()
}

fn skipped() -> bool {
    let skip = std::env::var_os("SKIP_BROWSER_TEST").is_some();
    if skip {
        eprintln!("SKIP_BROWSER_TEST is set: browser test skipped");
    }
    skip
}

/// On munji's sign-in page: continue with Naver as the person `uid`/`email` (the imitation's
/// form: choose the person and allow) and create the account the sign-up form proposes (the
/// e-mail's local part as the username).
async fn sign_up_with_naver(browser: &fantoccini::Client, uid: &str, email: &str) {
    browser.find(Locator::Css("a.provider-naver")).await.unwrap().click().await.unwrap();
    let field = browser.find(Locator::Id("uid")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(uid).await.unwrap();
    let field = browser.find(Locator::Id("email")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(email).await.unwrap();
    browser.find(Locator::Id("allow")).await.unwrap().click().await.unwrap();
    wait_for_path(browser, "/signup").await;
    let username = browser.find(Locator::Id("username")).await.unwrap();
    assert_eq!(username.prop("value").await.unwrap().as_deref(), email.split('@').next());
    browser.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
}

#[tokio::test]
async fn a_person_signs_up_with_naver_in_a_real_browser_and_signs_out() {
    if skipped() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    let driver = ChromeDriver::start();
    let browser = open_browser(&driver).await;

    // Step 1: the sign-in page, and Naver's button.
    browser.goto(&app.url("/login")).await.unwrap();
    // Steps 2 and 3: the imitation's form, then munji's sign-up form, prefilled.
    sign_up_with_naver(&browser, "880001", "browser.user@example.com").await;

    // Step 4: the account page shows the new account and its Naver identity.
    wait_for_path(&browser, "/account").await;
    let shown = browser.find(Locator::Id("account-username")).await.unwrap().text().await.unwrap();
    assert_eq!(shown, "browser.user");
    assert!(browser.source().await.unwrap().contains("browser.user@example.com"));

    // Step 5: sign out; the account page now asks to sign in.
    browser.find(Locator::Id("sign-out")).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, "/login").await;
    browser.goto(&app.url("/account")).await.unwrap();
    wait_for_path(&browser, "/login").await;

    browser.close().await.unwrap();
    assert_eq!(app.count_users().await, 1);
}

/// A person signs in to a third-party app, allows it on the consent page, finds it on the
/// account page and removes it: the app's refresh token is dead (docs/consent.md).
#[tokio::test]
async fn a_person_allows_a_third_party_app_then_removes_it_from_the_account_page() {
    if skipped() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Where the app's redirect lands: a real page on loopback.
    let landing = crate::backchannel::Receiver::start().await;
    let options = clients::AppOptions { third_party: true, ..Default::default() };
    let third =
        app.register(NewClient { redirect_uris: vec![landing.url.clone()], ..clients::app("third", options) }).await;
    let driver = ChromeDriver::start();
    let browser = open_browser(&driver).await;

    let mut authorize = url::Url::parse(&app.url("/authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("client_id", "third"),
        ("redirect_uri", landing.url.as_str()),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", "st-1"),
    ]);
    browser.goto(authorize.as_str()).await.unwrap();
    wait_for_path(&browser, "/login").await;
    sign_up_with_naver(&browser, "880002", "third.party.user@example.com").await;

    // Back at /authorize: the consent page names the app and the scopes.
    wait_for_path(&browser, "/authorize").await;
    let page = browser.source().await.unwrap();
    assert!(page.contains("The third app") && page.contains("<code>profile</code>"), "{page}");
    browser.find(Locator::Id("consent-allow")).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, url::Url::parse(&landing.url).unwrap().path()).await;
    let back = browser.current_url().await.unwrap();
    assert_eq!(back.query_pairs().find(|(k, _)| k == "state").unwrap().1, "st-1");
    let code = back.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let issued: serde_json::Value = app.redeem_code(&third, &code, None).await.json().await.unwrap();
    let refresh_token = issued["refresh_token"].as_str().unwrap();

    // The account page lists the app; its remove button takes its access away.
    browser.goto(&app.url("/account")).await.unwrap();
    let row = browser.find(Locator::Id("app-third")).await.unwrap().text().await.unwrap();
    assert!(row.contains("The third app"), "{row}");
    browser.find(Locator::Id("remove-app-third")).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, "/account").await;
    assert!(!browser.source().await.unwrap().contains(r#"id="app-third""#));
    assert_eq!(app.refresh(&third, refresh_token).await.status(), 400, "the app's refresh token is dead");
    browser.close().await.unwrap();
}

/// An admin signs in, finds a user by an e-mail they no longer have, disables them: the user's
/// browser is signed out and cannot sign in again (docs/admin.md).
#[tokio::test]
async fn an_admin_disables_a_user_found_by_an_earlier_email() {
    use munji::upstream::Provider;

    use crate::helpers::social::Person;
    if skipped() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    let victim = app.browser();
    app.sign_up_with(&victim, Provider::Google, &Person::new(77, "old.mail@example.com"), "old.mail").await;
    app.sign_in_with(&victim, Provider::Google, &Person::new(77, "new.mail@example.com")).await;
    assert_eq!(app.signed_in_username(&victim).await.as_deref(), Some("old.mail"));

    let driver = ChromeDriver::start();
    let browser = open_browser(&driver).await;
    browser.goto(&app.url("/login")).await.unwrap();
    sign_up_with_naver(&browser, "880003", "the.admin@example.com").await;
    wait_for_path(&browser, "/account").await;
    let admin = munji::store::users::find_by_username(&app.state.db, "the.admin").await.unwrap().unwrap();
    munji::admin::set_admin(&app.state, None, admin.id, true).await.unwrap();

    browser.goto(&app.url("/admin")).await.unwrap();
    browser.find(Locator::Id("admin-q")).await.unwrap().send_keys("OLD.MAIL@example.com").await.unwrap();
    browser.find(Locator::Id("admin-search")).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, "/admin/users").await;
    browser.find(Locator::Css("a.admin-user[data-username='old.mail']")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Id("admin-reason")).await.unwrap().send_keys("stolen account").await.unwrap();
    browser.find(Locator::Id("admin-disable")).await.unwrap().click().await.unwrap();
    let reason = wait_for_id(&browser, "admin-disabled").await.text().await.unwrap();
    assert_eq!(reason, "stolen account");
    browser.close().await.unwrap();

    assert_eq!(app.signed_in_username(&victim).await, None, "the user's browser is signed out");
    let resp = app.sign_in_with(&victim, Provider::Google, &Person::new(77, "new.mail@example.com")).await;
    assert_eq!(resp.status(), 403, "and cannot sign in again");
}
