//! The `/api/v1` endpoints, one method each, called with a bearer token as the gateway, a
//! service or a user's app would.

use reqwest::{RequestBuilder, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{TestApp, oidc::rp_http};

/// The `error.code` of an `/api/v1` error envelope.
pub async fn error_code(resp: Response) -> String {
    let body: Value = resp.json().await.expect("a JSON body");
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}")).to_owned()
}

/// `POST {base}/api/v1/gmail/access-token`: a Gmail token for `user_id`'s connection equipped
/// to `target`, asked with `bearer` of the munji at `base`.
pub async fn post_vend(base: &str, bearer: &str, user_id: Uuid, target: &str) -> Response {
    rp_http()
        .post(format!("{base}/api/v1/gmail/access-token"))
        .bearer_auth(bearer)
        .json(&json!({"user_id": user_id, "equipped_to": target}))
        .send()
        .await
        .expect("POST /api/v1/gmail/access-token")
}

impl TestApp {
    fn api(&self, method: reqwest::Method, path: &str, bearer: &str) -> RequestBuilder {
        rp_http().request(method, self.url(&format!("/api/v1{path}"))).bearer_auth(bearer)
    }

    async fn send(request: RequestBuilder) -> Response {
        request.send().await.expect("an /api/v1 request")
    }

    /// `GET /api/v1/verify` with `bearer`, as the gateway asks.
    pub async fn get_verify(&self, bearer: &str) -> Response {
        Self::send(self.api(reqwest::Method::GET, "/verify", bearer)).await
    }

    /// The status `/api/v1/verify` answers for `bearer`.
    pub async fn verify_status(&self, bearer: &str) -> u16 {
        self.get_verify(bearer).await.status().as_u16()
    }

    /// `GET /api/v1{path}` with `bearer`.
    pub async fn get_api(&self, path: &str, bearer: &str) -> Response {
        Self::send(self.api(reqwest::Method::GET, path, bearer)).await
    }

    /// The JSON body of `GET /api/v1{path}` with `bearer`.
    pub async fn get_api_json(&self, path: &str, bearer: &str) -> Value {
        self.get_api(path, bearer).await.json().await.expect("a JSON body")
    }

    pub async fn get_me(&self, bearer: &str) -> Response {
        self.get_api("/me", bearer).await
    }

    pub async fn get_sessions(&self, bearer: &str) -> Response {
        self.get_api("/me/sessions", bearer).await
    }

    pub async fn delete_session(&self, bearer: &str, id: &str) -> Response {
        Self::send(self.api(reqwest::Method::DELETE, &format!("/me/sessions/{id}"), bearer)).await
    }

    pub async fn get_apps(&self, bearer: &str) -> Response {
        self.get_api("/me/apps", bearer).await
    }

    pub async fn delete_app(&self, bearer: &str, client_id: &str) -> Response {
        Self::send(self.api(reqwest::Method::DELETE, &format!("/me/apps/{client_id}"), bearer)).await
    }

    pub async fn delete_identity(&self, bearer: &str, id: impl std::fmt::Display) -> Response {
        Self::send(self.api(reqwest::Method::DELETE, &format!("/me/identities/{id}"), bearer)).await
    }

    /// `POST /api/v1/me/identities/{provider}/link`: a link to open in the user's browser.
    pub async fn post_identity_link(&self, bearer: &str, provider: &str) -> Response {
        Self::send(self.api(reqwest::Method::POST, &format!("/me/identities/{provider}/link"), bearer)).await
    }

    /// The user's Gmail connections.
    pub async fn gmail_connections(&self, bearer: &str) -> Vec<Value> {
        let list = self.get_api_json("/me/gmail", bearer).await;
        list["connections"].as_array().expect("connections").clone()
    }

    pub async fn delete_gmail(&self, bearer: &str, id: impl std::fmt::Display) -> Response {
        Self::send(self.api(reqwest::Method::DELETE, &format!("/me/gmail/{id}"), bearer)).await
    }

    /// `POST /api/v1/me/gmail/{id}/equip` to `target`.
    pub async fn post_equip(&self, bearer: &str, id: impl std::fmt::Display, target: &str) -> Response {
        let request = self.api(reqwest::Method::POST, &format!("/me/gmail/{id}/equip"), bearer);
        Self::send(request.json(&json!({"equipped_to": target}))).await
    }

    pub async fn delete_equip(&self, bearer: &str, id: impl std::fmt::Display) -> Response {
        Self::send(self.api(reqwest::Method::DELETE, &format!("/me/gmail/{id}/equip"), bearer)).await
    }

    /// `POST /api/v1/gmail/access-token` on this instance.
    pub async fn post_vend(&self, bearer: &str, user_id: Uuid, target: &str) -> Response {
        post_vend(&self.base_url, bearer, user_id, target).await
    }
}
