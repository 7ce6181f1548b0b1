//! The OAuth callback's query string (`GET /callback/{provider}?code=…&state=…&error=…`) and
//! the signed `state` in it. The input is the raw query string.
//!
//! The query is read the way poem's `Query<CallbackQuery>` extractor reads it
//! (`serde_urlencoded::from_str`) into a copy of the handler's private `CallbackQuery`
//! (src/http/pages/callback.rs); its `state` then goes to `StateSigner::verify`, the
//! signature check that `StateSigner::finish` runs before it touches the store.
//!
//! Beyond "never panics": a forged state is refused, and the id of any state, signed with the
//! server's key, verifies exactly when munji would have accepted it (no `.`, 128 bytes at most).
#![no_main]
// A broken invariant is reported by panicking.
#![allow(clippy::panic)]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use munji::{crypto, upstream::state::StateSigner};
use serde::Deserialize;

/// The server secret of this run.
const SECRET: &[u8] = b"fuzz-server-secret-of-at-least-32-bytes";

static SIGNER: LazyLock<StateSigner> = LazyLock::new(|| StateSigner::new(SECRET));
/// The key `StateSigner::new` derives (same purpose string), so the target can sign ids itself.
static KEY: LazyLock<[u8; 32]> = LazyLock::new(|| crypto::derive_key(SECRET, "oauth state"));

/// Mirrors `CallbackQuery` in src/http/pages/callback.rs (fields and types).
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // `code` and `error` are only deserialized, as the handler's are at first
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fuzz_target!(|data: &[u8]| {
    // A URI's query is text: poem hands the extractor a `&str`.
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let Ok(query) = serde_urlencoded::from_str::<CallbackQuery>(raw) else { return };
    let state = query.state.as_deref();

    // Fuzzed bytes carry no valid signature, short of the fuzzer finding an HMAC-SHA256.
    if let Ok(id) = SIGNER.verify(state) {
        let state = state.unwrap_or_default();
        assert_eq!(state, format!("{id}.{}", crypto::sign(&*KEY, id)), "a forged state verified");
    }

    // Sign the presented id the way `StateSigner::begin` does: that state must verify exactly
    // when it is one munji could have issued, and name the same id.
    let id = state.map_or("", |s| s.split_once('.').map_or(s, |(id, _)| id));
    let signed = format!("{id}.{}", crypto::sign(&*KEY, id));
    match SIGNER.verify(Some(&signed)) {
        Ok(verified) => {
            assert_eq!(verified, id);
            assert!(signed.len() <= 128, "an over-long state verified");
        }
        Err(e) => assert!(signed.len() > 128, "a state signed with the server key was refused: {e}"),
    }
});
