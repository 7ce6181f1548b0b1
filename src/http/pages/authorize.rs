//! `GET /authorize`: the browser side of the authorization code flow. No session (or
//! `prompt=login`, or an authentication older than `max_age`) → the sign-in page, then back here;
//! a valid request with a live session → a code for the client's redirect URI, with `state` and
//! `iss` (RFC 9207).

use chrono::Utc;
use poem::{
    IntoResponse, Request, Response, handler,
    web::{Data, Redirect, cookie::CookieJar},
};
use url::Url;

use super::PageError;
use crate::{
    http::session::{self, Cookies},
    oidc::authorize::{CodeRecord, Refusal, check, code_expires_at, issue_code},
    state::AppState,
};

#[handler]
pub async fn authorize(req: &Request, jar: &CookieJar, state: Data<&AppState>) -> Result<Response, PageError> {
    let query = req.uri().query().unwrap_or_default();
    let request = match check(&state.clients, &state.config, &state.db, query).await.map_err(|e| match e {
        crate::oidc::authorize::AuthorizeError::Clients(crate::oidc::clients::ClientError::Store(e)) => {
            PageError::from(e)
        }
        other => PageError::Internal(other.to_string()),
    })? {
        Ok(request) => request,
        Err(Refusal::Page { error, description }) => return Err(PageError::Authorize { error, description }),
        Err(Refusal::Redirect { redirect_uri, state: client_state, error, description }) => {
            let params = [("error", error), ("error_description", description.as_str())];
            return Ok(back_to_client(&state, &redirect_uri, &params, client_state.as_deref()));
        }
    };
    let cookies = Cookies::new(jar, &state);
    let session = session::current(&state, &cookies).await?;
    let now = Utc::now().timestamp();
    let fresh_enough = |auth_time: i64| request.max_age.is_none_or(|max| now - auth_time <= max);
    let session = match session {
        Some(s) if !request.prompt_login && fresh_enough(s.auth_time) => s,
        _ if request.prompt_none => {
            let params = [("error", "login_required"), ("error_description", "the user is not signed in")];
            return Ok(back_to_client(&state, &request.redirect_uri, &params, request.state.as_deref()));
        }
        _ => {
            // Sign in, then come back; without prompt=login, or it would ask forever.
            let again: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(
                    url::form_urlencoded::parse(query.as_bytes()).filter(|(n, v)| !(n == "prompt" && v == "login")),
                )
                .finish();
            let return_to = format!("/authorize?{again}");
            let login = format!(
                "/login?return_to={}",
                url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
            );
            return Ok(Redirect::see_other(login).into_response());
        }
    };
    let record = CodeRecord {
        client_id: request.client.id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        user_id: session.user_id,
        sid: session.sid.clone(),
        auth_time: session.auth_time,
        expires_at_ms: code_expires_at(),
    };
    let code = issue_code(&state.ephemeral, &record).await?;
    Ok(back_to_client(&state, &request.redirect_uri, &[("code", code.as_str())], request.state.as_deref()))
}

/// 303 to the client's redirect URI with `params`, `state` and `iss` added to its query.
fn back_to_client(
    state: &AppState,
    redirect_uri: &str,
    params: &[(&str, &str)],
    client_state: Option<&str>,
) -> Response {
    // The URI was matched against the client's registered ones, which all parse.
    let Ok(mut target) = Url::parse(redirect_uri) else {
        return poem::http::StatusCode::BAD_REQUEST.into_response();
    };
    {
        let mut query = target.query_pairs_mut();
        query.extend_pairs(params.iter().copied());
        if let Some(client_state) = client_state {
            query.append_pair("state", client_state);
        }
        query.append_pair("iss", &state.tokens.issuer);
    }
    Redirect::see_other(target.as_str()).into_response()
}
