//! The token endpoint's request parsing (`POST /token`), without the stores: what
//! `exchange` in src/http/oidc/token.rs does before it looks anything up.
//!
//! Input: the `Authorization` header value on the first line, the request's query string on
//! the second, the urlencoded body after that (an empty line, or a missing one, is absent). As
//! in `exchange`: the body goes through `String::from_utf8_lossy` into `single_valued`
//! (duplicates refused), the header must be a valid, textual header value, and then
//! `client_auth::presented` reads the client's credentials. The form finally meets
//! `grant::bindings` against a fixed authorization code record.
//!
//! Beyond "never panics", each step must keep its promise: no parameter twice, no secret in the
//! query, never both Basic and form secrets, the credentials are the ones sent, and a code's
//! bindings hold only for its redirect URI and its PKCE verifier.
#![no_main]
// A broken invariant is reported by panicking.
#![allow(clippy::panic)]

use std::{collections::HashSet, sync::LazyLock};

use libfuzzer_sys::fuzz_target;
use munji::oidc::{
    authorize::{CodeRecord, single_valued},
    client_auth::{self, Presented},
    clients::Client,
    grant,
};
use poem::http::{HeaderValue, Uri};

const CLIENT_ID: &str = "web";
const REDIRECT_URI: &str = "https://app.example/cb";
/// A PKCE verifier and its S256 challenge (BASE64URL(SHA-256(verifier))).
const VERIFIER: &str = "dBjftJeZ4CVP-mA92SeQ6ArIlEXzIo5pK6a1IvUq4Lw";
const CHALLENGE: &str = "zo6oI75OKnphWcYkTA7dIhRmQAJClfbLx5MDMPHJo-U";

static CLIENT: LazyLock<Client> = LazyLock::new(|| Client {
    id: CLIENT_ID.into(),
    secret_hash: Some(munji::crypto::sha256_hex("0123456789abcdef")),
    redirect_uris: vec![REDIRECT_URI.into()],
    grant_types: vec!["authorization_code".into(), "refresh_token".into()],
    scopes: vec!["openid".into(), "profile".into(), "email".into()],
    gmail_targets: vec![],
    from_config: true,
    name: CLIENT_ID.into(),
    first_party: true,
    post_logout_redirect_uris: vec![],
    backchannel_logout_uri: None,
    backchannel_logout_session_required: true,
});

static RECORD: LazyLock<CodeRecord> = LazyLock::new(|| CodeRecord {
    client_id: CLIENT_ID.into(),
    redirect_uri: REDIRECT_URI.into(),
    code_challenge: Some(CHALLENGE.into()),
    scope: "openid profile".into(),
    nonce: Some("n-0S6_WzA2Mj".into()),
    user_id: uuid::Uuid::nil(),
    sid: "fuzz-session".into(),
    auth_time: 1_700_000_000,
    expires_at_ms: 1_700_000_060_000,
});

/// The first line of `data` and the rest (after the newline).
fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn has_param(query: &str, name: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(n, _)| n == name)
}

fuzz_target!(|data: &[u8]| {
    let (header, rest) = line(data);
    let (query, body) = line(rest);
    // What `req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok())` can yield.
    let header = (!header.is_empty()).then(|| HeaderValue::from_bytes(header).ok()).flatten();
    let authorization = header.as_ref().and_then(|v| v.to_str().ok());
    // What `req.uri().query()` can yield.
    let uri = std::str::from_utf8(query).ok().filter(|q| !q.is_empty()).and_then(|q| {
        let uri: Option<Uri> = format!("/token?{q}").parse().ok();
        uri
    });
    let query = uri.as_ref().and_then(Uri::query);

    let Ok(params) = single_valued(&String::from_utf8_lossy(body)) else { return };
    let names: HashSet<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), params.len(), "a parameter appears twice");

    let basic = authorization.is_some_and(|a| a.starts_with("Basic "));
    let presented = client_auth::presented(authorization, &params, query);
    if let Ok(Presented { client_id, secret, basic: presented_basic }) = presented {
        assert_eq!(presented_basic, basic);
        assert!(!query.is_some_and(|q| has_param(q, "client_secret")), "a secret in the query was accepted");
        if basic {
            assert!(param(&params, "client_secret").is_none(), "Basic and a form secret were both accepted");
            assert!(secret.is_some());
            assert!(param(&params, "client_id").is_none_or(|id| id == client_id), "two client ids accepted");
        } else {
            assert_eq!(Some(client_id.as_str()), param(&params, "client_id"));
            assert_eq!(secret.as_deref(), param(&params, "client_secret"));
        }
    }

    let bound = grant::bindings(&RECORD, true, &CLIENT, &grant::CodeRedemption::from_form(&params)).is_ok();
    let expected =
        param(&params, "redirect_uri") == Some(REDIRECT_URI) && param(&params, "code_verifier") == Some(VERIFIER);
    assert_eq!(bound, expected, "a code's bindings were judged wrongly");
});
