//! Google's Cross-Account Protection (RISC) events (docs/provider-events.md): the Security Event
//! Tokens (RFC 8417) Google pushes, checked against `{issuer_url}/.well-known/risc-configuration`.
//!
//! A token is accepted when its `kid` is one of the keys at the document's `jwks_uri`, it is
//! signed RS256 with that key, its `iss` is the document's `issuer` (compared as fetched, since
//! Google's events may carry a trailing slash its ID tokens do not) and its `aud` is munji's
//! Google client id. `exp` is not checked: an event describes something that already happened.
//!
//! The document and its keys are cached for an hour and fetched again at once when a token
//! names a key the cache does not have, as for Google's sign-in keys (at most once a minute).

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::RwLock;
use url::Url;

use super::UpstreamError;

/// How long a fetched configuration (with its keys) is trusted.
const CONFIG_TTL: Duration = Duration::from_secs(3600);

/// The least time between two fetches for an unknown `kid`, so tokens naming made-up keys cannot
/// make munji fetch Google's keys at every request.
const REFETCH_AFTER: Duration = Duration::from_secs(60);

/// The longest token read: an event is a few hundred bytes.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// One event of a Security Event Token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiscEvent {
    /// The event type URI, e.g. `https://schemas.openid.net/secevent/risc/event-type/sessions-revoked`.
    pub event_type: String,
    /// The Google account it is about (`subject.sub`), when the event names one.
    pub subject: Option<String>,
    /// `subject.email`, sent with the `id_token_claims` subject type.
    pub email: Option<String>,
}

