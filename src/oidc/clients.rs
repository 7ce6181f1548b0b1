//! OIDC clients (docs/tokens.md): from `[[clients]]` in the config and from the database.
//! Secrets are 256-bit random values, stored as SHA-256 (a slow hash adds nothing to a secret
//! that cannot be guessed) and compared in constant time. Redirect URIs match exactly, except
//! that a public client's loopback URI registered without a port accepts any port (RFC 8252
//! §7.3; `127.0.0.1` and `[::1]` only).

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use chrono::Utc;
use secrecy::ExposeSecret as _;
use url::Url;

use crate::{
    config::{ClientConfig, Config},
    crypto,
    store::{self, Db, clients::StoredClient},
};

pub const AUTHORIZATION_CODE: &str = "authorization_code";
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_TYPES: [&str; 3] = [AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    /// SHA-256 (hex) of the secret; `None` for a public client (PKCE required).
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub gmail_targets: Vec<String>,
    /// Defined in `[[clients]]` rather than the database.
    pub from_config: bool,
    /// What users see; the id unless a name was given.
    pub name: String,
    /// A first-party client gets tokens without a consent page (docs/consent.md).
    pub first_party: bool,
    pub post_logout_redirect_uris: Vec<String>,
    /// Where logout tokens go (docs/logout.md).
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Invalid(String),
    #[error("a client with id {0:?} already exists")]
    Exists(String),
    #[error("no client {0:?} in the database")]
    NotFound(String),
    #[error("client {0:?} is defined in the configuration file; change it there")]
    ReadOnly(String),
    #[error("client {0:?} is public: it has no secret")]
    Public(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// Whether `presented` is this client's secret (constant time).
    pub fn secret_matches(&self, presented: &str) -> bool {
        self.secret_hash
            .as_deref()
            .is_some_and(|hash| crypto::constant_time_eq(crypto::sha256_hex(presented).as_bytes(), hash.as_bytes()))
    }

    /// The registered redirect URI that `requested` matches, if any.
    pub fn redirect_uri_matches(&self, requested: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == requested || (self.is_public() && loopback_matches(registered, requested)))
    }

    fn from_config(config: &ClientConfig) -> Self {
        let grant_types = if config.grant_types.is_empty() {
            vec![AUTHORIZATION_CODE.to_owned(), REFRESH_TOKEN.to_owned()]
        } else {
            config.grant_types.clone()
        };
        let scopes = if config.scopes.is_empty() {
            vec!["openid".into(), "profile".into(), "email".into()]
        } else {
            config.scopes.clone()
        };
        Self {
            id: config.id.clone(),
            secret_hash: config.secret.as_ref().map(|s| crypto::sha256_hex(s.expose_secret())),
            redirect_uris: config.redirect_uris.clone(),
            grant_types,
            scopes,
            gmail_targets: config.gmail_targets.clone(),
            from_config: true,
            name: config.name.clone().unwrap_or_else(|| config.id.clone()),
            first_party: config.first_party,
            post_logout_redirect_uris: config.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: config.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: config.backchannel_logout_session_required,
        }
    }

    fn from_stored(stored: StoredClient) -> Self {
        let list = |json: &str| serde_json::from_str::<Vec<String>>(json).unwrap_or_default();
        Self {
            redirect_uris: list(&stored.redirect_uris),
            grant_types: list(&stored.grant_types),
            scopes: list(&stored.scopes),
            gmail_targets: list(&stored.gmail_targets),
            post_logout_redirect_uris: list(&stored.post_logout_redirect_uris),
            name: stored.name.unwrap_or_else(|| stored.id.clone()),
            id: stored.id,
            secret_hash: stored.secret_hash,
            from_config: false,
            first_party: stored.first_party,
            backchannel_logout_uri: stored.backchannel_logout_uri,
            backchannel_logout_session_required: stored.backchannel_logout_session_required,
        }
    }
}

