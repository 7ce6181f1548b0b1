//! `GET /login` (one button per configured provider) and `GET /login/{provider}` (start a
//! flow: store the state record, send the browser to the provider).

use poem::{
    handler,
    web::{Data, Path, Query, Redirect, cookie::CookieJar},
};
use serde::Deserialize;

use super::{PageError, enabled_provider, local_return_to, render, views};
use crate::{
    crypto,
    http::session::Cookies,
    i18n::Lang,
    state::AppState,
    upstream::{
        AuthRequest, Provider,
        state::{FlowRecord, Purpose},
    },
};

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    /// Present on the consent-required page's button: ask again for what was declined.
    reconsent: Option<String>,
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The link that starts a sign-in with `provider`.
pub fn start_href(provider: crate::upstream::Provider, return_to: &str, reconsent: bool) -> String {
    let mut href = format!("/login/{provider}?return_to={}", encode(return_to));
    if reconsent {
        href.push_str("&reconsent=1");
    }
    href
}

#[handler]
pub fn login_page(Query(query): Query<LoginQuery>, lang: Lang, state: Data<&AppState>) -> poem::Response {
    let return_to = local_return_to(query.return_to.as_deref());
    let t = lang.messages();
    let providers = state
        .upstreams
        .enabled()
        .into_iter()
        .map(|p| {
            let (style, name) = super::brand(&state, t, p);
            views::ProviderLink {
                style,
                label: t.sign_in_with(p.as_str(), &name),
                href: start_href(p, &return_to, false),
            }
        })
        .collect();
    render(&views::LoginView { t, providers })
}

#[handler]
pub async fn start(
    Path(provider): Path<String>,
    Query(query): Query<LoginQuery>,
    jar: &CookieJar,
    state: Data<&AppState>,
) -> Result<Redirect, PageError> {
    let provider = enabled_provider(&state, &provider)?;
    let cookies = Cookies::new(jar, &state);
    let purpose = Purpose::Login { return_to: local_return_to(query.return_to.as_deref()) };
    begin_flow(&state, &cookies, provider, purpose, query.reconsent.is_some()).await
}

/// Store a flow's state record (bound to this browser) and send the browser to the provider.
pub(super) async fn begin_flow(
    state: &AppState,
    cookies: &Cookies<'_>,
    provider: Provider,
    purpose: Purpose,
    reconsent: bool,
) -> Result<Redirect, PageError> {
    let gmail = matches!(purpose, Purpose::GmailConnect { .. });
    let record = FlowRecord {
        provider,
        purpose,
        // 32 random bytes make a 43-character verifier, as RFC 7636 §4.1 asks.
        pkce_verifier: crypto::random_token(32),
        nonce: crypto::random_token(24),
        browser: crypto::sha256_hex(&cookies.ensure_browser()),
    };
    let state_param = state.secrets.state.begin(&state.ephemeral, &record).await?;
    let request = AuthRequest {
        state: &state_param,
        nonce: &record.nonce,
        pkce_verifier: &record.pkce_verifier,
        reconsent,
        gmail,
    };
    let url = state.upstreams.authorize_url(provider, &request).await.map_err(|e| {
        state.metrics.upstream_errors.with_label_values(&[provider.as_str(), e.kind()]).inc();
        PageError::Upstream(e)
    })?;
    Ok(Redirect::see_other(url.as_str()))
}
