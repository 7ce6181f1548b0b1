//! Configuration (docs/configuration.md): built-in defaults, then a TOML file (`--config`), then
//! `MUNJI_*` environment variables (`__` joins nested keys), parsed once into typed values.
//!
//! Every bad value fails start-up with a message that names its key. Secrets are
//! [`secrecy`] types, so `Debug` output and logs show `[REDACTED]` instead of them.
//! Depends on nothing else in the crate.

mod problems;
mod values;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use problems::{Layers, Problem};
pub use values::{Base64Secret, EncryptionKey, HumanDuration, Rate, comma_list};

/// Bytes the server secret must have at least (after base64 decoding).
pub const MIN_SECRET_BYTES: usize = 32;

/// The whole configuration. Field names are the keys operators write (docs/configuration.md):
/// renaming one breaks their files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The issuer; callback URLs are `{public_url}/callback/{provider}`.
    pub public_url: Url,
    /// Address the HTTP server listens on: an IP address and a port, never a host name.
    #[serde(deserialize_with = "values::socket_addr")]
    pub bind: SocketAddr,
    /// `sqlite://FILE` or `postgres://…`.
    pub database_url: SecretString,
    /// `redis://…`; empty keeps ephemeral state in the database.
    pub redis_url: SecretString,
    /// Prefix of every Redis key munji writes, so instances of several deployments can share one
    /// Redis.
    pub redis_prefix: String,
    /// ≥ 32 bytes, base64: cookies and state signatures. Optional only with `--dev`.
    pub secret_key: Option<Base64Secret>,
    /// `kid:base64key` entries; the first one encrypts Gmail tokens, all of them decrypt.
    #[serde(deserialize_with = "comma_list")]
    pub encryption_keys: Vec<EncryptionKey>,
    pub registration: Registration,
    /// Whether a first login may claim an imported legacy mapping by e-mail (docs/legacy.md).
    /// Turn it off once `munji legacy status` shows nothing left.
    #[serde(deserialize_with = "figment::util::bool_from_str_or_int")]
    pub legacy_fallback: bool,
    pub access_token_ttl: HumanDuration,
    pub refresh_token_ttl: HumanDuration,
    /// How long after a rotation a concurrent duplicate of the old refresh token still gets the
    /// same successor instead of revoking the family (docs/tokens.md).
    pub refresh_token_grace: HumanDuration,
    pub signing_alg: SigningAlg,
    /// Raw string of ≥ 32 bytes; only for `signing_alg = "HS256"` (docs/tokens.md).
    pub legacy_hs256_secret: SecretString,
    /// Empty: `public_url`.
    pub access_token_audience: String,
    /// Limit of every call to Google, Naver and Kakao.
    pub upstream_timeout: HumanDuration,
    /// How long audit events are kept; older ones are purged in the background.
    pub audit_retention: HumanDuration,
    /// How long the username of a deleted account cannot be taken again (docs/leaving.md).
    pub username_quarantine: HumanDuration,
    /// The IANA time zone pages show times in (`Asia/Seoul`); an unknown name stops start-up.
    pub display_timezone: chrono_tz::Tz,
    #[serde(deserialize_with = "comma_list")]
    pub cors_origins: Vec<String>,
    pub rate_limits: RateLimits,
    pub providers: Providers,
    pub clients: Vec<ClientConfig>,
    /// Set by `--dev` (`munji serve --dev`, `munji keys … --dev`), never read from a file.
    #[serde(skip)]
    pub dev: bool,
}

/// What happens when a social identity matches no account (docs/identity.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    Form,
    Auto,
    Closed,
}

/// Access-token signature algorithm (docs/tokens.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum SigningAlg {
    ES256,
    RS256,
    EdDSA,
    HS256,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Per client IP: `/login/*`, `/callback/*`, `/signup`, `/authorize`.
    pub pages: Rate,
    /// Per client IP and per client: `/token`, `/introspect`, `/revoke`.
    pub oauth: Rate,
    /// Per service client: `POST /api/v1/gmail/access-token`.
    pub vend: Rate,
    /// CIDRs whose `X-Forwarded-For` names the client IP.
    #[serde(deserialize_with = "comma_list")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Providers {
    pub google: ProviderConfig,
    pub naver: ProviderConfig,
    pub kakao: ProviderConfig,
    /// Sign in with Apple; off while `client_id` is empty.
    pub apple: AppleConfig,
    /// `[providers.oidc.NAME]`: any OpenID Connect provider, by the name munji stores it under.
    #[serde(default)]
    pub oidc: std::collections::BTreeMap<String, OidcProviderConfig>,
}

