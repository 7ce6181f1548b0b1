//! `GET /account/export` (the user's data as a JSON download), `POST /account/delete` and the
//! page that says the account is gone (docs/leaving.md).

use poem::{
    IntoResponse, Response, handler,
    http::header,
    web::{Data, Form, Redirect, cookie::CookieJar},
};
use poem_openapi::types::ToJSON as _;
use serde::Deserialize;

use super::{PageError, render, views};
use crate::{
    http::{
        api::leaving::Export,
        session::{self, Cookies},
    },
    i18n::Lang,
    leaving::{self, Deleter, LeavingError},
    state::AppState,
    store::users,
};

/// Where a browser goes to sign in (again) and come back to the account page's delete section.
const SIGN_IN_AGAIN: &str = "/login?return_to=%2Faccount%23leave";

impl From<LeavingError> for PageError {
    fn from(e: LeavingError) -> Self {
        match e {
            LeavingError::NoSuchUser => PageError::NotFound,
            LeavingError::Store(e) => e.into(),
            LeavingError::Sessions(e) => e.into(),
        }
    }
}

/// `GET /account/export`: the export of `GET /api/v1/me/export`, as a file to save.
#[handler]
pub async fn export(jar: &CookieJar, state: Data<&AppState>) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    let Some(session) = session::current(&state, &cookies).await? else {
        return Ok(Redirect::see_other("/login?return_to=%2Faccount").into_response());
    };
    let export = leaving::export(&state, session.user_id).await?;
    let name = format!("munji-{}-{}.json", export.detail.user.user.username, export.exported_at.format("%Y%m%d"));
    let body = Export::of(export, Some(&session.sid)).to_json_string();
    Ok(Response::builder()
        .content_type("application/json; charset=utf-8")
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))
        .body(body))
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    csrf: Option<String>,
    /// The username, typed again.
    confirm: Option<String>,
}

/// `POST /account/delete`: with the username typed again and a sign-in of the last 5 minutes,
/// delete the account and say so; a stale sign-in is sent to sign in again first.
#[handler]
pub async fn delete(
    Form(form): Form<DeleteForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    let Some(session) = session::signed_in_post(&state, &cookies, form.csrf.as_deref()).await? else {
        return Ok(Redirect::see_other(SIGN_IN_AGAIN).into_response());
    };
    let user = users::find_by_id(&state.db, session.user_id).await?.ok_or(PageError::NotFound)?;
    if form.confirm.as_deref().map(str::trim) != Some(user.username.as_str()) {
        return Err(PageError::ConfirmMismatch);
    }
    if !leaving::signed_in_recently(&state, session.auth_time) {
        return Ok(Redirect::see_other(SIGN_IN_AGAIN).into_response());
    }
    leaving::delete_account(&state, user.id, Deleter::User).await?;
    session::forget(&cookies);
    Ok(Redirect::see_other("/account/deleted").into_response())
}

/// `GET /account/deleted`
#[handler]
pub fn deleted(lang: Lang) -> Response {
    render(&views::AccountDeletedView { t: lang.messages() })
}
