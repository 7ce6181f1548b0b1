//! Refresh tokens (rotation, grace window, family revocation, client binding), revocation
//! (RFC 7009) and introspection (RFC 7662), attacked.

use std::time::Duration;

use chrono::Utc;
use munji::{crypto, store::refresh_tokens, upstream::Provider};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp,
    clients::{self, RegisteredClient},
    oidc::oauth_error,
    social::{Person, form_value},
};

crate::on_every_backend!(
    twenty_parallel_uses_of_one_refresh_token_leave_one_live_head,
    a_replay_after_the_grace_window_revokes_the_family_and_the_session,
    purging_removes_only_expired_families,
    refresh_tokens_are_bound_to_their_client,
    sign_out_ends_the_refresh_tokens_of_the_session,
    sign_out_everywhere_ends_every_session_and_token_of_the_user,
    revocation_and_introspection_follow_the_rfcs,
    a_revoked_service_token_is_refused_at_once,
    a_refresh_family_expires_after_refresh_token_ttl_however_often_it_rotates,
);

/// A user signed in to `browser` through the `web` client, with its first tokens.
struct Grant {
    app: TestApp,
    browser: reqwest::Client,
    access: String,
    refresh: String,
}

async fn grant(backend: Backend, grace: &str) -> Grant {
    let app = TestApp::builder(backend).env("MUNJI_REFRESH_TOKEN_GRACE", grace).with_web_client().spawn().await;
    signed_up(app, "refresher").await
}

async fn signed_up(app: TestApp, username: &str) -> Grant {
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Naver, &person(), username).await;
    let (access, refresh) = app.tokens_for(&browser).await;
    Grant { app, browser, access, refresh }
}

fn person() -> Person {
    Person::new(11, "refresh@example.com")
}

impl Grant {
    fn web(&self) -> &RegisteredClient {
        self.app.web_client()
    }

    async fn refresh(&self, token: &str) -> reqwest::Response {
        self.app.refresh(self.web(), token).await
    }

    async fn family(&self) -> uuid::Uuid {
        refresh_tokens::find(&self.app.state.db, &crypto::sha256_hex(&self.refresh)).await.unwrap().unwrap().family_id
    }
}

async fn twenty_parallel_uses_of_one_refresh_token_leave_one_live_head(backend: Backend) {
    let g = grant(backend, "10s").await;
    let attempts = (0..20).map(|_| g.refresh(&g.refresh));
    let mut successors = Vec::new();
    for resp in futures_util::future::join_all(attempts).await {
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
    assert_eq!(oauth_error(replay).await, "invalid_grant");
    assert_eq!(oauth_error(g.refresh(&rt2).await).await, "invalid_grant", "the live head died with its family");
    assert_eq!(g.app.verify_status(&access2).await, 401, "and the session's access tokens");
    assert_eq!(g.app.verify_status(&g.access).await, 401);
    assert_eq!(refresh_tokens::live_heads(&g.app.state.db, g.family().await, Utc::now()).await.unwrap(), 0);
}

async fn refresh_tokens_are_bound_to_their_client(backend: Backend) {
    let g = grant(backend, "10s").await;
    let other = g.app.register(clients::web("other", "https://other.example/cb", &["openid"])).await;

    let stolen = g.app.refresh(&other, &g.refresh).await;
    assert_eq!(oauth_error(stolen).await, "invalid_grant");
    // Nothing changed: the owner can still use it.
    assert_eq!(g.refresh(&g.refresh).await.status(), 200);
}

async fn sign_out_ends_the_refresh_tokens_of_the_session(backend: Backend) {
    let g = grant(backend, "10s").await;
    let account = g.app.get_account(&g.browser).await.text().await.unwrap();
    g.app.post_logout(&g.browser, &form_value(&account, "csrf").unwrap()).await;
    assert_eq!(oauth_error(g.refresh(&g.refresh).await).await, "invalid_grant");
    assert_eq!(g.app.verify_status(&g.access).await, 401);
}

async fn sign_out_everywhere_ends_every_session_and_token_of_the_user(backend: Backend) {
    let g = grant(backend, "10s").await;
    // The same person on a second device.
    let phone = g.app.browser();
    g.app.sign_in_with(&phone, Provider::Naver, &person()).await;
    let (phone_access, phone_refresh) = g.app.tokens_for(&phone).await;
    assert_eq!(g.app.verify_status(&phone_access).await, 200);

    // A code fetched before the sign-out, redeemed after it: the session is over.
    let early_code = g.app.authorize_code(&g.browser, g.web(), &[]).await;

    let account = g.app.get_account(&g.browser).await.text().await.unwrap();
    assert!(account.contains("/logout?all=1"));
    let csrf = form_value(&account, "csrf").unwrap();
    let out = g.browser.post(g.app.url("/logout?all=1")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(out.status(), 303);

    assert_eq!(g.app.signed_in_username(&phone).await, None, "the other device is signed out");
    assert_eq!(g.app.verify_status(&phone_access).await, 401);
    assert_eq!(g.app.verify_status(&g.access).await, 401);
    assert_eq!(oauth_error(g.refresh(&phone_refresh).await).await, "invalid_grant");
    assert_eq!(oauth_error(g.refresh(&g.refresh).await).await, "invalid_grant");
    let late = g.app.redeem_code(g.web(), &early_code, None).await;
    assert_eq!(oauth_error(late).await, "invalid_grant", "no way back into an ended session");
}

async fn revocation_and_introspection_follow_the_rfcs(backend: Backend) {
    let g = grant(backend, "10s").await;
    let (app, web) = (&g.app, g.web());

    // Live access and refresh tokens are active.
    let body = app.introspect(web, &g.access).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], "web");
    let body = app.introspect(web, &g.refresh).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");
    // Garbage is exactly {"active": false}.
    assert_eq!(app.introspect(web, "garbage").await, json!({"active": false}));
    // Introspection needs client authentication, by a client with a secret.
    assert_eq!(app.post_introspect(None, &g.access).await.status(), 401);

    // Revoking an unknown token is fine; revoking a token ends the session: its tokens, its
    // refresh tokens and the browser session itself.
    assert_eq!(app.post_revoke(web, "never-issued").await.status(), 200);
    let resp = app.post_revoke(web, &g.access).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(app.introspect(web, &g.access).await, json!({"active": false}));
    assert_eq!(app.verify_status(&g.access).await, 401);
    assert_eq!(oauth_error(g.refresh(&g.refresh).await).await, "invalid_grant");
    assert_eq!(app.introspect(web, &g.refresh).await, json!({"active": false}));
    assert_eq!(app.signed_in_username(&g.browser).await, None, "the browser session ended too");
}

async fn a_revoked_service_token_is_refused_at_once(backend: Backend) {
    let app = TestApp::builder(backend).with_service_client("bot", &["gmail.vend"]).spawn().await;
    let bot = app.registered("bot");
    let token = &app.service_token(bot).await;
    assert_eq!(app.verify_status(token).await, 200);
    assert_eq!(app.post_revoke(bot, token).await.status(), 200);
    assert_eq!(app.verify_status(token).await, 401);
}

async fn a_refresh_family_expires_after_refresh_token_ttl_however_often_it_rotates(backend: Backend) {
    let app = TestApp::builder(backend).env("MUNJI_REFRESH_TOKEN_TTL", "2s").with_web_client().spawn().await;
    let g = signed_up(app, "expiring").await;
    let rotated: Value = g.refresh(&g.refresh).await.json().await.unwrap();
    let rt2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(oauth_error(g.refresh(&rt2).await).await, "invalid_grant", "absolute expiry of the family");
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