/// `[providers.apple]` (docs/providers.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppleConfig {
    /// The Services ID.
    pub client_id: String,
    /// The 10-character Team ID: the client secret's `iss`.
    pub team_id: String,
    /// The 10-character id of the Sign in with Apple key: the client secret's `kid`.
    pub key_id: String,
    /// The key's `.p8` file (a PKCS#8 P-256 PEM) that signs the client secret.
    pub private_key: SecretString,
    pub issuer_url: Url,
    pub legacy_email_trust: EmailTrust,
}

impl AppleConfig {
    pub fn enabled(&self) -> bool {
        !self.client_id.is_empty()
    }
}

/// The names a configured OpenID Connect provider may not take.
pub const BUILT_IN_PROVIDERS: [&str; 4] = ["google", "naver", "kakao", "apple"];

/// Whether `name` has the shape of a provider name: `[a-z0-9-]{1,32}`.
pub fn is_provider_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `[providers.oidc.NAME]`: a generic OpenID Connect provider (docs/providers.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// Endpoints and keys come from `{issuer_url}/.well-known/openid-configuration`.
    pub issuer_url: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The name its button shows.
    pub display_name: String,
    #[serde(default = "default_oidc_scopes", deserialize_with = "comma_list")]
    pub scopes: Vec<String>,
    /// The ID token claim that is the identity key.
    #[serde(default = "default_uid_claim")]
    pub uid_claim: String,
    #[serde(default = "default_oidc_trust")]
    pub legacy_email_trust: EmailTrust,
    /// The provider signs ID tokens with HS256 keyed with the client secret (LINE's web login);
    /// accepted only for tokens from munji's own code exchange.
    #[serde(default, deserialize_with = "figment::util::bool_from_str_or_int")]
    pub id_token_hs256: bool,
}

fn default_oidc_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(str::to_owned).to_vec()
}

fn default_uid_claim() -> String {
    "sub".to_owned()
}

fn default_oidc_trust() -> EmailTrust {
    EmailTrust::Verified
}

/// One upstream provider. A provider without `client_id` is off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Google only: endpoints come from `{issuer_url}/.well-known/openid-configuration`.
    pub issuer_url: Option<Url>,
    pub authorize_url: Option<Url>,
    pub token_url: Option<Url>,
    pub userinfo_url: Option<Url>,
    pub legacy_email_trust: EmailTrust,
    /// Profile fields a sign-in cannot do without (docs/identity.md); declining one shows the
    /// consent-required page.
    #[serde(deserialize_with = "comma_list")]
    pub required_fields: Vec<RequiredField>,
    /// Kakao only: the app's admin key. Set, it turns on the unlink callback
    /// `/hooks/kakao/unlink` and the unlink of Kakao identities when an account is deleted
    /// (docs/leaving.md).
    #[serde(default)]
    pub admin_key: Option<SecretString>,
    /// Kakao only: where an account deletion unlinks a Kakao identity with the admin key.
    #[serde(default)]
    pub unlink_url: Option<Url>,
    /// Google only: receive Cross-Account Protection events at `/hooks/google/risc`.
    #[serde(default, deserialize_with = "figment::util::bool_from_str_or_int")]
    pub risc: bool,
}

/// A profile field that can be required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RequiredField {
    Email,
    Name,
}

impl ProviderConfig {
    pub fn enabled(&self) -> bool {
        !self.client_id.is_empty()
    }

    /// The admin key, when one is set (empty counts as unset).
    pub fn admin_key(&self) -> Option<&SecretString> {
        self.admin_key.as_ref().filter(|key| !key.expose_secret().is_empty())
    }
}

/// When a provider's e-mail may claim a legacy mapping (docs/identity.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTrust {
    /// The provider says the address is verified (Google, Kakao).
    Verified,
    /// The provider asserts the address without a flag (Naver).
    Asserted,
    Never,
}

