//! munji as an OpenID Connect provider, driven by the `openidconnect` crate as a real relying
//! party: discovery → authorization code with PKCE → token → ID token checked against the JWKS
//! → userinfo; then the gateway's `/api/v1/verify` and `/api/v1/me`, and sign-out revoking it all.

use munji::{
    oidc::clients::{self, NewClient},
    upstream::Provider,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse as _,
    core::{CoreClient, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims},
};

use crate::helpers::{
    Backend, TestApp,
    social::{Person, location},
};

crate::on_every_backend!(a_relying_party_signs_a_user_in_and_the_gateway_trusts_the_token);

pub const REDIRECT_URI: &str = "https://app.example/cb";

/// Register a confidential client `web`; returns its secret.
pub async fn register_web_client(app: &TestApp) -> String {
    let new = NewClient {
        id: "web".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "profile".into(), "email".into()],
        gmail_targets: vec![],
        public: false,
        ..Default::default()
    };
    clients::add(&app.state.config, &app.state.db, new).await.unwrap().unwrap()
}

/// Register a confidential `client_credentials` client (a service) with these scopes; returns its secret.
pub async fn register_service_client(app: &TestApp, id: &str, scopes: &[&str]) -> String {
    let new = NewClient {
        id: id.into(),
        redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        gmail_targets: vec![],
        public: false,
        ..Default::default()
    };
    clients::add(&app.state.config, &app.state.db, new).await.unwrap().unwrap()
}

