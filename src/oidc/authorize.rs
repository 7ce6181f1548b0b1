//! `/authorize` (RFC 6749 §4.1, OIDC Core §3.1.2, RFC 7636, RFC 9207) without HTTP: check the
//! request, then decide between an error page, an error redirect, sending the user to sign in,
//! or a code.
//!
//! RFC 6749 §4.1.2.1: while the client or the redirect URI is unknown, mismatched or ambiguous,
//! the user agent must not be redirected to it: those errors are pages. Only after both are
//! proven do protocol errors go back to the client with `state` and `iss`.

use std::{collections::HashSet, time::Duration};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::clients::{self, AUTHORIZATION_CODE, Client, ClientCache};
use crate::{
    clock::Clock,
    config::Config,
    crypto,
    ephemeral::{Ephemeral, EphemeralError},
    sessions::Session,
    state::AppState,
    store::{Db, StoreError, consents},
};

/// How long an authorization code lives (docs/tokens.md: at most a minute).
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a spent code is remembered, so a second redemption can revoke the first one's tokens.
const SPENT_TTL: Duration = Duration::from_secs(600);

/// A request that passed every check.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub client: Client,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub prompt_consent: bool,
    pub max_age: Option<i64>,
}

/// Why a request was refused, and how to say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Shown on munji's own page (the redirect URI cannot be trusted).
    Page { error: &'static str, description: String },
    /// Sent back to the client's (verified) redirect URI.
    Redirect { redirect_uri: String, state: Option<String>, error: &'static str, description: String },
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error(transparent)]
    Clients(#[from] clients::ClientError),
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The user's answer on the consent page (docs/consent.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentAnswer {
    Allow,
    Deny,
}

/// What `/authorize` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Back to the client's (verified) redirect URI with these parameters, its `state` and `iss`.
    ToClient { redirect_uri: String, params: Vec<(&'static str, String)>, state: Option<String> },
    /// munji's own error page: the redirect URI cannot be trusted.
    Page { error: &'static str, description: String },
    /// The browser signs in first, then comes back to `return_to`.
    SignIn { return_to: String },
    /// Ask the user whether the client may have `scopes`; the answer comes back with `query`,
    /// and leads to `redirect_uri`.
    Consent { client_name: String, scopes: Vec<String>, query: String, redirect_uri: String },
}

/// Decide the answer to the authorization request `query` for the browser's session, if any:
/// an error page or redirect for a bad request, sign-in for a missing or too old session
/// (`prompt=login`, `max_age`), `login_required` for `prompt=none` without one, the consent
/// page (a third-party client without consent for these scopes, or `prompt=consent`), or a
/// code. `answer` is the user's answer on the consent page, if this is one.
pub async fn decide(
    state: &AppState,
    query: &str,
    session: Option<&Session>,
    answer: Option<ConsentAnswer>,
) -> Result<Outcome, AuthorizeError> {
    let request = match check(&state.clients, &state.config, &state.db, query).await? {
        Ok(request) => request,
        Err(Refusal::Page { error, description }) => return Ok(Outcome::Page { error, description }),
        Err(Refusal::Redirect { redirect_uri, state, error, description }) => {
            let params = vec![("error", error.to_owned()), ("error_description", description)];
            return Ok(Outcome::ToClient { redirect_uri, params, state });
        }
    };
    let now = state.clock.now().timestamp();
    let fresh_enough = |auth_time: i64| request.max_age.is_none_or(|max| now - auth_time <= max);
    let session = match session {
        Some(s) if !request.prompt_login && fresh_enough(s.auth_time) => s,
        _ if request.prompt_none => {
            let params =
                vec![("error", "login_required".to_owned()), ("error_description", "the user is not signed in".into())];
            return Ok(Outcome::ToClient { redirect_uri: request.redirect_uri, params, state: request.state });
        }
        // Sign in, then come back; without prompt=login, or it would ask forever.
        _ => return Ok(Outcome::SignIn { return_to: format!("/authorize?{}", without_prompt_login(query)) }),
    };
    if let Some(refused) = consent(state, &request, session.user_id, query, answer).await? {
        return Ok(refused);
    }
    let record = CodeRecord {
        client_id: request.client.id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        user_id: session.user_id,
        sid: session.sid.clone(),
        auth_time: session.auth_time,
        expires_at_ms: code_expires_at(&state.clock),
    };
    let code = issue_code(&state.ephemeral, &state.clock, &record).await?;
    Ok(Outcome::ToClient { redirect_uri: request.redirect_uri, params: vec![("code", code)], state: request.state })
}

/// Whether the request may go on to a code as far as consent goes: `None` if so (consent given
/// before, or just now, or not needed), else the consent page or the error for the client.
async fn consent(
    state: &AppState,
    request: &Authorization,
    user_id: Uuid,
    query: &str,
    answer: Option<ConsentAnswer>,
) -> Result<Option<Outcome>, AuthorizeError> {
    let requested: Vec<String> = request.scope.split(' ').map(str::to_owned).collect();
    let client = &request.client;
    let given = if client.first_party { None } else { consents::find(&state.db, user_id, &client.id).await? };
    let covered = client.first_party || given.as_ref().is_some_and(|g| requested.iter().all(|s| g.scopes.contains(s)));
    if covered && !request.prompt_consent {
        return Ok(None);
    }
    let to_client = |error: &'static str, description: &str| Outcome::ToClient {
        redirect_uri: request.redirect_uri.clone(),
        params: vec![("error", error.to_owned()), ("error_description", description.to_owned())],
        state: request.state.clone(),
    };
    match answer {
        Some(ConsentAnswer::Allow) => {
            if !client.first_party {
                let mut scopes = given.map(|g| g.scopes).unwrap_or_default();
                scopes.extend(requested.into_iter().filter(|s| !scopes.contains(s)).collect::<Vec<_>>());
                consents::save(&state.db, user_id, &client.id, &scopes, state.clock.now()).await?;
            }
            Ok(None)
        }
        Some(ConsentAnswer::Deny) => Ok(Some(to_client("access_denied", "the user did not allow this client"))),
        None if request.prompt_none => Ok(Some(to_client("consent_required", "the user has not allowed this client"))),
        None => Ok(Some(Outcome::Consent {
            client_name: client.name.clone(),
            scopes: requested,
            query: query.to_owned(),
            redirect_uri: request.redirect_uri.clone(),
        })),
    }
}

/// The query with any `prompt=login` left out.
fn without_prompt_login(query: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(url::form_urlencoded::parse(query.as_bytes()).filter(|(n, v)| !(n == "prompt" && v == "login")))
        .finish()
}

fn page(error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal::Page { error, description: description.into() }
}

/// Parse a query string, refusing any parameter given twice (Keycloak CVE-2026-9689).
pub fn single_valued(query: &str) -> Result<Vec<(String, String)>, String> {
    let mut seen = HashSet::new();
    let mut params = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if !seen.insert(name.to_string()) {
            return Err(format!("parameter {name:?} appears more than once"));
        }
        params.push((name.into_owned(), value.into_owned()));
    }
    Ok(params)
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A PKCE challenge: 43–128 characters of base64url (RFC 7636 §4.2, S256 only).
fn valid_challenge(challenge: &str) -> bool {
    (43..=128).contains(&challenge.len())
        && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Check an authorization request.
pub async fn check(
    clients: &ClientCache,
    config: &Config,
    db: &Db,
    query: &str,
) -> Result<Result<Authorization, Refusal>, AuthorizeError> {
    let params = match single_valued(query) {
        Ok(params) => params,
        Err(why) => return Ok(Err(page("invalid_request", why))),
    };
    let Some(client_id) = get(&params, "client_id").filter(|c| !c.is_empty() && c.len() <= 128) else {
        return Ok(Err(page("invalid_request", "client_id is missing")));
    };
    let Some(client) = clients.find(config, db, client_id).await? else {
        return Ok(Err(page("invalid_client", "unknown client")));
    };
    let Some(redirect_uri) = get(&params, "redirect_uri") else {
        return Ok(Err(page("invalid_request", "redirect_uri is missing")));
    };
    if !client.redirect_uri_matches(redirect_uri) {
        return Ok(Err(page("invalid_request", "redirect_uri is not registered for this client")));
    }
    let state = get(&params, "state").map(str::to_owned);
    let refuse = |error: &'static str, description: &str| {
        Ok(Err(Refusal::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            state: state.clone(),
            error,
            description: description.to_owned(),
        }))
    };

    match get(&params, "response_type") {
        None => return refuse("invalid_request", "response_type is missing"),
        Some("code") => {}
        Some(_) => return refuse("unsupported_response_type", "only response_type=code is supported"),
    }
    if !client.allows_grant(AUTHORIZATION_CODE) {
        return refuse("unauthorized_client", "this client may not use the authorization code flow");
    }
    let scope = get(&params, "scope").unwrap_or("openid");
    let requested: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    if requested.len() > 32 || requested.iter().any(|s| !client.scopes.iter().any(|allowed| allowed == s)) {
        return refuse("invalid_scope", "a requested scope is not allowed for this client");
    }
    let code_challenge = get(&params, "code_challenge");
    match (code_challenge, get(&params, "code_challenge_method")) {
        (Some(c), Some("S256")) if valid_challenge(c) => {}
        (Some(_), Some("S256")) => return refuse("invalid_request", "code_challenge is malformed"),
        (Some(_), _) => return refuse("invalid_request", "code_challenge_method must be S256"),
        (None, Some(_)) => return refuse("invalid_request", "code_challenge_method without code_challenge"),
        (None, None) if client.is_public() => return refuse("invalid_request", "public clients must use PKCE (S256)"),
        (None, None) => {}
    }
    let prompts: Vec<&str> = get(&params, "prompt").unwrap_or_default().split(' ').filter(|p| !p.is_empty()).collect();
    if prompts.contains(&"none") && prompts.len() > 1 {
        return refuse("invalid_request", "prompt=none cannot be combined");
    }
    let max_age = match get(&params, "max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => return refuse("invalid_request", "max_age must be a non-negative integer"),
        },
    };
    Ok(Ok(Authorization {
        redirect_uri: redirect_uri.to_owned(),
        state,
        scope: requested.join(" "),
        nonce: get(&params, "nonce").map(str::to_owned),
        code_challenge: code_challenge.map(str::to_owned),
        prompt_none: prompts.contains(&"none"),
        prompt_login: prompts.contains(&"login"),
        prompt_consent: prompts.contains(&"consent"),
        max_age,
        client,
    }))
}

