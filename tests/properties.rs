//! Property tests (proptest): rules that must hold for every input, not only the examples the
//! unit tests pick. Redirect-URI matching and registration (docs/tokens.md, and the near misses
//! of docs/security.md) and the username rules (src/identity/username.rs).
//!
//! A failing case is shrunk and printed, and its seed is saved in
//! `tests/properties/<module>.proptest-regressions` (keep it in git): those cases run first,
//! every time. `PROPTEST_CASES=5000 cargo test --test properties` searches harder.

// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The modules live in tests/properties/, where Cargo does not take them for test binaries.
#[path = "properties/redirect_uris.rs"]
mod redirect_uris;
#[path = "properties/usernames.rs"]
mod usernames;
