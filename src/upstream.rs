//! Clients of the upstream providers: Google (OpenID Connect, through `openidconnect`), Naver
//! and Kakao (OAuth 2.0 through `oauth2`, plus their profile APIs), and any OpenID Connect
//! provider configured under `[providers.oidc.NAME]` (`generic.rs`). Each turns an authorization
//! code into an [`UpstreamProfile`]; wire-format facts are in docs/providers.md.
//!
//! One `reqwest` client with the configured timeout (`upstream_timeout`) serves them all and
//! never follows redirects. Depends on [`crate::config`].

pub mod apple;
mod generic;
mod google;
mod jwks;
pub mod kakao;
pub mod naver;
mod oauth;
mod provider;
pub mod risc;
pub mod state;

use oauth::OAuthProvider;
pub use provider::Provider;

use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::{
    config::{Config, EmailTrust, ProviderConfig, RequiredField},
    gmail::vault::{Vault, VaultError},
};

impl Provider {
    /// The settings of a built-in OAuth provider (Google, Naver, Kakao); `None` for the others.
    pub fn config(self, config: &Config) -> Option<&ProviderConfig> {
        match self {
            Self::Google => Some(&config.providers.google),
            Self::Naver => Some(&config.providers.naver),
            Self::Kakao => Some(&config.providers.kakao),
            _ => None,
        }
    }

    /// When this provider's e-mail may claim a legacy mapping (docs/identity.md).
    pub fn legacy_email_trust(self, config: &Config) -> EmailTrust {
        match (self.config(config), config.providers.oidc.get(self.as_str())) {
            (Some(settings), _) => settings.legacy_email_trust,
            (None, Some(settings)) => settings.legacy_email_trust,
            (None, None) if self == Self::Apple => config.providers.apple.legacy_email_trust,
            (None, None) => EmailTrust::Never,
        }
    }

    /// The profile fields a sign-in with this provider cannot do without.
    pub fn required_fields(self, config: &Config) -> &[RequiredField] {
        self.config(config).map_or(&[], |c| c.required_fields.as_slice())
    }
}

/// The providers an operator can name (legacy CSV, `legacy status`): Google, Naver and Kakao
/// always, then Apple and the OpenID Connect providers when they are configured.
pub fn listed_providers(config: &Config) -> Vec<Provider> {
    let mut providers = Provider::ALL.to_vec();
    if config.providers.apple.enabled() {
        providers.push(Provider::Apple);
    }
    providers.extend(config.providers.oidc.keys().filter_map(|name| Provider::intern(name).ok()));
    providers
}

/// What munji learns from a provider about the person signing in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamProfile {
    pub provider: Provider,
    /// The identity key (Google `sub`, Naver `response.id`, Kakao `id` as a decimal string).
    pub uid: String,
    /// Absent when the user declined to share it (or has none).
    pub email: Option<String>,
    /// Google `email_verified`; Kakao `is_email_verified && is_email_valid`; Naver: always
    /// false (Naver makes no claim).
    pub email_verified: bool,
    /// A display name, if the provider gave one (name, else nickname).
    pub name: Option<String>,
    /// The e-mail is a relay address that hides the person's own (Apple's `is_private_email`):
    /// shown like any other, never matched against a legacy mapping (docs/identity.md).
    #[serde(default)]
    pub email_private: bool,
    /// The provider's token that munji keeps to revoke the grant later (Apple), sealed.
    #[serde(default)]
    pub upstream_token: Option<SealedToken>,
}

/// A provider token sealed with the encryption keys (docs/leaving.md). Its text never reaches a
/// log, sealed or not.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedToken(pub String);

impl std::fmt::Debug for SealedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedToken(…)")
    }
}

