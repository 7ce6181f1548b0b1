//! The imitation's events page (docs/provider-events.md): a button per account event the three
//! providers send, each sent for real to the running munji, so the whole chain can be watched
//! without the providers. Kakao's callback carries the admin key, Naver's notice is signed and
//! encrypted with the client secret, and Google's Security Event Tokens are signed with the
//! imitation's RSA key, exactly as the providers do.

use std::{sync::Arc, time::Duration};

use askama::Template;
use chrono::Utc;
use jsonwebtoken::{Algorithm, Header};
use poem::{
    IntoResponse, Request, Response, Route, get, handler,
    http::{StatusCode, header},
    web::{Data, Form, Html, Query, Redirect},
};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::DevProvider;
use crate::{config::Config, crypto, upstream::Provider};

/// Where the events go, and the secrets each provider proves itself with.
#[derive(Clone, Debug)]
pub struct EventsTarget {
    /// munji's public URL.
    pub munji: Url,
    pub kakao_admin_key: Option<String>,
    pub naver_client_id: String,
    pub naver_client_secret: String,
    pub google_client_id: String,
    pub apple_client_id: String,
    /// The issuer munji expects of Apple (its `issuer_url`).
    pub apple_issuer: String,
}

impl EventsTarget {
    /// The target a configuration describes.
    pub fn from_config(config: &Config) -> Self {
        let providers = &config.providers;
        Self {
            munji: config.public_url.clone(),
            kakao_admin_key: providers.kakao.admin_key().map(|k| k.expose_secret().to_owned()),
            naver_client_id: providers.naver.client_id.clone(),
            naver_client_secret: providers.naver.client_secret.expose_secret().to_owned(),
            google_client_id: providers.google.client_id.clone(),
            apple_client_id: providers.apple.client_id.clone(),
            apple_issuer: providers.apple.issuer_url.as_str().trim_end_matches('/').to_owned(),
        }
    }
}

/// The events, as the buttons name them.
const EVENTS: [&str; 10] = [
    "kakao_unlink",
    "naver_unlink",
    "google_sessions_revoked",
    "google_tokens_revoked",
    "google_account_disabled",
    "google_account_purged",
    "apple_consent_revoked",
    "apple_account_delete",
    "apple_email_disabled",
    "apple_email_enabled",
];

/// The `type` of an Apple notification for an event of the page.
fn apple_type(event: &str) -> Option<&'static str> {
    Some(match event {
        "apple_consent_revoked" => "consent-revoked",
        "apple_account_delete" => "account-delete",
        "apple_email_disabled" => "email-disabled",
        "apple_email_enabled" => "email-enabled",
        _ => return None,
    })
}

fn risc_uri(event: &str) -> Option<&'static str> {
    use crate::provider_events::risc;
    Some(match event {
        "google_sessions_revoked" => risc::SESSIONS_REVOKED,
        "google_tokens_revoked" => risc::TOKENS_REVOKED,
        "google_account_disabled" => risc::ACCOUNT_DISABLED,
        "google_account_purged" => risc::ACCOUNT_PURGED,
        _ => return None,
    })
}

pub(super) fn routes() -> Route {
    Route::new().at("/", get(page).post(send))
}

