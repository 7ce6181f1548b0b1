//! Hardening (docs/security.md): rate limits that hold across instances with the
//! right `Retry-After` and each area's error shape, CORS exactly where the standards allow it,
//! and the security headers on every response.

use reqwest::{Method, Response};
use serde_json::Value;

use super::rate_limits::{behind_proxy, client_credentials_from, introspect_from};
use crate::helpers::{Backend, TestApp, clients::RegisteredClient, oidc::rp_http};

crate::on_every_backend!(
    a_page_limit_holds_across_two_instances,
    the_oauth_limit_counts_per_ip_and_per_client,
    the_vend_limit_counts_per_service,
    cors_answers_on_the_spa_endpoints_only,
    every_response_carries_the_security_headers,
);

/// `Retry-After` of a refusal in a one-minute window that the test opened moments ago: what is
/// left of the window, so close to 60 s (never 0, never more than the window).
fn retry_after(resp: &Response) -> u64 {
    let seconds: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((40..=60).contains(&seconds), "Retry-After {seconds} for a window opened just now");
    seconds
}

async fn a_page_limit_holds_across_two_instances(backend: Backend) {
    let app = TestApp::builder(backend).env("MUNJI_RATE_LIMITS__PAGES", "5/min").spawn().await;
    let other = app.sibling(&[]).await;
    let bases = [app.base_url.as_str(), other.base_url.as_str()];
    let http = rp_http();
    for i in 0..5 {
        let resp = http.get(format!("{}/login/naver", bases[i % 2])).send().await.unwrap();
        assert_eq!(resp.status(), 303, "request {i} is within the limit");
    }
    for base in bases {
        let resp = http.get(format!("{base}/login/naver")).header("accept-language", "en").send().await.unwrap();
        assert_eq!(resp.status(), 429, "the sixth request, on either instance");
        retry_after(&resp);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let page = resp.text().await.unwrap();
        assert!(page.contains("Too many attempts"), "an error page: {page}");
    }
    // Other page groups' routes count in the same group; pages outside it are not limited.
    assert_eq!(http.get(app.url("/authorize")).send().await.unwrap().status(), 429);
    assert_eq!(http.get(app.url("/login")).send().await.unwrap().status(), 200);
    assert!(app.get_metrics().await.contains(r#"munji_rate_limited_total{group="pages"} 2"#), "each counts its own");
}

async fn the_oauth_limit_counts_per_ip_and_per_client(backend: Backend) {
    let app = behind_proxy(backend, "OAUTH", "3/min")
        .with_service_client("svc", &["gmail.vend"])
        .with_service_client("svc2", &["gmail.vend"])
        .spawn()
        .await;
    let svc = app.registered("svc");

    // Per IP: a wrong secret counts too (guessing is what the limit is for).
    let guess = RegisteredClient::claiming("svc", "wrong");
    assert_eq!(client_credentials_from(&app, "198.51.100.1", &guess).await.status(), 401);
    assert_eq!(client_credentials_from(&app, "198.51.100.1", svc).await.status(), 200);
    assert_eq!(client_credentials_from(&app, "198.51.100.1", svc).await.status(), 200);
    let limited = client_credentials_from(&app, "198.51.100.1", svc).await;
    assert_eq!(limited.status(), 429);
    retry_after(&limited);
    assert_eq!(limited.headers()["cache-control"], "no-store");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "slow_down");

    // Per client: three authenticated requests so far (the address and the client are counted
    // together, in one round trip, so the one refused for its address counted for the client
    // too; the wrong secret did not): the client is over its limit whatever address it comes
    // from.
    let resp = client_credentials_from(&app, "198.51.100.3", svc).await;
    assert_eq!(resp.status(), 429, "a new IP, but the client is over its limit");
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "slow_down");
    let other = app.registered("svc2");
    let fresh = client_credentials_from(&app, "198.51.100.4", other).await;
    assert_eq!(fresh.status(), 200, "another client from another address is not affected");
    // /revoke and /introspect share the group.
    let guess = RegisteredClient::claiming("svc2", "x");
    assert_eq!(introspect_from(&app, "198.51.100.1", &guess).await.status(), 429);
}

