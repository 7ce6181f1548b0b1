//! Google through OpenID Connect (`openidconnect`): endpoints and keys from
//! `{issuer_url}/.well-known/openid-configuration`, PKCE S256 and a nonce on every request, and
//! the ID token checked for signature, issuer (either of Google's two forms), audience, expiry
//! and nonce. The key is the ID token's `sub`.
//!
//! The discovery document and its JWKS are cached for an hour and fetched again at once when a
//! token names a key the cache does not have (Google rotates keys).

use std::time::{Duration, Instant};

use openidconnect::{
    AdditionalProviderMetadata, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl, RefreshToken,
    Scope, SignatureVerificationError,
    core::{
        CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod, CoreGrantType,
        CoreIdTokenClaims, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
        CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType, CoreTokenResponse,
    },
};
use tokio::sync::RwLock;
use url::Url;

use super::{
    AuthRequest, Credentials, GMAIL_SEND, GmailGrant, GmailTokens, Provider, UpstreamError, UpstreamProfile, expose,
    non_empty,
};
use crate::config::ProviderConfig;

/// Google's discovery document also names its revocation endpoint (used to disconnect Gmail).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
struct RevocationEndpoint {
    revocation_endpoint: Option<String>,
}

impl AdditionalProviderMetadata for RevocationEndpoint {}

type GoogleMetadata = ProviderMetadata<
    RevocationEndpoint,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// How long a fetched discovery document (with its keys) is trusted.
const METADATA_TTL: Duration = Duration::from_secs(3600);

pub struct Google {
    credentials: Credentials,
    issuer: IssuerUrl,
    /// A cache, not state: every instance may hold its own copy.
    metadata: RwLock<Option<(Instant, GoogleMetadata)>>,
}

impl Google {
    pub(super) fn new(credentials: Credentials, settings: &ProviderConfig) -> anyhow::Result<Self> {
        let issuer = settings
            .issuer_url
            .clone()
            .ok_or_else(|| anyhow::anyhow!("config key `providers.google.issuer_url` is required"))?;
        // Google's issuer has no trailing slash; `Url` would add one to a bare origin.
        let issuer = IssuerUrl::new(issuer.as_str().trim_end_matches('/').to_owned())?;
        Ok(Self { credentials, issuer, metadata: RwLock::new(None) })
    }

