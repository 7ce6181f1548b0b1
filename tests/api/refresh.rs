//! Refresh tokens (rotation, grace window, family revocation, client binding), revocation
//! (RFC 7009) and introspection (RFC 7662), attacked.

use std::time::Duration;

use chrono::Utc;
use munji::{
    crypto,
    oidc::clients::{self, NewClient},
    store::refresh_tokens,
    upstream::Provider,
};
use serde_json::{Value, json};

use super::oidc::{client_credentials_token, register_service_client, register_web_client, rp_http, tokens_for};
use crate::helpers::{
    Backend, TestApp,
    social::{Person, form_value},
};

crate::on_every_backend!(
    twenty_parallel_uses_of_one_refresh_token_leave_one_live_head,
    a_replay_after_the_grace_window_revokes_the_family_and_the_session,
    purging_removes_only_expired_families,
);

struct Grant {
    app: TestApp,
    browser: reqwest::Client,
    secret: String,
    access: String,
    refresh: String,
}

async fn grant(backend: Backend, grace: &str) -> Grant {
    let app = TestApp::builder(backend).env("MUNJI_REFRESH_TOKEN_GRACE", grace).spawn().await;
    let secret = register_web_client(&app).await;
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Naver, &person(), "refresher").await;
    let (access, refresh) = tokens_for(&app, &browser, &secret).await;
    Grant { app, browser, secret, access, refresh }
}

fn person() -> Person {
    Person::new(11, "refresh@example.com")
}

impl Grant {
    async fn refresh_with(&self, client: (&str, &str), token: &str) -> reqwest::Response {
        rp_http()
            .post(self.app.url("/token"))
            .basic_auth(client.0, Some(client.1))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
            .send()
            .await
            .unwrap()
    }

    async fn refresh(&self, token: &str) -> reqwest::Response {
        self.refresh_with(("web", &self.secret), token).await
    }

    async fn verify(&self, access: &str) -> u16 {
        rp_http().get(self.app.url("/api/v1/verify")).bearer_auth(access).send().await.unwrap().status().as_u16()
    }

    async fn family(&self) -> uuid::Uuid {
        refresh_tokens::find(&self.app.state.db, &crypto::sha256_hex(&self.refresh)).await.unwrap().unwrap().family_id
    }
}

async fn error_of(resp: reqwest::Response) -> String {
    resp.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_owned()
}

