//! Client authentication at the token endpoint (RFC 6749 §2.3.1): `client_secret_basic` or
//! `client_secret_post`, never both, never in the query string; public clients send only
//! `client_id`. Every failure is the same `invalid_client`.
//!
//! A request that authenticated the client is counted in the client's own `oauth` budget: a
//! confidential client's by its secret, a public client's only when it carries a live code or
//! token of the client (see [`super::proof`]). Anything else spends only its address's budget,
//! so naming a client cannot exhaust the budget of its real users.
//!
//! The address and the client are counted together, after the client is known, in one round
//! trip to the ephemeral store ([`Caller::admit`]); `/introspect` reads the token's revocation
//! mark in that same round trip (docs/operations.md).

use std::net::IpAddr;

use base64::{Engine as _, engine::general_purpose::STANDARD};

use super::{
    clients::Client,
    error::OAuthError,
    proof::{self, Evidence},
};
use crate::{
    ephemeral::EphemeralError,
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

/// A request's caller, not yet counted: the client it proved to be (or why it did not), whether
/// it is counted in that client's budget, and its address. [`Caller::admit`] counts it.
#[derive(Debug)]
pub struct Caller {
    client: Result<Client, OAuthError>,
    counted_as_client: bool,
    ip: Option<IpAddr>,
}

/// Who the caller is, from what it presented; `evidence` is what the request offers beyond
/// the client id, which for a public client decides whether it is counted as the client's.
/// Nothing is counted yet; only a failing store is an error here.
pub async fn identify(
    state: &AppState,
    presented: &Presented,
    evidence: Evidence<'_>,
    ip: Option<IpAddr>,
) -> Result<Caller, OAuthError> {
    let refuse = OAuthError::InvalidClient { basic: presented.basic };
    let Some(client) = state.clients.find(&state.config, &state.db, &presented.client_id).await? else {
        return Ok(Caller::refused(ip, refuse));
    };
    let ok = match (&presented.secret, client.is_public()) {
        (Some(secret), false) => client.secret_matches(secret),
        (None, true) => true,
        _ => false,
    };
    if !ok {
        return Ok(Caller::refused(ip, refuse));
    }
    // Per client once the request proved it is the client's; per IP always.
    let counted_as_client = !client.is_public() || proof::holds(state, &client, evidence).await;
    Ok(Caller { client: Ok(client), counted_as_client, ip })
}

/// The client, if it proved who it is, counted in its budgets ([`identify`], then
/// [`Caller::admit`]).
pub async fn authenticate(
    state: &AppState,
    presented: &Presented,
    evidence: Evidence<'_>,
    ip: Option<IpAddr>,
) -> Result<Client, OAuthError> {
    identify(state, presented, evidence, ip).await?.admit(state).await
}

impl Caller {
    /// A caller refused with `error` before (or instead of) proving a client: counted by its
    /// address alone.
    pub fn refused(ip: Option<IpAddr>, error: OAuthError) -> Self {
        Self { client: Err(error), counted_as_client: false, ip }
    }

    /// The client it proved to be, if it did.
    pub fn client(&self) -> Option<&Client> {
        self.client.as_ref().ok()
    }

    /// Count the request and hand back the client, or the refusal: `slow_down` over a limit,
    /// else why the client was not accepted. One round trip to the ephemeral store.
    pub async fn admit(self, state: &AppState) -> Result<Client, OAuthError> {
        Ok(self.admit_reading(state, &[]).await?.0)
    }

    /// [`Self::admit`], reading the ephemeral `marks` in the same round trip (whether each is
    /// present). The marks are an error when the store could not be reached, while the limits
    /// fail open.
    pub async fn admit_reading(
        self,
        state: &AppState,
        marks: &[String],
    ) -> Result<(Client, Result<Vec<bool>, EphemeralError>), OAuthError> {
        let mut counted = Vec::with_capacity(2);
        if let Some(ip) = self.ip {
            counted.push((Group::OAuth, Subject::Ip(ip)));
        }
        if let (Ok(client), true) = (&self.client, self.counted_as_client) {
            counted.push((Group::OAuth, Subject::Client(&client.id)));
        }
        let (verdict, marked) = state.rate_limiter.check_all(&state.ephemeral, &state.metrics, &counted, marks).await;
        if let Verdict::Limited { retry_after } = verdict {
            return Err(OAuthError::SlowDown { retry_after_secs: retry_after.as_secs() });
        }
        Ok((self.client?, marked))
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
