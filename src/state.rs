//! [`AppState`]: what every handler can reach. Cheap to clone (one `Arc`).

use std::sync::Arc;

use poem::web::cookie::CookieKey;

use crate::{
    clock::Clock,
    config::Config,
    crypto,
    dev_provider::DevProvider,
    ephemeral::Ephemeral,
    gmail::vault::Vault,
    metrics::Metrics,
    oidc::{clients::ClientCache, tokens::Tokens},
    rate_limit::RateLimiter,
    readiness::Readiness,
    store::Db,
    upstream::{Upstreams, state::StateSigner},
};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    /// Validated configuration; read-only after start-up.
    pub config: Config,
    /// The durable store.
    pub db: Db,
    /// Short-lived shared state (Redis or the `ephemeral` table).
    pub ephemeral: Ephemeral,
    pub metrics: Metrics,
    /// Clients of Google, Naver and Kakao.
    pub upstreams: Upstreams,
    /// Keys derived from `secret_key`.
    pub secrets: Secrets,
    /// The provider imitation, with `--dev` only.
    pub dev_provider: Option<Arc<DevProvider>>,
    /// Minting and verifying munji's own tokens (with the signing key ring).
    pub tokens: Tokens,
    /// OIDC clients, cached for 30 s.
    pub clients: ClientCache,
    /// Seals Gmail tokens at rest.
    pub vault: Vault,
    /// The configured rate limits (the counters live in the ephemeral store).
    pub rate_limiter: RateLimiter,
    /// The last readiness check (`/readyz`).
    pub readiness: Readiness,
    /// The time lifetimes are checked against (tests move it forward).
    pub clock: Clock,
    /// Wakes this instance's back-channel logout deliverer (`oidc::backchannel`) when a session
    /// end queued a logout token, so the first attempt does not wait for the next poll.
    pub backchannel: tokio::sync::Notify,
}

/// One key per purpose, each derived from `secret_key`, so no two purposes share a key.
pub struct Secrets {
    /// Signs the OAuth `state`.
    pub state: StateSigner,
    /// Signs CSRF fields.
    pub csrf_key: [u8; 32],
    /// Encrypts and authenticates cookies.
    pub cookie_key: CookieKey,
    /// Seals a rotated refresh token's successor (returned again within the grace window).
    pub refresh_key: [u8; 32],
    /// Signs link tickets.
    pub link_key: [u8; 32],
}

impl Secrets {
    pub fn derive(secret: &[u8]) -> Self {
        Self {
            state: StateSigner::new(secret),
            csrf_key: crypto::derive_key(secret, "csrf"),
            cookie_key: CookieKey::derive_from(&crypto::derive_key(secret, "cookies")),
            refresh_key: crypto::derive_key(secret, "refresh token successors"),
            link_key: crypto::derive_key(secret, "link tickets"),
        }
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl AppState {
    /// Count a request of `subject` in `group` against its rate limit.
    pub async fn rate_limit(
        &self,
        group: crate::rate_limit::Group,
        subject: crate::rate_limit::Subject<'_>,
    ) -> crate::rate_limit::Verdict {
        self.rate_limiter.check(&self.ephemeral, &self.metrics, group, subject).await
    }

    /// How sign-ins with `provider` are resolved (docs/identity.md).
    pub fn identity_policy(&self, provider: crate::upstream::Provider) -> crate::identity::Policy {
        crate::identity::Policy {
            registration: self.config.registration,
            legacy_fallback: self.config.legacy_fallback,
            email_trust: provider.legacy_email_trust(&self.config),
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
