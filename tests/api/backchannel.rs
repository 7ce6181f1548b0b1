//! Back-channel logout (docs/logout.md): a real HTTP receiver in the test gets a logout token
//! for each way a session ends, checks it with a JWT library against `/jwks`, and sees
//! deliveries retried, made once across two instances, and made after a restart.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use munji::upstream::Provider;
use poem::{EndpointExt as _, Request, Response, http::StatusCode};

use crate::{
    helpers::{
        Backend, TestApp,
        clients::{AppOptions, RegisteredClient},
        oidc::rp_http,
        social::{Person, form_value},
    },
    logout::{register_app, sign_in_to},
};

crate::on_every_backend!(
    signing_out_tells_the_app_with_a_valid_logout_token,
    signing_out_everywhere_tells_the_app_for_every_session,
    a_failed_delivery_is_retried_with_the_same_jti,
    an_unlink_tells_the_app_of_the_other_sessions,
    a_legacy_claim_tells_the_app_of_the_earlier_session,
);

/// A relying party's back-channel logout endpoint: records every `logout_token` posted to it
/// and answers 200, or 503 while `failing`.
pub struct Receiver {
    pub url: String,
    tokens: Arc<Mutex<Vec<String>>>,
    failing: Arc<AtomicBool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicBool::new(false));
        let (seen, down) = (tokens.clone(), failing.clone());
        let endpoint = poem::endpoint::make(move |req: Request| {
            let (seen, down) = (seen.clone(), down.clone());
            async move {
                let body = req.into_body().into_string().await.unwrap_or_default();
                let token = url::form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into_owned());
                seen.lock().unwrap().extend(token);
                let status = if down.load(Ordering::SeqCst) { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
                Response::builder().status(status).finish()
            }
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/backchannel", listener.local_addr().unwrap());
        let acceptor = poem::listener::TcpAcceptor::from_std(listener).unwrap();
        let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint.boxed()));
        Self { url, tokens, failing, server }
    }

    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Every token posted so far (answered or not).
    pub fn received(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }

    /// Wait (up to 10 s) until `n` tokens have been posted; they are delivered in the background.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..200 {
            if self.received().len() >= n {
                return self.received();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} logout tokens, got {:?}", self.received());
    }
}

/// A logout token checked as a relying party must (Back-Channel Logout 1.0 §2.6): signature
/// against the issuer's `/jwks`, `typ`, `iss`, `aud`, `iat`/`exp`, the event, no `nonce`.
/// Returns its claims.
pub async fn validate(base_url: &str, client_id: &str, token: &str) -> serde_json::Value {
    validate_with_keys_of(base_url, base_url, client_id, token).await
}

/// [`validate`], with the keys fetched from the instance at `keys_from`.
async fn validate_with_keys_of(base_url: &str, keys_from: &str, client_id: &str, token: &str) -> serde_json::Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks: JwkSet = rp_http().get(format!("{keys_from}/jwks")).send().await.unwrap().json().await.unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the signing key is published");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[base_url]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat", "sub"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims;
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object(), "{claims}");
    assert!(claims.get("nonce").is_none());
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!((1..=120).contains(&lifetime), "exp at most two minutes after iat: {lifetime}");
    claims
}

/// Register client `bc`, which listens at `receiver`.
pub async fn listening_app(app: &TestApp, receiver: &Receiver) -> RegisteredClient {
    register_app(app, "bc", AppOptions { backchannel_logout_uri: Some(&receiver.url), ..Default::default() }).await
}

/// User `uid` signs up (or in again) in a new browser, and client `bc` gets tokens under that
/// session; returns the browser and the ID token's claims.
pub async fn signed_in_to_bc(app: &TestApp, bc: &RegisteredClient, uid: u64) -> (reqwest::Client, serde_json::Value) {
    let browser = app.browser();
    let person = Person::new(uid, &format!("bc{uid}@example.com"));
    if app.sign_in_with(&browser, Provider::Google, &person).await.status() != 303
        || app.signed_in_username(&browser).await.is_none()
    {
        app.sign_up_with(&browser, Provider::Google, &person, &format!("bc{uid}")).await;
    }
    let issued = sign_in_to(app, &browser, bc).await;
    (browser, crate::logout::payload(issued["id_token"].as_str().unwrap()))
}

