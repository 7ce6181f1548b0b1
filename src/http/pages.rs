//! HTML pages: sign-in, the provider callback, sign-up, the account page, sign-out.
//!
//! Every page gets [`PageLayer`]: the language from `Accept-Language`, a strict
//! Content-Security-Policy and friends, `Cache-Control: no-store`, and errors rendered as
//! `error.html` with the right status and the request id. Handlers return [`PageError`].

mod account;
mod admin;
mod authorize;
mod callback;
mod end_session;
mod gmail;
mod leaving;
pub mod link;
mod login;
mod signup;
mod views;

use askama::Template;
use poem::{
    Endpoint, EndpointExt as _, FromRequest, IntoResponse, Middleware, Request, RequestBody, Response, Route, get,
    handler,
    http::{HeaderValue, StatusCode, header},
    middleware::CookieJarManager,
    post,
    web::{Html, Path, Redirect},
};

use crate::{
    ephemeral::EphemeralError,
    http::{
        rate_limit::{IpLimit, RateLimited},
        request_id::RequestId,
    },
    i18n::{Lang, Messages},
    rate_limit::Group,
    state::AppState,
    store::StoreError,
    upstream::{Provider, UpstreamError, state::StateError},
};

/// Where a sign-in lands when it names no (acceptable) `return_to`.
pub const DEFAULT_RETURN_TO: &str = "/account";

