//! Random values and comparisons of secrets. Depends on nothing else in the crate.

use base64::{Engine as _, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// `n` random bytes from the operating system's generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    // ThreadRng is a CSPRNG reseeded from the operating system.
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// `n` random bytes as standard base64 (for keys an operator may copy into a config file).
pub fn random_base64(n: usize) -> String {
    STANDARD.encode(random_bytes(n))
}

/// `n` random bytes as URL-safe base64 without padding (for ids in URLs and cookies).
pub fn random_token(n: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(n))
}

/// Compare two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.ct_eq(b).into()
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// A key for one purpose, derived from the server secret, so that the state signatures, CSRF
/// tokens and cookie encryption never share a key.
pub fn derive_key(secret: &[u8], purpose: &str) -> [u8; 32] {
    hmac_sha256(secret, format!("munji key derivation: {purpose}").as_bytes())
}

/// `message`'s HMAC as URL-safe base64, for values that travel in URLs and forms.
pub fn sign(key: &[u8], message: &str) -> String {
    URL_SAFE_NO_PAD.encode(hmac_sha256(key, message.as_bytes()))
}

/// Whether `signature` is `message`'s HMAC under `key`, compared in constant time.
pub fn verify(key: &[u8], message: &str, signature: &str) -> bool {
    match URL_SAFE_NO_PAD.decode(signature) {
        Ok(given) => constant_time_eq(&given, &hmac_sha256(key, message.as_bytes())),
        Err(_) => false,
    }
}

/// SHA-256 as lowercase hex: for looking up secrets (session ids) by a value that is useless
/// to whoever reads the store.
pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_differ_and_have_the_asked_length() {
        let a = random_token(32);
        let b = random_token(32);
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
    }

    #[test]
    fn signatures_verify_only_for_their_key_and_message() {
        let sig = sign(b"key", "message");
        assert!(verify(b"key", "message", &sig));
        assert!(!verify(b"other key", "message", &sig));
        assert!(!verify(b"key", "message!", &sig));
        assert!(!verify(b"key", "message", "not base64 !"));
        assert!(!verify(b"key", "message", &sig[..sig.len() - 2]));
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        assert_ne!(derive_key(b"secret", "state"), derive_key(b"secret", "csrf"));
        assert_eq!(derive_key(b"secret", "state"), derive_key(b"secret", "state"));
    }

    #[test]
    fn constant_time_eq_tells_equal_from_unequal() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
    }
}
