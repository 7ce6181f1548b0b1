//! The user's Gmail connections under `/api/v1/me/gmail` (shapes in docs/routes.md). Tokens never
//! appear.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use uuid::Uuid;

use poem_openapi::param::Path;

use super::{
    ApiTags,
    error::{ApiError, ErrorCode},
    security::AccessToken,
};
use crate::{
    gmail::{
        disconnect::{self, DisconnectError},
        equip::{self, EquipError},
    },
    state::AppState,
    store::gmail,
};

#[derive(Default)]
pub struct GmailApi;

/// A connected Gmail account.
#[derive(Object)]
pub struct GmailConnection {
    pub id: Uuid,
    pub gmail_address: String,
    /// The scopes Google granted; without `https://www.googleapis.com/auth/gmail.send` the
    /// connection cannot be equipped.
    pub scopes: Vec<String>,
    /// `active`, or `needs_reauth` once Google refused the grant.
    pub status: String,
    /// The target it is equipped to, if any.
    pub equipped_to: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Object)]
pub struct GmailConnections {
    pub connections: Vec<GmailConnection>,
}

#[derive(ApiResponse)]
pub enum ListGmailResponse {
    #[oai(status = 200)]
    Ok(Json<GmailConnections>),
}

/// What to equip a connection to.
#[derive(Object)]
pub struct EquipRequest {
    /// The target, e.g. a bot id: 1–64 characters of `A-Z a-z 0-9 . _ : -`.
    pub equipped_to: String,
}

#[derive(ApiResponse)]
pub enum EquipResponse {
    /// Equipped; any other connection of the user equipped to this target was unequipped.
    #[oai(status = 200)]
    Ok(Json<GmailConnection>),
}

/// Done, nothing to say (unequip, disconnect).
#[derive(ApiResponse)]
pub enum NoContentResponse {
    #[oai(status = 204)]
    NoContent,
}

pub(super) fn view(c: gmail::Connection) -> GmailConnection {
    GmailConnection {
        scopes: c.scope_list().map(str::to_owned).collect(),
        id: c.id,
        gmail_address: c.gmail_address,
        status: c.status.as_str().to_owned(),
        equipped_to: c.equipped_to,
        created_at: c.created_at,
    }
}

impl From<DisconnectError> for ApiError {
    fn from(e: DisconnectError) -> Self {
        match e {
            DisconnectError::NotFound => ApiError::new(ErrorCode::NotFound, "no such connection of this user"),
            DisconnectError::Upstream(_) => {
                ApiError::new(ErrorCode::UpstreamUnavailable, "Google did not take the revocation; nothing was deleted")
            }
            DisconnectError::Store(e) => e.into(),
        }
    }
}

impl From<EquipError> for ApiError {
    fn from(e: EquipError) -> Self {
        match e {
            EquipError::NotFound => ApiError::new(ErrorCode::NotFound, "no such connection of this user"),
            EquipError::ScopeMissing => {
                ApiError::new(ErrorCode::GmailScopeMissing, "the grant lacks gmail.send; connect the account again")
            }
            EquipError::BadTarget => ApiError::new(ErrorCode::ValidationFailed, e.to_string()),
            EquipError::RateLimited { retry_after } => ApiError::rate_limited(retry_after),
            EquipError::Store(e) => e.into(),
        }
    }
}

#[OpenApi(tag = "ApiTags::Me")]
impl GmailApi {
    /// The user's Gmail connections.
    #[oai(path = "/me/gmail", method = "get", operation_id = "list_gmail_connections")]
    async fn list(&self, token: AccessToken, state: Data<&AppState>) -> Result<ListGmailResponse, ApiError> {
        let user_id = token.user_id(&state).await?;
        let connections = gmail::list_for_user(&state.db, user_id).await?.into_iter().map(view).collect();
        Ok(ListGmailResponse::Ok(Json(GmailConnections { connections })))
    }

    /// Equip a connection to a target (at most one per user and target). Equips and unequips
    /// of one user share a limit (`[rate_limits] pages`); over it: 429 `RATE_LIMIT_EXCEEDED`.
    #[oai(path = "/me/gmail/:id/equip", method = "post", operation_id = "equip_gmail_connection")]
    async fn equip(
        &self,
        token: AccessToken,
        id: Path<Uuid>,
        body: Json<EquipRequest>,
        state: Data<&AppState>,
    ) -> Result<EquipResponse, ApiError> {
        let user_id = token.user_id(&state).await?;
        let connection = equip::equip(&state, user_id, id.0, &body.0.equipped_to).await?;
        Ok(EquipResponse::Ok(Json(view(connection))))
    }

    /// Disconnect: revoke the grant at Google, then delete the connection.
    #[oai(path = "/me/gmail/:id", method = "delete", operation_id = "disconnect_gmail_connection")]
    async fn disconnect(
        &self,
        token: AccessToken,
        id: Path<Uuid>,
        state: Data<&AppState>,
    ) -> Result<NoContentResponse, ApiError> {
        let user_id = token.user_id(&state).await?;
        disconnect::disconnect(&state, user_id, id.0).await?;
        Ok(NoContentResponse::NoContent)
    }

    /// Unequip a connection (counted with the user's equips).
    #[oai(path = "/me/gmail/:id/equip", method = "delete", operation_id = "unequip_gmail_connection")]
    async fn unequip(
        &self,
        token: AccessToken,
        id: Path<Uuid>,
        state: Data<&AppState>,
    ) -> Result<NoContentResponse, ApiError> {
        let user_id = token.user_id(&state).await?;
        equip::unequip(&state, user_id, id.0).await?;
        Ok(NoContentResponse::NoContent)
    }
}
