//! Social login (docs/identity.md): sign-up, returning users, changed e-mails, never merging
//! by e-mail, consent, registration modes, and every way a callback's state can be wrong.

use munji::{
    store::{identities, users},
    upstream::Provider,
};

use crate::helpers::{
    Backend, TestApp,
    social::{Person, form_value, location},
};

crate::on_every_backend!(
    a_new_user_signs_up_with_each_provider,
    the_same_uid_signs_in_to_the_same_account_and_a_changed_email_is_kept_in_history,
    another_uid_with_a_known_email_is_another_person,
    a_declined_email_shows_the_consent_page_and_creates_nothing,
    closed_registration_creates_nothing,
    auto_registration_creates_the_account_at_once_with_a_unique_username,
    bad_states_are_refused_and_change_nothing,
    a_cancel_at_the_provider_shows_a_page_to_try_again,
    sign_out_ends_the_session_and_needs_the_csrf_field,
);

async fn a_new_user_signs_up_with_each_provider(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (i, provider) in Provider::ALL.into_iter().enumerate() {
        // Arrange
        let browser = app.browser();
        let person = Person::new(1000 + i as u64, &format!("person{i}@example.com"));

        // Act: provider round trip, then the sign-up form with the suggested values.
        let callback = app.sign_in_with(&browser, provider, &person).await;
        assert_eq!(callback.status(), 303, "{provider}");
        assert_eq!(location(&callback, &app.base_url).path(), "/signup");
        assert_eq!(app.count_users().await, i as i64, "{provider}: nothing exists before the form is sent");
        let page = browser.get(app.url("/signup")).send().await.unwrap().text().await.unwrap();
        assert_eq!(form_value(&page, "username").as_deref(), Some(format!("person{i}").as_str()), "prefilled");
        assert_eq!(form_value(&page, "display_name").as_deref(), Some("Test Person"));
        let csrf = form_value(&page, "csrf").unwrap();
        let done = app.post_signup(&browser, &format!("person{i}"), "Test Person", &csrf).await;

        // Assert
        assert_eq!(done.status(), 303, "{provider}");
        assert_eq!(location(&done, &app.base_url).path(), "/account");
        assert_eq!(app.signed_in_username(&browser).await.as_deref(), Some(format!("person{i}").as_str()));
        let identity = identities::find_by_provider_uid(&app.state.db, provider, &person.uid).await.unwrap().unwrap();
        assert_eq!(identity.email.as_deref(), Some(person.email.as_str()));
        assert_eq!(identity.email_verified, provider != Provider::Naver, "Naver makes no claim");
        assert!(identity.last_login_at.is_some());
    }
    assert_eq!(app.count_users().await, 3);
    let metrics = app.get_metrics().await;
    assert!(metrics.contains(r#"munji_logins_total{outcome="signup",provider="kakao"} 1"#), "{metrics}");
}

async fn the_same_uid_signs_in_to_the_same_account_and_a_changed_email_is_kept_in_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (i, provider) in Provider::ALL.into_iter().enumerate() {
        let person = Person::new(2000 + i as u64, &format!("before{i}@example.com"));
        let signed_up = app.sign_up_with(&app.browser(), provider, &person, &format!("returning{i}")).await;
        assert_eq!(signed_up.status(), 303);

        // The provider now reports another address for the same uid (Naver users can change it).
        let moved = Person { email: format!("after{i}@example.com"), ..person.clone() };
        let browser = app.browser();
        let again = app.sign_in_with(&browser, provider, &moved).await;

        assert_eq!(again.status(), 303, "{provider}");
        assert_eq!(location(&again, &app.base_url).path(), "/account", "{provider}: straight in, no sign-up");
        assert_eq!(app.signed_in_username(&browser).await.as_deref(), Some(format!("returning{i}").as_str()));
        let identity = identities::find_by_provider_uid(&app.state.db, provider, &person.uid).await.unwrap().unwrap();
        assert_eq!(identity.email.as_deref(), Some(moved.email.as_str()));
        let history = identities::email_history(&app.state.db, identity.id).await.unwrap();
        assert_eq!(history, vec![person.email.clone()], "{provider}");
    }
    assert_eq!(app.count_users().await, 3);
    assert_eq!(app.count_identities().await, 3);
}

async fn another_uid_with_a_known_email_is_another_person(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (i, provider) in Provider::ALL.into_iter().enumerate() {
        let email = format!("shared{i}@example.com");
        let first = Person::new(3000 + i as u64, &email);
        app.sign_up_with(&app.browser(), provider, &first, &format!("first{i}")).await;

        let second = Person::new(3100 + i as u64, &email);
        let browser = app.browser();
        let callback = app.sign_in_with(&browser, provider, &second).await;

        assert_eq!(location(&callback, &app.base_url).path(), "/signup", "{provider}: never merged by e-mail");
        let done = app.sign_up_with(&browser, provider, &second, &format!("second{i}")).await;
        assert_eq!(done.status(), 303);
        let a = identities::find_by_provider_uid(&app.state.db, provider, &first.uid).await.unwrap().unwrap();
        let b = identities::find_by_provider_uid(&app.state.db, provider, &second.uid).await.unwrap().unwrap();
        assert_ne!(a.user_id, b.user_id, "{provider}");
    }
}

async fn a_declined_email_shows_the_consent_page_and_creates_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let expected = [
        (Provider::Google, "prompt=consent"),
        (Provider::Naver, "auth_type=reprompt"),
        (Provider::Kakao, "scope=account_email"),
    ];
    for (i, (provider, reconsent)) in expected.into_iter().enumerate() {
        let browser = app.browser();
        let person = Person::new(4000 + i as u64, "private@example.com").declining_email();

        let page = app.sign_in_with(&browser, provider, &person).await;

        assert_eq!(page.status(), 200, "{provider}");
        let html = page.text().await.unwrap();
        let retry = format!("/login/{provider}?return_to=%2Faccount&#38;reconsent=1");
        assert!(html.contains(&retry), "{provider}: {html}");
        // The button re-asks with the provider's own re-consent parameter.
        let again =
            browser.get(app.url(&format!("/login/{provider}?return_to=%2Faccount&reconsent=1"))).send().await.unwrap();
        let authorize = location(&again, &app.base_url);
        assert!(authorize.query().unwrap().contains(reconsent), "{provider}: {authorize}");
    }
    assert_eq!(app.count_users().await, 0);
    assert_eq!(app.count_identities().await, 0);
}

