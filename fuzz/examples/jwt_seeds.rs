//! Writes the `jwt_validation` seed corpus: tokens signed with `munji_fuzz::FixedKeys`, good
//! ones and the classic bad ones, so the fuzzer starts from inputs that reach every check.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example jwt_seeds -- fuzz/corpus/jwt_validation`
//! (ES256 signatures are randomized, so a rerun changes those files' bytes, not their meaning).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a generator: failing loudly is the point

use std::{fs, path::PathBuf};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use munji_fuzz::{AUDIENCE, FixedKeys, HS256_SECRET, ISSUER};
use serde_json::{Value, json};

/// 2100-01-01: seeds stay valid for as long as anyone fuzzes this code.
const FAR_FUTURE: i64 = 4_102_444_800;
const ISSUED: i64 = 1_700_000_000;

fn access_claims() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "7b0e6c1e-2f4a-4d55-9c38-5f0f1c2d3e4f",
        "exp": FAR_FUTURE, "iat": ISSUED, "jti": "kq2X0r9sY1bT4wZ8nM3vHg", "sid": "c0l9Qm2PZx7Vt1yR",
        "client_id": "web", "scope": "openid profile email",
        "preferred_username": "kim.minsu", "username": "kim.minsu", "email": "kim.minsu@example.com",
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// A token with any header and no signature (what `alg: none` attacks send).
fn unsigned(header: &Value, claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!("{}.{}.", part(header), part(claims))
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus/jwt_validation".into()));
    fs::create_dir_all(&dir).unwrap();
    let keys = FixedKeys::new();
    let claims = access_claims();
    let seeds = [
        ("es256-access", keys.es256.sign_jwt("at+jwt", &claims)),
        ("eddsa-access", keys.eddsa.sign_jwt("at+jwt", &claims)),
        ("hs256-access", hs256(&claims, HS256_SECRET)),
        ("es256-expired", keys.es256.sign_jwt("at+jwt", &with(claims.clone(), "exp", json!(ISSUED + 3600)))),
        ("eddsa-wrong-audience", keys.eddsa.sign_jwt("at+jwt", &with(claims.clone(), "aud", json!("other")))),
        ("eddsa-not-before", keys.eddsa.sign_jwt("at+jwt", &with(claims.clone(), "nbf", json!(FAR_FUTURE - 1)))),
        ("es256-string-exp", keys.es256.sign_jwt("at+jwt", &with(claims.clone(), "exp", json!("4102444800")))),
        ("hs256-wrong-secret", hs256(&claims, b"not-the-secret-not-the-secret-000")),
        ("alg-none", unsigned(&json!({"alg": "none", "typ": "at+jwt"}), &claims)),
        (
            "jku-header",
            unsigned(&json!({"alg": "RS256", "typ": "at+jwt", "jku": "https://evil.example/jwks"}), &claims),
        ),
    ];
    for (name, token) in seeds {
        fs::write(dir.join(name), token).unwrap();
    }
}
