//! Access tokens whose signature and claims were already checked (docs/tokens.md, "Verified tokens").
//!
//! An app or the gateway shows the same access token again and again during its lifetime, and
//! an ES256 signature check costs far more than the rest of `/api/v1/verify`. A token is kept
//! here, under the SHA-256 of its exact text, once it has passed every check; the same text
//! again skips the signature but never the clock: `exp` is compared on every use. The signing
//! key is still looked up by the caller on every use, so a key removed from the ring refuses its
//! tokens at once. Liveness (revocation, sign-out) is not this cache's business: it is checked
//! in the ephemeral store on every request, cached or not.

use quick_cache::sync::Cache;
use sha2::{Digest as _, Sha256};

use super::tokens::{AccessClaims, LEEWAY_SECS, TokenError};

/// How many verified tokens are kept; the least used go first. A few megabytes at most.
const CAPACITY: usize = 10_000;

pub struct VerifiedTokens {
    cache: Cache<[u8; 32], AccessClaims>,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl VerifiedTokens {
    pub fn with_capacity(capacity: usize) -> Self {
        Self { cache: Cache::new(capacity) }
    }

    /// The claims of `token` if it was verified before: `Ok(None)` when it never was,
    /// `Err(Expired)` when it was but its time is over at `now` (Unix seconds).
    pub fn get(&self, token: &str, now: i64) -> Result<Option<AccessClaims>, TokenError> {
        let Some(claims) = self.cache.get(&digest(token)) else {
            return Ok(None);
        };
        // The same rule as the full check: expired once `exp` is behind by more than the leeway.
        if claims.exp < now - LEEWAY_SECS as i64 {
            return Err(TokenError::Expired);
        }
        Ok(Some(claims))
    }

    /// Keep `claims` as the verified content of `token`.
    pub fn insert(&self, token: &str, claims: &AccessClaims) {
        self.cache.insert(digest(token), claims.clone());
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            iss: "https://id.example".into(),
            aud: "api".into(),
            sub: "u1".into(),
            exp,
            iat: exp - 900,
            jti: "j1".into(),
            sid: None,
            auth_time: None,
            client_id: "app".into(),
            scope: "openid".into(),
            preferred_username: None,
            username: Some("han".into()),
            email: None,
        }
    }

    #[test]
    fn only_the_exact_text_that_was_verified_is_found() {
        let cache = VerifiedTokens::with_capacity(8);
        cache.insert("a.b.c", &claims(1_000));
        assert_eq!(cache.get("a.b.c", 900).unwrap(), Some(claims(1_000)));
        assert_eq!(cache.get("a.b.d", 900).unwrap(), None, "another signature is another token");
        assert_eq!(cache.get("a.b.c ", 900).unwrap(), None);
    }

    #[test]
    fn a_cached_token_expires_like_a_checked_one() {
        let cache = VerifiedTokens::with_capacity(8);
        cache.insert("t", &claims(1_000));
        assert!(cache.get("t", 1_000 + LEEWAY_SECS as i64).unwrap().is_some(), "within the leeway");
        assert!(matches!(cache.get("t", 1_001 + LEEWAY_SECS as i64), Err(TokenError::Expired)));
    }

    #[test]
    fn the_cache_holds_no_more_than_its_capacity() {
        let cache = VerifiedTokens::with_capacity(16);
        for i in 0..1_000 {
            cache.insert(&format!("token-{i}"), &claims(1_000));
        }
        let kept = (0..1_000).filter(|i| cache.get(&format!("token-{i}"), 0).unwrap().is_some()).count();
        assert!(kept <= 32, "{kept} kept");
    }
}
