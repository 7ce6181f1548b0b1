//! Upstream faults at the callback: HTTP 500, malformed JSON, a timeout, Naver's 200-with-error,
//! a failing profile API, a forged ID token. Each shows the error page (502) with the request id,
//! creates nothing, and is counted.

use std::time::Duration;

use munji::upstream::Provider;
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::helpers::{Backend, TestApp};

crate::on_every_backend!(upstream_faults_show_the_error_page_and_create_nothing);

/// What the imitated provider does wrong.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    ServerError,
    MalformedJson,
    Timeout,
    HtmlBody,
}

pub fn faulty(fault: Fault) -> ResponseTemplate {
    match fault {
        Fault::ServerError => ResponseTemplate::new(500).set_body_string("internal error"),
        Fault::MalformedJson => ResponseTemplate::new(200).set_body_raw("{\"access_token\": ", "application/json"),
        Fault::Timeout => ResponseTemplate::new(200)
            .set_body_json(json!({"access_token": "late", "token_type": "bearer", "expires_in": 3600}))
            .set_delay(Duration::from_secs(3)),
        Fault::HtmlBody => ResponseTemplate::new(200).set_body_raw("<html><body>Login</body></html>", "text/html"),
    }
}

/// A mock provider whose token endpoint misbehaves; Google also gets a discovery document.
pub async fn mock_provider(provider: Provider, token: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    if provider == Provider::Google {
        let base = server.uri();
        let discovery = json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "jwks_uri": format!("{base}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        Mock::given(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(discovery))
            .mount(&server)
            .await;
        Mock::given(path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": []})))
            .mount(&server)
            .await;
    }
    Mock::given(method("POST")).and(path("/token")).respond_with(token).mount(&server).await;
    server
}

/// Sign in against `server` up to the callback; return the callback's response.
async fn callback_against(app: &TestApp, provider: Provider) -> reqwest::Response {
    let browser = app.browser();
    let authorize = app.start_login(&browser, provider).await;
    let state = authorize.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let callback = app.url(&format!("/callback/{provider}"));
    browser.get(callback).query(&[("code", "any-code"), ("state", state.as_str())]).send().await.unwrap()
}

async fn assert_error_page(resp: reqwest::Response, what: &str) {
    assert_eq!(resp.status(), 502, "{what}");
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let html = resp.text().await.unwrap();
    assert!(html.contains("did not answer properly"), "{what}: {html}");
    assert!(html.contains(&request_id), "{what}: the page shows the request id");
}

async fn upstream_faults_show_the_error_page_and_create_nothing(backend: Backend) {
    for provider in Provider::ALL {
        for fault in [Fault::ServerError, Fault::MalformedJson, Fault::Timeout, Fault::HtmlBody] {
            let server = mock_provider(provider, faulty(fault)).await;
            let app = TestApp::builder(backend)
                .upstream(provider, &server.uri())
                .env("MUNJI_UPSTREAM_TIMEOUT", "1s")
                .spawn()
                .await;

            let resp = callback_against(&app, provider).await;

            assert_error_page(resp, &format!("{provider} {fault:?}")).await;
            assert_eq!(app.count_users().await, 0);
            let metrics = app.get_metrics().await;
            assert!(
                metrics.contains(&format!(r#"munji_logins_total{{outcome="upstream_error",provider="{provider}"}} 1"#))
            );
            if matches!(fault, Fault::Timeout) {
                let line = format!(r#"munji_upstream_errors_total{{kind="timeout",provider="{provider}"}} 1"#);
                assert!(metrics.contains(&line), "{metrics}");
            }
        }
    }

    // Naver answers a bad code with HTTP 200 and an `error` field.
    let naver_error = ResponseTemplate::new(200)
        .set_body_json(json!({"error": "invalid_request", "error_description": "no valid data in session"}));
    let server = mock_provider(Provider::Naver, naver_error).await;
    let app = TestApp::builder(backend).upstream(Provider::Naver, &server.uri()).spawn().await;
    assert_error_page(callback_against(&app, Provider::Naver).await, "naver 200-with-error").await;

    // The token is fine but the profile API fails.
    for provider in [Provider::Naver, Provider::Kakao] {
        let token = ResponseTemplate::new(200)
            .set_body_json(json!({"access_token": "t", "token_type": "bearer", "expires_in": 60}));
        let server = mock_provider(provider, token).await;
        Mock::given(path("/userinfo")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
        let app = TestApp::builder(backend).upstream(provider, &server.uri()).spawn().await;
        assert_error_page(callback_against(&app, provider).await, &format!("{provider} profile 500")).await;
        assert_eq!(app.count_users().await, 0);
    }

    // Google's token response carries an ID token that no key of the issuer signed.
    let forged = "eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    let token = ResponseTemplate::new(200)
        .set_body_json(json!({"access_token": "t", "token_type": "Bearer", "expires_in": 60, "id_token": forged}));
    let server = mock_provider(Provider::Google, token).await;
    let app = TestApp::builder(backend).upstream(Provider::Google, &server.uri()).spawn().await;
    assert_error_page(callback_against(&app, Provider::Google).await, "google forged id_token").await;
    assert_eq!(app.count_users().await, 0);
}
