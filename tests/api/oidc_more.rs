//! More provider rules: the HS256 migration mode (the shared secret makes users' tokens only),
//! stores that go away (`/jwks` answers from memory), `max_age`, userinfo by POST and for users
//! only, and the `munji keys` / `munji clients` commands.

use std::process::Command;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use munji::upstream::Provider;
use serde_json::Value;

use super::{
    gmail::{connect_gmail, gmail_person, signed_up},
    readiness::postgres_allows_connections,
};
use crate::helpers::{
    Backend, TestApp,
    clients::RegisteredClient,
    social::{Person, location},
};

crate::on_every_backend!(
    in_hs256_mode_service_tokens_stay_asymmetric_and_the_shared_secret_cannot_vend,
    userinfo_refuses_service_tokens_even_one_whose_sub_is_a_users_id,
    the_hs256_migration_mode_macs_access_tokens_only_and_publishes_nothing_secret,
    hs256_tokens_are_refused_when_the_mode_is_off,
    max_age_forces_a_fresh_sign_in_and_userinfo_takes_a_post_body,
    the_keys_and_clients_commands_manage_what_the_server_uses,
);

/// Sign a person up in a new browser and get the web client's token response for them.
async fn issued(app: &TestApp) -> (reqwest::Client, Value) {
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Google, &Person::new(5, "more@example.com"), "more").await;
    let body = app.web_token_response(&browser, &[]).await;
    (browser, body)
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

async fn the_hs256_migration_mode_macs_access_tokens_only_and_publishes_nothing_secret(backend: Backend) {
    let secret_value = "a-shared-secret-of-at-least-32-bytes!";
    let app = TestApp::builder(backend)
        .env("MUNJI_SIGNING_ALG", "HS256")
        .env("MUNJI_LEGACY_HS256_SECRET", secret_value)
        .with_web_client()
        .spawn()
        .await;
    let (_, body) = issued(&app).await;
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(header_of(access)["alg"], "HS256");
    assert_eq!(header_of(body["id_token"].as_str().unwrap())["alg"], "ES256", "ID tokens stay asymmetric");
    let jwks = app.get_jwks().await.text().await.unwrap();
    assert!(!jwks.contains(secret_value) && !jwks.contains("\"oct\""), "the secret is never published");
    // The gateway's shared secret verifies it; munji accepts it.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[app.base_url.as_str()]);
    jsonwebtoken::decode::<Value>(
        access,
        &jsonwebtoken::DecodingKey::from_secret(secret_value.as_bytes()),
        &validation,
    )
    .unwrap();
    assert_eq!(app.verify_status(access).await, 200);
}

