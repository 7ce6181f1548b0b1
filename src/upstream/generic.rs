//! Any OpenID Connect provider from `[providers.oidc.NAME]` (docs/providers.md): endpoints and
//! keys from `{issuer_url}/.well-known/openid-configuration`, PKCE S256 and a nonce on every
//! request, the code redeemed with `client_secret_post`, and the ID token checked for signature,
//! issuer, audience, expiry and nonce. The uid is the configured `uid_claim`.
//!
//! Two departures from a strict discovery-driven client, each for a real provider:
//! - `id_token_hs256`: the ID token may be signed with HS256 keyed with the client secret (LINE's
//!   web login). Accepted only here, for the token of munji's own code exchange.
//! - A discovery `issuer` holding `{tenantid}` (Microsoft Entra's multi-tenant endpoints): the
//!   token's `tid` replaces it, and `iss` must then equal the result exactly.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::RwLock;
use url::Url;

use super::{AuthRequest, Credentials, Grant, Provider, UpstreamError, UpstreamProfile, non_empty};
use crate::{config::OidcProviderConfig, crypto};

/// How long a fetched discovery document (with its keys) is trusted.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// What munji reads of a discovery document.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
}

#[derive(Clone)]
struct Metadata {
    discovery: Discovery,
    keys: JwkSet,
}

/// A configured generic OpenID Connect provider.
pub struct Generic {
    provider: Provider,
    credentials: Credentials,
    issuer_url: Url,
    scopes: String,
    uid_claim: String,
    id_token_hs256: bool,
    /// A cache, not state: every instance may hold its own copy.
    metadata: RwLock<Option<(Instant, Metadata)>>,
}

/// Who the ID token is for and what it must say, for [`verify_id_token`].
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub uid_claim: &'a str,
    /// The HS256 key (the client secret) when the provider signs that way.
    pub hs256_key: Option<&'a [u8]>,
}

impl Generic {
    pub(super) fn new(provider: Provider, credentials: Credentials, settings: &OidcProviderConfig) -> Self {
        Self {
            provider,
            credentials,
            issuer_url: settings.issuer_url.clone(),
            scopes: settings.scopes.join(" "),
            uid_claim: settings.uid_claim.clone(),
            id_token_hs256: settings.id_token_hs256,
            metadata: RwLock::new(None),
        }
    }

    async fn metadata(&self, http: &reqwest::Client, refresh: bool) -> Result<Metadata, UpstreamError> {
        if !refresh
            && let Some((fetched, metadata)) = self.metadata.read().await.as_ref()
            && fetched.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let base = self.issuer_url.as_str().trim_end_matches('/');
        let discovery: Discovery = get_json(http, &format!("{base}/.well-known/openid-configuration")).await?;
        let keys: JwkSet = get_json(http, discovery.jwks_uri.as_str()).await?;
        let metadata = Metadata { discovery, keys };
        *self.metadata.write().await = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    pub(super) async fn authorization_endpoint(&self, http: &reqwest::Client) -> Result<Url, UpstreamError> {
        Ok(self.metadata(http, false).await?.discovery.authorization_endpoint)
    }

    pub(super) async fn authorize_url(
        &self,
        http: &reqwest::Client,
        request: &AuthRequest<'_>,
    ) -> Result<Url, UpstreamError> {
        let mut url = self.authorization_endpoint(http).await?;
        let verifier = oauth2::PkceCodeVerifier::new(request.pkce_verifier.to_owned());
        let challenge = oauth2::PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.credentials.client_id)
            .append_pair("redirect_uri", self.credentials.redirect_uri.as_str())
            .append_pair("scope", &self.scopes)
            .append_pair("state", request.state)
            .append_pair("nonce", request.nonce)
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256");
        if request.reconsent {
            url.query_pairs_mut().append_pair("prompt", "consent");
        }
        Ok(url)
    }

    pub(super) async fn sign_in(
        &self,
        http: &reqwest::Client,
        grant: &Grant<'_>,
    ) -> Result<UpstreamProfile, UpstreamError> {
        let metadata = self.metadata(http, false).await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", grant.code),
            ("redirect_uri", self.credentials.redirect_uri.as_str()),
            ("client_id", &self.credentials.client_id),
            ("client_secret", self.credentials.client_secret.expose_secret()),
            ("code_verifier", grant.pkce_verifier),
        ];
        let body = exchange_code(http, &metadata.discovery.token_endpoint, &form).await?;
        let id_token = id_token_of(self.provider, &body)?;
        let secret = self.credentials.client_secret.expose_secret().as_bytes();
        let expected = Expected {
            issuer: &metadata.discovery.issuer,
            client_id: &self.credentials.client_id,
            nonce: grant.nonce,
            uid_claim: &self.uid_claim,
            hs256_key: self.id_token_hs256.then_some(secret),
        };
        let verified = match verify_id_token(self.provider, id_token, &metadata.keys, &expected) {
            Err(UpstreamError::BadIdToken(why)) if why == NO_MATCHING_KEY => {
                // Perhaps the provider rotated its keys since they were cached: fetch once more.
                let fresh = self.metadata(http, true).await?;
                verify_id_token(self.provider, id_token, &fresh.keys, &expected)
            }
            other => other,
        }?;
        Ok(verified)
    }
}

