//! Equipping a connection to a target (DESIGN §8, §10): at most one connection per (user,
//! target); equipping a target another connection holds moves it; a connection whose grant
//! lacks `gmail.send` cannot be equipped.

use chrono::Utc;
use uuid::Uuid;

use super::connect::can_send;
use crate::{
    audit::{self, AuditEvent},
    store::{self, Db, gmail::Connection},
};

#[derive(Debug, thiserror::Error)]
pub enum EquipError {
    #[error("no such connection of this user")]
    NotFound,
    #[error("the grant lacks gmail.send")]
    ScopeMissing,
    #[error("a target is 1–64 characters of A-Z a-z 0-9 . _ : -")]
    BadTarget,
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

fn valid_target(target: &str) -> bool {
    (1..=64).contains(&target.len()) && target.chars().all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
}

/// Equip the user's connection `id` to `target`; returns the connection as it is now.
pub async fn equip(db: &Db, user_id: Uuid, id: Uuid, target: &str) -> Result<Connection, EquipError> {
    if !valid_target(target) {
        return Err(EquipError::BadTarget);
    }
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
pub async fn unequip(db: &Db, user_id: Uuid, id: Uuid) -> Result<(), EquipError> {
    if !store::gmail::unequip(db, user_id, id, Utc::now()).await? {
        return Err(EquipError::NotFound);
    }
    audit::record(db, Some(user_id), AuditEvent::GmailUnequip { connection_id: id }).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn targets_are_short_plain_names() {
        for ok in ["bot-1", "robeing:42", "a.b_c"] {
            assert!(super::valid_target(ok), "{ok}");
        }
        for bad in ["", "has space", "a/b", &"x".repeat(65), "<script>"] {
            assert!(!super::valid_target(bad), "{bad}");
        }
    }
}
