//! Every authorization-server rule, attacked (docs/security.md: authorize and redirect, PKCE
//! and codes, client authentication, JWT validation).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use munji::upstream::Provider;
use reqwest::{Client, Response};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::helpers::{
    Backend, TestApp,
    clients::{self, RegisteredClient, WEB_REDIRECT_URI as REDIRECT_URI},
    oidc::{oauth_error as error_of, rp_http},
    social::{Person, location},
};

crate::on_every_backend!(
    ten_parallel_redemptions_of_one_code_have_one_winner,
    unknown_clients_and_redirect_uris_get_a_page_never_a_redirect,
    duplicated_parameters_are_refused_on_a_page,
    protocol_errors_go_back_to_a_verified_redirect_uri_with_state_and_iss,
    prompt_none_without_a_session_answers_login_required_and_no_session_asks_to_sign_in,
    a_public_clients_loopback_redirect_accepts_any_port,
    a_reused_code_revokes_what_the_first_redemption_issued,
    pkce_and_code_bindings_cannot_be_bent,
    client_authentication_failures_look_alike_and_are_not_cached,
    service_tokens_verify_with_the_client_id_only,
    forged_and_malformed_tokens_are_refused_everywhere,
    an_expired_token_says_so,
    key_rotation_keeps_live_tokens_valid,
    a_code_expires_after_sixty_seconds,
);

/// The clients `web` and `spa`, and a user signed in to `browser`.
struct Setup {
    app: TestApp,
    browser: Client,
}

async fn setup(backend: Backend) -> Setup {
    let app = TestApp::builder(backend).with_web_client().with_spa_client().spawn().await;
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Kakao, &Person::new(7, "attacked@example.com"), "attacked").await;
    Setup { app, browser }
}

fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

impl Setup {
    fn web(&self) -> &RegisteredClient {
        self.app.web_client()
    }

    async fn authorize(&self, params: &[(&str, &str)]) -> Response {
        self.app.get_authorize(&self.browser, params).await
    }

    async fn authorize_raw(&self, query: &str) -> Response {
        self.browser.get(format!("{}?{query}", self.app.url("/authorize"))).send().await.unwrap()
    }

