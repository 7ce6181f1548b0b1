//! Client authentication at the token endpoint (RFC 6749 §2.3.1): `client_secret_basic` or
//! `client_secret_post`, never both, never in the query string; public clients send only
//! `client_id`. Every failure is the same `invalid_client`.
//!
//! A request that authenticated the client is counted in the client's own `oauth` budget: a
//! confidential client's by its secret, a public client's only when it carries a live code or
//! token of the client (see [`super::proof`]). Anything else spends only its address's budget,
//! so naming a client cannot exhaust the budget of its real users.

use base64::{Engine as _, engine::general_purpose::STANDARD};

use super::{
    clients::Client,
    error::OAuthError,
    proof::{self, Evidence},
};
use crate::{
    rate_limit::{Group, Subject, Verdict},
    state::AppState,
};

/// What the request presented.
#[derive(Debug, PartialEq, Eq)]
pub struct Presented {
    pub client_id: String,
    pub secret: Option<String>,
    pub basic: bool,
}

fn form_decode(value: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={value}").as_bytes()).next().map(|(_, v)| v.into_owned())
}

/// Read the client's credentials from the `Authorization` header and the form.
pub fn presented(
    authorization: Option<&str>,
    form: &[(String, String)],
    query: Option<&str>,
) -> Result<Presented, OAuthError> {
    let basic = authorization.and_then(|h| h.strip_prefix("Basic ")).map(str::trim);
    let get = |name: &str| form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let in_query = query.is_some_and(|q| url::form_urlencoded::parse(q.as_bytes()).any(|(n, _)| n == "client_secret"));
    if in_query {
        return Err(OAuthError::InvalidClient { basic: basic.is_some() });
    }
    match basic {
        Some(encoded) => {
            if get("client_secret").is_some() {
                return Err(OAuthError::InvalidClient { basic: true });
            }
            let decoded = STANDARD.decode(encoded).ok().and_then(|b| String::from_utf8(b).ok());
            let (id, secret) = decoded
                .as_deref()
                .and_then(|d| d.split_once(':'))
                .and_then(|(id, secret)| Some((form_decode(id)?, form_decode(secret)?)))
                .ok_or(OAuthError::InvalidClient { basic: true })?;
            if get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::InvalidClient { basic: true });
            }
            Ok(Presented { client_id: id, secret: Some(secret), basic: true })
        }
        None => {
            let client_id = get("client_id").ok_or(OAuthError::InvalidClient { basic: false })?;
            Ok(Presented { client_id, secret: get("client_secret"), basic: false })
        }
    }
}

/// The client, if it proved who it is; `evidence` is what the request offers beyond the client
/// id, which for a public client decides whether it is counted as the client's.
pub async fn authenticate(
    state: &AppState,
    presented: &Presented,
    evidence: Evidence<'_>,
) -> Result<Client, OAuthError> {
    let refuse = OAuthError::InvalidClient { basic: presented.basic };
    let client =
        state.clients.find(&state.config, &state.db, &presented.client_id).await?.ok_or_else(|| refuse.clone())?;
    let ok = match (&presented.secret, client.is_public()) {
        (Some(secret), false) => client.secret_matches(secret),
        (None, true) => true,
        _ => false,
    };
    if !ok {
        return Err(refuse);
    }
    // Per client once the request proved it is the client's; per IP is the route's.
    if client.is_public() && !proof::holds(state, &client, evidence).await {
        return Ok(client);
    }
    let subject = Subject::Client(&client.id);
    match state.rate_limit(Group::OAuth, subject).await {
        Verdict::Allowed => Ok(client),
        Verdict::Limited { retry_after } => Err(OAuthError::SlowDown { retry_after_secs: retry_after.as_secs() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    }

    #[test]
    fn basic_and_post_are_read_and_mixing_them_is_refused() {
        let basic = format!("Basic {}", STANDARD.encode("web:s%3Acret"));
        let p = presented(Some(&basic), &form(&[]), None).unwrap();
        assert_eq!((p.client_id.as_str(), p.secret.as_deref(), p.basic), ("web", Some("s:cret"), true));
        let p = presented(None, &form(&[("client_id", "web"), ("client_secret", "x")]), None).unwrap();
        assert_eq!((p.secret.as_deref(), p.basic), (Some("x"), false));
        assert!(presented(Some(&basic), &form(&[("client_secret", "x")]), None).is_err());
        assert!(presented(None, &form(&[("client_id", "web")]), Some("client_secret=x")).is_err());
        assert!(presented(None, &form(&[]), None).is_err());
        assert!(presented(Some("Basic !!!"), &form(&[]), None).is_err());
    }
}
