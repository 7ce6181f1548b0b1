//! The dev provider (docs/providers.md): imitations of Google, Naver and Kakao under
//! `/dev/{provider}/…`, speaking each one's real wire format, with a small form to choose the
//! person who signs in (uid, e-mail, whether it is verified, whether e-mail consent is given,
//! name). Mounted only by `munji serve --dev` (which refuses non-loopback binds) and by tests.
//!
//! It keeps no state: codes and access tokens are the chosen person, sealed with an HMAC. Its
//! form speaks Korean or English, as munji's pages do (`Accept-Language`).
//! Depends on [`crate::crypto`] and [`crate::i18n`].

pub mod apple;
pub mod events;
mod google;
mod kakao;
mod naver;

use std::{sync::Arc, time::Duration};

use askama::Template;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use poem::{
    Endpoint, EndpointExt as _, IntoResponse, Request, Response, Route, get, handler,
    http::{HeaderValue, StatusCode, header},
    web::{Data, Form, Html, Query, Redirect},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::{crypto, upstream::Provider};

/// How long an imitation's authorization code lives.
const CODE_TTL: Duration = Duration::from_secs(600);
/// How long an imitation's access token lives.
const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// The imitation of all three providers.
pub struct DevProvider {
    /// Where the imitation is mounted, e.g. `http://127.0.0.1:8080/dev` (no trailing slash).
    base: String,
    /// Seals codes and access tokens.
    key: [u8; 32],
    google: google::Keys,
    /// Tokens revoked at Google's revocation endpoint. The imitation's own memory (it is a
    /// test double, one per process); munji keeps nothing like this in memory.
    revoked: std::sync::Mutex<std::collections::HashSet<String>>,
    /// How many refresh grants Google's token endpoint answered (tests count upstream refreshes).
    pub google_refreshes: std::sync::atomic::AtomicU64,
    /// How many messages the Gmail imitation accepted.
    pub gmail_sent: std::sync::atomic::AtomicU64,
    /// Where the events page sends its events (`None`: nowhere yet).
    events: std::sync::Mutex<Option<events::EventsTarget>>,
    /// How many tokens Google's revocation endpoint revoked.
    pub google_revocations: std::sync::atomic::AtomicU64,
    /// While set, Google's revocation endpoint answers 503 (tests of a provider that is down).
    pub google_revoke_down: std::sync::atomic::AtomicBool,
    /// How many users Kakao's admin-key unlink unlinked.
    pub kakao_unlinks: std::sync::atomic::AtomicU64,
    /// How many tokens Apple's revocation endpoint revoked.
    pub apple_revocations: std::sync::atomic::AtomicU64,
    /// The `(client_id, uid)` pairs Apple has authorized: its `user` field comes only the first
    /// time, until the grant is revoked.
    apple_authorized: std::sync::Mutex<std::collections::HashSet<(String, String)>>,
    /// What is wrong with the next ID token Apple's imitation issues (tests of munji's checks).
    apple_id_token_fault: std::sync::Mutex<Option<String>>,
}

/// The admin key Kakao's imitation accepts for `/v1/user/unlink` (docs/leaving.md).
pub const KAKAO_ADMIN_KEY: &str = "munji-dev-kakao-admin-key";

/// The person chosen on the form: what the imitation will say about them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Person {
    uid: String,
    email: String,
    email_verified: bool,
    consent_email: bool,
    name: String,
    /// Apple: the person chose to hide their address behind a private relay.
    #[serde(default)]
    hide_email: bool,
}

impl Person {
    /// The e-mail as the provider would disclose it: only with consent, never empty.
    fn shared_email(&self) -> Option<&str> {
        (self.consent_email && !self.email.is_empty()).then_some(self.email.as_str())
    }
}

