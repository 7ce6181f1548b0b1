//! Disconnecting Gmail (docs/gmail.md): revoke the grant at Google, then delete the connection.

use uuid::Uuid;

use super::connect::context;
use crate::{
    audit::{self, AuditEvent},
    state::AppState,
    store::{self, gmail},
    upstream::UpstreamError,
};

#[derive(Debug, thiserror::Error)]
pub enum DisconnectError {
    #[error("no such connection of this user")]
    NotFound,
    #[error("Google did not take the revocation: {0}")]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// Revoke at Google (the refresh token, which ends the whole grant), then delete. If Google
/// cannot be reached nothing is deleted, so the user can try again. A token no configured key
/// opens any more cannot be revoked; the connection is deleted all the same.
pub async fn disconnect(state: &AppState, user_id: Uuid, id: Uuid) -> Result<(), DisconnectError> {
    let connection = gmail::find_for_user(&state.db, user_id, id).await?.ok_or(DisconnectError::NotFound)?;
    let sealed = match &connection.refresh_token {
        Some(refresh) => state.vault.open(&context(id, "refresh"), refresh),
        None => state.vault.open(&context(id, "access"), &connection.access_token),
    };
    match sealed {
        Ok(token) => state.upstreams.revoke_google(&token).await?,
        Err(e) => tracing::warn!(error.message = %e, "a Gmail token could not be opened; deleting without revoking"),
    }
    if !gmail::delete(&state.db, user_id, id).await? {
        return Err(DisconnectError::NotFound);
    }
    let event = AuditEvent::GmailDisconnect { connection_id: id, gmail_address: &connection.gmail_address };
    audit::record(&state.db, Some(user_id), event).await?;
    Ok(())
}
