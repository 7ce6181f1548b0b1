//! `GET /api/v1/me/audit` and `GET /api/v1/me/gmail/audit`: the user's own audit events
//! (docs/routes.md), newest first.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Query, payload::Json};

use super::{
    ApiTags,
    error::{ApiError, ErrorCode},
    security::AccessToken,
};
use crate::{state::AppState, store::audit};

/// Events listed when `limit` is not given, and the most one page lists.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

#[derive(Default)]
pub struct AuditApi;

/// Something that happened to the account.
#[derive(Object)]
pub struct AuditEventView {
    pub at: DateTime<Utc>,
    /// `signup`, `login`, `link`, `gmail_vend`, … (the list is in docs/routes.md).
    pub kind: String,
    /// Depends on the kind, e.g. `{"provider": "naver"}` or `{"client_id": "mailer", …}`.
    pub detail: serde_json::Value,
}

#[derive(Object)]
pub struct AuditEvents {
    pub events: Vec<AuditEventView>,
}

#[derive(ApiResponse)]
pub enum AuditResponse {
    #[oai(status = 200)]
    Ok(Json<AuditEvents>),
}

/// `?limit=`: 1 or more (default 50); more than 200 lists 200.
pub(super) fn page_size(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if n >= 1 => Ok(n.min(MAX_LIMIT)),
        Some(_) => Err(ApiError::new(ErrorCode::ValidationFailed, "limit must be at least 1")),
    }
}

async fn events(
    state: &AppState,
    token: &AccessToken,
    prefix: &str,
    limit: Option<i64>,
) -> Result<AuditResponse, ApiError> {
    let limit = page_size(limit)?;
    let user_id = token.user_id(state).await?;
    let events = audit::list_for_user_with_prefix(&state.db, user_id, prefix, limit)
        .await?
        .into_iter()
        .map(|e| AuditEventView { at: e.at, kind: e.kind, detail: e.detail.0 })
        .collect();
    Ok(AuditResponse::Ok(Json(AuditEvents { events })))
}

#[OpenApi(tag = "ApiTags::Me")]
impl AuditApi {
    /// The user's audit events: sign-ins, links, unlinks, Gmail; newest first.
    #[oai(path = "/me/audit", method = "get", operation_id = "list_audit_events")]
    async fn all(
        &self,
        token: AccessToken,
        limit: Query<Option<i64>>,
        state: Data<&AppState>,
    ) -> Result<AuditResponse, ApiError> {
        events(&state, &token, "", limit.0).await
    }

    /// The Gmail subset of the user's audit events (connect, equip, unequip, vend, refresh,
    /// revoked, disconnect); newest first.
    #[oai(path = "/me/gmail/audit", method = "get", operation_id = "list_gmail_audit_events")]
    async fn gmail(
        &self,
        token: AccessToken,
        limit: Query<Option<i64>>,
        state: Data<&AppState>,
    ) -> Result<AuditResponse, ApiError> {
        events(&state, &token, "gmail_", limit.0).await
    }
}
