//! Keeping a new Gmail connection: tokens sealed, scopes as granted, the address from Google.

use chrono::Utc;
use uuid::Uuid;

use super::vault::{Vault, VaultError};
use crate::{
    store::{self, Db, gmail::Connection},
    upstream::{GMAIL_SEND, GmailGrant},
};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// The additional data a connection's token is sealed with.
pub fn context(connection_id: Uuid, field: &str) -> String {
    format!("{connection_id}/{field}")
}

/// Store a connection for `user_id`. A grant without `gmail.send` is kept (and listed) too;
/// it only cannot be equipped (DESIGN §10).
pub async fn keep(db: &Db, vault: &Vault, user_id: Uuid, grant: &GmailGrant) -> Result<Connection, ConnectError> {
    let id = Uuid::new_v4();
    let now = Utc::now();
    let connection = Connection {
        id,
        user_id,
        gmail_address: grant.gmail_address.clone(),
        scopes: grant.scopes.join(" "),
        access_token: vault.seal(&context(id, "access"), &grant.access_token)?,
        access_expires_at: now + grant.expires_in,
        refresh_token: grant.refresh_token.as_deref().map(|t| vault.seal(&context(id, "refresh"), t)).transpose()?,
        status: "active".to_owned(),
        equipped_to: None,
        created_at: now,
    };
    store::gmail::insert(db, &connection).await?;
    Ok(connection)
}

/// Whether a connection may send mail.
pub fn can_send(connection: &Connection) -> bool {
    connection.scopes.split(' ').any(|s| s == GMAIL_SEND)
}

/// `munji keys rotate-encryption`: re-seal every token under the first key. Returns how many
/// connections changed.
pub async fn reseal_all(db: &Db, vault: &Vault) -> Result<usize, ConnectError> {
    let mut changed = 0;
    for c in store::gmail::list_all(db).await? {
        let refresh_current = c.refresh_token.as_deref().is_none_or(|t| vault.is_current(t));
        if vault.is_current(&c.access_token) && refresh_current {
            continue;
        }
        let access = vault.seal(&context(c.id, "access"), &vault.open(&context(c.id, "access"), &c.access_token)?)?;
        let refresh = match &c.refresh_token {
            Some(sealed) => {
                Some(vault.seal(&context(c.id, "refresh"), &vault.open(&context(c.id, "refresh"), sealed)?)?)
            }
            None => None,
        };
        if store::gmail::reseal(db, c.id, &c.access_token, &access, refresh.as_deref(), Utc::now()).await? {
            changed += 1;
        }
    }
    Ok(changed)
}