/// A verified Security Event Token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    /// Unique per event; a redelivery repeats it.
    pub jti: String,
    pub events: Vec<RiscEvent>,
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum RiscError {
    /// The token is not a valid event of Google's for munji (the sender gets 400).
    #[error("the security event token was refused: {0}")]
    Refused(String),
    /// Google's configuration or keys could not be fetched, so nothing can be checked now.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// What the RISC configuration document says (the fields munji reads).
#[derive(Debug, Clone, Deserialize)]
struct Configuration {
    issuer: String,
    jwks_uri: Url,
}

#[derive(Clone)]
struct Fetched {
    issuer: String,
    keys: JwkSet,
}

/// The receiver of Google's events for one client id.
pub struct Risc {
    configuration_url: Url,
    client_id: String,
    /// A cache, not state: every instance may hold its own copy.
    fetched: RwLock<Option<(Instant, Fetched)>>,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    iat: i64,
    events: Map<String, Value>,
}

impl Risc {
    /// A receiver whose configuration is at `{issuer_url}/.well-known/risc-configuration`.
    pub(super) fn new(issuer_url: &Url, client_id: &str) -> anyhow::Result<Self> {
        let base = issuer_url.as_str().trim_end_matches('/');
        let configuration_url = Url::parse(&format!("{base}/.well-known/risc-configuration"))?;
        Ok(Self { configuration_url, client_id: client_id.to_owned(), fetched: RwLock::new(None) })
    }

    async fn fetched(&self, http: &reqwest::Client, refresh: bool) -> Result<Fetched, UpstreamError> {
        let fresh_enough = if refresh { REFETCH_AFTER } else { CONFIG_TTL };
        if let Some((at, fetched)) = self.fetched.read().await.as_ref()
            && at.elapsed() < fresh_enough
        {
            return Ok(fetched.clone());
        }
        let configuration: Configuration = get_json(http, &self.configuration_url).await?;
        let keys: JwkSet = get_json(http, &configuration.jwks_uri).await?;
        let fetched = Fetched { issuer: configuration.issuer, keys };
        *self.fetched.write().await = Some((Instant::now(), fetched.clone()));
        Ok(fetched)
    }

    /// Check a pushed token and read its events.
    pub(super) async fn verify(&self, http: &reqwest::Client, token: &str) -> Result<SecurityEvent, RiscError> {
        let refused = |why: &str| RiscError::Refused(why.to_owned());
        if token.len() > MAX_TOKEN_LEN {
            return Err(refused("too long"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| refused("unreadable header"))?;
        // The algorithm is Google's documented one, never the token's choice.
        if header.alg != Algorithm::RS256 {
            return Err(refused("not RS256"));
        }
        let kid = header.kid.ok_or_else(|| refused("no kid"))?;
        let mut fetched = self.fetched(http, false).await?;
        if fetched.keys.find(&kid).is_none() {
            // Perhaps Google rotated its keys since they were cached: fetch once more.
            fetched = self.fetched(http, true).await?;
        }
        let jwk = fetched.keys.find(&kid).ok_or_else(|| refused("unknown kid"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| refused("unusable key"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_issuer(&[&fetched.issuer]);
        validation.set_audience(&[&self.client_id]);
        validation.set_required_spec_claims(&["iss", "aud", "iat"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            refused(match e.kind() {
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidAudience => "wrong audience",
                ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
                _ => "malformed",
            })
        })?;
        super::recent_enough(data.claims.iat, chrono::Utc::now().timestamp())
            .map_err(|why| RiscError::Refused(why.to_owned()))?;
        parse_claims(data.claims).map_err(RiscError::Refused)
    }
}

/// The events of verified claims; an event whose body is not an object, or a blank `jti`, is
/// malformed.
fn parse_claims(claims: Claims) -> Result<SecurityEvent, String> {
    if claims.jti.trim().is_empty() {
        return Err("empty jti".to_owned());
    }
    let mut events = Vec::with_capacity(claims.events.len());
    for (event_type, body) in claims.events {
        let body = body.as_object().ok_or("an event that is not an object")?;
        let subject = body.get("subject").and_then(Value::as_object);
        let field = |name: &str| subject.and_then(|s| s.get(name)).and_then(Value::as_str).map(str::to_owned);
        events.push(RiscEvent { event_type, subject: field("sub"), email: field("email") });
    }
    Ok(SecurityEvent { jti: claims.jti, events })
}

async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &Url) -> Result<T, UpstreamError> {
    let resp = http.get(url.clone()).send().await.map_err(|e| UpstreamError::from_reqwest(&e))?;
    if !resp.status().is_success() {
        return Err(UpstreamError::Status(resp.status().as_u16()));
    }
    let body = resp.bytes().await.map_err(|e| UpstreamError::from_reqwest(&e))?;
    serde_json::from_slice(&body).map_err(|e| UpstreamError::BadResponse(format!("risc {url}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(mut value: Value) -> Claims {
        value["iat"] = json!(1_800_000_000);
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn events_name_their_subject() {
        let event = parse_claims(claims(json!({
            "jti": "756E69717565206964656E746966696572",
            "events": {
                "https://schemas.openid.net/secevent/risc/event-type/account-disabled": {
                    "subject": {"subject_type": "iss-sub", "iss": "https://accounts.google.com/", "sub": "7375626A656374"},
                    "reason": "hijacking"
                },
                "https://schemas.openid.net/secevent/risc/event-type/verification": {"state": "x"}
            }
        })))
        .unwrap();
        assert_eq!(event.jti, "756E69717565206964656E746966696572");
        assert_eq!(event.events.len(), 2);
        let disabled = event.events.iter().find(|e| e.event_type.ends_with("account-disabled")).unwrap();
        assert_eq!(disabled.subject.as_deref(), Some("7375626A656374"));
        assert!(event.events.iter().any(|e| e.event_type.ends_with("verification") && e.subject.is_none()));
    }

    #[test]
    fn a_blank_jti_or_an_event_that_is_not_an_object_is_malformed() {
        assert!(parse_claims(claims(json!({"jti": " ", "events": {}}))).is_err());
        assert!(parse_claims(claims(json!({"jti": "a", "events": {"x": 1}}))).is_err());
    }
}