/// What an authorization code stands for.
#[derive(Debug, Serialize, Deserialize)]
struct CodeClaims {
    provider: Provider,
    client_id: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    nonce: Option<String>,
    person: Person,
    /// What Google would report as granted (space-separated), Google only.
    granted: Option<String>,
    /// `access_type=offline`: a refresh token comes with the tokens.
    offline: bool,
    exp: i64,
}

/// What an access token stands for.
#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    provider: Provider,
    person: Person,
    exp: i64,
    /// What it may do (Google: the granted scopes, space-separated).
    #[serde(default)]
    scope: String,
    /// The grant (Google refresh token) it came from: revoking either revokes both.
    #[serde(default)]
    grant: Option<String>,
    /// Makes every token unique, as Google's are.
    #[serde(default)]
    id: String,
}

impl DevProvider {
    /// An imitation whose URLs start with `base` (its mount point, e.g. `{public_url}/dev`).
    pub fn new(base: &Url, seal_key: [u8; 32]) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            base: base.as_str().trim_end_matches('/').to_owned(),
            key: seal_key,
            google: google::Keys::load()?,
            revoked: std::sync::Mutex::default(),
            google_refreshes: std::sync::atomic::AtomicU64::new(0),
            gmail_sent: std::sync::atomic::AtomicU64::new(0),
            events: std::sync::Mutex::default(),
            google_revocations: std::sync::atomic::AtomicU64::new(0),
            google_revoke_down: std::sync::atomic::AtomicBool::new(false),
            kakao_unlinks: std::sync::atomic::AtomicU64::new(0),
            apple_revocations: std::sync::atomic::AtomicU64::new(0),
            apple_authorized: std::sync::Mutex::default(),
            apple_id_token_fault: std::sync::Mutex::default(),
        }))
    }

    /// Send the events page's events to `target`.
    pub fn aim_events(&self, target: events::EventsTarget) {
        if let Ok(mut events) = self.events.lock() {
            *events = Some(target);
        }
    }

    fn events_target(&self) -> Option<events::EventsTarget> {
        self.events.lock().ok().and_then(|e| e.clone())
    }

    /// The issuer / endpoint base of one provider.
    fn url(&self, provider: Provider, path: &str) -> String {
        format!("{}/{provider}{path}", self.base)
    }

    fn seal<T: Serialize>(&self, claims: &T) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signature = crypto::sign(&self.key, &body);
        format!("{body}.{signature}")
    }

    fn unseal<T: DeserializeOwned>(&self, sealed: &str) -> Option<T> {
        let (body, signature) = sealed.split_once('.')?;
        if !crypto::verify(&self.key, body, signature) {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()
    }

    fn is_revoked(&self, token: &str) -> bool {
        self.revoked.lock().map(|set| set.contains(token)).unwrap_or(false)
    }

    fn revoke(&self, token: &str) {
        if let Ok(mut set) = self.revoked.lock() {
            set.insert(token.to_owned());
        }
    }

    fn access_token(&self, provider: Provider, person: &Person) -> String {
        self.scoped_access_token(provider, person, String::new(), None)
    }

    /// An access token for `scope`, from the grant `grant` (Google's offline access).
    fn scoped_access_token(&self, provider: Provider, person: &Person, scope: String, grant: Option<String>) -> String {
        let exp = Utc::now().timestamp() + ACCESS_TOKEN_TTL.as_secs() as i64;
        self.seal(&AccessClaims { provider, person: person.clone(), exp, scope, grant, id: crypto::random_token(8) })
    }

    /// The person behind a `Bearer` access token of `provider`, if it is one of ours and live.
    fn bearer(&self, req: &Request, provider: Provider) -> Option<Person> {
        self.bearer_claims(req, provider).map(|claims| claims.person)
    }

    /// The claims of a live `Bearer` access token of `provider` whose grant still stands.
    fn bearer_claims(&self, req: &Request, provider: Provider) -> Option<AccessClaims> {
        let token = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")?;
        if self.is_revoked(token.trim()) {
            return None;
        }
        let claims: AccessClaims = self.unseal(token.trim())?;
        let grant_revoked = claims.grant.as_deref().is_some_and(|g| self.is_revoked(&grant_key(g)));
        (claims.provider == provider && claims.exp > Utc::now().timestamp() && !grant_revoked).then_some(claims)
    }
}