async fn closed_registration_creates_nothing(backend: Backend) {
    let app = TestApp::builder(backend).env("MUNJI_REGISTRATION", "closed").spawn().await;
    for (i, provider) in Provider::ALL.into_iter().enumerate() {
        let page = app.sign_in_with(&app.browser(), provider, &Person::new(5000 + i as u64, "new@example.com")).await;
        assert_eq!(page.status(), 403, "{provider}");
        assert!(page.text().await.unwrap().contains("Registration is closed"));
    }
    assert_eq!(app.count_users().await, 0);
}

async fn auto_registration_creates_the_account_at_once_with_a_unique_username(backend: Backend) {
    let app = TestApp::builder(backend).env("MUNJI_REGISTRATION", "auto").spawn().await;
    let mut names = Vec::new();
    for (i, provider) in Provider::ALL.into_iter().enumerate() {
        let browser = app.browser();
        // Every person has the same e-mail local part, so usernames must be made unique.
        let person = Person::new(6000 + i as u64, &format!("kim@example{i}.com"));
        let resp = app.sign_in_with(&browser, provider, &person).await;
        assert_eq!(location(&resp, &app.base_url).path(), "/account", "{provider}");
        names.push(app.signed_in_username(&browser).await.unwrap());
    }
    assert_eq!(names, ["kim", "kim1", "kim2"]);
}