/// RFC 8252 §7.3: `http://127.0.0.1/cb` (no port) also matches `http://127.0.0.1:51234/cb`.
/// Only the port may be added: everything else must be the registered URI character for
/// character, as for any redirect URI. (Comparing parsed URLs instead let through spellings
/// that a parser normalizes: `/x/../cb`, `HTTP://`, `127.1`, `[0:0:0:0:0:0:0:1]`, `:/`, `\`.)
fn loopback_matches(registered: &str, requested: &str) -> bool {
    ["http://127.0.0.1", "http://[::1]"].into_iter().any(|origin| {
        let (Some(rest), Some(with_port)) = (registered.strip_prefix(origin), requested.strip_prefix(origin)) else {
            return false;
        };
        let Some(with_port) = with_port.strip_prefix(':') else { return false };
        let digits = with_port.bytes().take_while(u8::is_ascii_digit).count();
        let port_ok = with_port[..digits].parse::<u16>().is_ok_and(|port| port > 0);
        // `rest` must start the path (or query): `http://127.0.0.1.evil.example/` is not loopback.
        let portless = rest.is_empty() || rest.starts_with(['/', '?']);
        portless && port_ok && with_port[digits..] == *rest
    })
}

/// Check a redirect URI at registration (RFC 9700 §2.1): https, or http on a loopback address,
/// or a private-use scheme of a native app (`com.example.app:/cb`); never a fragment.
pub fn check_redirect_uri(uri: &str) -> Result<(), ClientError> {
    let parsed = Url::parse(uri).map_err(|_| ClientError::Invalid(format!("redirect URI {uri:?} is not a URL")))?;
    if parsed.fragment().is_some() {
        return Err(ClientError::Invalid(format!("redirect URI {uri:?} has a fragment")));
    }
    let ok = match parsed.scheme() {
        "https" => true,
        "http" => matches!(parsed.host_str(), Some("127.0.0.1" | "[::1]")),
        scheme => scheme.contains('.'),
    };
    if ok {
        Ok(())
    } else {
        Err(ClientError::Invalid(format!(
            "redirect URI {uri:?} must be https, http on 127.0.0.1/[::1], or a reverse-domain app scheme"
        )))
    }
}

/// Refuse a client id that parses as a UUID (in any spelling a UUID parser accepts). User ids
/// are UUIDs and a service token's `sub` is its client id, so such a client could pass for a
/// user wherever a `sub` is read as a user id.
fn check_not_uuid(id: &str) -> Result<(), ClientError> {
    match uuid::Uuid::try_parse(id) {
        Ok(_) => Err(ClientError::Invalid(
            "a client id must not be a UUID (users are named by UUIDs); choose a name like \"mailer\"".into(),
        )),
        Err(_) => Ok(()),
    }
}

/// Check the `[[clients]]` of the configuration as `munji clients add` checks its input: ids,
/// grant types, redirect URIs (RFC 9700), and secrets that are not trivially guessable.
pub fn check_config(config: &Config) -> Result<(), ClientError> {
    for (i, client) in config.clients.iter().enumerate() {
        let at = |what: String| ClientError::Invalid(format!("config key `clients[{i}]` ({:?}): {what}", client.id));
        if client.id.is_empty() || config.clients[..i].iter().any(|c| c.id == client.id) {
            return Err(at("the id is empty or appears twice".into()));
        }
        check_not_uuid(&client.id).map_err(|e| at(e.to_string()))?;
        if let Some(grant) = client.grant_types.iter().find(|g| !GRANT_TYPES.contains(&g.as_str())) {
            return Err(at(format!("unknown grant type {grant:?}")));
        }
        if client.secret.as_ref().is_some_and(|s| s.expose_secret().len() < 16) {
            return Err(at("a secret must be at least 16 characters (or absent, for a public client)".into()));
        }
        if client.secret.is_none() && client.grant_types.iter().any(|g| g == CLIENT_CREDENTIALS) {
            return Err(at("a public client cannot use client_credentials".into()));
        }
        for uri in client.redirect_uris.iter().chain(&client.post_logout_redirect_uris) {
            check_redirect_uri(uri).map_err(|e| at(e.to_string()))?;
        }
        if let Some(uri) = &client.backchannel_logout_uri {
            check_backchannel_uri(uri).map_err(|e| at(e.to_string()))?;
        }
    }
    Ok(())
}

