//! `munji::oidc::tokens::validate` on arbitrary token strings, against each fixed key of
//! `munji_fuzz::FixedKeys` with that key's algorithm pinned, as `Tokens::verify_access` pins
//! it per `kid`. Beyond "never panics", whatever a key accepts must be a token munji issues:
//! signed with that key's algorithm, for our issuer and audience, not expired.
#![no_main]
// A broken invariant is reported by panicking.
#![allow(clippy::expect_used, clippy::panic)]

use std::{
    sync::LazyLock,
    time::{SystemTime, UNIX_EPOCH},
};

use libfuzzer_sys::fuzz_target;
use munji::oidc::tokens::{LEEWAY_SECS, validate};
use munji_fuzz::{AUDIENCE, FixedKeys, ISSUER};

static KEYS: LazyLock<FixedKeys> = LazyLock::new(FixedKeys::new);

fuzz_target!(|data: &[u8]| {
    // Bearer tokens arrive in header values, which munji reads as text.
    let Ok(token) = std::str::from_utf8(data) else { return };
    // `verify_access` reads the header first to choose the key; it must not fail loudly either.
    let header = jsonwebtoken::decode_header(token).ok();
    for (key, alg) in KEYS.all() {
        let Ok(claims) = validate(token, key, alg, ISSUER, AUDIENCE) else { continue };
        let header = header.as_ref().expect("an accepted token has a readable header");
        assert_eq!(header.alg, alg, "a key accepted a token of another algorithm");
        assert_eq!((claims.iss.as_str(), claims.aud.as_str()), (ISSUER, AUDIENCE));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let leeway = LEEWAY_SECS as i64;
        assert!(claims.exp + leeway >= now, "an expired token was accepted");
        assert!(claims.iat <= now + leeway, "a token issued in the future was accepted");
    }
});
