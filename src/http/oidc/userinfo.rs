//! `GET|POST /userinfo` (OIDC Core §5.3): the token in `Authorization: Bearer` or, with POST,
//! in the form field `access_token` (RFC 6750 §2.2).

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::{Method, header},
    web::{Data, Json},
};
use serde_json::json;

use super::error_response;
use crate::{oidc::error::OAuthError, sessions, state::AppState, store::users};

#[handler]
pub async fn userinfo(req: &Request, body: Body, state: Data<&AppState>) -> Response {
    match claims_of(req, body, &state).await {
        Ok(body) => Json(body).into_response(),
        Err(error) => error_response(&error),
    }
}

async fn claims_of(req: &Request, body: Body, state: &AppState) -> Result<serde_json::Value, OAuthError> {
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let token = match (from_header, req.method() == Method::POST) {
        (Some(token), _) => token,
        (None, true) => {
            let bytes = body.into_vec().await.unwrap_or_default();
            url::form_urlencoded::parse(&bytes)
                .find(|(n, _)| n == "access_token")
                .map(|(_, v)| v.into_owned())
                .ok_or(OAuthError::InvalidToken("no access token"))?
        }
        (None, false) => return Err(OAuthError::InvalidToken("no access token")),
    };
    let claims = sessions::live_claims(state, &token).await.map_err(|e| match e {
        sessions::TokenRefusal::Unavailable => OAuthError::TemporarilyUnavailable,
        _ => OAuthError::InvalidToken("the access token is invalid, expired or revoked"),
    })?;
    let Some(user_id) = claims.user_id() else {
        return Err(OAuthError::InvalidToken("not a user's token"));
    };
    let user = users::find_by_id(&state.db, user_id).await?.ok_or(OAuthError::InvalidToken("no such user"))?;
    let scopes: Vec<&str> = claims.scope.split(' ').collect();
    let mut body = json!({ "sub": user.id });
    if scopes.contains(&"profile") {
        body["preferred_username"] = json!(user.username);
        body["name"] = json!(user.display_name);
    }
    if scopes.contains(&"email") && user.email.is_some() {
        body["email"] = json!(user.email);
    }
    Ok(body)
}
