//! The admin pages (docs/admin.md): who gets in, finding a user, and actions that need a CSRF
//! field and a recent sign-in.

use std::time::Duration;

use munji::{store::users, upstream::Provider};
use reqwest::Client;
use uuid::Uuid;

use crate::helpers::{
    Backend, TestApp,
    social::{Person, form_value, location},
};

crate::on_every_backend!(
    signed_out_browsers_sign_in_first_and_non_admins_are_refused,
    an_admin_finds_a_user_by_an_earlier_email_and_disables_them,
    locking_someone_out_needs_the_csrf_field_and_a_recent_sign_in,
);

async fn signed_up(app: &TestApp, uid: u64, username: &str) -> (Client, Uuid) {
    let browser = app.browser();
    app.sign_up_with(&browser, Provider::Google, &Person::new(uid, &format!("{username}@example.com")), username).await;
    (browser, users::find_by_username(&app.state.db, username).await.unwrap().unwrap().id)
}

async fn an_admin(app: &TestApp) -> Client {
    let (browser, id) = signed_up(app, 1, "page.admin").await;
    munji::admin::set_admin(&app.state, None, id, true).await.unwrap();
    browser
}

async fn signed_out_browsers_sign_in_first_and_non_admins_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = app.browser().get(app.url("/admin")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp, &app.base_url).as_str(), app.url("/login?return_to=%2Fadmin"));
    let (plain, _) = signed_up(&app, 2, "not.admin").await;
    for path in ["/admin", "/admin/users", "/admin/audit", "/admin/clients"] {
        assert_eq!(plain.get(app.url(path)).send().await.unwrap().status(), 403, "{path}");
    }
    let admin = an_admin(&app).await;
    let resp = admin.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains(r#"<dd id="stat-users">2</dd>"#));
}

async fn an_admin_finds_a_user_by_an_earlier_email_and_disables_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = an_admin(&app).await;
    let (victim, victim_id) = signed_up(&app, 3, "changes.mail").await;
    let other = app.browser();
    app.sign_in_with(&other, Provider::Google, &Person::new(3, "new.address@example.com")).await;

    let found = admin.get(app.url("/admin/users?q=CHANGES.MAIL%40example.com")).send().await.unwrap();
    let html = found.text().await.unwrap();
    assert!(html.contains(&format!(r#"href="/admin/users/{victim_id}""#)), "{html}");
    let page = admin.get(app.url(&format!("/admin/users/{victim_id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("changes.mail@example.com"), "the earlier e-mail is shown");
    let csrf = form_value(&page, "csrf").unwrap();
    let resp = admin
        .post(app.url(&format!("/admin/users/{victim_id}/disable")))
        .form(&[("csrf", csrf.as_str()), ("reason", "abuse")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(app.signed_in_username(&victim).await, None);
    assert_eq!(app.signed_in_username(&other).await, None);
    let again = app.browser();
    let resp = app.sign_in_with(&again, Provider::Google, &Person::new(3, "new.address@example.com")).await;
    assert_eq!(resp.status(), 403);
    let page = admin.get(app.url(&format!("/admin/users/{victim_id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"id="admin-disabled">abuse<"#), "{page}");
}

async fn locking_someone_out_needs_the_csrf_field_and_a_recent_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = an_admin(&app).await;
    let (victim, victim_id) = signed_up(&app, 4, "kept.in").await;
    let page = admin.get(app.url(&format!("/admin/users/{victim_id}"))).send().await.unwrap().text().await.unwrap();
    let csrf = form_value(&page, "csrf").unwrap();
    let path = format!("/admin/users/{victim_id}/end-sessions");
    assert_eq!(
        admin.post(app.url(&path)).form(&[("reason", "x")]).send().await.unwrap().status(),
        400,
        "no CSRF field"
    );
    assert_eq!(victim.post(app.url(&path)).form(&[("csrf", "x")]).send().await.unwrap().status(), 400);
    assert!(app.signed_in_username(&victim).await.is_some());
    // Sixteen minutes later the admin must sign in again first.
    app.state.clock.advance(Duration::from_secs(16 * 60));
    let resp = admin.post(app.url(&path)).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(location(&resp, &app.base_url).as_str().starts_with(&app.url("/login?return_to=")));
    assert!(app.signed_in_username(&victim).await.is_some(), "nothing happened");
    // A non-admin's POST is refused, CSRF or not.
    let own = form_value(&app.get_account(&victim).await.text().await.unwrap(), "csrf").unwrap();
    assert_eq!(victim.post(app.url(&path)).form(&[("csrf", own.as_str())]).send().await.unwrap().status(), 403);
}
