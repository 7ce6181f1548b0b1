//! Keeping a new Gmail connection: tokens sealed, scopes as granted, the address from Google.
//! Connecting an address the user has connected before renews that connection (a reconnect
//! after `needs_reauth` keeps its target).

use chrono::Utc;
use uuid::Uuid;

use super::vault::{Vault, VaultError};
use crate::{
    store::{
        self, Db,
        gmail::{Connection, ConnectionStatus},
    },
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

/// Seal connection `id`'s access token and, when there is one, its refresh token.
pub fn seal_tokens(
    vault: &Vault,
    id: Uuid,
    access: &str,
    refresh: Option<&str>,
) -> Result<(String, Option<String>), VaultError> {
    let access = vault.seal(&context(id, "access"), access)?;
    let refresh = refresh.map(|t| vault.seal(&context(id, "refresh"), t)).transpose()?;
    Ok((access, refresh))
}

/// Open connection `c`'s access token.
pub fn open_access(vault: &Vault, c: &Connection) -> Result<String, VaultError> {
    vault.open(&context(c.id, "access"), &c.access_token)
}

/// Open connection `c`'s refresh token, if it has one.
pub fn open_refresh(vault: &Vault, c: &Connection) -> Result<Option<String>, VaultError> {
    c.refresh_token.as_deref().map(|t| vault.open(&context(c.id, "refresh"), t)).transpose()
}

/// What [`keep`] did.
pub struct Kept {
    pub connection: Connection,
    /// An existing connection of the same address got the new grant.
    pub renewed: bool,
}

/// Store a connection for `user_id`. A grant without `gmail.send` is kept (and listed) too;
/// it only cannot be equipped (docs/gmail.md). An address the user already connected is renewed
/// in place: new tokens and scopes, status `active`, the same target while it may still send.
pub async fn keep(db: &Db, vault: &Vault, user_id: Uuid, grant: &GmailGrant) -> Result<Kept, ConnectError> {
    let now = Utc::now();
    let Some(old) = store::gmail::find_by_address(db, user_id, &grant.gmail_address).await? else {
        let connection = sealed(vault, Uuid::new_v4(), user_id, grant, now)?;
        store::gmail::insert(db, &connection).await?;
        return Ok(Kept { connection, renewed: false });
    };
    let mut connection = sealed(vault, old.id, user_id, grant, now)?;
    connection.created_at = old.created_at;
    connection.equipped_to = old.equipped_to.filter(|_| can_send(&connection));
    // Google sends a refresh token only on a consenting exchange; without one, keep the old.
    connection.refresh_token = connection.refresh_token.or(old.refresh_token);
    if store::gmail::renew(db, &connection, now).await? {
        return Ok(Kept { connection, renewed: true });
    }
    // Disconnected meanwhile: this grant is a new connection.
    let connection = sealed(vault, Uuid::new_v4(), user_id, grant, now)?;
    store::gmail::insert(db, &connection).await?;
    Ok(Kept { connection, renewed: false })
}

/// A new, active, unequipped connection `id` of `grant`, its tokens sealed for that id.
fn sealed(
    vault: &Vault,
    id: Uuid,
    user_id: Uuid,
    grant: &GmailGrant,
    now: chrono::DateTime<Utc>,
) -> Result<Connection, VaultError> {
    let tokens = &grant.tokens;
    let (access_token, refresh_token) = seal_tokens(vault, id, &tokens.access_token, tokens.refresh_token.as_deref())?;
    Ok(Connection {
        id,
        user_id,
        gmail_address: grant.gmail_address.clone(),
        scopes: tokens.scopes.as_deref().unwrap_or_default().join(" "),
        access_token,
        access_expires_at: now + tokens.expires_in,
        refresh_token,
        status: ConnectionStatus::Active,
        equipped_to: None,
        created_at: now,
    })
}

/// Whether a connection may send mail.
pub fn can_send(connection: &Connection) -> bool {
    connection.scope_list().any(|s| s == GMAIL_SEND)
}

/// What `munji keys rotate-encryption` did.
pub struct Resealed {
    pub changed: usize,
    /// Connections still sealed under another key (changed by a running instance meanwhile,
    /// again and again); run the command again.
    pub left: usize,
}

/// `munji keys rotate-encryption`: re-seal every token under the first key. A row that changed
/// while it was re-sealed (a refresh on a running instance) is read again, a few times.
pub async fn reseal_all(db: &Db, vault: &Vault) -> Result<Resealed, ConnectError> {
    const PASSES: usize = 5;
    let is_current = |c: &Connection| {
        vault.is_current(&c.access_token) && c.refresh_token.as_deref().is_none_or(|t| vault.is_current(t))
    };
    let mut changed = 0;
    for _ in 0..PASSES {
        let stale: Vec<Connection> = store::gmail::list_all(db).await?.into_iter().filter(|c| !is_current(c)).collect();
        if stale.is_empty() {
            break;
        }
        for c in stale {
            let (access, refresh) =
                seal_tokens(vault, c.id, &open_access(vault, &c)?, open_refresh(vault, &c)?.as_deref())?;
            if store::gmail::reseal(db, c.id, &c.access_token, &access, refresh.as_deref(), Utc::now()).await? {
                changed += 1;
            }
        }
    }
    let left = store::gmail::list_all(db).await?.iter().filter(|c| !is_current(c)).count();
    Ok(Resealed { changed, left })
}