/// What an authorization code stands for, kept in the ephemeral store for 60 s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub user_id: Uuid,
    pub sid: String,
    pub auth_time: i64,
    /// When the code expires (Unix ms), so that a claim that finds the code gone can tell an
    /// expiry from a redemption by someone else. Absent in older records: treated as expired.
    #[serde(default)]
    pub expires_at_ms: i64,
}

/// When a code issued now expires.
pub fn code_expires_at(clock: &Clock) -> i64 {
    clock.now_ms() + CODE_TTL.as_millis() as i64
}

fn code_key(code: &str) -> String {
    format!("code:{}", crypto::sha256_hex(code))
}

fn spent_key(code: &str) -> String {
    format!("code_spent:{}", crypto::sha256_hex(code))
}

/// Store `record` under a new random code, until its `expires_at_ms`.
pub async fn issue_code(store: &Ephemeral, clock: &Clock, record: &CodeRecord) -> Result<String, EphemeralError> {
    let code = crypto::random_token(32);
    let left = record.expires_at_ms - clock.now_ms();
    let ttl = Duration::from_millis(left.clamp(1, CODE_TTL.as_millis() as i64).unsigned_abs());
    store.put(&code_key(&code), &serde_json::to_vec(record).unwrap_or_default(), ttl).await?;
    Ok(code)
}