/// Everything that can go wrong talking to a provider. None of these create anything.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("unknown provider")]
    UnknownProvider,
    #[error("the provider is not configured")]
    NotConfigured,
    #[error("the provider did not answer within the timeout")]
    Timeout,
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the provider answered HTTP {0}")]
    Status(u16),
    #[error("the provider refused the grant ({0})")]
    InvalidGrant(String),
    #[error("the provider's answer could not be read: {0}")]
    BadResponse(String),
    #[error("the provider's ID token was refused: {0}")]
    BadIdToken(String),
}

impl UpstreamError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownProvider | Self::NotConfigured => "not_configured",
            Self::Timeout => "timeout",
            Self::Unreachable(_) => "unreachable",
            Self::Status(_) => "status",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::BadResponse(_) => "bad_response",
            Self::BadIdToken(_) => "bad_id_token",
        }
    }

    fn from_reqwest(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else if let Some(status) = e.status() {
            Self::Status(status.as_u16())
        } else if e.is_decode() {
            Self::BadResponse(e.to_string())
        } else {
            Self::Unreachable(e.to_string())
        }
    }
}

/// What goes into an authorization request, besides the provider's own settings.
pub struct AuthRequest<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    /// The PKCE verifier; its S256 challenge is sent to providers that support PKCE.
    pub pkce_verifier: &'a str,
    /// Ask again for what the user declined (Google `prompt=consent`, Naver
    /// `auth_type=reprompt`, Kakao `scope=account_email`).
    pub reconsent: bool,
    /// Google only: ask for `gmail.send` with offline access (a Gmail connection).
    pub gmail: bool,
}

/// The scope that lets a token send mail and nothing else.
pub const GMAIL_SEND: &str = "https://www.googleapis.com/auth/gmail.send";

/// What a Gmail connection's authorization yields.
#[derive(Debug)]
pub struct GmailGrant {
    pub gmail_address: String,
    pub tokens: GmailTokens,
}

/// The tokens of a Google token response (a code exchange or a refresh).
pub struct GmailTokens {
    pub access_token: String,
    /// Sent on a consenting exchange with offline access; a refresh normally sends none.
    pub refresh_token: Option<String>,
    pub expires_in: Duration,
    /// What Google actually granted (the user may grant less than was asked), if it said.
    pub scopes: Option<Vec<String>>,
}

impl std::fmt::Debug for GmailTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens never reach logs.
        f.debug_struct("GmailTokens").field("expires_in", &self.expires_in).field("scopes", &self.scopes).finish()
    }
}

/// What the callback brings back and the flow kept: enough to redeem the code.
#[derive(Clone, Copy)]
pub struct Grant<'a> {
    pub code: &'a str,
    pub state: &'a str,
    pub pkce_verifier: &'a str,
    pub nonce: &'a str,
    /// Apple's `user` form field (a JSON string), sent with the first authorization only.
    pub user: Option<&'a str>,
}

/// The three provider clients and the HTTP client they share.
pub struct Upstreams {
    http: reqwest::Client,
    google: Option<google::Google>,
    naver: Option<OAuthProvider>,
    kakao: Option<OAuthProvider>,
    /// Google's account events, when `providers.google.risc` is on.
    risc: Option<risc::Risc>,
    /// The `display_name` of each configured OpenID Connect provider.
    display_names: std::collections::BTreeMap<Provider, String>,
    /// The configured OpenID Connect providers, by name.
    generic: std::collections::BTreeMap<Provider, generic::Generic>,
    apple: Option<apple::Apple>,
    /// Seals the provider tokens munji keeps for revocation (Apple's refresh tokens).
    vault: Vault,
}

/// A provider's client id and secret, and where munji's callback for it is.
#[derive(Clone)]
struct Credentials {
    client_id: String,
    client_secret: SecretString,
    redirect_uri: Url,
}

