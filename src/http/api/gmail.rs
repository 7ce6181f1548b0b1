//! `GET /api/v1/me/gmail`: the user's Gmail connections (DESIGN §10 shape). Tokens never appear.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use uuid::Uuid;

use super::{ApiTags, error::ApiError, security::AccessToken};
use crate::{state::AppState, store::gmail};

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

#[OpenApi(tag = "ApiTags::Me")]
impl GmailApi {
    /// The user's Gmail connections.
    #[oai(path = "/me/gmail", method = "get", operation_id = "list_gmail_connections")]
    async fn list(&self, token: AccessToken, state: Data<&AppState>) -> Result<ListGmailResponse, ApiError> {
        let user_id = token.user_id(&state).await?;
        let connections = gmail::list_for_user(&state.db, user_id)
            .await?
            .into_iter()
            .map(|c| GmailConnection {
                id: c.id,
                gmail_address: c.gmail_address,
                scopes: c.scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
                status: c.status,
                equipped_to: c.equipped_to,
                created_at: c.created_at,
            })
            .collect();
        Ok(ListGmailResponse::Ok(Json(GmailConnections { connections })))
    }
}
