//! RP-initiated logout (`/end-session`, docs/logout.md; OpenID Connect RP-Initiated Logout 1.0)
//! without HTTP: check the request, then decide whether this browser's session ends at once or
//! the user is asked first, and where the browser goes afterwards.
//!
//! The rules: a `post_logout_redirect_uri` must be exactly one of the client's registered
//! `post_logout_redirect_uris` (the client named by `client_id` or by the hint's audience), or the
//! request is refused with a page and no redirect. An `id_token_hint` must be an ID token munji
//! signed (expired is fine) and, with a `client_id`, issued to that client. The session ends
//! without a question only when the hint's `sid` is this browser's session; otherwise a
//! confirmation page asks (a page on another site must not be able to sign the user out).

use super::{authorize::single_valued, clients::ClientError};
use crate::{
    audit::{self, AuditEvent},
    crypto,
    sessions::{self, Ending, Session, SessionError},
    state::AppState,
    store::StoreError,
};

/// The parameters of an end-session request (query or form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndSessionRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub ui_locales: Option<String>,
}

impl EndSessionRequest {
    /// Read the request from a query string or form body; a parameter given twice is refused.
    pub fn parse(encoded: &str) -> Result<Self, Refusal> {
        let params = single_valued(encoded).map_err(|_| Refusal::Duplicated)?;
        let get = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
        Ok(Self {
            id_token_hint: get("id_token_hint"),
            client_id: get("client_id"),
            post_logout_redirect_uri: get("post_logout_redirect_uri"),
            state: get("state"),
            ui_locales: get("ui_locales"),
        })
    }

    /// The parameters again, for the confirmation form's hidden fields.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        [
            ("id_token_hint", &self.id_token_hint),
            ("client_id", &self.client_id),
            ("post_logout_redirect_uri", &self.post_logout_redirect_uri),
            ("state", &self.state),
            ("ui_locales", &self.ui_locales),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
        .collect()
    }
}

/// Why an end-session request is refused (a 400 page; nothing changes, nobody is redirected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a parameter appears more than once")]
    Duplicated,
    #[error("id_token_hint is not an ID token of this issuer")]
    BadHint,
    #[error("id_token_hint was issued to another client")]
    HintOfAnotherClient,
    #[error("client_id names no client")]
    UnknownClient,
    #[error("post_logout_redirect_uri needs a client_id or an id_token_hint")]
    RedirectWithoutClient,
    #[error("post_logout_redirect_uri is not registered for this client")]
    UnregisteredRedirect,
}

/// Where the browser goes once signed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// 303 to the client's registered URI, with `state` added.
    Redirect(String),
    /// munji's own "signed out" page, naming the app when one was named.
    SignedOut { client_name: Option<String> },
}

/// The one error type of this flow: a store could not be asked. Nothing ended unless `Ok`.
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error(transparent)]
    Clients(#[from] ClientError),
    #[error(transparent)]
    Sessions(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an end-session request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The browser is signed out (its session, if it had one, has ended): go here.
    SignedOut(After),
    /// Nothing ended yet: ask the user, naming the app when one was named; the answer leads to
    /// `redirect` if the app asked for one.
    Confirm { client_name: Option<String>, redirect: Option<String> },
}

/// Answer an end-session request for the browser's `session`. `confirmed`: the user submitted
/// the confirmation form (its CSRF field already checked by the caller).
pub async fn end_session(
    state: &AppState,
    request: &EndSessionRequest,
    session: Option<&Session>,
    confirmed: bool,
) -> Result<Result<Outcome, Refusal>, LogoutError> {
    let after = match decide(state, request, session).await? {
        Err(refusal) => return Ok(Err(refusal)),
        Ok(Decision::Confirm { client_name, after }) if !confirmed => {
            let redirect = match after {
                After::Redirect(uri) => Some(uri),
                After::SignedOut { .. } => None,
            };
            return Ok(Ok(Outcome::Confirm { client_name, redirect }));
        }
        Ok(Decision::EndNow(after) | Decision::Confirm { after, .. }) => after,
    };
    if let Some(session) = session {
        sessions::end(state, Ending::One(&session.sid)).await?;
        audit::record(&state.db, Some(session.user_id), AuditEvent::Logout { everywhere: false }).await?;
    }
    Ok(Ok(Outcome::SignedOut(after)))
}

/// What the request leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The hint names this browser's session: end it now.
    EndNow(After),
    /// Ask the user first; the confirmation form carries the request again.
    Confirm { after: After, client_name: Option<String> },
}