/// An OIDC client from `[[clients]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub id: String,
    /// No secret: a public client, which must use PKCE.
    #[serde(default)]
    pub secret: Option<SecretString>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub gmail_targets: Vec<String>,
    /// Shown to users (consent page, connected apps); default: the id.
    #[serde(default)]
    pub name: Option<String>,
    /// `false`: users are asked for consent before this client gets their tokens.
    #[serde(default = "yes")]
    pub first_party: bool,
    /// Where `/end-session` may send the user afterwards (exact match).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where logout tokens are posted when a session this client holds tokens of ends.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    #[serde(default = "yes")]
    pub backchannel_logout_session_required: bool,
}

fn yes() -> bool {
    true
}

/// The built-in defaults, as the TOML a user would write.
const DEFAULTS: &str = r#"
public_url = "http://127.0.0.1:8080"
bind = "127.0.0.1:8080"
database_url = "sqlite://munji.db"
redis_url = ""
redis_prefix = "munji:"
encryption_keys = []
registration = "form"
legacy_fallback = true
access_token_ttl = "1h"
refresh_token_ttl = "24h"
refresh_token_grace = "10s"
signing_alg = "ES256"
legacy_hs256_secret = ""
access_token_audience = ""
upstream_timeout = "10s"
audit_retention = "400d"
username_quarantine = "30d"
display_timezone = "Asia/Seoul"
cors_origins = []
clients = []

[rate_limits]
pages = "60/min"
oauth = "600/min"
vend = "600/min"
trusted_proxies = []

[providers.google]
client_id = ""
client_secret = ""
required_fields = ["email"]
issuer_url = "https://accounts.google.com"
legacy_email_trust = "verified"

[providers.apple]
client_id = ""
team_id = ""
key_id = ""
private_key = ""
issuer_url = "https://appleid.apple.com"
legacy_email_trust = "verified"

[providers.naver]
client_id = ""
client_secret = ""
required_fields = ["email"]
authorize_url = "https://nid.naver.com/oauth2.0/authorize"
token_url = "https://nid.naver.com/oauth2.0/token"
userinfo_url = "https://openapi.naver.com/v1/nid/me"
legacy_email_trust = "asserted"

[providers.kakao]
client_id = ""
client_secret = ""
required_fields = ["email"]
authorize_url = "https://kauth.kakao.com/oauth/authorize"
token_url = "https://kauth.kakao.com/oauth/token"
userinfo_url = "https://kapi.kakao.com/v2/user/me"
legacy_email_trust = "verified"
unlink_url = "https://kapi.kakao.com/v1/user/unlink"
"#;

/// What the configuration is loaded for: serving needs every secret; the administrative
/// commands (`migrate`, …) need only what they touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `munji serve`. With `dev`, a missing `secret_key` is the one `serve --dev` keeps: read
    /// here when it exists, made by [`Config::keep_dev_secret`] once everything is checked.
    Serve { dev: bool },
    /// The administrative commands that need no secret (`migrate`, `clients`, `legacy`).
    Admin,
    /// The administrative commands that need `secret_key` (`keys`). With `dev`, a missing one is
    /// the secret `serve --dev` keeps, which is read but never made.
    AdminWithSecret { dev: bool },
}

impl Purpose {
    fn dev(self) -> bool {
        matches!(self, Purpose::Serve { dev: true } | Purpose::AdminWithSecret { dev: true })
    }
}

/// Where configuration comes from: an optional TOML file and the environment.
pub struct Sources<'a> {
    pub file: Option<&'a Path>,
    /// `(name, value)` pairs; only names starting with `MUNJI_` are read.
    pub env: Vec<(String, String)>,
    pub purpose: Purpose,
}

impl<'a> Sources<'a> {
    /// The process environment plus an optional file.
    pub fn from_process(file: Option<&'a Path>, purpose: Purpose) -> Self {
        Self { file, env: std::env::vars().collect(), purpose }
    }
}

impl Config {
    /// Layer defaults < file < environment, deserialize and validate. Every mistake is
    /// reported at once, each with the file and line or the variable that set it.
    ///
    /// With `--dev`, a missing `secret_key` is the one kept beside the database, if it exists.
    pub fn load(sources: Sources<'_>) -> anyhow::Result<Self> {
        let layers = Layers::read(DEFAULTS, sources.file, &sources.env)?;
        let (config, mut problems) = layers.extract::<Config>();
        let Some(mut config) = config else { bail!(layers.report(&problems)) };
        config.dev = sources.purpose.dev();
        if config.dev && config.secret_key.is_none() {
            let path = config.dev_secret_path();
            config.secret_key = read_dev_secret(&path)?;
            if config.secret_key.is_none() && matches!(sources.purpose, Purpose::AdminWithSecret { .. }) {
                problems.push(Problem::new(
                    "secret_key",
                    format!(
                        "is not set, and there is no dev secret at {} (`munji serve --dev` makes it on its first run with this database_url); set MUNJI_SECRET_KEY to the secret the server uses",
                        path.display()
                    ),
                ));
            }
        }
        problems.extend(config.validate(sources.purpose));
        if !problems.is_empty() {
            bail!(layers.report(&problems));
        }
        Ok(config)
    }