    async fn metadata(&self, http: &reqwest::Client, refresh: bool) -> Result<GoogleMetadata, UpstreamError> {
        if !refresh
            && let Some((fetched, metadata)) = self.metadata.read().await.as_ref()
            && fetched.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let metadata = GoogleMetadata::discover_async(self.issuer.clone(), http).await.map_err(|e| {
            let mut source: Option<&dyn std::error::Error> = Some(&e);
            while let Some(err) = source {
                if let Some(reqwest) = err.downcast_ref::<reqwest::Error>() {
                    return UpstreamError::from_reqwest(reqwest);
                }
                source = err.source();
            }
            UpstreamError::BadResponse(format!("google discovery: {e}"))
        })?;
        *self.metadata.write().await = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: GoogleMetadata,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.credentials.client_id.clone()),
            Some(ClientSecret::new(expose(&self.credentials.client_secret))),
        )
        .set_redirect_uri(RedirectUrl::from_url(self.credentials.redirect_uri.clone()))
    }

    /// Where Google's authorization endpoint is (from the discovery document).
    pub(super) async fn authorization_endpoint(&self, http: &reqwest::Client) -> Result<Url, UpstreamError> {
        Ok(self.metadata(http, false).await?.authorization_endpoint().url().clone())
    }

    pub(super) async fn authorize_url(
        &self,
        http: &reqwest::Client,
        request: &AuthRequest<'_>,
    ) -> Result<Url, UpstreamError> {
        let client = self.client(self.metadata(http, false).await?);
        let (state, nonce) = (request.state.to_owned(), request.nonce.to_owned());
        let verifier = PkceCodeVerifier::new(request.pkce_verifier.to_owned());
        let mut builder = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
        if request.gmail {
            // docs/gmail.md, docs/providers.md: the Gmail address, send-only mail, a refresh token
            // (offline access, re-consent so one comes back), and the scopes granted before.
            builder = builder
                .add_scope(Scope::new(GMAIL_SEND.into()))
                .add_extra_param("access_type", "offline")
                .add_extra_param("prompt", "consent")
                .add_extra_param("include_granted_scopes", "true");
        } else {
            builder = builder.add_scope(Scope::new("profile".into()));
            if request.reconsent {
                builder = builder.add_extra_param("prompt", "consent");
            }
        }
        Ok(builder.url().0)
    }

    pub(super) async fn sign_in(
        &self,
        http: &reqwest::Client,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<UpstreamProfile, UpstreamError> {
        let (_, claims) = self.exchange(http, code, pkce_verifier, nonce).await?;
        Ok(profile_of(&claims))
    }

    /// Redeem a Gmail connection's code: the tokens (with the refresh token, when Google sent
    /// one) and the scopes Google actually granted, and the Gmail address from the ID token.
    pub(super) async fn connect_gmail(
        &self,
        http: &reqwest::Client,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<GmailGrant, UpstreamError> {
        let (token, claims) = self.exchange(http, code, pkce_verifier, nonce).await?;
        let profile = profile_of(&claims);
        Ok(GmailGrant {
            gmail_address: profile
                .email
                .ok_or_else(|| UpstreamError::BadResponse("no e-mail in the ID token".into()))?,
            tokens: tokens_of(&token),
        })
    }

    /// The token request and the ID token's checks.
    async fn exchange(
        &self,
        http: &reqwest::Client,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<(CoreTokenResponse, CoreIdTokenClaims), UpstreamError> {
        let client = self.client(self.metadata(http, false).await?);
        let token: CoreTokenResponse = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| UpstreamError::BadResponse(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(http)
            .await
            .map_err(token_error)?;
        let id_token = openidconnect::TokenResponse::id_token(&token)
            .ok_or_else(|| UpstreamError::BadResponse("google token response without id_token".into()))?;
        let nonce = Nonce::new(nonce.to_owned());
        let verify = |client: &CoreClient<_, _, _, _, _, _>| -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
            // The issuer is checked below, where both of Google's forms are accepted.
            let verifier = client.id_token_verifier().require_issuer_match(false);
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verify(&client) {
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                // Perhaps Google rotated its keys since we cached them: fetch once more.
                verify(&self.client(self.metadata(http, true).await?))
            }
            other => other,
        }
        .map_err(|e| UpstreamError::BadIdToken(e.to_string()))?;
        self.check_issuer(claims.issuer().as_str())?;
        Ok((token, claims))
    }

    /// Refresh a Gmail connection's access token (docs/providers.md): usually no new refresh
    /// token comes back (keep the old one); `invalid_grant` means the grant is gone.
    pub(super) async fn refresh(
        &self,
        http: &reqwest::Client,
        refresh_token: &str,
    ) -> Result<GmailTokens, UpstreamError> {
        let client = self.client(self.metadata(http, false).await?);
        let token: CoreTokenResponse = client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.to_owned()))
            .map_err(|e| UpstreamError::BadResponse(e.to_string()))?
            .request_async(http)
            .await
            .map_err(token_error)?;
        Ok(tokens_of(&token))
    }

    /// Revoke a token at Google (RFC 7009; revoking a refresh token ends the grant). An
    /// already revoked or unknown token (HTTP 400) counts as revoked.
    pub(super) async fn revoke(&self, http: &reqwest::Client, token: &str) -> Result<(), UpstreamError> {
        let metadata = self.metadata(http, false).await?;
        let endpoint = metadata
            .additional_metadata()
            .revocation_endpoint
            .clone()
            .ok_or_else(|| UpstreamError::BadResponse("google discovery names no revocation_endpoint".into()))?;
        let resp =
            http.post(endpoint).form(&[("token", token)]).send().await.map_err(|e| UpstreamError::from_reqwest(&e))?;
        match resp.status().as_u16() {
            200 | 400 => Ok(()),
            status => Err(UpstreamError::Status(status)),
        }
    }

    /// Google issues `https://accounts.google.com` or `accounts.google.com`: accept the
    /// configured issuer and the same without its scheme, nothing else.
    fn check_issuer(&self, iss: &str) -> Result<(), UpstreamError> {
        let expected = self.issuer.as_str();
        let bare = expected.strip_prefix("https://").unwrap_or(expected);
        if iss == expected || iss == bare {
            Ok(())
        } else {
            Err(UpstreamError::BadIdToken(format!("unexpected issuer {iss:?}")))
        }
    }
}

/// Google's token errors: `invalid_grant` is the grant's end, a transport failure is the
/// network's; anything else is an answer munji cannot use.
fn token_error(
    e: openidconnect::core::CoreRequestTokenError<openidconnect::HttpClientError<reqwest::Error>>,
) -> UpstreamError {
    match e {
        openidconnect::RequestTokenError::ServerResponse(r)
            if *r.error() == openidconnect::core::CoreErrorResponseType::InvalidGrant =>
        {
            UpstreamError::InvalidGrant(r.error().to_string())
        }
        openidconnect::RequestTokenError::Request(openidconnect::HttpClientError::Reqwest(e)) => {
            UpstreamError::from_reqwest(&e)
        }
        other => UpstreamError::BadResponse(format!("google token: {other}")),
    }
}

/// The tokens of a token response; the scopes are those Google says it granted.
fn tokens_of(token: &CoreTokenResponse) -> GmailTokens {
    use openidconnect::OAuth2TokenResponse as _;
    GmailTokens {
        access_token: token.access_token().secret().clone(),
        refresh_token: token.refresh_token().map(|t| t.secret().clone()),
        expires_in: token.expires_in().unwrap_or(std::time::Duration::from_secs(3600)),
        scopes: token.scopes().map(|s| s.iter().map(|s| s.as_str().to_owned()).collect()),
    }
}

fn profile_of(claims: &CoreIdTokenClaims) -> UpstreamProfile {
    UpstreamProfile {
        provider: Provider::Google,
        uid: claims.subject().as_str().to_owned(),
        email: non_empty(claims.email().map(|e| e.as_str().to_owned())),
        email_verified: claims.email_verified() == Some(true),
        name: non_empty(claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned())),
        email_private: false,
        upstream_token: None,
    }
}
