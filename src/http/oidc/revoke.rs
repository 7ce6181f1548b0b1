//! `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662): client-authenticated forms.

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Json},
};

use super::{error_response, no_store};
use crate::{
    http::rate_limit::client_ip,
    oidc::{
        authorize::single_valued,
        client_auth::{self, Caller},
        error::OAuthError,
        proof::Evidence,
        revocation,
    },
    state::AppState,
};

/// The caller, identified but not yet counted, and the `token` of the form.
async fn caller_and_token(req: &Request, body: Body, state: &AppState) -> Result<(Caller, Option<String>), OAuthError> {
    let ip = client_ip(req);
    let read = async {
        let bytes = body.into_vec().await.map_err(|_| OAuthError::InvalidRequest("unreadable body".into()))?;
        let params = single_valued(&String::from_utf8_lossy(&bytes)).map_err(OAuthError::InvalidRequest)?;
        let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let presented = client_auth::presented(authorization, &params, req.uri().query())?;
        let token = params.into_iter().find(|(n, _)| n == "token").map(|(_, v)| v);
        Ok::<_, OAuthError>((presented, token))
    };
    match read.await {
        Ok((presented, token)) => {
            let evidence = token.as_deref().map_or(Evidence::None, Evidence::Token);
            Ok((client_auth::identify(state, &presented, evidence, ip).await?, token))
        }
        Err(error) => Ok((Caller::refused(ip, error), None)),
    }
}

#[handler]
pub async fn revoke(req: &Request, body: Body, state: Data<&AppState>) -> Response {
    let result = async {
        let (caller, token) = caller_and_token(req, body, &state).await?;
        let client = caller.admit(&state).await?;
        let token = token.ok_or_else(|| OAuthError::InvalidRequest("token is missing".into()))?;
        revocation::revoke(&state, &client, &token).await
    }
    .await;
    match result {
        // RFC 7009 §2.2: 200 whether or not the token was known.
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(error) => error_response(&error),
    }
}

#[handler]
pub async fn introspect(req: &Request, body: Body, state: Data<&AppState>) -> Response {
    let result = async {
        let (caller, token) = caller_and_token(req, body, &state).await?;
        revocation::introspect(&state, caller, token.as_deref()).await
    }
    .await;
    match result {
        Ok(body) => no_store(Json(body).into_response()),
        Err(error) => error_response(&error),
    }
}
