//! [`Application`]: connect the stores, apply pending migrations, bind the listener (port 0 is
//! fine: tests use it), then serve until a shutdown signal, finishing in-flight requests.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use poem::{
    Server,
    listener::{Acceptor as _, Listener as _, TcpAcceptor, TcpListener},
};
use secrecy::ExposeSecret as _;

use crate::{
    config::Config,
    ephemeral::Ephemeral,
    gmail::vault::Vault,
    http,
    metrics::Metrics,
    oidc::{
        clients::ClientCache,
        keys::{KeyAlg, Keys},
        tokens::Tokens,
    },
    state::{AppState, Inner, Secrets},
    store::Db,
    upstream::Upstreams,
};

/// How long in-flight requests may run after a shutdown signal.
const GRACE_PERIOD: Duration = Duration::from_secs(30);
/// How often expired rows leave the SQL ephemeral table.
const PURGE_EVERY: Duration = Duration::from_secs(60);

pub struct Application {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
    state: AppState,
}

impl Application {
    /// Bind `config.bind` and build everything behind it.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let acceptor = TcpListener::bind(config.bind)
            .into_acceptor()
            .await
            .with_context(|| format!("binding {} (config key `bind`)", config.bind))?;
        Self::build_with_acceptor(config, acceptor).await
    }

    /// Serve on a listener bound by the caller (tests bind port 0 first to learn the URL).
    pub async fn build_with_listener(config: Config, listener: std::net::TcpListener) -> anyhow::Result<Self> {
        listener.set_nonblocking(true)?;
        Self::build_with_acceptor(config, TcpAcceptor::from_std(listener)?).await
    }

    async fn build_with_acceptor(config: Config, acceptor: TcpAcceptor) -> anyhow::Result<Self> {
        let local_addr = acceptor
            .local_addr()
            .into_iter()
            .find_map(|addr| addr.as_socket_addr().copied())
            .context("the listener has no socket address")?;
        let state = connect(config).await?;
        Ok(Self { acceptor, local_addr, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` resolves, then let in-flight requests finish (up to 30 s).
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        // Background work lives exactly as long as this server: when it stops, or this future is
        // dropped (a test stopping an instance), the tasks stop too.
        let _purge = AbortOnDrop(tokio::spawn(purge_expired(self.state.clone())));
        let _reload = AbortOnDrop(tokio::spawn(reload_keys(self.state.clone())));
        let _backchannel = AbortOnDrop(tokio::spawn(crate::oidc::backchannel::run(self.state.clone())));
        tracing::info!(
            addr = %self.local_addr,
            database = self.state.db.backend_name(),
            ephemeral = self.state.ephemeral.kind(),
            "munji listening"
        );
        let routes = http::routes(self.state.clone());
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(routes, shutdown, Some(GRACE_PERIOD))
            .await;
        drop((_purge, _reload, _backchannel));
        self.state.db.close().await;
        tracing::info!("munji stopped");
        result
    }
}

/// A background task that is aborted when this handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The application's state without a server, for commands that act as munji does (`munji
/// users disable` ends sessions exactly as the admin API would).
pub async fn state(config: Config) -> anyhow::Result<AppState> {
    connect(config).await
}

/// Connect the durable store (migrating it) and the ephemeral store; set up the providers.
async fn connect(mut config: Config) -> anyhow::Result<AppState> {
    crate::oidc::clients::check_config(&config)?;
    let dev_provider = if config.dev { Some(crate::dev_provider::configure(&mut config)?) } else { None };
    let db = Db::connect(config.database_url.expose_secret())
        .await
        .context("connecting to the database (config key `database_url`)")?;
    db.migrate().await.context("applying database migrations")?;
    let ephemeral = if config.uses_redis() {
        Ephemeral::redis(config.redis_url.expose_secret(), &config.redis_prefix)
            .context("config key `redis_url` is not a valid Redis URL")?
    } else {
        Ephemeral::sql(db.clone())
    };
    let metrics = Metrics::new().context("creating metrics")?;
    let upstreams = Upstreams::new(&config).context("setting up the providers")?;
    let secret = config.secret_key.as_ref().context("config key `secret_key` is required")?;
    let secrets = Secrets::derive(secret.expose());
    let tokens = token_service(&config, &db).await?;
    let clients = ClientCache::default();
    let vault = Vault::from_config(&config);
    Ok(AppState::new(Inner {
        rate_limiter: crate::rate_limit::RateLimiter::from_config(&config),
        config,
        db,
        ephemeral,
        metrics,
        upstreams,
        secrets,
        dev_provider,
        tokens,
        clients,
        vault,
        readiness: Default::default(),
        clock: Default::default(),
        backchannel: Default::default(),
    }))
}

/// The signing key ring (made on first start) and the token service on top of it.
pub async fn token_service(config: &Config, db: &Db) -> anyhow::Result<Tokens> {
    let secret = config.secret_key.as_ref().context("config key `secret_key` is required")?;
    let overlap = crate::oidc::keys::publication_overlap(
        config.access_token_ttl.0,
        std::time::Duration::from_secs(crate::oidc::tokens::LEEWAY_SECS),
    );
    let alg = KeyAlg::for_config(config.signing_alg);
    let keys = Keys::load_or_create(db.clone(), secret.expose(), alg, overlap).await.context("loading signing keys")?;
    let hs256 = config.legacy_hs256_secret.expose_secret();
    let hs256 = (config.signing_alg == crate::config::SigningAlg::HS256).then_some(hs256.as_bytes());
    Ok(Tokens::new(
        Arc::new(keys),
        config.public_url.as_str().trim_end_matches('/').to_owned(),
        config.audience(),
        hs256,
    ))
}

/// Every minute: expired ephemeral rows (the SQL backend), refresh tokens whose family
/// expired more than an hour ago (so the table holds at most `refresh_token_ttl` of rotations),
/// expired sessions, and audit events older than `audit_retention`.
async fn purge_expired(state: AppState) {
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = state.ephemeral.purge_expired().await {
            tracing::warn!(error.message = %e, "purging expired ephemeral values failed");
        }
        let before = chrono::Utc::now() - chrono::Duration::hours(1);
        if let Err(e) = crate::store::refresh_tokens::purge_expired(&state.db, before).await {
            tracing::warn!(error.message = %e, "purging expired refresh tokens failed");
        }
        if let Err(e) = crate::store::sessions::purge_expired(&state.db, chrono::Utc::now()).await {
            tracing::warn!(error.message = %e, "purging expired sessions failed");
        }
        // A retention too long for a date keeps everything.
        let retention = chrono::Duration::from_std(state.config.audit_retention.0).ok();
        if let Some(before) = retention.and_then(|r| chrono::Utc::now().checked_sub_signed(r)) {
            match crate::store::audit::purge_older_than(&state.db, before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "purged audit events past their retention"),
                Err(e) => tracing::warn!(error.message = %e, "purging old audit events failed"),
            }
        }
    }
}

/// Pick up keys rotated by `munji keys rotate` (or another instance).
async fn reload_keys(state: AppState) {
    let mut tick = tokio::time::interval(crate::oidc::keys::RELOAD_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = state.tokens.keys().reload().await {
            tracing::warn!(error.message = %e, "reloading signing keys failed");
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error.message = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => drop(signal.recv().await),
            Err(e) => {
                tracing::error!(error.message = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, finishing in-flight requests"),
        () = terminate => tracing::info!("SIGTERM received, finishing in-flight requests"),
    }
}
