//! Connected apps (docs/consent.md): the clients that hold a live refresh token of a user or a
//! consent they gave, and removing one (its refresh tokens revoked, its consent forgotten, and a
//! back-channel logout for each session under which it received tokens).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{backchannel, clients::ClientError};
use crate::{
    state::AppState,
    store::{consents, refresh_tokens},
};

/// One app with access to the user's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApp {
    pub client_id: String,
    /// The client's display name (its id when it has none, or when it no longer exists).
    pub name: String,
    /// What it may do: the consented scopes, or those of its tokens.
    pub scopes: Vec<String>,
    pub first_party: bool,
    /// When the user first allowed it (consent) or it first got tokens.
    pub authorized_at: DateTime<Utc>,
    /// When it last got tokens (a sign-in or a refresh), if it holds any.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The user's connected apps, by client id.
pub async fn list(state: &AppState, user_id: Uuid) -> Result<Vec<ConnectedApp>, ClientError> {
    let mut apps: BTreeMap<String, ConnectedApp> = BTreeMap::new();
    for consent in consents::list_for_user(&state.db, user_id).await? {
        apps.insert(
            consent.client_id.clone(),
            ConnectedApp {
                name: consent.client_id.clone(),
                client_id: consent.client_id,
                scopes: consent.scopes,
                first_party: false,
                authorized_at: consent.granted_at,
                last_used_at: None,
            },
        );
    }
    let now = state.clock.now();
    for grant in refresh_tokens::live_grants_of_user(&state.db, user_id, now).await? {
        let app = apps.entry(grant.client_id.clone()).or_insert_with(|| ConnectedApp {
            name: grant.client_id.clone(),
            client_id: grant.client_id.clone(),
            scopes: vec![],
            first_party: true,
            authorized_at: grant.created_at,
            last_used_at: None,
        });
        for scope in grant.scope.split(' ').filter(|s| !s.is_empty()) {
            if !app.scopes.iter().any(|s| s == scope) {
                app.scopes.push(scope.to_owned());
            }
        }
        app.authorized_at = app.authorized_at.min(grant.created_at);
        app.last_used_at = app.last_used_at.max(Some(grant.created_at));
    }
    for app in apps.values_mut() {
        if let Some(client) = state.clients.find(&state.config, &state.db, &app.client_id).await? {
            app.name = client.name;
            app.first_party = client.first_party;
        }
    }
    Ok(apps.into_values().collect())
}

/// Remove `client_id` from the user's apps. `false` if it was not one of them.
pub async fn remove(state: &AppState, user_id: Uuid, client_id: &str) -> Result<bool, ClientError> {
    let now = state.clock.now();
    let revoked = refresh_tokens::revoke_client_of_user(&state.db, user_id, client_id, now).await?;
    let forgotten = consents::forget(&state.db, user_id, client_id).await?;
    let sessions = backchannel::client_removed(state, user_id, client_id).await?;
    Ok(revoked > 0 || forgotten || sessions > 0)
}