/// Why a page could not do what was asked. Each variant is one status and one message.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("state refused: {0}")]
    State(#[from] StateError),
    #[error("CSRF check failed")]
    Csrf,
    #[error("sign-up expired")]
    SignupExpired,
    #[error("upstream failure: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("registration is closed")]
    RegistrationClosed,
    #[error("the account is disabled")]
    AccountDisabled,
    #[error("two or more legacy accounts match the e-mail")]
    LegacyAmbiguous,
    #[error("the identity belongs to another account")]
    IdentityAlreadyLinked,
    #[error("the last identity cannot be unlinked")]
    LastIdentity,
    #[error("the link was started by another user or session")]
    LinkOtherUser,
    #[error("the link ticket is invalid, expired or used")]
    LinkExpired,
    #[error("the Gmail grant lacks gmail.send")]
    GmailScopeMissing,
    /// An authorization request that cannot be answered at the client's redirect URI.
    #[error("authorization request refused: {error}: {description}")]
    Authorize { error: &'static str, description: String },
    #[error("end-session request refused: {0}")]
    EndSession(#[from] crate::oidc::logout::Refusal),
    #[error("the typed username does not match the account")]
    ConfirmMismatch,
    #[error("not found")]
    NotFound,
    #[error("only admins may see this page")]
    Forbidden,
    #[error("a store is unavailable: {0}")]
    Unavailable(#[source] Cause),
    #[error("internal error: {0}")]
    Internal(#[source] Cause),
}

/// The error under an `Unavailable` or `Internal` page, kept for the log (never shown).
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

impl From<EphemeralError> for PageError {
    fn from(e: EphemeralError) -> Self {
        Self::Unavailable(e.into())
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() { Self::Unavailable(e.into()) } else { Self::Internal(e.into()) }
    }
}

impl From<crate::oidc::clients::ClientError> for PageError {
    fn from(e: crate::oidc::clients::ClientError) -> Self {
        match e {
            crate::oidc::clients::ClientError::Store(e) => e.into(),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::sessions::SessionError> for PageError {
    fn from(e: crate::sessions::SessionError) -> Self {
        match e {
            crate::sessions::SessionError::Store(e) => e.into(),
            crate::sessions::SessionError::Ephemeral(e) => e.into(),
        }
    }
}

impl From<crate::identity::IdentityError> for PageError {
    fn from(e: crate::identity::IdentityError) -> Self {
        match e {
            crate::identity::IdentityError::Store(e) => e.into(),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::identity::login::LoginError> for PageError {
    fn from(e: crate::identity::login::LoginError) -> Self {
        use crate::identity::login::LoginError;
        match e {
            LoginError::Identity(e) => e.into(),
            LoginError::Sessions(e) => e.into(),
            LoginError::Store(e) => e.into(),
            LoginError::Ephemeral(e) => e.into(),
        }
    }
}

impl poem::error::ResponseError for PageError {
    fn status(&self) -> StatusCode {
        match self {
            Self::State(StateError::Store(_)) | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadRequest(_)
            | Self::State(_)
            | Self::Csrf
            | Self::ConfirmMismatch
            | Self::SignupExpired
            | Self::Authorize { .. }
            | Self::EndSession(_) => StatusCode::BAD_REQUEST,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::RegistrationClosed | Self::AccountDisabled | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::LegacyAmbiguous | Self::IdentityAlreadyLinked | Self::LastIdentity => StatusCode::CONFLICT,
            Self::LinkOtherUser | Self::LinkExpired => StatusCode::BAD_REQUEST,
            Self::GmailScopeMissing => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl PageError {
    /// The machine-readable code shown on the page, for the refusals that have one
    /// (docs/routes.md).
    fn code(&self) -> Option<&'static str> {
        match self {
            Self::LegacyAmbiguous => Some("LEGACY_AMBIGUOUS"),
            Self::AccountDisabled => Some("ACCOUNT_DISABLED"),
            Self::IdentityAlreadyLinked => Some("IDENTITY_ALREADY_LINKED"),
            Self::LastIdentity => Some("LAST_IDENTITY"),
            Self::GmailScopeMissing => Some("GMAIL_SCOPE_MISSING"),
            Self::Authorize { error, .. } => Some(error),
            Self::EndSession(_) => Some("invalid_request"),
            _ => None,
        }
    }

    /// Whether the refusal happened to someone working on their account (linking, unlinking,
    /// Gmail): the next step is the account page, not the sign-in page.
    fn about_account(&self) -> bool {
        matches!(
            self,
            Self::IdentityAlreadyLinked
                | Self::LastIdentity
                | Self::LinkOtherUser
                | Self::LinkExpired
                | Self::GmailScopeMissing
                | Self::ConfirmMismatch
        )
    }

    fn message(&self, t: &'static Messages) -> &'static str {
        match self {
            Self::BadRequest(_) => t.err_bad_request,
            Self::State(StateError::Store(_)) | Self::Unavailable(_) => t.err_unavailable,
            Self::State(_) => t.err_state,
            Self::Csrf => t.err_csrf,
            Self::SignupExpired => t.err_signup_expired,
            Self::Upstream(_) => t.err_upstream,
            Self::RegistrationClosed => t.err_closed,
            Self::AccountDisabled => t.err_account_disabled,
            Self::LegacyAmbiguous => t.err_legacy_ambiguous,
            Self::IdentityAlreadyLinked => t.err_identity_already_linked,
            Self::LastIdentity => t.err_last_identity,
            Self::LinkOtherUser => t.err_link_other_user,
            Self::LinkExpired => t.err_link_expired,
            Self::GmailScopeMissing => t.err_gmail_scope_missing,
            Self::Authorize { .. } => t.err_authorize,
            Self::EndSession(_) => t.err_end_session,
            Self::ConfirmMismatch => t.err_confirm_mismatch,
            Self::NotFound => t.err_not_found,
            Self::Forbidden => t.err_forbidden,
            Self::Internal(_) => t.err_internal,
        }
    }
}

/// Render a view, or a plain 500 if the template fails (it cannot, short of a bug).
pub fn render(view: &impl Template) -> Response {
    match view.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error.message = %e, "rendering a page failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The error page for `err`, with its status. `from_account`: the request came from the account
/// page (a path under `/account`), so the page leads back there.
fn error_page(lang: Lang, err: &poem::Error, from_account: bool) -> Response {
    let t = lang.messages();
    let status = err.status();
    let page = err.downcast_ref::<PageError>();
    let limited = err.downcast_ref::<RateLimited>();
    let message = match (page, limited) {
        (Some(page), _) => page.message(t),
        (None, Some(_)) => t.err_rate_limited,
        (None, None) => match status {
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => t.err_not_found,
            s if s.is_server_error() => t.err_internal,
            _ => t.err_bad_request,
        },
    };
    if status.is_server_error() {
        tracing::error!(error.message = %err, error.cause_chain = ?err, "page failed");
    } else {
        tracing::info!(reason = %err, http.status = status.as_u16(), "page refused");
    }
    // The account page sends a signed-out browser on to the sign-in page by itself.
    let (retry_href, retry_label) = if from_account || page.is_some_and(PageError::about_account) {
        (DEFAULT_RETURN_TO, t.back_to_account)
    } else {
        ("/login", t.back_to_sign_in)
    };
    let view = views::ErrorView {
        t,
        title: t.error_title,
        message,
        code: page.and_then(PageError::code),
        retry_href: retry_href.to_owned(),
        retry_label,
        request_id: RequestId::current(),
    };
    let mut resp = render(&view);
    resp.set_status(status);
    if let Some(limited) = limited {
        resp.headers_mut().insert(header::RETRY_AFTER, limited.retry_after_header());
    }
    resp
}

/// Headers and error rendering for every page. What every response carries (nosniff,
/// `Referrer-Policy: no-referrer`, HSTS) is `middleware::SecurityHeaders`'s; this adds the
/// pages' own policy.
pub struct PageLayer;

impl<E: Endpoint> Middleware<E> for PageLayer {
    type Output = PageLayerEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        PageLayerEndpoint { inner }
    }
}

pub struct PageLayerEndpoint<E> {
    inner: E,
}

/// No script at all; styles and form posts only to munji itself; never framed.
pub(super) const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// `resp` with the pages' policy, except that its forms may also lead to `target`: a form that
/// posts to munji and is answered with a redirect to a client (the consent page, the sign-out
/// question) is held to `form-action` all along the redirect chain by browsers.
pub fn allow_form_target(resp: Response, target: &str) -> Response {
    allow_form_targets(resp, [target])
}

/// [`allow_form_target`] for several targets (the account page's forms lead to each provider).
/// A target that is not a URL is left out.
pub fn allow_form_targets<'a>(mut resp: Response, targets: impl IntoIterator<Item = &'a str>) -> Response {
    // Origins or schemes: neither can carry a space or a `;` into the policy.
    let mut sources: Vec<String> = Vec::new();
    for url in targets.into_iter().filter_map(|target| url::Url::parse(target).ok()) {
        let source = match url.scheme() {
            "http" | "https" => url.origin().ascii_serialization(),
            scheme => format!("{scheme}:"),
        };
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
    if sources.is_empty() {
        return resp;
    }
    let policy = CSP.replace("form-action 'self'", &format!("form-action 'self' {}", sources.join(" ")));
    if let Ok(value) = HeaderValue::from_str(&policy) {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    resp
}

impl<E: Endpoint> Endpoint for PageLayerEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let lang = Lang::from_accept_language(req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));
        let from_account = req.uri().path().starts_with("/account");
        let mut resp = match self.inner.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => {
                // Keep the matched route for the metrics (`route="/login/:provider"`).
                let pattern = err.data::<poem::PathPattern>().cloned();
                let mut resp = error_page(lang, &err, from_account);
                if let Some(pattern) = pattern {
                    resp.set_data(pattern);
                }
                resp
            }
        };
        let headers = resp.headers_mut();
        headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CSP));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
        Ok(resp)
    }
}

impl<'a> FromRequest<'a> for Lang {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Lang::from_accept_language(req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())))
    }
}

/// The page routes, for mounting at `/` (they also answer unknown paths with a 404 page).
pub fn routes(state: &AppState) -> impl Endpoint + 'static {
    Route::new()
        .at("/", get(home))
        .at("/login", get(login::login_page))
        .at("/login/:provider", get(login::start).with(IpLimit(Group::Pages)))
        .at("/callback/:provider", get(callback::callback).post(callback::callback).with(IpLimit(Group::Pages)))
        .at("/signup", get(signup::signup_page).post(signup::submit).with(IpLimit(Group::Pages)))
        .at("/account", get(account::account_page))
        .at("/logout", post(account::logout))
        .at("/account/sessions/:id/end", post(account::end_session))
        .at("/account/apps/:client_id/remove", post(account::remove_app))
        .at("/account/export", get(leaving::export))
        .at("/account/delete", post(leaving::delete))
        .at("/account/deleted", get(leaving::deleted))
        .at("/authorize", get(authorize::authorize).post(authorize::consent_answer).with(IpLimit(Group::Pages)))
        .at("/end-session", get(end_session::from_query).post(end_session::from_form).with(IpLimit(Group::Pages)))
        .at("/account/link/:provider", get(link::from_ticket).post(link::start))
        .at("/account/unlink/:identity_id", post(link::unlink))
        .at("/account/gmail/connect", post(gmail::connect))
        .at("/account/gmail/:id/equip", post(gmail::equip))
        .at("/account/gmail/:id/unequip", post(gmail::unequip))
        .at("/account/gmail/:id/disconnect", post(gmail::disconnect))
        .at("/admin", get(admin::dashboard))
        .at("/admin/users", get(admin::users))
        .at("/admin/users/:id", get(admin::user_page))
        .at("/admin/users/:id/disable", post(admin::disable))
        .at("/admin/users/:id/enable", post(admin::enable))
        .at("/admin/users/:id/end-sessions", post(admin::end_sessions))
        .at("/admin/users/:id/identities/:identity_id/remove", post(admin::unlink))
        .at("/admin/users/:id/delete", post(admin::delete))
        .at("/admin/audit", get(admin::audit))
        .at("/admin/clients", get(admin::clients))
        .at("/static/:file", get(static_file))
        .at("/favicon.ico", get(favicon))
        .with(CookieJarManager::with_key(state.secrets.cookie_key.clone()))
        .with(PageLayer)
}

#[handler]
fn home() -> Redirect {
    Redirect::see_other(DEFAULT_RETURN_TO)
}

/// The files of `static/`, built into the binary (no CDN, nothing read at run time):
/// `(name, content type, body)`.
const STATIC_FILES: &[(&str, &str, &[u8])] = &[
    ("munji.css", "text/css; charset=utf-8", include_bytes!("../../static/munji.css")),
    ("favicon.svg", SVG, include_bytes!("../../static/favicon.svg")),
    ("google.svg", SVG, include_bytes!("../../static/google.svg")),
    ("naver.svg", SVG, include_bytes!("../../static/naver.svg")),
    ("kakao.svg", SVG, include_bytes!("../../static/kakao.svg")),
    ("apple.svg", SVG, include_bytes!("../../static/apple.svg")),
    ("oidc.svg", SVG, include_bytes!("../../static/oidc.svg")),
];

const SVG: &str = "image/svg+xml";

/// One of [`STATIC_FILES`], cacheable for an hour.
fn static_response(name: &str) -> Result<Response, PageError> {
    let (_, content_type, body) = STATIC_FILES.iter().find(|(n, ..)| *n == name).ok_or(PageError::NotFound)?;
    Ok(Response::builder()
        .content_type(*content_type)
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(*body))
}

/// `GET /static/{file}`: the stylesheet, the favicon and the providers' symbols.
#[handler]
fn static_file(Path(file): Path<String>) -> Result<Response, PageError> {
    static_response(&file)
}

/// `GET /favicon.ico`, which browsers ask for by themselves: the SVG icon.
#[handler]
fn favicon() -> Result<Response, PageError> {
    static_response("favicon.svg")
}

/// How pages show a provider: the style and symbol (`provider-{style}`, `/static/{style}.svg`:
/// a built-in provider's own, `oidc` for the configured ones) and its name in `t`'s language.
fn brand(state: &AppState, t: &Messages, provider: Provider) -> (&'static str, String) {
    let style = if provider.is_built_in() { provider.as_str() } else { "oidc" };
    let name = t.brand(provider.as_str()).map_or_else(|| state.upstreams.display_name(provider), str::to_owned);
    (style, name)
}

/// An enabled provider named in a path, or a 404 page.
fn enabled_provider(state: &AppState, name: &str) -> Result<Provider, PageError> {
    name.parse::<Provider>().ok().filter(|p| state.upstreams.is_enabled(*p)).ok_or(PageError::NotFound)
}

/// `return_to` if it is a local path (`/…`, not `//…` or `/\…`, no scheme, no control
/// characters), else the default. Open redirects are impossible by construction.
pub fn local_return_to(return_to: Option<&str>) -> String {
    match return_to {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 4096
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path.to_owned()
        }
        _ => DEFAULT_RETURN_TO.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_kept_as_return_to() {
        assert_eq!(local_return_to(Some("/account")), "/account");
        assert_eq!(local_return_to(Some("/authorize?client_id=web&x=1")), "/authorize?client_id=web&x=1");
        for bad in ["//evil.example", "https://evil.example", "/\\evil.example", "evil", "", "/a\\b", "/\u{0}x", "\t/x"]
        {
            assert_eq!(local_return_to(Some(bad)), DEFAULT_RETURN_TO, "{bad:?}");
        }
        assert_eq!(local_return_to(None), DEFAULT_RETURN_TO);
        assert_eq!(local_return_to(Some(&format!("/{}", "a".repeat(5000)))), DEFAULT_RETURN_TO);
    }
}
