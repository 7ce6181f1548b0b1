//! `GET/POST /signup`: finish a new account after a first sign-in (`registration = "form"`).
//!
//! The verified profile waits in the ephemeral store (30 minutes, bound to this browser); the
//! form only chooses the username and display name. Nothing is written until the form is
//! valid, and the pending sign-up is used once.

use std::time::Duration;

use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{Data, Form, Redirect, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{PageError, callback::signed_in, render, views};
use crate::{
    audit::AuditEvent,
    crypto,
    http::session::{ClientOrigin, Cookies, SIGNUP, check_csrf, csrf_token},
    i18n::{Lang, Messages},
    identity::{self, IdentityError, Username, UsernameProblem},
    state::AppState,
    store::{identities, users},
    upstream::UpstreamProfile,
};

const SIGNUP_TTL: Duration = Duration::from_secs(30 * 60);

#[derive(Serialize, Deserialize)]
struct PendingSignup {
    profile: UpstreamProfile,
    return_to: String,
    /// SHA-256 of the binding id of the browser that signed in.
    browser: String,
}

fn key(id: &str) -> String {
    format!("signup:{}", crypto::sha256_hex(id))
}

/// Keep the verified profile and send the browser to the sign-up form.
pub(super) async fn begin(
    state: &AppState,
    cookies: &Cookies<'_>,
    profile: UpstreamProfile,
    return_to: String,
) -> Result<Response, PageError> {
    let id = crypto::random_token(32);
    let pending = PendingSignup { profile, return_to, browser: crypto::sha256_hex(&cookies.ensure_browser()) };
    let value = serde_json::to_vec(&pending).map_err(|e| PageError::Internal(e.to_string()))?;
    state.ephemeral.put(&key(&id), &value, SIGNUP_TTL).await?;
    cookies.set(SIGNUP, &id, Some(SIGNUP_TTL));
    Ok(Redirect::see_other("/signup").into_response())
}

/// The pending sign-up of this browser.
async fn load(state: &AppState, cookies: &Cookies<'_>) -> Result<(String, PendingSignup), PageError> {
    let id = cookies.get(SIGNUP).ok_or(PageError::SignupExpired)?;
    let value = state.ephemeral.get(&key(&id)).await?.ok_or(PageError::SignupExpired)?;
    let pending: PendingSignup = serde_json::from_slice(&value).map_err(|_| PageError::SignupExpired)?;
    let same_browser = cookies
        .browser()
        .is_some_and(|b| crypto::constant_time_eq(crypto::sha256_hex(&b).as_bytes(), pending.browser.as_bytes()));
    if !same_browser {
        return Err(PageError::SignupExpired);
    }
    Ok((id, pending))
}

#[handler]
pub async fn signup_page(jar: &CookieJar, lang: Lang, state: Data<&AppState>) -> Result<Response, PageError> {
    let cookies = Cookies::new(jar, &state);
    let (_, pending) = load(&state, &cookies).await?;
    let username = identity::suggested_username(&pending.profile);
    let display_name = identity::suggested_display_name(&pending.profile, &username);
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
    let (id, pending) = load(&state, &cookies).await?;
    let t = lang.messages();
    let typed_username = form.username.unwrap_or_default();
    let typed_display_name = form.display_name.unwrap_or_default();
    let refuse = |username_problem: Option<UsernameProblem>, display_name_invalid: bool| {
        let mut errors: Vec<&'static str> = username_problem.map(|p| username_message(t, p)).into_iter().collect();
        if display_name_invalid {
            errors.push(t.err_display_name);
        }
        let mut resp = render(&views::SignupView {
            t,
            csrf: csrf_token(&state, &cookies),
            username: typed_username.trim().to_owned(),
            display_name: typed_display_name.trim().to_owned(),
            errors,
            username_invalid: username_problem.is_some(),
            display_name_invalid,
        });
        resp.set_status(StatusCode::UNPROCESSABLE_ENTITY);
        Ok(resp)
    };

    let username = Username::parse(&typed_username);
    let display_name = identity::parse_display_name(&typed_display_name);
    let (username, display_name) = match (username, display_name) {
        (Ok(u), Some(d)) => (u, d),
        (u, d) => return refuse(u.err(), d.is_none()),
    };
    if users::username_taken(&state.db, username.as_str()).await? {
        return refuse(Some(UsernameProblem::Taken), false);
    }
    // One use: a second submit of the same sign-up finds nothing.
    if state.ephemeral.take(&key(&id)).await?.is_none() {
        return Err(PageError::SignupExpired);
    }
    let provider = pending.profile.provider;
    match identity::sign_up(&state.db, &pending.profile, &username, &display_name).await {
        Ok(user) => {
            cookies.clear(SIGNUP);
            state.metrics.logins.with_label_values(&[provider.as_str(), "signup"]).inc();
            let identity_id = identities::find_by_provider_uid(&state.db, provider.as_str(), &pending.profile.uid)
                .await?
                .map(|i| i.id);
            signed_in(
                &state,
                &cookies,
                &origin,
                &user,
                AuditEvent::Signup { provider, identity_id },
                &pending.return_to,
            )
            .await
        }
        Err(IdentityError::UsernameTaken) => {
            // Taken between the check and the insert: keep the sign-up for another try.
            let value = serde_json::to_vec(&pending).map_err(|e| PageError::Internal(e.to_string()))?;
            state.ephemeral.put(&key(&id), &value, SIGNUP_TTL).await?;
            refuse(Some(UsernameProblem::Taken), false)
        }
        Err(IdentityError::IdentityTaken) => {
            // The same person finished signing up in another tab first: sign in to that account.
            cookies.clear(SIGNUP);
            let policy = identity::Policy {
                registration: crate::config::Registration::Closed,
                legacy_fallback: false,
                email_trust: crate::config::EmailTrust::Never,
            };
            match identity::resolve(&state.db, policy, &pending.profile).await? {
                identity::Resolution::Known(user) => {
                    signed_in(&state, &cookies, &origin, &user, AuditEvent::Login { provider }, &pending.return_to)
                        .await
                }
                _ => Err(PageError::SignupExpired),
            }
        }
        Err(e) => Err(e.into()),
    }
}
