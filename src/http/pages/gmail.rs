//! `POST /account/gmail/connect` and the end of its flow at `/callback/google` (docs/gmail.md):
//! the same state rules as sign-in, and the connection is kept only in the browser session
//! that started it, so one person cannot finish another's connection (docs/security.md).

use poem::{
    IntoResponse, Response, handler,
    web::{Data, Form, Path, Redirect, cookie::CookieJar},
};
use uuid::Uuid;

use super::{PageError, link::CsrfForm, login::begin_flow};
use crate::{
    audit::{self, AuditEvent},
    gmail::{
        connect::{self as connection, ConnectError},
        disconnect::DisconnectError,
        equip::{self as equipping, EquipError},
    },
    http::{
        rate_limit::RateLimited,
        session::{self, Cookies, check_csrf},
    },
    rate_limit::Group,
    state::AppState,
    upstream::{GmailGrant, Provider, state::Purpose},
};

#[handler]
pub async fn connect(
    Form(form): Form<CsrfForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    check_csrf(&state, &cookies, form.csrf.as_deref())?;
    if !state.upstreams.is_enabled(Provider::Google) || !state.vault.is_configured() {
        return Err(PageError::NotFound);
    }
    let Some(current) = session::current(&state, &cookies).await? else {
        return Ok(Redirect::see_other("/login?return_to=%2Faccount").into_response());
    };
    let purpose = Purpose::GmailConnect { user_id: current.user_id, sid: current.sid };
    Ok(begin_flow(&state, &cookies, Provider::Google, purpose, true).await?.into_response())
}

#[derive(Debug, serde::Deserialize)]
pub struct EquipForm {
    csrf: Option<String>,
    equipped_to: Option<String>,
}

/// `POST /account/gmail/{id}/equip`.
#[handler]
pub async fn equip(
    Path(id): Path<String>,
    Form(form): Form<EquipForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> poem::Result<Redirect> {
    let (user_id, id) = signed_in_owner(&state, jar, form.csrf.as_deref(), &id).await?;
    let target = form.equipped_to.unwrap_or_default();
    equipping::equip(&state, user_id, id, target.trim()).await.map_err(equip_error)?;
    Ok(Redirect::see_other("/account"))
}

/// `POST /account/gmail/{id}/unequip`.
#[handler]
pub async fn unequip(
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> poem::Result<Redirect> {
    let (user_id, id) = signed_in_owner(&state, jar, form.csrf.as_deref(), &id).await?;
    equipping::unequip(&state, user_id, id).await.map_err(equip_error)?;
    Ok(Redirect::see_other("/account"))
}

/// The error page of a refused equip or unequip (over the limit: 429 with `Retry-After`).
fn equip_error(e: EquipError) -> poem::Error {
    match e {
        EquipError::RateLimited { retry_after } => RateLimited { group: Group::Pages, retry_after }.into(),
        EquipError::NotFound => PageError::NotFound.into(),
        EquipError::ScopeMissing => PageError::GmailScopeMissing.into(),
        EquipError::BadTarget => PageError::BadRequest("target").into(),
        EquipError::Store(e) => PageError::from(e).into(),
    }
}

/// `POST /account/gmail/{id}/disconnect`.
#[handler]
pub async fn disconnect(
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Redirect, PageError> {
    let (user_id, id) = signed_in_owner(&state, jar, form.csrf.as_deref(), &id).await?;
    crate::gmail::disconnect::disconnect(&state, user_id, id).await?;
    Ok(Redirect::see_other("/account"))
}

/// The signed-in user and the connection id of a Gmail form, after its CSRF check.
async fn signed_in_owner(
    state: &AppState,
    jar: &CookieJar,
    csrf: Option<&str>,
    id: &str,
) -> Result<(Uuid, Uuid), PageError> {
    let cookies = Cookies::new(jar, state);
    check_csrf(state, &cookies, csrf)?;
    let current = session::current(state, &cookies).await?.ok_or(PageError::Csrf)?;
    Ok((current.user_id, id.parse().map_err(|_| PageError::NotFound)?))
}

impl From<DisconnectError> for PageError {
    fn from(e: DisconnectError) -> Self {
        match e {
            DisconnectError::NotFound => PageError::NotFound,
            DisconnectError::Upstream(e) => PageError::Upstream(e),
            DisconnectError::Store(e) => e.into(),
        }
    }
}

pub(super) async fn finish(
    state: &AppState,
    cookies: &Cookies<'_>,
    user_id: Uuid,
    sid: &str,
    grant: GmailGrant,
) -> Result<Response, PageError> {
    let current = session::current(state, cookies).await?;
    if !current.is_some_and(|s| s.user_id == user_id && s.sid == sid) {
        return Err(PageError::LinkOtherUser);
    }
    let kept = connection::keep(&state.db, &state.vault, user_id, &grant).await.map_err(|e| match e {
        ConnectError::Store(e) => PageError::from(e),
        other => PageError::Internal(other.into()),
    })?;
    let event = AuditEvent::GmailConnect {
        connection_id: kept.connection.id,
        gmail_address: &kept.connection.gmail_address,
        renewed: kept.renewed,
    };
    audit::record(&state.db, Some(user_id), event).await?;
    Ok(Redirect::see_other("/account").into_response())
}