impl Upstreams {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let timeout = config.upstream_timeout();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("munji/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let credentials = |provider: Provider| -> anyhow::Result<Option<(Credentials, &ProviderConfig)>> {
            let Some(settings) = provider.config(config).filter(|s| s.enabled()) else {
                return Ok(None);
            };
            let redirect_uri = config.public_url.join(&format!("callback/{provider}"))?;
            let credentials = Credentials {
                client_id: settings.client_id.clone(),
                client_secret: settings.client_secret.clone(),
                redirect_uri,
            };
            Ok(Some((credentials, settings)))
        };
        let google = credentials(Provider::Google)?.map(|(c, s)| google::Google::new(c, s)).transpose()?;
        let naver = credentials(Provider::Naver)?.map(|(c, s)| OAuthProvider::new(&naver::WIRE, c, s)).transpose()?;
        let kakao = credentials(Provider::Kakao)?.map(|(c, s)| OAuthProvider::new(&kakao::WIRE, c, s)).transpose()?;
        let google_settings = &config.providers.google;
        let risc = match (&google_settings.issuer_url, google_settings.enabled() && google_settings.risc) {
            (Some(issuer), true) => Some(risc::Risc::new(issuer, &google_settings.client_id)?),
            _ => None,
        };
        let display_names = config
            .providers
            .oidc
            .iter()
            .map(|(name, settings)| Ok((Provider::intern(name)?, settings.display_name.clone())))
            .collect::<Result<_, UpstreamError>>()?;
        let mut generic = std::collections::BTreeMap::new();
        for (name, settings) in &config.providers.oidc {
            let provider = Provider::intern(name)?;
            let credentials = Credentials {
                client_id: settings.client_id.clone(),
                client_secret: settings.client_secret.clone(),
                redirect_uri: config.public_url.join(&format!("callback/{provider}"))?,
            };
            generic.insert(provider, generic::Generic::new(provider, credentials, settings));
        }
        let apple = match config.providers.apple.enabled() {
            true => Some(apple::Apple::new(&config.providers.apple, config.public_url.join("callback/apple")?)?),
            false => None,
        };
        Ok(Self { http, google, naver, kakao, risc, display_names, generic, apple, vault: Vault::from_config(config) })
    }

    /// The providers that are configured, in display order.
    pub fn enabled(&self) -> Vec<Provider> {
        let built_in = Provider::BUILT_IN.into_iter().filter(|p| self.is_enabled(*p));
        built_in.chain(self.generic.keys().copied()).collect()
    }

    /// The name a provider's buttons show: the brand of a built-in one, the `display_name` of a
    /// configured OpenID Connect provider, else the provider's own name.
    pub fn display_name(&self, provider: Provider) -> String {
        self.display_names.get(&provider).cloned().unwrap_or_else(|| provider.display_name().to_owned())
    }

    pub fn is_enabled(&self, provider: Provider) -> bool {
        match provider {
            Provider::Google => self.google.is_some(),
            Provider::Naver => self.naver.is_some(),
            Provider::Kakao => self.kakao.is_some(),
            Provider::Apple => self.apple.is_some(),
            other => self.generic.contains_key(&other),
        }
    }

    /// Where to send the browser to sign in with `provider`.
    pub async fn authorize_url(&self, provider: Provider, request: &AuthRequest<'_>) -> Result<Url, UpstreamError> {
        match provider {
            Provider::Google => {
                self.google.as_ref().ok_or(UpstreamError::NotConfigured)?.authorize_url(&self.http, request).await
            }
            Provider::Apple => Ok(self.apple()?.authorize_url(request)),
            _ if let Some(generic) = self.generic.get(&provider) => generic.authorize_url(&self.http, request).await,
            _ => Ok(self.oauth(provider)?.authorize_url(request)),
        }
    }

    /// The authorization endpoints of the enabled providers, for the pages whose forms lead
    /// there (link a provider, connect Gmail). A provider whose endpoint cannot be learnt now
    /// (Google's discovery document did not come) is left out: its button then fails anyway.
    pub async fn authorization_endpoints(&self) -> Vec<Url> {
        let mut endpoints = Vec::new();
        if let Some(google) = &self.google
            && let Ok(endpoint) = google.authorization_endpoint(&self.http).await
        {
            endpoints.push(endpoint);
        }
        endpoints.extend([&self.naver, &self.kakao].into_iter().flatten().map(|p| p.authorization_endpoint().clone()));
        endpoints.extend(self.apple.iter().map(apple::Apple::authorization_endpoint));
        for generic in self.generic.values() {
            if let Ok(endpoint) = generic.authorization_endpoint(&self.http).await {
                endpoints.push(endpoint);
            }
        }
        endpoints
    }

    /// Redeem the authorization code and read the profile of the person who signed in.
    #[tracing::instrument(skip_all, fields(provider = %provider))]
    pub async fn sign_in(&self, provider: Provider, grant: &Grant<'_>) -> Result<UpstreamProfile, UpstreamError> {
        match provider {
            Provider::Google => {
                let google = self.google.as_ref().ok_or(UpstreamError::NotConfigured)?;
                google.sign_in(&self.http, grant.code, grant.pkce_verifier, grant.nonce).await
            }
            Provider::Apple => {
                let (mut profile, refresh_token) = self.apple()?.sign_in(&self.http, grant).await?;
                profile.upstream_token = refresh_token.and_then(|token| self.seal(&profile, &token));
                Ok(profile)
            }
            _ if let Some(generic) = self.generic.get(&provider) => generic.sign_in(&self.http, grant).await,
            _ => self.oauth(provider)?.sign_in(&self.http, grant).await,
        }
    }

    /// Seal a provider token for the identity of `profile`; `None` (and a warning) when no
    /// encryption key is configured: the grant then cannot be revoked by munji later.
    fn seal(&self, profile: &UpstreamProfile, token: &str) -> Option<SealedToken> {
        match self.vault.seal(&upstream_token_context(profile.provider, &profile.uid), token) {
            Ok(sealed) => Some(SealedToken(sealed)),
            Err(e) => {
                tracing::warn!(provider = %profile.provider, error.message = %e, "provider token not kept");
                None
            }
        }
    }

    /// Revoke, at `provider`, the grant whose token munji kept sealed for the identity
    /// `(provider, uid)`. Only Apple's tokens are kept; any other provider is `NotConfigured`.
    pub async fn revoke_kept(&self, provider: Provider, uid: &str, sealed: &str) -> Result<(), RevokeError> {
        let apple = self.apple.as_ref().filter(|_| provider == Provider::Apple).ok_or(UpstreamError::NotConfigured)?;
        let token = self.vault.open(&upstream_token_context(provider, uid), sealed)?;
        Ok(apple.revoke(&self.http, &token).await?)
    }

    /// Whether Apple's notifications are received (Apple is configured).
    pub fn receives_apple(&self) -> bool {
        self.apple.is_some()
    }

    /// Check a notification Apple pushed and read its event.
    pub async fn verify_apple_notification(&self, payload: &str) -> Result<apple::Notification, risc::RiscError> {
        self.apple()?.verify_notification(&self.http, payload).await
    }

    fn apple(&self) -> Result<&apple::Apple, UpstreamError> {
        self.apple.as_ref().ok_or(UpstreamError::NotConfigured)
    }

    /// Redeem the code of a Gmail connection (Google).
    pub async fn connect_gmail(&self, grant: &Grant<'_>) -> Result<GmailGrant, UpstreamError> {
        let google = self.google.as_ref().ok_or(UpstreamError::NotConfigured)?;
        google.connect_gmail(&self.http, grant.code, grant.pkce_verifier, grant.nonce).await
    }

    /// A fresh access token for a Gmail connection's refresh token.
    pub async fn refresh_gmail(&self, refresh_token: &str) -> Result<GmailTokens, UpstreamError> {
        let google = self.google.as_ref().ok_or(UpstreamError::NotConfigured)?;
        google.refresh(&self.http, refresh_token).await
    }

    /// Revoke a Gmail connection's token at Google.
    pub async fn revoke_google(&self, token: &str) -> Result<(), UpstreamError> {
        let google = self.google.as_ref().ok_or(UpstreamError::NotConfigured)?;
        google.revoke(&self.http, token).await
    }

    /// Whether Google's account events are received (`providers.google.risc`).
    pub fn receives_risc(&self) -> bool {
        self.risc.is_some()
    }

    /// Check a Security Event Token Google pushed and read its events.
    pub async fn verify_risc(&self, token: &str) -> Result<risc::SecurityEvent, risc::RiscError> {
        let risc = self.risc.as_ref().ok_or(UpstreamError::NotConfigured)?;
        risc.verify(&self.http, token).await
    }

    /// Unlink a Kakao user from the app with its admin key, at `url` (an account deletion).
    pub async fn unlink_kakao(&self, url: &Url, admin_key: &SecretString, uid: &str) -> Result<(), UpstreamError> {
        kakao::unlink(&self.http, url, admin_key.expose_secret(), uid).await
    }

    fn oauth(&self, provider: Provider) -> Result<&OAuthProvider, UpstreamError> {
        match provider {
            Provider::Naver => self.naver.as_ref(),
            Provider::Kakao => self.kakao.as_ref(),
            _ => None,
        }
        .ok_or(UpstreamError::NotConfigured)
    }
}

