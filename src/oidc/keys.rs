//! Signing keys (docs/tokens.md): generated here, stored sealed with a key derived from
//! `secret_key`, published in the JWKS (read at most once a second), rotated with an overlap: a new key is
//! published before it signs, a retired one stays published until its last token has expired.
//!
//! Each key is parsed once into a ready aws-lc-rs key pair, so minting a token is one signature
//! and no key parsing (jsonwebtoken re-parses its key on every `encode`). Verification goes
//! through jsonwebtoken with the algorithm pinned per `kid`.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use aws_lc_rs::{
    encoding::AsDer as _,
    rand::SystemRandom,
    rsa::KeySize,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair},
};
use base64::{Engine as _, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, jwk::Jwk};
use serde::Serialize;

use crate::{
    config::SigningAlg,
    crypto,
    store::{self, Db, keys::StoredKey},
};

/// The asymmetric algorithms munji signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    ES256,
    EdDSA,
    RS256,
}

impl KeyAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
            Self::RS256 => "RS256",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::ES256, Self::EdDSA, Self::RS256].into_iter().find(|a| a.as_str() == name)
    }

    pub fn jwt(self) -> Algorithm {
        match self {
            Self::ES256 => Algorithm::ES256,
            Self::EdDSA => Algorithm::EdDSA,
            Self::RS256 => Algorithm::RS256,
        }
    }

    /// The asymmetric algorithm for `signing_alg` (HS256 mode still signs ID tokens with ES256).
    pub fn for_config(alg: SigningAlg) -> Self {
        match alg {
            SigningAlg::ES256 | SigningAlg::HS256 => Self::ES256,
            SigningAlg::EdDSA => Self::EdDSA,
            SigningAlg::RS256 => Self::RS256,
        }
    }
}

enum Pair {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A parsed key: its ready key pair for signing and its public half for verifying.
pub struct SigningKey {
    pub kid: String,
    pub alg: KeyAlg,
    pair: Pair,
    pub jwk: Jwk,
    pub decoding: DecodingKey,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key could not be made or read: {0}")]
    Crypto(String),
    #[error("a stored key does not open with this secret_key (was secret_key changed?)")]
    Sealed,
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

fn crypto_error(e: impl std::fmt::Display) -> KeyError {
    KeyError::Crypto(e.to_string())
}

impl SigningKey {
    /// A new key pair; returns it with its PKCS#8 encoding (what gets sealed and stored).
    pub fn generate(alg: KeyAlg) -> Result<(Self, Vec<u8>), KeyError> {
        let pkcs8 = match alg {
            KeyAlg::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map(|d| d.as_ref().to_vec()),
            KeyAlg::EdDSA => Ed25519KeyPair::generate().and_then(|k| k.to_pkcs8v1()).map(|d| d.as_ref().to_vec()),
            KeyAlg::RS256 => {
                RsaKeyPair::generate(KeySize::Rsa2048).and_then(|k| k.as_der()).map(|d| d.as_ref().to_vec())
            }
        }
        .map_err(crypto_error)?;
        let kid = format!("{}-{}", alg.as_str().to_lowercase(), crypto::random_token(12));
        Ok((Self::from_pkcs8(&kid, alg, &pkcs8)?, pkcs8))
    }

    pub fn from_pkcs8(kid: &str, alg: KeyAlg, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = match alg {
            KeyAlg::ES256 => {
                Pair::Ec(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(crypto_error)?)
            }
            KeyAlg::EdDSA => Pair::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(crypto_error)?),
            KeyAlg::RS256 => Pair::Rsa(RsaKeyPair::from_pkcs8(pkcs8).map_err(crypto_error)?),
        };
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(pkcs8));
        let encoding = match alg {
            KeyAlg::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
            KeyAlg::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            KeyAlg::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .map_err(crypto_error)?;
        let mut jwk = Jwk::from_encoding_key(&encoding, alg.jwt()).map_err(crypto_error)?;
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        let decoding = DecodingKey::from_jwk(&jwk).map_err(crypto_error)?;
        Ok(Self { kid: kid.to_owned(), alg, pair, jwk, decoding })
    }

    /// A compact JWS of `claims` with this key: header `{"alg","typ","kid"}`.
    pub fn sign_jwt(&self, typ: &str, claims: &impl Serialize) -> String {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'a str,
            typ: &'a str,
            kid: &'a str,
        }
        let header = Header { alg: self.alg.as_str(), typ, kid: &self.kid };
        let mut jws = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default()));
        let signature = self.sign(jws.as_bytes());
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(signature));
        jws
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        // Signing with a valid in-memory key fails only if the system RNG does.
        match &self.pair {
            Pair::Ec(pair) => pair.sign(&rng, message).map(|s| s.as_ref().to_vec()).unwrap_or_default(),
            Pair::Ed(pair) => pair.sign(message).as_ref().to_vec(),
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                match pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature) {
                    Ok(()) => signature,
                    Err(_) => Vec::new(),
                }
            }
        }
    }
}

