//! `/.well-known/openid-configuration` (OIDC Discovery §3) and `/jwks`.

use poem::{
    IntoResponse, Response, handler,
    web::{Data, Json},
};
use serde_json::json;

use crate::state::AppState;

#[handler]
pub fn configuration(state: Data<&AppState>) -> Json<serde_json::Value> {
    let issuer = &state.tokens.issuer;
    let alg = state.tokens.keys().ring().current().map_or("ES256", |k| k.alg.as_str());
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": ["openid", "profile", "email"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
                             "preferred_username", "name", "email"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent"],
        "end_session_endpoint": format!("{issuer}/end-session"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    }))
}

/// The published keys: a rotation shows within a second, the database is read at most once a
/// second however often this is asked, and the last known keys are served while it is down.
#[handler]
pub async fn jwks(state: Data<&AppState>) -> Response {
    state.tokens.keys().published_jwks().await.with_content_type("application/json").into_response()
}
