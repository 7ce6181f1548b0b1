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

/// The claims of a valid, live access token.
pub async fn live_claims(state: &AppState, token: &str) -> Result<AccessClaims, BearerError> {
    let claims = state.tokens.verify_access(token).await.map_err(|e| match e {
        TokenError::Expired => BearerError::Expired,
        TokenError::Invalid(why) => BearerError::Invalid(why),
    })?;
    // A user's token ends with its session; a service token has no session and is revoked alone.
    let revoked = match &claims.sid {
        Some(sid) => session::is_sid_revoked(&state.ephemeral, sid).await,
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
