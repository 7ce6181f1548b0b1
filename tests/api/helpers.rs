//! `TestApp`: the real application on `127.0.0.1:0` against private stores, driven over HTTP.
//!
//! Every integration test runs on each backend through [`on_every_backend!`]:
//! SQLite alone, PostgreSQL with its ephemeral table, and PostgreSQL with Redis; a test that
//! is about one backend says so in a comment above it.
//!
//! Tests read as the scenario they check: the builder registers the clients a test needs
//! ([`clients`]), and each endpoint is one method of `TestApp`: the provider's in [`oidc`],
//! `/api/v1` in [`api`], the pages a browser visits in [`social`].

use std::sync::LazyLock;

use munji::{
    config::{Config, Purpose, Sources},
    startup::Application,
    state::AppState,
    upstream::Provider,
};

pub mod api;
pub mod clients;
#[path = "../support/databases.rs"]
pub mod databases;
pub mod oidc;
pub mod social;

use clients::RegisteredClient;
use databases::{RedisPrefix, TestDatabase};
use munji::oidc::clients::NewClient;

pub const SECRET_KEY: &str = "dGVzdC1zZWNyZXQta2V5LW9mLWF0LWxlYXN0LTMyLWJ5dGVz";
/// 32 bytes, base64: the Gmail token key of every test app (`test1`).
pub const ENCRYPTION_KEY: &str = "ZW5jcnlwdGlvbi1rZXktb2YtZXhhY3RseS0zMi1ieXQ=";

/// The store combination a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    PostgresRedis,
}

/// Generate one `#[tokio::test]` per backend for each listed `async fn(Backend)`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Postgres).await })*
        }
        mod postgres_redis {
            $(#[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::PostgresRedis).await })*
        }
    };
}

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        munji::telemetry::init(true);
    }
});

pub struct TestApp {
    pub base_url: String,
    /// Where the provider imitation listens (its own server, as a real provider would be).
    pub dev_provider_url: String,
    /// The test's own database, for running the `munji` binary against it.
    pub database_url: String,
    pub state: AppState,
    /// A browser-like client: no automatic redirects, cookies kept.
    pub client: reqwest::Client,
    /// The configuration it was built from, for [`TestApp::sibling`].
    env: Vec<(String, String)>,
    /// The clients the builder registered ([`TestApp::registered`]).
    clients: Vec<RegisteredClient>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    dev_server: tokio::task::JoinHandle<std::io::Result<()>>,
    _database: TestDatabase,
    _redis: Option<RedisPrefix>,
}

pub struct TestAppBuilder {
    backend: Backend,
    redis_url: Option<String>,
    env: Vec<(String, String)>,
    clients: Vec<NewClient>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::builder(backend).spawn().await
    }

    pub fn builder(backend: Backend) -> TestAppBuilder {
        TestAppBuilder { backend, redis_url: None, env: vec![], clients: vec![] }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_healthz(&self) -> reqwest::Response {
        self.get("/healthz").await
    }

    pub async fn get_readyz(&self) -> reqwest::Response {
        self.get("/readyz").await
    }

    pub async fn get_metrics(&self) -> String {
        self.get("/metrics").await.text().await.expect("metrics body")
    }

    /// Stop this instance's server and its background work (a restart; its stores stay).
    pub fn stop(&self) {
        self.server.abort();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        self.dev_server.abort();
    }
}

/// Another instance of a [`TestApp`]: the same stores, provider imitation and public URL
/// (as behind one load balancer), its own address, and configuration changed by `env`.
pub struct Sibling {
    pub base_url: String,
    pub state: AppState,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Sibling {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    pub async fn sibling(&self, env: &[(&str, &str)]) -> Sibling {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let base_url = format!("http://{}", listener.local_addr().expect("local addr"));
        let mut config = self.env.clone();
        config.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let (state, server) = serve(config, listener).await;
        Sibling { base_url, state, server }
    }
}

/// Build the application from `env` and serve it on `listener`.
async fn serve(
    env: Vec<(String, String)>,
    listener: std::net::TcpListener,
) -> (AppState, tokio::task::JoinHandle<std::io::Result<()>>) {
    let config =
        Config::load(Sources { file: None, env, purpose: Purpose::Serve { dev: false } }).expect("test config");
    let app = Application::build_with_listener(config, listener).await.expect("build app");
    let state = app.state().clone();
    (state, tokio::spawn(app.run_until(std::future::pending())))
}

impl TestAppBuilder {
    /// Set a configuration value as a `MUNJI_*` variable would.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Point `provider` at `base` (for example a wiremock server) instead of the imitation:
    /// Google's issuer becomes `base`; Naver and Kakao get their endpoints under it.
    pub fn upstream(self, provider: Provider, base: &str) -> Self {
        let key = |k: &str| format!("MUNJI_PROVIDERS__{}__{k}", provider.as_str().to_uppercase());
        match provider {
            Provider::Google => self.env(&key("ISSUER_URL"), base),
            _ => self
                .env(&key("AUTHORIZE_URL"), &format!("{base}/authorize"))
                .env(&key("TOKEN_URL"), &format!("{base}/token"))
                .env(&key("USERINFO_URL"), &format!("{base}/userinfo")),
        }
    }

