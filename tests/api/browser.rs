//! End to end in a real browser (headless Chromium through ChromeDriver): sign up with Naver
//! through the provider imitation, land on `/account`, sign out; and every page at 360 px and
//! 1280 px, in Korean and English, photographed into `target/screenshots/` and measured for
//! overflow.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Set
//! `SKIP_BROWSER_TEST=1` to skip it on a machine without them; nothing skips it silently.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{ClientBuilder, Locator};

use munji::{oidc::clients::NewClient, store::identities, upstream::Provider};

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
        if Instant::now() >= deadline {
            let page = browser.source().await.unwrap_or_default();
            panic!("expected {path}, still at {url}: {page}");
        }
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
    continue_with_naver(browser, uid, email).await;
    browser.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
}

/// A fresh browser whose person signed up with Naver and now looks at their account page. The
/// driver is returned too: dropping it stops ChromeDriver.
async fn signed_up_in_a_browser(app: &TestApp, uid: &str, email: &str) -> (ChromeDriver, fantoccini::Client) {
    let driver = ChromeDriver::start();
    let browser = open_browser(&driver).await;
    browser.goto(&app.url("/login")).await.unwrap();
    sign_up_with_naver(&browser, uid, email).await;
    wait_for_path(&browser, "/account").await;
    (driver, browser)
}

/// The first half of [`sign_up_with_naver`]: up to munji's sign-up form, prefilled.
async fn continue_with_naver(browser: &fantoccini::Client, uid: &str, email: &str) {
    let naver = Imitation { start: "a.provider-naver", form: "/dev/naver/oauth2.0/authorize", back: "/signup" };
    naver.allow(browser, uid, email).await;
    let username = browser.find(Locator::Id("username")).await.unwrap();
    assert_eq!(username.prop("value").await.unwrap().as_deref(), email.split('@').next());
}

#[tokio::test]
async fn a_person_signs_up_with_naver_in_a_real_browser_and_signs_out() {
    if skipped() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Steps 1 to 3: the sign-in page and Naver's button, the imitation's form, then munji's
    // sign-up form, prefilled.
    let (_driver, browser) = signed_up_in_a_browser(&app, "880001", "browser.user@example.com").await;

    // Step 4: the account page shows the new account and its Naver identity.
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

/// The authorization request of the third-party app `third`, which redirects to `landing`.
fn third_party_authorize(app: &TestApp, landing: &crate::backchannel::Receiver, scope: &str, state: &str) -> String {
    let mut authorize = url::Url::parse(&app.url("/authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("client_id", "third"),
        ("redirect_uri", landing.url.as_str()),
        ("response_type", "code"),
        ("scope", scope),
        ("state", state),
    ]);
    authorize.into()
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

    browser.goto(&third_party_authorize(&app, &landing, "openid profile", "st-1")).await.unwrap();
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

/// A Chrome DevTools command, sent through ChromeDriver's `goog/cdp/execute`: it changes the
/// language the browser asks for and the size of its viewport within one session.
#[derive(Debug)]
struct Cdp(&'static str, serde_json::Value);

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (poem::http::Method, Option<String>) {
        (poem::http::Method::POST, Some(serde_json::json!({ "cmd": self.0, "params": self.1 }).to_string()))
    }
}

async fn cdp(browser: &fantoccini::Client, cmd: &'static str, params: serde_json::Value) {
    browser.issue_cmd(Cdp(cmd, params)).await.unwrap_or_else(|e| panic!("{cmd}: {e}"));
}

/// The page widths every page must hold at: a small phone and a laptop.
const WIDTHS: [u32; 2] = [360, 1280];

/// Run in the page: what does not fit, as a list of sentences (empty when all is well). Nothing
/// may stick out of the viewport or out of the card; nothing may be wider than its own box; a
/// date, a badge or a button's label may not wrap.
const LAYOUT_CHECK: &str = r#"
const viewport = document.documentElement.clientWidth;
const problems = [];
const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
  + (typeof e.className === 'string' && e.className.trim() ? '.' + e.className.trim().split(/\s+/).join('.') : '')
  + ' "' + (e.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40) + '"';
if (document.documentElement.scrollWidth > viewport) {
  problems.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' px in ' + viewport + ' px');
}
const card = document.querySelector('.card');
const cardBox = card ? card.getBoundingClientRect() : null;
for (const e of document.body.querySelectorAll('*')) {
  if (e.closest('.skip, .visually-hidden') || e.type === 'hidden') continue;
  const box = e.getBoundingClientRect();
  if (box.width === 0 && box.height === 0) continue;
  if (box.left < -0.5 || box.right > viewport + 0.5) {
    problems.push('outside the viewport (' + Math.round(box.left) + '..' + Math.round(box.right) + '): ' + name(e));
  } else if (cardBox && card !== e && card.contains(e) && (box.left < cardBox.left - 0.5 || box.right > cardBox.right + 0.5)) {
    problems.push('outside its card: ' + name(e));
  }
  if (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1) {
    problems.push('content wider than its box (' + e.scrollWidth + ' > ' + e.clientWidth + '): ' + name(e));
  }
}
for (const e of document.querySelectorAll('time, .badge, .button:not(.provider), .button.provider > span')) {
  const range = document.createRange();
  range.selectNodeContents(e);
  const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
  if (lines.size > 1) problems.push('wraps onto ' + lines.size + ' lines: ' + name(e));
}
return problems;
"#;

/// Where the screenshots go: `target/screenshots/` (of `CARGO_TARGET_DIR` when it is set).
fn screenshot_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The browser and what it has found so far, page after page.
struct Photographer<'a> {
    browser: &'a fantoccini::Client,
    dir: std::path::PathBuf,
    lang: &'static str,
    problems: Vec<String>,
    taken: Vec<String>,
}

