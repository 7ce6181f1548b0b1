//! A Rust back-end that checks munji access tokens offline, against munji's `/jwks`, with the
//! `jsonwebtoken` crate (docs/tokens.md, "The gateway"). The guide is docs/apps.md.
//!
//! ```text
//! MUNJI_URL=http://127.0.0.1:8080 cargo run --example verify_token     # listens on 127.0.0.1:8001
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:8001/hello
//! ```
//!
//! `GET /hello` answers `{"user_id", "username"}` for a user's token, `{"client_id"}` for a
//! service's, and 401 for anything else. tests/api/examples.rs runs this file against a live
//! munji.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use poem::{
    EndpointExt as _, IntoResponse, Request, Response, Route, get, handler,
    http::StatusCode,
    listener::TcpAcceptor,
    web::{Data, Json},
};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::RwLock;

/// The claims this back-end reads; the others (`iss`, `aud`, `exp`, …) are checked by
/// [`Verifier::verify`].
#[derive(Debug, Deserialize)]
pub struct Claims {
    /// A user's id (a UUID), or a service's client id.
    pub sub: String,
    pub client_id: String,
    pub scope: String,
    /// Only in users' tokens.
    pub preferred_username: Option<String>,
}

/// munji's published keys, fetched once and again whenever a token names a key that is not
/// among them (after `munji keys rotate`).
pub struct Verifier {
    jwks_url: String,
    issuer: String,
    audience: String,
    http: reqwest::Client,
    keys: RwLock<JwkSet>,
}

impl Verifier {
    /// `issuer` is munji's `public_url`; `audience` its `access_token_audience` (by default
    /// the same URL).
    pub async fn new(issuer: &str, audience: &str) -> anyhow::Result<Self> {
        let issuer = issuer.trim_end_matches('/').to_owned();
        let verifier = Self {
            jwks_url: format!("{issuer}/jwks"),
            issuer,
            audience: audience.to_owned(),
            http: reqwest::Client::new(),
            keys: RwLock::new(JwkSet { keys: vec![] }),
        };
        verifier.reload().await?;
        Ok(verifier)
    }

    async fn reload(&self) -> anyhow::Result<()> {
        let keys = self.http.get(&self.jwks_url).send().await?.error_for_status()?.json().await?;
        *self.keys.write().await = keys;
        Ok(())
    }

    /// The token's claims, if munji signed it and it is a valid access token for us now.
    pub async fn verify(&self, token: &str) -> anyhow::Result<Claims> {
        let header = jsonwebtoken::decode_header(token)?;
        // An ID token (`typ: JWT`) is not an access token, even though munji signed it.
        if header.typ.as_deref() != Some("at+jwt") {
            bail!("not an access token");
        }
        let kid = header.kid.context("no kid")?;
        if self.keys.read().await.find(&kid).is_none() {
            self.reload().await?; // a real back-end limits how often a stranger can cause this
        }
        let keys = self.keys.read().await;
        let jwk = keys.find(&kid).context("unknown kid")?;
        // The key decides the algorithm, never the token's header.
        let alg = Algorithm::try_from(jwk.common.key_algorithm.context("a key without alg")?)?;
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = 30;
        Ok(jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_jwk(jwk)?, &validation)?.claims)
    }
}

#[handler]
async fn hello(request: &Request, verifier: Data<&Arc<Verifier>>) -> Response {
    let bearer = request.header("authorization").and_then(|h| h.strip_prefix("Bearer "));
    let claims = match bearer {
        Some(token) => verifier.verify(token).await,
        None => Err(anyhow::anyhow!("no bearer token")),
    };
    match claims {
        Ok(Claims { sub, preferred_username: Some(username), .. }) => {
            Json(json!({"user_id": sub, "username": username})).into_response()
        }
        Ok(Claims { client_id, .. }) => Json(json!({"client_id": client_id})).into_response(),
        Err(error) => Json(json!({"error": "invalid_token", "error_description": error.to_string()}))
            .with_status(StatusCode::UNAUTHORIZED)
            .with_header("WWW-Authenticate", r#"Bearer error="invalid_token""#)
            .into_response(),
    }
}

/// Serve `GET /hello` on `listener`.
pub async fn serve(verifier: Verifier, listener: std::net::TcpListener) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let routes = Route::new().at("/hello", get(hello)).data(Arc::new(verifier));
    poem::Server::new_with_acceptor(TcpAcceptor::from_std(listener)?).run(routes).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let munji = std::env::var("MUNJI_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned());
    let audience = std::env::var("MUNJI_AUDIENCE").unwrap_or_else(|_| munji.clone());
    let verifier = Verifier::new(&munji, &audience).await?;
    let listener = std::net::TcpListener::bind("127.0.0.1:8001")?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(verifier, listener).await
}
