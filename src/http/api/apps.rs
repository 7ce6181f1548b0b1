//! `GET /api/v1/me/apps` and `DELETE /api/v1/me/apps/{client_id}`: the apps with access to the
//! user's account, and removing one (docs/consent.md).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{
    ApiTags,
    error::{ApiError, ErrorCode},
    security::AccessToken,
};
use crate::{
    oidc::apps::{self, ConnectedApp},
    state::AppState,
};

#[derive(Default)]
pub struct AppsApi;

/// An app (OIDC client) that holds a live refresh token of the user or a consent they gave.
#[derive(Object)]
pub struct AppView {
    pub client_id: String,
    /// The app's display name (its id when it has none).
    pub name: String,
    /// What the app may do.
    pub scopes: Vec<String>,
    /// Run by the operator of munji (no consent page), or a third party.
    pub first_party: bool,
    /// When the user allowed it, or it first received tokens.
    pub authorized_at: DateTime<Utc>,
    /// When it last received tokens; absent when it holds none.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ConnectedApp> for AppView {
    fn from(app: ConnectedApp) -> Self {
        Self {
            client_id: app.client_id,
            name: app.name,
            scopes: app.scopes,
            first_party: app.first_party,
            authorized_at: app.authorized_at,
            last_used_at: app.last_used_at,
        }
    }
}

#[derive(Object)]
pub struct Apps {
    pub apps: Vec<AppView>,
}

#[derive(ApiResponse)]
pub enum ListAppsResponse {
    #[oai(status = 200)]
    Ok(Json<Apps>),
}

#[derive(ApiResponse)]
pub enum RemoveAppResponse {
    /// The app's refresh tokens are revoked, its consent forgotten, and it is told (back-channel
    /// logout) for each session under which it received tokens.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Me")]
impl AppsApi {
    /// The user's connected apps, by client id.
    #[oai(path = "/me/apps", method = "get", operation_id = "list_apps")]
    async fn list(&self, token: AccessToken, state: Data<&AppState>) -> Result<ListAppsResponse, ApiError> {
        let user_id = token.user_id(&state).await?;
        let apps = apps::list(&state, user_id).await?.into_iter().map(AppView::from).collect();
        Ok(ListAppsResponse::Ok(Json(Apps { apps })))
    }

    /// Remove one of the user's apps.
    #[oai(path = "/me/apps/:client_id", method = "delete", operation_id = "remove_app")]
    async fn remove(
        &self,
        token: AccessToken,
        client_id: Path<String>,
        state: Data<&AppState>,
    ) -> Result<RemoveAppResponse, ApiError> {
        let user_id = token.user_id(&state).await?;
        if apps::remove(&state, user_id, &client_id.0).await? {
            Ok(RemoveAppResponse::NoContent)
        } else {
            Err(ApiError::new(ErrorCode::NotFound, "no such app of this user"))
        }
    }
}