/// Decide an end-session request for the browser's session, if any.
pub async fn decide(
    state: &AppState,
    request: &EndSessionRequest,
    session: Option<&Session>,
) -> Result<Result<Decision, Refusal>, ClientError> {
    let hint = match &request.id_token_hint {
        None => None,
        Some(token) => match state.tokens.verify_id_token_hint(token).await {
            Ok(hint) => Some(hint),
            Err(_) => return Ok(Err(Refusal::BadHint)),
        },
    };
    let client_id = match (&request.client_id, &hint) {
        (Some(id), Some(hint)) if !hint.aud.contains(id) => return Ok(Err(Refusal::HintOfAnotherClient)),
        (Some(id), _) => Some(id.clone()),
        (None, Some(hint)) => hint.aud.first().cloned(),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(id) => match state.clients.find(&state.config, &state.db, id).await? {
            Some(client) => Some(client),
            None if request.client_id.is_some() => return Ok(Err(Refusal::UnknownClient)),
            None => None,
        },
        None => None,
    };
    let client_name = client.as_ref().map(|c| c.name.clone());
    let after = match (&request.post_logout_redirect_uri, &client) {
        (None, _) => After::SignedOut { client_name: client_name.clone() },
        (Some(_), None) => return Ok(Err(Refusal::RedirectWithoutClient)),
        (Some(uri), Some(client)) => {
            if !client.post_logout_redirect_uris.iter().any(|registered| registered == uri) {
                return Ok(Err(Refusal::UnregisteredRedirect));
            }
            After::Redirect(with_state(uri, request.state.as_deref()))
        }
    };
    let hint_sid = hint.as_ref().and_then(|h| h.sid.as_deref());
    let names_this_session = match (hint_sid, session) {
        (Some(sid), Some(session)) => crypto::constant_time_eq(sid.as_bytes(), session.sid.as_bytes()),
        _ => false,
    };
    Ok(Ok(if names_this_session { Decision::EndNow(after) } else { Decision::Confirm { after, client_name } }))
}

/// `uri` with `state` added to its query (the URI is a registered one, so it parses).
fn with_state(uri: &str, state: Option<&str>) -> String {
    match (url::Url::parse(uri), state) {
        (Ok(mut url), Some(state)) => {
            url.query_pairs_mut().append_pair("state", state);
            url.into()
        }
        _ => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_added_to_the_query_of_the_redirect() {
        assert_eq!(with_state("https://app.example/bye", Some("a b")), "https://app.example/bye?state=a+b");
        assert_eq!(with_state("https://app.example/bye?x=1", Some("s")), "https://app.example/bye?x=1&state=s");
        assert_eq!(with_state("https://app.example/bye", None), "https://app.example/bye");
    }

    #[test]
    fn parameters_given_twice_are_refused_and_empty_ones_are_absent() {
        assert_eq!(EndSessionRequest::parse("state=a&state=b"), Err(Refusal::Duplicated));
        let request = EndSessionRequest::parse("client_id=web&state=&ui_locales=ko").unwrap();
        assert_eq!(request.client_id.as_deref(), Some("web"));
        assert_eq!(request.state, None);
        assert_eq!(request.fields(), vec![("client_id", "web".to_owned()), ("ui_locales", "ko".to_owned())]);
    }
}
