//! Two `munji serve --dev` processes on one PostgreSQL and one Redis, behind one public URL:
//! a link started on one finishes on the other, and a link survives a restart of the process
//! between its start and its finish. Nothing that must survive a request lives in a process.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::Client;
use url::Url;

use crate::helpers::{
    SECRET_KEY,
    databases::{RedisPrefix, TestDatabase},
    social::{form_value, location},
};

/// A `munji serve --dev` process.
struct Instance {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Instance {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

struct Cluster {
    database: TestDatabase,
    redis: RedisPrefix,
    /// What every instance calls itself (as behind a load balancer): the first one's address.
    public_url: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    async fn start(&self, port: u16) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_munji"))
            .args(["serve", "--dev"])
            .env_clear()
            .envs([
                ("MUNJI_DATABASE_URL", self.database.url.as_str()),
                ("MUNJI_REDIS_URL", self.redis.url.as_str()),
                ("MUNJI_REDIS_PREFIX", self.redis.prefix.as_str()),
                ("MUNJI_SECRET_KEY", SECRET_KEY),
                ("MUNJI_PUBLIC_URL", self.public_url.as_str()),
                ("MUNJI_BIND", &format!("127.0.0.1:{port}")),
                ("RUST_LOG", "warn"),
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let instance = Instance { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(resp) = reqwest::get(instance.url("/readyz")).await
                && resp.status() == 200
            {
                return instance;
            }
            assert!(Instant::now() < deadline, "munji on port {port} did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn browser() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap()
}

/// Post the dev provider's form for `uid`; returns the callback URL it redirects to.
async fn provider_allows(browser: &Client, authorize: &Url, uid: &str) -> Url {
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.extend([
        ("uid".to_owned(), uid.to_owned()),
        ("email".to_owned(), format!("{uid}@example.com")),
        ("name".to_owned(), "Cluster".to_owned()),
        ("consent_email".to_owned(), "on".to_owned()),
        ("email_verified".to_owned(), "on".to_owned()),
        ("decision".to_owned(), "allow".to_owned()),
    ]);
    let mut action = authorize.clone();
    action.set_query(None);
    let resp = browser.post(action.clone()).form(&form).send().await.unwrap();
    location(&resp, action.as_str())
}

/// The same URL, answered by `instance` (as a load balancer might route it).
fn on(instance: &Instance, url: &Url) -> Url {
    let mut url = url.clone();
    url.set_port(Some(instance.port)).unwrap();
    url
}

/// Sign up with Naver on `instance`.
async fn sign_up(instance: &Instance, browser: &Client) {
    let start = browser.get(instance.url("/login/naver")).send().await.unwrap();
    let callback = provider_allows(browser, &location(&start, &instance.url("/")), "cluster-user").await;
    browser.get(on(instance, &callback)).send().await.unwrap();
    let page = browser.get(instance.url("/signup")).send().await.unwrap().text().await.unwrap();
    let csrf = form_value(&page, "csrf").unwrap();
    let done = browser
        .post(instance.url("/signup"))
        .form(&[("username", "cluster"), ("display_name", "Cluster"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
}

/// Start linking Kakao on `instance`; returns the provider's callback URL.
async fn start_kakao_link(instance: &Instance, browser: &Client, uid: &str) -> Url {
    let account = browser.get(instance.url("/account")).send().await.unwrap().text().await.unwrap();
    let csrf = form_value(&account, "csrf").unwrap();
    let resp = browser.post(instance.url("/account/link/kakao")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let authorize = on(instance, &location(&resp, &instance.url("/")));
    provider_allows(browser, &authorize, uid).await
}

async fn kakao_linked(instance: &Instance, browser: &Client, uid: &str) -> bool {
    let page = browser.get(instance.url("/account")).send().await.unwrap().text().await.unwrap();
    page.contains(&format!("{uid}@example.com"))
}

#[tokio::test]
async fn a_link_started_on_one_instance_finishes_on_another_and_survives_a_restart() {
    let (port_a, port_b) = (free_port(), free_port());
    let cluster = Cluster {
        database: TestDatabase::postgres().await,
        redis: RedisPrefix::new(),
        public_url: format!("http://127.0.0.1:{port_a}"),
    };
    let a = cluster.start(port_a).await;
    let b = cluster.start(port_b).await;
    let browser = browser();
    sign_up(&a, &browser).await;

    // Started on A, finished on B.
    let callback = start_kakao_link(&a, &browser, "4100000201").await;
    let done = browser.get(on(&b, &callback)).send().await.unwrap();
    assert_eq!(done.status(), 303, "B finished what A started");
    assert!(kakao_linked(&b, &browser, "4100000201").await);

    // Started on A, A restarts, finished on the new A.
    let callback = start_kakao_link(&a, &browser, "4100000202").await;
    drop(a);
    let restarted = cluster.start(port_a).await;
    let done = browser.get(on(&restarted, &callback)).send().await.unwrap();
    assert_eq!(done.status(), 303, "the restarted process finished it");
    assert!(kakao_linked(&restarted, &browser, "4100000202").await);
    assert!(kakao_linked(&b, &browser, "4100000202").await, "and B sees it too");
}
