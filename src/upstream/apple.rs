//! Sign in with Apple (docs/providers.md, "Apple"). Apple is an OpenID Connect provider with
//! its own ways, each handled here:
//!
//! - Its endpoints are fixed below `issuer_url`: `/auth/authorize`, `/auth/token`, `/auth/keys`
//!   and `/auth/revoke`; the ID token's `iss` is `issuer_url` itself.
//! - The client secret is an ES256 JWT munji signs ([`ClientSecret`]).
//! - Asking for the name or e-mail requires `response_mode=form_post`: the browser comes back
//!   with a cross-site POST (the callback's side is in the HTTP layer, docs/security.md).
//! - The name comes once, in the first authorization's `user` form field, never in the ID token.
//! - The e-mail may be a private relay address (`is_private_email`).
//! - The refresh token of the code exchange is what Apple's revocation takes; munji keeps it
//!   sealed to revoke the grant when the account is deleted (docs/leaving.md).
//! - Apple tells munji about accounts with signed notifications ([`Apple::verify_notification`]).

mod client_secret;

pub use client_secret::{CLIENT_SECRET_AUDIENCE, CLIENT_SECRET_LIFETIME, ClientSecret};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::{
    AuthRequest, Grant, Provider, UpstreamError, UpstreamProfile,
    generic::{Expected, exchange_code, id_token_of, verify_id_token},
    jwks::KeyCache,
    non_empty,
    risc::RiscError,
};
use crate::config::AppleConfig;

/// What munji asks Apple for: the two things it can share.
const SCOPE: &str = "name email";

/// The longest notification read: a notification is a few hundred bytes.
const MAX_PAYLOAD_LEN: usize = 16 * 1024;

/// Sign in with Apple for one Services ID.
pub struct Apple {
    client_id: String,
    /// `issuer_url` without a trailing slash: the ID tokens' `iss` and the endpoints' base.
    issuer: String,
    redirect_uri: Url,
    secret: ClientSecret,
    keys: KeyCache,
}

/// What an Apple notification says (docs/provider-events.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Unique per notification; a redelivery repeats it.
    pub jti: String,
    /// `email-disabled`, `email-enabled`, `consent-revoked`, `account-delete` (or
    /// `account-deleted`), or a type munji does not know.
    pub kind: String,
    /// The Apple account (the identity's uid).
    pub sub: String,
}

#[derive(Deserialize)]
struct NotificationClaims {
    jti: String,
    iat: i64,
    /// A JSON object, sent as a string.
    events: String,
}

#[derive(Deserialize)]
struct NotificationEvent {
    #[serde(rename = "type")]
    kind: String,
    sub: String,
}

impl Apple {
    pub(super) fn new(settings: &AppleConfig, redirect_uri: Url) -> anyhow::Result<Self> {
        let issuer = settings.issuer_url.as_str().trim_end_matches('/').to_owned();
        let keys = KeyCache::new(Url::parse(&format!("{issuer}/auth/keys"))?);
        Ok(Self {
            client_id: settings.client_id.clone(),
            secret: ClientSecret::new(settings)?,
            issuer,
            redirect_uri,
            keys,
        })
    }

    fn endpoint(&self, path: &str) -> Url {
        // `issuer` came from a URL; appending a fixed path keeps it one.
        Url::parse(&format!("{}/auth/{path}", self.issuer)).unwrap_or_else(|_| unreachable!())
    }

    pub(super) fn authorization_endpoint(&self) -> Url {
        self.endpoint("authorize")
    }

    pub(super) fn authorize_url(&self, request: &AuthRequest<'_>) -> Url {
        let mut url = self.authorization_endpoint();
        let verifier = oauth2::PkceCodeVerifier::new(request.pkce_verifier.to_owned());
        let challenge = oauth2::PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("response_mode", "form_post")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", self.redirect_uri.as_str())
            .append_pair("scope", SCOPE)
            .append_pair("state", request.state)
            .append_pair("nonce", request.nonce)
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256");
        // Apple reads `%20`, not `+`, between scopes.
        let query = url.query().map(|q| q.replace("scope=name+email", "scope=name%20email"));
        url.set_query(query.as_deref());
        url
    }

