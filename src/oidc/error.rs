//! OAuth protocol errors (RFC 6749 §5.2, RFC 6750 §3.1): protocol output, not internal
//! failures. Rendered as `{"error", "error_description"}` with `Cache-Control: no-store`.

/// An RFC 6749 error and its description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// Unknown client, wrong secret or wrong method: one body for all (no client enumeration).
    #[error("invalid_client")]
    InvalidClient { basic: bool },
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    #[error("unauthorized_client")]
    UnauthorizedClient,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope")]
    InvalidScope,
    #[error("invalid_token: {0}")]
    InvalidToken(&'static str),
    /// A store munji needs is unreachable: `/token` answers 503 `temporarily_unavailable`
    /// (docs/routes.md).
    #[error("temporarily_unavailable")]
    TemporarilyUnavailable,
    #[error("server_error")]
    ServerError,
    /// Over a rate limit (`[rate_limits] oauth`): 429 with `Retry-After`.
    #[error("slow_down")]
    SlowDown { retry_after_secs: u64 },
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidToken(_) => "invalid_token",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
            Self::SlowDown { .. } => "slow_down",
        }
    }

    pub fn description(&self) -> String {
        match self {
            Self::InvalidRequest(why) => why.clone(),
            Self::InvalidClient { .. } => "client authentication failed".into(),
            Self::InvalidGrant(why) | Self::InvalidToken(why) => (*why).to_owned(),
            Self::UnauthorizedClient => "this client may not use this grant type".into(),
            Self::UnsupportedGrantType => {
                "grant_type must be authorization_code, refresh_token or client_credentials".into()
            }
            Self::InvalidScope => "a requested scope is not allowed for this client".into(),
            Self::TemporarilyUnavailable => "a store is unreachable; try again shortly".into(),
            Self::ServerError => "internal error".into(),
            Self::SlowDown { retry_after_secs } => format!("too many requests; retry after {retry_after_secs} s"),
        }
    }

    /// The HTTP status (RFC 6749 §5.2: 401 for client authentication failures).
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient { .. } | Self::InvalidToken(_) => 401,
            Self::TemporarilyUnavailable => 503,
            Self::ServerError => 500,
            Self::SlowDown { .. } => 429,
            _ => 400,
        }
    }
}

impl From<crate::ephemeral::EphemeralError> for OAuthError {
    fn from(e: crate::ephemeral::EphemeralError) -> Self {
        tracing::warn!(error.message = %e, "ephemeral store unavailable");
        Self::TemporarilyUnavailable
    }
}

impl From<crate::sessions::SessionError> for OAuthError {
    fn from(e: crate::sessions::SessionError) -> Self {
        match e {
            crate::sessions::SessionError::Store(e) => e.into(),
            crate::sessions::SessionError::Ephemeral(e) => e.into(),
        }
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error.message = %e, "database unavailable");
            Self::TemporarilyUnavailable
        } else {
            tracing::error!(error.message = %e, error.cause_chain = ?e, "database error");
            Self::ServerError
        }
    }
}

impl From<super::clients::ClientError> for OAuthError {
    fn from(e: super::clients::ClientError) -> Self {
        match e {
            super::clients::ClientError::Store(e) => e.into(),
            _ => Self::ServerError,
        }
    }
}