/// What a code stands for now.
pub enum Redemption {
    /// Unredeemed: its record (nothing is claimed yet: see [`claim_code`]).
    Found(CodeRecord),
    /// The code was redeemed before; the `sid` its tokens were issued under.
    Reused { sid: String },
    /// Unknown or expired.
    Unknown,
}

/// Look a code up without changing anything. A code past its own expiry is unknown, even
/// while the store still holds it.
pub async fn look_up_code(store: &Ephemeral, clock: &Clock, code: &str) -> Result<Redemption, EphemeralError> {
    if code.is_empty() || code.len() > 128 {
        return Ok(Redemption::Unknown);
    }
    if let Some(value) = store.get(&code_key(code)).await? {
        return Ok(match serde_json::from_slice::<CodeRecord>(&value) {
            Ok(record) if clock.now_ms() < record.expires_at_ms => Redemption::Found(record),
            _ => Redemption::Unknown,
        });
    }
    Ok(match store.get(&spent_key(code)).await? {
        Some(sid) => Redemption::Reused { sid: String::from_utf8_lossy(&sid).into_owned() },
        None => Redemption::Unknown,
    })
}

/// How far the ephemeral store's clock may run ahead of ours when it expires a code.
const CLOCK_MARGIN_MS: i64 = 1000;

