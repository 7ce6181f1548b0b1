//! Sessions end exactly: every kind of ending kills the tokens of the sessions it ended at all
//! four online checks, and never those of a session that starts right after it (the same
//! second included). The sessions API and the account page list and end sessions.

use chrono::Utc;
use munji::{
    oidc::authorize::{self, Claim, CodeRecord, Redemption},
    upstream::Provider,
};
use reqwest::Client;
use serde_json::Value;

use crate::helpers::{
    Backend, TestApp,
    clients::WEB_REDIRECT_URI,
    social::{Person, form_value, location},
};

crate::on_every_backend!(
    a_sign_in_right_after_a_logout_is_alive_and_the_logged_out_session_dead,
    a_sign_in_right_after_signing_out_everywhere_is_alive,
    a_sign_in_right_after_an_unlink_is_alive,
    the_first_session_of_a_legacy_claim_is_alive,
    a_sign_in_right_after_a_refresh_replay_is_alive,
    a_sign_in_right_after_ending_a_session_through_the_api_is_alive,
    the_sessions_api_lists_the_users_sessions_and_refuses_anothers,
    the_account_page_lists_sessions_and_ends_one,
    a_code_that_expires_during_its_redemption_is_no_reuse,
);

/// A user's tokens from one sign-in of one browser.
struct Tokens {
    access: String,
    refresh: String,
}

struct Setup {
    app: TestApp,
}

async fn setup(backend: Backend) -> Setup {
    // A grace window of 1 ms: a second use of a refresh token is a replay at once.
    let app = TestApp::builder(backend).env("MUNJI_REFRESH_TOKEN_GRACE", "1ms").with_web_client().spawn().await;
    Setup { app }
}

fn naver() -> Person {
    Person::new(7001, "sessions@example.com")
}

impl Setup {
    async fn tokens(&self, browser: &Client) -> Tokens {
        let (access, refresh) = self.app.tokens_for(browser).await;
        Tokens { access, refresh }
    }

    /// Which of the four online checks accept the tokens: `/api/v1/verify`, `/introspect`,
    /// `/userinfo` (the access token) and the refresh grant (the refresh token, last, since
    /// it rotates it).
    async fn alive_at(&self, tokens: &Tokens) -> [bool; 4] {
        let app = &self.app;
        let verify = app.get_verify(&tokens.access).await;
        let introspect = app.introspect(app.web_client(), &tokens.access).await;
        let userinfo = app.get_userinfo(&tokens.access).await;
        let refresh = self.refresh(&tokens.refresh).await;
        [verify.status() == 200, introspect["active"] == true, userinfo.status() == 200, refresh.status() == 200]
    }

    async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.app.refresh(self.app.web_client(), refresh_token).await
    }

    async fn assert_alive(&self, tokens: &Tokens, what: &str) {
        assert_eq!(self.alive_at(tokens).await, [true; 4], "{what}: verify, introspect, userinfo, refresh");
    }

    async fn assert_dead(&self, tokens: &Tokens, what: &str) {
        assert_eq!(self.alive_at(tokens).await, [false; 4], "{what}: verify, introspect, userinfo, refresh");
    }

    async fn csrf(&self, browser: &Client) -> String {
        let page = self.app.get_account(browser).await.text().await.unwrap();
        form_value(&page, "csrf").expect("the account page has a CSRF field")
    }

    async fn sessions_of(&self, access: &str) -> Vec<Value> {
        let resp = self.app.get_sessions(access).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["sessions"].as_array().unwrap().clone()
    }
}

async fn a_sign_in_right_after_a_logout_is_alive_and_the_logged_out_session_dead(backend: Backend) {
    let s = setup(backend).await;
    let browser = s.app.browser();
    s.app.sign_up_with(&browser, Provider::Naver, &naver(), "leaver").await;
    let before = s.tokens(&browser).await;

    let csrf = s.csrf(&browser).await;
    assert_eq!(s.app.post_logout(&browser, &csrf).await.status(), 303);
    s.app.sign_in_with(&browser, Provider::Naver, &naver()).await;
    let after = s.tokens(&browser).await;

    s.assert_dead(&before, "the signed-out session").await;
    s.assert_alive(&after, "the session started right after").await;
    // User access tokens say when their session signed in.
    let claims = s.app.state.tokens.verify_access(&after.access).await.unwrap();
    let auth_time = claims.auth_time.expect("auth_time in a user's access token");
    assert!(auth_time <= claims.iat && auth_time > claims.iat - 60, "{auth_time} vs {}", claims.iat);
}

