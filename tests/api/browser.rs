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

use crate::helpers::{Backend, TestApp};

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
#[tokio::test]
async fn a_person_signs_up_with_naver_in_a_real_browser_and_signs_out() {
    if std::env::var_os("SKIP_BROWSER_TEST").is_some() {
        eprintln!("SKIP_BROWSER_TEST is set: browser test skipped");
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    let driver = ChromeDriver::start();
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
    let browser = ClientBuilder::new(connector).capabilities(capabilities).connect(&driver.url).await.unwrap();

    // Step 1: the sign-in page, and Naver's button.
    browser.goto(&app.url("/login")).await.unwrap();
    browser.find(Locator::Css("a.provider-naver")).await.unwrap().click().await.unwrap();

    // Step 2: the imitation's form: choose the person and allow.
    let uid = browser.find(Locator::Id("uid")).await.unwrap();
    uid.clear().await.unwrap();
    uid.send_keys("880001").await.unwrap();
    let email = browser.find(Locator::Id("email")).await.unwrap();
    email.clear().await.unwrap();
    email.send_keys("browser.user@example.com").await.unwrap();
    browser.find(Locator::Id("allow")).await.unwrap().click().await.unwrap();

    // Step 3: munji's sign-up form, prefilled from the profile.
    wait_for_path(&browser, "/signup").await;
    let username = browser.find(Locator::Id("username")).await.unwrap();
    assert_eq!(username.prop("value").await.unwrap().as_deref(), Some("browser.user"));
    browser.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();

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
