//! `GET /api/v1/me` and `GET /api/v1/me/identities` (DESIGN §10 shapes).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use uuid::Uuid;

use super::{
    ApiTags,
    error::{ApiError, ErrorCode},
    security::AccessToken,
};
use crate::{
    state::AppState,
    store::{identities, users},
};

pub struct MeApi;

/// The signed-in user.
#[derive(Object)]
pub struct Me {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A social identity linked to the user.
#[derive(Object)]
pub struct IdentityView {
    pub id: Uuid,
    /// `google`, `naver` or `kakao`.
    pub provider: String,
    /// The provider's id for the person; null only for an imported mapping not used yet.
    pub uid: Option<String>,
    pub email: Option<String>,
    /// What the provider said (Naver makes no claim: always false).
    pub email_verified: bool,
    pub linked_at: DateTime<Utc>,
    /// Null until the identity is used to sign in.
    pub last_login_at: Option<DateTime<Utc>>,
}

#[derive(Object)]
pub struct Identities {
    pub identities: Vec<IdentityView>,
}

#[derive(ApiResponse)]
pub enum GetMeResponse {
    #[oai(status = 200)]
    Ok(Json<Me>),
}

#[derive(ApiResponse)]
pub enum ListIdentitiesResponse {
    #[oai(status = 200)]
    Ok(Json<Identities>),
}

#[OpenApi(tag = "ApiTags::Me")]
impl MeApi {
    /// The user the token belongs to.
    #[oai(path = "/me", method = "get", operation_id = "get_me")]
    async fn get_me(&self, token: AccessToken, state: Data<&AppState>) -> Result<GetMeResponse, ApiError> {
        let user_id = token.user_id(&state).await?;
        let user = users::find_by_id(&state.db, user_id)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::UserNotFound, "the token's user no longer exists"))?;
        Ok(GetMeResponse::Ok(Json(Me {
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            email: user.email,
            created_at: user.created_at,
        })))
    }

    /// The identities linked to the user, oldest first.
    #[oai(path = "/me/identities", method = "get", operation_id = "list_identities")]
    async fn list_identities(
        &self,
        token: AccessToken,
        state: Data<&AppState>,
    ) -> Result<ListIdentitiesResponse, ApiError> {
        let user_id = token.user_id(&state).await?;
        let identities = identities::list_for_user(&state.db, user_id)
            .await?
            .into_iter()
            .map(|i| IdentityView {
                id: i.id,
                provider: i.provider,
                uid: i.uid,
                email: i.email,
                email_verified: i.email_verified,
                linked_at: i.linked_at,
                last_login_at: i.last_login_at,
            })
            .collect();
        Ok(ListIdentitiesResponse::Ok(Json(Identities { identities })))
    }
}
