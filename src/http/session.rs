//! A browser's cookies and what hangs on them: the browser-binding id (which binds OAuth state
//! and CSRF tokens to this browser), the session, and a sign-up in progress.
//!
//! Every cookie is encrypted and authenticated with the `cookie` crate's private jar (a key
//! derived from `secret_key`), `HttpOnly`, `SameSite=Lax` (the provider's redirect back is a
//! top-level GET, which Lax lets through), `Path=/`, and `Secure` with the `__Host-` name prefix
//! whenever `public_url` is https.

use std::time::Duration;

use poem::web::cookie::{Cookie, CookieJar, SameSite};

use super::pages::PageError;
use crate::{
    crypto,
    session::{self, Session, SessionId},
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
    let Some(id) = cookies.get(SESSION) else { return Ok(None) };
    Ok(session::find(&state.ephemeral, &SessionId(id)).await?)
}

/// Sign this browser in as `user_id`. Any earlier session of the browser ends first, so the
/// session id changes at every sign-in (no fixation).
pub async fn start(state: &AppState, cookies: &Cookies<'_>, user_id: uuid::Uuid) -> Result<Session, PageError> {
    if let Some(old) = cookies.get(SESSION) {
        session::end(&state.ephemeral, &SessionId(old)).await?;
    }
    let ttl = state.config.refresh_token_ttl.0;
    let (id, session) = session::start(&state.ephemeral, user_id, ttl).await?;
    cookies.set(SESSION, &id.0, Some(ttl));
    Ok(session)
}

/// Sign this browser out; tokens issued under its session stop working at once.
pub async fn end(state: &AppState, cookies: &Cookies<'_>) -> Result<(), PageError> {
    if let Some(id) = cookies.get(SESSION) {
        let id = SessionId(id);
        if let Some(ended) = session::find(&state.ephemeral, &id).await? {
            session::revoke_sid(&state.ephemeral, &ended.sid, crate::oidc::grant::revocation_ttl(state)).await?;
            crate::store::refresh_tokens::revoke_sid(&state.db, &ended.sid, chrono::Utc::now()).await?;
        }
        session::end(&state.ephemeral, &id).await?;
    }
    cookies.clear(SESSION);
    Ok(())
}
