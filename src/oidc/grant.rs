//! The token endpoint's grants (RFC 6749 §4.1.3, §4.4): one function per grant type, each
//! returning the tokens to send or an [`OAuthError`].

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use sha2::{Digest as _, Sha256};

use super::{
    authorize::{self, Claim, CodeRecord, Redemption},
    clients::{AUTHORIZATION_CODE, CLIENT_CREDENTIALS, Client, REFRESH_TOKEN},
    error::OAuthError,
    tokens::{AccessClaims, IdClaims, at_hash},
};
use uuid::Uuid;

use crate::{
    crypto,
    sessions::{self, Ending},
    state::AppState,
    store::{
        refresh_tokens::{self, NewRefresh, Use},
        users,
    },
};

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

/// `grant_type=authorization_code`: one use, bound to client, redirect URI and PKCE challenge.
/// A second redemption fails and revokes the session the first one's tokens belong to.
pub async fn authorization_code(
    state: &AppState,
    client: &Client,
    params: &[(String, String)],
) -> Result<Issued, OAuthError> {
    if !client.allows_grant(AUTHORIZATION_CODE) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let code = param(params, "code").ok_or_else(|| OAuthError::InvalidRequest("code is missing".into()))?;
    let reused = |sid: String| async move {
        sessions::end(state, Ending::One(&sid)).await?;
        tracing::warn!(client.id = %client.id, "authorization code reused; its session is revoked");
        Err(OAuthError::InvalidGrant("the code was already used; the tokens it gave are revoked"))
    };
    let record = match authorize::look_up_code(&state.ephemeral, &state.clock, code).await? {
        Redemption::Found(record) => record,
        Redemption::Unknown => return Err(OAuthError::InvalidGrant("the code is unknown or expired")),
        Redemption::Reused { sid } => return reused(sid).await,
    };
    // The session must still be live. This is asked before the code is claimed: once claimed,
    // a concurrent duplicate revokes the session, and that must not fail the one winner.
    let live = sessions::is_alive(state, &record.sid).await?;
    match authorize::claim_code(&state.ephemeral, &state.clock, code, &record).await? {
        Claim::Won => {}
        Claim::Lost => return reused(record.sid).await,
        Claim::Expired => return Err(OAuthError::InvalidGrant("the code is unknown or expired")),
    }
    if let Err(refused) = bindings(&record, live, client, params) {
        // Nothing was issued, so there is nothing for a later redemption to revoke.
        authorize::forget_spent(&state.ephemeral, code).await?;
        return Err(refused);
    }
    let refresh = if client.allows_grant(REFRESH_TOKEN) {
        let token = crypto::random_token(32);
        let new = NewRefresh {
            token_hash: &crypto::sha256_hex(&token),
            family_id: Uuid::new_v4(),
            client_id: &client.id,
            user_id: record.user_id,
            sid: &record.sid,
            scope: &record.scope,
            auth_time: record.auth_time,
            expires_at: Utc::now() + state.config.refresh_token_ttl.0,
        };
        refresh_tokens::insert(&state.db, &new, Utc::now()).await?;
        Some(token)
    } else {
        None
    };
    let grant = UserGrant {
        user_id: record.user_id,
        sid: &record.sid,
        scope: &record.scope,
        auth_time: record.auth_time,
        nonce: record.nonce.as_deref(),
    };
    user_tokens(state, client, &grant, refresh).await
}

/// A claimed code's bindings: a live session, the same client, redirect URI and PKCE verifier.
/// Public for the `token_form` fuzz target: it is the part of a redemption that reads the form.
pub fn bindings(
    record: &CodeRecord,
    live: bool,
    client: &Client,
    params: &[(String, String)],
) -> Result<(), OAuthError> {
    if !live {
        return Err(OAuthError::InvalidGrant("the session has ended"));
    }
    if record.client_id != client.id {
        return Err(OAuthError::InvalidGrant("the code was issued to another client"));
    }
    if param(params, "redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::InvalidGrant("redirect_uri differs from the authorization request"));
    }
    match (&record.code_challenge, param(params, "code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if !crypto::constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                return Err(OAuthError::InvalidGrant("PKCE verification failed"));
            }
        }
        (Some(_), None) => return Err(OAuthError::InvalidGrant("code_verifier is missing")),
        // A verifier for a code issued without a challenge is a downgrade attempt (RFC 9700).
        (None, Some(_)) => return Err(OAuthError::InvalidGrant("the code was issued without a code_challenge")),
        (None, None) => {}
    }
    Ok(())
}

