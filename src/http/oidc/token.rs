//! `POST /token` (RFC 6749 §3.2): client authentication, then one grant.

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::header,
    web::{Data, Json},
};

use super::{error_response, no_store};
use crate::{
    http::rate_limit::client_ip,
    oidc::{
        authorize::single_valued,
        client_auth::{self, Caller},
        error::OAuthError,
        grant,
        proof::Evidence,
    },
    state::AppState,
};

#[handler]
pub async fn token(req: &Request, body: Body, state: Data<&AppState>) -> Response {
    match exchange(req, body, &state).await {
        Ok(issued) => no_store(Json(issued).into_response()),
        Err(error) => error_response(&error),
    }
}

async fn exchange(req: &Request, body: Body, state: &AppState) -> Result<grant::Issued, OAuthError> {
    let ip = client_ip(req);
    let (params, presented) = match read(req, body).await {
        Ok(read) => read,
        Err(error) => {
            return Err(Caller::refused(ip, error).admit(state).await.err().unwrap_or(OAuthError::ServerError));
        }
    };
    let client = client_auth::authenticate(state, &presented, Evidence::of_token_form(&params), ip).await?;
    grant::exchange(state, &client, &grant::TokenRequest::from_form(&params)?).await
}

/// The form and the client credentials it presents.
async fn read(req: &Request, body: Body) -> Result<(Vec<(String, String)>, client_auth::Presented), OAuthError> {
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(OAuthError::InvalidRequest("the body must be application/x-www-form-urlencoded".into()));
    }
    let bytes = body.into_vec().await.map_err(|_| OAuthError::InvalidRequest("unreadable body".into()))?;
    let params = single_valued(&String::from_utf8_lossy(&bytes)).map_err(OAuthError::InvalidRequest)?;
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let presented = client_auth::presented(authorization, &params, req.uri().query())?;
    Ok((params, presented))
}
