//! Equipping a connection to a target (docs/gmail.md): at most one connection per (user,
//! target); equipping a target another connection holds moves it; a connection whose grant
//! lacks `gmail.send` cannot be equipped.
//!
//! Each equip and unequip is audited, so a user's calls are counted (`pages` group, per user)
//! before anything is written: a script cannot grow the audit log without bound.

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::{TARGET_RULE, connect::can_send, valid_target};
use crate::{
    audit::{self, AuditEvent},
    rate_limit::{Group, Subject, Verdict},
    state::AppState,
    store::{self, gmail::Connection},
};

#[derive(Debug, thiserror::Error)]
pub enum EquipError {
    #[error("no such connection of this user")]
    NotFound,
    #[error("the grant lacks gmail.send")]
    ScopeMissing,
    #[error("{TARGET_RULE}")]
    BadTarget,
    /// The user is over the limit of equips and unequips.
    #[error("too many equips and unequips; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// Count one equip or unequip of `user_id`.
async fn count(state: &AppState, user_id: Uuid) -> Result<(), EquipError> {
    match state.rate_limit(Group::Pages, Subject::User(user_id)).await {
        Verdict::Allowed => Ok(()),
        Verdict::Limited { retry_after } => Err(EquipError::RateLimited { retry_after }),
    }
}

/// Equip the user's connection `id` to `target`; returns the connection as it is now.
pub async fn equip(state: &AppState, user_id: Uuid, id: Uuid, target: &str) -> Result<Connection, EquipError> {
    if !valid_target(target) {
        return Err(EquipError::BadTarget);
    }
    count(state, user_id).await?;
    let db = &state.db;
    let connection = store::gmail::find_for_user(db, user_id, id).await?.ok_or(EquipError::NotFound)?;
    if !can_send(&connection) {
        return Err(EquipError::ScopeMissing);
    }
    if !store::gmail::equip(db, user_id, id, target, Utc::now()).await? {
        return Err(EquipError::NotFound);
    }
    audit::record(db, Some(user_id), AuditEvent::GmailEquip { connection_id: id, target }).await?;
    Ok(Connection { equipped_to: Some(target.to_owned()), ..connection })
}

/// Unequip the user's connection `id`.
pub async fn unequip(state: &AppState, user_id: Uuid, id: Uuid) -> Result<(), EquipError> {
    count(state, user_id).await?;
    let db = &state.db;
    if !store::gmail::unequip(db, user_id, id, Utc::now()).await? {
        return Err(EquipError::NotFound);
    }
    audit::record(db, Some(user_id), AuditEvent::GmailUnequip { connection_id: id }).await?;
    Ok(())
}
