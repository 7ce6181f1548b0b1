//! Configured OpenID Connect providers (docs/providers.md): two at once (a strict RS256 one and a
//! LINE-style HS256 one), each with its own name, button and identities; a name nobody configured
//! is a 404; HS256 only when configured. The ID token's checks (signature,
//! HS256 only when configured, issuer, a templated issuer, a missing uid claim) are unit tests of
//! `upstream::generic`.

use munji::{store::identities, upstream::Provider};

use crate::helpers::{
    Backend, TestApp,
    social::{Person, location},
};

crate::on_every_backend!(
    two_generic_providers_sign_in_side_by_side,
    an_unconfigured_provider_name_is_not_found,
    a_token_with_the_wrong_uid_claim_creates_nothing,
    an_hs256_token_is_refused_unless_configured,
);

/// A generic provider at the Google imitation (a strict OpenID Connect provider, RS256).
fn generic(name: &str, display_name: &str) -> Vec<(String, String)> {
    generic_at(name, display_name, "{dev}/dev/google")
}

/// A LINE-style provider: the imitation's variant that signs ID tokens with HS256 keyed with the
/// client secret.
fn line_style(name: &str, display_name: &str, hs256: bool) -> Vec<(String, String)> {
    let mut env = generic_at(name, display_name, "{dev}/dev/oidc-hs256");
    if hs256 {
        env.push((format!("MUNJI_PROVIDERS__OIDC__{}__ID_TOKEN_HS256", name.to_uppercase()), "true".to_owned()));
    }
    env
}

fn generic_at(name: &str, display_name: &str, issuer: &str) -> Vec<(String, String)> {
    let key = |k: &str| format!("MUNJI_PROVIDERS__OIDC__{}__{k}", name.to_uppercase());
    vec![
        (key("ISSUER_URL"), issuer.to_owned()),
        (key("CLIENT_ID"), format!("{name}-client")),
        (key("CLIENT_SECRET"), "s3cret".to_owned()),
        (key("DISPLAY_NAME"), display_name.to_owned()),
    ]
}

async fn spawn_with(backend: Backend, env: Vec<(String, String)>) -> TestApp {
    env.iter().fold(TestApp::builder(backend), |b, (k, v)| b.env(k, v)).spawn().await
}

async fn two_generic_providers_sign_in_side_by_side(backend: Backend) {
    let mut env = generic("corp", "Corp SSO");
    env.extend(line_style("uni", "University", true));
    let app = spawn_with(backend, env).await;
    let page = app.browser().get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    for label in ["Sign in with Corp SSO", "Sign in with University", "href=\"/login/corp?", "/static/oidc.svg"] {
        assert!(page.contains(label), "{label:?} missing from the login page");
    }
    let (corp, uni) = (Provider::known("corp").unwrap(), Provider::known("uni").unwrap());
    for (i, provider) in [corp, uni].into_iter().enumerate() {
        let person = Person::new(7000 + i as u64, &format!("sso{i}@example.com"));
        let done = app.sign_up_with(&app.browser(), provider, &person, &format!("sso{i}")).await;
        assert_eq!(done.status(), 303, "{provider}");
        assert_eq!(location(&done, &app.base_url).path(), "/account");
        let identity = identities::find_by_provider_uid(&app.state.db, provider, &person.uid).await.unwrap().unwrap();
        assert_eq!((identity.provider, identity.email.as_deref()), (provider, Some(person.email.as_str())));
    }
    assert_eq!(app.count_identities().await, 2, "the same uid at two providers is two identities");
    let metrics = app.get_metrics().await;
    assert!(metrics.contains(r#"munji_logins_total{outcome="signup",provider="uni"} 1"#), "{metrics}");
}

async fn an_unconfigured_provider_name_is_not_found(backend: Backend) {
    let app = spawn_with(backend, generic("corp", "Corp SSO")).await;
    for path in ["/login/nobody", "/callback/nobody?code=x&state=y", "/login/Corp", "/login/corp%2F"] {
        assert_eq!(app.browser().get(app.url(path)).send().await.unwrap().status(), 404, "{path}");
    }
}

async fn a_token_with_the_wrong_uid_claim_creates_nothing(backend: Backend) {
    let mut env = generic("corp", "Corp SSO");
    env.push(("MUNJI_PROVIDERS__OIDC__CORP__UID_CLAIM".to_owned(), "oid".to_owned()));
    let app = spawn_with(backend, env).await;
    let corp = Provider::known("corp").unwrap();
    let resp = app.sign_in_with(&app.browser(), corp, &Person::new(7100, "x@example.com")).await;
    assert_eq!(resp.status(), 502, "the imitation's tokens have no `oid` claim");
    assert_eq!((app.count_users().await, app.count_identities().await), (0, 0));
    let metrics = app.get_metrics().await;
    assert!(metrics.contains(r#"munji_upstream_errors_total{kind="bad_id_token",provider="corp"} 1"#), "{metrics}");
}

async fn an_hs256_token_is_refused_unless_configured(backend: Backend) {
    let app = spawn_with(backend, line_style("chat", "Chat", false)).await;
    let chat = Provider::known("chat").unwrap();
    let resp = app.sign_in_with(&app.browser(), chat, &Person::new(7200, "x@example.com")).await;
    assert_eq!(resp.status(), 502, "an HS256 ID token from a provider not marked id_token_hs256");
    assert_eq!((app.count_users().await, app.count_identities().await), (0, 0));
}