/// A back-channel logout URI is https, or http on a loopback address; never a fragment.
pub fn check_backchannel_uri(uri: &str) -> Result<(), ClientError> {
    let refused =
        || ClientError::Invalid(format!("back-channel logout URI {uri:?} must be https, or http on 127.0.0.1/[::1]"));
    let parsed = Url::parse(uri).map_err(|_| refused())?;
    let ok = parsed.fragment().is_none()
        && match parsed.scheme() {
            "https" => parsed.host_str().is_some(),
            "http" => matches!(parsed.host_str(), Some("127.0.0.1" | "[::1]")),
            _ => false,
        };
    if ok { Ok(()) } else { Err(refused()) }
}

/// The client named `id`: from the config first, else from the database.
pub async fn find(config: &Config, db: &Db, id: &str) -> Result<Option<Client>, ClientError> {
    if let Some(client) = config.clients.iter().find(|c| c.id == id) {
        return Ok(Some(Client::from_config(client)));
    }
    Ok(store::clients::find(db, id).await?.map(Client::from_stored))
}

/// How long a looked-up client (or its absence) is trusted: running instances must see client
/// changes within a minute, without a restart (docs/tokens.md).
const CACHE_TTL: Duration = Duration::from_secs(30);
/// Past this many entries the cache starts over (unknown ids must not grow it without bound).
const CACHE_MAX: usize = 10_000;

/// Clients by id, each kept for [`CACHE_TTL`]: `/token`, `/introspect` and `/authorize` then
/// cost no database round trip for the client. A cache of durable data, not shared state.
#[derive(Default)]
pub struct ClientCache {
    entries: RwLock<HashMap<String, (Instant, Option<Client>)>>,
}

impl ClientCache {
    pub async fn find(&self, config: &Config, db: &Db, id: &str) -> Result<Option<Client>, ClientError> {
        if let Ok(entries) = self.entries.read()
            && let Some((at, client)) = entries.get(id)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(client.clone());
        }
        let client = find(config, db, id).await?;
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
            entries.insert(id.to_owned(), (Instant::now(), client.clone()));
        }
        Ok(client)
    }

    /// Drop what this instance knows of `id` (it changed here; other instances see the change
    /// within [`CACHE_TTL`]).
    pub fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(id);
        }
    }
}

/// Every client, config ones first.
pub async fn list(config: &Config, db: &Db) -> Result<Vec<Client>, ClientError> {
    let mut clients: Vec<Client> = config.clients.iter().map(Client::from_config).collect();
    clients.extend(store::clients::list(db).await?.into_iter().map(Client::from_stored));
    Ok(clients)
}

/// What `munji clients add` asks for.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub id: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub gmail_targets: Vec<String>,
    pub public: bool,
    pub name: Option<String>,
    pub first_party: bool,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
}

impl Default for NewClient {
    /// A confidential first-party client with nothing registered yet.
    fn default() -> Self {
        Self {
            id: String::new(),
            redirect_uris: vec![],
            grant_types: vec![],
            scopes: vec![],
            gmail_targets: vec![],
            public: false,
            name: None,
            first_party: true,
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            backchannel_logout_session_required: true,
        }
    }
}