/// POST a code exchange (form-encoded) to `endpoint`; the token response, or the error it
/// stands for.
pub(super) async fn exchange_code(
    http: &reqwest::Client,
    endpoint: &Url,
    form: &[(&str, &str)],
) -> Result<Value, UpstreamError> {
    let resp = http.post(endpoint.clone()).form(form).send().await.map_err(|e| UpstreamError::from_reqwest(&e))?;
    let status = resp.status();
    let body: Value = resp.json().await.map_err(|e| UpstreamError::from_reqwest(&e))?;
    if !status.is_success() {
        return Err(match body["error"].as_str() {
            Some("invalid_grant") => UpstreamError::InvalidGrant("invalid_grant".into()),
            _ => UpstreamError::Status(status.as_u16()),
        });
    }
    Ok(body)
}

/// The `id_token` of a token response.
pub(super) fn id_token_of(provider: Provider, body: &Value) -> Result<&str, UpstreamError> {
    body["id_token"]
        .as_str()
        .ok_or_else(|| UpstreamError::BadResponse(format!("{provider} token response without id_token")))
}

const NO_MATCHING_KEY: &str = "no key of the provider matches the token's kid";

async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> Result<T, UpstreamError> {
    let resp = http.get(url).send().await.map_err(|e| UpstreamError::from_reqwest(&e))?;
    if !resp.status().is_success() {
        return Err(UpstreamError::Status(resp.status().as_u16()));
    }
    resp.json().await.map_err(|e| UpstreamError::BadResponse(format!("{url}: {e}")))
}

