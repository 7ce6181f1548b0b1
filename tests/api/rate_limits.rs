//! Whose budget a request spends: the per-IP budget is the address the trusted proxies name,
//! read across every `X-Forwarded-For` line, an IPv6 client counted by its /64.

use super::oidc::rp_http;
use crate::helpers::{Backend, TestApp};

crate::on_every_backend!(every_forwarded_for_line_is_read_as_one_list, ipv6_clients_are_counted_by_their_64);

/// An app whose `group` limit (`PAGES`, `OAUTH`) is `rate`, behind a trusted proxy: the test's
/// socket, so each request names its client's address in `X-Forwarded-For`.
pub async fn behind_proxy(backend: Backend, group: &str, rate: &str) -> TestApp {
    TestApp::builder(backend)
        .env(&format!("MUNJI_RATE_LIMITS__{group}"), rate)
        .env("MUNJI_RATE_LIMITS__TRUSTED_PROXIES", "127.0.0.0/8")
        .spawn()
        .await
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
    let app = behind_proxy(backend, "PAGES", "2/min").await;
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
    let app = behind_proxy(backend, "PAGES", "2/min").await;
    assert_eq!(login_with_forwarded(&app, &["2001:db8:1:2::1"]).await, 303);
    assert_eq!(login_with_forwarded(&app, &["2001:db8:1:2:aaaa:bbbb:cccc:dddd"]).await, 303);
    assert_eq!(login_with_forwarded(&app, &["2001:db8:1:2::ffff"]).await, 429, "the same /64 shares one budget");
    assert_eq!(login_with_forwarded(&app, &["2001:db8:1:3::1"]).await, 303, "another /64 has its own");
}