/// Register a client; returns its secret (shown once) unless it is public.
pub async fn add(config: &Config, db: &Db, new: NewClient) -> Result<Option<String>, ClientError> {
    check_not_uuid(&new.id)?;
    let valid_id = !new.id.is_empty()
        && new.id.len() <= 64
        && new.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid_id {
        return Err(ClientError::Invalid("a client id is 1–64 characters of A-Z a-z 0-9 - _ .".into()));
    }
    if config.clients.iter().any(|c| c.id == new.id) {
        return Err(ClientError::Exists(new.id));
    }
    for grant in &new.grant_types {
        if !GRANT_TYPES.contains(&grant.as_str()) {
            return Err(ClientError::Invalid(format!("unknown grant type {grant:?} (use {})", GRANT_TYPES.join(", "))));
        }
    }
    if new.public && new.grant_types.iter().any(|g| g == CLIENT_CREDENTIALS) {
        return Err(ClientError::Invalid("a public client cannot use client_credentials".into()));
    }
    if new.grant_types.iter().any(|g| g == AUTHORIZATION_CODE) && new.redirect_uris.is_empty() {
        return Err(ClientError::Invalid("authorization_code needs at least one --redirect-uri".into()));
    }
    for uri in new.redirect_uris.iter().chain(&new.post_logout_redirect_uris) {
        check_redirect_uri(uri)?;
    }
    if let Some(uri) = &new.backchannel_logout_uri {
        check_backchannel_uri(uri)?;
    }
    if new.name.as_deref().is_some_and(|n| n.trim().is_empty() || n.chars().count() > 100) {
        return Err(ClientError::Invalid("a client name is 1–100 characters".into()));
    }
    let secret = (!new.public).then(|| crypto::random_token(32));
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let stored = StoredClient {
        id: new.id.clone(),
        secret_hash: secret.as_deref().map(crypto::sha256_hex),
        redirect_uris: json(&new.redirect_uris),
        grant_types: json(&new.grant_types),
        scopes: json(&new.scopes),
        gmail_targets: json(&new.gmail_targets),
        created_at: Utc::now(),
        name: new.name,
        first_party: new.first_party,
        post_logout_redirect_uris: json(&new.post_logout_redirect_uris),
        backchannel_logout_uri: new.backchannel_logout_uri,
        backchannel_logout_session_required: new.backchannel_logout_session_required,
    };
    store::clients::insert(db, &stored).await.map_err(|e| match e {
        store::StoreError::Conflict { .. } => ClientError::Exists(new.id.clone()),
        other => other.into(),
    })?;
    Ok(secret)
}

/// Remove a client registered in the database (a configured one is changed in the file).
pub async fn remove(config: &Config, db: &Db, id: &str) -> Result<(), ClientError> {
    if config.clients.iter().any(|c| c.id == id) {
        return Err(ClientError::ReadOnly(id.to_owned()));
    }
    if store::clients::delete(db, id).await? { Ok(()) } else { Err(ClientError::NotFound(id.to_owned())) }
}

