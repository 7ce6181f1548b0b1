//! Kakao Login (OAuth 2.0 with PKCE) and the user API `/v2/user/me`.
//!
//! The user `id` is a JSON number, stored as its decimal string. Every `kakao_account` field is
//! optional; a declined e-mail is `email` absent with `email_needs_agreement: true`. An e-mail
//! counts as verified only when both `is_email_verified` and `is_email_valid` are true.

use serde::Deserialize;

use super::{Provider, UpstreamError, UpstreamProfile, non_empty, oauth::Wire};

/// Kakao asks again for declined items named in `scope` (here, the e-mail) and uses PKCE.
pub(super) static WIRE: Wire = Wire {
    provider: Provider::Kakao,
    reconsent: ("scope", "account_email"),
    state_in_token_request: false,
    parse_profile,
};

#[derive(Deserialize)]
struct KakaoUser {
    id: serde_json::Number,
    kakao_account: Option<Account>,
    properties: Option<Properties>,
}

#[derive(Deserialize, Default)]
struct Account {
    email: Option<String>,
    is_email_verified: Option<bool>,
    is_email_valid: Option<bool>,
    name: Option<String>,
    profile: Option<Properties>,
}

#[derive(Deserialize, Default)]
struct Properties {
    nickname: Option<String>,
}

/// Read a `/v2/user/me` body. The `id` must be an integer.
pub fn parse_profile(body: &[u8]) -> Result<UpstreamProfile, UpstreamError> {
    let user: KakaoUser =
        serde_json::from_slice(body).map_err(|e| UpstreamError::BadResponse(format!("kakao profile: {e}")))?;
    if !(user.id.is_i64() || user.id.is_u64()) {
        return Err(UpstreamError::BadResponse("kakao id is not an integer".into()));
    }
    let account = user.kakao_account.unwrap_or_default();
    let nickname = account.profile.and_then(|p| p.nickname).or(user.properties.and_then(|p| p.nickname));
    Ok(UpstreamProfile {
        provider: Provider::Kakao,
        uid: user.id.to_string(),
        email: non_empty(account.email),
        email_verified: account.is_email_verified == Some(true) && account.is_email_valid == Some(true),
        name: non_empty(account.name).or(non_empty(nickname)),
        email_private: false,
        upstream_token: None,
    })
}

/// Unlink the Kakao user `uid` from the app with the app's admin key (docs/leaving.md): a form
/// POST to `url` with `Authorization: KakaoAK {admin_key}`, `target_id_type=user_id` and
/// `target_id={uid}`. Kakao answers `{"id": uid}`; any other status is a failure.
pub(super) async fn unlink(
    http: &reqwest::Client,
    url: &url::Url,
    admin_key: &str,
    uid: &str,
) -> Result<(), UpstreamError> {
    let resp = http
        .post(url.clone())
        .header(reqwest::header::AUTHORIZATION, format!("KakaoAK {admin_key}"))
        .form(&[("target_id_type", "user_id"), ("target_id", uid)])
        .send()
        .await
        .map_err(|e| UpstreamError::from_reqwest(&e))?;
    if resp.status().is_success() { Ok(()) } else { Err(UpstreamError::Status(resp.status().as_u16())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/fixtures/providers/kakao/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn the_numeric_id_becomes_its_decimal_string() {
        let profile = parse_profile(&fixture("user_me.json")).unwrap();
        assert_eq!(profile.uid, "3827731058");
        assert_eq!(profile.email.as_deref(), Some("gildong@kakao.com"));
        assert!(profile.email_verified);
        assert_eq!(profile.name.as_deref(), Some("홍길동"));
    }

    #[test]
    fn a_declined_email_is_absent() {
        let profile = parse_profile(&fixture("user_me_declined_email.json")).unwrap();
        assert_eq!(profile.email, None);
        assert!(!profile.email_verified);
    }

    #[test]
    fn an_invalid_email_is_not_verified_even_if_it_was_once() {
        let profile = parse_profile(&fixture("user_me_invalid_email.json")).unwrap();
        assert_eq!(profile.uid, "1234567890123");
        assert_eq!(profile.email.as_deref(), Some("old@example.com"));
        assert!(!profile.email_verified);
    }

    #[test]
    fn an_error_body_or_a_non_integer_id_is_refused() {
        assert!(parse_profile(&fixture("user_me_error.json")).is_err());
        assert!(parse_profile(br#"{"id":"3827731058"}"#).is_err(), "ids are numbers");
        assert!(parse_profile(br#"{"id":1.5}"#).is_err());
        assert!(parse_profile(b"not json").is_err());
    }
}
