//! Whose budget a request spends: the per-client `oauth` budget only by requests that proved the
//! client (a secret, or a public client's own live code or token), so nobody can exhaust
//! another's; the per-IP budget by the address the trusted proxies name, read across every
//! `X-Forwarded-For` line, an IPv6 client counted by its /64.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use munji::upstream::Provider;
use reqwest::Response;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::helpers::{
    Backend, TestApp, TestAppBuilder,
    clients::{RegisteredClient, SPA_REDIRECT_URI as SPA_REDIRECT},
    oidc::rp_http,
    social::Person,
};

crate::on_every_backend!(
    junk_from_one_address_does_not_spend_a_public_clients_budget,
    a_wrong_secret_does_not_spend_the_clients_budget,
    every_forwarded_for_line_is_read_as_one_list,
    ipv6_clients_are_counted_by_their_64,
);

/// An app whose `group` limit (`PAGES`, `OAUTH`) is `rate`, behind a trusted proxy: the test's
/// socket, so each request names its client's address in `X-Forwarded-For`.
pub fn behind_proxy(backend: Backend, group: &str, rate: &str) -> TestAppBuilder {
    TestApp::builder(backend)
        .env(&format!("MUNJI_RATE_LIMITS__{group}"), rate)
        .env("MUNJI_RATE_LIMITS__TRUSTED_PROXIES", "127.0.0.0/8")
}

async fn status_and_error(resp: Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

/// A form POST to `path` as if from `ip`, authenticated as `client` if it has a secret.
async fn post_from(
    app: &TestApp,
    ip: &str,
    path: &str,
    client: Option<&RegisteredClient>,
    form: &[(&str, &str)],
) -> Response {
    app.oauth_post(path, client).header("x-forwarded-for", ip).form(form).send().await.unwrap()
}

/// `POST /token` client credentials for `client`, as if from `ip`.
pub async fn client_credentials_from(app: &TestApp, ip: &str, client: &RegisteredClient) -> Response {
    post_from(app, ip, "/token", Some(client), &[("grant_type", "client_credentials")]).await
}

/// `POST /introspect` of a junk token by `client`, as if from `ip`.
pub async fn introspect_from(app: &TestApp, ip: &str, client: &RegisteredClient) -> Response {
    post_from(app, ip, "/introspect", Some(client), &[("token", "x")]).await
}

/// Sign a person in and have the public client `spa` redeem a code for them from `ip`; the
/// refresh token.
async fn spa_refresh_token(app: &TestApp, ip: &str) -> String {
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Kakao, &Person::new(21, "spa-user@example.com"), "spauser").await;
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let pkce = [("scope", "openid profile"), ("code_challenge", &challenge), ("code_challenge_method", "S256")];
    let code = app.authorize_code(&browser, app.spa_client(), &pkce).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", "spa"),
        ("code", &code),
        ("redirect_uri", SPA_REDIRECT),
        ("code_verifier", &verifier),
    ];
    next_refresh_token(post_from(app, ip, "/token", None, &form).await).await
}

/// `spa` refreshes `token` from `ip`.
async fn refresh_from(app: &TestApp, ip: &str, token: &str) -> Response {
    let form = [("grant_type", "refresh_token"), ("client_id", "spa"), ("refresh_token", token)];
    post_from(app, ip, "/token", None, &form).await
}

/// The refresh token of a token response that must be a success.
async fn next_refresh_token(resp: Response) -> String {
    assert_eq!(resp.status(), 200, "tokens for the real user");
    resp.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_owned()
}

