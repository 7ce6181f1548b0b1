#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark: failing loudly is the point
//! Token minting and verification beside the raw signature operation of the same algorithm,
//! in the same run: `cargo bench --bench tokens`. The ratios are what matter (docs/operations.md:
//! minting should reach ≥ 0.8× the raw signing rate, verification ≥ 0.9× raw verify).

use std::hint::black_box;

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{self, KeyPair as _, UnparsedPublicKey},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use munji::oidc::{
    keys::{KeyAlg, SigningKey},
    tokens::{AccessClaims, validate},
};

const ISSUER: &str = "https://id.example";

fn claims() -> AccessClaims {
    let now = chrono::Utc::now().timestamp();
    AccessClaims {
        iss: ISSUER.into(),
        aud: ISSUER.into(),
        sub: "7b0e6c1e-2f4a-4d55-9c38-5f0f1c2d3e4f".into(),
        exp: now + 3600,
        iat: now,
        jti: "kq2X0r9sY1bT4wZ8nM3vHg".into(),
        sid: Some("c0l9Qm2PZx7Vt1yR".into()),
        auth_time: Some(now - 60),
        client_id: "web".into(),
        scope: "openid profile email".into(),
        preferred_username: Some("kim.minsu".into()),
        username: Some("kim.minsu".into()),
        email: Some("kim.minsu@example.com".into()),
    }
}

fn bench_alg(c: &mut Criterion, alg: KeyAlg) {
    let (key, pkcs8) = SigningKey::generate(alg).expect("key");
    let claims = claims();
    let token = key.sign_jwt("at+jwt", &claims);
    let (signing_input, signature_b64) = token.rsplit_once('.').expect("jws");
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).expect("b64");
    let rng = SystemRandom::new();
    let mut group = c.benchmark_group(alg.as_str());

    // The raw operations, on a message of the same length as the signing input.
    let message = signing_input.as_bytes().to_vec();
    match alg {
        KeyAlg::ES256 => {
            let pair =
                signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).expect("ec");
            let public =
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref().to_vec());
            group.bench_function("raw sign", |b| b.iter(|| pair.sign(&rng, black_box(&message)).expect("sign")));
            group.bench_function("raw verify", |b| {
                b.iter(|| public.verify(black_box(&message), &signature).expect("verify"))
            });
        }
        KeyAlg::EdDSA => {
            let pair = signature::Ed25519KeyPair::from_pkcs8(&pkcs8).expect("ed");
            let public = UnparsedPublicKey::new(&signature::ED25519, pair.public_key().as_ref().to_vec());
            group.bench_function("raw sign", |b| b.iter(|| pair.sign(black_box(&message))));
            group.bench_function("raw verify", |b| {
                b.iter(|| public.verify(black_box(&message), &signature).expect("verify"))
            });
        }
        KeyAlg::RS256 => {
            let pair = signature::RsaKeyPair::from_pkcs8(&pkcs8).expect("rsa");
            let public =
                UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref().to_vec());
            let mut out = vec![0; pair.public_modulus_len()];
            group.bench_function("raw sign", |b| {
                b.iter(|| pair.sign(&signature::RSA_PKCS1_SHA256, &rng, black_box(&message), &mut out).expect("sign"))
            });
            group.bench_function("raw verify", |b| {
                b.iter(|| public.verify(black_box(&message), &signature).expect("verify"))
            });
        }
    }
    // munji: claims → JSON → base64 → signature, and header + signature + claims checks.
    group.bench_function("munji mint", |b| b.iter(|| key.sign_jwt("at+jwt", black_box(&claims))));
    group.bench_function("munji verify", |b| {
        b.iter(|| validate(black_box(&token), &key.decoding, alg.jwt(), ISSUER, ISSUER).expect("valid"))
    });
    group.finish();
}

fn tokens(c: &mut Criterion) {
    for alg in [KeyAlg::ES256, KeyAlg::EdDSA, KeyAlg::RS256] {
        bench_alg(c, alg);
    }
}

criterion_group!(benches, tokens);
criterion_main!(benches);
