//! The `/api/v1` error envelope (docs/routes.md):
//! `{"error": {"code": "TOKEN_EXPIRED", "message": "…", "request_id": "…"}}`.
//!
//! Handlers return [`ApiError`]; everything else that fails under `/api/v1` (unknown route,
//! wrong method, oversized body, unparsable input) is turned into the same envelope by
//! [`render_for_path`]. 5xx bodies never describe the internal failure: it is logged instead.

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::http::request_id::RequestId;

/// Where the API lives; errors under it get the envelope.
pub const PREFIX: &str = "/api/v1";

/// The codes clients can rely on, each with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidToken,
    TokenExpired,
    Forbidden,
    ReauthRequired,
    NotFound,
    UserNotFound,
    UserDisabled,
    /// A provider's call whose signature does not hold (the hooks, docs/provider-events.md).
    InvalidSignature,
    /// A provider's event that fails verification or is malformed (the hooks).
    InvalidEvent,
    ClientExists,
    ClientReadOnly,
    MethodNotAllowed,
    IdentityAlreadyLinked,
    LastIdentity,
    GmailTokenRevoked,
    GmailScopeMissing,
    GmailNotEquipped,
    PayloadTooLarge,
    ValidationFailed,
    RateLimitExceeded,
    Internal,
    UpstreamUnavailable,
    ServiceUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidToken => "INVALID_TOKEN",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::Forbidden => "FORBIDDEN",
            Self::ReauthRequired => "REAUTH_REQUIRED",
            Self::NotFound => "NOT_FOUND",
            Self::UserNotFound => "USER_NOT_FOUND",
            Self::UserDisabled => "USER_DISABLED",
            Self::InvalidSignature => "INVALID_SIGNATURE",
            Self::InvalidEvent => "INVALID_EVENT",
            Self::ClientExists => "CLIENT_EXISTS",
            Self::ClientReadOnly => "CLIENT_READ_ONLY",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::IdentityAlreadyLinked => "IDENTITY_ALREADY_LINKED",
            Self::LastIdentity => "LAST_IDENTITY",
            Self::GmailTokenRevoked => "GMAIL_TOKEN_REVOKED",
            Self::GmailScopeMissing => "GMAIL_SCOPE_MISSING",
            Self::GmailNotEquipped => "GMAIL_NOT_EQUIPPED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::ValidationFailed => "VALIDATION_FAILED",
            Self::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            Self::Internal => "INTERNAL_ERROR",
            Self::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidToken | Self::TokenExpired => StatusCode::UNAUTHORIZED,
            Self::InvalidEvent => StatusCode::BAD_REQUEST,
            Self::Forbidden | Self::UserDisabled | Self::InvalidSignature | Self::ReauthRequired => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound | Self::UserNotFound | Self::GmailNotEquipped => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::IdentityAlreadyLinked
            | Self::LastIdentity
            | Self::GmailTokenRevoked
            | Self::ClientExists
            | Self::ClientReadOnly => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ValidationFailed | Self::GmailScopeMissing => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimitExceeded => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The code for a bare HTTP status (errors raised outside a handler).
    fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::InvalidToken,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            413 => Self::PayloadTooLarge,
            429 => Self::RateLimitExceeded,
            502 | 504 => Self::UpstreamUnavailable,
            503 => Self::ServiceUnavailable,
            s if s >= 500 => Self::Internal,
            // Unparsable input of any kind (400, 415, 422) is a validation failure.
            _ => Self::ValidationFailed,
        }
    }
}

/// The body of every `/api/v1` error.
#[derive(Debug, Object)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Object)]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `INVALID_TOKEN`.
    pub code: String,
    /// A human-readable explanation; never contains secrets or internal details.
    pub message: String,
    /// The request's `X-Request-Id`, to quote when reporting a problem.
    pub request_id: String,
}

impl ErrorBody {
    fn new(code: ErrorCode, message: impl Into<String>) -> Json<Self> {
        Json(Self {
            error: ErrorDetail {
                code: code.as_str().to_owned(),
                message: message.into(),
                request_id: RequestId::current(),
            },
        })
    }
}

