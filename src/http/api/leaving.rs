//! `GET /api/v1/me/export` and `DELETE /api/v1/me`: the user's data, and leaving
//! (docs/leaving.md).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{
    ApiTags,
    admin::{AdminUser, AdminUserDetail, PastEmail},
    apps::AppView,
    error::{ApiError, ErrorCode},
    gmail::GmailConnection,
    me::IdentityView,
    security::AccessToken,
    sessions::SessionView,
};
use crate::{
    leaving::{self, Deleter, LeavingError},
    state::AppState,
};

#[derive(Default)]
pub struct LeavingApi;

/// One audit event of the user.
#[derive(Object)]
pub struct ExportAuditEvent {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub detail: serde_json::Value,
}

/// Everything munji holds about the user, except secrets (no token of any kind).
#[derive(Object)]
pub struct Export {
    pub exported_at: DateTime<Utc>,
    pub user: AdminUser,
    pub identities: Vec<IdentityView>,
    /// Earlier e-mail addresses of the identities.
    pub email_history: Vec<PastEmail>,
    pub sessions: Vec<SessionView>,
    pub apps: Vec<AppView>,
    /// Gmail connections, without their tokens.
    pub gmail: Vec<GmailConnection>,
    /// Every audit event of the user, newest first.
    pub audit: Vec<ExportAuditEvent>,
}

impl Export {
    /// The export as a caller whose own session is `current_sid` reads it.
    pub fn of(export: leaving::Export, current_sid: Option<&str>) -> Self {
        let detail = AdminUserDetail::from(export.detail);
        let mut sessions = detail.sessions;
        for session in &mut sessions {
            session.current = current_sid == Some(session.id.as_str());
        }
        Self {
            exported_at: export.exported_at,
            user: detail.user,
            identities: detail.identities,
            email_history: detail.email_history,
            sessions,
            apps: detail.apps,
            gmail: detail.gmail,
            audit: export
                .audit
                .into_iter()
                .map(|e| ExportAuditEvent { at: e.at, kind: e.kind, detail: e.detail.0 })
                .collect(),
        }
    }
}

#[derive(ApiResponse)]
pub enum ExportResponse {
    #[oai(status = 200)]
    Ok(Json<Export>),
}

#[derive(ApiResponse)]
pub enum DeleteMeResponse {
    /// The account is deleted; its sessions have ended and its apps are told.
    #[oai(status = 204)]
    NoContent,
}

impl From<LeavingError> for ApiError {
    fn from(e: LeavingError) -> Self {
        match e {
            LeavingError::NoSuchUser => ApiError::new(ErrorCode::UserNotFound, "no such user"),
            LeavingError::Store(e) => e.into(),
            LeavingError::Sessions(e) => e.into(),
        }
    }
}

#[OpenApi(tag = "ApiTags::Me")]
impl LeavingApi {
    /// Everything munji holds about the user, except secrets.
    #[oai(path = "/me/export", method = "get", operation_id = "export_me")]
    async fn export(&self, token: AccessToken, state: Data<&AppState>) -> Result<ExportResponse, ApiError> {
        let (user_id, claims) = token.user(&state).await?;
        let export = leaving::export(&state, user_id).await?;
        Ok(ExportResponse::Ok(Json(Export::of(export, claims.sid.as_deref()))))
    }

    /// Delete the user's account. The token's `auth_time` must be within the last 5 minutes
    /// (else 403 `REAUTH_REQUIRED`): sign in again, then call this with the new token.
    #[oai(path = "/me", method = "delete", operation_id = "delete_me")]
    async fn delete(&self, token: AccessToken, state: Data<&AppState>) -> Result<DeleteMeResponse, ApiError> {
        let (user_id, claims) = token.user(&state).await?;
        if !claims.auth_time.is_some_and(|at| leaving::signed_in_recently(&state, at)) {
            return Err(ApiError::new(
                ErrorCode::ReauthRequired,
                "deleting the account needs a sign-in within the last 5 minutes",
            ));
        }
        leaving::delete_account(&state, user_id, Deleter::User).await?;
        Ok(DeleteMeResponse::NoContent)
    }
}