/// Give a confidential database client a new secret (shown once); the old one stops working
/// within the client cache's lifetime.
pub async fn new_secret(config: &Config, db: &Db, id: &str) -> Result<String, ClientError> {
    if config.clients.iter().any(|c| c.id == id) {
        return Err(ClientError::ReadOnly(id.to_owned()));
    }
    let client = store::clients::find(db, id).await?.ok_or_else(|| ClientError::NotFound(id.to_owned()))?;
    if client.secret_hash.is_none() {
        return Err(ClientError::Public(id.to_owned()));
    }
    let secret = crypto::random_token(32);
    if !store::clients::set_secret_hash(db, id, &crypto::sha256_hex(&secret)).await? {
        return Err(ClientError::NotFound(id.to_owned()));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(public: bool, uris: &[&str]) -> Client {
        Client {
            id: "app".into(),
            secret_hash: (!public).then(|| crypto::sha256_hex("s3cret")),
            redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
            grant_types: vec![AUTHORIZATION_CODE.into()],
            scopes: vec![],
            gmail_targets: vec![],
            from_config: false,
            name: "app".into(),
            first_party: true,
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            backchannel_logout_session_required: true,
        }
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let c = client(false, &["https://app.example/cb"]);
        assert!(c.redirect_uri_matches("https://app.example/cb"));
        for near_miss in [
            "https://app.example/cb/",
            "https://APP.example/cb",
            "https://app.example/cb?x=1",
            "https://app.example/cb#frag",
            "https://app.example@evil.example/cb",
            "https://app.example/cb/../x",
            "https://app.example/%2e%2e/cb",
            "https://app.example:8443/cb",
            "http://app.example/cb",
            "https://app.example/CB",
        ] {
            assert!(!c.redirect_uri_matches(near_miss), "{near_miss}");
        }
    }

    #[test]
    fn a_public_clients_loopback_uri_accepts_any_port() {
        let c = client(true, &["http://127.0.0.1/cb", "http://[::1]/cb"]);
        assert!(c.redirect_uri_matches("http://127.0.0.1:51234/cb"));
        assert!(c.redirect_uri_matches("http://[::1]:8000/cb"));
        assert!(!c.redirect_uri_matches("http://localhost:51234/cb"), "not localhost");
        assert!(!c.redirect_uri_matches("http://127.0.0.1:51234/other"));
        assert!(!c.redirect_uri_matches("http://127.0.0.1:51234/cb?x=1"));
        // Only the port may differ; spellings that a URL parser normalizes to the same are
        // still other strings (found by tests/properties.rs).
        for near_miss in [
            "http://127.0.0.1/x/../cb",
            "http://127.0.0.1:1/x/../cb",
            "http://127.0.0.1:8080/./cb",
            "HTTP://127.0.0.1:8080/cb",
            "http://127.1:8080/cb",
            "http://0x7f.0.0.1:8080/cb",
            "http://[0:0:0:0:0:0:0:1]:8080/cb",
            "http:\\\\[::1]/cb",
            "http://[::1]:/cb",
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:65536/cb",
            " http://127.0.0.1:8080/cb",
            "http://127.0.0.1:8080/c\tb",
        ] {
            assert!(!c.redirect_uri_matches(near_miss), "{near_miss:?}");
        }
        let with_port = client(true, &["http://127.0.0.1:80/cb"]);
        assert!(!with_port.redirect_uri_matches("http://127.0.0.1:8080/cb"), "a registered port is kept");
        let confidential = client(false, &["http://127.0.0.1/cb"]);
        assert!(!confidential.redirect_uri_matches("http://127.0.0.1:51234/cb"), "public clients only");
    }

    #[test]
    fn secrets_compare_by_hash() {
        let c = client(false, &[]);
        assert!(c.secret_matches("s3cret"));
        assert!(!c.secret_matches("s3cret "));
        assert!(!client(true, &[]).secret_matches(""));
    }

    #[test]
    fn config_clients_are_checked_like_registered_ones() {
        let load = |toml: &str| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("munji.toml");
            std::fs::write(&path, toml).unwrap();
            crate::config::Config::load(crate::config::Sources {
                file: Some(&path),
                env: vec![],
                purpose: crate::config::Purpose::Admin,
            })
            .unwrap()
        };
        let good = load(
            "[[clients]]\nid = \"web\"\nsecret = \"0123456789abcdef\"\nredirect_uris = [\"https://app.example/cb\"]\n",
        );
        assert!(check_config(&good).is_ok());
        for bad in [
            "[[clients]]\nid = \"web\"\nsecret = \"\"\nredirect_uris = [\"https://app.example/cb\"]\n",
            "[[clients]]\nid = \"web\"\nredirect_uris = [\"http://app.example/cb\"]\n",
            "[[clients]]\nid = \"web\"\nredirect_uris = [\"javascript:alert(1)\"]\n",
            "[[clients]]\nid = \"svc\"\ngrant_types = [\"client_credentials\"]\n",
            "[[clients]]\nid = \"x\"\ngrant_types = [\"password\"]\nsecret = \"0123456789abcdef\"\n",
            "[[clients]]\nid = \"0b6e4f8a-3c1d-4e2f-9a7b-5c6d7e8f9a0b\"\nsecret = \"0123456789abcdef\"\n",
            "[[clients]]\nid = \"0b6e4f8a3c1d4e2f9a7b5c6d7e8f9a0b\"\nsecret = \"0123456789abcdef\"\n",
        ] {
            let message = check_config(&load(bad)).unwrap_err().to_string();
            assert!(message.contains("config key `clients[0]`"), "{message}");
        }
    }

    #[test]
    fn registration_refuses_unsafe_redirect_uris() {
        for ok in ["https://app.example/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb", "com.example.app:/cb"] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in
            ["http://app.example/cb", "http://localhost/cb", "https://app.example/cb#x", "javascript:alert(1)", "cb"]
        {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