impl Photographer<'_> {
    /// Ask for pages in `lang` (`Accept-Language`) from now on.
    async fn speak(&mut self, lang: &'static str) {
        self.lang = lang;
        cdp(self.browser, "Network.enable", serde_json::json!({})).await;
        cdp(self.browser, "Network.setExtraHTTPHeaders", serde_json::json!({ "headers": { "Accept-Language": lang } }))
            .await;
    }

    /// The page now shown, at every width: measured, and photographed whole as
    /// `{page}-{lang}-{width}.png`.
    async fn shoot(&mut self, page: &str) {
        let html_lang = self.browser.execute("return document.documentElement.lang", vec![]).await.unwrap();
        assert_eq!(html_lang, self.lang, "{page} is in the language asked for");
        for width in WIDTHS {
            let metrics = |height: u64| serde_json::json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600 });
            cdp(self.browser, "Emulation.setDeviceMetricsOverride", metrics(800)).await;
            let found = self.browser.execute(LAYOUT_CHECK, vec![]).await.unwrap();
            for problem in found.as_array().unwrap() {
                self.problems.push(format!("{page} ({}, {width} px): {}", self.lang, problem.as_str().unwrap()));
            }
            let height = self.browser.execute("return document.documentElement.scrollHeight", vec![]).await.unwrap();
            cdp(self.browser, "Emulation.setDeviceMetricsOverride", metrics(height.as_u64().unwrap().max(800))).await;
            let file = format!("{page}-{}-{width}.png", self.lang);
            std::fs::write(self.dir.join(&file), self.browser.screenshot().await.unwrap()).unwrap();
            self.taken.push(file);
        }
        cdp(
            self.browser,
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({
                "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false
            }),
        )
        .await;
    }
}

async fn click(browser: &fantoccini::Client, css: &str) {
    browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
}

