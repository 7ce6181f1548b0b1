//! The legacy e-mail fallback (docs/legacy.md) and the tools that import legacy users.

use std::process::Command;

use chrono::Utc;
use munji::{
    store::{audit, identities, legacy},
    upstream::Provider,
};
use sqlx::Connection as _;

use crate::helpers::{
    Backend, TestApp,
    databases::TestDatabase,
    social::{Person, location},
};

crate::on_every_backend!(
    a_first_login_with_a_legacy_email_lands_in_the_legacy_user_and_pins_the_uid,
    untrusted_emails_never_claim_a_legacy_account,
    two_candidates_refuse_the_login_and_are_audited,
    twenty_concurrent_first_logins_backfill_exactly_once,
    the_fallback_can_be_switched_off,
    a_backfill_ends_the_other_sessions_of_the_account,
    a_mapping_still_waiting_for_its_uid_is_no_way_to_sign_in,
    the_csv_import_is_all_or_nothing_and_idempotent,
    a_claimed_mapping_stays_retired_after_an_unlink_and_a_reimport,
    allauth_users_are_imported_with_their_identities_and_sign_in,
);

const USERS_CSV: &str = include_str!("../../fixtures/legacy/users.csv");

pub async fn import_fixture(app: &TestApp) {
    let users = munji::legacy::parse_csv(USERS_CSV.as_bytes()).unwrap();
    legacy::import(&app.state.db, &users, Utc::now()).await.unwrap();
}

async fn spawn_with_legacy(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    import_fixture(&app).await;
    app
}

async fn pending(app: &TestApp) -> i64 {
    legacy::pending_by_provider(&app.state.db).await.unwrap().iter().map(|(_, n)| n).sum()
}

async fn a_first_login_with_a_legacy_email_lands_in_the_legacy_user_and_pins_the_uid(backend: Backend) {
    let app = spawn_with_legacy(backend).await;
    assert_eq!(pending(&app).await, 6);

    // Act: a Naver uid never seen before, with the imported e-mail in other letter case.
    let browser = app.browser();
    let person = Person::new(555001, "KIM.MINSU@naver.com");
    let resp = app.sign_in_with(&browser, Provider::Naver, &person).await;

    // Assert: straight into the imported account, uid pinned, audited, counted.
    assert_eq!(location(&resp, &app.base_url).path(), "/account");
    assert_eq!(app.signed_in_username(&browser).await.as_deref(), Some("kim.minsu"));
    let identity = identities::find_by_provider_uid(&app.state.db, munji::upstream::Provider::Naver, "555001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending(&app).await, 5);
    let events = audit::list_for_user(&app.state.db, identity.user_id, 10).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"legacy_backfill") && kinds.contains(&"login"), "{kinds:?}");
    let backfill = events.iter().find(|e| e.kind == "legacy_backfill").unwrap();
    assert_eq!(backfill.detail.0["identity_id"], identity.id.to_string());
    assert!(app.get_metrics().await.contains(r#"munji_legacy_backfills_total{provider="naver"} 1"#));

    // The same uid with a changed e-mail is still that user.
    let moved = Person { email: "kim.new@naver.com".to_owned(), ..person.clone() };
    let later = app.browser();
    app.sign_in_with(&later, Provider::Naver, &moved).await;
    assert_eq!(app.signed_in_username(&later).await.as_deref(), Some("kim.minsu"));

    // A pinned row is never matched by e-mail again: another uid with the old e-mail is new.
    let stranger = app.browser();
    let resp = app.sign_in_with(&stranger, Provider::Naver, &Person::new(555002, "kim.minsu@naver.com")).await;
    assert_eq!(location(&resp, &app.base_url).path(), "/signup");
}

async fn untrusted_emails_never_claim_a_legacy_account(backend: Backend) {
    let app = TestApp::builder(backend).env("MUNJI_PROVIDERS__NAVER__LEGACY_EMAIL_TRUST", "never").spawn().await;
    import_fixture(&app).await;

    let unverified_google = Person { email_verified: false, ..Person::new(1, "kim.minsu@gmail.com") };
    let unverified_kakao = Person { email_verified: false, ..Person::new(2, "jiwoo@kakao.com") };
    let naver_never = Person::new(3, "park@naver.com");
    for (provider, person) in
        [(Provider::Google, unverified_google), (Provider::Kakao, unverified_kakao), (Provider::Naver, naver_never)]
    {
        let resp = app.sign_in_with(&app.browser(), provider, &person).await;
        assert_eq!(location(&resp, &app.base_url).path(), "/signup", "{provider}");
    }
    assert_eq!(pending(&app).await, 6, "nothing was back-filled");

    // The same Google e-mail, verified this time, claims the account.
    let verified = Person::new(4, "kim.minsu@gmail.com");
    let browser = app.browser();
    app.sign_in_with(&browser, Provider::Google, &verified).await;
    assert_eq!(app.signed_in_username(&browser).await.as_deref(), Some("kim.minsu"));
}

async fn two_candidates_refuse_the_login_and_are_audited(backend: Backend) {
    let app = spawn_with_legacy(backend).await;

    let resp = app.sign_in_with(&app.browser(), Provider::Naver, &Person::new(777, "shared@naver.com")).await;

    assert_eq!(resp.status(), 409);
    let html = resp.text().await.unwrap();
    assert!(html.contains("LEGACY_AMBIGUOUS") && html.contains("contact the operator"), "{html}");
    assert_eq!(pending(&app).await, 6);
    let refusals = audit::list_unowned(&app.state.db, "login_refused", 10).await.unwrap();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].detail.0["reason"], "legacy_ambiguous");
}