async fn junk_from_one_address_does_not_spend_a_public_clients_budget(backend: Backend) {
    let app = behind_proxy(backend, "OAUTH", "4/min").with_spa_client().spawn().await;
    let user = "198.51.100.20";
    let mut refresh = spa_refresh_token(&app, user).await;

    // One address names `spa` with junk: a refresh token, a code, a token to revoke. Each is
    // answered as usual and spends that address's budget, not the client's.
    let attacker = "203.0.113.66";
    let invalid_grant = (400, "invalid_grant".to_owned());
    assert_eq!(status_and_error(refresh_from(&app, attacker, "junk").await).await, invalid_grant);
    let code =
        [("grant_type", "authorization_code"), ("client_id", "spa"), ("code", "junk"), ("redirect_uri", SPA_REDIRECT)];
    assert_eq!(status_and_error(post_from(&app, attacker, "/token", None, &code).await).await, invalid_grant);
    let revoke = post_from(&app, attacker, "/revoke", None, &[("client_id", "spa"), ("token", "junk")]).await;
    assert_eq!(revoke.status(), 200, "the same answer for an unknown token");
    assert_eq!(status_and_error(refresh_from(&app, attacker, "junk2").await).await, invalid_grant);
    let limited = refresh_from(&app, attacker, "junk3").await;
    assert_eq!(status_and_error(limited).await, (429, "slow_down".into()), "the address is over its budget");

    // The real user is not locked out: the client has spent one request (the redemption).
    refresh = next_refresh_token(refresh_from(&app, user, &refresh).await).await;

    // Proven requests still count per client, from whatever address: two more, then 429.
    refresh = next_refresh_token(refresh_from(&app, "198.51.100.21", &refresh).await).await;
    refresh = next_refresh_token(refresh_from(&app, "198.51.100.22", &refresh).await).await;
    let over = refresh_from(&app, "198.51.100.23", &refresh).await;
    assert_eq!(status_and_error(over).await, (429, "slow_down".into()), "the client is over its budget");
}

async fn a_wrong_secret_does_not_spend_the_clients_budget(backend: Backend) {
    let app = behind_proxy(backend, "OAUTH", "3/min").with_service_client("svc", &["gmail.vend"]).spawn().await;
    let (svc, guess) = (app.registered("svc"), RegisteredClient::claiming("svc", "wrong"));
    let guesser = "203.0.113.7";
    assert_eq!(client_credentials_from(&app, guesser, &guess).await.status(), 401);
    assert_eq!(client_credentials_from(&app, guesser, &guess).await.status(), 401);
    assert_eq!(introspect_from(&app, guesser, &guess).await.status(), 401);
    let limited = client_credentials_from(&app, guesser, &guess).await;
    assert_eq!(status_and_error(limited).await, (429, "slow_down".into()), "the address is over its budget");
    // The client's whole budget is still there, from other addresses.
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(client_credentials_from(&app, ip, svc).await.status(), 200, "{ip}");
    }
    let over = client_credentials_from(&app, "198.51.100.4", svc).await;
    assert_eq!(status_and_error(over).await, (429, "slow_down".into()), "three proven requests spent it");
}

/// `GET /login/naver` with these `X-Forwarded-For` lines, in order, one header line each.
async fn login_with_forwarded(app: &TestApp, lines: &[&str]) -> u16 {
    let mut request = rp_http().get(app.url("/login/naver"));
    for line in lines {
        request = request.header("x-forwarded-for", *line);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn every_forwarded_for_line_is_read_as_one_list(backend: Backend) {
    let app = behind_proxy(backend, "PAGES", "2/min").spawn().await;
    // The client writes a line of its own, a new address each time; the trusted proxy appends
    // a line with the address it saw. That address is the one counted.
    let real = "198.51.100.5";
    assert_eq!(login_with_forwarded(&app, &["203.0.113.1", real]).await, 303);
    assert_eq!(login_with_forwarded(&app, &["203.0.113.2, 203.0.113.3", real]).await, 303);
    assert_eq!(login_with_forwarded(&app, &["203.0.113.4", real]).await, 429, "the proxy's line names the client");
    assert_eq!(login_with_forwarded(&app, &[&format!("203.0.113.5, {real}")]).await, 429, "one line or two, one list");
    assert_eq!(login_with_forwarded(&app, &[real, "198.51.100.6"]).await, 303, "another client behind the proxy");
}

async fn ipv6_clients_are_counted_by_their_64(backend: Backend) {
    let app = behind_proxy(backend, "PAGES", "2/min").spawn().await;
    assert_eq!(login_with_forwarded(&app, &["2001:db8:1:2::1"]).await, 303);
    assert_eq!(login_with_forwarded(&app, &["2001:db8:1:2:aaaa:bbbb:cccc:dddd"]).await, 303);
    assert_eq!(login_with_forwarded(&app, &["2001:db8:1:2::ffff"]).await, 429, "the same /64 shares one budget");
    assert_eq!(login_with_forwarded(&app, &["2001:db8:1:3::1"]).await, 303, "another /64 has its own");
}
