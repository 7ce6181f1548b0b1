//! Access tokens whose signature and claims were already checked (docs/tokens.md, "Verified tokens").
//!
//! An app or the gateway shows the same access token again and again during its lifetime, and
//! an ES256 signature check costs far more than the rest of `/api/v1/verify`. A token is kept
//! here, under the SHA-256 of its exact text, once it has passed every check; the same text
//! again skips the signature but never the clock: `exp` is compared on every use. The signing
//! key is still looked up by the caller on every use, so a key removed from the ring refuses its
//! tokens at once. Liveness (revocation, sign-out) is not this cache's business: it is checked
//! in the ephemeral store on every request, cached or not.
//!
//! The cache knows nothing of the claims but their expiry, so the token code depends on it and
//! not the other way round.

use quick_cache::sync::Cache;
use sha2::{Digest as _, Sha256};

/// How many verified tokens are kept; the least used go first. A few megabytes at most.
const CAPACITY: usize = 10_000;

/// Claims that end at a moment: `exp`, in Unix seconds.
pub trait Expiring: Clone {
    fn exp(&self) -> i64;
}

/// What the cache knows of a token's text.
#[derive(Debug, PartialEq)]
pub enum Cached<C> {
    /// Never verified (or forgotten): check it in full.
    Unknown,
    /// Verified before and still within its time.
    Fresh(C),
    /// Verified before, but its time is over.
    Expired,
}

pub struct VerifiedTokens<C> {
    cache: Cache<[u8; 32], C>,
    /// Seconds a token stays good after `exp`, the same as the full check allows.
    leeway: i64,
}

impl<C: Expiring> VerifiedTokens<C> {
    pub fn new(leeway: u64) -> Self {
        Self::with_capacity(CAPACITY, leeway)
    }

    pub fn with_capacity(capacity: usize, leeway: u64) -> Self {
        Self { cache: Cache::new(capacity), leeway: leeway as i64 }
    }

    /// What is known of `token` at `now` (Unix seconds).
    pub fn get(&self, token: &str, now: i64) -> Cached<C> {
        match self.cache.get(&digest(token)) {
            None => Cached::Unknown,
            // The same rule as the full check: expired once `exp` is behind by more than the leeway.
            Some(claims) if claims.exp() < now - self.leeway => Cached::Expired,
            Some(claims) => Cached::Fresh(claims),
        }
    }

    /// Keep `claims` as the verified content of `token`.
    pub fn insert(&self, token: &str, claims: &C) {
        self.cache.insert(digest(token), claims.clone());
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEEWAY: u64 = 30;

    #[derive(Clone, Debug, PartialEq)]
    struct Claims {
        sub: &'static str,
        exp: i64,
    }

    impl Expiring for Claims {
        fn exp(&self) -> i64 {
            self.exp
        }
    }

    fn claims(exp: i64) -> Claims {
        Claims { sub: "u1", exp }
    }

    #[test]
    fn only_the_exact_text_that_was_verified_is_found() {
        let cache = VerifiedTokens::with_capacity(8, LEEWAY);
        cache.insert("a.b.c", &claims(1_000));
        assert_eq!(cache.get("a.b.c", 900), Cached::Fresh(claims(1_000)));
        assert_eq!(cache.get("a.b.d", 900), Cached::Unknown, "another signature is another token");
        assert_eq!(cache.get("a.b.c ", 900), Cached::Unknown);
    }

    #[test]
    fn a_cached_token_expires_like_a_checked_one() {
        let cache = VerifiedTokens::with_capacity(8, LEEWAY);
        cache.insert("t", &claims(1_000));
        assert!(matches!(cache.get("t", 1_000 + LEEWAY as i64), Cached::Fresh(_)), "within the leeway");
        assert_eq!(cache.get("t", 1_001 + LEEWAY as i64), Cached::Expired);
    }

    #[test]
    fn the_cache_holds_no_more_than_its_capacity() {
        let cache = VerifiedTokens::with_capacity(16, LEEWAY);
        for i in 0..1_000 {
            cache.insert(&format!("token-{i}"), &claims(1_000));
        }
        let kept = (0..1_000).filter(|i| matches!(cache.get(&format!("token-{i}"), 0), Cached::Fresh(_))).count();
        assert!(kept <= 32, "{kept} kept");
    }
}
