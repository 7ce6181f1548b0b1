//! A server-side web app that signs people in with munji as a confidential client (code +
//! secret, with PKCE and a nonce as well), on the `openidconnect` crate. The guide is
//! docs/apps.md.
//!
//! ```text
//! cargo run -- clients add --id web-example --redirect-uri http://127.0.0.1:3000/callback
//! MUNJI_URL=http://127.0.0.1:8080 CLIENT_ID=web-example CLIENT_SECRET=… cargo run --example web_app
//! ```
//!
//! Then open <http://127.0.0.1:3000/>. tests/api/examples.rs runs this file against a live
//! munji.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use anyhow::Context as _;
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
    core::{CoreClient, CoreProviderMetadata, CoreResponseType},
};
use poem::{
    EndpointExt as _, IntoResponse, Response, Route, get, handler,
    http::StatusCode,
    listener::TcpAcceptor,
    middleware::CookieJarManager,
    web::{
        Data, Html, Query, Redirect,
        cookie::{Cookie, CookieJar, SameSite},
    },
};
use serde::Deserialize;

/// The cookie naming a sign-in in progress (its `state`), and the one naming a signed-in
/// browser. Cookies are not kept apart by port: these must not be munji's names when both
/// run on 127.0.0.1.
const LOGIN_COOKIE: &str = "example_login";
const SESSION_COOKIE: &str = "example_session";

pub struct Settings {
    pub munji_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// Where this app is reached, without a trailing slash; its redirect URI is
    /// `{app_url}/callback`.
    pub app_url: String,
}

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// What the app remembers between `/login` and `/callback`.
struct Pending {
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

pub struct WebApp {
    client: Client,
    /// For calls to munji: openidconnect needs one that follows no redirects.
    http: reqwest::Client,
    /// By `state`.
    pending: Mutex<HashMap<String, Pending>>,
    /// Signed-in browsers by session cookie: the username.
    sessions: Mutex<HashMap<String, String>>,
}

impl WebApp {
    /// Read munji's discovery document (endpoints and keys) once, at start.
    pub async fn discover(settings: Settings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(settings.munji_url)?, &http).await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id),
            Some(ClientSecret::new(settings.client_secret)),
        )
        .set_redirect_uri(RedirectUrl::new(format!("{}/callback", settings.app_url))?);
        Ok(Self { client, http, pending: Mutex::default(), sessions: Mutex::default() })
    }

    /// The username of a browser's session, if it signed in.
    fn signed_in(&self, jar: &CookieJar) -> Option<String> {
        let cookie = jar.get(SESSION_COOKIE)?;
        self.sessions.lock().ok()?.get(cookie.value_str()).cloned()
    }

    /// Redeem the code with the secret and the PKCE verifier, check the ID token (signature,
    /// issuer, audience, expiry, nonce) and return its `preferred_username`.
    async fn finish(&self, code: String, pending: Pending) -> anyhow::Result<String> {
        let tokens = self
            .client
            .exchange_code(AuthorizationCode::new(code))?
            .set_pkce_verifier(pending.verifier)
            .request_async(&self.http)
            .await?;
        let id_token = tokens.id_token().context("no ID token")?;
        let claims = id_token.claims(&self.client.id_token_verifier(), &pending.nonce)?;
        // tokens.access_token() goes to APIs behind the gateway; tokens.refresh_token() gets
        // the next one (every use rotates it: keep the new one).
        Ok(claims.preferred_username().context("no preferred_username")?.to_string())
    }
}

fn session_cookie(name: &str, value: &str) -> Cookie {
    let mut cookie = Cookie::new_with_str(name, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax); // munji's redirect back is a top-level GET
    cookie.set_path("/");
    cookie
}

#[handler]
fn home(app: Data<&Arc<WebApp>>, jar: &CookieJar) -> Html<String> {
    match app.signed_in(jar) {
        // munji's usernames are `a-z 0-9 . _ -` only (docs/identity.md): nothing to escape.
        Some(username) => Html(format!("<p>Signed in as <b id=\"username\">{username}</b></p>")),
        None => Html("<a href=\"/login\">Sign in with munji</a>".to_owned()),
    }
}

#[handler]
fn login(app: Data<&Arc<WebApp>>, jar: &CookieJar) -> poem::Result<Redirect> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = app
        .client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let mut pending = app.pending.lock().map_err(|_| internal("lock"))?;
    pending.insert(state.secret().clone(), Pending { nonce, verifier });
    // The state is tied to this browser: a callback from another browser is refused.
    jar.add(session_cookie(LOGIN_COOKIE, state.secret()));
    Ok(Redirect::see_other(url.as_str()))
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[handler]
async fn callback(app: Data<&Arc<WebApp>>, jar: &CookieJar, Query(query): Query<Callback>) -> poem::Result<Response> {
    if let Some(error) = query.error {
        return Ok(bad_request(&format!("munji said: {error}")));
    }
    let state = query.state.unwrap_or_default();
    // Only the browser that started this sign-in may finish it (or spend it).
    let started_here = jar.get(LOGIN_COOKIE).is_some_and(|cookie| cookie.value_str() == state);
    if !started_here {
        return Ok(bad_request("this sign-in was not started in this browser"));
    }
    let pending = app.pending.lock().map_err(|_| internal("lock"))?.remove(&state);
    let (Some(code), Some(pending)) = (query.code, pending) else {
        return Ok(bad_request("this sign-in is finished already"));
    };
    jar.remove(LOGIN_COOKIE);
    let username = match app.finish(code, pending).await {
        Ok(username) => username,
        Err(error) => return Ok(bad_request(&format!("the sign-in failed: {error:#}"))),
    };
    let session = CsrfToken::new_random().secret().clone(); // 16 random bytes
    app.sessions.lock().map_err(|_| internal("lock"))?.insert(session.clone(), username);
    jar.add(session_cookie(SESSION_COOKIE, &session));
    Ok(Redirect::see_other("/").into_response())
}

fn bad_request(message: &str) -> Response {
    Response::builder().status(StatusCode::BAD_REQUEST).body(message.to_owned())
}

fn internal(what: &str) -> poem::Error {
    poem::Error::from_string(what, StatusCode::INTERNAL_SERVER_ERROR)
}

/// Serve the app on `listener`.
pub async fn serve(app: WebApp, listener: std::net::TcpListener) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let routes = Route::new()
        .at("/", get(home))
        .at("/login", get(login))
        .at("/callback", get(callback))
        .data(Arc::new(app))
        .with(CookieJarManager::new());
    poem::Server::new_with_acceptor(TcpAcceptor::from_std(listener)?).run(routes).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let var = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    let listener = std::net::TcpListener::bind("127.0.0.1:3000")?;
    let settings = Settings {
        munji_url: var("MUNJI_URL")?,
        client_id: var("CLIENT_ID")?,
        client_secret: var("CLIENT_SECRET")?,
        app_url: format!("http://{}", listener.local_addr()?),
    };
    let app = WebApp::discover(settings).await?;
    println!("open http://{}/", listener.local_addr()?);
    serve(app, listener).await
}