    /// Redeem the code; the profile and Apple's refresh token (kept for revocation).
    pub(super) async fn sign_in(
        &self,
        http: &reqwest::Client,
        grant: &Grant<'_>,
    ) -> Result<(UpstreamProfile, Option<String>), UpstreamError> {
        let secret = self.secret.at(chrono::Utc::now().timestamp())?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", grant.code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("client_id", &self.client_id),
            ("client_secret", &secret),
            ("code_verifier", grant.pkce_verifier),
        ];
        let body = exchange_code(http, &self.endpoint("token"), &form).await?;
        let id_token = id_token_of(Provider::Apple, &body)?;
        let header = jsonwebtoken::decode_header(id_token).map_err(|e| UpstreamError::BadIdToken(e.to_string()))?;
        // Apple signs with RS256 and nothing else: the token does not choose.
        if header.alg != Algorithm::RS256 {
            return Err(UpstreamError::BadIdToken(format!("algorithm {:?} is not Apple's", header.alg)));
        }
        let keys = self.keys.for_kid(http, header.kid.as_deref()).await?;
        let expected = Expected {
            issuer: &self.issuer,
            client_id: &self.client_id,
            nonce: grant.nonce,
            uid_claim: "sub",
            hs256_key: None,
        };
        let mut profile = verify_id_token(Provider::Apple, id_token, &keys, &expected)?;
        // Only the name is taken from `user`: the browser carries it, so it proves nothing. The
        // e-mail is the ID token's alone (Apple leaves it out only when the person declined).
        let user = grant.user.map(FirstTimeUser::parse).unwrap_or_default();
        profile.name = profile.name.or(user.name);
        let refresh_token = body["refresh_token"].as_str().map(str::to_owned);
        Ok((profile, refresh_token))
    }

    /// Revoke a refresh token at Apple (an account deletion).
    pub(super) async fn revoke(&self, http: &reqwest::Client, refresh_token: &str) -> Result<(), UpstreamError> {
        let secret = self.secret.at(chrono::Utc::now().timestamp())?;
        let form = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", &secret),
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ];
        let resp =
            http.post(self.endpoint("revoke")).form(&form).send().await.map_err(|e| UpstreamError::from_reqwest(&e))?;
        if resp.status().is_success() { Ok(()) } else { Err(UpstreamError::Status(resp.status().as_u16())) }
    }

    /// Check a notification's `payload` (RS256 with Apple's keys, `iss` = the issuer, `aud` =
    /// the Services ID) and read its event.
    pub(super) async fn verify_notification(
        &self,
        http: &reqwest::Client,
        payload: &str,
    ) -> Result<Notification, RiscError> {
        let refused = |why: String| RiscError::Refused(why);
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(refused("too long".into()));
        }
        let header = jsonwebtoken::decode_header(payload).map_err(|_| refused("unreadable header".into()))?;
        // The algorithm is Apple's, never the token's choice.
        if header.alg != Algorithm::RS256 {
            return Err(refused("not RS256".into()));
        }
        let kid = header.kid.ok_or_else(|| refused("no kid".into()))?;
        let keys = self.keys.for_kid(http, Some(&kid)).await?;
        let jwk = keys.find(&kid).ok_or_else(|| refused("no key of Apple's has that kid".into()))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| refused(e.to_string()))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.client_id]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["iss", "aud", "iat"]);
        // Like Google's events, a notification describes something that already happened: its
        // `exp` is not checked, its age is (super::recent_enough).
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<NotificationClaims>(payload, &key, &validation)
            .map_err(|e| refused(e.to_string()))?
            .claims;
        super::recent_enough(claims.iat, chrono::Utc::now().timestamp()).map_err(|why| refused(why.into()))?;
        if claims.jti.trim().is_empty() {
            return Err(refused("empty jti".into()));
        }
        let event: NotificationEvent =
            serde_json::from_str(&claims.events).map_err(|_| refused("events is not the JSON Apple sends".into()))?;
        Ok(Notification { jti: claims.jti, kind: event.kind, sub: event.sub })
    }
}

/// The `user` form field of a first authorization: `{"name":{"firstName","lastName"},"email"}`,
/// as a JSON string. Only the name is read (the e-mail is the ID token's). Anything unreadable
/// counts as absent: it is a convenience, not a proof.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FirstTimeUser {
    pub name: Option<String>,
}

impl FirstTimeUser {
    pub fn parse(field: &str) -> Self {
        let Ok(value) = serde_json::from_str::<Value>(field) else { return Self::default() };
        let part = |key: &str| value["name"][key].as_str().map(str::trim).filter(|s| !s.is_empty());
        let name = match (part("firstName"), part("lastName")) {
            (Some(first), Some(last)) => Some(format!("{first} {last}")),
            (first, last) => first.or(last).map(str::to_owned),
        };
        Self { name: non_empty(name) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_time_user_field_gives_the_name() {
        let user = FirstTimeUser::parse(
            r#"{"name":{"firstName":"Jiwoo","lastName":"Han"},"email":"x@privaterelay.appleid.com"}"#,
        );
        assert_eq!(user.name.as_deref(), Some("Jiwoo Han"));
        assert_eq!(FirstTimeUser::parse(r#"{"name":{"lastName":"Han"}}"#).name.as_deref(), Some("Han"));
        for unreadable in ["", "null", "not json", r#"{"name":"Han"}"#, r#"{"name":{"firstName":"  "}}"#] {
            assert_eq!(FirstTimeUser::parse(unreadable), FirstTimeUser::default(), "{unreadable:?}");
        }
    }
}
