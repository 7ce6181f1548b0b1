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
    if let Some(sid) = &claims.sid {
        match session::is_sid_revoked(&state.ephemeral, sid).await {
            Ok(false) => {}
            Ok(true) => return Err(BearerError::Revoked),
            Err(e) => {
                tracing::warn!(error.message = %e, "revocation list unreachable");
                return Err(BearerError::Unavailable);
            }
        }
    } else if let Err(e) = state.ephemeral.ping().await {
        // Service tokens have no sid, but the answer must not depend on the store being down.
        tracing::warn!(error.message = %e, "ephemeral store unreachable");
        return Err(BearerError::Unavailable);
    }
    Ok(claims)
}
