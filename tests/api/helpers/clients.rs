//! The OAuth clients the tests register: every `NewClient` a test uses is made here, and the
//! builder registers them before the test starts (`with_web_client()` and the like).

use munji::oidc::clients::{self, NewClient};

use super::{TestApp, TestAppBuilder};

/// Where the `web` client gets its codes.
pub const WEB_REDIRECT_URI: &str = "https://app.example/cb";
/// Where the public `spa` client gets its codes.
pub const SPA_REDIRECT_URI: &str = "https://spa.example/cb";
/// The `spa` client's loopback redirect (any port is accepted for it).
pub const SPA_LOOPBACK_URI: &str = "http://127.0.0.1/cb";

/// A registered client as its relying party knows it: its id, its secret (none for a public
/// client) and where its codes go.
#[derive(Clone, Debug)]
pub struct RegisteredClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: Option<String>,
}

impl RegisteredClient {
    /// Credentials for a client that may not exist, or a wrong secret for one that does.
    pub fn claiming(id: &str, secret: &str) -> Self {
        Self { id: id.to_owned(), secret: Some(secret.to_owned()), redirect_uri: None }
    }

    pub fn secret(&self) -> &str {
        self.secret.as_deref().unwrap_or_else(|| panic!("{} is a public client: no secret", self.id))
    }

    pub fn redirect_uri(&self) -> &str {
        self.redirect_uri.as_deref().unwrap_or_else(|| panic!("{} has no redirect URI", self.id))
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// A confidential client for signing users in: authorization code and refresh token, with a
/// secret and one redirect URI.
pub fn web(id: &str, redirect_uri: &str, scopes: &[&str]) -> NewClient {
    NewClient {
        id: id.into(),
        redirect_uris: vec![redirect_uri.into()],
        grant_types: strings(&["authorization_code", "refresh_token"]),
        scopes: strings(scopes),
        ..Default::default()
    }
}

/// The public client `spa`: no secret, so PKCE; an https redirect and a loopback one.
pub fn spa() -> NewClient {
    NewClient {
        id: "spa".into(),
        redirect_uris: strings(&[SPA_REDIRECT_URI, SPA_LOOPBACK_URI]),
        grant_types: strings(&["authorization_code", "refresh_token"]),
        scopes: strings(&["openid", "profile"]),
        public: true,
        ..Default::default()
    }
}

/// A confidential `client_credentials` client (a service) with these scopes, vending Gmail
/// tokens for `gmail_targets` if it has `gmail.vend`.
pub fn service(id: &str, scopes: &[&str], gmail_targets: &[&str]) -> NewClient {
    NewClient {
        id: id.into(),
        grant_types: strings(&["client_credentials"]),
        scopes: strings(scopes),
        gmail_targets: strings(gmail_targets),
        ..Default::default()
    }
}

/// Where apps made by [`app`] may send a user after signing out.
pub const AFTER_LOGOUT_URI: &str = "https://app.example/bye";

/// What an app made by [`app`] registers beyond the defaults.
#[derive(Default)]
pub struct AppOptions<'a> {
    pub backchannel_logout_uri: Option<&'a str>,
    pub third_party: bool,
}

/// A confidential client `id` like `web` (`openid profile email` at [`WEB_REDIRECT_URI`]),
/// named "The {id} app", that may send users to [`AFTER_LOGOUT_URI`] after signing out.
pub fn app(id: &str, options: AppOptions<'_>) -> NewClient {
    NewClient {
        name: Some(format!("The {id} app")),
        first_party: !options.third_party,
        post_logout_redirect_uris: strings(&[AFTER_LOGOUT_URI]),
        backchannel_logout_uri: options.backchannel_logout_uri.map(str::to_owned),
        ..web(id, WEB_REDIRECT_URI, &["openid", "profile", "email"])
    }
}

impl TestAppBuilder {
    /// Register `new` when the app starts; find it with [`TestApp::registered`].
    pub fn with_client(mut self, new: NewClient) -> Self {
        self.clients.push(new);
        self
    }

    /// The confidential client `web` (`openid profile email`) at [`WEB_REDIRECT_URI`].
    pub fn with_web_client(self) -> Self {
        self.with_client(web("web", WEB_REDIRECT_URI, &["openid", "profile", "email"]))
    }

    /// The public client `spa`.
    pub fn with_spa_client(self) -> Self {
        self.with_client(spa())
    }

    /// A service `id` with these scopes and no Gmail targets.
    pub fn with_service_client(self, id: &str, scopes: &[&str]) -> Self {
        self.with_client(service(id, scopes, &[]))
    }

    /// A service `id` that may vend Gmail tokens (`gmail.vend`) for `targets`.
    pub fn with_vending_client(self, id: &str, targets: &[&str]) -> Self {
        self.with_client(service(id, &["gmail.vend"], targets))
    }
}

impl TestApp {
    /// Register `new` now, as `munji clients add` would.
    pub async fn register(&self, new: NewClient) -> RegisteredClient {
        let (id, redirect_uri) = (new.id.clone(), new.redirect_uris.first().cloned());
        let secret = clients::add(&self.state.config, &self.state.db, new).await.expect("register the client");
        RegisteredClient { id, secret, redirect_uri }
    }

    /// A client the builder registered.
    pub fn registered(&self, id: &str) -> &RegisteredClient {
        self.clients.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no client {id}: add it on the builder"))
    }

    pub fn web_client(&self) -> &RegisteredClient {
        self.registered("web")
    }

    pub fn spa_client(&self) -> &RegisteredClient {
        self.registered("spa")
    }
}