/// Where a revoked grant is recorded among the revoked tokens.
fn grant_key(grant: &str) -> String {
    format!("grant:{grant}")
}

/// Point every provider that has no `client_id` at the imitation mounted at
/// `{public_url}/dev`, and return that imitation. Only `munji serve --dev` calls this.
pub fn configure(config: &mut crate::config::Config) -> anyhow::Result<Arc<DevProvider>> {
    let base = config.public_url.join("dev/")?;
    let seal_key =
        crypto::derive_key(config.secret_key.as_ref().map(|k| k.expose()).unwrap_or_default(), "dev provider");
    let dev = DevProvider::new(&base, seal_key)?;
    for provider in Provider::ALL {
        let settings = match provider {
            Provider::Google => &mut config.providers.google,
            Provider::Naver => &mut config.providers.naver,
            Provider::Kakao => &mut config.providers.kakao,
            _ => continue,
        };
        if settings.enabled() {
            continue;
        }
        let url = |path: &str| Url::parse(&dev.url(provider, path)).ok();
        settings.client_id = format!("munji-dev-{provider}");
        settings.client_secret = "dev-secret".to_owned().into();
        match provider {
            Provider::Google => {
                settings.issuer_url = url("");
                settings.risc = true;
            }
            Provider::Naver => {
                (settings.authorize_url, settings.token_url, settings.userinfo_url) =
                    (url("/oauth2.0/authorize"), url("/oauth2.0/token"), url("/v1/nid/me"));
            }
            _ => {
                (settings.authorize_url, settings.token_url, settings.userinfo_url) =
                    (url("/oauth/authorize"), url("/oauth/token"), url("/v2/user/me"));
                if settings.admin_key().is_none() {
                    settings.admin_key = Some(KAKAO_ADMIN_KEY.to_owned().into());
                    settings.unlink_url = url("/v1/user/unlink");
                }
            }
        }
    }
    if !config.providers.apple.enabled() {
        let apple = &mut config.providers.apple;
        apple.client_id = "munji-dev-apple".to_owned();
        apple.team_id = apple::TEAM_ID.to_owned();
        apple.key_id = apple::KEY_ID.to_owned();
        apple.private_key = apple::PRIVATE_KEY.to_owned().into();
        apple.issuer_url = other_site(&Url::parse(&dev.url(Provider::Apple, ""))?);
    }
    if config.providers.oidc.is_empty() {
        // A generic OpenID Connect provider, LINE-style (HS256 ID tokens), so that `--dev` shows
        // such a button too.
        let settings = crate::config::OidcProviderConfig {
            issuer_url: Url::parse(&format!("{}{}", dev.base, google::HS256_PATH))?,
            client_id: "munji-dev-oidc".to_owned(),
            client_secret: "dev-secret".to_owned().into(),
            display_name: "Dev OIDC".to_owned(),
            scopes: ["openid", "email", "profile"].map(str::to_owned).to_vec(),
            uid_claim: "sub".to_owned(),
            legacy_email_trust: crate::config::EmailTrust::Verified,
            id_token_hs256: true,
        };
        config.providers.oidc.insert("dev-oidc".to_owned(), settings);
    }
    dev.aim_events(events::EventsTarget::from_config(config));
    Ok(dev)
}

/// `url` under the other name of the loopback host (`localhost` for `127.0.0.1`, and back), so
/// that a page there is another site than munji's: Apple's form post then crosses sites, as
/// it does from appleid.apple.com. Any other host is kept.
pub fn other_site(url: &Url) -> Url {
    let mut other = url.clone();
    let swapped = match url.host_str() {
        Some("127.0.0.1") => other.set_host(Some("localhost")),
        Some("localhost") => other.set_host(Some("127.0.0.1")),
        _ => Ok(()),
    };
    if swapped.is_err() { url.clone() } else { other }
}