/// The keys an instance knows: the current one signs, all of them verify and are published.
pub struct KeyRing {
    /// The current signing key first, then the others newest first.
    keys: Vec<Arc<SigningKey>>,
    by_kid: HashMap<String, Arc<SigningKey>>,
    /// The JWKS document of these keys, serialized once per reload.
    jwks: String,
}

impl KeyRing {
    pub fn current(&self) -> Option<&Arc<SigningKey>> {
        self.keys.first()
    }

    pub fn get(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.by_kid.get(kid)
    }

    pub fn all(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }

    /// The JWKS document (`{"keys": [...]}`): the public half of every key in the ring.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// A ring of the published keys, each with how long it has been published, newest first
    /// (as stored). The current key is the newest of `alg` that has been published for
    /// [`PUBLISH_AHEAD`]; when none has (a first start, or a change of `signing_alg`), the
    /// oldest of `alg`, the first one made.
    fn new(published: Vec<(Arc<SigningKey>, Duration)>, alg: KeyAlg) -> Self {
        let current = published
            .iter()
            .position(|(key, age)| key.alg == alg && *age >= PUBLISH_AHEAD)
            .or_else(|| published.iter().rposition(|(key, _)| key.alg == alg));
        let mut keys: Vec<Arc<SigningKey>> = published.into_iter().map(|(key, _)| key).collect();
        if let Some(i) = current {
            let key = keys.remove(i);
            keys.insert(0, key);
        }
        let by_kid = keys.iter().map(|k| (k.kid.clone(), k.clone())).collect();
        let public: Vec<&Jwk> = keys.iter().map(|k| &k.jwk).collect();
        let jwks = serde_json::to_string(&serde_json::json!({ "keys": public })).unwrap_or_default();
        Self { keys, by_kid, jwks }
    }
}

/// How often every instance reads the keys again.
pub const RELOAD_EVERY: Duration = Duration::from_secs(20);

/// How long a new key is published before it signs. `/jwks` shows a new key within a second,
/// and every instance reads the keys again within [`RELOAD_EVERY`], so by the time a key signs
/// its first token every instance already publishes it, whichever one a verifier asks. A
/// rotation thus signs within 25–45 s.
pub const PUBLISH_AHEAD: Duration = Duration::from_secs(25);

/// How long a retired key stays published, for tokens that live `token_ttl`: it may go on
/// signing until its successor does (up to [`PUBLISH_AHEAD`] + [`RELOAD_EVERY`] after the
/// rotation), and its last token is accepted until its expiry plus the clock leeway.
pub fn publication_overlap(token_ttl: Duration, leeway: Duration) -> Duration {
    token_ttl + PUBLISH_AHEAD + RELOAD_EVERY + leeway
}

/// The key ring, reloaded from the database every [`RELOAD_EVERY`] and whenever a token names
/// a key this instance has not seen (another instance rotated).
pub struct Keys {
    db: Db,
    seal_key: [u8; 32],
    alg: KeyAlg,
    /// How long a retired key stays published: the longest a token it signed can live.
    overlap: Duration,
    ring: RwLock<Arc<KeyRing>>,
    last_reload: RwLock<Instant>,
    /// The JWKS as last read from the database, and when.
    published: tokio::sync::Mutex<Option<(Instant, String)>>,
}

/// How stale the served JWKS may be: a key rotated by any instance or by `munji keys rotate` is
/// published everywhere within this, while requests for `/jwks` read the database at most once
/// per interval.
const JWKS_FRESH_FOR: Duration = Duration::from_secs(1);
/// After a failed read, how long the last document is served before the database is tried again.
const JWKS_RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// The context sealed keys are bound to.
const SEAL_CONTEXT: &str = "munji signing key";
/// At most one unprompted reload per this interval (an unknown `kid` must not cause a storm).
const MISS_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

