//! How often the hot paths ask the ephemeral store (docs/operations.md): `/api/v1/verify`,
//! `/introspect` and a `client_credentials` grant make one round trip each, rate limits and
//! revocation checks together, whatever the token and whether or not it is refused. Counted by
//! the store itself ([`munji::ephemeral::Ephemeral::round_trips`]).

use reqwest::Response;
use serde_json::Value;

use crate::{
    gmail::signed_up,
    helpers::{Backend, TestApp},
    rate_limits::behind_proxy,
};

crate::on_every_backend!(
    verify_introspect_and_client_credentials_make_one_round_trip_each,
    a_refused_or_limited_request_makes_one_round_trip_too,
);

/// The round trips `request` made, and its response.
async fn round_trips<F: Future<Output = Response>>(app: &TestApp, request: F) -> (u64, Response) {
    let before = app.state.ephemeral.round_trips();
    let resp = request.await;
    (app.state.ephemeral.round_trips() - before, resp)
}

async fn verify_introspect_and_client_credentials_make_one_round_trip_each(backend: Backend) {
    let app = TestApp::builder(backend).with_web_client().with_service_client("svc", &["read"]).spawn().await;
    let svc = app.registered("svc");
    // The first grant fills the client cache from the database; count from the second.
    app.service_token(svc).await;

    let (trips, resp) = round_trips(&app, app.client_credentials(svc)).await;
    assert_eq!((trips, resp.status().as_u16()), (1, 200), "client_credentials");
    let service: Value = resp.json().await.unwrap();
    let service = service["access_token"].as_str().unwrap().to_owned();

    let (trips, resp) = round_trips(&app, app.get_verify(&service)).await;
    assert_eq!((trips, resp.status().as_u16()), (1, 200), "verify of a service token");
    let (trips, resp) = round_trips(&app, app.post_introspect(Some(svc), &service)).await;
    assert_eq!(trips, 1, "introspection of a service token");
    assert_eq!(resp.json::<Value>().await.unwrap()["active"], true);

    let browser = signed_up(&app).await;
    let (access, refresh) = app.tokens_for(&browser).await;
    let web = app.web_client();
    let (trips, resp) = round_trips(&app, app.get_verify(&access)).await;
    assert_eq!((trips, resp.status().as_u16()), (1, 200), "verify of a user token");
    let (trips, resp) = round_trips(&app, app.post_introspect(Some(web), &access)).await;
    assert_eq!(trips, 1, "introspection of a user token");
    assert_eq!(resp.json::<Value>().await.unwrap()["active"], true);
    let (trips, resp) = round_trips(&app, app.post_introspect(Some(web), &refresh)).await;
    assert_eq!(trips, 1, "introspection of a refresh token");
    assert_eq!(resp.json::<Value>().await.unwrap()["token_type"], "refresh_token");

    // Revoked, the same tokens are refused, still in one round trip.
    assert_eq!(app.post_revoke(web, &access).await.status(), 200);
    assert_eq!(app.post_revoke(svc, &service).await.status(), 200);
    for (token, client) in [(&access, web), (&refresh, web), (&service, svc)] {
        let (trips, resp) = round_trips(&app, app.post_introspect(Some(client), token)).await;
        assert_eq!(trips, 1, "introspection of a revoked token");
        assert_eq!(resp.json::<Value>().await.unwrap(), serde_json::json!({"active": false}));
    }
    for token in [&access, &service] {
        let (trips, resp) = round_trips(&app, app.get_verify(token)).await;
        assert_eq!((trips, resp.status().as_u16()), (1, 401), "verify of a revoked token");
    }
}

async fn a_refused_or_limited_request_makes_one_round_trip_too(backend: Backend) {
    let app = behind_proxy(backend, "OAUTH", "3/min").with_service_client("svc", &["read"]).spawn().await;
    let svc = app.registered("svc");
    let post = |path: &str| app.oauth_post(path, Some(svc)).header("x-forwarded-for", "198.51.100.7");
    let (trips, resp) =
        round_trips(&app, async { post("/introspect").form(&[("token", "junk")]).send().await.unwrap() }).await;
    assert_eq!(trips, 1, "a junk token");
    assert_eq!(resp.json::<Value>().await.unwrap(), serde_json::json!({"active": false}));
    let wrong = app.oauth_post("/token", None).header("x-forwarded-for", "198.51.100.7");
    let (trips, resp) = round_trips(&app, async {
        wrong.basic_auth("svc", Some("wrong")).form(&[("grant_type", "client_credentials")]).send().await.unwrap()
    })
    .await;
    assert_eq!((trips, resp.status().as_u16()), (1, 401), "a wrong secret");
    let (trips, resp) = round_trips(&app, async { post("/token").body("not a form").send().await.unwrap() }).await;
    assert_eq!((trips, resp.status().as_u16()), (1, 400), "a malformed request is counted by its address");
    // Over the address's limit now (3 counted): refused, in one round trip, before any work.
    let (trips, resp) =
        round_trips(&app, async { post("/introspect").form(&[("token", "junk")]).send().await.unwrap() }).await;
    assert_eq!((trips, resp.status().as_u16()), (1, 429), "over the limit");
}

// An unreachable Redis is what the test is about.
#[tokio::test]
async fn with_the_ephemeral_store_down_introspection_answers_503_and_grants_go_on() {
    let app = TestApp::builder(Backend::PostgresRedis)
        .redis_url("redis://127.0.0.1:1")
        .with_service_client("svc", &["read"])
        .spawn()
        .await;
    let svc = app.registered("svc");
    // Rate limits fail open: a service still gets its token.
    let service = app.service_token(svc).await;
    let resp = app.post_introspect(Some(svc), &service).await;
    assert_eq!(resp.status(), 503, "never active while the revocations cannot be read");
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");
    assert_eq!(app.get_verify(&service).await.status(), 503);
}
