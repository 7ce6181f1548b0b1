//! Signing in through the provider imitation, as a browser would: munji's redirect to the
//! provider, the person chosen on the imitation's form, the redirect back to the callback.

use munji::upstream::Provider;
use reqwest::{Client, Response};
use url::Url;

use super::TestApp;

/// Configuration that points all three providers at the imitation at `dev`.
pub fn provider_env(dev: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for provider in Provider::ALL {
        let key = |k: &str| format!("MUNJI_PROVIDERS__{}__{k}", provider.as_str().to_uppercase());
        env.push((key("CLIENT_ID"), format!("test-{provider}")));
        env.push((key("CLIENT_SECRET"), "test-secret".to_owned()));
        let base = format!("{dev}/dev/{provider}");
        match provider {
            Provider::Google => env.push((key("ISSUER_URL"), base)),
            Provider::Naver => {
                env.push((key("AUTHORIZE_URL"), format!("{base}/oauth2.0/authorize")));
                env.push((key("TOKEN_URL"), format!("{base}/oauth2.0/token")));
                env.push((key("USERINFO_URL"), format!("{base}/v1/nid/me")));
            }
            _ => {
                env.push((key("AUTHORIZE_URL"), format!("{base}/oauth/authorize")));
                env.push((key("TOKEN_URL"), format!("{base}/oauth/token")));
                env.push((key("USERINFO_URL"), format!("{base}/v2/user/me")));
                env.push((key("UNLINK_URL"), format!("{base}/v1/user/unlink")));
            }
        }
    }
    env
}

/// Who signs in at the imitation.
#[derive(Clone, Debug)]
pub struct Person {
    pub uid: String,
    pub email: String,
    pub email_verified: bool,
    /// Whether the person agrees to share the e-mail.
    pub consent_email: bool,
    pub name: String,
    /// Whether the person grants `gmail.send` when it is asked for.
    pub grant_gmail: bool,
}

impl Person {
    /// Kakao ids are numbers, so every test uid is made of digits.
    pub fn new(uid: u64, email: &str) -> Self {
        Self {
            uid: uid.to_string(),
            email: email.to_owned(),
            email_verified: true,
            consent_email: true,
            name: "Test Person".to_owned(),
            grant_gmail: true,
        }
    }

    pub fn declining_email(mut self) -> Self {
        self.consent_email = false;
        self
    }
}

/// The `Location` of a redirect, made absolute against `base`.
pub fn location(resp: &Response, base: &str) -> Url {
    let value = resp.headers().get("location").unwrap_or_else(|| panic!("no Location on a {}", resp.status()));
    Url::parse(base).unwrap().join(value.to_str().unwrap()).unwrap()
}

/// The value of the `name` attribute's `value` in an HTML form (`csrf`, `username`, …).
pub fn form_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

impl TestApp {
    /// A new browser: its own cookie jar, no automatic redirects.
    pub fn browser(&self) -> Client {
        Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap()
    }

    /// `GET /login/{provider}`: munji's redirect to the provider.
    pub async fn start_login(&self, browser: &Client, provider: Provider) -> Url {
        let resp = browser.get(self.url(&format!("/login/{provider}?return_to=/account"))).send().await.unwrap();
        assert_eq!(resp.status(), 303, "GET /login/{provider}");
        location(&resp, &self.base_url)
    }

    /// At the imitation: post the person's choice (the form carries the authorize
    /// parameters through), and return where the provider sends the browser back to.
    pub async fn provider_decides(&self, browser: &Client, authorize: &Url, person: &Person, allow: bool) -> Url {
        let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
        form.extend([
            ("uid".to_owned(), person.uid.clone()),
            ("email".to_owned(), person.email.clone()),
            ("name".to_owned(), person.name.clone()),
            ("decision".to_owned(), if allow { "allow" } else { "deny" }.to_owned()),
        ]);
        if person.email_verified {
            form.push(("email_verified".to_owned(), "on".to_owned()));
        }
        if person.consent_email {
            form.push(("consent_email".to_owned(), "on".to_owned()));
        }
        if person.grant_gmail {
            form.push(("grant_gmail".to_owned(), "on".to_owned()));
        }
        let mut action = authorize.clone();
        action.set_query(None);
        let resp = browser.post(action).form(&form).send().await.unwrap();
        assert_eq!(resp.status(), 303, "the imitation redirects back");
        location(&resp, &self.dev_provider_url)
    }

    /// The whole round trip up to munji's answer at `/callback/{provider}`.
    pub async fn sign_in_with(&self, browser: &Client, provider: Provider, person: &Person) -> Response {
        let authorize = self.start_login(browser, provider).await;
        let callback = self.provider_decides(browser, &authorize, person, true).await;
        browser.get(callback).send().await.unwrap()
    }

    /// A first sign-in finished through the sign-up form with `username`; returns the
    /// response to `POST /signup`.
    pub async fn sign_up_with(
        &self,
        browser: &Client,
        provider: Provider,
        person: &Person,
        username: &str,
    ) -> Response {
        let callback = self.sign_in_with(browser, provider, person).await;
        assert_eq!(callback.status(), 303);
        assert_eq!(location(&callback, &self.base_url).path(), "/signup");
        let page = browser.get(self.url("/signup")).send().await.unwrap().text().await.unwrap();
        let csrf = form_value(&page, "csrf").expect("a CSRF field on the sign-up form");
        self.post_signup(browser, username, &person.name, &csrf).await
    }

    pub async fn post_signup(&self, browser: &Client, username: &str, display_name: &str, csrf: &str) -> Response {
        let form = [("username", username), ("display_name", display_name), ("csrf", csrf)];
        browser.post(self.url("/signup")).form(&form).send().await.unwrap()
    }

    pub async fn get_account(&self, browser: &Client) -> Response {
        browser.get(self.url("/account")).send().await.unwrap()
    }

    /// The username shown on `/account`, if the browser is signed in.
    pub async fn signed_in_username(&self, browser: &Client) -> Option<String> {
        let resp = self.get_account(browser).await;
        if resp.status() != 200 {
            return None;
        }
        let html = resp.text().await.unwrap();
        let marker = "id=\"account-username\">";
        let start = html.find(marker)? + marker.len();
        Some(html[start..start + html[start..].find('<')?].to_owned())
    }

    pub async fn post_logout(&self, browser: &Client, csrf: &str) -> Response {
        browser.post(self.url("/logout")).form(&[("csrf", csrf)]).send().await.unwrap()
    }

    /// How many accounts exist.
    pub async fn count_users(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM users").await
    }

    /// How many identities exist.
    pub async fn count_identities(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM identities").await
    }

    async fn count(&self, sql: &'static str) -> i64 {
        match &self.state.db {
            munji::store::Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            munji::store::Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }
}
