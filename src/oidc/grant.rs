//! The token endpoint without HTTP (RFC 6749 §3.2): the request read into a [`TokenRequest`],
//! then one module per grant type, each returning the tokens to send or an [`OAuthError`].

mod authorization_code;
mod client_credentials;
mod refresh_token;

use chrono::Utc;
use uuid::Uuid;

pub use authorization_code::bindings;

use super::{
    clients::Client,
    error::OAuthError,
    tokens::{AccessClaims, IdClaims, at_hash},
};
use crate::{crypto, state::AppState, store::users};

/// A token request, read from its form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    AuthorizationCode(CodeRedemption),
    RefreshToken { refresh_token: String },
    ClientCredentials { scope: Option<String> },
}

/// What `grant_type=authorization_code` presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRedemption {
    pub code: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

impl CodeRedemption {
    /// The code's fields of a form (the code itself may be missing: then it is empty).
    pub fn from_form(params: &[(String, String)]) -> Self {
        let get = |name: &str| param(params, name).map(str::to_owned);
        Self {
            code: get("code").unwrap_or_default(),
            redirect_uri: get("redirect_uri"),
            code_verifier: get("code_verifier"),
        }
    }
}

impl TokenRequest {
    /// Read the grant from a form whose parameters each appear once.
    pub fn from_form(params: &[(String, String)]) -> Result<Self, OAuthError> {
        let missing = |name: &str| OAuthError::InvalidRequest(format!("{name} is missing"));
        match param(params, "grant_type") {
            Some("authorization_code") => {
                param(params, "code").ok_or_else(|| missing("code"))?;
                Ok(Self::AuthorizationCode(CodeRedemption::from_form(params)))
            }
            Some("refresh_token") => {
                let refresh_token = param(params, "refresh_token").ok_or_else(|| missing("refresh_token"))?;
                Ok(Self::RefreshToken { refresh_token: refresh_token.to_owned() })
            }
            Some("client_credentials") => {
                Ok(Self::ClientCredentials { scope: param(params, "scope").map(str::to_owned) })
            }
            Some(_) => Err(OAuthError::UnsupportedGrantType),
            None => Err(missing("grant_type")),
        }
    }
}

/// Answer an authenticated client's token request.
pub async fn exchange(state: &AppState, client: &Client, request: &TokenRequest) -> Result<Issued, OAuthError> {
    match request {
        TokenRequest::AuthorizationCode(redemption) => authorization_code::redeem(state, client, redemption).await,
        TokenRequest::RefreshToken { refresh_token } => refresh_token::rotate(state, client, refresh_token).await,
        TokenRequest::ClientCredentials { scope } => client_credentials::issue(state, client, scope.as_deref()),
    }
}

/// What a successful grant hands out.
#[derive(Debug, serde::Serialize)]
pub struct Issued {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn minting_failed(e: super::tokens::TokenError) -> OAuthError {
    tracing::error!(error.message = %e, "minting a token failed");
    OAuthError::ServerError
}

/// The scope of the admin API: only admins' tokens carry it.
pub const ADMIN_SCOPE: &str = "admin";

/// A user's grant, whichever way it was obtained.
struct UserGrant<'a> {
    user_id: Uuid,
    sid: &'a str,
    scope: &'a str,
    auth_time: i64,
    nonce: Option<&'a str>,
}

/// Mint the access token and (with `openid`) the ID token of a user's grant.
async fn user_tokens(
    state: &AppState,
    client: &Client,
    grant: &UserGrant<'_>,
    refresh: Option<String>,
) -> Result<Issued, OAuthError> {
    let user = users::find_by_id(&state.db, grant.user_id).await?.ok_or(OAuthError::InvalidGrant("no such user"))?;
    if user.is_disabled() {
        return Err(OAuthError::InvalidGrant("the account is disabled"));
    }
    // `admin` is granted only to admins, whatever the client may ask for (docs/admin.md).
    let scope: String =
        grant.scope.split(' ').filter(|s| *s != ADMIN_SCOPE || user.is_admin).collect::<Vec<_>>().join(" ");
    let scope = scope.as_str();
    let now = Utc::now().timestamp();
    let ttl = state.config.access_token_ttl.0.as_secs();
    let with_email = scope.split(' ').any(|s| s == "email");
    let access = AccessClaims {
        sid: Some(grant.sid.to_owned()),
        auth_time: Some(grant.auth_time),
        preferred_username: Some(user.username.clone()),
        username: Some(user.username.clone()),
        email: user.email.clone(),
        ..access_claims(state, user.id.to_string(), client, scope, now)
    };
    let access_token = state.tokens.mint_access(&access).map_err(minting_failed)?;
    let id_token = if scope.split(' ').any(|s| s == "openid") {
        let claims = IdClaims {
            iss: state.tokens.issuer.clone(),
            sub: user.id.to_string(),
            aud: client.id.clone(),
            exp: now + ttl as i64,
            iat: now,
            auth_time: grant.auth_time,
            nonce: grant.nonce.map(str::to_owned),
            at_hash: at_hash(&access_token),
            sid: Some(grant.sid.to_owned()),
            preferred_username: Some(user.username.clone()),
            name: Some(user.display_name.clone()),
            email: user.email.clone().filter(|_| with_email),
        };
        Some(state.tokens.mint_id(&claims).map_err(minting_failed)?)
    } else {
        None
    };
    Ok(Issued {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope: scope.to_owned(),
        id_token,
        refresh_token: refresh,
    })
}

/// The claims every access token has; a service token (RFC 9068 §2.2) has no others.
fn access_claims(state: &AppState, sub: String, client: &Client, scope: &str, now: i64) -> AccessClaims {
    AccessClaims {
        iss: state.tokens.issuer.clone(),
        aud: state.tokens.audience.clone(),
        sub,
        exp: now + state.config.access_token_ttl.0.as_secs() as i64,
        iat: now,
        jti: crypto::random_token(16),
        sid: None,
        auth_time: None,
        client_id: client.id.clone(),
        scope: scope.to_owned(),
        preferred_username: None,
        username: None,
        email: None,
    }
}
