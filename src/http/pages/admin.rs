//! The admin pages under `/admin` (docs/admin.md): the dashboard, user search and detail with
//! their actions, clients and the audit log. Each page asks [`signed_in_admin`] first (sign-in
//! for a signed-out browser, 403 for anyone but an admin); each action is a CSRF-checked POST
//! that calls one function of [`crate::admin`]. Actions that lock someone out need a sign-in of
//! the admin within the last 15 minutes.

use chrono::{DateTime, Utc};
use poem::{
    IntoResponse, Response, handler,
    web::{Data, Form, Path, Query, Redirect, cookie::CookieJar},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{PageError, render, views};
use crate::{
    admin::{self, AdminError},
    http::session::{self, Cookies, check_csrf, csrf_token},
    i18n::Lang,
    sessions::Session,
    state::AppState,
    store::users::Listed,
};

/// How old the admin's own sign-in may be for an action that locks someone out.
const RECENT_SIGN_IN_SECS: i64 = 15 * 60;

/// Rows per page of the lists.
const PAGE: i64 = 50;

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Where a signed-out browser goes to sign in and come back to `path`.
fn sign_in_first(path: &str) -> Response {
    let back = url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>();
    Redirect::see_other(format!("/login?return_to={back}")).into_response()
}

/// The signed-in admin of this browser: `Err(response)` sends a signed-out browser to sign in
/// and back to `path`; a signed-in user who is not an admin (or is disabled) gets a 403 page.
async fn signed_in_admin(
    state: &AppState,
    cookies: &Cookies<'_>,
    path: &str,
) -> Result<Result<Session, Response>, PageError> {
    let Some(session) = session::current(state, cookies).await? else { return Ok(Err(sign_in_first(path))) };
    match crate::store::users::find_by_id(&state.db, session.user_id).await? {
        Some(user) if user.is_admin && !user.is_disabled() => Ok(Ok(session)),
        _ => Err(PageError::Forbidden),
    }
}

impl From<AdminError> for PageError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NoSuchUser | AdminError::NoSuchIdentity => PageError::NotFound,
            AdminError::LastIdentity => PageError::LastIdentity,
            AdminError::BadCursor => PageError::BadRequest("cursor"),
            AdminError::Store(e) => e.into(),
            AdminError::Sessions(e) => e.into(),
            AdminError::Clients(e) => e.into(),
        }
    }
}

fn row(listed: Listed) -> views::AdminUserRow {
    let user = listed.user;
    views::AdminUserRow {
        disabled: user.is_disabled(),
        id: user.id.to_string(),
        username: user.username,
        display_name: user.display_name,
        email: user.email,
        created_at: time(user.created_at),
        last_login_at: listed.last_login_at.map(time),
        is_admin: user.is_admin,
        disabled_reason: user.disabled_reason,
    }
}

/// Return early with the response when the browser is no admin's.
macro_rules! admin_or_return {
    ($state:expr, $cookies:expr, $path:expr) => {
        match signed_in_admin($state, $cookies, $path).await? {
            Ok(session) => session,
            Err(response) => return Ok(response),
        }
    };
}

/// `GET /admin`: the dashboard.
#[handler]
pub async fn dashboard(jar: &CookieJar, lang: Lang, state: Data<&AppState>) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    admin_or_return!(&state, &cookies, "/admin");
    let stats = admin::stats(&state).await?;
    let count = |status: &str| stats.gmail.iter().find(|(k, _)| k == status).map_or(0, |(_, n)| *n);
    let (gmail_active, gmail_needs_reauth) = (count("active"), count("needs_reauth"));
    Ok(render(&views::AdminDashboardView {
        t: lang.messages(),
        q: String::new(),
        stats,
        gmail_active,
        gmail_needs_reauth,
    }))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    cursor: Option<String>,
    user_id: Option<Uuid>,
    kind: Option<String>,
}

/// `GET /admin/users?q=&cursor=`: search (docs/admin.md for what `q` matches).
#[handler]
pub async fn users(
    Query(query): Query<ListQuery>,
    jar: &CookieJar,
    lang: Lang,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    admin_or_return!(&state, &cookies, "/admin/users");
    let q = query.q.unwrap_or_default().chars().take(320).collect::<String>();
    let page = admin::search_users(&state, &q, query.cursor.as_deref(), PAGE).await?;
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let next = page.next_cursor.map(|c| format!("/admin/users?q={}&cursor={c}", encode(&q)));
    let users = page.items.into_iter().map(row).collect();
    Ok(render(&views::AdminUsersView { t: lang.messages(), q, users, next }))
}

