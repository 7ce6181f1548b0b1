//! The provider's endpoints, one method each, called as a relying party would: no cookies, no
//! redirects followed, a client authenticating with `client_secret_basic`.

use reqwest::{Client, RequestBuilder, Response};
use serde_json::Value;

use super::{TestApp, clients::RegisteredClient, social::location};

/// An HTTP client for the relying party: no redirects (openidconnect requires it), no cookies.
pub fn rp_http() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The value of query parameter `name` in the `Location` of `resp`, made absolute against `base`.
pub fn location_param(resp: &Response, base: &str, name: &str) -> Option<String> {
    location(resp, base).query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The `error` of an OAuth error response.
pub async fn oauth_error(resp: Response) -> String {
    let body: Value = resp.json().await.expect("a JSON body");
    body["error"].as_str().unwrap_or_else(|| panic!("no error in {body}")).to_owned()
}

/// An access token of service `client` from the munji at `base` (any instance, not only a
/// [`TestApp`]); the grant must succeed.
pub async fn service_token_at(base: &str, client: &RegisteredClient) -> String {
    let resp = rp_http()
        .post(format!("{base}/token"))
        .basic_auth(&client.id, Some(client.secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("POST /token");
    assert_eq!(resp.status(), 200, "client credentials for {}", client.id);
    let body: Value = resp.json().await.expect("token response");
    body["access_token"].as_str().expect("access_token").to_owned()
}

impl TestApp {
    /// A POST to `path` with nothing sent yet, for what the methods below do not cover (a raw
    /// body, another header): `client_secret_basic` as `client` when it has a secret.
    pub fn oauth_post(&self, path: &str, client: Option<&RegisteredClient>) -> RequestBuilder {
        let request = rp_http().post(self.url(path));
        match client.and_then(|c| c.secret.as_deref().map(|secret| (c.id.as_str(), secret))) {
            Some((id, secret)) => request.basic_auth(id, Some(secret)),
            None => request,
        }
    }

    /// `POST /token` with nothing sent yet (see [`TestApp::oauth_post`]).
    pub fn token_request(&self, client: Option<&RegisteredClient>) -> RequestBuilder {
        self.oauth_post("/token", client)
    }

    /// `POST /token` with `form` and no client authentication (a public client names itself
    /// in the form).
    pub async fn post_token(&self, form: &[(&str, &str)]) -> Response {
        self.token_request(None).form(form).send().await.expect("POST /token")
    }

    /// `POST /token` with `form`, authenticated as `client`.
    pub async fn post_token_as(&self, client: &RegisteredClient, form: &[(&str, &str)]) -> Response {
        self.token_request(Some(client)).form(form).send().await.expect("POST /token")
    }

    /// `client` redeems `code` (with the PKCE `verifier`, if any) at its redirect URI.
    pub async fn redeem_code(&self, client: &RegisteredClient, code: &str, verifier: Option<&str>) -> Response {
        let mut form =
            vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", client.redirect_uri())];
        form.extend(verifier.map(|v| ("code_verifier", v)));
        self.post_token_as(client, &form).await
    }

    /// `client` uses `refresh_token`.
    pub async fn refresh(&self, client: &RegisteredClient, refresh_token: &str) -> Response {
        self.post_token_as(client, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    /// The `client_credentials` grant for `client`.
    pub async fn client_credentials(&self, client: &RegisteredClient) -> Response {
        self.post_token_as(client, &[("grant_type", "client_credentials")]).await
    }

    /// An access token of service `client`; the grant must succeed.
    pub async fn service_token(&self, client: &RegisteredClient) -> String {
        service_token_at(&self.base_url, client).await
    }

    /// `GET /authorize` with `params` in `browser`.
    pub async fn get_authorize(&self, browser: &Client, params: &[(&str, &str)]) -> Response {
        browser.get(self.url("/authorize")).query(params).send().await.expect("GET /authorize")
    }

    /// A code for `client` for whoever is signed in to `browser` (the authorization request
    /// gets `extra` parameters).
    pub async fn authorize_code(&self, browser: &Client, client: &RegisteredClient, extra: &[(&str, &str)]) -> String {
        let mut params = vec![("client_id", client.id.as_str()), ("redirect_uri", client.redirect_uri())];
        params.push(("response_type", "code"));
        params.extend_from_slice(extra);
        let resp = self.get_authorize(browser, &params).await;
        location_param(&resp, &self.base_url, "code").unwrap_or_else(|| panic!("no code: {}", resp.status()))
    }

    /// The `web` client's token response for whoever is signed in to `browser` (the
    /// authorization request gets `extra` parameters; `scope` is `openid profile`).
    pub async fn web_token_response(&self, browser: &Client, extra: &[(&str, &str)]) -> Value {
        let web = self.web_client();
        let mut params = vec![("scope", "openid profile")];
        params.extend_from_slice(extra);
        let code = self.authorize_code(browser, web, &params).await;
        self.redeem_code(web, &code, None).await.json().await.expect("token response")
    }

    /// The `web` client's access and refresh tokens for whoever is signed in to `browser`.
    pub async fn tokens_for(&self, browser: &Client) -> (String, String) {
        let issued = self.web_token_response(browser, &[]).await;
        let token = |name: &str| issued[name].as_str().unwrap_or_else(|| panic!("no {name} in {issued}")).to_owned();
        (token("access_token"), token("refresh_token"))
    }

    /// `POST /introspect` of `token`, asked by `client`.
    pub async fn post_introspect(&self, client: Option<&RegisteredClient>, token: &str) -> Response {
        self.oauth_post("/introspect", client).form(&[("token", token)]).send().await.expect("POST /introspect")
    }

    /// What `/introspect` says of `token` when `client` asks.
    pub async fn introspect(&self, client: &RegisteredClient, token: &str) -> Value {
        self.post_introspect(Some(client), token).await.json().await.expect("introspection")
    }

    /// `POST /revoke` of `token` by `client`.
    pub async fn post_revoke(&self, client: &RegisteredClient, token: &str) -> Response {
        self.oauth_post("/revoke", Some(client)).form(&[("token", token)]).send().await.expect("POST /revoke")
    }

    /// `GET /userinfo` with `bearer`.
    pub async fn get_userinfo(&self, bearer: &str) -> Response {
        rp_http().get(self.url("/userinfo")).bearer_auth(bearer).send().await.expect("GET /userinfo")
    }

    /// `POST /userinfo` with the access token in the form body.
    pub async fn post_userinfo(&self, access_token: &str) -> Response {
        let form = [("access_token", access_token)];
        rp_http().post(self.url("/userinfo")).form(&form).send().await.expect("POST /userinfo")
    }

    pub async fn get_jwks(&self) -> Response {
        rp_http().get(self.url("/jwks")).send().await.expect("GET /jwks")
    }

    pub async fn get_discovery(&self) -> Value {
        let resp = rp_http().get(self.url("/.well-known/openid-configuration")).send().await.expect("discovery");
        resp.json().await.expect("discovery document")
    }
}
