//! Naver Login (classic OAuth 2.0 endpoints) and the profile API `/v1/nid/me`.
//!
//! The token endpoint sends `expires_in` as a string and may answer errors with HTTP 200; the
//! profile comes in a `{"resultcode", "message", "response"}` envelope where every value is a
//! string and a declined field is absent or `""`. Naver has no e-mail-verified flag.

pub mod notice;

use serde::Deserialize;

use super::{Provider, UpstreamError, UpstreamProfile, non_empty, oauth::Wire};

/// Naver's re-consent is `auth_type=reprompt` (it has no per-request scopes), and its token
/// request lists `state` among the parameters.
pub(super) static WIRE: Wire = Wire {
    provider: Provider::Naver,
    reconsent: ("auth_type", "reprompt"),
    state_in_token_request: true,
    parse_profile,
};

#[derive(Deserialize)]
struct Envelope {
    resultcode: String,
    response: Option<NaverUser>,
}

#[derive(Deserialize)]
struct NaverUser {
    id: String,
    email: Option<String>,
    name: Option<String>,
    nickname: Option<String>,
}

/// Read a `/v1/nid/me` body. Anything but `resultcode` `"00"` with a non-empty `id` is refused.
pub fn parse_profile(body: &[u8]) -> Result<UpstreamProfile, UpstreamError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| UpstreamError::BadResponse(format!("naver profile: {e}")))?;
    if envelope.resultcode != "00" {
        return Err(UpstreamError::BadResponse(format!("naver profile resultcode {}", envelope.resultcode)));
    }
    let user = envelope.response.ok_or_else(|| UpstreamError::BadResponse("naver profile without response".into()))?;
    let uid = non_empty(Some(user.id)).ok_or_else(|| UpstreamError::BadResponse("naver profile without id".into()))?;
    Ok(UpstreamProfile {
        provider: Provider::Naver,
        uid,
        email: non_empty(user.email),
        email_verified: false,
        name: non_empty(user.name).or(non_empty(user.nickname)),
        email_private: false,
        upstream_token: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/fixtures/providers/naver/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn a_full_profile_keys_on_response_id_and_claims_no_verification() {
        let profile = parse_profile(&fixture("profile.json")).unwrap();
        assert_eq!(profile.uid, "32742776");
        assert_eq!(profile.email.as_deref(), Some("openapi@naver.com"));
        assert!(!profile.email_verified);
        assert_eq!(profile.name.as_deref(), Some("오픈 API"));
    }

    #[test]
    fn an_opaque_id_is_kept_as_is_and_the_nickname_stands_in_for_the_name() {
        let profile = parse_profile(&fixture("profile_opaque_id.json")).unwrap();
        assert_eq!(profile.uid, "dC1Ww2xa7kq-3M0ZbCqLkVQ9Ns1rUJ0nXW8WJ0sB3mE");
        assert_eq!(profile.name.as_deref(), Some("id***"));
    }

    #[test]
    fn a_declined_email_is_absent_whether_missing_or_empty() {
        assert_eq!(parse_profile(&fixture("profile_declined_email.json")).unwrap().email, None);
        assert_eq!(parse_profile(&fixture("profile_empty_email.json")).unwrap().email, None);
    }

    #[test]
    fn an_error_envelope_or_malformed_body_is_refused() {
        assert!(matches!(parse_profile(&fixture("profile_error.json")), Err(UpstreamError::BadResponse(_))));
        assert!(parse_profile(b"<html>oops</html>").is_err());
        assert!(parse_profile(br#"{"resultcode":"00","response":{"id":""}}"#).is_err());
        assert!(parse_profile(br#"{"resultcode":"00","response":{"id":32742776}}"#).is_err(), "ids are strings");
    }
}
