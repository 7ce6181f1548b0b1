//! munji as an OpenID Connect provider, driven by the `openidconnect` crate as a real relying
//! party: discovery → authorization code with PKCE → token → ID token checked against the JWKS
//! → userinfo; then the gateway's `/api/v1/verify` and `/api/v1/me`, and sign-out revoking it all.

use munji::upstream::Provider;
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse as _,
    core::{CoreClient, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims},
};

use crate::helpers::{
    Backend, TestApp,
    clients::WEB_REDIRECT_URI,
    oidc::{location_param, rp_http},
    social::Person,
};

crate::on_every_backend!(a_relying_party_signs_a_user_in_and_the_gateway_trusts_the_token);

async fn a_relying_party_signs_a_user_in_and_the_gateway_trusts_the_token(backend: Backend) {
    let app = TestApp::builder(backend).with_web_client().spawn().await;
    let web = app.web_client();
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Google, &Person::new(42, "rp.user@example.com"), "rp.user").await;
    let http = rp_http();

    // Step 1: discovery and the JWKS.
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base_url.clone()).unwrap(), &http).await.unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(web.id.clone()),
        Some(ClientSecret::new(web.secret().into())),
    )
    .set_redirect_uri(RedirectUrl::new(WEB_REDIRECT_URI.into()).unwrap());

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
    let back = crate::helpers::social::location(&resp, &app.base_url);
    assert!(back.as_str().starts_with(WEB_REDIRECT_URI), "{back}");
    let get = |name: &str| location_param(&resp, &app.base_url, name);
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
    let verify = app.get_verify(&access_token).await;
    assert_eq!(verify.status(), 200);
    assert_eq!(verify.headers()["x-user-id"], user_id.as_str());
    assert_eq!(verify.headers()["x-username"], "rp.user");
    let me = app.get_api_json("/me", &access_token).await;
    assert_eq!(me["username"], "rp.user");
    assert_eq!(me["id"], user_id.as_str());
    let identities = app.get_api_json("/me/identities", &access_token).await;
    assert_eq!(identities["identities"][0]["provider"], "google");
    assert_eq!(identities["identities"][0]["uid"], "42");

    // Step 6: refresh (rotation: a new refresh token every time) and the new access token works.
    let refresh = token.refresh_token().unwrap().clone();
    let refreshed = rp.exchange_refresh_token(&refresh).unwrap().request_async(&http).await.unwrap();
    let next_refresh = refreshed.refresh_token().unwrap().secret().clone();
    assert_ne!(&next_refresh, refresh.secret());
    let refreshed_access = refreshed.access_token().secret().clone();
    assert_eq!(app.verify_status(&refreshed_access).await, 200);
    let introspected = app.introspect(web, &refreshed_access).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["username"], "rp.user");

    // Step 7: revoking the refresh token (RFC 7009) ends the grant and its session.
    assert_eq!(app.post_revoke(web, &next_refresh).await.status(), 200);
    assert_eq!(app.refresh(web, &next_refresh).await.status(), 400);
    assert_eq!(app.verify_status(&refreshed_access).await, 401);

    // Step 8: the revocation ended the session itself: the browser is signed out, and every
    // token of the session is refused.
    assert_eq!(app.signed_in_username(&browser).await, None);
    let after = app.get_verify(&access_token).await;
    assert_eq!(after.status(), 401);
    let body: serde_json::Value = after.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_TOKEN");
    assert_eq!(app.get_userinfo(&access_token).await.status(), 401);
}