    /// With `--dev` and no `secret_key`: make the secret (mode 0600) kept beside the database.
    /// Called once the whole configuration is known to be good, so that a refused start leaves
    /// nothing behind (docs/configuration.md#--dev).
    pub fn keep_dev_secret(&mut self) -> anyhow::Result<()> {
        if self.dev && self.secret_key.is_none() {
            let path = self.dev_secret_path();
            let encoded = crate::crypto::random_base64(MIN_SECRET_BYTES);
            write_private(&path, &encoded).with_context(|| format!("writing the dev secret to {}", path.display()))?;
            self.secret_key = Some(Base64Secret::parse(&encoded)?);
        }
        Ok(())
    }

    /// Cross-field rules that serde cannot express; every broken one.
    fn validate(&self, purpose: Purpose) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| problems.push(Problem::new(key, message));
        match (&self.secret_key, purpose) {
            (None, Purpose::Admin | Purpose::Serve { dev: true } | Purpose::AdminWithSecret { dev: true }) => {}
            (None, Purpose::Serve { dev: false }) => problem(
                "secret_key",
                format!(
                    "is required (≥ {MIN_SECRET_BYTES} bytes, base64): set MUNJI_SECRET_KEY, or run `munji serve --dev` to try munji with a generated one"
                ),
            ),
            (None, Purpose::AdminWithSecret { dev: false }) => problem(
                "secret_key",
                format!(
                    "is required by this command (the secret the server uses): set MUNJI_SECRET_KEY or `secret_key` in the --config file; for a database made by `munji serve --dev`, add --dev to use the secret it keeps in {}",
                    self.dev_secret_path().display()
                ),
            ),
            (Some(key), _) if key.len() < MIN_SECRET_BYTES => problem(
                "secret_key",
                format!("is too short: {} bytes after base64 decoding, at least {MIN_SECRET_BYTES} needed", key.len()),
            ),
            (Some(_), _) => {}
        }
        if matches!(purpose, Purpose::Serve { dev: true }) && !self.bind.ip().is_loopback() {
            problem("bind", format!("{} is not a loopback address: --dev only listens on 127.0.0.1 or ::1", self.bind));
        }
        let hs256_len = self.legacy_hs256_secret.expose_secret().len();
        if self.signing_alg == SigningAlg::HS256 && hs256_len < MIN_SECRET_BYTES {
            problem(
                "legacy_hs256_secret",
                format!("must be set (≥ {MIN_SECRET_BYTES} bytes) when `signing_alg` is HS256"),
            );
        } else if hs256_len > 0 && hs256_len < MIN_SECRET_BYTES {
            problem("legacy_hs256_secret", format!("is too short: at least {MIN_SECRET_BYTES} bytes"));
        }
        let trust_rules = [
            ("google", &self.providers.google, EmailTrust::Verified),
            ("naver", &self.providers.naver, EmailTrust::Asserted),
            ("kakao", &self.providers.kakao, EmailTrust::Verified),
        ];
        for (name, provider, allowed) in trust_rules {
            let trust = provider.legacy_email_trust;
            if trust != allowed && trust != EmailTrust::Never {
                problem(
                    &format!("providers.{name}.legacy_email_trust"),
                    format!("must be {:?} or \"never\"", format!("{allowed:?}").to_lowercase()),
                );
            }
        }
        for (name, provider) in [("google", &self.providers.google), ("naver", &self.providers.naver)] {
            if provider.admin_key.is_some() {
                problem(&format!("providers.{name}.admin_key"), "is only read for Kakao".to_owned());
            }
        }
        for (name, provider) in [("naver", &self.providers.naver), ("kakao", &self.providers.kakao)] {
            if provider.risc {
                problem(&format!("providers.{name}.risc"), "is only read for Google".to_owned());
            }
        }
        let apple = &self.providers.apple;
        if apple.enabled() {
            for (field, value) in [("team_id", &apple.team_id), ("key_id", &apple.key_id)] {
                if value.len() != 10 || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    problem(&format!("providers.apple.{field}"), "must be the 10 characters Apple shows".to_owned());
                }
            }
            if jsonwebtoken::EncodingKey::from_ec_pem(apple.private_key.expose_secret().as_bytes()).is_err() {
                problem("providers.apple.private_key", "must be the key's .p8 file (a P-256 PEM)".to_owned());
            }
        }
        if !matches!(apple.legacy_email_trust, EmailTrust::Verified | EmailTrust::Never) {
            problem("providers.apple.legacy_email_trust", "must be \"verified\" or \"never\"".to_owned());
        }
        for (name, settings) in &self.providers.oidc {
            let key = |field: &str| format!("providers.oidc.{name}.{field}");
            if !is_provider_name(name) {
                problem(
                    &format!("providers.oidc.{name}"),
                    "is not a provider name: 1 to 32 of a-z, 0-9 and '-'".into(),
                );
            } else if BUILT_IN_PROVIDERS.contains(&name.as_str()) {
                problem(&format!("providers.oidc.{name}"), format!("{name:?} is a built-in provider's name"));
            }
            if settings.client_id.is_empty() {
                problem(&key("client_id"), "is required".to_owned());
            }
            if settings.display_name.trim().is_empty() {
                problem(&key("display_name"), "is required: the name its button shows".to_owned());
            }
            if !settings.scopes.iter().any(|s| s == "openid") {
                problem(&key("scopes"), "must include \"openid\"".to_owned());
            }
            if settings.uid_claim.is_empty() {
                problem(&key("uid_claim"), "must name an ID token claim".to_owned());
            }
            if !matches!(settings.issuer_url.scheme(), "https" | "http") {
                problem(&key("issuer_url"), "must be an http(s) URL".to_owned());
            }
            if settings.id_token_hs256 && settings.client_secret.expose_secret().is_empty() {
                problem(&key("client_secret"), "is required with id_token_hs256 (it is the HS256 key)".to_owned());
            }
        }
        if self.providers.google.enabled() && self.providers.google.issuer_url.is_none() {
            problem("providers.google.issuer_url", "is required when Google is on".to_owned());
        }
        for (i, key) in self.encryption_keys.iter().enumerate() {
            if self.encryption_keys[..i].iter().any(|k| k.id == key.id) {
                problem("encryption_keys", format!("key id {:?} appears twice", key.id));
            }
        }
        for bad in self.cors_origins.iter().filter(|o| !is_origin(o)) {
            problem("cors_origins", format!("{bad:?} is not an origin like \"https://app.example\" (or \"*\")"));
        }
        problems
    }

    /// Whether ephemeral state goes to Redis.
    pub fn uses_redis(&self) -> bool {
        !self.redis_url.expose_secret().is_empty()
    }

    /// The audience of access tokens: `access_token_audience`, else `public_url`.
    pub fn audience(&self) -> String {
        if self.access_token_audience.is_empty() {
            self.public_url.as_str().trim_end_matches('/').to_owned()
        } else {
            self.access_token_audience.clone()
        }
    }

    pub fn upstream_timeout(&self) -> Duration {
        self.upstream_timeout.0
    }

    /// Where `--dev` keeps its generated secret: beside the SQLite file, else in the working
    /// directory.
    pub fn dev_secret_path(&self) -> PathBuf {
        let url = self.database_url.expose_secret();
        match crate::store::sqlite_file(url) {
            Some(db) => {
                let mut name = db.into_os_string();
                name.push(".secret");
                PathBuf::from(name)
            }
            None => PathBuf::from("munji-dev.secret"),
        }
    }
}

/// The secret `serve --dev` kept at `path`, if it made one.
fn read_dev_secret(path: &Path) -> anyhow::Result<Option<Base64Secret>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Base64Secret::parse(text.trim()).map(Some).with_context(|| {
            format!("the dev secret in {} is unreadable; delete it to make a new one", path.display())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading the dev secret {}", path.display())),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())
}

/// `*`, or `scheme://host[:port]` exactly as a browser sends it in `Origin` (no path, no
/// trailing slash, lower-case scheme and host).
fn is_origin(text: &str) -> bool {
    if text == "*" {
        return true;
    }
    match Url::parse(text) {
        Ok(url) => {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.username().is_empty()
                && url.origin().ascii_serialization() == text
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests;
