//! Bearer tokens as every protected route checks them: signature and claims
//! ([`crate::oidc::tokens`]), then the session revocation list in the ephemeral store. When
//! the store cannot be reached the answer is "unavailable", never "valid" (DESIGN §7).

use crate::{
    oidc::tokens::{AccessClaims, TokenError},
    session,
    state::AppState,
};

#[derive(Debug, PartialEq, Eq)]
pub enum BearerError {
    Invalid(&'static str),
    Expired,
    Revoked,
    Unavailable,
}

async fn user_token_revoked(state: &AppState, sid: &str, claims: &AccessClaims) -> crate::ephemeral::Result<bool> {
    if session::is_sid_revoked(&state.ephemeral, sid).await? {
        return Ok(true);
    }
    let Ok(user_id) = claims.sub.parse() else { return Ok(false) };
    let mark = session::ended_before(&state.ephemeral, user_id).await?;
    Ok(mark.is_some_and(|mark| mark.ends(sid, claims.iat.saturating_mul(1000))))
}

/// The claims of a valid, live access token.
pub async fn live_claims(state: &AppState, token: &str) -> Result<AccessClaims, BearerError> {
    let claims = state.tokens.verify_access(token).await.map_err(|e| match e {
        TokenError::Expired => BearerError::Expired,
        TokenError::Invalid(why) => BearerError::Invalid(why),
    })?;
    // A user's token ends with its session, or with all of the user's sessions ("sign out
    // everywhere", a legacy claim); a service token has no session and is revoked alone.
    let revoked = match &claims.sid {
        Some(sid) => user_token_revoked(state, sid, &claims).await,
        None => session::is_jti_revoked(&state.ephemeral, &claims.jti).await,
    };
    match revoked {
        Ok(false) => Ok(claims),
        Ok(true) => Err(BearerError::Revoked),
        Err(e) => {
            tracing::warn!(error.message = %e, "revocation list unreachable");
            Err(BearerError::Unavailable)
        }
    }
}
