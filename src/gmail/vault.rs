//! Gmail tokens at rest: AES-256-GCM under the first of `encryption_keys`, each sealed value
//! tagged with its key id (`kid:base64(nonce ‖ ciphertext)`) so that every configured key can
//! open what it sealed and `munji keys rotate-encryption` can move values to the first key.
//! Each value is bound to its connection and field (the AEAD's additional data), so sealed
//! values cannot be swapped between rows or fields.

use base64::{Engine as _, engine::general_purpose::STANDARD_NO_PAD};

use crate::{config::Config, crypto};

/// The configured encryption keys, first one current.
pub struct Vault {
    keys: Vec<(String, [u8; 32])>,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no encryption key is configured (config key `encryption_keys`)")]
    NoKey,
    #[error("a sealed value names key {0:?}, which is not configured")]
    UnknownKey(String),
    #[error("a sealed value does not open (wrong key, or tampered)")]
    Corrupt,
}

impl Vault {
    /// The keys of `encryption_keys`; with `--dev` and none configured, one derived from
    /// `secret_key` so the whole flow runs on a fresh machine.
    pub fn from_config(config: &Config) -> Self {
        let mut keys: Vec<(String, [u8; 32])> = config
            .encryption_keys
            .iter()
            .filter_map(|k| <[u8; 32]>::try_from(k.key.expose()).ok().map(|key| (k.id.clone(), key)))
            .collect();
        if keys.is_empty()
            && config.dev
            && let Some(secret) = &config.secret_key
        {
            keys.push(("dev".to_owned(), crypto::derive_key(secret.expose(), "dev gmail tokens")));
        }
        Self { keys }
    }

    pub fn is_configured(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The id of the key that seals.
    pub fn current_kid(&self) -> Option<&str> {
        self.keys.first().map(|(id, _)| id.as_str())
    }

    /// Seal `plaintext` for `context` (e.g. `"{connection id}/refresh"`) with the first key.
    pub fn seal(&self, context: &str, plaintext: &str) -> Result<String, VaultError> {
        let (kid, key) = self.keys.first().ok_or(VaultError::NoKey)?;
        let sealed = crypto::seal(key, &format!("gmail:{context}"), plaintext.as_bytes());
        Ok(format!("{kid}:{}", STANDARD_NO_PAD.encode(sealed)))
    }

    /// Open a value sealed for `context` by any configured key.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, VaultError> {
        let (kid, body) = sealed.split_once(':').ok_or(VaultError::Corrupt)?;
        let (_, key) =
            self.keys.iter().find(|(id, _)| id == kid).ok_or_else(|| VaultError::UnknownKey(kid.to_owned()))?;
        let bytes = STANDARD_NO_PAD.decode(body).map_err(|_| VaultError::Corrupt)?;
        let plaintext = crypto::open(key, &format!("gmail:{context}"), &bytes).ok_or(VaultError::Corrupt)?;
        String::from_utf8(plaintext).map_err(|_| VaultError::Corrupt)
    }

    /// Whether `sealed` was sealed by the current key (else `rotate-encryption` re-seals it).
    pub fn is_current(&self, sealed: &str) -> bool {
        self.current_kid().is_some_and(|kid| sealed.split_once(':').is_some_and(|(k, _)| k == kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(ids: &[(&str, u8)]) -> Vault {
        Vault { keys: ids.iter().map(|(id, b)| ((*id).to_owned(), [*b; 32])).collect() }
    }

    #[test]
    fn values_open_under_any_configured_key_and_only_in_their_context() {
        let old = vault(&[("k1", 1)]);
        let sealed = old.seal("conn-1/refresh", "1//refresh-token").unwrap();
        assert!(sealed.starts_with("k1:") && !sealed.contains("refresh-token"));
        let rotated = vault(&[("k2", 2), ("k1", 1)]);
        assert_eq!(rotated.open("conn-1/refresh", &sealed).unwrap(), "1//refresh-token");
        assert!(!rotated.is_current(&sealed));
        assert!(rotated.is_current(&rotated.seal("x", "y").unwrap()));
        assert!(matches!(rotated.open("conn-2/refresh", &sealed), Err(VaultError::Corrupt)), "bound to its row");
        assert!(matches!(vault(&[("k2", 2)]).open("conn-1/refresh", &sealed), Err(VaultError::UnknownKey(_))));
        assert!(matches!(vault(&[]).seal("x", "y"), Err(VaultError::NoKey)));
    }
}
