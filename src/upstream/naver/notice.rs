//! Naver's unlink notification (docs/provider-events.md): Naver posts `clientId`,
//! `encryptUniqueId`, `timestamp` and `signature` when a person disconnects munji in their Naver
//! account or leaves Naver.
//!
//! One 16-byte key serves both purposes: the MD5 of the client secret. The signature is
//! `base64url(HMAC-SHA256(key, "clientId={clientId}&encryptUniqueId={encryptUniqueId}&timestamp={timestamp}"))`
//! over the received values; the unique id is `base64url(iv ‖ AES-128-CBC-PKCS#7(id))`. Naver
//! writes URL-safe base64 without padding but its own reader is lenient, so either alphabet,
//! padded or not, is read. [`seal`] is the sender's half, for the dev provider.

use aws_lc_rs::{
    cipher::{
        AES_128, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey,
        UnboundCipherKey,
    },
    iv::FixedLength,
};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD},
};
use md5::Digest as _;

use crate::crypto;

/// How far a notice's `timestamp` may be from now, either way (seconds).
pub const MAX_AGE_SECS: i64 = 300;

/// The fields of one notification, as received.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    pub client_id: String,
    pub encrypt_unique_id: String,
    pub timestamp: String,
    pub signature: String,
}

/// Why a notification is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    #[error("the notification is for another client")]
    OtherClient,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the timestamp is missing or more than five minutes away")]
    Stale,
    #[error("the unique id cannot be decrypted")]
    Undecryptable,
}

fn key(client_secret: &str) -> [u8; 16] {
    md5::Md5::digest(client_secret.as_bytes()).into()
}

fn signed_text(notice: &Notice) -> String {
    format!("clientId={}&encryptUniqueId={}&timestamp={}", notice.client_id, notice.encrypt_unique_id, notice.timestamp)
}

/// Base64 in either alphabet, with or without padding.
fn lenient_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().trim_end_matches('=');
    URL_SAFE_NO_PAD.decode(text).or_else(|_| STANDARD_NO_PAD.decode(text)).ok()
}

/// Check a notification for `client_id` (signature in constant time, then the timestamp
/// within [`MAX_AGE_SECS`] of `now`) and return the person's Naver id.
pub fn open(client_id: &str, client_secret: &str, notice: &Notice, now: i64) -> Result<String, NoticeError> {
    let key = key(client_secret);
    let expected = crypto::hmac_sha256(&key, signed_text(notice).as_bytes());
    let given = lenient_base64(&notice.signature).unwrap_or_default();
    if !crypto::constant_time_eq(&given, &expected) {
        return Err(NoticeError::BadSignature);
    }
    if !crypto::constant_time_eq(notice.client_id.as_bytes(), client_id.as_bytes()) {
        return Err(NoticeError::OtherClient);
    }
    let at: i64 = notice.timestamp.trim().parse().map_err(|_| NoticeError::Stale)?;
    if (now - at).abs() > MAX_AGE_SECS {
        return Err(NoticeError::Stale);
    }
    decrypt(&key, &notice.encrypt_unique_id).ok_or(NoticeError::Undecryptable)
}

fn decrypt(key: &[u8; 16], sealed: &str) -> Option<String> {
    let bytes = lenient_base64(sealed)?;
    let (iv, ciphertext) = bytes.split_at_checked(16)?;
    let iv: [u8; 16] = iv.try_into().ok()?;
    let cipher = PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_128, key).ok()?).ok()?;
    let mut buffer = ciphertext.to_vec();
    let plain = cipher.decrypt(&mut buffer, DecryptionContext::Iv128(FixedLength::from(iv))).ok()?;
    let id = String::from_utf8(plain.to_vec()).ok()?;
    (!id.trim().is_empty()).then(|| id.trim().to_owned())
}

/// The notification Naver would send about `unique_id` at `timestamp` (the dev provider's half).
pub fn seal(client_id: &str, client_secret: &str, unique_id: &str, timestamp: i64) -> Notice {
    let key = key(client_secret);
    let iv: [u8; 16] = crypto::random_bytes(16).try_into().unwrap_or([0; 16]);
    let mut sealed = unique_id.as_bytes().to_vec();
    let encrypted = UnboundCipherKey::new(&AES_128, &key)
        .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
        .and_then(|cipher| cipher.less_safe_encrypt(&mut sealed, EncryptionContext::Iv128(FixedLength::from(iv))));
    if encrypted.is_err() {
        sealed.clear();
    }
    let mut notice = Notice {
        client_id: client_id.to_owned(),
        encrypt_unique_id: URL_SAFE_NO_PAD.encode([iv.as_slice(), &sealed].concat()),
        timestamp: timestamp.to_string(),
        signature: String::new(),
    };
    notice.signature = URL_SAFE_NO_PAD.encode(crypto::hmac_sha256(&key, signed_text(&notice).as_bytes()));
    notice
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000;

    #[test]
    fn a_sealed_notice_opens_to_its_id() {
        let notice = seal("client", "secret", "32dja0-naver-id", NOW);
        assert_eq!(open("client", "secret", &notice, NOW + 10), Ok("32dja0-naver-id".to_owned()));
    }

    #[test]
    fn padded_standard_base64_is_read_too() {
        let mut notice = seal("client", "secret", "id-1", NOW);
        let raw = URL_SAFE_NO_PAD.decode(&notice.signature).unwrap();
        notice.signature = base64::engine::general_purpose::STANDARD.encode(raw);
        assert_eq!(open("client", "secret", &notice, NOW), Ok("id-1".to_owned()));
    }

    #[test]
    fn a_wrong_secret_a_changed_field_or_an_old_timestamp_is_refused() {
        let notice = seal("client", "secret", "id-1", NOW);
        assert_eq!(open("client", "other secret", &notice, NOW), Err(NoticeError::BadSignature));
        let mut changed = notice.clone();
        changed.timestamp = (NOW + 1).to_string();
        assert_eq!(open("client", "secret", &changed, NOW), Err(NoticeError::BadSignature));
        let mut swapped = notice.clone();
        swapped.encrypt_unique_id = seal("client", "secret", "id-2", NOW).encrypt_unique_id;
        assert_eq!(open("client", "secret", &swapped, NOW), Err(NoticeError::BadSignature));
        assert_eq!(open("client", "secret", &notice, NOW + MAX_AGE_SECS + 1), Err(NoticeError::Stale));
        assert_eq!(open("other", "secret", &notice, NOW), Err(NoticeError::OtherClient));
        let unsigned = Notice { signature: String::new(), ..notice };
        assert_eq!(open("client", "secret", &unsigned, NOW), Err(NoticeError::BadSignature));
    }
}