/// The account page's CSRF field, then `POST /logout` (with `?all=1` for everywhere).
async fn sign_out(app: &TestApp, browser: &reqwest::Client, everywhere: bool) {
    let html = app.get_account(browser).await.text().await.unwrap();
    let csrf = form_value(&html, "csrf").unwrap();
    let path = if everywhere { "/logout?all=1" } else { "/logout" };
    let resp = browser.post(app.url(path)).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), 303);
}

fn deliveries(metrics: &str, outcome: &str) -> u64 {
    let line = format!("munji_backchannel_deliveries_total{{outcome=\"{outcome}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&line)).map_or(0, |v| v.trim().parse().unwrap())
}

async fn signing_out_tells_the_app_with_a_valid_logout_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    let bc = listening_app(&app, &receiver).await;
    let (browser, id_claims) = signed_in_to_bc(&app, &bc, 1).await;
    sign_out(&app, &browser, false).await;
    let tokens = receiver.wait_for(1).await;
    let claims = validate(&app.base_url, "bc", &tokens[0]).await;
    assert_eq!(claims["sid"], id_claims["sid"]);
    assert_eq!(claims["sub"], id_claims["sub"]);
    // Once per ended session and client: nothing more arrives.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(deliveries(&app.get_metrics().await, "delivered"), 1);
    let user_id = uuid::Uuid::parse_str(id_claims["sub"].as_str().unwrap()).unwrap();
    let events = munji::store::audit::list_for_user(&app.state.db, user_id, 10).await.unwrap();
    let told = events.iter().find(|e| e.kind == "backchannel_logout").expect("the delivery is audited");
    assert_eq!(told.detail.0, serde_json::json!({"client_id": "bc", "outcome": "delivered"}));
}

async fn signing_out_everywhere_tells_the_app_for_every_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    let bc = listening_app(&app, &receiver).await;
    let (first, first_claims) = signed_in_to_bc(&app, &bc, 2).await;
    let (_second, second_claims) = signed_in_to_bc(&app, &bc, 2).await;
    assert_ne!(first_claims["sid"], second_claims["sid"]);
    sign_out(&app, &first, true).await;
    let tokens = receiver.wait_for(2).await;
    let mut told = Vec::new();
    for token in &tokens {
        told.push(validate(&app.base_url, "bc", token).await["sid"].as_str().unwrap().to_owned());
    }
    told.sort();
    let mut expected = [first_claims["sid"].as_str().unwrap(), second_claims["sid"].as_str().unwrap()];
    expected.sort();
    assert_eq!(told, expected);
}

async fn a_failed_delivery_is_retried_with_the_same_jti(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    receiver.fail(true);
    let bc = listening_app(&app, &receiver).await;
    let (browser, _) = signed_in_to_bc(&app, &bc, 3).await;
    sign_out(&app, &browser, false).await;
    let first = receiver.wait_for(1).await;
    receiver.fail(false);
    // The next attempt is 10 s later: move munji's clock rather than wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "no retry before its time");
    app.state.clock.advance(Duration::from_secs(11));
    let both = receiver.wait_for(2).await;
    let (a, b) = (validate(&app.base_url, "bc", &first[0]).await, validate(&app.base_url, "bc", &both[1]).await);
    assert_eq!(a["jti"], b["jti"], "the same jti on every attempt");
    assert_ne!(a["iat"], b["iat"], "each attempt is signed anew");
    let metrics = app.get_metrics().await;
    assert_eq!((deliveries(&metrics, "failed"), deliveries(&metrics, "delivered")), (1, 1));
}

