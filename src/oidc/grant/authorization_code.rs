//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::{CodeRedemption, Issued, UserGrant, user_tokens};
use crate::{
    crypto,
    oidc::{
        authorize::{self, Claim, CodeRecord, Redemption},
        clients::{AUTHORIZATION_CODE, Client, REFRESH_TOKEN},
        error::OAuthError,
    },
    sessions::{self, Ending},
    state::AppState,
    store::{
        backchannel,
        refresh_tokens::{self, NewRefresh},
    },
};

/// `grant_type=authorization_code`: one use, bound to client, redirect URI and PKCE challenge.
/// A second redemption fails and revokes the session the first one's tokens belong to.
pub(super) async fn redeem(state: &AppState, client: &Client, request: &CodeRedemption) -> Result<Issued, OAuthError> {
    if !client.allows_grant(AUTHORIZATION_CODE) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let code = request.code.as_str();
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
    if let Err(refused) = bindings(&record, live, client, request) {
        // Nothing was issued, so there is nothing for a later redemption to revoke.
        authorize::forget_spent(&state.ephemeral, code).await?;
        return Err(refused);
    }
    // The client holds tokens of this session from now on: it is told when the session ends.
    backchannel::record_client(&state.db, &record.sid, &client.id, record.user_id, Utc::now()).await?;
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
/// Public for the `token_form` fuzz target: it is the part of a redemption that judges the form.
pub fn bindings(record: &CodeRecord, live: bool, client: &Client, request: &CodeRedemption) -> Result<(), OAuthError> {
    if !live {
        return Err(OAuthError::InvalidGrant("the session has ended"));
    }
    if record.client_id != client.id {
        return Err(OAuthError::InvalidGrant("the code was issued to another client"));
    }
    if request.redirect_uri.as_deref() != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::InvalidGrant("redirect_uri differs from the authorization request"));
    }
    match (&record.code_challenge, request.code_verifier.as_deref()) {
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
