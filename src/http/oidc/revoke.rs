//! `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662): client-authenticated forms.

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Json},
};

use super::{error_response, no_store};
use crate::{
    oidc::{authorize::single_valued, client_auth, clients::Client, error::OAuthError, proof::Evidence, revocation},
    state::AppState,
};

/// Authenticate the client and read `token` from the form.
async fn client_and_token(req: &Request, body: Body, state: &AppState) -> Result<(Client, String), OAuthError> {
    let bytes = body.into_vec().await.map_err(|_| OAuthError::InvalidRequest("unreadable body".into()))?;
    let params = single_valued(&String::from_utf8_lossy(&bytes)).map_err(OAuthError::InvalidRequest)?;
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let presented = client_auth::presented(authorization, &params, req.uri().query())?;
    let token = params.iter().find(|(n, _)| n == "token").map(|(_, v)| v.as_str());
    let evidence = token.map_or(Evidence::None, Evidence::Token);
    let client = client_auth::authenticate(state, &presented, evidence).await?;
    let token = token.ok_or_else(|| OAuthError::InvalidRequest("token is missing".into()))?;
    Ok((client, token.to_owned()))
}

#[handler]
pub async fn revoke(req: &Request, body: Body, state: Data<&AppState>) -> Response {
    let result = async {
        let (client, token) = client_and_token(req, body, &state).await?;
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
        let (client, token) = client_and_token(req, body, &state).await?;
        // Open to clients that have a secret: resource servers ask (docs/tokens.md).
        if client.is_public() {
            return Err(OAuthError::InvalidClient { basic: false });
        }
        revocation::introspect(&state, &client, &token).await
    }
    .await;
    match result {
        Ok(body) => no_store(Json(body).into_response()),
        Err(error) => error_response(&error),
    }
}
