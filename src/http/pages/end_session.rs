//! `GET|POST /end-session`: RP-initiated logout (docs/logout.md). The decision is
//! [`crate::oidc::logout::end_session`]'s; this reads the parameters (query or form), checks the
//! confirmation form's CSRF field, clears the session cookie and maps the outcome to a redirect or
//! a page.

use poem::{
    IntoResponse, Request, Response, handler,
    web::{Data, Redirect, cookie::CookieJar},
};

use super::{PageError, allow_form_target, render, views};
use crate::{
    http::session::{self, Cookies, check_csrf, csrf_token},
    i18n::Lang,
    oidc::logout::{self, After, EndSessionRequest, LogoutError, Outcome},
    state::AppState,
};

/// `GET /end-session`: the parameters are in the query.
#[handler]
pub async fn from_query(
    req: &Request,
    jar: &CookieJar,
    lang: Lang,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    answer(&state, &Cookies::new(jar, &state), lang, req.uri().query().unwrap_or_default(), false).await
}

/// `POST /end-session`: an app's form post, or the user's answer on the confirmation page (it
/// carries `confirm` and the CSRF field).
#[handler]
pub async fn from_form(
    body: String,
    jar: &CookieJar,
    lang: Lang,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    answer(&state, &Cookies::new(jar, &state), lang, &body, true).await
}

/// `confirmable`: a POST, which may be the confirmation form (a GET never is).
async fn answer(
    state: &AppState,
    cookies: &Cookies<'_>,
    lang: Lang,
    encoded: &str,
    confirmable: bool,
) -> Result<Response, PageError> {
    let request = EndSessionRequest::parse(encoded)?;
    let t = request.ui_locales.as_deref().and_then(Lang::from_ui_locales).unwrap_or(lang).messages();
    let form = |name: &str| url::form_urlencoded::parse(encoded.as_bytes()).find(|(n, _)| n == name).map(|(_, v)| v);
    let confirmed = confirmable && form("confirm").is_some();
    if confirmed {
        check_csrf(state, cookies, form("csrf").as_deref())?;
    }
    let current = session::current(state, cookies).await?;
    Ok(match logout::end_session(state, &request, current.as_ref(), confirmed).await?? {
        Outcome::Confirm { client_name, redirect } => {
            let fields = request.fields();
            let page = render(&views::EndSessionView { t, csrf: csrf_token(state, cookies), fields, client_name });
            match redirect {
                Some(target) => allow_form_target(page, &target),
                None => page,
            }
        }
        Outcome::SignedOut(after) => {
            session::forget(cookies);
            match after {
                After::Redirect(uri) => Redirect::see_other(uri).into_response(),
                After::SignedOut { .. } => render(&views::SignedOutView { t }),
            }
        }
    })
}

impl From<LogoutError> for PageError {
    fn from(e: LogoutError) -> Self {
        match e {
            LogoutError::Clients(e) => e.into(),
            LogoutError::Store(e) => e.into(),
            LogoutError::Sessions(e) => e.into(),
        }
    }
}