async fn fill(browser: &fantoccini::Client, id: &str, value: &str) {
    let Ok(field) = browser.find(Locator::Id(id)).await else {
        panic!("no #{id} at {}: {}", browser.current_url().await.unwrap(), browser.source().await.unwrap());
    };
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// A way through a provider's imitation: click `start` on a munji page, fill the imitation's
/// form at `form` (on its own origin) as a person, allow, and be back on munji at `back`.
struct Imitation {
    start: &'static str,
    form: &'static str,
    back: &'static str,
}

impl Imitation {
    async fn allow(&self, browser: &fantoccini::Client, uid: &str, email: &str) {
        click(browser, self.start).await;
        wait_for_path(browser, self.form).await;
        fill(browser, "uid", uid).await;
        fill(browser, "email", email).await;
        click(browser, "#allow").await;
        wait_for_path(browser, self.back).await;
    }
}

/// The account page's Google buttons: link an identity, connect Gmail.
const LINK_GOOGLE: Imitation =
    Imitation { start: "form[action='/account/link/google'] button", form: "/dev/google/authorize", back: "/account" };
const CONNECT_GMAIL: Imitation = Imitation {
    start: "form[action='/account/gmail/connect'] button",
    form: "/dev/google/authorize",
    back: "/account",
};

/// The account page's provider buttons post a form that is answered with a redirect to the
/// provider's origin; the page's policy lets the browser follow it (docs/security.md).
#[tokio::test]
async fn a_person_links_google_and_connects_gmail_from_the_account_page() {
    if skipped() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_driver, browser) = signed_up_in_a_browser(&app, "880004", "linking.person@example.com").await;

    LINK_GOOGLE.allow(&browser, "990004", "linking.person@gmail.com").await;
    let naver = identities::find_by_provider_uid(&app.state.db, Provider::Naver, "880004").await.unwrap().unwrap();
    let google = identities::find_by_provider_uid(&app.state.db, Provider::Google, "990004").await.unwrap();
    assert_eq!(google.map(|g| g.user_id), Some(naver.user_id), "Google is linked to the same account");
    assert!(browser.source().await.unwrap().contains("linking.person@gmail.com"));

    CONNECT_GMAIL.allow(&browser, "990004", "linking.person@gmail.com").await;
    let connections = munji::store::gmail::list_for_user(&app.state.db, naver.user_id).await.unwrap();
    assert_eq!(connections.len(), 1, "the Gmail connection is made");
    browser.close().await.unwrap();
}

