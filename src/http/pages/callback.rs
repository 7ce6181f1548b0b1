//! `GET /callback/{provider}` (and `POST` for providers that answer with a form post, Apple):
//! check the state, redeem the code, resolve who signed in (docs/identity.md), and sign the
//! browser in, send it to sign-up, or explain why not.
//!
//! Order matters: the state is checked (signature, single use, same browser, same provider)
//! before anything is sent upstream, and nothing is written before the provider has vouched for
//! the profile.
//!
//! A form post from the provider's site is cross-site, so the browser leaves munji's
//! `SameSite=Lax` cookies out of it and the state cannot be matched to the browser. Such a post
//! is answered with a page that posts the same fields again from munji's own origin, where the
//! cookies come along; only then is the state checked, exactly as for a redirect
//! (docs/security.md, "Form-post callbacks").

use std::sync::LazyLock;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::{HeaderValue, Method, header},
    web::{Data, Path, Redirect, cookie::CookieJar},
};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::{PageError, enabled_provider, login::start_href, render, signup, views};
use crate::{
    http::{
        request_id::RequestId,
        session::{self, ClientOrigin, Cookies},
    },
    i18n::Lang,
    identity::login::{self, LoginOutcome},
    state::AppState,
    upstream::{Grant, Provider, UpstreamError, state::Purpose},
};

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    /// Apple's first-time `user` field (form posts only).
    user: Option<String>,
    /// Set by munji's relay page: this post already comes from munji's own origin.
    relayed: Option<String>,
}

/// The relay page's only script: post the form again, at once.
const RELAY_SCRIPT: &str = r#"document.getElementById("relay").submit();"#;

/// The pages' policy, plus the relay script by its hash (no other script can run).
static RELAY_CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = STANDARD.encode(Sha256::digest(RELAY_SCRIPT.as_bytes()));
    format!("{}; script-src 'sha256-{hash}'", super::CSP)
});

/// Whether `provider` sends the browser back with a form post (`response_mode=form_post`).
fn posts_back(provider: Provider) -> bool {
    provider == Provider::Apple
}

/// `GET /callback/{provider}`, and `POST` for a provider's form post: without munji's cookies
/// a post is relayed once from munji's origin; with them (or once relayed) it is checked like a
/// redirect.
#[handler]
pub async fn callback(
    req: &Request,
    Path(provider): Path<String>,
    body: Body,
    jar: &CookieJar,
    lang: Lang,
    origin: ClientOrigin,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    let provider = enabled_provider(&state, &provider)?;
    let fields: CallbackQuery = if req.method() == Method::POST {
        if !posts_back(provider) {
            return Err(PageError::NotFound);
        }
        let bytes = body.into_vec().await.map_err(|_| PageError::BadRequest("unreadable form"))?;
        let form: CallbackQuery =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadRequest("unreadable form"))?;
        if Cookies::new(jar, &state).browser().is_none() && form.relayed.is_none() {
            state.metrics.logins.with_label_values(&[provider.as_str(), "relayed"]).inc();
            return Ok(relay_page(lang, provider, form));
        }
        form
    } else {
        req.params().map_err(|_| PageError::BadRequest("unreadable query"))?
    };
    complete(provider, fields, jar, lang, origin, &state).await
}

