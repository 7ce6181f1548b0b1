//! Access tokens (RFC 9068 JWTs, `typ: at+jwt`) and ID tokens (`typ: JWT`): claims, minting with
//! the current key, and verification with the algorithm pinned per `kid` (docs/tokens.md).
//!
//! Verification refuses `alg: none` (jsonwebtoken cannot even parse it), HS256 unless
//! `legacy_hs256_secret` is set (and then only with that secret, never a public key, and only
//! for a user's token: services' tokens are always signed with munji's own key), unknown
//! `kid`s, a `typ` other than `at+jwt`, a wrong `aud` or `iss`, expired or not-yet-valid tokens
//! (30 s leeway) and wrongly typed `exp`/`nbf`/`iat` (jsonwebtoken ≥ 10.3 with `exp` required).
//! Key headers (`jku`, `x5u`, `jwk`) are never followed.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use super::{
    keys::Keys,
    verified::{Cached, Expiring, VerifiedTokens},
};

/// Clock leeway for `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 30;

/// The claims of an access token (docs/tokens.md). Service tokens (client credentials) have
/// `sub` = `client_id` and no user claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// When the user of the session signed in (Unix seconds); user tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    pub client_id: String,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl AccessClaims {
    /// Whether this is a user's token (not a service's).
    pub fn is_user(&self) -> bool {
        self.username.is_some()
    }

    /// The user a user's token belongs to. `None` for a service's token, even one whose `sub`
    /// (its client id) happens to parse as a UUID.
    pub fn user_id(&self) -> Option<uuid::Uuid> {
        self.is_user().then(|| self.sub.parse().ok()).flatten()
    }
}

impl Expiring for AccessClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// The claims of an ID token (OpenID Connect Core §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub at_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// What `/end-session` reads from an `id_token_hint`: one of munji's ID tokens, expired or not.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HintClaims {
    pub sub: String,
    /// The client(s) the ID token was issued to.
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    #[serde(default)]
    pub sid: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// The claims of a back-channel logout token (OpenID Connect Back-Channel Logout 1.0 §2.4):
/// no `nonce`, and the logout event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutClaims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sub: String,
    pub sid: String,
    pub events: serde_json::Value,
}

/// The event a logout token carries.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid after it is signed (docs/logout.md: at most two minutes).
pub const LOGOUT_TOKEN_TTL_SECS: i64 = 120;

impl LogoutClaims {
    pub fn new(issuer: &str, client_id: &str, sub: &str, sid: &str, jti: &str, now: i64) -> Self {
        Self {
            iss: issuer.to_owned(),
            aud: client_id.to_owned(),
            iat: now,
            exp: now + LOGOUT_TOKEN_TTL_SECS,
            jti: jti.to_owned(),
            sub: sub.to_owned(),
            sid: sid.to_owned(),
            events: serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
        }
    }
}

/// Why a token was refused. Only a genuinely expired token is `Expired`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid: {0}")]
    Invalid(&'static str),
}

/// Mints and verifies tokens for one issuer and audience.
pub struct Tokens {
    keys: Arc<Keys>,
    pub issuer: String,
    pub audience: String,
    /// `signing_alg = "HS256"`: access tokens are MACed with `legacy_hs256_secret`.
    hs256: Option<(EncodingKey, DecodingKey)>,
    /// Tokens signed with munji's keys that passed every check, by their hash.
    verified: VerifiedTokens<AccessClaims>,
}

impl Tokens {
    pub fn new(keys: Arc<Keys>, issuer: String, audience: String, hs256_secret: Option<&[u8]>) -> Self {
        let hs256 = hs256_secret.map(|s| (EncodingKey::from_secret(s), DecodingKey::from_secret(s)));
        Self { keys, issuer, audience, hs256, verified: VerifiedTokens::new(LEEWAY_SECS) }
    }

    pub fn keys(&self) -> &Arc<Keys> {
        &self.keys
    }

    /// Sign an access token with the current key. In HS256 migration mode a user's token is
    /// MACed with the shared secret instead; a service's token never is, since whoever holds the
    /// secret (the gateway) must not be able to make one.
    pub fn mint_access(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        if claims.is_user()
            && let Some((encoding, _)) = &self.hs256
        {
            let mut header = Header::new(Algorithm::HS256);
            header.typ = Some("at+jwt".to_owned());
            return jsonwebtoken::encode(&header, claims, encoding).map_err(|_| TokenError::Invalid("signing failed"));
        }
        let ring = self.keys.ring();
        let key = ring.current().ok_or(TokenError::Invalid("no signing key"))?;
        Ok(key.sign_jwt("at+jwt", claims))
    }

