//! `GET /callback/{provider}`: check the state, redeem the code, resolve who signed in
//! (DESIGN §2), and sign the browser in, send it to sign-up, or explain why not.
//!
//! Order matters: the state is checked (signature, single use, same browser, same provider)
//! before anything is sent upstream, and nothing is written before the provider has vouched for
//! the profile.

use poem::{
    IntoResponse, Response, handler,
    web::{Data, Path, Query, Redirect, cookie::CookieJar},
};
use serde::Deserialize;

use super::{PageError, enabled_provider, login::start_href, render, signup, views};
use crate::{
    audit::{self, AuditEvent},
    config::RequiredField,
    http::{
        request_id::RequestId,
        session::{self, ClientOrigin, Cookies},
    },
    i18n::Lang,
    identity::{self, Resolution},
    sessions::{self, Ending, Origin},
    state::AppState,
    store::users::User,
    upstream::{Grant, Provider, UpstreamError, UpstreamProfile, state::Purpose},
};

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[handler]
pub async fn callback(
    Path(provider): Path<String>,
    Query(query): Query<CallbackQuery>,
    jar: &CookieJar,
    lang: Lang,
    ClientOrigin(origin): ClientOrigin,
    state: Data<&AppState>,
) -> Result<Response, PageError> {
    let provider = enabled_provider(&state, &provider)?;
    let cookies = Cookies::new(jar, &state);
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
    let retry_href = match &flow.purpose {
        Purpose::Login { return_to } => start_href(provider, return_to, false),
        Purpose::Link { .. } | Purpose::GmailConnect { .. } => "/account".to_owned(),
    };

    if let Some(error) = query.error.as_deref() {
        if error == "access_denied" {
            count("cancelled");
            return Ok(cancelled_page(lang, retry_href));
        }
        count("upstream_error");
        state.metrics.upstream_errors.with_label_values(&[provider.as_str(), "error_response"]).inc();
        return Err(UpstreamError::BadResponse(format!("authorization error {error:?}")).into());
    }
    let code = query.code.as_deref().filter(|c| !c.is_empty()).ok_or(PageError::BadRequest("no code"))?;
    let grant = Grant {
        code,
        state: query.state.as_deref().unwrap_or_default(),
        pkce_verifier: &flow.pkce_verifier,
        nonce: &flow.nonce,
    };
    if let Purpose::GmailConnect { user_id, sid } = &flow.purpose {
        let connection = state.upstreams.connect_gmail(&grant).await.map_err(|e| {
            tracing::warn!(error.message = %e, kind = e.kind(), "gmail connection failed upstream");
            state.metrics.upstream_errors.with_label_values(&[provider.as_str(), e.kind()]).inc();
            PageError::Upstream(e)
        })?;
        return super::gmail::finish(&state, &cookies, *user_id, sid, connection).await;
    }
    let profile = state.upstreams.sign_in(provider, &grant).await.map_err(|e| {
        tracing::warn!(error.message = %e, kind = e.kind(), "upstream sign-in failed");
        state.metrics.upstream_errors.with_label_values(&[provider.as_str(), e.kind()]).inc();
        count("upstream_error");
        PageError::Upstream(e)
    })?;
    let return_to = match flow.purpose {
        Purpose::Login { return_to } => return_to,
        Purpose::Link { user_id, sid } => return super::link::finish(&state, &cookies, user_id, &sid, &profile).await,
        Purpose::GmailConnect { .. } => return Err(PageError::BadRequest("gmail flow")),
    };

    if missing_required(&state, &profile) {
        count("consent_required");
        audit::record(&state.db, None, AuditEvent::LoginRefused { provider, reason: "consent_required" }).await?;
        return Ok(consent_page(lang, provider, &return_to));
    }

    match identity::resolve(&state.db, state.identity_policy(provider), &profile).await? {
        Resolution::Known(user) => {
            count("login");
            signed_in(&state, &cookies, &origin, &user, AuditEvent::Login { provider }, &return_to).await
        }
        Resolution::Backfilled { user, identity_id } => {
            count("legacy_backfill");
            state.metrics.legacy_backfills.with_label_values(&[provider.as_str()]).inc();
            audit::record(&state.db, Some(user.id), AuditEvent::LegacyBackfill { provider, identity_id }).await?;
            // Whoever held a session of this account before it was claimed loses it.
            sessions::end(&state, Ending::AllOf(user.id)).await?;
            signed_in(&state, &cookies, &origin, &user, AuditEvent::Login { provider }, &return_to).await
        }
        Resolution::LegacyAmbiguous => {
            count("legacy_ambiguous");
            audit::record(&state.db, None, AuditEvent::LoginRefused { provider, reason: "legacy_ambiguous" }).await?;
            Err(PageError::LegacyAmbiguous)
        }
        Resolution::Created(user) => {
            count("signup");
            signed_in(&state, &cookies, &origin, &user, AuditEvent::Signup { provider, identity_id: None }, &return_to)
                .await
        }
        Resolution::SignupNeeded => {
            count("signup_form");
            signup::begin(&state, &cookies, profile, return_to).await
        }
        Resolution::Closed => {
            count("registration_closed");
            audit::record(&state.db, None, AuditEvent::LoginRefused { provider, reason: "registration_closed" })
                .await?;
            Err(PageError::RegistrationClosed)
        }
    }
}

/// Whether the profile lacks a field the provider's `required_fields` names.
fn missing_required(state: &AppState, profile: &UpstreamProfile) -> bool {
    profile.provider.config(&state.config).required_fields.iter().any(|field| match field {
        RequiredField::Email => profile.email.is_none(),
        RequiredField::Name => profile.name.is_none(),
    })
}

/// Start the session, write the audit event, and go where the flow was headed.
pub(super) async fn signed_in(
    state: &AppState,
    cookies: &Cookies<'_>,
    origin: &Origin,
    user: &User,
    event: AuditEvent<'_>,
    return_to: &str,
) -> Result<Response, PageError> {
    session::start(state, cookies, origin, user.id).await?;
    audit::record(&state.db, Some(user.id), event).await?;
    tracing::info!(user.id = %user.id, "signed in");
    Ok(Redirect::see_other(return_to).into_response())
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

fn consent_page(lang: Lang, provider: Provider, return_to: &str) -> Response {
    render(&views::ConsentRequiredView {
        t: lang.messages(),
        provider_id: provider.as_str(),
        provider_name: provider.display_name(),
        retry_href: start_href(provider, return_to, true),
    })
}