    /// A code for `web` with PKCE; returns (code, verifier).
    async fn code(&self) -> (String, String) {
        let (verifier, challenge) = pkce();
        let extra = [
            ("scope", "openid profile"),
            ("state", "s1"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        (self.app.authorize_code(&self.browser, self.web(), &extra).await, verifier)
    }

    /// `web` posts `form` to `/token`.
    async fn token(&self, form: &[(&str, &str)]) -> Response {
        self.app.post_token_as(self.web(), form).await
    }

    async fn redeem(&self, code: &str, verifier: &str) -> Response {
        self.app.redeem_code(self.web(), code, Some(verifier)).await
    }

    async fn verify(&self, token: &str) -> Response {
        self.app.get_verify(token).await
    }
}

async fn unknown_clients_and_redirect_uris_get_a_page_never_a_redirect(backend: Backend) {
    let s = setup(backend).await;
    let near_misses = [
        "https://app.example/cb/",
        "https://APP.example/cb",
        "https://app.example/cb?x=1",
        "https://app.example/cb#frag",
        "https://app.example@evil.example/cb",
        "https://app.example/cb/../x",
        "https://app.example/%2e%2e/cb",
        "https://app.example:8443/cb",
        "http://app.example/cb",
        "https://evil.example/cb",
    ];
    for uri in near_misses {
        let resp = s.authorize(&[("client_id", "web"), ("redirect_uri", uri), ("response_type", "code")]).await;
        assert_eq!(resp.status(), 400, "{uri}");
        assert!(resp.headers().get("location").is_none(), "{uri}");
    }
    let unknown =
        s.authorize(&[("client_id", "nobody"), ("redirect_uri", REDIRECT_URI), ("response_type", "code")]).await;
    assert_eq!(unknown.status(), 400);
    assert!(unknown.headers().get("location").is_none());
    assert!(unknown.text().await.unwrap().contains("invalid_client"));
    let long_id = "x".repeat(10_000);
    let huge = s.authorize(&[("client_id", long_id.as_str()), ("redirect_uri", REDIRECT_URI)]).await;
    assert_eq!(huge.status(), 400);
}

async fn duplicated_parameters_are_refused_on_a_page(backend: Backend) {
    let s = setup(backend).await;
    for dup in ["redirect_uri", "client_id", "state", "code_challenge", "scope"] {
        let query = format!(
            "client_id=web&redirect_uri={}&response_type=code&state=a&scope=openid&code_challenge={}&code_challenge_method=S256&{dup}=again",
            url::form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect::<String>(),
            "a".repeat(43)
        );
        let resp = s.authorize_raw(&query).await;
        assert_eq!(resp.status(), 400, "{dup}");
        assert!(resp.headers().get("location").is_none(), "{dup}");
    }
    let (code, verifier) = s.code().await;
    let body = format!(
        "grant_type=authorization_code&code={code}&code={code}&redirect_uri={}&code_verifier={verifier}",
        url::form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect::<String>()
    );
    let resp = s
        .app
        .token_request(Some(s.web()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, "invalid_request");
}

async fn protocol_errors_go_back_to_a_verified_redirect_uri_with_state_and_iss(backend: Backend) {
    let s = setup(backend).await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("client_id", "web"), ("redirect_uri", REDIRECT_URI), ("state", "st")], "invalid_request"),
        (
            &[("client_id", "web"), ("redirect_uri", REDIRECT_URI), ("state", "st"), ("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            &[
                ("client_id", "web"),
                ("redirect_uri", REDIRECT_URI),
                ("state", "st"),
                ("response_type", "id_token token"),
            ],
            "unsupported_response_type",
        ),
        (
            &[
                ("client_id", "spa"),
                ("redirect_uri", "https://spa.example/cb"),
                ("state", "st"),
                ("response_type", "code"),
            ],
            "invalid_request",
        ),
        (
            &[
                ("client_id", "spa"),
                ("redirect_uri", "https://spa.example/cb"),
                ("state", "st"),
                ("response_type", "code"),
                ("code_challenge", "x".repeat(43).leak()),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
    ];
    for (params, expected) in cases {
        let resp = s.authorize(params).await;
        assert_eq!(resp.status(), 303, "{params:?}");
        let back = location(&resp, &s.app.base_url);
        let get = |name: &str| back.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        assert_eq!(get("error").as_deref(), Some(expected), "{params:?}");
        assert_eq!(get("state").as_deref(), Some("st"));
        assert_eq!(get("iss").as_deref(), Some(s.app.base_url.as_str()));
        assert!(get("code").is_none());
    }
    let scope = s
        .authorize(&[
            ("client_id", "web"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid admin"),
        ])
        .await;
    assert!(location(&scope, &s.app.base_url).query().unwrap().contains("error=invalid_scope"));
}

async fn prompt_none_without_a_session_answers_login_required_and_no_session_asks_to_sign_in(backend: Backend) {
    let s = setup(backend).await;
    let stranger = s.app.browser();
    let (_, challenge) = pkce();
    let params = [
        ("client_id", "web"),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("state", "p"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let silent =
        stranger.get(s.app.url("/authorize")).query(&params).query(&[("prompt", "none")]).send().await.unwrap();
    assert!(location(&silent, &s.app.base_url).query().unwrap().contains("error=login_required"));
    let interactive = s.app.get_authorize(&stranger, &params).await;
    let login = location(&interactive, &s.app.base_url);
    assert_eq!(login.path(), "/login");
    let return_to = login.query_pairs().find(|(k, _)| k == "return_to").unwrap().1.into_owned();
    assert!(return_to.starts_with("/authorize?client_id=web"), "{return_to}");
    // With a session, prompt=login still sends the user to sign in again (without looping).
    let again =
        s.browser.get(s.app.url("/authorize")).query(&params).query(&[("prompt", "login")]).send().await.unwrap();
    let login = location(&again, &s.app.base_url);
    assert_eq!(login.path(), "/login");
    assert!(!login.query().unwrap().contains("prompt%3Dlogin"));
}

async fn a_public_clients_loopback_redirect_accepts_any_port(backend: Backend) {
    let s = setup(backend).await;
    let (_, challenge) = pkce();
    let resp = s
        .authorize(&[
            ("client_id", "spa"),
            ("redirect_uri", "http://127.0.0.1:49152/cb"),
            ("response_type", "code"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    let back = location(&resp, &s.app.base_url);
    assert_eq!(back.port(), Some(49152));
    assert!(back.query().unwrap().contains("code="));
}

async fn ten_parallel_redemptions_of_one_code_have_one_winner(backend: Backend) {
    let s = setup(backend).await;
    let (code, verifier) = s.code().await;
    let attempts = (0..10).map(|_| s.redeem(&code, &verifier));
    let mut winners = Vec::new();
    for resp in futures_util::future::join_all(attempts).await {
        assert_eq!(resp.headers()["cache-control"], "no-store");
        if resp.status() == 200 {
            winners.push(resp.json::<Value>().await.unwrap());
        } else {
            assert_eq!(error_of(resp).await, "invalid_grant");
        }
    }
    assert_eq!(winners.len(), 1);
    // The losers were second redemptions: what the winner got is already revoked.
    let token = winners[0]["access_token"].as_str().unwrap();
    assert_eq!(s.verify(token).await.status(), 401);
    let refresh = winners[0]["refresh_token"].as_str().unwrap();
    let resp = s.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(error_of(resp).await, "invalid_grant");
}

async fn a_reused_code_revokes_what_the_first_redemption_issued(backend: Backend) {
    let s = setup(backend).await;
    let (code, verifier) = s.code().await;
    let first: Value = s.redeem(&code, &verifier).await.json().await.unwrap();
    let token = first["access_token"].as_str().unwrap();
    assert_eq!(s.verify(token).await.status(), 200);

    let second = s.redeem(&code, &verifier).await;
    assert_eq!(error_of(second).await, "invalid_grant");
    assert_eq!(s.verify(token).await.status(), 401);
}

async fn pkce_and_code_bindings_cannot_be_bent(backend: Backend) {
    let s = setup(backend).await;
    // Wrong verifier, then the right one: both fail (the code is spent).
    let (code, verifier) = s.code().await;
    assert_eq!(error_of(s.redeem(&code, &pkce().0).await).await, "invalid_grant");
    assert_eq!(error_of(s.redeem(&code, &verifier).await).await, "invalid_grant");
    // No verifier.
    let (code, _) = s.code().await;
    let resp = s.token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT_URI)]).await;
    assert_eq!(error_of(resp).await, "invalid_grant");
    // Another redirect URI.
    let (code, verifier) = s.code().await;
    let resp = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/other"),
            ("code_verifier", &verifier),
        ])
        .await;
    assert_eq!(error_of(resp).await, "invalid_grant");
    // Downgrade: a code issued without a challenge, redeemed with a verifier.
    let code = s.app.authorize_code(&s.browser, s.web(), &[]).await;
    assert_eq!(error_of(s.redeem(&code, &pkce().0).await).await, "invalid_grant");
    // Another client redeems web's code.
    let (code, verifier) = s.code().await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier.as_str()),
        ("client_id", "spa"),
    ];
    assert_eq!(error_of(s.app.post_token(&form).await).await, "invalid_grant");
}

async fn client_authentication_failures_look_alike_and_are_not_cached(backend: Backend) {
    let s = setup(backend).await;
    let (code, verifier) = s.code().await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier.as_str()),
    ];
    let wrong_secret = s.app.post_token_as(&RegisteredClient::claiming("web", "nope"), &form).await;
    let unknown = s.app.post_token_as(&RegisteredClient::claiming("ghost", "nope"), &form).await;
    assert_eq!(wrong_secret.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert!(wrong_secret.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(wrong_secret.headers()["cache-control"], "no-store");
    let (a, b) = (wrong_secret.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(a, b, "no client enumeration");

    let mut both = form.to_vec();
    both.push(("client_secret", s.web().secret()));
    assert_eq!(s.token(&both).await.status(), 401);
    let resp = rp_http()
        .post(format!("{}?client_secret={}", s.app.url("/token"), s.web().secret()))
        .form(&[("client_id", "web")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(s.app.post_token(&form).await.status(), 401);
    let json =
        s.app.token_request(Some(s.web())).json(&json!({"grant_type": "client_credentials"})).send().await.unwrap();
    assert_eq!(error_of(json).await, "invalid_request");
    let password = s.token(&[("grant_type", "password"), ("username", "u"), ("password", "p")]).await;
    assert_eq!(error_of(password).await, "unsupported_grant_type");
}

async fn service_tokens_verify_with_the_client_id_only(backend: Backend) {
    let s = setup(backend).await;
    let bot = s.app.register(clients::service("bot", &["gmail.vend"], &[])).await;
    let resp = s.app.client_credentials(&bot).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["scope"], "gmail.vend");
    let token = body["access_token"].as_str().unwrap();
    let verify = s.verify(token).await;
    assert_eq!(verify.status(), 200);
    assert_eq!(verify.headers()["x-client-id"], "bot");
    assert!(verify.headers().get("x-user-id").is_none());
    assert_eq!(s.app.get_me(token).await.status(), 403);
    // web may not use client_credentials.
    let resp = s.token(&[("grant_type", "client_credentials")]).await;
    assert_eq!(error_of(resp).await, "unauthorized_client");
}

/// A token with `header` and `claims`, signed with nothing useful.
fn forged(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// `claims` signed with munji's current key, as an access token.
fn signed(s: &Setup, claims: &Value) -> String {
    let ring = s.app.state.tokens.keys().ring();
    ring.current().unwrap().sign_jwt("at+jwt", claims)
}

async fn forged_and_malformed_tokens_are_refused_everywhere(backend: Backend) {
    let s = setup(backend).await;
    let (code, verifier) = s.code().await;
    let issued: Value = s.redeem(&code, &verifier).await.json().await.unwrap();
    let good = issued["access_token"].as_str().unwrap().to_owned();
    let id_token = issued["id_token"].as_str().unwrap().to_owned();
    let header = jsonwebtoken::decode_header(&good).unwrap();
    let kid = header.kid.unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let jwks: Value = s.app.get_jwks().await.json().await.unwrap();
    let public_jwk = jwks["keys"][0].to_string();

    let with = |patch: Value| {
        let mut c = claims.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let hs256_with_public_key = {
        let h = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(h.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mac = munji::crypto::hmac_sha256(public_jwk.as_bytes(), input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac))
    };
    let es = json!({"alg": "ES256", "typ": "at+jwt", "kid": kid});
    let mut flipped = good.clone().into_bytes();
    let last = flipped.len() - 3;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let cases: Vec<(&str, String)> = vec![
        ("alg none", forged(&json!({"alg": "none", "typ": "at+jwt"}), &claims, b"")),
        ("HS256 with the public key", hs256_with_public_key),
        ("unknown kid", forged(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "nope"}), &claims, &[1; 64])),
        ("kid path", forged(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "../../etc/passwd"}), &claims, &[1; 64])),
        (
            "jku header",
            forged(
                &json!({"alg": "ES256", "typ": "at+jwt", "kid": kid, "jku": "https://evil.example/jwks"}),
                &claims,
                &[1; 64],
            ),
        ),
        ("zero signature", forged(&es, &claims, &[0; 64])),
        // Properly signed, but the claims are wrong: these test claim checks, not signatures.
        ("wrong aud", signed(&s, &with(json!({"aud": "https://other.example"})))),
        ("string nbf", signed(&s, &with(json!({"nbf": "99999999999"})))),
        ("string exp", signed(&s, &with(json!({"exp": "99999999999"})))),
        ("no exp", signed(&s, &with(json!({"exp": null})))),
        ("future nbf", signed(&s, &with(json!({"nbf": chrono::Utc::now().timestamp() + 3600})))),
        ("bit flip", String::from_utf8(flipped).unwrap()),
        ("truncated", good[..good.len() - 10].to_owned()),
        ("two segments", parts[..2].join(".")),
        ("four segments", format!("{good}.x")),
        ("id token", id_token.clone()),
        ("whitespace", format!(" {good}x")),
        ("100 KB", "a".repeat(100_000)),
    ];
    for (name, token) in cases {
        for path in ["/api/v1/verify", "/api/v1/me", "/userinfo"] {
            let resp =
                rp_http().get(s.app.url(path)).header("authorization", format!("Bearer {token}")).send().await.unwrap();
            assert_eq!(resp.status(), 401, "{name} at {path}");
        }
    }
    let missing = rp_http().get(s.app.url("/api/v1/verify")).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert!(missing.headers().contains_key("www-authenticate"));
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_TOKEN");
    assert_eq!(s.verify(&good).await.status(), 200, "the real one still works");
}

async fn an_expired_token_says_so(backend: Backend) {
    let s = setup(backend).await;
    let now = chrono::Utc::now().timestamp();
    let claims = munji::oidc::tokens::AccessClaims {
        iss: s.app.state.tokens.issuer.clone(),
        aud: s.app.state.tokens.audience.clone(),
        sub: uuid::Uuid::new_v4().to_string(),
        exp: now - 120,
        iat: now - 3720,
        jti: "j".into(),
        sid: None,
        auth_time: None,
        client_id: "web".into(),
        scope: "openid".into(),
        preferred_username: Some("x".into()),
        username: Some("x".into()),
        email: None,
    };
    let expired = s.app.state.tokens.mint_access(&claims).unwrap();
    let resp = s.verify(&expired).await;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TOKEN_EXPIRED");
    let future = munji::oidc::tokens::AccessClaims { exp: now + 7200, iat: now + 3600, ..claims.clone() };
    let resp = s.verify(&s.app.state.tokens.mint_access(&future).unwrap()).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_TOKEN", "issued in the future");
    let wrong_iss =
        munji::oidc::tokens::AccessClaims { exp: now + 60, iat: now, iss: "https://evil.example".into(), ..claims };
    assert_eq!(s.verify(&s.app.state.tokens.mint_access(&wrong_iss).unwrap()).await.status(), 401);
}

async fn key_rotation_keeps_live_tokens_valid(backend: Backend) {
    let s = setup(backend).await;
    let (code, verifier) = s.code().await;
    let before: Value = s.redeem(&code, &verifier).await.json().await.unwrap();
    let old_token = before["access_token"].as_str().unwrap().to_owned();
    let old_kid = jsonwebtoken::decode_header(&old_token).unwrap().kid.unwrap();

    let keys = s.app.state.tokens.keys();
    let new_kid = keys.rotate_in(true).await.unwrap();
    keys.reload().await.unwrap(); // what every instance does every 20 s
    let jwks: Value = s.app.get_jwks().await.json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()), "{kids:?}: both published");

