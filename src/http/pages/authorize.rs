//! `GET /authorize`: the browser side of the authorization code flow, and `POST /authorize`: the
//! answer on its consent page. The decision (an error, sign-in first, the consent page, or a code)
//! is [`crate::oidc::authorize::decide`]'s; this maps it to a page or a redirect, adding `state`
//! and `iss` (RFC 9207) to what goes back to the client.

use poem::{
    IntoResponse, Request, Response, handler,
    web::{Data, Form, Redirect, cookie::CookieJar},
};
use serde::Deserialize;
use url::Url;

use super::{PageError, allow_form_target, render, views};
use crate::{
    http::session::{self, Cookies, check_csrf, csrf_token},
    i18n::Lang,
    oidc::authorize::{AuthorizeError, ConsentAnswer, Outcome, decide},
    state::AppState,
};

#[handler]
pub async fn authorize(
    req: &Request,
    jar: &CookieJar,
    lang: Lang,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    answer(&state, &cookies, lang, req.uri().query().unwrap_or_default(), None).await
}

/// The consent page's form: the original request and the button pressed.
#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    csrf: Option<String>,
    query: String,
    decision: String,
}

/// `POST /authorize`: the user's answer on the consent page (CSRF-checked).
#[handler]
pub async fn consent_answer(
    Form(form): Form<ConsentForm>,
    jar: &CookieJar,
    lang: Lang,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    check_csrf(&state, &cookies, form.csrf.as_deref())?;
    let decision = match form.decision.as_str() {
        "allow" => ConsentAnswer::Allow,
        "deny" => ConsentAnswer::Deny,
        _ => return Err(PageError::BadRequest("decision must be allow or deny")),
    };
    answer(&state, &cookies, lang, &form.query, Some(decision)).await
}

async fn answer(
    state: &AppState,
    cookies: &Cookies<'_>,
    lang: Lang,
    query: &str,
    consent: Option<ConsentAnswer>,
) -> Result<Response, PageError> {
    let session = session::current(state, cookies).await?;
    let outcome = decide(state, query, session.as_ref(), consent).await?;
    Ok(match outcome {
        Outcome::ToClient { redirect_uri, params, state: client_state } => {
            back_to_client(state, &redirect_uri, &params, client_state.as_deref())
        }
        Outcome::Consent { client_name, scopes, query, redirect_uri } => {
            let t = lang.messages();
            let scopes = scopes.into_iter().map(|s| views::ScopeRow { description: t.scope(&s), name: s }).collect();
            let page = render(&views::ConsentView { t, csrf: csrf_token(state, cookies), client_name, scopes, query });
            allow_form_target(page, &redirect_uri)
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
            AuthorizeError::Clients(e) => e.into(),
            AuthorizeError::Ephemeral(e) => e.into(),
            AuthorizeError::Store(e) => e.into(),
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