fn relay_page(lang: Lang, provider: Provider, form: CallbackQuery) -> Response {
    let fields = [("code", form.code), ("state", form.state), ("error", form.error), ("user", form.user)]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect();
    let view =
        views::RelayView { t: lang.messages(), action: format!("/callback/{provider}"), fields, script: RELAY_SCRIPT };
    let mut resp = render(&view);
    if let Ok(policy) = HeaderValue::from_str(&RELAY_CSP) {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    resp
}

/// The state checked, the code redeemed, and the browser signed in (or sent on).
async fn complete(
    provider: Provider,
    query: CallbackQuery,
    jar: &CookieJar,
    lang: Lang,
    ClientOrigin(origin): ClientOrigin,
    state: &AppState,
) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, state);
    let count = |outcome: &str| state.metrics.logins.with_label_values(&[provider.as_str(), outcome]).inc();
    let flow = state
        .secrets
        .state
        .finish(&state.ephemeral, query.state.as_deref(), cookies.browser().as_deref(), provider)
        .await
        .inspect_err(|e| {
            tracing::warn!(reason = %e, "callback state refused");
            count("bad_state");
        })?;
    if let Some(error) = query.error.as_deref() {
        return refused_at_provider(state, lang, provider, &flow.purpose, error);
    }
    let code = query.code.as_deref().filter(|c| !c.is_empty()).ok_or(PageError::BadRequest("no code"))?;
    let grant = Grant {
        code,
        state: query.state.as_deref().unwrap_or_default(),
        pkce_verifier: &flow.pkce_verifier,
        nonce: &flow.nonce,
        user: query.user.as_deref(),
    };
    let upstream_failed = |e: UpstreamError, outcome: Option<&str>| {
        tracing::warn!(error.message = %e, kind = e.kind(), "the provider step failed");
        state.metrics.upstream_errors.with_label_values(&[provider.as_str(), e.kind()]).inc();
        outcome.into_iter().for_each(count);
        PageError::Upstream(e)
    };
    if let Purpose::GmailConnect { user_id, sid } = &flow.purpose {
        let connection = state.upstreams.connect_gmail(&grant).await.map_err(|e| upstream_failed(e, None))?;
        return super::gmail::finish(state, &cookies, *user_id, sid, connection).await;
    }
    let profile =
        state.upstreams.sign_in(provider, &grant).await.map_err(|e| upstream_failed(e, Some("upstream_error")))?;
    let return_to = match flow.purpose {
        Purpose::Login { return_to } => return_to,
        Purpose::Link { user_id, sid } => return super::link::finish(state, &cookies, user_id, &sid, &profile).await,
        Purpose::GmailConnect { .. } => return Err(PageError::BadRequest("gmail flow")),
    };
    let previous = session::session_cookie(&cookies);
    match login::finish(state, profile, &origin, previous.as_ref()).await? {
        LoginOutcome::SignedIn(signed_in) => {
            session::set_session(state, &cookies, &signed_in.cookie);
            Ok(Redirect::see_other(return_to).into_response())
        }
        LoginOutcome::SignupNeeded(profile) => signup::begin(state, &cookies, profile, return_to).await,
        LoginOutcome::ConsentRequired => Ok(consent_page(state, lang, provider, &return_to)),
        LoginOutcome::LegacyAmbiguous => Err(PageError::LegacyAmbiguous),
        LoginOutcome::RegistrationClosed => Err(PageError::RegistrationClosed),
        LoginOutcome::Disabled => Err(PageError::AccountDisabled),
    }
}

/// The provider sent the browser back with `error` instead of a code: a cancel is a page that
/// offers to try again, anything else an upstream failure.
fn refused_at_provider(
    state: &AppState,
    lang: Lang,
    provider: Provider,
    purpose: &Purpose,
    error: &str,
) -> Result<Response, PageError> {
    let count = |outcome: &str| state.metrics.logins.with_label_values(&[provider.as_str(), outcome]).inc();
    if error == "access_denied" || error == "user_cancelled_authorize" {
        count("cancelled");
        let retry_href = match purpose {
            Purpose::Login { return_to } => start_href(provider, return_to, false),
            Purpose::Link { .. } | Purpose::GmailConnect { .. } => "/account".to_owned(),
        };
        return Ok(cancelled_page(lang, retry_href));
    }
    count("upstream_error");
    state.metrics.upstream_errors.with_label_values(&[provider.as_str(), "error_response"]).inc();
    Err(UpstreamError::BadResponse(format!("authorization error {error:?}")).into())
}

fn cancelled_page(lang: Lang, retry_href: String) -> Response {
    let t = lang.messages();
    render(&views::ErrorView {
        t,
        title: t.cancelled_title,
        message: t.cancelled_lead,
        code: None,
        retry_href,
        retry_label: t.try_again,
        request_id: RequestId::current(),
    })
}

fn consent_page(state: &AppState, lang: Lang, provider: Provider, return_to: &str) -> Response {
    let t = lang.messages();
    let (provider_style, provider_name) = super::brand(state, t, provider);
    render(&views::ConsentRequiredView {
        t,
        provider_style,
        provider_name,
        retry_href: start_href(provider, return_to, true),
    })
}
