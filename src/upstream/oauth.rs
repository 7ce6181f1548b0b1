//! OAuth 2.0 plumbing shared by Naver and Kakao, on the `oauth2` crate: the client, the
//! authorization URL, and a token response lenient enough for both (Naver sends `expires_in`
//! as a string).

use oauth2::TokenResponse as _;
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    HttpClientError, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardRevocableToken, TokenUrl,
    basic::{
        BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
        BasicTokenType,
    },
};
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use super::{AuthRequest, Credentials, Grant, Provider, UpstreamError, UpstreamProfile, expose, fetch_profile};
use crate::config::ProviderConfig;

type Client = oauth2::Client<
    BasicErrorResponse,
    LenientTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// How one OAuth 2.0 provider differs from the others on the wire.
pub struct Wire {
    pub provider: Provider,
    /// The authorization parameter that asks again for a declined e-mail.
    pub reconsent: (&'static str, &'static str),
    /// Whether the token request repeats `state` (Naver lists it as a parameter).
    pub state_in_token_request: bool,
    /// Reads the profile API's body.
    pub parse_profile: fn(&[u8]) -> Result<UpstreamProfile, UpstreamError>,
}

/// A configured OAuth 2.0 provider (Naver or Kakao).
pub struct OAuthProvider {
    wire: &'static Wire,
    client: Client,
    userinfo_url: Url,
}

impl OAuthProvider {
    pub(super) fn new(
        wire: &'static Wire,
        credentials: Credentials,
        settings: &ProviderConfig,
    ) -> anyhow::Result<Self> {
        let provider = wire.provider;
        let endpoint = |url: &Option<Url>, key: &str| {
            url.clone().ok_or_else(|| anyhow::anyhow!("config key `providers.{provider}.{key}` is required"))
        };
        let client = oauth2::Client::<
            BasicErrorResponse,
            LenientTokenResponse,
            BasicTokenIntrospectionResponse,
            StandardRevocableToken,
            BasicRevocationErrorResponse,
        >::new(ClientId::new(credentials.client_id))
        .set_client_secret(ClientSecret::new(expose(&credentials.client_secret)))
        .set_auth_uri(AuthUrl::from_url(endpoint(&settings.authorize_url, "authorize_url")?))
        .set_token_uri(TokenUrl::from_url(endpoint(&settings.token_url, "token_url")?))
        .set_redirect_uri(RedirectUrl::from_url(credentials.redirect_uri))
        // Both providers take the client secret as a form field.
        .set_auth_type(AuthType::RequestBody);
        Ok(Self { wire, client, userinfo_url: endpoint(&settings.userinfo_url, "userinfo_url")? })
    }

    /// Where the provider's authorization endpoint is.
    pub fn authorization_endpoint(&self) -> &Url {
        self.client.auth_uri().url()
    }

    /// The authorization URL with `state`, PKCE S256 where the provider supports it, and the
    /// re-consent parameter when asked.
    pub fn authorize_url(&self, request: &AuthRequest<'_>) -> Url {
        let state = request.state.to_owned();
        let mut builder = self.client.authorize_url(move || CsrfToken::new(state));
        if self.wire.provider.uses_pkce() {
            let verifier = PkceCodeVerifier::new(request.pkce_verifier.to_owned());
            builder = builder.set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
        }
        if request.reconsent {
            builder = builder.add_extra_param(self.wire.reconsent.0, self.wire.reconsent.1);
        }
        builder.url().0
    }

    /// Redeem the code at the token endpoint, then read the profile with the access token.
    pub async fn sign_in(&self, http: &reqwest::Client, grant: &Grant<'_>) -> Result<UpstreamProfile, UpstreamError> {
        let mut request = self.client.exchange_code(AuthorizationCode::new(grant.code.to_owned()));
        if self.wire.provider.uses_pkce() {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(grant.pkce_verifier.to_owned()));
        }
        if self.wire.state_in_token_request {
            request = request.add_extra_param("state", grant.state.to_owned());
        }
        let token = request.request_async(http).await.map_err(token_error)?;
        let body = fetch_profile(http, &self.userinfo_url, token.access_token().secret()).await?;
        (self.wire.parse_profile)(&body)
    }
}

/// Map the `oauth2` crate's error to ours; the description is never trusted for logic.
fn token_error(e: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>) -> UpstreamError {
    match e {
        RequestTokenError::ServerResponse(r) if *r.error() == BasicErrorResponseType::InvalidGrant => {
            UpstreamError::InvalidGrant(r.error().to_string())
        }
        RequestTokenError::ServerResponse(r) => UpstreamError::BadResponse(format!("token error {}", r.error())),
        RequestTokenError::Request(HttpClientError::Reqwest(e)) => UpstreamError::from_reqwest(&e),
        RequestTokenError::Request(e) => UpstreamError::Unreachable(e.to_string()),
        RequestTokenError::Parse(e, _) => UpstreamError::BadResponse(format!("token response: {e}")),
        RequestTokenError::Other(e) => UpstreamError::BadResponse(e),
    }
}

/// A token response that accepts Naver's and Kakao's shapes: `expires_in` as a number or a
/// string, `token_type` in any case, `scope` space- or comma-separated.
#[derive(Debug, Serialize, Deserialize)]
pub struct LenientTokenResponse {
    access_token: AccessToken,
    token_type: BasicTokenType,
    #[serde(default, deserialize_with = "number_or_string")]
    expires_in: Option<u64>,
    refresh_token: Option<RefreshToken>,
    #[serde(default, deserialize_with = "scope_list")]
    scope: Option<Vec<Scope>>,
}

impl oauth2::TokenResponse for LenientTokenResponse {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    fn expires_in(&self) -> Option<std::time::Duration> {
        self.expires_in.map(std::time::Duration::from_secs)
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scope.as_ref()
    }
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Number(n)) => Ok(Some(n)),
        Some(Raw::Text(text)) => text.trim().parse().map(Some).map_err(serde::de::Error::custom),
    }
}

fn scope_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Scope>>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    Ok(text.map(|t| t.split([' ', ',']).filter(|s| !s.is_empty()).map(|s| Scope::new(s.to_owned())).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naver_string_expires_in_and_lowercase_bearer_parse() {
        let body = include_str!("../../fixtures/providers/naver/token.json");
        let token: LenientTokenResponse = serde_json::from_str(body).unwrap();
        assert_eq!(token.expires_in(), Some(std::time::Duration::from_secs(3600)));
        assert_eq!(*token.token_type(), BasicTokenType::Bearer);
        assert!(token.refresh_token().is_some());
    }

    #[test]
    fn kakao_numeric_expires_in_and_space_separated_scope_parse() {
        let body = include_str!("../../fixtures/providers/kakao/token.json");
        let token: LenientTokenResponse = serde_json::from_str(body).unwrap();
        assert_eq!(token.expires_in(), Some(std::time::Duration::from_secs(21599)));
        let scopes: Vec<_> = token.scopes().unwrap().iter().map(|s| s.as_str().to_owned()).collect();
        assert_eq!(scopes, ["account_email", "profile_nickname", "openid"]);
    }

    #[test]
    fn naver_200_with_error_is_not_a_token() {
        let body = include_str!("../../fixtures/providers/naver/token_error.json");
        assert!(serde_json::from_str::<LenientTokenResponse>(body).is_err());
    }
}