    /// Sign an ID token; always with the asymmetric current key (the HS256 secret is never
    /// used for ID tokens: docs/tokens.md).
    pub fn mint_id(&self, claims: &IdClaims) -> Result<String, TokenError> {
        let ring = self.keys.ring();
        let key = ring.current().ok_or(TokenError::Invalid("no signing key"))?;
        Ok(key.sign_jwt("JWT", claims))
    }

    /// Sign a back-channel logout token (`typ: logout+jwt`), like an ID token.
    pub fn mint_logout(&self, claims: &LogoutClaims) -> Result<String, TokenError> {
        let ring = self.keys.ring();
        let key = ring.current().ok_or(TokenError::Invalid("no signing key"))?;
        Ok(key.sign_jwt("logout+jwt", claims))
    }

    /// Read an `id_token_hint`: an ID token munji signed (its key, its algorithm, this issuer),
    /// whether or not it has expired. The audience is the caller's to check.
    pub async fn verify_id_token_hint(&self, token: &str) -> Result<HintClaims, TokenError> {
        if token.len() > 8192 {
            return Err(TokenError::Invalid("too long"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid("unreadable header"))?;
        if header.typ.as_deref() != Some("JWT") {
            return Err(TokenError::Invalid("not an ID token"));
        }
        let kid = header.kid.as_deref().ok_or(TokenError::Invalid("no kid"))?;
        let key = self.keys.find(kid).await.ok_or(TokenError::Invalid("unknown kid"))?;
        if key.alg.jwt() != header.alg {
            return Err(TokenError::Invalid("algorithm does not match the key"));
        }
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["iss", "sub", "aud"]);
        jsonwebtoken::decode::<HintClaims>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::Invalid("not an ID token of this issuer"))
    }

    /// Verify an access token for this audience.
    pub async fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if token.len() > 8192 {
            return Err(TokenError::Invalid("too long"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid("unreadable header"))?;
        if header.typ.as_deref() != Some("at+jwt") {
            return Err(TokenError::Invalid("not an access token"));
        }
        match header.alg {
            Algorithm::HS256 => match &self.hs256 {
                Some((_, decoding)) => {
                    let claims = validate(token, decoding, Algorithm::HS256, &self.issuer, &self.audience)?;
                    // munji MACs only users' tokens with the shared secret: a service's token under
                    // it was made by someone else who holds the secret.
                    if !claims.is_user() {
                        return Err(TokenError::Invalid("a service token must be signed with munji's key"));
                    }
                    Ok(claims)
                }
                None => Err(TokenError::Invalid("HS256 is not accepted")),
            },
            alg => {
                let kid = header.kid.as_deref().ok_or(TokenError::Invalid("no kid"))?;
                let key = self.keys.find(kid).await.ok_or(TokenError::Invalid("unknown kid"))?;
                // The algorithm is the key's, never the token's choice.
                if key.alg.jwt() != alg {
                    return Err(TokenError::Invalid("algorithm does not match the key"));
                }
                match self.verified.get(token, chrono::Utc::now().timestamp()) {
                    Cached::Fresh(claims) => return Ok(claims),
                    Cached::Expired => return Err(TokenError::Expired),
                    Cached::Unknown => {}
                }
                let claims = validate(token, &key.decoding, alg, &self.issuer, &self.audience)?;
                self.verified.insert(token, &claims);
                Ok(claims)
            }
        }
    }
}

/// Check an access token's signature (with `key`, for `alg` only) and claims. The key lookup
/// and `typ` check are [`Tokens::verify_access`]'s; this part is synchronous (and benchmarked).
pub fn validate(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
    issuer: &str,
    audience: &str,
) -> Result<AccessClaims, TokenError> {
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<AccessClaims>(token, key, &validation).map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::InvalidAudience => TokenError::Invalid("wrong audience"),
        ErrorKind::InvalidIssuer => TokenError::Invalid("wrong issuer"),
        ErrorKind::ImmatureSignature => TokenError::Invalid("not valid yet"),
        ErrorKind::InvalidSignature => TokenError::Invalid("bad signature"),
        _ => TokenError::Invalid("malformed"),
    })?;
    let now = chrono::Utc::now().timestamp();
    if data.claims.iat > now + LEEWAY_SECS as i64 {
        return Err(TokenError::Invalid("issued in the future"));
    }
    Ok(data.claims)
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the access token's SHA-256, base64url.
pub fn at_hash(access_token: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}