async fn the_vend_limit_counts_per_service(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("MUNJI_RATE_LIMITS__VEND", "2/min")
        .with_service_client("mailer-a", &["gmail.vend"])
        .with_service_client("mailer-b", &["gmail.vend"])
        .spawn()
        .await;
    let (a, b) =
        (app.service_token(app.registered("mailer-a")).await, app.service_token(app.registered("mailer-b")).await);
    // Vends for someone nobody equipped: refused, but counted.
    let vend = async |token: &str| app.post_vend(token, uuid::Uuid::new_v4(), "bot-1").await;
    // Refused for the targets (403) but counted all the same.
    for _ in 0..2 {
        assert_eq!(vend(&a).await.status(), 403);
    }
    let limited = vend(&a).await;
    assert_eq!(limited.status(), 429);
    retry_after(&limited);
    assert_eq!(limited.json::<Value>().await.unwrap()["error"]["code"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(vend(&b).await.status(), 403, "another service has its own count");
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> Response {
    rp_http()
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap()
}

async fn cors_answers_on_the_spa_endpoints_only(backend: Backend) {
    let spa = "https://spa.example";
    let app = TestApp::builder(backend).env("MUNJI_CORS_ORIGINS", spa).spawn().await;
    for path in ["/token", "/userinfo", "/jwks", "/.well-known/openid-configuration", "/revoke", "/api/v1/me"] {
        let resp = preflight(&app, path, spa).await;
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        assert_eq!(resp.headers()["access-control-allow-origin"], spa, "{path}");
        assert!(resp.headers().get("access-control-allow-credentials").is_none(), "{path}: no credentials");
        let methods = resp.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
        assert!(methods.contains("POST"), "{path}: {methods}");
    }
    // A real request from the SPA gets the header; the error envelope too.
    let jwks = rp_http().get(app.url("/jwks")).header("origin", spa).send().await.unwrap();
    assert_eq!(jwks.headers()["access-control-allow-origin"], spa);
    let me = rp_http().get(app.url("/api/v1/me")).header("origin", spa).send().await.unwrap();
    assert_eq!(me.status(), 401);
    assert_eq!(me.headers()["access-control-allow-origin"], spa);
    // Another origin is refused; the authorization endpoint, the pages and introspection never
    // answer CORS (RFC 9700).
    let evil = preflight(&app, "/token", "https://evil.example").await;
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    for path in ["/authorize", "/login", "/account", "/introspect", "/callback/google"] {
        let resp = preflight(&app, path, spa).await;
        assert!(resp.headers().get("access-control-allow-origin").is_none(), "{path}");
        let get = rp_http().get(app.url(path)).header("origin", spa).send().await.unwrap();
        assert!(get.headers().get("access-control-allow-origin").is_none(), "{path}");
    }
    // Without cors_origins nothing answers CORS.
    let plain = TestApp::spawn(backend).await;
    let resp = rp_http().get(plain.url("/jwks")).header("origin", spa).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

async fn every_response_carries_the_security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let http = rp_http();
    let start = http.get(app.url("/login/google")).send().await.unwrap();
    let pages = [
        http.get(app.url("/login")).send().await.unwrap(),
        http.get(app.url("/callback/google?state=x&code=y")).send().await.unwrap(),
        http.get(app.url("/no/such/page")).send().await.unwrap(),
        start,
    ];
    for page in &pages {
        let csp = page.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
        assert!(!csp.contains("script-src"), "no script at all: {csp}");
        assert_eq!(page.headers()["referrer-policy"], "no-referrer");
        assert_eq!(page.headers()["x-content-type-options"], "nosniff");
        assert!(page.headers().get("strict-transport-security").is_none(), "http: no HSTS");
    }
    for path in ["/jwks", "/api/v1/me", "/healthz", "/api/v1/nothing"] {
        let resp = http.get(app.url(path)).send().await.unwrap();
        let csp = resp.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff", "{path}");
    }
    // Behind https, HSTS on every response.
    let https = TestApp::builder(backend).env("MUNJI_PUBLIC_URL", "https://id.example").spawn().await;
    for path in ["/login", "/jwks", "/api/v1/me"] {
        let resp = http.get(https.url(path)).send().await.unwrap();
        assert_eq!(resp.headers()["strict-transport-security"], "max-age=31536000", "{path}");
    }
}
