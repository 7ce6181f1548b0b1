//! `GET /authorize`: the browser side of the authorization code flow. The decision (an error,
//! sign-in first, or a code) is [`crate::oidc::authorize::decide`]'s; this maps it to a page or a
//! redirect, adding `state` and `iss` (RFC 9207) to what goes back to the client.

use poem::{
    IntoResponse, Request, Response, handler,
    web::{Data, Redirect, cookie::CookieJar},
};
use url::Url;

use super::PageError;
use crate::{
    http::session::{self, Cookies},
    oidc::authorize::{AuthorizeError, Outcome, decide},
    state::AppState,
};

#[handler]
pub async fn authorize(req: &Request, jar: &CookieJar, state: Data<&AppState>) -> Result<Response, PageError> {
    let query = req.uri().query().unwrap_or_default();
    let cookies = Cookies::new(jar, &state);
    let session = session::current(&state, &cookies).await?;
    let outcome = decide(&state, query, session.as_ref()).await?;
    Ok(match outcome {
        Outcome::ToClient { redirect_uri, params, state: client_state } => {
            back_to_client(&state, &redirect_uri, &params, client_state.as_deref())
        }
        Outcome::Page { error, description } => return Err(PageError::Authorize { error, description }),
        Outcome::SignIn { return_to } => {
            let return_to = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>();
            Redirect::see_other(format!("/login?return_to={return_to}")).into_response()
        }
    })
}

impl From<AuthorizeError> for PageError {
    fn from(e: AuthorizeError) -> Self {
        match e {
            AuthorizeError::Clients(crate::oidc::clients::ClientError::Store(e)) => e.into(),
            AuthorizeError::Ephemeral(e) => e.into(),
            other => PageError::Internal(other.into()),
        }
    }
}

/// 303 to the client's redirect URI with `params`, `state` and `iss` added to its query.
fn back_to_client(
    state: &AppState,
    redirect_uri: &str,
    params: &[(&'static str, String)],
    client_state: Option<&str>,
) -> Response {
    // The URI was matched against the client's registered ones, which all parse.
    let Ok(mut target) = Url::parse(redirect_uri) else {
        return poem::http::StatusCode::BAD_REQUEST.into_response();
    };
    {
        let mut query = target.query_pairs_mut();
        query.extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        if let Some(client_state) = client_state {
            query.append_pair("state", client_state);
        }
        query.append_pair("iss", &state.tokens.issuer);
    }
    Redirect::see_other(target.as_str()).into_response()
}
