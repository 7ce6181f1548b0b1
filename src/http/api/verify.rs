//! `GET /api/v1/verify`: forward authentication for nginx `auth_request` and Traefik
//! ForwardAuth. It needs only the signing keys and the ephemeral store, so it keeps answering
//! while PostgreSQL is down; when the store is unreachable it answers 503, never 200.

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi};

use super::{ApiTags, error::ApiError, security::AccessToken};
use crate::state::AppState;

#[derive(Default)]
pub struct VerifyApi;

#[derive(ApiResponse)]
pub enum VerifyResponse {
    /// The token is valid and its session live. User tokens carry `X-User-Id` and
    /// `X-Username`; service tokens (client credentials) carry `X-Client-Id` only.
    #[oai(status = 200)]
    Ok(
        #[oai(header = "X-User-Id")] Option<String>,
        #[oai(header = "X-Username")] Option<String>,
        #[oai(header = "X-Client-Id")] Option<String>,
    ),
}

#[OpenApi(tag = "ApiTags::Gateway")]
impl VerifyApi {
    /// Check an access token for the gateway.
    #[oai(path = "/verify", method = "get", operation_id = "verify_token")]
    async fn verify(&self, token: AccessToken, state: Data<&AppState>) -> Result<VerifyResponse, ApiError> {
        let claims = token.claims(&state).await?;
        Ok(if claims.is_user() {
            VerifyResponse::Ok(Some(claims.sub), claims.username, None)
        } else {
            VerifyResponse::Ok(None, None, Some(claims.client_id))
        })
    }
}