struct EventsText {
    lang: &'static str,
    title: &'static str,
    banner: &'static str,
    lead: &'static str,
    uid: &'static str,
    not_aimed: &'static str,
    sent: &'static str,
    labels: [&'static str; 10],
}

static EN: EventsText = EventsText {
    lang: "en",
    title: "Provider events (dev imitation)",
    banner: "Development imitation: never mounted outside",
    lead: "Send an account event to munji as the provider would. The uid is the person's id at that provider.",
    uid: "User id at the provider (uid)",
    not_aimed: "No munji instance is set up to receive events.",
    sent: "Sent; munji answered HTTP",
    labels: [
        "Kakao: unlink",
        "Naver: unlink",
        "Google: sessions revoked",
        "Google: tokens revoked",
        "Google: account disabled",
        "Google: account purged",
        "Apple: consent revoked",
        "Apple: account deleted",
        "Apple: relay e-mail disabled",
        "Apple: relay e-mail enabled",
    ],
};

static KO: EventsText = EventsText {
    lang: "ko",
    title: "제공자 이벤트 (개발용 모의 서비스)",
    banner: "개발용 모의 서비스입니다. 다음 명령으로 실행할 때만 열립니다:",
    lead: "제공자가 보내는 것과 똑같이 계정 이벤트를 munji에 보냅니다. uid는 그 제공자에서의 사용자 ID입니다.",
    uid: "제공자의 사용자 ID (uid)",
    not_aimed: "이벤트를 받을 munji가 설정되지 않았습니다.",
    sent: "보냈습니다. munji의 응답: HTTP",
    labels: [
        "카카오: 연결 끊기",
        "네이버: 연결 끊기",
        "Google: 세션 취소",
        "Google: 토큰 취소",
        "Google: 계정 사용 중지",
        "Google: 계정 삭제",
        "Apple: 사용 중단",
        "Apple: 계정 삭제",
        "Apple: 중계 이메일 끄기",
        "Apple: 중계 이메일 켜기",
    ],
};

#[derive(Template)]
#[template(path = "dev_events.html")]
struct EventsView {
    t: &'static EventsText,
    stylesheet: String,
    action: String,
    buttons: Vec<(&'static str, &'static str)>,
    uid: String,
    aimed: bool,
    result: Option<String>,
}

#[derive(Deserialize, Default)]
struct Shown {
    uid: Option<String>,
    sent: Option<String>,
    status: Option<u16>,
}

/// `GET /dev/events`: the buttons, and the answer to the last one pressed.
#[handler]
fn page(req: &Request, Query(shown): Query<Shown>, dev: Data<&Arc<DevProvider>>) -> Response {
    let lang = crate::i18n::Lang::from_accept_language(
        req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()),
    );
    let t = match lang {
        crate::i18n::Lang::Ko => &KO,
        crate::i18n::Lang::En => &EN,
    };
    let label = |event: &str| EVENTS.iter().position(|e| *e == event).map(|i| t.labels[i]);
    let result = match (shown.sent.as_deref().and_then(label), shown.status) {
        (Some(label), Some(status)) => Some(format!("{label}: {} {status}", t.sent)),
        _ => None,
    };
    let view = EventsView {
        t,
        stylesheet: format!("{}/static.css", dev.base),
        action: req.original_uri().path().to_owned(),
        buttons: EVENTS.iter().copied().zip(t.labels).collect(),
        uid: shown.uid.unwrap_or_else(|| "10001".to_owned()),
        aimed: dev.events_target().is_some(),
        result,
    };
    match view.render() {
        Ok(html) => Html(html).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[derive(Deserialize)]
struct Press {
    event: String,
    uid: String,
}

/// `POST /dev/events`: send the event, then back to the page with munji's answer.
#[handler]
async fn send(req: &Request, Form(press): Form<Press>, dev: Data<&Arc<DevProvider>>) -> Response {
    let Some(target) = dev.events_target() else {
        return (StatusCode::CONFLICT, "no munji instance is set up to receive events").into_response();
    };
    let uid = press.uid.trim();
    if uid.is_empty() || !EVENTS.contains(&press.event.as_str()) {
        return (StatusCode::BAD_REQUEST, "choose an event and a uid").into_response();
    }
    let status = match deliver(&dev, &target, &press.event, uid).await {
        Ok(status) => status,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("munji could not be reached: {e}")).into_response(),
    };
    let query = serde_urlencoded::to_string([("uid", uid), ("sent", &press.event), ("status", &status.to_string())])
        .unwrap_or_default();
    Redirect::see_other(format!("{}?{query}", req.original_uri().path())).into_response()
}

/// Send one event to munji as its provider would; munji's status code.
pub async fn deliver(dev: &DevProvider, target: &EventsTarget, event: &str, uid: &str) -> anyhow::Result<u16> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let hook = |path: &str| target.munji.join(path);
    let request = match event {
        "kakao_unlink" => {
            let key = target.kakao_admin_key.as_deref().unwrap_or_default();
            http.post(hook("hooks/kakao/unlink")?)
                .header(header::AUTHORIZATION.as_str(), format!("KakaoAK {key}"))
                .form(&[("app_id", "munji-dev"), ("user_id", uid), ("referrer_type", "UNLINK_FROM_APPS")])
        }
        "naver_unlink" => {
            let notice = crate::upstream::naver::notice::seal(
                &target.naver_client_id,
                &target.naver_client_secret,
                uid,
                Utc::now().timestamp(),
            );
            http.post(hook("hooks/naver/unlink")?).form(&notice)
        }
        other if let Some(kind) = apple_type(other) => {
            let events = json!({ "type": kind, "sub": uid, "event_time": Utc::now().timestamp_millis() });
            let claims = json!({
                "iss": target.apple_issuer,
                "aud": target.apple_client_id,
                "iat": Utc::now().timestamp(),
                "jti": crypto::random_token(16),
                // Apple sends the event as a JSON string inside the token.
                "events": events.to_string(),
            });
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(super::apple::KID.to_owned());
            let payload = jsonwebtoken::encode(&header, &claims, &dev.google.signing)?;
            http.post(hook("hooks/apple")?).json(&json!({ "payload": payload }))
        }
        other => {
            let uri = risc_uri(other).ok_or_else(|| anyhow::anyhow!("unknown event {other}"))?;
            let issuer = dev.url(Provider::Google, "");
            let claims = json!({
                "iss": issuer,
                "aud": target.google_client_id,
                "iat": Utc::now().timestamp(),
                "jti": crypto::random_token(16),
                "events": { uri: { "subject": { "subject_type": "iss-sub", "iss": issuer, "sub": uid } } },
            });
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(super::google::KID.to_owned());
            let token = jsonwebtoken::encode(&header, &claims, &dev.google.signing)?;
            http.post(hook("hooks/google/risc")?).header("content-type", "application/secevent+jwt").body(token)
        }
    };
    Ok(request.send().await?.status().as_u16())
}