async fn bad_states_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (i, provider) in Provider::ALL.into_iter().enumerate() {
        let person = Person::new(7000 + i as u64, "victim@example.com");
        let browser = app.browser();
        let authorize = app.start_login(&browser, provider).await;
        let callback = app.provider_decides(&browser, &authorize, &person, true).await;
        let state = callback.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
        let code = callback.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let with_state = |s: &str| {
            let mut url = callback.clone();
            url.query_pairs_mut().clear().append_pair("code", &code).append_pair("state", s);
            url
        };

        // Missing state.
        let mut no_state = callback.clone();
        no_state.query_pairs_mut().clear().append_pair("code", &code);
        assert_eq!(browser.get(no_state).send().await.unwrap().status(), 400, "{provider}: missing");
        // Tampered signature (the record stays, as nothing was taken).
        let tampered = format!("{}x", &state[..state.len() - 1]);
        assert_eq!(browser.get(with_state(&tampered)).send().await.unwrap().status(), 400, "{provider}: tampered");
        // Oversized.
        assert_eq!(browser.get(with_state(&"a".repeat(5000))).send().await.unwrap().status(), 400);
        // Another browser presents it (login CSRF): refused, and the state is spent.
        let attacker = app.browser();
        let foreign = attacker.get(callback.clone()).send().await.unwrap();
        assert_eq!(foreign.status(), 400, "{provider}: foreign browser");
        assert!(foreign.text().await.unwrap().contains("another browser"));
        // Replayed: the right browser, but the state was already taken.
        assert_eq!(browser.get(callback.clone()).send().await.unwrap().status(), 400, "{provider}: replayed");

        // Mix-up: a state started for another provider arrives at this provider's callback.
        let other = Provider::ALL[(i + 1) % 3];
        let other_authorize = app.start_login(&browser, other).await;
        let other_callback = app.provider_decides(&browser, &other_authorize, &person, true).await;
        let mut mixed = other_callback.clone();
        mixed.set_path(&format!("/callback/{provider}"));
        assert_eq!(browser.get(mixed).send().await.unwrap().status(), 400, "{provider}: mix-up");

        // Expired: a well-signed state whose record is gone.
        let authorize = app.start_login(&browser, provider).await;
        let state = authorize.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
        let id = state.split('.').next().unwrap();
        app.state.ephemeral.delete(&format!("flow:{id}")).await.unwrap();
        let expired = app.provider_decides(&browser, &authorize, &person, true).await;
        assert_eq!(browser.get(expired).send().await.unwrap().status(), 400, "{provider}: expired");
    }
    assert_eq!(app.count_users().await, 0);
    assert_eq!(app.count_identities().await, 0);
    let metrics = app.get_metrics().await;
    assert!(metrics.contains(r#"munji_logins_total{outcome="bad_state",provider="google"}"#));
}

async fn a_cancel_at_the_provider_shows_a_page_to_try_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for provider in Provider::ALL {
        let browser = app.browser();
        let authorize = app.start_login(&browser, provider).await;
        let callback = app.provider_decides(&browser, &authorize, &Person::new(8000, "x@example.com"), false).await;
        assert!(callback.query().unwrap().contains("error=access_denied"));

        let page = browser.get(callback).send().await.unwrap();

        assert_eq!(page.status(), 200, "{provider}");
        let html = page.text().await.unwrap();
        assert!(html.contains("Sign-in cancelled") && html.contains(&format!("/login/{provider}")), "{html}");
    }
    assert_eq!(app.count_users().await, 0);
}

async fn sign_out_ends_the_session_and_needs_the_csrf_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Naver, &Person::new(9000, "out@example.com"), "leaving").await;
    let account = app.get_account(&browser).await.text().await.unwrap();
    let csrf = form_value(&account, "csrf").unwrap();

    let forged = app.post_logout(&browser, "forged").await;
    assert_eq!(forged.status(), 400);
    assert_eq!(app.signed_in_username(&browser).await.as_deref(), Some("leaving"), "still signed in");

    let out = app.post_logout(&browser, &csrf).await;
    assert_eq!(out.status(), 303);
    let after = app.get_account(&browser).await;
    assert_eq!(after.status(), 303);
    assert_eq!(location(&after, &app.base_url).path(), "/login");

    let user = sqlx_username_exists(&app, "leaving").await;
    let events = munji::store::audit::list_for_user(&app.state.db, user, 10).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["logout", "signup"]);
}

async fn sqlx_username_exists(app: &TestApp, username: &str) -> uuid::Uuid {
    let identities = identities::find_by_provider_uid(&app.state.db, munji::upstream::Provider::Naver, "9000")
        .await
        .unwrap()
        .unwrap();
    let user = users::find_by_id(&app.state.db, identities.user_id).await.unwrap().unwrap();
    assert_eq!(user.username, username);
    user.id
}