async fn twenty_concurrent_first_logins_backfill_exactly_once(backend: Backend) {
    let app = spawn_with_legacy(backend).await;
    let person = Person::new(424242, "jiwoo@kakao.com");
    // Twenty browsers each get as far as the provider's redirect back…
    let mut pending_callbacks = Vec::new();
    for _ in 0..20 {
        let browser = app.browser();
        let authorize = app.start_login(&browser, Provider::Kakao).await;
        let callback = app.provider_decides(&browser, &authorize, &person, true).await;
        pending_callbacks.push((browser, callback));
    }
    // …then all come back at once.
    let landings: Vec<_> = pending_callbacks
        .into_iter()
        .map(|(browser, callback)| tokio::spawn(async move { browser.get(callback).send().await.unwrap() }))
        .collect();
    for landing in landings {
        let resp = landing.await.unwrap();
        assert_eq!(resp.status(), 303);
        assert_eq!(resp.headers()["location"], "/account");
    }

    let identity = identities::find_by_provider_uid(&app.state.db, munji::upstream::Provider::Kakao, "424242")
        .await
        .unwrap()
        .unwrap();
    let events = audit::list_for_user(&app.state.db, identity.user_id, 100).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "legacy_backfill").count(), 1);
    assert_eq!(events.iter().filter(|e| e.kind == "login").count(), 20);
    assert_eq!(app.count_users().await, 5, "nobody new: the five imported users only");
    assert!(app.get_metrics().await.contains(r#"munji_legacy_backfills_total{provider="kakao"} 1"#));
}

async fn the_fallback_can_be_switched_off(backend: Backend) {
    let app = TestApp::builder(backend).env("MUNJI_LEGACY_FALLBACK", "false").spawn().await;
    import_fixture(&app).await;
    let resp = app.sign_in_with(&app.browser(), Provider::Kakao, &Person::new(9, "jiwoo@kakao.com")).await;
    assert_eq!(location(&resp, &app.base_url).path(), "/signup");
    assert_eq!(pending(&app).await, 6);
}

async fn a_mapping_still_waiting_for_its_uid_is_no_way_to_sign_in(backend: Backend) {
    let app = spawn_with_legacy(backend).await;
    // kim.minsu claims the Naver mapping; the Google one still waits for its first login.
    let browser = app.browser();
    app.sign_in_with(&browser, Provider::Naver, &Person::new(41, "kim.minsu@naver.com")).await;
    let naver =
        identities::find_by_provider_uid(&app.state.db, munji::upstream::Provider::Naver, "41").await.unwrap().unwrap();
    let page = app.get_account(&browser).await.text().await.unwrap();
    let csrf = crate::helpers::social::form_value(&page, "csrf").unwrap();
    let resp = browser
        .post(app.url(&format!("/account/unlink/{}", naver.id)))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409, "the only identity with a uid is the last one");

    // The address changes at Naver; re-importing adds no claimable mapping with the old one.
    app.sign_in_with(&app.browser(), Provider::Naver, &Person::new(41, "kim.new@naver.com")).await;
    let users = munji::legacy::parse_csv(USERS_CSV.as_bytes()).unwrap();
    let counts = legacy::import(&app.state.db, &users, Utc::now()).await.unwrap();
    assert_eq!(counts.mappings_created, 0);
}