/// An HS256 access token for service `client_id` with scope `gmail.vend`, every claim as munji
/// would write it, MACed with `secret`.
fn hs256_service_token(app: &TestApp, client_id: &str, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = munji::oidc::tokens::AccessClaims {
        iss: app.state.tokens.issuer.clone(),
        aud: app.state.tokens.audience.clone(),
        sub: client_id.into(),
        exp: now + 600,
        iat: now,
        jti: "forged-jti".into(),
        sid: None,
        auth_time: None,
        client_id: client_id.into(),
        scope: "gmail.vend".into(),
        preferred_username: None,
        username: None,
        email: None,
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// In HS256 mode the gateway holds the shared secret: it verifies user tokens with it, but
/// cannot make a token that munji takes for a service's.
async fn in_hs256_mode_service_tokens_stay_asymmetric_and_the_shared_secret_cannot_vend(backend: Backend) {
    let shared = "a-shared-secret-of-at-least-32-bytes!";
    let app = TestApp::builder(backend)
        .env("MUNJI_SIGNING_ALG", "HS256")
        .env("MUNJI_LEGACY_HS256_SECRET", shared)
        .with_web_client()
        .with_vending_client("mailer", &["bot-1"])
        .spawn()
        .await;
    let web = app.web_client();
    let browser = signed_up(&app).await;
    connect_gmail(&app, &browser, &gmail_person()).await;
    let (user_token, _) = app.tokens_for(&browser).await;
    assert_eq!(header_of(&user_token)["alg"], "HS256", "user tokens are still MACed with the shared secret");
    let connection = munji::store::gmail::list_all(&app.state.db).await.unwrap().remove(0);
    assert_eq!(app.post_equip(&user_token, connection.id, "bot-1").await.status(), 200);

    // A real service token: signed with munji's current key, published in the JWKS.
    let service_token = app.service_token(app.registered("mailer")).await;
    let header = header_of(&service_token);
    assert_eq!(header["alg"], "ES256", "service tokens are never MACed with the shared secret");
    let jwks = app.get_jwks().await.text().await.unwrap();
    assert!(jwks.contains(header["kid"].as_str().unwrap()));
    let verify = app.get_verify(&service_token).await;
    assert_eq!(verify.status(), 200);
    assert_eq!(verify.headers()["x-client-id"], "mailer");
    let introspected = app.introspect(web, &service_token).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["client_id"], "mailer");
    let vended = app.post_vend(&service_token, connection.user_id, "bot-1").await;
    assert_eq!(vended.status(), 200);
    // The user's HS256 token still works everywhere a user's token does.
    let verify = app.get_verify(&user_token).await;
    assert_eq!(verify.status(), 200);
    assert!(verify.headers().get("x-user-id").is_some());

    // The same claims MACed with the shared secret: refused by vending, and everywhere else.
    let forged = hs256_service_token(&app, "mailer", shared);
    let refused = app.post_vend(&forged, connection.user_id, "bot-1").await;
    assert!(matches!(refused.status().as_u16(), 401 | 403), "{}", refused.status());
    let body: Value = refused.json().await.unwrap();
    assert!(body.get("access_token").is_none() && body["error"]["code"].is_string(), "{body}");
    assert_eq!(app.verify_status(&forged).await, 401);
    assert_eq!(app.introspect(web, &forged).await, serde_json::json!({"active": false}));
}

/// A service token is not a user's, even when its `sub` (the client id) is a user's id: a
/// client registered under such an id before UUID ids were refused must not read the user.
async fn userinfo_refuses_service_tokens_even_one_whose_sub_is_a_users_id(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_web_client()
        .with_service_client("svc", &["openid", "profile", "email"])
        .spawn()
        .await;
    let (_, body) = issued(&app).await;
    let user_token = body["access_token"].as_str().unwrap();
    let user_id = app.get_api_json("/me", user_token).await["id"].as_str().unwrap().to_owned();
    let posing_secret = "a-secret-of-the-client-posing-as-a-user";
    let posing = munji::store::clients::StoredClient {
        id: user_id.clone(),
        secret_hash: Some(munji::crypto::sha256_hex(posing_secret)),
        redirect_uris: "[]".into(),
        grant_types: r#"["client_credentials"]"#.into(),
        scopes: r#"["openid","profile","email"]"#.into(),
        gmail_targets: "[]".into(),
        created_at: chrono::Utc::now(),
        name: None,
        first_party: true,
        post_logout_redirect_uris: "[]".into(),
        backchannel_logout_uri: None,
        backchannel_logout_session_required: true,
    };
    munji::store::clients::insert(&app.state.db, &posing).await.unwrap();
    let posing_token = app.service_token(&RegisteredClient::claiming(&user_id, posing_secret)).await;
    let plain_token = app.service_token(app.registered("svc")).await;

    for (what, token) in [("a service token whose sub is a user id", posing_token), ("a service token", plain_token)] {
        let resp = app.get_userinfo(&token).await;
        assert_eq!(resp.status(), 401, "{what}");
        let challenge = resp.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains(r#"error="invalid_token""#), "{what}: {challenge}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token", "{what}");
        assert!(body.get("sub").is_none(), "{what}: {body}");
    }
    let own = app.get_userinfo(user_token).await;
    assert_eq!(own.json::<Value>().await.unwrap()["sub"], user_id.as_str(), "the user's own token still reads it");
}

async fn hs256_tokens_are_refused_when_the_mode_is_off(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let claims =
        serde_json::json!({"iss": app.base_url, "aud": app.base_url, "sub": "x", "exp": 4_000_000_000u64, "iat": 1});
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"guess-guess-guess-guess-guess-guess"),
    )
    .unwrap();
    assert_eq!(app.verify_status(&token).await, 401);
}

