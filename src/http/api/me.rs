//! `GET /api/v1/me` and the user's identities under `/api/v1/me/identities` (shapes in
//! docs/routes.md).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use super::{
    ApiTags,
    error::{ApiError, ErrorCode},
    security::AccessToken,
};
use crate::{
    identity::link,
    state::AppState,
    store::{identities, users},
    upstream::Provider,
};

#[derive(Default)]
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
    /// The provider's name: a built-in one (`google`, `naver`, `kakao`, `apple`) or the name of
    /// a configured OpenID Connect provider (`[a-z0-9-]{1,32}`, e.g. `line`).
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

impl From<identities::Identity> for IdentityView {
    fn from(i: identities::Identity) -> Self {
        Self {
            id: i.id,
            provider: i.provider.to_string(),
            uid: i.uid,
            email: i.email,
            email_verified: i.email_verified,
            linked_at: i.linked_at,
            last_login_at: i.last_login_at,
        }
    }
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

/// Where to continue a link in a browser.
#[derive(Object)]
pub struct LinkStart {
    /// A munji URL that starts the link in a browser signed in to munji as the same user (it
    /// asks to sign in first otherwise, and refuses anyone else). Valid once, for 10 minutes.
    pub authorize_url: String,
}

#[derive(ApiResponse)]
pub enum StartLinkResponse {
    #[oai(status = 200)]
    Ok(Json<LinkStart>),
}

#[derive(ApiResponse)]
pub enum UnlinkResponse {
    /// Unlinked; the user's other sessions have ended.
    #[oai(status = 204)]
    NoContent,
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
        let identities =
            identities::list_for_user(&state.db, user_id).await?.into_iter().map(IdentityView::from).collect();
        Ok(ListIdentitiesResponse::Ok(Json(Identities { identities })))
    }

    /// Start linking another `provider` account; the link finishes in a browser.
    #[oai(path = "/me/identities/:provider/link", method = "post", operation_id = "start_link")]
    async fn start_link(
        &self,
        token: AccessToken,
        /// A configured provider: `google`, `naver`, `kakao`, `apple` or an OpenID Connect
        /// provider's name (404 for any other).
        #[oai(example = "provider_example")]
        provider: Path<String>,
        state: Data<&AppState>,
    ) -> Result<StartLinkResponse, ApiError> {
        let user_id = token.user_id(&state).await?;
        let provider = provider
            .0
            .parse::<Provider>()
            .ok()
            .filter(|p| state.upstreams.is_enabled(*p))
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such provider"))?;
        let ticket = link::issue_ticket(&state.ephemeral, &state.secrets.link_key, user_id, provider)
            .await
            .map_err(|_| ApiError::new(ErrorCode::ServiceUnavailable, "the session store is unreachable"))?;
        let mut url =
            state.config.public_url.join(&format!("account/link/{provider}")).map_err(|e| ApiError::internal(&e))?;
        url.query_pairs_mut().append_pair("ticket", &ticket);
        Ok(StartLinkResponse::Ok(Json(LinkStart { authorize_url: url.to_string() })))
    }

    /// Unlink one of the user's identities; never the last one.
    #[oai(path = "/me/identities/:identity_id", method = "delete", operation_id = "unlink_identity")]
    async fn unlink(
        &self,
        token: AccessToken,
        identity_id: Path<Uuid>,
        state: Data<&AppState>,
    ) -> Result<UnlinkResponse, ApiError> {
        let (user_id, claims) = token.user(&state).await?;
        let keep = claims.sid.unwrap_or_default();
        match link::unlink(&state, user_id, identity_id.0, &keep).await? {
            identities::Unlinked::Removed(_) => Ok(UnlinkResponse::NoContent),
            identities::Unlinked::NotFound => Err(ApiError::new(ErrorCode::NotFound, "no such identity of this user")),
            identities::Unlinked::Last => {
                Err(ApiError::new(ErrorCode::LastIdentity, "the last identity cannot be unlinked"))
            }
        }
    }
}

impl From<link::UnlinkError> for ApiError {
    fn from(e: link::UnlinkError) -> Self {
        match e {
            link::UnlinkError::Store(e) => e.into(),
            link::UnlinkError::Sessions(e) => e.into(),
        }
    }
}

/// The example of a provider name in the OpenAPI document.
fn provider_example() -> String {
    "google".to_owned()
}
