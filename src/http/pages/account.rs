//! `GET /account` (the signed-in user and their linked identities) and `POST /logout`.

use poem::{
    IntoResponse, Response, handler,
    web::{Data, Form, Path, Query, Redirect, cookie::CookieJar},
};
use serde::Deserialize;

use super::{PageError, allow_form_targets, render, views};
use crate::{
    audit::{self, AuditEvent},
    http::session::{self, Cookies, check_csrf, csrf_token},
    i18n::Lang,
    oidc::apps,
    sessions::{self, Ending},
    state::AppState,
    store::{gmail, identities, users},
    upstream::Provider,
};

#[handler]
pub async fn account_page(jar: &CookieJar, lang: Lang, state: Data<&AppState>) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    let Some(session) = session::current(&state, &cookies).await? else {
        return Ok(Redirect::see_other("/login?return_to=%2Faccount").into_response());
    };
    let Some(user) = users::find_by_id(&state.db, session.user_id).await? else {
        session::end(&state, &cookies).await?;
        return Ok(Redirect::see_other("/login").into_response());
    };
    let t = lang.messages();
    let zone = state.config.display_timezone;
    let time = |at| views::Moment::new(at, zone, t);
    let identities = identities::list_for_user(&state.db, user.id)
        .await?
        .into_iter()
        .map(|i| views::IdentityRow {
            id: i.id.to_string(),
            provider_id: i.provider.as_str(),
            provider_style: super::brand(&state, t, i.provider).0,
            provider_name: super::brand(&state, t, i.provider).1,
            email: i.email,
            linked_at: time(i.linked_at),
            last_login_at: i.last_login_at.map(time),
        })
        .collect();
    let page = render(&views::AccountView {
        t,
        csrf: csrf_token(&state, &cookies),
        username: user.username,
        display_name: user.display_name,
        email: user.email,
        created_at: time(user.created_at),
        identities,
        link_providers: state
            .upstreams
            .enabled()
            .into_iter()
            .map(|p| {
                let (style, name) = super::brand(&state, t, p);
                (p.as_str(), style, name)
            })
            .collect(),
        gmail_available: state.upstreams.is_enabled(Provider::Google) && state.vault.is_configured(),
        gmail_connections: gmail::list_for_user(&state.db, user.id)
            .await?
            .into_iter()
            .map(|c| views::GmailRow {
                can_send: crate::gmail::connect::can_send(&c),
                id: c.id.to_string(),
                needs_reauth: c.status == gmail::ConnectionStatus::NeedsReauth,
                address: c.gmail_address,
                equipped_to: c.equipped_to,
            })
            .collect(),
        sessions: sessions::list(&state, user.id)
            .await?
            .into_iter()
            .map(|s| views::SessionRow {
                current: s.sid == session.sid,
                id: s.sid,
                started_at: time(s.started_at),
                last_seen_at: time(s.last_seen_at),
                user_agent: s.user_agent,
                ip: s.ip,
            })
            .collect(),
        apps: apps::list(&state, user.id)
            .await?
            .into_iter()
            .map(|a| views::AppRow {
                client_id: a.client_id,
                name: a.name,
                scopes: a.scopes.join(" "),
                first_party: a.first_party,
                authorized_at: time(a.authorized_at),
                last_used_at: a.last_used_at.map(time),
            })
            .collect(),
    });
    // The link and Gmail buttons post here and are answered with a redirect to the provider.
    let providers = state.upstreams.authorization_endpoints().await;
    Ok(allow_form_targets(page, providers.iter().map(|url| url.as_str())))
}

/// `POST /account/apps/{client_id}/remove`: the app loses its access (docs/consent.md).
#[handler]
pub async fn remove_app(
    Path(client_id): Path<String>,
    Form(form): Form<CsrfForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Redirect, PageError> {
    let cookies = Cookies::new(jar, &state);
    let Some(current) = session::signed_in_post(&state, &cookies, form.csrf.as_deref()).await? else {
        return Ok(Redirect::see_other("/login?return_to=%2Faccount"));
    };
    if !apps::remove(&state, current.user_id, &client_id).await? {
        return Err(PageError::NotFound);
    }
    Ok(Redirect::see_other("/account"))
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /account/sessions/{id}/end`: end one of the user's sessions (this one too).
#[handler]
pub async fn end_session(
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Redirect, PageError> {
    let cookies = Cookies::new(jar, &state);
    let Some(current) = session::signed_in_post(&state, &cookies, form.csrf.as_deref()).await? else {
        return Ok(Redirect::see_other("/login?return_to=%2Faccount"));
    };
    if id == current.sid {
        session::end(&state, &cookies).await?;
        return Ok(Redirect::see_other("/login"));
    }
    if !sessions::end_own(&state, current.user_id, &id).await? {
        return Err(PageError::NotFound);
    }
    Ok(Redirect::see_other("/account"))
}

#[derive(Debug, Deserialize)]
pub struct LogoutQuery {
    /// `1`: end every session of the user, on every device.
    all: Option<String>,
}

/// `POST /logout` ends this browser's session and its tokens; `?all=1` every session of the
/// user and all of their refresh tokens.
#[handler]
pub async fn logout(
    Form(form): Form<CsrfForm>,
    Query(query): Query<LogoutQuery>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Redirect, PageError> {
    let cookies = Cookies::new(jar, &state);
    check_csrf(&state, &cookies, form.csrf.as_deref())?;
    let everywhere = query.all.as_deref() == Some("1");
    if let Some(current) = session::current(&state, &cookies).await? {
        if everywhere {
            sessions::end(&state, Ending::AllOf(current.user_id)).await?;
        }
        audit::record(&state.db, Some(current.user_id), AuditEvent::Logout { everywhere }).await?;
    }
    session::end(&state, &cookies).await?;
    Ok(Redirect::see_other("/login"))
}
