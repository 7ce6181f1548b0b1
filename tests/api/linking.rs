//! Account linking (docs/identity.md): intents in the ephemeral store, bound to the user, the
//! browser and its session; `IDENTITY_ALREADY_LINKED`; `LAST_IDENTITY`; the API's link tickets.

use munji::{store::identities, upstream::Provider};
use reqwest::Client;
use serde_json::Value;
use url::Url;

use crate::helpers::{
    Backend, TestApp,
    social::{Person, form_value, location},
};

crate::on_every_backend!(
    a_google_user_links_kakao_and_signs_in_with_either,
    bad_link_states_are_refused_and_change_nothing,
    an_identity_owned_by_someone_else_is_refused,
    the_last_identity_cannot_be_unlinked_and_unlinking_ends_other_sessions,
    an_api_started_link_finishes_only_in_the_same_users_browser,
);

pub fn google_person() -> Person {
    Person::new(100, "linker@example.com")
}

pub fn kakao_person() -> Person {
    Person::new(4_100_000_100, "linker@kakao.com")
}

async fn csrf_of_account(app: &TestApp, browser: &Client) -> String {
    let page = app.get_account(browser).await.text().await.unwrap();
    form_value(&page, "csrf").expect("the account page has a CSRF field")
}

/// `POST /account/link/{provider}`: where the provider is asked.
pub async fn start_link(app: &TestApp, browser: &Client, provider: Provider) -> Url {
    let csrf = csrf_of_account(app, browser).await;
    let resp = browser
        .post(app.url(&format!("/account/link/{provider}")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    location(&resp, &app.base_url)
}

async fn identity_count(app: &TestApp) -> i64 {
    app.count_identities().await
}

async fn a_google_user_links_kakao_and_signs_in_with_either(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Google, &google_person(), "linker").await;

    let authorize = start_link(&app, &browser, Provider::Kakao).await;
    let callback = app.provider_decides(&browser, &authorize, &kakao_person(), true).await;
    let done = browser.get(callback).send().await.unwrap();

    assert_eq!(location(&done, &app.base_url).path(), "/account");
    let account = app.get_account(&browser).await.text().await.unwrap();
    assert!(account.contains("linker@kakao.com") && account.contains("provider-kakao"));
    for (provider, person) in [(Provider::Kakao, kakao_person()), (Provider::Google, google_person())] {
        let fresh = app.browser();
        let resp = app.sign_in_with(&fresh, provider, &person).await;
        assert_eq!(location(&resp, &app.base_url).path(), "/account", "{provider}");
        assert_eq!(app.signed_in_username(&fresh).await.as_deref(), Some("linker"), "{provider}");
    }
    let kakao = identities::find_by_provider_uid(&app.state.db, munji::upstream::Provider::Kakao, &kakao_person().uid)
        .await
        .unwrap()
        .unwrap();
    let events = munji::store::audit::list_for_user(&app.state.db, kakao.user_id, 20).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "link" && e.detail.0["provider"] == "kakao"));

    // Linking a second account of the same provider is allowed.
    let authorize = start_link(&app, &browser, Provider::Kakao).await;
    let callback =
        app.provider_decides(&browser, &authorize, &Person::new(4_100_000_101, "second@kakao.com"), true).await;
    assert_eq!(location(&browser.get(callback).send().await.unwrap(), &app.base_url).path(), "/account");
    assert_eq!(identities::list_for_user(&app.state.db, kakao.user_id).await.unwrap().len(), 3);
}

async fn bad_link_states_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let victim = app.browser();
    app.sign_up_with(&victim, Provider::Google, &google_person(), "victim").await;
    let attacker = app.browser();
    app.sign_up_with(&attacker, Provider::Naver, &Person::new(666, "attacker@example.com"), "attacker").await;
    let before = identity_count(&app).await;

    let authorize = start_link(&app, &victim, Provider::Kakao).await;
    let callback = app.provider_decides(&victim, &authorize, &kakao_person(), true).await;
    let with_state = |state: &str| {
        let mut url = callback.clone();
        let code = callback.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        url.query_pairs_mut().clear().append_pair("code", &code).append_pair("state", state);
        url
    };
    let state = callback.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    // Tampered signature.
    let tampered = format!("{}x", &state[..state.len() - 1]);
    assert_eq!(victim.get(with_state(&tampered)).send().await.unwrap().status(), 400);
    // Finished in another browser (the attacker's, with its own session).
    assert_eq!(attacker.get(callback.clone()).send().await.unwrap().status(), 400);
    // Replayed: the first (foreign) use spent it.
    assert_eq!(victim.get(callback.clone()).send().await.unwrap().status(), 400);

    // Expired: the intent is gone from the store.
    let authorize = start_link(&app, &victim, Provider::Kakao).await;
    let id = authorize.query_pairs().find(|(k, _)| k == "state").unwrap().1.split('.').next().unwrap().to_owned();
    app.state.ephemeral.delete(&format!("flow:{id}")).await.unwrap();
    let callback = app.provider_decides(&victim, &authorize, &kakao_person(), true).await;
    assert_eq!(victim.get(callback).send().await.unwrap().status(), 400);

    // Finished by another user: same browser, but the starter signed out and someone else in.
    let shared = app.browser();
    app.sign_in_with(&shared, Provider::Google, &google_person()).await;
    let authorize = start_link(&app, &shared, Provider::Kakao).await;
    let callback = app.provider_decides(&shared, &authorize, &kakao_person(), true).await;
    let csrf = csrf_of_account(&app, &shared).await;
    app.post_logout(&shared, &csrf).await;
    app.sign_in_with(&shared, Provider::Naver, &Person::new(666, "attacker@example.com")).await;
    let resp = shared.get(callback).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("another account or in another session"));

    assert_eq!(identity_count(&app).await, before, "nothing was linked");
}