/// Two instances on one PostgreSQL and Redis, both delivering: each ended session reaches the
/// app once (the outbox row is claimed by one instance at a time).
#[tokio::test]
async fn two_instances_deliver_each_logout_once() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    let sibling = app.sibling(&[]).await;
    let receiver = Receiver::start().await;
    let bc = listening_app(&app, &receiver).await;
    let mut sids = Vec::new();
    for uid in 10..16 {
        let (browser, claims) = signed_in_to_bc(&app, &bc, uid).await;
        sign_out(&app, &browser, false).await;
        sids.push(claims["sid"].as_str().unwrap().to_owned());
        // Both instances are looking for work all the while.
        sibling.state.backchannel.notify_one();
    }
    let tokens = receiver.wait_for(sids.len()).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let tokens_later = receiver.received();
    assert_eq!(tokens_later.len(), tokens.len(), "no second delivery: {tokens_later:?}");
    let mut told = Vec::new();
    for token in &tokens_later {
        told.push(validate(&app.base_url, "bc", token).await["sid"].as_str().unwrap().to_owned());
    }
    told.sort();
    sids.sort();
    assert_eq!(told, sids);
}

/// A delivery that was queued (and failed once) before munji stopped is made by the instance
/// that starts next.
#[tokio::test]
async fn a_delivery_survives_a_restart() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let receiver = Receiver::start().await;
    receiver.fail(true);
    let bc = listening_app(&app, &receiver).await;
    let (browser, claims) = signed_in_to_bc(&app, &bc, 20).await;
    sign_out(&app, &browser, false).await;
    receiver.wait_for(1).await;
    app.stop();
    receiver.fail(false);
    let restarted = app.sibling(&[]).await;
    restarted.state.clock.advance(Duration::from_secs(11));
    let tokens = receiver.wait_for(2).await;
    let (issuer, keys) = (&app.base_url, &restarted.base_url);
    let delivered = validate_with_keys_of(issuer, keys, "bc", &tokens[1]).await;
    assert_eq!(delivered["sid"], claims["sid"]);
    assert_eq!(delivered["jti"], validate_with_keys_of(issuer, keys, "bc", &tokens[0]).await["jti"]);
}

async fn an_unlink_tells_the_app_of_the_other_sessions(backend: Backend) {
    use crate::linking::{google_person, kakao_person, start_link};
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    let bc = listening_app(&app, &receiver).await;
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Google, &google_person(), "unlinker").await;
    let authorize = start_link(&app, &browser, Provider::Kakao).await;
    browser.get(app.provider_decides(&browser, &authorize, &kakao_person(), true).await).send().await.unwrap();
    let other_device = app.browser();
    app.sign_in_with(&other_device, Provider::Kakao, &kakao_person()).await;
    let other_claims = crate::logout::payload(sign_in_to(&app, &other_device, &bc).await["id_token"].as_str().unwrap());

    let google = munji::store::identities::find_by_provider_uid(&app.state.db, Provider::Google, &google_person().uid)
        .await
        .unwrap()
        .unwrap();
    let html = app.get_account(&browser).await.text().await.unwrap();
    let csrf = form_value(&html, "csrf").unwrap();
    let path = format!("/account/unlink/{}", google.id);
    assert_eq!(browser.post(app.url(&path)).form(&[("csrf", csrf.as_str())]).send().await.unwrap().status(), 303);
    let tokens = receiver.wait_for(1).await;
    assert_eq!(validate(&app.base_url, "bc", &tokens[0]).await["sid"], other_claims["sid"]);
}

async fn a_legacy_claim_tells_the_app_of_the_earlier_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    crate::legacy::import_fixture(&app).await;
    let receiver = Receiver::start().await;
    let bc = listening_app(&app, &receiver).await;
    // kim.minsu has a Naver and a Google mapping; the Naver one is claimed first.
    let first = app.browser();
    app.sign_in_with(&first, Provider::Naver, &Person::new(31, "kim.minsu@naver.com")).await;
    let first_claims = crate::logout::payload(sign_in_to(&app, &first, &bc).await["id_token"].as_str().unwrap());
    // Claiming the Google mapping ends every other session of the account.
    let second = app.browser();
    app.sign_in_with(&second, Provider::Google, &Person::new(32, "kim.minsu@gmail.com")).await;
    let tokens = receiver.wait_for(1).await;
    assert_eq!(validate(&app.base_url, "bc", &tokens[0]).await["sid"], first_claims["sid"]);
}