async fn a_backfill_ends_the_other_sessions_of_the_account(backend: Backend) {
    let app = spawn_with_legacy(backend).await;
    // kim.minsu has a Naver and a Google mapping. The Naver one is claimed first.
    let first = app.browser();
    app.sign_in_with(&first, Provider::Naver, &Person::new(31, "kim.minsu@naver.com")).await;
    assert_eq!(app.signed_in_username(&first).await.as_deref(), Some("kim.minsu"));

    // Claiming the Google mapping ends every other session of the account.
    let second = app.browser();
    app.sign_in_with(&second, Provider::Google, &Person::new(32, "kim.minsu@gmail.com")).await;
    assert_eq!(app.signed_in_username(&second).await.as_deref(), Some("kim.minsu"));
    assert_eq!(app.signed_in_username(&first).await, None, "the earlier session ended");
}

/// Post one of the account page's forms (with its CSRF field) to `path`.
async fn account_form(app: &TestApp, browser: &reqwest::Client, path: &str) -> reqwest::Response {
    let page = app.get_account(browser).await.text().await.unwrap();
    let csrf = crate::helpers::social::form_value(&page, "csrf").unwrap();
    browser.post(app.url(path)).form(&[("csrf", csrf.as_str())]).send().await.unwrap()
}

async fn a_claimed_mapping_stays_retired_after_an_unlink_and_a_reimport(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/legacy/users.csv");
    assert!(munji_cli(&app, &["legacy", "import", csv]).status.success());
    // kim.minsu claims the Naver mapping, links Kakao, then removes the Naver account.
    let browser = app.browser();
    app.sign_in_with(&browser, Provider::Naver, &Person::new(51, "kim.minsu@naver.com")).await;
    assert_eq!(app.signed_in_username(&browser).await.as_deref(), Some("kim.minsu"));
    let authorize = location(&account_form(&app, &browser, "/account/link/kakao").await, &app.base_url);
    let callback = app.provider_decides(&browser, &authorize, &Person::new(52, "kim@kakao.com"), true).await;
    assert_eq!(location(&browser.get(callback).send().await.unwrap(), &app.base_url).path(), "/account");
    let naver =
        identities::find_by_provider_uid(&app.state.db, munji::upstream::Provider::Naver, "51").await.unwrap().unwrap();
    let unlinked = account_form(&app, &browser, &format!("/account/unlink/{}", naver.id)).await;
    assert_eq!(unlinked.status(), 303);
    let pending_before = pending(&app).await;

    // The operator runs the same import again: nothing changes.
    let again = munji_cli(&app, &["legacy", "import", csv]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "users: 0 created, 5 already present; mappings: 0 created, 6 already present"
    );
    assert_eq!(pending(&app).await, pending_before);

    // A new Naver account with the old address is a stranger, not kim.minsu.
    let stranger = app.browser();
    let resp = app.sign_in_with(&stranger, Provider::Naver, &Person::new(53, "kim.minsu@naver.com")).await;
    assert_eq!(location(&resp, &app.base_url).path(), "/signup");
    assert_eq!(app.signed_in_username(&stranger).await, None);

    // A database that reached this state before imports were remembered (the record dropped
    // with its migration, then applied again) is just as safe.
    let cli = |args: &[&str]| {
        let out = munji_cli(&app, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    cli(&["migrate", "revert", "--target", "8", "--yes"]);
    cli(&["migrate"]);
    assert!(cli(&["legacy", "import", csv]).contains("mappings: 0 created, 6 already present"));
    let resp = app.sign_in_with(&app.browser(), Provider::Naver, &Person::new(54, "kim.minsu@naver.com")).await;
    assert_eq!(location(&resp, &app.base_url).path(), "/signup");
    // The Google mapping kim.minsu never claimed still waits for its first login.
    let google = app.browser();
    app.sign_in_with(&google, Provider::Google, &Person::new(55, "kim.minsu@gmail.com")).await;
    assert_eq!(app.signed_in_username(&google).await.as_deref(), Some("kim.minsu"));
}

fn munji_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_munji"))
        .args(args)
        .env_clear()
        .env("MUNJI_DATABASE_URL", &app.database_url)
        .output()
        .unwrap()
}

async fn the_csv_import_is_all_or_nothing_and_idempotent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/legacy");

    let bad = munji_cli(&app, &["legacy", "import", &format!("{fixtures}/bad_provider.csv")]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("line 3: unknown provider \"Facebook\""), "{stderr}");
    assert_eq!(app.count_users().await, 0, "the good line before it was not written either");

    let first = munji_cli(&app, &["legacy", "import", &format!("{fixtures}/users.csv")]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(
        String::from_utf8_lossy(&first.stdout).trim(),
        "users: 5 created, 0 already present; mappings: 6 created, 0 already present"
    );
    let second = munji_cli(&app, &["legacy", "import", &format!("{fixtures}/users.csv")]);
    assert_eq!(
        String::from_utf8_lossy(&second.stdout).trim(),
        "users: 0 created, 5 already present; mappings: 0 created, 6 already present"
    );
    assert_eq!(app.count_users().await, 5);
    assert_eq!(app.count_identities().await, 6);

    let status = munji_cli(&app, &["legacy", "status"]);
    assert_eq!(String::from_utf8_lossy(&status.stdout), "google 1\nkakao 1\nnaver 4\ntotal 6\n");
    let json = munji_cli(&app, &["legacy", "status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json, serde_json::json!({"google": 1, "naver": 4, "kakao": 1, "total": 6}));

    // A username that another account already has is a conflict, and nothing is written.
    let dir = tempfile::tempdir().unwrap();
    let clash = dir.path().join("clash.csv");
    std::fs::write(&clash, "legacy_user_id,username,display_name,email,provider\n900,new.one,N,n@naver.com,naver\n901,kim.minsu,K,k2@naver.com,naver\n").unwrap();
    let out = munji_cli(&app, &["legacy", "import", clash.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3: username \"kim.minsu\" belongs to another account"));
    assert_eq!(app.count_users().await, 5);
}

/// A django-allauth site's database, made from `fixtures/allauth/site.sql`.
async fn allauth_site() -> TestDatabase {
    let site = TestDatabase::postgres().await;
    let mut conn = sqlx::PgConnection::connect(&site.url).await.unwrap();
    sqlx::raw_sql(include_str!("../../fixtures/allauth/site.sql")).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    site
}

async fn allauth_users_are_imported_with_their_identities_and_sign_in(backend: Backend) {
    let site = allauth_site().await;
    let app = TestApp::spawn(backend).await;

    let out = munji_cli(&app, &["legacy", "import-allauth", "--database-url", &site.url]);

    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("users: 3 created, 0 already present; mappings: 4 created"), "{stdout}");
    assert!(stdout.contains("skipped 1 facebook account(s)"), "{stdout}");
    let again = munji_cli(&app, &["legacy", "import-allauth", "--database-url", &site.url]);
    assert!(
        String::from_utf8_lossy(&again.stdout)
            .contains("users: 0 created, 3 already present; mappings: 0 created, 4 already present")
    );

    // A Google uid from allauth signs straight in; no e-mail needed to match.
    let browser = app.browser();
    app.sign_in_with(
        &browser,
        Provider::Google,
        &Person { uid: "109876543210987654321".into(), ..Person::new(0, "new@gmail.com") },
    )
    .await;
    assert_eq!(app.signed_in_username(&browser).await.as_deref(), Some("kim"));
    // The Naver account without a uid waits for kim's primary e-mail.
    let naver = app.browser();
    app.sign_in_with(&naver, Provider::Naver, &Person::new(61, "kim@example.com")).await;
    assert_eq!(app.signed_in_username(&naver).await.as_deref(), Some("kim"));
    // Django usernames are made valid: "Lee.Jiwoo" → "lee.jiwoo", "choi@example.com" → "choi".
    let kakao = app.browser();
    app.sign_in_with(&kakao, Provider::Kakao, &Person::new(3827731058, "lee@kakao.com")).await;
    assert_eq!(app.signed_in_username(&kakao).await.as_deref(), Some("lee.jiwoo"));
    let choi = identities::find_by_provider_uid(&app.state.db, munji::upstream::Provider::Naver, "abcDEF123opaque")
        .await
        .unwrap()
        .unwrap();
    let user = munji::store::users::find_by_id(&app.state.db, choi.user_id).await.unwrap().unwrap();
    assert_eq!((user.username.as_str(), choi.email.as_deref()), ("choi", Some("choi@naver.com")));
}