async fn twenty_parallel_uses_of_one_refresh_token_leave_one_live_head(backend: Backend) {
    let g = grant(backend, "10s").await;
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let (url, secret, token) = (g.app.url("/token"), g.secret.clone(), g.refresh.clone());
            tokio::spawn(async move {
                rp_http()
                    .post(url)
                    .basic_auth("web", Some(secret))
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())])
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut successors = Vec::new();
    for attempt in attempts {
        let resp = attempt.await.unwrap();
        if resp.status() == 200 {
            let body: Value = resp.json().await.unwrap();
            successors.push(body["refresh_token"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(successors.len(), 20, "inside the grace window every duplicate succeeds");
    successors.dedup();
    assert_eq!(successors.len(), 1, "all of them got the same successor");
    assert_eq!(refresh_tokens::live_heads(&g.app.state.db, g.family().await, Utc::now()).await.unwrap(), 1);
    // The family is alive: the successor works, and rotates again.
    assert_eq!(g.refresh(&successors[0]).await.status(), 200);
}

async fn a_replay_after_the_grace_window_revokes_the_family_and_the_session(backend: Backend) {
    let g = grant(backend, "1s").await;
    let rotated: Value = g.refresh(&g.refresh).await.json().await.unwrap();
    let rt2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    let access2 = rotated["access_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1300)).await;

    let replay = g.refresh(&g.refresh).await;
    assert_eq!(error_of(replay).await, "invalid_grant");
    assert_eq!(error_of(g.refresh(&rt2).await).await, "invalid_grant", "the live head died with its family");
    assert_eq!(g.verify(&access2).await, 401, "and the session's access tokens");
    assert_eq!(g.verify(&g.access).await, 401);
    assert_eq!(refresh_tokens::live_heads(&g.app.state.db, g.family().await, Utc::now()).await.unwrap(), 0);
}

#[tokio::test]
async fn refresh_tokens_are_bound_to_their_client() {
    let g = grant(Backend::Sqlite, "10s").await;
    let new = NewClient {
        id: "other".into(),
        redirect_uris: vec!["https://other.example/cb".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into()],
        gmail_targets: vec![],
        public: false,
        ..Default::default()
    };
    let other_secret = clients::add(&g.app.state.config, &g.app.state.db, new).await.unwrap().unwrap();

    let stolen = g.refresh_with(("other", &other_secret), &g.refresh).await;
    assert_eq!(error_of(stolen).await, "invalid_grant");
    // Nothing changed: the owner can still use it.
    assert_eq!(g.refresh(&g.refresh).await.status(), 200);
}

#[tokio::test]
async fn sign_out_ends_the_refresh_tokens_of_the_session() {
    let g = grant(Backend::Sqlite, "10s").await;
    let account = g.browser.get(g.app.url("/account")).send().await.unwrap().text().await.unwrap();
    g.app.post_logout(&g.browser, &form_value(&account, "csrf").unwrap()).await;
    assert_eq!(error_of(g.refresh(&g.refresh).await).await, "invalid_grant");
    assert_eq!(g.verify(&g.access).await, 401);
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_and_token_of_the_user() {
    let g = grant(Backend::Sqlite, "10s").await;
    // The same person on a second device.
    let phone = g.app.browser();
    g.app.sign_in_with(&phone, Provider::Naver, &person()).await;
    let (phone_access, phone_refresh) = tokens_for(&g.app, &phone, &g.secret).await;
    assert_eq!(g.verify(&phone_access).await, 200);

    // A code fetched before the sign-out, redeemed after it: the session is over.
    let query = [("client_id", "web"), ("redirect_uri", super::oidc::REDIRECT_URI), ("response_type", "code")];
    let early = g.browser.get(g.app.url("/authorize")).query(&query).send().await.unwrap();
    let early = crate::helpers::social::location(&early, &g.app.base_url);
    let early_code = early.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();

    let account = g.browser.get(g.app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(account.contains("/logout?all=1"));
    let csrf = form_value(&account, "csrf").unwrap();
    let out = g.browser.post(g.app.url("/logout?all=1")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(out.status(), 303);

    assert_eq!(g.app.signed_in_username(&phone).await, None, "the other device is signed out");
    assert_eq!(g.verify(&phone_access).await, 401);
    assert_eq!(g.verify(&g.access).await, 401);
    assert_eq!(error_of(g.refresh(&phone_refresh).await).await, "invalid_grant");
    assert_eq!(error_of(g.refresh(&g.refresh).await).await, "invalid_grant");
    let late = rp_http()
        .post(g.app.url("/token"))
        .basic_auth("web", Some(&g.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", early_code.as_str()),
            ("redirect_uri", super::oidc::REDIRECT_URI),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(late).await, "invalid_grant", "no way back into an ended session");
}

#[tokio::test]
async fn revocation_and_introspection_follow_the_rfcs() {
    let g = grant(Backend::Sqlite, "10s").await;
    let http = rp_http();
    let introspect = |token: &str| {
        http.post(g.app.url("/introspect")).basic_auth("web", Some(&g.secret)).form(&[("token", token)]).send()
    };

    // Live access and refresh tokens are active.
    let body: Value = introspect(&g.access).await.unwrap().json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], "web");
    let body: Value = introspect(&g.refresh).await.unwrap().json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");
    // Garbage is exactly {"active": false}.
    let body: Value = introspect("garbage").await.unwrap().json().await.unwrap();
    assert_eq!(body, json!({"active": false}));
    // Introspection needs client authentication, by a client with a secret.
    let anonymous = http.post(g.app.url("/introspect")).form(&[("token", g.access.as_str())]).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // Revoking an unknown token is fine; revoking a token ends the session: its tokens, its
    // refresh tokens and the browser session itself.
    let revoke = |token: &str| {
        http.post(g.app.url("/revoke")).basic_auth("web", Some(&g.secret)).form(&[("token", token)]).send()
    };
    assert_eq!(revoke("never-issued").await.unwrap().status(), 200);
    let resp = revoke(&g.access).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = introspect(&g.access).await.unwrap().json().await.unwrap();
    assert_eq!(body, json!({"active": false}));
    assert_eq!(g.verify(&g.access).await, 401);
    assert_eq!(error_of(g.refresh(&g.refresh).await).await, "invalid_grant");
    let body: Value = introspect(&g.refresh).await.unwrap().json().await.unwrap();
    assert_eq!(body, json!({"active": false}));
    assert_eq!(g.app.signed_in_username(&g.browser).await, None, "the browser session ended too");
}

#[tokio::test]
async fn a_revoked_service_token_is_refused_at_once() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let secret = register_service_client(&app, "bot", &["gmail.vend"]).await;
    let http = rp_http();
    let token = &client_credentials_token(&app.base_url, "bot", &secret).await;
    assert_eq!(http.get(app.url("/api/v1/verify")).bearer_auth(token).send().await.unwrap().status(), 200);
    let revoked =
        http.post(app.url("/revoke")).basic_auth("bot", Some(&secret)).form(&[("token", token)]).send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(http.get(app.url("/api/v1/verify")).bearer_auth(token).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn a_refresh_family_expires_after_refresh_token_ttl_however_often_it_rotates() {
    let app = TestApp::builder(Backend::Sqlite).env("MUNJI_REFRESH_TOKEN_TTL", "2s").spawn().await;
    let secret = register_web_client(&app).await;
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Naver, &person(), "expiring").await;
    let (_, first) = tokens_for(&app, &browser, &secret).await;
    let g = Grant { app, browser, secret, access: String::new(), refresh: first };
    let rotated: Value = g.refresh(&g.refresh).await.json().await.unwrap();
    let rt2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(error_of(g.refresh(&rt2).await).await, "invalid_grant", "absolute expiry of the family");
}

async fn purging_removes_only_expired_families(backend: Backend) {
    let g = grant(backend, "10s").await;
    let rotated = g.refresh(&g.refresh).await;
    assert_eq!(rotated.status(), 200);
    let now = Utc::now();
    assert_eq!(refresh_tokens::purge_expired(&g.app.state.db, now).await.unwrap(), 0, "live families stay");
    // A day and more later both tokens of the family are past their expiry and go.
    let later = now + chrono::Duration::hours(25);
    assert_eq!(refresh_tokens::purge_expired(&g.app.state.db, later).await.unwrap(), 2);
    assert!(refresh_tokens::find(&g.app.state.db, &crypto::sha256_hex(&g.refresh)).await.unwrap().is_none());
}