async fn max_age_forces_a_fresh_sign_in_and_userinfo_takes_a_post_body(backend: Backend) {
    let app = TestApp::builder(backend).with_web_client().spawn().await;
    let (browser, body) = issued(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let web = app.web_client();
    let query =
        [("client_id", "web"), ("redirect_uri", web.redirect_uri()), ("response_type", "code"), ("max_age", "1")];
    let resp = app.get_authorize(&browser, &query).await;
    assert_eq!(location(&resp, &app.base_url).path(), "/login", "the sign-in is older than max_age");

    let access = body["access_token"].as_str().unwrap();
    let info: Value = app.post_userinfo(access).await.json().await.unwrap();
    assert_eq!(info["preferred_username"], "more");
}

// Stopping PostgreSQL while Redis keeps the ephemeral state needs that one backend.
#[tokio::test]
async fn with_postgres_down_verify_keeps_answering_and_token_says_temporarily_unavailable() {
    let app = TestApp::builder(Backend::PostgresRedis).with_web_client().spawn().await;
    let (_, body) = issued(&app).await;
    let access = body["access_token"].as_str().unwrap().to_owned();
    postgres_allows_connections(&app, false).await;

    let started = std::time::Instant::now();
    assert_eq!(app.verify_status(&access).await, 200, "verify needs only the keys and the ephemeral store");
    let me = app.get_me(&access).await;
    assert_eq!(me.status(), 503);
    assert_eq!(me.json::<Value>().await.unwrap()["error"]["code"], "SERVICE_UNAVAILABLE");
    let token = app.refresh(app.web_client(), body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(token.status(), 503);
    assert_eq!(token.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    postgres_allows_connections(&app, true).await;
    assert_eq!(app.get_me(&access).await.status(), 200, "recovers without a restart");
}

/// `/jwks` is answered from the key ring in memory: it costs no database round trip (anyone
/// may ask, as often as they like) and keeps answering while PostgreSQL is down.
// Stopping PostgreSQL is what the test is about.
#[tokio::test]
async fn jwks_keeps_answering_while_postgres_is_down() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    let before: Value = app.get_jwks().await.json().await.unwrap();
    assert_eq!(before["keys"].as_array().unwrap().len(), 1);

    postgres_allows_connections(&app, false).await;
    assert!(app.state.db.ping().await.is_err(), "the database is down");
    for _ in 0..3 {
        let resp = app.get_jwks().await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.json::<Value>().await.unwrap(), before);
    }
    postgres_allows_connections(&app, true).await;
}

// An unreachable Redis is what the test is about.
#[tokio::test]
async fn with_the_ephemeral_store_down_verify_answers_503_never_valid() {
    let app = TestApp::builder(Backend::PostgresRedis).redis_url("redis://127.0.0.1:1").spawn().await;
    let now = chrono::Utc::now().timestamp();
    let claims = munji::oidc::tokens::AccessClaims {
        iss: app.state.tokens.issuer.clone(),
        aud: app.state.tokens.audience.clone(),
        sub: uuid::Uuid::new_v4().to_string(),
        exp: now + 600,
        iat: now,
        jti: "j".into(),
        sid: Some("s".into()),
        auth_time: Some(now),
        client_id: "web".into(),
        scope: "openid".into(),
        preferred_username: Some("x".into()),
        username: Some("x".into()),
        email: None,
    };
    let token = app.state.tokens.mint_access(&claims).unwrap();
    assert_eq!(app.get_verify(&token).await.status(), 503, "/api/v1/verify");
    assert_eq!(app.get_userinfo(&token).await.status(), 503, "/userinfo");
}

/// Run the `munji` binary against the app's database, with the test secret key.
pub fn munji_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_munji"))
        .args(args)
        .env_clear()
        .env("MUNJI_DATABASE_URL", &app.database_url)
        .env("MUNJI_SECRET_KEY", crate::helpers::SECRET_KEY)
        .output()
        .unwrap()
}

async fn the_keys_and_clients_commands_manage_what_the_server_uses(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = String::from_utf8(munji_cli(&app, &["keys", "list"]).stdout).unwrap();
    assert_eq!(before.lines().count(), 1, "{before}");
    assert!(before.contains("ES256") && before.contains("current"));
    let rotated = munji_cli(&app, &["keys", "rotate"]);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let jwks: Value = app.get_jwks().await.json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "published at once, before it signs");
    let after = String::from_utf8(munji_cli(&app, &["keys", "list"]).stdout).unwrap();
    assert!(after.contains("retired") && after.contains("published until"), "{after}");

    let added =
        munji_cli(&app, &["clients", "add", "--id", "svc", "--grant", "client_credentials", "--scope", "gmail.vend"]);
    let out = String::from_utf8(added.stdout).unwrap();
    let secret = out.lines().find_map(|l| l.strip_prefix("client_secret: ")).unwrap().to_owned();
    let token = app.client_credentials(&RegisteredClient::claiming("svc", &secret)).await;
    assert_eq!(token.status(), 200);
    let listed = String::from_utf8(munji_cli(&app, &["clients", "list"]).stdout).unwrap();
    assert!(listed.contains("svc\tconfidential\tdatabase"), "{listed}");
    assert!(!listed.contains(&secret), "the secret is shown once, never listed");
    let bad = munji_cli(&app, &["clients", "add", "--id", "bad", "--redirect-uri", "http://evil.example/cb"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must be https"));
    assert!(munji_cli(&app, &["clients", "remove", "svc"]).status.success());
    assert!(!munji_cli(&app, &["clients", "remove", "svc"]).status.success());
}