/// Check an ID token from a code exchange and read the profile in it.
pub fn verify_id_token(
    provider: Provider,
    token: &str,
    keys: &JwkSet,
    expected: &Expected<'_>,
) -> Result<UpstreamProfile, UpstreamError> {
    let bad = |why: String| UpstreamError::BadIdToken(why);
    let header = jsonwebtoken::decode_header(token).map_err(|e| bad(e.to_string()))?;
    let key = match header.alg {
        Algorithm::HS256 => match expected.hs256_key {
            Some(secret) => DecodingKey::from_secret(secret),
            None => return Err(bad("HS256 is not accepted from this provider".into())),
        },
        Algorithm::RS256 | Algorithm::ES256 | Algorithm::PS256 | Algorithm::RS384 | Algorithm::ES384 => {
            let jwk = match &header.kid {
                Some(kid) => keys.find(kid),
                None if keys.keys.len() == 1 => keys.keys.first(),
                None => None,
            }
            .ok_or_else(|| bad(NO_MATCHING_KEY.into()))?;
            DecodingKey::from_jwk(jwk).map_err(|e| bad(e.to_string()))?
        }
        other => return Err(bad(format!("algorithm {other:?} is not accepted"))),
    };
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[expected.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let claims: Value = jsonwebtoken::decode(token, &key, &validation).map_err(|e| bad(format!("{e}")))?.claims;
    check_issuer(expected.issuer, &claims)?;
    let nonce = claims["nonce"].as_str().unwrap_or_default();
    if !crypto::constant_time_eq(nonce.as_bytes(), expected.nonce.as_bytes()) {
        return Err(bad("the nonce does not match".into()));
    }
    let uid = match &claims[expected.uid_claim] {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(bad(format!("no {:?} claim to key the identity by", expected.uid_claim))),
    };
    let email_verified = is_true(&claims["email_verified"]);
    Ok(UpstreamProfile {
        provider,
        uid,
        email: non_empty(claims["email"].as_str().map(str::to_owned)),
        email_verified,
        name: non_empty(claims["name"].as_str().map(str::to_owned)),
        email_private: is_true(&claims["is_private_email"]),
        upstream_token: None,
    })
}

/// `true` or `"true"`: Apple and others send booleans both ways.
fn is_true(value: &Value) -> bool {
    matches!(value, Value::Bool(true)) || matches!(value, Value::String(s) if s == "true")
}

/// `iss` equals the discovery `issuer`; one holding `{tenantid}` takes the token's `tid` (a
/// GUID) in its place first (Microsoft Entra's multi-tenant endpoints).
fn check_issuer(issuer: &str, claims: &Value) -> Result<(), UpstreamError> {
    let iss = claims["iss"].as_str().unwrap_or_default();
    let expected = if issuer.contains("{tenantid}") {
        let tid = claims["tid"].as_str().filter(|t| uuid::Uuid::try_parse(t).is_ok() && t.len() == 36);
        let tid = tid.ok_or_else(|| UpstreamError::BadIdToken("a templated issuer needs a GUID tid".into()))?;
        issuer.replace("{tenantid}", tid)
    } else {
        issuer.to_owned()
    };
    if iss == expected { Ok(()) } else { Err(UpstreamError::BadIdToken(format!("unexpected issuer {iss:?}"))) }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, jwk::Jwk};
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"line-channel-secret";

    fn rsa() -> (EncodingKey, JwkSet) {
        let pem = include_bytes!("../../fixtures/keys/dev-google-rsa.pem");
        let key = EncodingKey::from_rsa_pem(pem).unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some("k1".into());
        (key, JwkSet { keys: vec![jwk] })
    }

    fn claims(iss: &str) -> Value {
        json!({"iss": iss, "aud": "client-1", "sub": "u-1", "exp": 4_000_000_000u64, "nonce": "n-1",
               "email": "kim@example.com", "email_verified": "true", "name": "Kim"})
    }

    fn expected<'a>(issuer: &'a str, hs256: bool) -> Expected<'a> {
        Expected { issuer, client_id: "client-1", nonce: "n-1", uid_claim: "sub", hs256_key: hs256.then_some(SECRET) }
    }

    fn rs256(claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, claims, &rsa().0).unwrap()
    }

    fn hs256(claims: &Value, key: &[u8]) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(key)).unwrap()
    }

    fn provider() -> Provider {
        Provider::intern("idp-test").unwrap()
    }

    #[test]
    fn a_strict_rs256_token_and_a_line_style_hs256_token_are_read() {
        let keys = rsa().1;
        let token = rs256(&claims("https://idp.example"));
        let profile = verify_id_token(provider(), &token, &keys, &expected("https://idp.example", false)).unwrap();
        assert_eq!((profile.uid.as_str(), profile.email.as_deref()), ("u-1", Some("kim@example.com")));
        assert!(profile.email_verified, "the string \"true\" counts");
        let line = hs256(&claims("https://access.line.me"), SECRET);
        let profile =
            verify_id_token(provider(), &line, &JwkSet { keys: vec![] }, &expected("https://access.line.me", true));
        assert_eq!(profile.unwrap().name.as_deref(), Some("Kim"));
    }

    #[test]
    fn hs256_is_refused_unless_configured_and_with_any_other_key() {
        let line = hs256(&claims("https://access.line.me"), SECRET);
        let keys = rsa().1;
        assert!(verify_id_token(provider(), &line, &keys, &expected("https://access.line.me", false)).is_err());
        let forged = hs256(&claims("https://access.line.me"), b"someone-else");
        assert!(verify_id_token(provider(), &forged, &keys, &expected("https://access.line.me", true)).is_err());
    }

    #[test]
    fn a_wrong_issuer_audience_nonce_or_expiry_is_refused() {
        let keys = rsa().1;
        let ok = expected("https://idp.example", false);
        let mut cases = vec![claims("https://evil.example")];
        for (claim, value) in [("aud", json!("other")), ("nonce", json!("n-2")), ("exp", json!(1_000_000))] {
            let mut c = claims("https://idp.example");
            c[claim] = value;
            cases.push(c);
        }
        for c in cases {
            let err = verify_id_token(provider(), &rs256(&c), &keys, &ok).unwrap_err();
            assert!(matches!(err, UpstreamError::BadIdToken(_)), "{c}: {err:?}");
        }
    }

    #[test]
    fn a_token_without_the_uid_claim_is_refused() {
        let keys = rsa().1;
        let mut c = claims("https://idp.example");
        c.as_object_mut().unwrap().remove("sub");
        let err = verify_id_token(provider(), &rs256(&c), &keys, &expected("https://idp.example", false)).unwrap_err();
        assert!(err.to_string().contains("\"sub\""), "{err}");
        let mut oid = expected("https://idp.example", false);
        oid.uid_claim = "oid";
        assert!(verify_id_token(provider(), &rs256(&claims("https://idp.example")), &keys, &oid).is_err());
    }

    #[test]
    fn a_templated_issuer_takes_the_tokens_tid() {
        let keys = rsa().1;
        let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
        let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
        let mut c = claims(&format!("https://login.microsoftonline.com/{tid}/v2.0"));
        c["tid"] = json!(tid);
        assert!(verify_id_token(provider(), &rs256(&c), &keys, &expected(template, false)).is_ok());
        c["tid"] = json!("72f988bf-86f1-41af-91ab-2d7cd011db47");
        assert!(verify_id_token(provider(), &rs256(&c), &keys, &expected(template, false)).is_err(), "iss ≠ tid");
        c["tid"] = json!("common");
        c["iss"] = json!("https://login.microsoftonline.com/common/v2.0");
        assert!(verify_id_token(provider(), &rs256(&c), &keys, &expected(template, false)).is_err(), "not a GUID");
    }
}
