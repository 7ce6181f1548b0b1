//! What the fuzz targets share: fixed signing keys, so that a token in the seed corpus (made by
//! `cargo run --example jwt_seeds`) still verifies in every later run. Real keys are random
//! ([`SigningKey::generate`]); here each is made from a constant seed instead.

// Fuzz harness code: a broken fixture should stop the run loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use jsonwebtoken::{Algorithm, DecodingKey};
use munji::oidc::keys::{KeyAlg, SigningKey};

/// The issuer and audience the targets validate against (what the seed tokens carry).
pub const ISSUER: &str = "https://id.example";
pub const AUDIENCE: &str = "https://id.example";

/// The `legacy_hs256_secret` of the HS256 migration mode (at least 32 bytes:
/// docs/configuration.md).
pub const HS256_SECRET: &[u8] = b"fuzz-legacy-hs256-secret-0123456789";

/// PKCS#8 v1 of an Ed25519 key: a fixed DER prefix, then the 32-byte seed (RFC 8410 §7).
const ED25519_PKCS8_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// PKCS#8 v1 of a P-256 key without the optional public key (AWS-LC derives it): a fixed DER
/// prefix (id-ecPublicKey, prime256v1, ECPrivateKey version 1), then the 32-byte scalar.
const P256_PKCS8_PREFIX: [u8; 35] = [
    0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27, 0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20,
];

/// The seed of both asymmetric keys (any 32 bytes below the P-256 group order will do).
const SEED: [u8; 32] = *b"munji fuzz fixed key seed 000001";

/// The fuzz targets' keys: one per algorithm that access tokens can be verified with.
pub struct FixedKeys {
    pub es256: SigningKey,
    pub eddsa: SigningKey,
    pub hs256: DecodingKey,
}

impl FixedKeys {
    pub fn new() -> Self {
        let es256 = SigningKey::from_pkcs8("fuzz-es256", KeyAlg::ES256, &[&P256_PKCS8_PREFIX[..], &SEED].concat())
            .expect("the fixed P-256 key");
        let eddsa = SigningKey::from_pkcs8("fuzz-eddsa", KeyAlg::EdDSA, &[&ED25519_PKCS8_PREFIX[..], &SEED].concat())
            .expect("the fixed Ed25519 key");
        Self { es256, eddsa, hs256: DecodingKey::from_secret(HS256_SECRET) }
    }

    /// Every (key, algorithm) pair that munji's verification may pin.
    pub fn all(&self) -> [(&DecodingKey, Algorithm); 3] {
        [
            (&self.es256.decoding, Algorithm::ES256),
            (&self.eddsa.decoding, Algorithm::EdDSA),
            (&self.hs256, Algorithm::HS256),
        ]
    }
}

impl Default for FixedKeys {
    fn default() -> Self {
        Self::new()
    }
}