/// What claiming a looked-up code led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This redemption, and no other, has the code.
    Won,
    /// Another redemption took it first: a reuse.
    Lost,
    /// It expired between the look-up and the claim: nobody redeemed it, nothing is reused.
    Expired,
}

/// Claim a looked-up code: the spent mark (with the session id) goes down *before* the take,
/// so every other redemption, concurrent or later, finds the session to revoke. Exactly one
/// caller, on any instance, wins. A code whose own expiry has passed by the time it is claimed
/// expired: taken or not, nothing is issued for it, its spent mark is removed again and nothing
/// counts as a reuse (a code taken by another redemption is gone *before* its expiry; within
/// the last second the two cannot be told apart, and the code counts as expired).
pub async fn claim_code(
    store: &Ephemeral,
    clock: &Clock,
    code: &str,
    record: &CodeRecord,
) -> Result<Claim, EphemeralError> {
    store.put(&spent_key(code), record.sid.as_bytes(), SPENT_TTL).await?;
    let taken = store.take(&code_key(code)).await?.is_some();
    let now = clock.now_ms();
    let expired = now >= record.expires_at_ms || (!taken && now >= record.expires_at_ms - CLOCK_MARGIN_MS);
    if expired {
        forget_spent(store, code).await?;
        return Ok(Claim::Expired);
    }
    Ok(if taken { Claim::Won } else { Claim::Lost })
}

/// Remove a claimed code's spent mark (its redemption was refused and issued nothing).
pub async fn forget_spent(store: &Ephemeral, code: &str) -> Result<(), EphemeralError> {
    store.delete(&spent_key(code)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicated_parameters_are_refused() {
        assert!(single_valued("a=1&b=2").is_ok());
        assert!(single_valued("redirect_uri=x&redirect_uri=y").is_err());
        assert!(single_valued("state=a&client_id=c&state=a").is_err());
    }

    #[test]
    fn pkce_challenges_are_43_to_128_base64url_characters() {
        assert!(valid_challenge(&"a".repeat(43)));
        assert!(valid_challenge(&"A-_9".repeat(32)));
        assert!(!valid_challenge(&"a".repeat(42)));
        assert!(!valid_challenge(&"a".repeat(129)));
        assert!(!valid_challenge(&format!("{}=", "a".repeat(43))));
    }
}