/// `grant_type=refresh_token`: rotate at every use; a concurrent duplicate within the grace
/// window gets the same successor; a replay after it revokes the family and its session.
/// Another client's token is refused before anything changes.
pub async fn refresh_token(
    state: &AppState,
    client: &Client,
    params: &[(String, String)],
) -> Result<Issued, OAuthError> {
    if !client.allows_grant(REFRESH_TOKEN) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let presented =
        param(params, "refresh_token").ok_or_else(|| OAuthError::InvalidRequest("refresh_token is missing".into()))?;
    let hash = crypto::sha256_hex(presented);
    let dead = OAuthError::InvalidGrant("the refresh token is invalid, expired or revoked");
    let row = refresh_tokens::find(&state.db, &hash).await?.ok_or_else(|| dead.clone())?;
    if row.client_id != client.id {
        return Err(OAuthError::InvalidGrant("the refresh token was issued to another client"));
    }
    let next = crypto::random_token(32);
    let successor = NewRefresh {
        token_hash: &crypto::sha256_hex(&next),
        family_id: row.family_id,
        client_id: &row.client_id,
        user_id: row.user_id,
        sid: &row.sid,
        scope: &row.scope,
        auth_time: row.auth_time,
        expires_at: row.expires_at,
    };
    let sealed = crypto::seal(&state.secrets.refresh_key, SUCCESSOR_CONTEXT, next.as_bytes());
    let grace = chrono::Duration::from_std(state.config.refresh_token_grace.0).unwrap_or_default();
    let now = Utc::now();
    let (row, refresh) = match refresh_tokens::present(&state.db, &hash, &successor, &sealed, grace, now).await? {
        Use::Rotated(row) => (row, next),
        Use::Grace(row, sealed) => {
            let successor = crypto::open(&state.secrets.refresh_key, SUCCESSOR_CONTEXT, &sealed)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or(OAuthError::ServerError)?;
            (row, successor)
        }
        Use::Replayed(row) => {
            sessions::end(state, Ending::One(&row.sid)).await?;
            tracing::warn!(client.id = %client.id, "refresh token replayed; its family is revoked");
            return Err(OAuthError::InvalidGrant("the refresh token was already used; its family is revoked"));
        }
        Use::Unknown | Use::Dead(_) => return Err(dead),
    };
    if !sessions::is_alive(state, &row.sid).await? {
        return Err(dead);
    }
    let grant =
        UserGrant { user_id: row.user_id, sid: &row.sid, scope: &row.scope, auth_time: row.auth_time, nonce: None };
    user_tokens(state, client, &grant, Some(refresh)).await
}

/// The context successors are sealed under.
const SUCCESSOR_CONTEXT: &str = "refresh token successor";

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
    let now = Utc::now().timestamp();
    let ttl = state.config.access_token_ttl.0.as_secs();
    let with_email = grant.scope.split(' ').any(|s| s == "email");
    let access = AccessClaims {
        sid: Some(grant.sid.to_owned()),
        auth_time: Some(grant.auth_time),
        preferred_username: Some(user.username.clone()),
        username: Some(user.username.clone()),
        email: user.email.clone(),
        ..access_claims(state, user.id.to_string(), client, grant.scope, now)
    };
    let access_token = state.tokens.mint_access(&access).map_err(minting_failed)?;
    let id_token = if grant.scope.split(' ').any(|s| s == "openid") {
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
        scope: grant.scope.to_owned(),
        id_token,
        refresh_token: refresh,
    })
}

/// `grant_type=client_credentials` (RFC 9068 §2.2): a service token, `sub` = `client_id`.
pub async fn client_credentials(
    state: &AppState,
    client: &Client,
    params: &[(String, String)],
) -> Result<Issued, OAuthError> {
    if !client.allows_grant(CLIENT_CREDENTIALS) || client.is_public() {
        return Err(OAuthError::UnauthorizedClient);
    }
    let scope = match param(params, "scope") {
        Some(requested) => {
            let requested: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
            if requested.iter().any(|s| !client.scopes.iter().any(|allowed| allowed == s)) {
                return Err(OAuthError::InvalidScope);
            }
            requested.join(" ")
        }
        None => client.scopes.join(" "),
    };
    let now = Utc::now().timestamp();
    let ttl = state.config.access_token_ttl.0.as_secs();
    let claims = access_claims(state, client.id.clone(), client, &scope, now);
    let access_token = state.tokens.mint_access(&claims).map_err(minting_failed)?;
    Ok(Issued { access_token, token_type: "Bearer", expires_in: ttl, scope, id_token: None, refresh_token: None })
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
