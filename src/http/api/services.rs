//! `POST /api/v1/gmail/access-token`: a service (client-credentials token with `gmail.vend`)
//! asks for the access token of the Gmail connection a user equipped to a target
//! (docs/gmail.md).

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
    audit::{self, AuditEvent},
    gmail::{
        self,
        vend::{self, VendError},
    },
    oidc::{
        clients::{Client, ClientError},
        tokens::AccessClaims,
    },
    rate_limit::{Group, Subject, Verdict},
    state::AppState,
    store::users,
};

/// The scope a service token needs to vend.
pub const VEND_SCOPE: &str = "gmail.vend";

#[derive(Default)]
pub struct ServicesApi;

/// Whose Gmail, for which target.
#[derive(Object)]
pub struct VendRequest {
    /// The user's id (the `sub` of their tokens).
    pub user_id: Uuid,
    /// The target the user equipped a connection to, e.g. a bot id: 1–64 characters of
    /// `A-Z a-z 0-9 . _ : -` (anything else: 422 `VALIDATION_FAILED`).
    pub equipped_to: String,
}

/// A Gmail access token, live for at least a minute more (or, when Google issued it for less,
/// as long as Google made it live: see `expires_at`). munji keeps the refresh token.
#[derive(Object)]
pub struct VendedToken {
    /// `Authorization: Bearer …` for the Gmail API.
    pub access_token: String,
    pub expires_at: DateTime<Utc>,
    /// The scopes Google granted (includes `https://www.googleapis.com/auth/gmail.send`).
    pub scopes: Vec<String>,
    /// The address the mail will be sent from.
    pub gmail_address: String,
}

#[derive(ApiResponse)]
pub enum VendResponse {
    #[oai(status = 200)]
    Ok(Json<VendedToken>, #[oai(header = "Cache-Control")] String),
}

impl From<VendError> for ApiError {
    fn from(e: VendError) -> Self {
        match e {
            VendError::UserNotFound => ApiError::new(ErrorCode::UserNotFound, "no such user"),
            VendError::UserDisabled => ApiError::new(ErrorCode::UserDisabled, "the user is disabled"),
            VendError::NotEquipped => {
                ApiError::new(ErrorCode::GmailNotEquipped, "the user has no Gmail connection equipped to this target")
            }
            VendError::Revoked => ApiError::new(
                ErrorCode::GmailTokenRevoked,
                "Google refused the grant; the user has to connect this Gmail account again",
            ),
            VendError::Upstream(_) | VendError::Busy => {
                ApiError::new(ErrorCode::UpstreamUnavailable, "Google did not refresh the token; try again shortly")
            }
            VendError::Store(e) => e.into(),
            VendError::Ephemeral(e) => {
                tracing::warn!(error.message = %e, "ephemeral store unavailable");
                ApiError::new(ErrorCode::ServiceUnavailable, "the session store is unreachable")
            }
            VendError::Vault(e) => ApiError::internal(&e),
        }
    }
}

/// Whether `client` may vend for `target` (its `gmail_targets`, `*` for any).
fn may_vend(client: &Client, target: &str) -> bool {
    client.scopes.iter().any(|s| s == VEND_SCOPE) && client.gmail_targets.iter().any(|t| t == "*" || t == target)
}

/// Why a caller may not vend (the audit event's `reason`).
#[derive(Clone, Copy)]
enum Refusal {
    NotAVendingService,
    TargetNotAllowed,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Self::NotAVendingService => "not_a_vending_service",
            Self::TargetNotAllowed => "target_not_allowed",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::NotAVendingService => "this route needs a service token with scope gmail.vend",
            Self::TargetNotAllowed => "this service may not vend for this target",
        }
    }
}

/// Audit a refused vend in the log of the user it was for (when there is such a user) and say
/// 403. The caller is named by its token's `client_id` (a user token: the app it was issued to).
async fn refuse(state: &AppState, client_id: &str, user_id: Uuid, target: &str, refusal: Refusal) -> ApiError {
    let event = AuditEvent::GmailVendRefused { client_id, target, reason: refusal.reason() };
    let recorded = async {
        if users::find_by_id(&state.db, user_id).await?.is_some() {
            audit::record(&state.db, Some(user_id), event).await?;
        }
        Ok::<_, crate::store::StoreError>(())
    };
    if let Err(e) = recorded.await {
        return e.into();
    }
    ApiError::new(ErrorCode::Forbidden, refusal.message())
}

/// Who a vend call is counted against: the user of a user's token (which is refused here, but
/// each refusal is audited), else the calling client.
fn caller(claims: &AccessClaims) -> Subject<'_> {
    match claims.sub.parse() {
        Ok(user_id) if claims.is_user() => Subject::User(user_id),
        _ => Subject::Client(&claims.client_id),
    }
}

#[OpenApi(tag = "ApiTags::Services")]
impl ServicesApi {
    /// A fresh Gmail access token for the connection `user_id` equipped to `equipped_to`.
    /// Needs a client-credentials token with scope `gmail.vend`, from a client whose
    /// `gmail_targets` include the target. Calls are counted per caller (`[rate_limits] vend`),
    /// refused ones too; over the limit: 429 `RATE_LIMIT_EXCEEDED`.
    #[oai(path = "/gmail/access-token", method = "post", operation_id = "vend_gmail_access_token")]
    async fn vend(
        &self,
        token: AccessToken,
        body: Json<VendRequest>,
        state: Data<&AppState>,
    ) -> Result<VendResponse, ApiError> {
        let claims = token.claims(&state).await?;
        let VendRequest { user_id, equipped_to } = body.0;
        // Refusals are audited, so the target is checked and the caller counted first: nothing
        // malformed and nothing past the limit is written.
        if !gmail::valid_target(&equipped_to) {
            return Err(ApiError::new(ErrorCode::ValidationFailed, gmail::TARGET_RULE));
        }
        if let Verdict::Limited { retry_after } = state.rate_limit(Group::Vend, caller(&claims)).await {
            return Err(ApiError::rate_limited(retry_after));
        }
        let refuse = |reason| refuse(&state, &claims.client_id, user_id, &equipped_to, reason);
        if claims.is_user() || !claims.scope.split(' ').any(|s| s == VEND_SCOPE) {
            return Err(refuse(Refusal::NotAVendingService).await);
        }
        let client = state.clients.find(&state.config, &state.db, &claims.client_id).await.map_err(|e| match e {
            ClientError::Store(e) => ApiError::from(e),
            other => ApiError::internal(&other),
        })?;
        if !client.is_some_and(|c| may_vend(&c, &equipped_to)) {
            return Err(refuse(Refusal::TargetNotAllowed).await);
        }
        let vended = vend::vend(&state, &claims.client_id, user_id, &equipped_to).await?;
        let body = VendedToken {
            access_token: vended.access_token,
            expires_at: vended.expires_at,
            scopes: vended.scopes,
            gmail_address: vended.gmail_address,
        };
        Ok(VendResponse::Ok(Json(body), "no-store".to_owned()))
    }
}
