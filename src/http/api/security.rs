//! How `/api/v1` callers prove who they are: a bearer access token (a user's or a service's).

use poem_openapi::{SecurityScheme, auth::Bearer};

use super::error::{ApiError, ErrorCode};
use crate::{
    oidc::tokens::AccessClaims,
    sessions::{self, TokenRefusal},
    state::AppState,
};

/// An access token from munji's `/token` (RFC 9068 JWT), as `Authorization: Bearer …`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT")]
pub struct AccessToken(pub Bearer);

impl AccessToken {
    /// The claims of a valid, live token, or the error body to send.
    pub async fn claims(&self, state: &AppState) -> Result<AccessClaims, ApiError> {
        sessions::live_claims(state, &self.0.token).await.map_err(|e| match e {
            TokenRefusal::Expired => ApiError::new(ErrorCode::TokenExpired, "the access token has expired"),
            TokenRefusal::Ended => ApiError::new(ErrorCode::InvalidToken, "the session of this token has ended"),
            TokenRefusal::Invalid(_) => ApiError::new(ErrorCode::InvalidToken, "the access token is not valid here"),
            TokenRefusal::Unavailable => {
                ApiError::new(ErrorCode::ServiceUnavailable, "the session store is unreachable")
            }
        })
    }

    /// The user a user token belongs to, with the token's claims; service tokens are refused.
    pub async fn user(&self, state: &AppState) -> Result<(uuid::Uuid, AccessClaims), ApiError> {
        let claims = self.claims(state).await?;
        match (claims.is_user(), claims.sub.parse()) {
            (true, Ok(id)) => Ok((id, claims)),
            _ => Err(ApiError::new(ErrorCode::Forbidden, "this route needs a user's token")),
        }
    }

    pub async fn user_id(&self, state: &AppState) -> Result<uuid::Uuid, ApiError> {
        Ok(self.user(state).await?.0)
    }

    /// The admin a token with scope `admin` belongs to, asked anew on every call: a user whose
    /// admin flag was revoked, or who was disabled, is refused at once (docs/admin.md).
    pub async fn admin(&self, state: &AppState) -> Result<uuid::Uuid, ApiError> {
        let (user_id, claims) = self.user(state).await?;
        let forbidden = || ApiError::new(ErrorCode::Forbidden, "this route needs an admin's token with scope admin");
        if !claims.scope.split(' ').any(|s| s == crate::oidc::grant::ADMIN_SCOPE) {
            return Err(forbidden());
        }
        match crate::store::users::find_by_id(&state.db, user_id).await? {
            Some(user) if user.is_admin && !user.is_disabled() => Ok(user_id),
            _ => Err(forbidden()),
        }
    }
}