/// `GET /admin/users/{id}`: one user with the actions.
#[handler]
pub async fn user_page(
    Path(id): Path<Uuid>,
    jar: &CookieJar,
    lang: Lang,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    admin_or_return!(&state, &cookies, &format!("/admin/users/{id}"));
    let detail = admin::detail(&state, id).await?;
    let mut past_emails = Vec::new();
    let mut identities = Vec::new();
    for (identity, past) in detail.identities {
        past_emails.extend(past);
        identities.push(views::AdminIdentityRow {
            id: identity.id.to_string(),
            provider: identity.provider.as_str(),
            uid: identity.uid,
            email: identity.email,
        });
    }
    Ok(render(&views::AdminUserView {
        t: lang.messages(),
        q: String::new(),
        csrf: csrf_token(&state, &cookies),
        user: row(detail.user),
        identities,
        past_emails,
        sessions: detail.sessions.len(),
        apps: detail.apps.into_iter().map(|a| a.name).collect(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    csrf: Option<String>,
    reason: Option<String>,
}

/// What a form on the user page asks for.
enum Action {
    Disable(String),
    Enable,
    EndSessions,
    Unlink(Uuid),
    Delete,
}

impl Action {
    /// Whether it locks someone out (and so needs a recent sign-in of the admin).
    fn locks_out(&self) -> bool {
        !matches!(self, Self::Enable)
    }
}

/// Check the form, the admin and (for actions that lock someone out) the age of their sign-in,
/// then act and go back to the user's page.
async fn act(
    state: &AppState,
    jar: &CookieJar,
    user_id: Uuid,
    form: ActionForm,
    action: Action,
) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, state);
    check_csrf(state, &cookies, form.csrf.as_deref())?;
    let back = format!("/admin/users/{user_id}");
    let admin = admin_or_return!(state, &cookies, &back);
    if action.locks_out() && state.clock.now().timestamp() - admin.auth_time > RECENT_SIGN_IN_SECS {
        return Ok(sign_in_first(&back));
    }
    let actor = Some(admin.user_id);
    match action {
        Action::Disable(reason) => admin::disable(state, actor, user_id, &reason).await.map(drop)?,
        Action::Enable => admin::enable(state, actor, user_id).await.map(drop)?,
        Action::EndSessions => admin::end_sessions(state, actor, user_id).await?,
        Action::Unlink(identity_id) => admin::unlink(state, actor, user_id, identity_id).await?,
        Action::Delete => {
            crate::leaving::delete_account(state, user_id, crate::leaving::Deleter::Admin(admin.user_id)).await?;
            return Ok(Redirect::see_other("/admin/users").into_response());
        }
    }
    Ok(Redirect::see_other(back).into_response())
}

/// `POST /admin/users/{id}/disable`
#[handler]
pub async fn disable(
    Path(id): Path<Uuid>,
    Form(form): Form<ActionForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    let reason = form.reason.clone().unwrap_or_default().chars().take(500).collect();
    act(&state, jar, id, form, Action::Disable(reason)).await
}

/// `POST /admin/users/{id}/enable`
#[handler]
pub async fn enable(
    Path(id): Path<Uuid>,
    Form(form): Form<ActionForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    act(&state, jar, id, form, Action::Enable).await
}

/// `POST /admin/users/{id}/end-sessions`
#[handler]
pub async fn end_sessions(
    Path(id): Path<Uuid>,
    Form(form): Form<ActionForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    act(&state, jar, id, form, Action::EndSessions).await
}

/// `POST /admin/users/{id}/identities/{identity_id}/remove`
#[handler]
pub async fn unlink(
    Path((id, identity_id)): Path<(Uuid, Uuid)>,
    Form(form): Form<ActionForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    act(&state, jar, id, form, Action::Unlink(identity_id)).await
}

/// `POST /admin/users/{id}/delete`: the deletion of docs/leaving.md, then back to the list.
#[handler]
pub async fn delete(
    Path(id): Path<Uuid>,
    Form(form): Form<ActionForm>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    act(&state, jar, id, form, Action::Delete).await
}

/// `GET /admin/audit?user_id=&kind=&cursor=`
#[handler]
pub async fn audit(
    Query(query): Query<ListQuery>,
    jar: &CookieJar,
    lang: Lang,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    admin_or_return!(&state, &cookies, "/admin/audit");
    let kind = query.kind.filter(|k| !k.is_empty());
    let page = admin::audit_log(&state, query.user_id, kind.as_deref(), query.cursor.as_deref(), PAGE).await?;
    let next = page.next_cursor.map(|c| {
        let mut link = url::form_urlencoded::Serializer::new(String::new());
        query.user_id.map(|u| link.append_pair("user_id", &u.to_string()));
        kind.as_deref().map(|k| link.append_pair("kind", k));
        link.append_pair("cursor", &c);
        format!("/admin/audit?{}", link.finish())
    });
    let events = page
        .items
        .into_iter()
        .map(|e| views::AdminAuditRow {
            at: time(e.at),
            kind: e.kind,
            user_id: e.user_id.map(|u| u.to_string()),
            actor_id: e.actor_id.map(|u| u.to_string()),
        })
        .collect();
    Ok(render(&views::AdminAuditView { t: lang.messages(), q: String::new(), events, next }))
}

/// `GET /admin/clients`
#[handler]
pub async fn clients(jar: &CookieJar, lang: Lang, state: Data<&AppState>) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    admin_or_return!(&state, &cookies, "/admin/clients");
    let clients = admin::clients(&state)
        .await?
        .into_iter()
        .map(|c| views::AdminClientRow {
            source: if c.from_config { "config" } else { "database" },
            scopes: c.scopes.join(" "),
            id: c.id,
            name: c.name,
        })
        .collect();
    Ok(render(&views::AdminClientsView { t: lang.messages(), q: String::new(), clients }))
}