async fn a_sign_in_right_after_signing_out_everywhere_is_alive(backend: Backend) {
    let s = setup(backend).await;
    let (laptop, phone) = (s.app.browser(), s.app.browser());
    s.app.sign_up_with(&laptop, Provider::Naver, &naver(), "everywhere").await;
    s.app.sign_in_with(&phone, Provider::Naver, &naver()).await;
    let (laptop_before, phone_before) = (s.tokens(&laptop).await, s.tokens(&phone).await);

    let csrf = s.csrf(&laptop).await;
    let resp = laptop.post(s.app.url("/logout?all=1")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    s.app.sign_in_with(&laptop, Provider::Naver, &naver()).await;
    let after = s.tokens(&laptop).await;

    s.assert_dead(&laptop_before, "the laptop's old session").await;
    s.assert_dead(&phone_before, "the phone's session").await;
    assert_eq!(s.app.signed_in_username(&phone).await, None, "the phone is signed out");
    s.assert_alive(&after, "the session started right after").await;
}

async fn a_sign_in_right_after_an_unlink_is_alive(backend: Backend) {
    let s = setup(backend).await;
    let (laptop, phone) = (s.app.browser(), s.app.browser());
    let kakao = Person::new(4_100_000_777, "unlink@kakao.com");
    s.app.sign_up_with(&laptop, Provider::Naver, &naver(), "unlinker2").await;
    let csrf = s.csrf(&laptop).await;
    let resp = laptop.post(s.app.url("/account/link/kakao")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    let authorize = location(&resp, &s.app.base_url);
    let callback = s.app.provider_decides(&laptop, &authorize, &kakao, true).await;
    laptop.get(callback).send().await.unwrap();
    s.app.sign_in_with(&phone, Provider::Kakao, &kakao).await;
    let phone_before = s.tokens(&phone).await;
    let laptop_tokens = s.tokens(&laptop).await;

    let naver_identity =
        munji::store::identities::find_by_provider_uid(&s.app.state.db, munji::upstream::Provider::Naver, &naver().uid)
            .await
            .unwrap()
            .unwrap();
    let resp = s.app.delete_identity(&laptop_tokens.access, naver_identity.id).await;
    assert_eq!(resp.status(), 204);
    s.app.sign_in_with(&phone, Provider::Kakao, &kakao).await;
    let phone_after = s.tokens(&phone).await;

    s.assert_dead(&phone_before, "the other session the unlink ended").await;
    s.assert_alive(&phone_after, "the session started right after").await;
    s.assert_alive(&laptop_tokens, "the session that unlinked").await;
}

async fn the_first_session_of_a_legacy_claim_is_alive(backend: Backend) {
    let s = setup(backend).await;
    let csv = "legacy_user_id,username,display_name,email,provider\n\
               101,kim.minsu,Kim Minsu,kim.minsu@naver.com,naver\n\
               101,kim.minsu,Kim Minsu,kim.minsu@gmail.com,google\n";
    let users = munji::legacy::parse_csv(csv.as_bytes()).unwrap();
    munji::store::legacy::import(&s.app.state.db, &users, Utc::now()).await.unwrap();

    let first = s.app.browser();
    s.app.sign_in_with(&first, Provider::Naver, &Person::new(31, "kim.minsu@naver.com")).await;
    assert_eq!(s.app.signed_in_username(&first).await.as_deref(), Some("kim.minsu"));
    let first_tokens = s.tokens(&first).await;
    // The second claim ends every session of the account, then signs this browser in.
    let second = s.app.browser();
    s.app.sign_in_with(&second, Provider::Google, &Person::new(32, "kim.minsu@gmail.com")).await;
    let second_tokens = s.tokens(&second).await;

    s.assert_alive(&second_tokens, "the session of the claim").await;
    s.assert_dead(&first_tokens, "the session from before the claim").await;
}

async fn a_sign_in_right_after_a_refresh_replay_is_alive(backend: Backend) {
    let s = setup(backend).await;
    let browser = s.app.browser();
    s.app.sign_up_with(&browser, Provider::Naver, &naver(), "replayer").await;
    let before = s.tokens(&browser).await;
    let rotated: Value = s.refresh(&before.refresh).await.json().await.unwrap();
    let successor = Tokens {
        access: rotated["access_token"].as_str().unwrap().to_owned(),
        refresh: rotated["refresh_token"].as_str().unwrap().to_owned(),
    };
    assert_eq!(s.refresh(&before.refresh).await.status(), 400, "a replay is refused");
    s.app.sign_in_with(&browser, Provider::Naver, &naver()).await;
    let after = s.tokens(&browser).await;

    s.assert_dead(&successor, "the replayed family's session").await;
    s.assert_alive(&after, "the session started right after").await;
}

async fn a_sign_in_right_after_ending_a_session_through_the_api_is_alive(backend: Backend) {
    let s = setup(backend).await;
    let (laptop, phone) = (s.app.browser(), s.app.browser());
    s.app.sign_up_with(&laptop, Provider::Naver, &naver(), "apiender").await;
    s.app.sign_in_with(&phone, Provider::Naver, &naver()).await;
    let (laptop_tokens, phone_before) = (s.tokens(&laptop).await, s.tokens(&phone).await);

    let sessions = s.sessions_of(&laptop_tokens.access).await;
    let phone_session = sessions.iter().find(|x| x["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
    let resp = s.app.delete_session(&laptop_tokens.access, &phone_session).await;
    assert_eq!(resp.status(), 204);
    s.app.sign_in_with(&phone, Provider::Naver, &naver()).await;
    let phone_after = s.tokens(&phone).await;

    s.assert_dead(&phone_before, "the session ended through the API").await;
    s.assert_alive(&phone_after, "the session started right after").await;
    s.assert_alive(&laptop_tokens, "the session that ended the other").await;
}

async fn the_sessions_api_lists_the_users_sessions_and_refuses_anothers(backend: Backend) {
    let s = setup(backend).await;
    let (laptop, phone, stranger) = (s.app.browser(), s.app.browser(), s.app.browser());
    s.app.sign_up_with(&laptop, Provider::Naver, &naver(), "lister").await;
    let phone_resp = phone
        .get(s.app.url("/login/naver?return_to=/account"))
        .header("user-agent", "PhoneBrowser/1.0")
        .send()
        .await
        .unwrap();
    let authorize = location(&phone_resp, &s.app.base_url);
    let callback = s.app.provider_decides(&phone, &authorize, &naver(), true).await;
    phone.get(callback).header("user-agent", "PhoneBrowser/1.0").send().await.unwrap();
    s.app.sign_up_with(&stranger, Provider::Naver, &Person::new(7002, "x@example.com"), "stranger").await;
    let (laptop_tokens, stranger_tokens) = (s.tokens(&laptop).await, s.tokens(&stranger).await);

    let sessions = s.sessions_of(&laptop_tokens.access).await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions.iter().filter(|x| x["current"] == true).count(), 1);
    let phone_session = sessions.iter().find(|x| x["current"] == false).unwrap();
    assert_eq!(phone_session["user_agent"], "PhoneBrowser/1.0");
    assert_eq!(phone_session["ip"], "127.0.0.1");
    assert!(phone_session["started_at"].as_str().unwrap().parse::<chrono::DateTime<Utc>>().is_ok());
    assert!(phone_session["last_seen_at"].is_string());
    let id = phone_session["id"].as_str().unwrap();

    // Another user's handle, or an unknown one, is "no such session", and changes nothing.
    for handle in [id, "no-such-session"] {
        let resp = s.app.delete_session(&stranger_tokens.access, handle).await;
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "NOT_FOUND");
    }
    assert_eq!(s.sessions_of(&laptop_tokens.access).await.len(), 2);
    assert_eq!(s.app.signed_in_username(&phone).await.as_deref(), Some("lister"));

    // No token, no list.
    let resp = crate::helpers::oidc::rp_http().get(s.app.url("/api/v1/me/sessions")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}

async fn the_account_page_lists_sessions_and_ends_one(backend: Backend) {
    let s = setup(backend).await;
    let (laptop, phone) = (s.app.browser(), s.app.browser());
    s.app.sign_up_with(&laptop, Provider::Naver, &naver(), "pager").await;
    s.app.sign_in_with(&phone, Provider::Naver, &naver()).await;
    let phone_tokens = s.tokens(&phone).await;
    let laptop_tokens = s.tokens(&laptop).await;
    let phone_id =
        s.sessions_of(&laptop_tokens.access).await.into_iter().find(|x| x["current"] == false).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();

    let page = s.app.get_account(&laptop).await.text().await.unwrap();
    assert!(page.contains(&format!("/account/sessions/{phone_id}/end")), "{page}");
    let csrf = form_value(&page, "csrf").unwrap();

    // Without a right CSRF field nothing ends.
    let resp = laptop
        .post(s.app.url(&format!("/account/sessions/{phone_id}/end")))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(s.app.signed_in_username(&phone).await.as_deref(), Some("pager"));

    let resp = laptop
        .post(s.app.url(&format!("/account/sessions/{phone_id}/end")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp, &s.app.base_url).path(), "/account");
    assert_eq!(s.app.signed_in_username(&phone).await, None);
    s.assert_dead(&phone_tokens, "the session ended from the page").await;
    assert_eq!(s.app.signed_in_username(&laptop).await.as_deref(), Some("pager"));
}

async fn a_code_that_expires_during_its_redemption_is_no_reuse(backend: Backend) {
    let s = setup(backend).await;
    let browser = s.app.browser();
    s.app.sign_up_with(&browser, Provider::Naver, &naver(), "slowpoke").await;
    let tokens = s.tokens(&browser).await;
    let claims = s.app.state.tokens.verify_access(&tokens.access).await.unwrap();
    let store = &s.app.state.ephemeral;
    let clock = &s.app.state.clock;
    let record = |expires_in_ms: i64| CodeRecord {
        client_id: "web".into(),
        redirect_uri: WEB_REDIRECT_URI.into(),
        code_challenge: None,
        scope: "openid".into(),
        nonce: None,
        user_id: claims.sub.parse().unwrap(),
        sid: claims.sid.clone().unwrap(),
        auth_time: claims.auth_time.unwrap(),
        expires_at_ms: clock.now_ms() + expires_in_ms,
    };

    // Looked up while live, claimed after it expired (in real time, gone from the store too):
    // nobody redeemed it.
    let code = authorize::issue_code(store, clock, &record(300)).await.unwrap();
    let Redemption::Found(found) = authorize::look_up_code(store, clock, &code).await.unwrap() else { panic!("live") };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(authorize::claim_code(store, clock, &code, &found).await.unwrap(), Claim::Expired);
    let after = authorize::look_up_code(store, clock, &code).await.unwrap();
    assert!(matches!(after, Redemption::Unknown), "no reuse mark");

    // The same by munji's clock while the store still holds the code.
    let code = authorize::issue_code(store, clock, &record(60_000)).await.unwrap();
    let Redemption::Found(found) = authorize::look_up_code(store, clock, &code).await.unwrap() else { panic!("live") };
    clock.advance(std::time::Duration::from_secs(61));
    assert_eq!(authorize::claim_code(store, clock, &code, &found).await.unwrap(), Claim::Expired);
    let after = authorize::look_up_code(store, clock, &code).await.unwrap();
    assert!(matches!(after, Redemption::Unknown), "no reuse mark");
    s.assert_alive(&tokens, "the session of a code that only expired").await;

    // Taken by another redemption before its expiry: that is a reuse.
    let code = authorize::issue_code(store, clock, &record(60_000)).await.unwrap();
    let Redemption::Found(found) = authorize::look_up_code(store, clock, &code).await.unwrap() else { panic!("live") };
    assert_eq!(authorize::claim_code(store, clock, &code, &found).await.unwrap(), Claim::Won);
    assert_eq!(authorize::claim_code(store, clock, &code, &found).await.unwrap(), Claim::Lost);
    let after = authorize::look_up_code(store, clock, &code).await.unwrap();
    assert!(matches!(after, Redemption::Reused { .. }));
}