impl Keys {
    /// Load the published keys, making the first one when there is no current key of `alg`.
    pub async fn load_or_create(db: Db, secret: &[u8], alg: KeyAlg, overlap: Duration) -> Result<Self, KeyError> {
        let seal_key = crypto::derive_key(secret, "signing keys at rest");
        let keys = Self {
            db,
            seal_key,
            alg,
            overlap,
            ring: RwLock::new(Arc::new(KeyRing::new(vec![], alg))),
            last_reload: RwLock::new(Instant::now()),
            published: tokio::sync::Mutex::new(None),
        };
        keys.reload().await?;
        if keys.ring().current().is_none_or(|k| k.alg != alg) {
            keys.rotate_in(false).await?;
            keys.reload().await?;
        }
        Ok(keys)
    }

    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().map(|r| r.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// The JWKS document to serve: the published keys as the database has them, read at most once
    /// per [`JWKS_FRESH_FOR`] (concurrent requests wait for one read). While the database cannot
    /// be read, the last document read, or this instance's ring.
    pub async fn published_jwks(&self) -> String {
        let mut cached = self.published.lock().await;
        if let Some((at, document)) = cached.as_ref()
            && at.elapsed() < JWKS_FRESH_FOR
        {
            return document.clone();
        }
        match store::keys::list_published(&self.db, Utc::now() - self.overlap).await {
            Ok(stored) => {
                let keys: Vec<serde_json::Value> =
                    stored.iter().filter_map(|k| serde_json::from_str(&k.public_jwk).ok()).collect();
                let document = serde_json::json!({ "keys": keys }).to_string();
                *cached = Some((Instant::now(), document.clone()));
                document
            }
            Err(e) => {
                tracing::warn!(error.message = %e, "reading the published keys failed; serving the last known");
                let document =
                    cached.as_ref().map_or_else(|| self.ring().jwks().to_owned(), |(_, document)| document.clone());
                // Ask a database that is down again only after a while, not on every second.
                *cached = Some((Instant::now() + JWKS_RETRY_AFTER_FAILURE, document.clone()));
                document
            }
        }
    }

    /// Read the published keys from the database.
    pub async fn reload(&self) -> Result<(), KeyError> {
        let now = Utc::now();
        let stored = store::keys::list_published(&self.db, now - self.overlap).await?;
        let mut published = Vec::with_capacity(stored.len());
        for StoredKey { kid, alg, sealed_key, created_at, .. } in stored {
            let Some(alg) = KeyAlg::parse(&alg) else { continue };
            let pkcs8 = crypto::open(&self.seal_key, SEAL_CONTEXT, &sealed_key).ok_or(KeyError::Sealed)?;
            // A key dated in the future (clocks disagree) counts as just made.
            let age = (now - created_at).to_std().unwrap_or_default();
            published.push((Arc::new(SigningKey::from_pkcs8(&kid, alg, &pkcs8)?), age));
        }
        let ring = Arc::new(KeyRing::new(published, self.alg));
        if let Ok(mut slot) = self.ring.write() {
            *slot = ring;
        }
        if let Ok(mut last) = self.last_reload.write() {
            *last = Instant::now();
        }
        Ok(())
    }

    /// The key named `kid`, reloading once (rate-limited) if this instance does not know it.
    pub async fn find(&self, kid: &str) -> Option<Arc<SigningKey>> {
        if let Some(key) = self.ring().get(kid) {
            return Some(key.clone());
        }
        let stale = self.last_reload.read().map(|t| t.elapsed() >= MISS_RELOAD_INTERVAL).unwrap_or(true);
        if stale && self.reload().await.is_ok() {
            return self.ring().get(kid).cloned();
        }
        None
    }

    /// Make a new key of the configured algorithm the current one. With `retire_others`, every
    /// older key is retired now (it stays published until its tokens have expired).
    pub async fn rotate_in(&self, retire_others: bool) -> Result<String, KeyError> {
        let (key, pkcs8) = SigningKey::generate(self.alg)?;
        let sealed = crypto::seal(&self.seal_key, SEAL_CONTEXT, &pkcs8);
        let jwk = serde_json::to_string(&key.jwk).map_err(crypto_error)?;
        store::keys::insert(&self.db, &key.kid, self.alg.as_str(), &sealed, &jwk, Utc::now(), retire_others).await?;
        Ok(key.kid)
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Validation, decode};

    use super::*;

    #[test]
    fn each_algorithm_signs_tokens_that_its_jwk_verifies() {
        for alg in [KeyAlg::ES256, KeyAlg::EdDSA, KeyAlg::RS256] {
            let (key, pkcs8) = SigningKey::generate(alg).unwrap();
            let reread = SigningKey::from_pkcs8(&key.kid, alg, &pkcs8).unwrap();
            let token = reread.sign_jwt("at+jwt", &serde_json::json!({"sub": "x", "exp": 4_000_000_000u64}));
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            let mut validation = Validation::new(alg.jwt());
            validation.validate_aud = false;
            let data = decode::<serde_json::Value>(&token, &key.decoding, &validation).unwrap();
            assert_eq!(data.claims["sub"], "x", "{alg:?}");
        }
    }
}
