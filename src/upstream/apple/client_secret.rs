//! Sign in with Apple's client secret (docs/providers.md): not a fixed string but an ES256 JWT
//! munji signs with the team's `.p8` key. Header `kid` = the key id; claims `iss` = the team id,
//! `sub` = the Services ID (`client_id`), `aud` = `https://appleid.apple.com` whatever
//! `issuer_url` says, `iat` and `exp`.
//!
//! Apple accepts lifetimes up to six months; munji signs one for an hour, keeps it, and signs a
//! new one once less than ten minutes are left, so a secret is never sent close to its expiry.

use std::sync::Mutex;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::ExposeSecret as _;
use serde::Serialize;

use crate::config::AppleConfig;
use crate::upstream::UpstreamError;

/// The audience of every Apple client secret.
pub const CLIENT_SECRET_AUDIENCE: &str = "https://appleid.apple.com";

/// How long a signed client secret is valid.
pub const CLIENT_SECRET_LIFETIME: i64 = 3600;

/// A cached secret is replaced once it has less than this left.
const RENEW_BEFORE: i64 = 600;

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// Signs and caches the client secret.
pub struct ClientSecret {
    key: EncodingKey,
    key_id: String,
    team_id: String,
    client_id: String,
    /// `(exp, secret)` of the last one signed.
    cached: Mutex<Option<(i64, String)>>,
}

impl ClientSecret {
    pub fn new(settings: &AppleConfig) -> anyhow::Result<Self> {
        let key = EncodingKey::from_ec_pem(settings.private_key.expose_secret().as_bytes())
            .map_err(|e| anyhow::anyhow!("config key `providers.apple.private_key`: {e}"))?;
        Ok(Self {
            key,
            key_id: settings.key_id.clone(),
            team_id: settings.team_id.clone(),
            client_id: settings.client_id.clone(),
            cached: Mutex::new(None),
        })
    }

    /// The secret to send at `now` (seconds since the epoch): the cached one while it has more
    /// than ten minutes left, else a fresh one.
    pub fn at(&self, now: i64) -> Result<String, UpstreamError> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((exp, secret)) = cached.as_ref()
            && exp - now > RENEW_BEFORE
        {
            return Ok(secret.clone());
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = Claims {
            iss: &self.team_id,
            sub: &self.client_id,
            aud: CLIENT_SECRET_AUDIENCE,
            iat: now,
            exp: now + CLIENT_SECRET_LIFETIME,
        };
        let secret = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| UpstreamError::BadResponse(format!("signing the Apple client secret: {e}")))?;
        *cached = Some((claims.exp, secret.clone()));
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation, jwk::Jwk};
    use serde_json::Value;

    use super::*;

    const P8: &str = include_str!("../../../fixtures/keys/dev-apple-es256.p8");

    fn settings(private_key: &str) -> AppleConfig {
        AppleConfig {
            client_id: "kr.example.web".into(),
            team_id: "TEAM123456".into(),
            key_id: "KEY1234567".into(),
            private_key: private_key.to_owned().into(),
            issuer_url: url::Url::parse("http://127.0.0.1:9/dev/apple").unwrap(),
            legacy_email_trust: crate::config::EmailTrust::Verified,
        }
    }

    fn decode(secret: &str) -> (Header, Value) {
        let key = EncodingKey::from_ec_pem(P8.as_bytes()).unwrap();
        let jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[CLIENT_SECRET_AUDIENCE]);
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<Value>(secret, &DecodingKey::from_jwk(&jwk).unwrap(), &validation).unwrap();
        (data.header, data.claims)
    }

    #[test]
    fn the_secret_carries_the_claims_apple_asks_for_whatever_the_issuer_url() {
        let signer = ClientSecret::new(&settings(P8)).unwrap();
        let (header, claims) = decode(&signer.at(1_800_000_000).unwrap());
        assert_eq!((header.alg, header.kid.as_deref()), (Algorithm::ES256, Some("KEY1234567")));
        assert_eq!(claims["iss"], "TEAM123456");
        assert_eq!(claims["sub"], "kr.example.web");
        assert_eq!(claims["aud"], "https://appleid.apple.com");
        assert_eq!(claims["iat"], 1_800_000_000);
        assert_eq!(claims["exp"], 1_800_000_000 + CLIENT_SECRET_LIFETIME);
    }

    #[test]
    fn the_secret_is_cached_and_renewed_before_it_expires() {
        let signer = ClientSecret::new(&settings(P8)).unwrap();
        let first = signer.at(1_800_000_000).unwrap();
        assert_eq!(signer.at(1_800_000_000 + CLIENT_SECRET_LIFETIME - RENEW_BEFORE - 1).unwrap(), first);
        let renewed = signer.at(1_800_000_000 + CLIENT_SECRET_LIFETIME - RENEW_BEFORE).unwrap();
        assert_ne!(renewed, first);
        assert_eq!(decode(&renewed).1["iat"], 1_800_000_000 + CLIENT_SECRET_LIFETIME - RENEW_BEFORE);
    }

    #[test]
    fn a_key_that_is_not_a_p256_pem_is_refused() {
        for bad in ["", "not a key", include_str!("../../../fixtures/keys/dev-google-rsa.pem")] {
            assert!(ClientSecret::new(&settings(bad)).is_err(), "{bad:.20}");
        }
    }
}