    /// Use this Redis server (with a private key prefix) instead of the shared one.
    pub fn redis_url(mut self, url: &str) -> Self {
        self.redis_url = Some(url.to_owned());
        self
    }

    pub async fn spawn(self) -> TestApp {
        LazyLock::force(&TRACING);
        let database = match self.backend {
            Backend::Sqlite => TestDatabase::sqlite(),
            Backend::Postgres | Backend::PostgresRedis => TestDatabase::postgres().await,
        };
        let redis = match (self.backend, self.redis_url) {
            (_, Some(url)) => Some(RedisPrefix::on(&url)),
            (Backend::PostgresRedis, None) => Some(RedisPrefix::new()),
            _ => None,
        };
        let (dev_provider_url, dev_server) = spawn_dev_provider();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let base_url = format!("http://{addr}");

        let mut env = vec![
            ("MUNJI_SECRET_KEY".to_owned(), SECRET_KEY.to_owned()),
            ("MUNJI_PUBLIC_URL".to_owned(), base_url.clone()),
            ("MUNJI_BIND".to_owned(), addr.to_string()),
            ("MUNJI_DATABASE_URL".to_owned(), database.url.clone()),
            ("MUNJI_ENCRYPTION_KEYS".to_owned(), format!("test1:{ENCRYPTION_KEY}")),
        ];
        // Tests sign in far more often than people do; the rate-limit tests set their own.
        for group in ["PAGES", "OAUTH", "VEND"] {
            env.push((format!("MUNJI_RATE_LIMITS__{group}"), "100000/min".to_owned()));
        }
        if let Some(redis) = &redis {
            env.push(("MUNJI_REDIS_URL".to_owned(), redis.url.clone()));
            env.push(("MUNJI_REDIS_PREFIX".to_owned(), redis.prefix.clone()));
        }
        env.extend(social::provider_env(&dev_provider_url));
        // `{dev}` in a value stands for the imitation's address (it is known only now).
        // `{dev-other-site}`: the same, under another host name, so that its pages are another site.
        let other_site = munji::dev_provider::other_site(&url::Url::parse(&dev_provider_url).expect("url"));
        let other_site = other_site.as_str().trim_end_matches('/').to_owned();
        env.extend(
            self.env
                .into_iter()
                .map(|(k, v)| (k, v.replace("{dev}", &dev_provider_url).replace("{dev-other-site}", &other_site))),
        );
        let (state, server) = serve(env.clone(), listener).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("client");
        let database_url = database.url.clone();
        let mut app = TestApp {
            base_url,
            dev_provider_url,
            database_url,
            state,
            client,
            env,
            clients: vec![],
            server,
            dev_server,
            _database: database,
            _redis: redis,
        };
        for new in self.clients {
            let registered = app.register(new).await;
            app.clients.push(registered);
        }
        app
    }
}

/// Run the provider imitation on a port of its own; returns its base URL.
fn spawn_dev_provider() -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    use poem::{EndpointExt as _, Route};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.set_nonblocking(true).expect("non-blocking");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let base = url::Url::parse(&format!("{url}/dev/")).expect("url");
    let dev = munji::dev_provider::DevProvider::new(&base, [7; 32]).expect("dev provider");
    let routes = Route::new().nest("/dev", munji::dev_provider::routes(dev)).boxed();
    let acceptor = poem::listener::TcpAcceptor::from_std(listener).expect("acceptor");
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(routes));
    (url, server)
}

/// `claims` with `overrides` over them, signed RS256 with the PEM key `pem` under `kid`: the
/// events the providers push, as the imitation (or a forger) signs them.
pub fn sign_rs256(kid: &str, pem: &[u8], mut claims: serde_json::Value, overrides: serde_json::Value) -> String {
    for (k, v) in overrides.as_object().expect("overrides are an object") {
        claims[k] = v.clone();
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem).expect("an RSA PEM");
    jsonwebtoken::encode(&header, &claims, &key).expect("signed")
}