/// An `/api/v1` error as handlers return it; each variant is one documented status.
#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "validation_failed")]
pub enum ApiError {
    /// No token, an unreadable one, or an expired one (`INVALID_TOKEN`, `TOKEN_EXPIRED`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// The token is valid but may not do this (`FORBIDDEN`), or not yet: its sign-in is too old
    /// (`REAUTH_REQUIRED`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The resource does not exist or belongs to someone else (`NOT_FOUND`, `USER_NOT_FOUND`,
    /// `GMAIL_NOT_EQUIPPED`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The request conflicts with the current state (`IDENTITY_ALREADY_LINKED`, `LAST_IDENTITY`,
    /// `GMAIL_TOKEN_REVOKED`).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The input is malformed or breaks a rule (`VALIDATION_FAILED`).
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Too many requests (`RATE_LIMIT_EXCEEDED`); `Retry-After` says after how many seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] Option<u64>),
    /// An unexpected failure (`INTERNAL_ERROR`); the details are in the log under the request id.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// An upstream provider failed or timed out (`UPSTREAM_UNAVAILABLE`).
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    /// A store munji depends on is unreachable (`SERVICE_UNAVAILABLE`).
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let body = ErrorBody::new(code, message);
        match code.status().as_u16() {
            401 => Self::Unauthorized(body, r#"Bearer realm="munji""#.to_owned()),
            403 => Self::Forbidden(body),
            404 => Self::NotFound(body),
            409 => Self::Conflict(body),
            429 => Self::TooManyRequests(body, None),
            502 => Self::BadGateway(body),
            503 => Self::Unavailable(body),
            500 => Self::Internal(body),
            _ => Self::Unprocessable(body),
        }
    }

    /// Over a rate limit: 429 `RATE_LIMIT_EXCEEDED` with `Retry-After`.
    pub fn rate_limited(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs();
        let body = ErrorBody::new(ErrorCode::RateLimitExceeded, format!("too many requests; retry after {secs} s"));
        Self::TooManyRequests(body, Some(secs))
    }

    /// An opaque 500: the cause is logged here, once, and never sent.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error.message = %cause, error.cause_chain = ?cause, "internal error");
        Self::new(ErrorCode::Internal, "internal error; quote the request id when reporting it")
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error.message = %e, "database unavailable");
            Self::new(ErrorCode::ServiceUnavailable, "the database is unreachable; try again shortly")
        } else {
            Self::internal(&e)
        }
    }
}

impl From<crate::ephemeral::EphemeralError> for ApiError {
    fn from(e: crate::ephemeral::EphemeralError) -> Self {
        tracing::warn!(error.message = %e, "ephemeral store unavailable");
        Self::new(ErrorCode::ServiceUnavailable, "the session store is unreachable; try again shortly")
    }
}

impl From<crate::sessions::SessionError> for ApiError {
    fn from(e: crate::sessions::SessionError) -> Self {
        match e {
            crate::sessions::SessionError::Store(e) => e.into(),
            crate::sessions::SessionError::Ephemeral(e) => e.into(),
        }
    }
}

impl From<crate::oidc::clients::ClientError> for ApiError {
    fn from(e: crate::oidc::clients::ClientError) -> Self {
        match e {
            crate::oidc::clients::ClientError::Store(e) => e.into(),
            other => Self::internal(&other),
        }
    }
}

/// The envelope as a plain poem response, for routes outside `/api/v1` that answer in its
/// shape (the providers' hooks).
pub fn render(code: ErrorCode, message: impl Into<String>) -> Response {
    (code.status(), ErrorBody::new(code, message)).into_response()
}

fn validation_failed(err: poem::Error) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, err.to_string())
}

/// Render an error that no handler turned into a response, in the shape of the area its path
/// belongs to: the envelope under `/api/v1`, poem's plain text elsewhere.
pub fn render_for_path(path: &str, err: poem::Error) -> Response {
    if err.is_from_response() || !(path == PREFIX || path.starts_with("/api/v1/")) {
        if err.status().is_server_error() && !err.is_from_response() {
            tracing::error!(error.message = %err, "internal error");
        }
        return err.into_response();
    }
    let code = ErrorCode::for_status(err.status());
    let message = match code {
        ErrorCode::Internal => {
            tracing::error!(error.message = %err, "internal error");
            "internal error; quote the request id when reporting it".to_owned()
        }
        ErrorCode::NotFound => format!("no route {path}"),
        _ => err.to_string(),
    };
    let mut resp = (code.status(), ErrorBody::new(code, message)).into_response();
    if code.status() == poem::http::StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            poem::http::header::WWW_AUTHENTICATE,
            poem::http::HeaderValue::from_static(r#"Bearer realm="munji""#),
        );
    }
    resp
}