/// Every route of the imitation, to be nested at the mount point's path (`/dev`).
pub fn routes(dev: Arc<DevProvider>) -> impl Endpoint + 'static {
    Route::new()
        .at("/static.css", get(stylesheet))
        .nest("/events", events::routes())
        .nest("/google", google::routes().data(Provider::Google).data(google::IdTokens::Rs256))
        .nest(google::HS256_PATH, google::routes().data(Provider::Google).data(google::IdTokens::Hs256))
        .nest("/naver", naver::routes().data(Provider::Naver))
        .nest("/kakao", kakao::routes().data(Provider::Kakao))
        .nest("/apple", apple::routes().data(Provider::Apple))
        .data(dev)
        .after(|resp| async move {
            let mut resp = resp.unwrap_or_else(|e| e.into_response());
            // A page may bring its own (Apple's form post carries its script's hash).
            resp.headers_mut().entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CSP));
            Ok(resp)
        })
}

/// The imitation's pages: no script, styles from itself, never framed.
const CSP: &str = "default-src 'none'; style-src 'self'; frame-ancestors 'none'";

#[handler]
fn stylesheet() -> Response {
    Response::builder().content_type("text/css; charset=utf-8").body(include_str!("../static/munji.css"))
}

/// The parameters of an authorization request that the imitation carries through its form.
#[derive(Debug, Deserialize, Serialize, Clone, Default)]
struct AuthorizeParams {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    scope: Option<String>,
    access_type: Option<String>,
    response_mode: Option<String>,
}

/// The form's text in one language.
struct FormText {
    lang: &'static str,
    title_after: &'static str,
    banner: &'static str,
    heading_before: &'static str,
    heading_after: &'static str,
    lead: &'static str,
    uid: &'static str,
    email: &'static str,
    name: &'static str,
    email_verified: &'static str,
    consent_email: &'static str,
    grant_gmail: &'static str,
    hide_email: &'static str,
    allow: &'static str,
    cancel: &'static str,
}

static FORM_EN: FormText = FormText {
    lang: "en",
    title_after: " (dev imitation)",
    banner: "Development imitation: never mounted outside",
    heading_before: "Sign in to ",
    heading_after: "",
    lead: "Choose who you are. munji receives the answer in this provider's real wire format.",
    uid: "User id (uid)",
    email: "E-mail",
    name: "Name",
    email_verified: "The e-mail is verified",
    consent_email: "Share my e-mail (consent)",
    grant_gmail: "Allow sending mail as me (gmail.send)",
    hide_email: "Hide my e-mail (a private relay address)",
    allow: "Allow",
    cancel: "Cancel",
};

static FORM_KO: FormText = FormText {
    lang: "ko",
    title_after: " (개발용 모의 서비스)",
    banner: "개발용 모의 서비스입니다. 다음 명령으로 실행할 때만 열립니다:",
    heading_before: "",
    heading_after: " 로그인",
    lead: "로그인할 사람을 정해 주세요. munji는 이 서비스의 실제 응답 형식 그대로 결과를 받습니다.",
    uid: "사용자 ID (uid)",
    email: "이메일",
    name: "이름",
    email_verified: "인증된 이메일",
    consent_email: "이메일 제공에 동의",
    grant_gmail: "내 이름으로 메일 보내기 허용 (gmail.send)",
    hide_email: "나의 이메일 가리기 (비공개 중계 주소)",
    allow: "동의하고 계속하기",
    cancel: "취소",
};

