//! Two `munji serve --dev` processes on one PostgreSQL and one Redis, behind one public URL:
//! a link started on one finishes on the other, and a link survives a restart of the process
//! between its start and its finish; Gmail vends on both refresh an expired token once.
//! Nothing that must survive a request lives in a process.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::Client;
use url::Url;

use crate::helpers::{
    SECRET_KEY,
    clients::RegisteredClient,
    databases::{RedisPrefix, TestDatabase},
    oidc::service_token_at,
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
    /// A new cluster and two instances of it, A (whose address is the public URL) and B; A's port.
    async fn two_instances() -> (Self, u16, Instance, Instance) {
        let (port_a, port_b) = (free_port(), free_port());
        let cluster = Cluster {
            database: TestDatabase::postgres().await,
            redis: RedisPrefix::new(),
            public_url: format!("http://127.0.0.1:{port_a}"),
        };
        let a = cluster.start(port_a).await;
        let b = cluster.start(port_b).await;
        (cluster, port_a, a, b)
    }

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
        ("grant_gmail".to_owned(), "on".to_owned()),
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

// Several instances share state only through PostgreSQL and Redis.
#[tokio::test]
async fn a_link_started_on_one_instance_finishes_on_another_and_survives_a_restart() {
    let (cluster, port_a, a, b) = Cluster::two_instances().await;
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

/// Connect Gmail on `instance` and equip it to `target` with the account page's forms.
async fn connect_and_equip_gmail(instance: &Instance, browser: &Client, target: &str) {
    let account = browser.get(instance.url("/account")).send().await.unwrap().text().await.unwrap();
    let csrf = form_value(&account, "csrf").unwrap();
    let resp =
        browser.post(instance.url("/account/gmail/connect")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    let authorize = on(instance, &location(&resp, &instance.url("/")));
    let callback = provider_allows(browser, &authorize, "gmail-sender").await;
    assert_eq!(browser.get(on(instance, &callback)).send().await.unwrap().status(), 303);
    let account = browser.get(instance.url("/account")).send().await.unwrap().text().await.unwrap();
    let action =
        account.split("action=\"").map(|a| a.split('"').next().unwrap_or_default()).find(|a| a.ends_with("/equip"));
    let equipped = browser
        .post(instance.url(action.unwrap()))
        .form(&[("csrf", csrf.as_str()), ("equipped_to", target)])
        .send()
        .await
        .unwrap();
    assert_eq!(equipped.status(), 303);
}

/// `munji clients add` for a service that may vend for `target`; a token of it from `instance`.
async fn vending_service_token(cluster: &Cluster, instance: &Instance, target: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_munji"))
        .args(["clients", "add", "--id", "mailer", "--grant", "client_credentials", "--scope", "gmail.vend"])
        .args(["--gmail-target", target])
        .env_clear()
        .env("MUNJI_DATABASE_URL", &cluster.database.url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let secret = stdout.lines().find_map(|l| l.strip_prefix("client_secret: ")).unwrap().trim().to_owned();
    service_token_at(&instance.url(""), &RegisteredClient::claiming("mailer", &secret)).await
}

// Several instances share state only through PostgreSQL and Redis.
#[tokio::test]
async fn twenty_vends_of_an_expired_gmail_token_on_two_processes_refresh_it_once() {
    let (cluster, _, a, b) = Cluster::two_instances().await;
    let browser = browser();
    sign_up(&a, &browser).await;
    connect_and_equip_gmail(&a, &browser, "bot-1").await;
    let service = vending_service_token(&cluster, &a, "bot-1").await;
    let db = sqlx::PgPool::connect(&cluster.database.url).await.unwrap();
    let (user_id,): (uuid::Uuid,) =
        sqlx::query_as("SELECT user_id FROM gmail_connections").fetch_one(&db).await.unwrap();
    sqlx::query("UPDATE gmail_connections SET access_expires_at = now() - interval '1 minute'")
        .execute(&db)
        .await
        .unwrap();

    let vends = (0..20).map(|i| {
        let url = if i % 2 == 0 { a.url("/api/v1/gmail/access-token") } else { b.url("/api/v1/gmail/access-token") };
        Client::new()
            .post(url)
            .bearer_auth(&service)
            .json(&serde_json::json!({"user_id": user_id, "equipped_to": "bot-1"}))
            .send()
    });
    let answers = futures_util::future::join_all(vends).await;

    let mut tokens = vec![];
    for answer in answers {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), 200);
        tokens.push(answer.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "both processes handed out the one refreshed token");
    let stats: serde_json::Value = reqwest::get(a.url("/dev/google/_stats")).await.unwrap().json().await.unwrap();
    assert_eq!(stats["refreshes"], 1, "one refresh at Google for twenty vends on two processes");
    db.close().await;
}
