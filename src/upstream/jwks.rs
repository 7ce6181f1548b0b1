//! A provider's signing keys (a JWKS document), fetched when first needed, kept for an hour, and
//! fetched again at once when a token names a key that is not in the cache, at most once a
//! minute, so tokens naming made-up keys cannot make munji fetch at every request.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use tokio::sync::{Mutex, RwLock};
use url::Url;

use super::UpstreamError;

/// How long fetched keys are trusted.
const KEYS_TTL: Duration = Duration::from_secs(3600);

/// The least time between two fetches for an unknown `kid`.
const REFETCH_AFTER: Duration = Duration::from_secs(60);

/// The keys at one URL. A cache, not state: every instance may hold its own copy.
pub struct KeyCache {
    url: Url,
    fetched: RwLock<Option<(Instant, JwkSet)>>,
    /// When a fetch last started, held while it runs: one fetch at a time, and a failed one
    /// counts too, so nothing can make munji fetch more than once a minute for unknown keys.
    attempt: Mutex<Option<Instant>>,
}

impl KeyCache {
    pub fn new(url: Url) -> Self {
        Self { url, fetched: RwLock::new(None), attempt: Mutex::new(None) }
    }

    /// The keys, fetched again once when none of the cached ones is named `kid`.
    pub async fn for_kid(&self, http: &reqwest::Client, kid: Option<&str>) -> Result<JwkSet, UpstreamError> {
        let cached = self.keys(http, false).await?;
        match kid {
            Some(kid) if cached.find(kid).is_none() => self.keys(http, true).await,
            _ => Ok(cached),
        }
    }

    /// The cached keys if fetched within `fresh_enough`.
    async fn cached(&self, fresh_enough: Duration) -> Option<JwkSet> {
        let fetched = self.fetched.read().await;
        fetched.as_ref().filter(|(at, _)| at.elapsed() < fresh_enough).map(|(_, keys)| keys.clone())
    }

    /// The cached keys while fresh enough (an hour; a minute when `refresh`), else fetched.
    async fn keys(&self, http: &reqwest::Client, refresh: bool) -> Result<JwkSet, UpstreamError> {
        let fresh_enough = if refresh { REFETCH_AFTER } else { KEYS_TTL };
        if let Some(keys) = self.cached(fresh_enough).await {
            return Ok(keys);
        }
        let mut attempt = self.attempt.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(keys) = self.cached(fresh_enough).await {
            return Ok(keys);
        }
        if attempt.is_some_and(|at| at.elapsed() < REFETCH_AFTER) {
            // Fetched (or tried) within the minute: what is cached, however old, is all there is.
            match self.cached(Duration::MAX).await {
                Some(keys) => return Ok(keys),
                None if refresh => return Err(UpstreamError::Status(503)),
                None => {}
            }
        }
        *attempt = Some(Instant::now());
        let resp = http.get(self.url.clone()).send().await.map_err(|e| UpstreamError::from_reqwest(&e))?;
        if !resp.status().is_success() {
            return Err(UpstreamError::Status(resp.status().as_u16()));
        }
        let keys: JwkSet = resp.json().await.map_err(|e| UpstreamError::BadResponse(format!("{}: {e}", self.url)))?;
        *self.fetched.write().await = Some((Instant::now(), keys.clone()));
        Ok(keys)
    }
}
