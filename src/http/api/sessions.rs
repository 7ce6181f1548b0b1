//! `GET /api/v1/me/sessions` and `DELETE /api/v1/me/sessions/{id}`: the user's signed-in
//! browsers, and ending one of them.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{
    ApiTags,
    error::{ApiError, ErrorCode},
    security::AccessToken,
};
use crate::{sessions, state::AppState};

#[derive(Default)]
pub struct SessionsApi;

/// One signed-in browser of the user.
#[derive(Object)]
pub struct SessionView {
    /// An opaque handle of the session (the `sid` of its tokens), not its cookie.
    pub id: String,
    /// Whether the token making this request belongs to this session.
    pub current: bool,
    pub started_at: DateTime<Utc>,
    /// When the session was last used (to the minute).
    pub last_seen_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    /// The address the session signed in from.
    pub ip: Option<String>,
}

impl SessionView {
    /// `row` as listed to a caller whose own session is `current_sid`.
    pub(super) fn of(row: crate::store::sessions::SessionRow, current_sid: Option<&str>) -> Self {
        Self {
            current: current_sid == Some(row.sid.as_str()),
            id: row.sid,
            started_at: row.started_at,
            last_seen_at: row.last_seen_at,
            user_agent: row.user_agent,
            ip: row.ip,
        }
    }
}

#[derive(Object)]
pub struct Sessions {
    pub sessions: Vec<SessionView>,
}

#[derive(ApiResponse)]
pub enum ListSessionsResponse {
    #[oai(status = 200)]
    Ok(Json<Sessions>),
}

#[derive(ApiResponse)]
pub enum EndSessionResponse {
    /// The session has ended: its tokens are refused and its browser is signed out.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Me")]
impl SessionsApi {
    /// The user's sessions, newest first.
    #[oai(path = "/me/sessions", method = "get", operation_id = "list_sessions")]
    async fn list(&self, token: AccessToken, state: Data<&AppState>) -> Result<ListSessionsResponse, ApiError> {
        let (user_id, claims) = token.user(&state).await?;
        let sessions = sessions::list(&state, user_id)
            .await?
            .into_iter()
            .map(|s| SessionView::of(s, claims.sid.as_deref()))
            .collect();
        Ok(ListSessionsResponse::Ok(Json(Sessions { sessions })))
    }

    /// End one of the user's sessions (also the current one).
    #[oai(path = "/me/sessions/:id", method = "delete", operation_id = "end_session")]
    async fn end(
        &self,
        token: AccessToken,
        id: Path<String>,
        state: Data<&AppState>,
    ) -> Result<EndSessionResponse, ApiError> {
        let user_id = token.user_id(&state).await?;
        if sessions::end_own(&state, user_id, &id.0).await? {
            Ok(EndSessionResponse::NoContent)
        } else {
            Err(ApiError::new(ErrorCode::NotFound, "no such session of this user"))
        }
    }
}