/// The oldest a pushed event (Google's or Apple's) may be when it arrives. Its `jti` is
/// remembered longer than this (`provider_events::JTI_TTL`, a month), so a captured event can
/// neither act twice nor be replayed once its `jti` is forgotten.
pub const MAX_EVENT_AGE: i64 = 7 * 24 * 3600;

/// Whether an event issued at `iat` may still be acted on at `now` (Unix seconds): not older
/// than [`MAX_EVENT_AGE`], not more than five minutes ahead of munji's clock.
fn recent_enough(iat: i64, now: i64) -> Result<(), &'static str> {
    if iat < now - MAX_EVENT_AGE {
        Err("issued too long ago")
    } else if iat > now + 300 {
        Err("issued in the future")
    } else {
        Ok(())
    }
}

/// What sealed a provider token is bound to: its provider and uid, so it opens for no other.
fn upstream_token_context(provider: Provider, uid: &str) -> String {
    format!("upstream/{provider}/{uid}")
}

/// Why a kept provider token could not be revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("the kept token does not open: {0}")]
    Sealed(#[from] VaultError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

impl RevokeError {
    /// A short label for receipts and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sealed(_) => "sealed",
            Self::Upstream(e) => e.kind(),
        }
    }
}

/// GET a JSON profile with a bearer token; the body is returned for the provider's parser.
async fn fetch_profile(http: &reqwest::Client, url: &Url, access_token: &str) -> Result<Vec<u8>, UpstreamError> {
    let resp =
        http.get(url.clone()).bearer_auth(access_token).send().await.map_err(|e| UpstreamError::from_reqwest(&e))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| UpstreamError::from_reqwest(&e))?;
    if !status.is_success() {
        return Err(UpstreamError::Status(status.as_u16()));
    }
    Ok(body.to_vec())
}

/// `""` counts as absent (Naver may send declined fields that way).
fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn expose(secret: &SecretString) -> String {
    secret.expose_secret().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pushed_event_must_be_recent_and_not_from_the_future() {
        let now = 1_800_000_000;
        assert!(recent_enough(now, now).is_ok());
        assert!(recent_enough(now - MAX_EVENT_AGE, now).is_ok());
        assert!(recent_enough(now - MAX_EVENT_AGE - 1, now).is_err());
        assert!(recent_enough(now + 300, now).is_ok());
        assert!(recent_enough(now + 301, now).is_err());
    }
}
