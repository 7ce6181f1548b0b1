//! A browser's cookies and what hangs on them: the browser-binding id (which binds OAuth state
//! and CSRF tokens to this browser), the session, and a sign-up in progress.
//!
//! Every cookie is encrypted and authenticated with the `cookie` crate's private jar (a key
//! derived from `secret_key`), `HttpOnly`, `SameSite=Lax` (the provider's redirect back is a
//! top-level GET, which Lax lets through), `Path=/`, and `Secure` with the `__Host-` name prefix
//! whenever `public_url` is https.

use std::time::Duration;

use poem::{
    FromRequest, Request, RequestBody,
    http::header,
    web::cookie::{Cookie, CookieJar, SameSite},
};

use super::pages::PageError;
use crate::{
    crypto,
    sessions::{self, CookieSecret, Ending, Origin, Session},
    state::AppState,
};

const BROWSER: &str = "munji_browser";
const SESSION: &str = "munji_session";
pub const SIGNUP: &str = "munji_signup";

/// The cookies of the browser making this request.
pub struct Cookies<'a> {
    jar: &'a CookieJar,
    secure: bool,
}

impl<'a> Cookies<'a> {
    pub fn new(jar: &'a CookieJar, state: &AppState) -> Self {
        Self { jar, secure: state.config.public_url.scheme() == "https" }
    }

    fn name(&self, base: &str) -> String {
        if self.secure { format!("__Host-{base}") } else { base.to_owned() }
    }

    pub fn get(&self, base: &str) -> Option<String> {
        self.jar.private().get(&self.name(base)).map(|c| c.value_str().to_owned()).filter(|v| !v.is_empty())
    }

    /// Set a cookie; without `max_age` it lasts as long as the browser session.
    pub fn set(&self, base: &str, value: &str, max_age: Option<Duration>) {
        let mut cookie = Cookie::new_with_str(self.name(base), value);
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Lax);
        cookie.set_secure(self.secure);
        cookie.set_path("/");
        if let Some(max_age) = max_age {
            cookie.set_max_age(max_age);
        }
        self.jar.private().add(cookie);
    }

    /// Remove a cookie (with the same attributes it was set with, so browsers drop it).
    pub fn clear(&self, base: &str) {
        let mut cookie = Cookie::new_with_str(self.name(base), "");
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Lax);
        cookie.set_secure(self.secure);
        cookie.set_path("/");
        cookie.make_removal();
        self.jar.add(cookie);
    }

    /// This browser's binding id, if it has one.
    pub fn browser(&self) -> Option<String> {
        self.get(BROWSER)
    }

    /// This browser's binding id, made now if it has none.
    pub fn ensure_browser(&self) -> String {
        self.browser().unwrap_or_else(|| {
            let id = crypto::random_token(32);
            self.set(BROWSER, &id, None);
            id
        })
    }
}

/// The CSRF field for forms shown to this browser: an HMAC of its binding id.
pub fn csrf_token(state: &AppState, cookies: &Cookies<'_>) -> String {
    crypto::sign(&state.secrets.csrf_key, &cookies.ensure_browser())
}

/// Refuse a form post whose CSRF field was not made for this browser.
pub fn check_csrf(state: &AppState, cookies: &Cookies<'_>, submitted: Option<&str>) -> Result<(), PageError> {
    let browser = cookies.browser().ok_or(PageError::Csrf)?;
    let submitted = submitted.ok_or(PageError::Csrf)?;
    if crypto::verify(&state.secrets.csrf_key, &browser, submitted) { Ok(()) } else { Err(PageError::Csrf) }
}

/// The signed-in session of this browser, if any.
pub async fn current(state: &AppState, cookies: &Cookies<'_>) -> Result<Option<Session>, PageError> {
    let Some(secret) = session_cookie(cookies) else { return Ok(None) };
    Ok(sessions::find(state, &secret).await?)
}

/// For a form post that acts for the signed-in user: the CSRF field must be this browser's,
/// then the session, if the browser has one.
pub async fn signed_in_post(
    state: &AppState,
    cookies: &Cookies<'_>,
    csrf: Option<&str>,
) -> Result<Option<Session>, PageError> {
    check_csrf(state, cookies, csrf)?;
    current(state, cookies).await
}

/// The secret of this browser's session cookie, if it has one.
pub fn session_cookie(cookies: &Cookies<'_>) -> Option<CookieSecret> {
    cookies.get(SESSION).map(CookieSecret)
}

/// Give this browser the cookie of a session that has just started.
pub fn set_session(state: &AppState, cookies: &Cookies<'_>, secret: &CookieSecret) {
    cookies.set(SESSION, &secret.0, Some(state.config.refresh_token_ttl.0));
}

/// Sign this browser out; tokens issued under its session stop working at once.
pub async fn end(state: &AppState, cookies: &Cookies<'_>) -> Result<(), PageError> {
    if let Some(session) = current(state, cookies).await? {
        sessions::end(state, Ending::One(&session.sid)).await?;
    }
    forget(cookies);
    Ok(())
}

/// Drop this browser's session cookie (its session has been ended by the caller).
pub fn forget(cookies: &Cookies<'_>) {
    cookies.clear(SESSION);
}

/// Where a request comes from, for the session list: its user agent and client address (the
/// same address the rate limits count).
pub struct ClientOrigin(pub Origin);

impl<'a> FromRequest<'a> for ClientOrigin {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let user_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Self(Origin { user_agent, ip: super::rate_limit::client_ip(req) }))
    }
}