    // Published, but not signing yet: another instance may not have read it into its JWKS.
    let (code, verifier) = s.code().await;
    let meanwhile: Value = s.redeem(&code, &verifier).await.json().await.unwrap();
    let meanwhile = meanwhile["access_token"].as_str().unwrap();
    assert_eq!(jsonwebtoken::decode_header(meanwhile).unwrap().kid.as_deref(), Some(old_kid.as_str()));

    // Once it has been published for longer than every instance takes to read it, it signs.
    let (published, sql) = (
        chrono::Utc::now() - munji::oidc::keys::PUBLISH_AHEAD,
        "UPDATE signing_keys SET created_at = $1 WHERE kid = $2",
    );
    match &s.app.state.db {
        munji::store::Db::Postgres(pool) => {
            sqlx::query(sql).bind(published).bind(&new_kid).execute(pool).await.map(drop)
        }
        munji::store::Db::Sqlite(pool) => sqlx::query(sql).bind(published).bind(&new_kid).execute(pool).await.map(drop),
    }
    .unwrap();
    keys.reload().await.unwrap();
    let (code, verifier) = s.code().await;
    let after: Value = s.redeem(&code, &verifier).await.json().await.unwrap();
    let new_token = after["access_token"].as_str().unwrap();
    assert_eq!(jsonwebtoken::decode_header(new_token).unwrap().kid.as_deref(), Some(new_kid.as_str()));
    assert_eq!(s.verify(&old_token).await.status(), 200, "the retired key still verifies");
    assert_eq!(s.verify(meanwhile).await.status(), 200);
    assert_eq!(s.verify(new_token).await.status(), 200);
    let discovery = s.app.get_discovery().await;
    assert_eq!(discovery["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(discovery["authorization_response_iss_parameter_supported"], true);
}

async fn a_code_expires_after_sixty_seconds(backend: Backend) {
    let s = setup(backend).await;
    let (code, verifier) = s.code().await;
    s.app.state.clock.advance(munji::oidc::authorize::CODE_TTL + std::time::Duration::from_secs(1));
    assert_eq!(error_of(s.redeem(&code, &verifier).await).await, "invalid_grant");
}