#[derive(Template)]
#[template(path = "dev_provider.html")]
struct DevProviderView {
    t: &'static FormText,
    provider_name: &'static str,
    stylesheet: String,
    action: String,
    hidden: Vec<(&'static str, String)>,
    uid: String,
    email: String,
    name: String,
    /// The request asks for `gmail.send`: offer to refuse it (granular consent).
    asks_gmail: bool,
    /// Apple: offer to hide the address behind a private relay.
    offers_relay: bool,
}

/// `GET …/authorize`: the form that picks the person.
#[handler]
fn authorize_form(
    req: &Request,
    Query(params): Query<AuthorizeParams>,
    provider: Data<&Provider>,
    dev: Data<&Arc<DevProvider>>,
) -> Response {
    let provider = *provider.0;
    let hidden = [
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("state", &params.state),
        ("nonce", &params.nonce),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
        ("scope", &params.scope),
        ("access_type", &params.access_type),
        ("response_mode", &params.response_mode),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
    .collect();
    let uid = if provider == Provider::Kakao { "4100000001" } else { "10001" };
    let lang = crate::i18n::Lang::from_accept_language(
        req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()),
    );
    let t = match lang {
        crate::i18n::Lang::Ko => &FORM_KO,
        crate::i18n::Lang::En => &FORM_EN,
    };
    let view = DevProviderView {
        provider_name: lang.messages().brand(provider.as_str()).unwrap_or(provider.display_name()),
        t,
        stylesheet: format!("{}/static.css", dev.base),
        action: req.original_uri().path().to_owned(),
        hidden,
        uid: uid.to_owned(),
        email: "dev.user@example.com".to_owned(),
        name: "Dev User".to_owned(),
        asks_gmail: params.scope.as_deref().is_some_and(|s| s.split(' ').any(|s| s == crate::upstream::GMAIL_SEND)),
        offers_relay: provider == Provider::Apple,
    };
    match view.render() {
        Ok(html) => Html(html).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The submitted form: the carried parameters plus the chosen person.
#[derive(Debug, Deserialize)]
struct Decision {
    #[serde(flatten)]
    params: AuthorizeParams,
    decision: Option<String>,
    uid: Option<String>,
    email: Option<String>,
    email_verified: Option<String>,
    consent_email: Option<String>,
    name: Option<String>,
    /// Unticked: the person grants everything but `gmail.send` (granular consent).
    grant_gmail: Option<String>,
    /// Apple: hide the address behind a private relay.
    hide_email: Option<String>,
}

/// What the person decided on the form, as the parameters the provider sends back to the client.
enum Decided {
    /// `(redirect_uri, [(name, value)])`: a code and the state, or an error.
    Answer(Url, Vec<(&'static str, String)>),
    /// The form itself is wrong (no redirect URI, no uid).
    Refused(Response),
}

/// `POST …/authorize`: back to the client with a code (or `access_denied`).
#[handler]
fn authorize_decision(Form(form): Form<Decision>, provider: Data<&Provider>, dev: Data<&Arc<DevProvider>>) -> Response {
    match decide(&dev, *provider.0, form, "access_denied") {
        Decided::Answer(redirect_uri, params) => {
            let mut target = redirect_uri;
            target.query_pairs_mut().extend_pairs(&params);
            Redirect::see_other(target.as_str()).into_response()
        }
        Decided::Refused(resp) => resp,
    }
}

/// Read the form and make the code; `cancel_error` is what a cancel is called at this provider.
fn decide(dev: &DevProvider, provider: Provider, form: Decision, cancel_error: &'static str) -> Decided {
    let Some(redirect_uri) = form.params.redirect_uri.as_deref().and_then(|u| Url::parse(u).ok()) else {
        return Decided::Refused((StatusCode::BAD_REQUEST, "redirect_uri is missing or not a URL").into_response());
    };
    let mut params = Vec::new();
    {
        if form.decision.as_deref() == Some("deny") {
            params.push(("error", cancel_error.to_owned()));
            params.push(("error_description", "The user denied the request".to_owned()));
        } else {
            let uid = form.uid.unwrap_or_default().trim().to_owned();
            let uid_ok = !uid.is_empty() && (provider != Provider::Kakao || uid.bytes().all(|b| b.is_ascii_digit()));
            if !uid_ok {
                return Decided::Refused(
                    (StatusCode::BAD_REQUEST, "uid is required (Kakao ids are digits only)").into_response(),
                );
            }
            let person = Person {
                uid,
                email: form.email.unwrap_or_default().trim().to_owned(),
                email_verified: form.email_verified.is_some(),
                consent_email: form.consent_email.is_some(),
                name: form.name.unwrap_or_default().trim().to_owned(),
                hide_email: form.hide_email.is_some(),
            };
            let code = dev.seal(&CodeClaims {
                provider,
                client_id: form.params.client_id.clone().unwrap_or_default(),
                redirect_uri: redirect_uri.to_string(),
                code_challenge: form.params.code_challenge.clone(),
                nonce: form.params.nonce.clone(),
                granted: form
                    .params
                    .scope
                    .as_deref()
                    .map(|scope| google::granted_scopes(scope, form.grant_gmail.is_some())),
                offline: form.params.access_type.as_deref() == Some("offline"),
                person,
                exp: Utc::now().timestamp() + CODE_TTL.as_secs() as i64,
            });
            params.push(("code", code));
        }
        if let Some(state) = form.params.state {
            params.push(("state", state));
        }
    }
    Decided::Answer(redirect_uri, params)
}

/// A token request, from a form body or (as Naver's samples send it) the query string.
#[derive(Debug, Deserialize, Default)]
struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    refresh_token: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    /// Read only by the HS256 imitation, which signs ID tokens with it (as LINE does).
    client_secret: Option<String>,
    code_verifier: Option<String>,
}

/// Why a token request failed, before each provider words it its own way.
#[derive(Debug)]
enum TokenError {
    UnsupportedGrant,
    InvalidGrant(&'static str),
}

/// Check a code exchange: the code is ours, live, for this provider, client and redirect URI,
/// and the PKCE verifier matches the challenge (S256).
fn redeem(dev: &DevProvider, provider: Provider, request: &TokenRequest) -> Result<CodeClaims, TokenError> {
    if request.grant_type.as_deref() != Some("authorization_code") {
        return Err(TokenError::UnsupportedGrant);
    }
    let claims: CodeClaims =
        dev.unseal(request.code.as_deref().unwrap_or_default()).ok_or(TokenError::InvalidGrant("unknown code"))?;
    if claims.provider != provider || claims.exp < Utc::now().timestamp() {
        return Err(TokenError::InvalidGrant("code expired or for another provider"));
    }
    if request.client_id.as_deref().is_some_and(|c| c != claims.client_id) {
        return Err(TokenError::InvalidGrant("code issued to another client"));
    }
    if request.redirect_uri.as_deref().is_some_and(|r| r != claims.redirect_uri) {
        return Err(TokenError::InvalidGrant("redirect_uri mismatch"));
    }
    if let Some(challenge) = &claims.code_challenge {
        let verifier = request.code_verifier.as_deref().ok_or(TokenError::InvalidGrant("code_verifier missing"))?;
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if !crypto::constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
            return Err(TokenError::InvalidGrant("code_verifier mismatch"));
        }
    }
    Ok(claims)
}

/// Read a token request from the query string and the form body (body wins).
async fn token_request(req: &Request, body: poem::Body) -> TokenRequest {
    let from_query: TokenRequest = req.params().unwrap_or_default();
    let bytes = body.into_vec().await.unwrap_or_default();
    let from_body: TokenRequest = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    TokenRequest {
        grant_type: from_body.grant_type.or(from_query.grant_type),
        code: from_body.code.or(from_query.code),
        refresh_token: from_body.refresh_token.or(from_query.refresh_token),
        redirect_uri: from_body.redirect_uri.or(from_query.redirect_uri),
        client_id: from_body.client_id.or(from_query.client_id),
        client_secret: from_body.client_secret.or(from_query.client_secret),
        code_verifier: from_body.code_verifier.or(from_query.code_verifier),
    }
}
