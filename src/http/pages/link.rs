//! Linking and unlinking identities from the account page (docs/identity.md):
//! `POST /account/link/{provider}`, `GET /account/link/{provider}?ticket=…` (a link started
//! through the API, finished in a browser signed in as the same user), the link's end at the
//! provider callback, and `POST /account/unlink/{identity_id}`.

use poem::{
    IntoResponse, Response, handler,
    web::{Data, Form, Path, Query, Redirect, cookie::CookieJar},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{PageError, enabled_provider, login::begin_flow};
use crate::{
    audit::{self, AuditEvent},
    http::session::{self, Cookies, check_csrf},
    identity::link::{self, Linked, UnlinkError},
    state::AppState,
    store::identities,
    upstream::{UpstreamProfile, state::Purpose},
};

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

/// `POST /account/link/{provider}`: start linking in this signed-in browser.
#[handler]
pub async fn start(
    Path(provider): Path<String>,
    Form(form): Form<CsrfForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    let provider = enabled_provider(&state, &provider)?;
    let cookies = Cookies::new(jar, &state);
    check_csrf(&state, &cookies, form.csrf.as_deref())?;
    let Some(current) = session::current(&state, &cookies).await? else {
        return Ok(Redirect::see_other("/login?return_to=%2Faccount").into_response());
    };
    let purpose = Purpose::Link { user_id: current.user_id, sid: current.sid };
    Ok(begin_flow(&state, &cookies, provider, purpose, false).await?.into_response())
}

#[derive(Debug, Deserialize)]
pub struct TicketQuery {
    ticket: Option<String>,
}

/// `GET /account/link/{provider}?ticket=…`: continue a link an app started through the API.
/// Without a session, sign in first (the ticket waits); signed in as someone else, refused.
#[handler]
pub async fn from_ticket(
    Path(provider): Path<String>,
    Query(query): Query<TicketQuery>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    let provider = enabled_provider(&state, &provider)?;
    let cookies = Cookies::new(jar, &state);
    let ticket = query.ticket.ok_or(PageError::BadRequest("no ticket"))?;
    let Some(current) = session::current(&state, &cookies).await? else {
        let here = format!(
            "/account/link/{provider}?ticket={}",
            url::form_urlencoded::byte_serialize(ticket.as_bytes()).collect::<String>()
        );
        let login =
            format!("/login?return_to={}", url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>());
        return Ok(Redirect::see_other(login).into_response());
    };
    let owner = link::take_ticket(&state.ephemeral, &state.secrets.link_key, &ticket, provider).await?;
    match owner {
        None => Err(PageError::LinkExpired),
        Some(owner) if owner != current.user_id => {
            let refusal = AuditEvent::LinkRefused { provider, reason: "other_user" };
            audit::record(&state.db, Some(owner), refusal).await?;
            Err(PageError::LinkOtherUser)
        }
        Some(_) => {
            let purpose = Purpose::Link { user_id: current.user_id, sid: current.sid };
            Ok(begin_flow(&state, &cookies, provider, purpose, false).await?.into_response())
        }
    }
}

/// The callback of a link flow: the browser must still be signed in to the same session as the
/// user who started it; then the identity is linked unless another user has it.
pub(super) async fn finish(
    state: &AppState,
    cookies: &Cookies<'_>,
    user_id: Uuid,
    sid: &str,
    profile: &UpstreamProfile,
) -> Result<Response, PageError> {
    let provider = profile.provider;
    let current = session::current(state, cookies).await?;
    if !current.is_some_and(|s| s.user_id == user_id && s.sid == sid) {
        audit::record(&state.db, Some(user_id), AuditEvent::LinkRefused { provider, reason: "other_session" }).await?;
        return Err(PageError::LinkOtherUser);
    }
    match link::link(&state.db, user_id, profile).await? {
        Linked::New(identity_id) => {
            audit::record(&state.db, Some(user_id), AuditEvent::Link { provider, identity_id }).await?;
            tracing::info!(user.id = %user_id, identity.id = %identity_id, "identity linked");
        }
        Linked::AlreadyYours => {}
        Linked::OwnedByOther => {
            let refusal = AuditEvent::LinkRefused { provider, reason: "identity_already_linked" };
            audit::record(&state.db, Some(user_id), refusal).await?;
            return Err(PageError::IdentityAlreadyLinked);
        }
    }
    Ok(Redirect::see_other("/account").into_response())
}

/// `POST /account/unlink/{identity_id}`: remove one of the user's identities, never the last.
/// The user's other sessions end (an identity is a credential: whoever used it is out).
#[handler]
pub async fn unlink(
    Path(identity_id): Path<String>,
    Form(form): Form<CsrfForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Redirect, PageError> {
    let cookies = Cookies::new(jar, &state);
    let Some(current) = session::signed_in_post(&state, &cookies, form.csrf.as_deref()).await? else {
        return Ok(Redirect::see_other("/login?return_to=%2Faccount"));
    };
    let identity_id: Uuid = identity_id.parse().map_err(|_| PageError::NotFound)?;
    match link::unlink(&state, current.user_id, identity_id, &current.sid).await? {
        identities::Unlinked::Removed(_) => Ok(Redirect::see_other("/account")),
        identities::Unlinked::NotFound => Err(PageError::NotFound),
        identities::Unlinked::Last => Err(PageError::LastIdentity),
    }
}

impl From<UnlinkError> for PageError {
    fn from(e: UnlinkError) -> Self {
        match e {
            UnlinkError::Store(e) => e.into(),
            UnlinkError::Sessions(e) => e.into(),
        }
    }
}