async fn an_identity_owned_by_someone_else_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.sign_up_with(&app.browser(), Provider::Kakao, &kakao_person(), "owner").await;
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Google, &google_person(), "other").await;

    let authorize = start_link(&app, &browser, Provider::Kakao).await;
    let callback = app.provider_decides(&browser, &authorize, &kakao_person(), true).await;
    let resp = browser.get(callback).send().await.unwrap();

    assert_eq!(resp.status(), 409);
    assert!(resp.text().await.unwrap().contains("IDENTITY_ALREADY_LINKED"));
    let kakao = identities::find_by_provider_uid(&app.state.db, munji::upstream::Provider::Kakao, &kakao_person().uid)
        .await
        .unwrap()
        .unwrap();
    let owner = munji::store::users::find_by_id(&app.state.db, kakao.user_id).await.unwrap().unwrap();
    assert_eq!(owner.username, "owner", "still the owner's");
}

async fn the_last_identity_cannot_be_unlinked_and_unlinking_ends_other_sessions(backend: Backend) {
    let app = TestApp::builder(backend).with_web_client().spawn().await;
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Google, &google_person(), "unlinker").await;
    let google =
        identities::find_by_provider_uid(&app.state.db, munji::upstream::Provider::Google, &google_person().uid)
            .await
            .unwrap()
            .unwrap();

    // Page and API both refuse the last identity.
    let csrf = csrf_of_account(&app, &browser).await;
    let resp = browser
        .post(app.url(&format!("/account/unlink/{}", google.id)))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    assert!(resp.text().await.unwrap().contains("LAST_IDENTITY"));
    let (access, _) = app.tokens_for(&browser).await;
    let resp = app.delete_identity(&access, google.id).await;
    assert_eq!(resp.status(), 409);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "LAST_IDENTITY");

    // With a second identity, one can go; the user's other sessions end, the caller's stays.
    let authorize = start_link(&app, &browser, Provider::Kakao).await;
    let callback = app.provider_decides(&browser, &authorize, &kakao_person(), true).await;
    browser.get(callback).send().await.unwrap();
    let other_device = app.browser();
    app.sign_in_with(&other_device, Provider::Kakao, &kakao_person()).await;
    let (other_access, _) = app.tokens_for(&other_device).await;
    let (access, _) = app.tokens_for(&browser).await;

    let someone_elses = app.delete_identity(&access, uuid::Uuid::new_v4()).await;
    assert_eq!(someone_elses.status(), 404);
    let resp = app.delete_identity(&access, google.id).await;
    assert_eq!(resp.status(), 204);

    assert!(
        identities::find_by_provider_uid(&app.state.db, munji::upstream::Provider::Google, &google_person().uid)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(app.signed_in_username(&other_device).await, None, "the other device is signed out");
    assert_eq!(app.verify_status(&other_access).await, 401);
    assert_eq!(app.verify_status(&access).await, 200, "the caller's session stays");
    assert_eq!(app.signed_in_username(&browser).await.as_deref(), Some("unlinker"));
}

async fn an_api_started_link_finishes_only_in_the_same_users_browser(backend: Backend) {
    let app = TestApp::builder(backend).with_web_client().spawn().await;
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Google, &google_person(), "apiuser").await;
    let (access, _) = app.tokens_for(&browser).await;
    let start = |access: String| {
        let app = &app;
        async move {
            let resp = app.post_identity_link(&access, "kakao").await;
            assert_eq!(resp.status(), 200);
            Url::parse(resp.json::<Value>().await.unwrap()["authorize_url"].as_str().unwrap()).unwrap()
        }
    };

    // Someone else's browser opens it: refused, nothing linked, and the ticket is spent.
    let ticket_url = start(access.clone()).await;
    assert!(ticket_url.as_str().starts_with(&app.base_url));
    let attacker = app.browser();
    app.sign_up_with(&attacker, Provider::Naver, &Person::new(667, "mallory@example.com"), "mallory").await;
    assert_eq!(attacker.get(ticket_url.clone()).send().await.unwrap().status(), 400);
    assert_eq!(browser.get(ticket_url).send().await.unwrap().status(), 400, "spent");

    // A browser without a session is asked to sign in first, then continues.
    let ticket_url = start(access.clone()).await;
    let fresh = app.browser();
    let resp = fresh.get(ticket_url.clone()).send().await.unwrap();
    assert_eq!(location(&resp, &app.base_url).path(), "/login");

    // The same user's browser: the link completes.
    let resp = browser.get(ticket_url).send().await.unwrap();
    let authorize = location(&resp, &app.base_url);
    let callback = app.provider_decides(&browser, &authorize, &kakao_person(), true).await;
    assert_eq!(location(&browser.get(callback).send().await.unwrap(), &app.base_url).path(), "/account");
    let list = app.get_api_json("/me/identities", &access).await;
    let providers: Vec<&str> =
        list["identities"].as_array().unwrap().iter().map(|i| i["provider"].as_str().unwrap()).collect();
    assert_eq!(providers, ["google", "kakao"]);
    // Mallory's own identity stayed hers: nothing moved between accounts.
    let mallory = identities::find_by_provider_uid(&app.state.db, munji::upstream::Provider::Naver, "667")
        .await
        .unwrap()
        .unwrap();
    let kakao = identities::find_by_provider_uid(&app.state.db, munji::upstream::Provider::Kakao, &kakao_person().uid)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(mallory.user_id, kakao.user_id);
}