/// A client-credentials access token for client `id` from the munji at `base_url`.
pub async fn client_credentials_token(base_url: &str, id: &str, secret: &str) -> String {
    let issued: serde_json::Value = rp_http()
        .post(format!("{base_url}/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    issued["access_token"].as_str().unwrap().to_owned()
}

/// `GET path` with a bearer token, as the relying party; the JSON body.
pub async fn get_json_with(app: &TestApp, path: &str, bearer: &str) -> serde_json::Value {
    rp_http().get(app.url(path)).bearer_auth(bearer).send().await.unwrap().json().await.unwrap()
}

/// `POST path` with `form`, authenticated as the `web` client (with `secret`); the JSON body.
pub async fn post_as_web(app: &TestApp, secret: &str, path: &str, form: &[(&str, &str)]) -> serde_json::Value {
    rp_http().post(app.url(path)).basic_auth("web", Some(secret)).form(form).send().await.unwrap().json().await.unwrap()
}

/// What `/introspect` says of `token` when the `web` client (with `secret`) asks.
pub async fn introspect(app: &TestApp, secret: &str, token: &str) -> serde_json::Value {
    post_as_web(app, secret, "/introspect", &[("token", token)]).await
}

/// An HTTP client for the relying party: no redirects (openidconnect requires it).
pub fn rp_http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn a_relying_party_signs_a_user_in_and_the_gateway_trusts_the_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = register_web_client(&app).await;
    let secret_again = secret.clone();
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Google, &Person::new(42, "rp.user@example.com"), "rp.user").await;
    let http = rp_http();

    // Step 1: discovery and the JWKS.
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base_url.clone()).unwrap(), &http).await.unwrap();
    let rp = CoreClient::from_provider_metadata(metadata, ClientId::new("web".into()), Some(ClientSecret::new(secret)))
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap());

    // Step 2: the authorization request, with PKCE (S256) and a nonce, in the signed-in browser.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = rp
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let resp = browser.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let back = location(&resp, &app.base_url);
    assert!(back.as_str().starts_with(REDIRECT_URI), "{back}");
    let get = |name: &str| back.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(get("state").as_deref(), Some(csrf.secret().as_str()));
    assert_eq!(get("iss").as_deref(), Some(app.base_url.as_str()), "RFC 9207 iss");
    let code = get("code").unwrap();

    // Step 3: the token request; the ID token is checked (signature via JWKS, iss, aud, exp, nonce).
    let token = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_claims = token.id_token().unwrap().claims(&rp.id_token_verifier(), &nonce).unwrap();
    let user_id = id_claims.subject().as_str().to_owned();
    assert!(uuid::Uuid::parse_str(&user_id).is_ok());
    assert_eq!(id_claims.preferred_username().unwrap().as_str(), "rp.user");
    let access_token = token.access_token().secret().clone();
    let header = jsonwebtoken::decode_header(&access_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);

    // Step 4: userinfo.
    let info: CoreUserInfoClaims =
        rp.user_info(token.access_token().clone(), None).unwrap().request_async(&http).await.unwrap();
    assert_eq!(info.subject().as_str(), user_id);
    assert_eq!(info.email().unwrap().as_str(), "rp.user@example.com");

    // Step 5: the gateway and the API accept the access token.
    let verify = http.get(app.url("/api/v1/verify")).bearer_auth(&access_token).send().await.unwrap();
    assert_eq!(verify.status(), 200);
    assert_eq!(verify.headers()["x-user-id"], user_id.as_str());
    assert_eq!(verify.headers()["x-username"], "rp.user");
    let me = get_json_with(&app, "/api/v1/me", &access_token).await;
    assert_eq!(me["username"], "rp.user");
    assert_eq!(me["id"], user_id.as_str());
    let identities = get_json_with(&app, "/api/v1/me/identities", &access_token).await;
    assert_eq!(identities["identities"][0]["provider"], "google");
    assert_eq!(identities["identities"][0]["uid"], "42");

    // Step 6: refresh (rotation: a new refresh token every time) and the new access token works.
    let refresh = token.refresh_token().unwrap().clone();
    let refreshed = rp.exchange_refresh_token(&refresh).unwrap().request_async(&http).await.unwrap();
    let next_refresh = refreshed.refresh_token().unwrap().secret().clone();
    assert_ne!(&next_refresh, refresh.secret());
    let refreshed_access = refreshed.access_token().secret().clone();
    assert_eq!(http.get(app.url("/api/v1/verify")).bearer_auth(&refreshed_access).send().await.unwrap().status(), 200);
    let introspected = introspect(&app, &secret_again, &refreshed_access).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["username"], "rp.user");

    // Step 7: revoking the refresh token (RFC 7009) ends the grant and its session.
    let revoked = http
        .post(app.url("/revoke"))
        .basic_auth("web", Some(&secret_again))
        .form(&[("token", next_refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let again = http
        .post(app.url("/token"))
        .basic_auth("web", Some(&secret_again))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", next_refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    assert_eq!(http.get(app.url("/api/v1/verify")).bearer_auth(&refreshed_access).send().await.unwrap().status(), 401);

    // Step 8: the revocation ended the session itself: the browser is signed out, and every
    // token of the session is refused.
    assert_eq!(app.signed_in_username(&browser).await, None);
    let after = http.get(app.url("/api/v1/verify")).bearer_auth(&access_token).send().await.unwrap();
    assert_eq!(after.status(), 401);
    let body: serde_json::Value = after.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_TOKEN");
    let userinfo = http.get(app.url("/userinfo")).bearer_auth(&access_token).send().await.unwrap();
    assert_eq!(userinfo.status(), 401);
}

/// The web client's token response for whoever is signed in to `browser` (the authorization
/// request gets `extra` parameters).
pub async fn token_response(
    app: &TestApp,
    browser: &reqwest::Client,
    secret: &str,
    extra: &[(&str, &str)],
) -> serde_json::Value {
    let mut query = vec![
        ("client_id", "web"),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid profile"),
    ];
    query.extend_from_slice(extra);
    let resp = browser.get(app.url("/authorize")).query(&query).send().await.unwrap();
    let code = location(&resp, &app.base_url).query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT_URI)];
    post_as_web(app, secret, "/token", &form).await
}

/// The web client's access and refresh tokens for whoever is signed in to `browser`.
pub async fn tokens_for(app: &TestApp, browser: &reqwest::Client, secret: &str) -> (String, String) {
    let issued = token_response(app, browser, secret, &[]).await;
    (issued["access_token"].as_str().unwrap().to_owned(), issued["refresh_token"].as_str().unwrap().to_owned())
}