/// Every page a person meets, in Korean and English, at 360 px and 1280 px: nothing overflows
/// the viewport or its card, and dates, badges and buttons stay on one line. The screenshots
/// stay in `target/screenshots/` for people to look at.
#[tokio::test]
async fn every_page_holds_at_phone_and_laptop_widths_in_korean_and_english() {
    if skipped() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    let landing = crate::backchannel::Receiver::start().await;
    let options = clients::AppOptions { third_party: true, ..Default::default() };
    app.register(NewClient { redirect_uris: vec![landing.url.clone()], ..clients::app("third", options) }).await;
    let driver = ChromeDriver::start();
    let browser = open_browser(&driver).await;
    let mut camera =
        Photographer { browser: &browser, dir: screenshot_dir(), lang: "en", problems: vec![], taken: vec![] };

    for (n, lang) in ["en", "ko"].into_iter().enumerate() {
        camera.speak(lang).await;
        browser.goto(&app.url("/login")).await.unwrap();
        camera.shoot("login").await;

        // The imitation's form, then the consent-required page (the e-mail not shared).
        click(&browser, "a.provider-naver").await;
        wait_for_path(&browser, "/dev/naver/oauth2.0/authorize").await;
        camera.shoot("dev-provider").await;
        fill(&browser, "uid", &format!("88030{n}")).await;
        click(&browser, "#consent_email").await;
        click(&browser, "#allow").await;
        wait_for_path(&browser, "/callback/naver").await;
        camera.shoot("consent-required").await;

        // The sign-up form; then the refusal to unlink the only identity, an error page that
        // leads back to the account.
        browser.goto(&app.url("/login")).await.unwrap();
        continue_with_naver(
            &browser,
            &format!("88030{n}"),
            &format!("screen.{lang}.user.with.a.long.name@example.com"),
        )
        .await;
        camera.shoot("signup").await;
        click(&browser, "button[type=submit]").await;
        wait_for_path(&browser, "/account").await;
        click(&browser, "form[action^='/account/unlink/'] button").await;
        browser.wait().for_element(Locator::Css("p.code")).await.unwrap();
        assert!(browser.source().await.unwrap().contains("LAST_IDENTITY"));
        let next = browser.find(Locator::Css("a.button.primary")).await.unwrap();
        assert_eq!(
            next.attr("href").await.unwrap().as_deref(),
            Some("/account"),
            "a signed-in user goes back to the account"
        );
        camera.shoot("error").await;

        // A third-party app's consent page.
        browser.goto(&third_party_authorize(&app, &landing, "openid profile email", "st")).await.unwrap();
        wait_for_path(&browser, "/authorize").await;
        camera.shoot("app-consent").await;
        click(&browser, "#consent-allow").await;
        wait_for_path(&browser, url::Url::parse(&landing.url).unwrap().path()).await;

        // The account page with two identities, an app and a session: Google is linked with
        // the account page's button (a form answered with a redirect to the provider's origin).
        browser.goto(&app.url("/account")).await.unwrap();
        LINK_GOOGLE.allow(&browser, &format!("99030{n}"), &format!("screen.{lang}@gmail.com")).await;
        camera.shoot("account").await;

        // The sign-out question an app can ask, and the signed-out page.
        browser.goto(&app.url("/end-session?client_id=third")).await.unwrap();
        browser.wait().for_element(Locator::Id("end-session-confirm")).await.unwrap();
        camera.shoot("end-session").await;
        click(&browser, "#end-session-confirm").await;
        browser.wait().for_element(Locator::Id("signed-out")).await.unwrap();
        camera.shoot("signed-out").await;
        browser.delete_all_cookies().await.unwrap();
    }
    let Photographer { dir, taken, problems, .. } = camera;
    browser.close().await.unwrap();
    eprintln!("screenshots in {}: {}", dir.display(), taken.join(", "));
    assert!(problems.is_empty(), "{} layout problem(s):\n{}", problems.len(), problems.join("\n"));
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

/// A person downloads their data from the account page, then deletes their account by typing
/// their username: they land on the "account deleted" page and nothing of them is left
/// (docs/leaving.md).
#[tokio::test]
async fn a_person_downloads_their_data_and_deletes_their_account() {
    if skipped() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_driver, browser) = signed_up_in_a_browser(&app, "880004", "leaving.user@example.com").await;
    let downloads = tempfile::tempdir().unwrap();
    let path = downloads.path().to_str().unwrap().to_owned();
    cdp(&browser, "Browser.setDownloadBehavior", serde_json::json!({"behavior": "allow", "downloadPath": path})).await;

    click(&browser, "#export-data").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let file = loop {
        let done = std::fs::read_dir(downloads.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "json"));
        if let Some(file) = done {
            break file;
        }
        assert!(Instant::now() < deadline, "no download in {path}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let export: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(export["user"]["username"], "leaving.user");
    assert_eq!(export["identities"][0]["provider"], "naver");

    fill(&browser, "delete-confirm", "leaving.user").await;
    click(&browser, "#delete-account").await;
    wait_for_id(&browser, "account-deleted").await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/account/deleted");
    browser.goto(&app.url("/account")).await.unwrap();
    wait_for_path(&browser, "/login").await;
    browser.close().await.unwrap();
    assert_eq!((app.count_users().await, app.count_identities().await), (0, 0));
}

/// Sign in with Apple: the imitation, on another site than munji (`localhost` against munji's
/// `127.0.0.1`), answers with a form post, so the browser leaves munji's `SameSite=Lax` cookies
/// out of it; munji's relay page posts it again from munji's origin, the state matches this
/// browser, and the name from Apple's first-time `user` field fills the sign-up form
/// (docs/security.md, "Form-post callbacks").
#[tokio::test]
async fn a_person_signs_up_with_apple_whose_answer_crosses_sites() {
    if skipped() {
        return;
    }
    let app = crate::apple::spawn(Backend::Sqlite).await;
    let driver = ChromeDriver::start();
    let browser = open_browser(&driver).await;
    browser.goto(&app.url("/login")).await.unwrap();
    click(&browser, "a.provider-apple").await;
    wait_for_path(&browser, "/dev/apple/auth/authorize").await;
    let at_apple = browser.current_url().await.unwrap();
    let munji = url::Url::parse(&app.base_url).unwrap();
    assert_ne!(at_apple.host_str(), munji.host_str(), "the imitation is another site");
    fill(&browser, "uid", "001880.browser").await;
    fill(&browser, "email", "apple.user@example.com").await;
    fill(&browser, "name", "Apple Browser").await;
    click(&browser, "#allow").await;
    wait_for_path(&browser, "/signup").await;
    let display_name = browser.find(Locator::Id("display_name")).await.unwrap();
    assert_eq!(display_name.prop("value").await.unwrap().as_deref(), Some("Apple Browser"));
    browser.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, "/account").await;
    browser.close().await.unwrap();
    let metrics = app.get_metrics().await;
    assert!(metrics.contains(r#"munji_logins_total{outcome="relayed",provider="apple"} 1"#), "{metrics}");
    let identity = identities::find_by_provider_uid(&app.state.db, Provider::Apple, "001880.browser").await.unwrap();
    assert_eq!(identity.unwrap().email.as_deref(), Some("apple.user@example.com"));
}
