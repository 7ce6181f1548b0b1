//! `GET/POST /signup`: the form that finishes a new account after a first sign-in
//! (`registration = "form"`); the rules are in [`crate::identity::signup`].

use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{Data, Form, Redirect, cookie::CookieJar},
};
use serde::Deserialize;

use super::{PageError, render, views};
use crate::{
    http::session::{self, ClientOrigin, Cookies, SIGNUP, check_csrf, csrf_token},
    i18n::{Lang, Messages},
    identity::{
        UsernameProblem,
        signup::{self, SIGNUP_TTL, SignupOutcome},
    },
    state::AppState,
    upstream::UpstreamProfile,
};

/// Keep the verified profile and send the browser to the sign-up form.
pub(super) async fn begin(
    state: &AppState,
    cookies: &Cookies<'_>,
    profile: UpstreamProfile,
    return_to: String,
) -> Result<Response, PageError> {
    let id = signup::begin(state, profile, return_to, &cookies.ensure_browser()).await?;
    cookies.set(SIGNUP, &id, Some(SIGNUP_TTL));
    Ok(Redirect::see_other("/signup").into_response())
}

#[handler]
pub async fn signup_page(jar: &CookieJar, lang: Lang, state: Data<&AppState>) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    let id = cookies.get(SIGNUP).ok_or(PageError::SignupExpired)?;
    let pending = signup::load(&state, &id, cookies.browser().as_deref()).await?.ok_or(PageError::SignupExpired)?;
    let (username, display_name) = signup::suggestions(&pending);
    Ok(render(&views::SignupView {
        t: lang.messages(),
        csrf: csrf_token(&state, &cookies),
        username: username.to_string(),
        display_name,
        errors: vec![],
        username_invalid: false,
        display_name_invalid: false,
    }))
}

#[derive(Debug, Deserialize)]
pub struct SignupForm {
    username: Option<String>,
    display_name: Option<String>,
    csrf: Option<String>,
}

fn username_message(t: &'static Messages, problem: UsernameProblem) -> &'static str {
    match problem {
        UsernameProblem::TooShort => t.err_username_short,
        UsernameProblem::TooLong => t.err_username_long,
        UsernameProblem::BadCharacters => t.err_username_chars,
        UsernameProblem::Taken => t.err_username_taken,
    }
}

#[handler]
pub async fn submit(
    Form(form): Form<SignupForm>,
    jar: &CookieJar,
    lang: Lang,
    ClientOrigin(origin): ClientOrigin,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    check_csrf(&state, &cookies, form.csrf.as_deref())?;
    let id = cookies.get(SIGNUP).ok_or(PageError::SignupExpired)?;
    let typed = signup::SignupForm {
        username: form.username.as_deref().unwrap_or_default(),
        display_name: form.display_name.as_deref().unwrap_or_default(),
    };
    let previous = session::session_cookie(&cookies);
    let browser = cookies.browser();
    match signup::complete(&state, &id, browser.as_deref(), typed, &origin, previous.as_ref()).await? {
        SignupOutcome::SignedIn { signed_in, return_to } => {
            cookies.clear(SIGNUP);
            session::set_session(&state, &cookies, &signed_in.cookie);
            Ok(Redirect::see_other(return_to).into_response())
        }
        SignupOutcome::Invalid { username, display_name_invalid } => {
            let t = lang.messages();
            let mut errors: Vec<&'static str> = username.map(|p| username_message(t, p)).into_iter().collect();
            if display_name_invalid {
                errors.push(t.err_display_name);
            }
            let mut resp = render(&views::SignupView {
                t,
                csrf: csrf_token(&state, &cookies),
                username: typed.username.trim().to_owned(),
                display_name: typed.display_name.trim().to_owned(),
                errors,
                username_invalid: username.is_some(),
                display_name_invalid,
            });
            resp.set_status(StatusCode::UNPROCESSABLE_ENTITY);
            Ok(resp)
        }
        SignupOutcome::Expired => Err(PageError::SignupExpired),
    }
}
