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

/// Encrypt `plaintext` with AES-256-GCM under `key`, bound to `context` (the additional data:
/// a value sealed for one purpose does not open for another). The result is nonce ‖ ciphertext.
pub fn seal(key: &[u8; 32], context: &str, plaintext: &[u8]) -> Vec<u8> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    let nonce_bytes: [u8; NONCE_LEN] = random_bytes(NONCE_LEN).try_into().unwrap_or([0; NONCE_LEN]);
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap_or_else(|_| unreachable!("32-byte key")));
    let mut sealed = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(context.as_bytes()), &mut sealed)
        .unwrap_or_else(|_| unreachable!("AES-GCM sealing of an in-memory buffer"));
    [nonce_bytes.as_slice(), &sealed].concat()
}

/// Decrypt what [`seal`] made with the same key and context; `None` if anything differs.
pub fn open(key: &[u8; 32], context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buffer = ciphertext.to_vec();
    let plaintext = key.open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer).ok()?;
    Some(plaintext.to_vec())
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
    fn sealed_values_open_only_with_their_key_and_context() {
        let key = [7u8; 32];
        let sealed = seal(&key, "signing key", b"secret bytes");
        assert!(!sealed.windows(12).any(|w| w == b"secret bytes"));
        assert_eq!(open(&key, "signing key", &sealed).as_deref(), Some(&b"secret bytes"[..]));
        assert_eq!(open(&[8u8; 32], "signing key", &sealed), None);
        assert_eq!(open(&key, "gmail token", &sealed), None);
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert_eq!(open(&key, "signing key", &tampered), None);
        assert_ne!(seal(&key, "signing key", b"x"), seal(&key, "signing key", b"x"), "fresh nonce each time");
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
