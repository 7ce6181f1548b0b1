//! Audit events (their `kind`s and `detail` objects are listed in docs/routes.md), written to
//! the durable store.
//! Depends on [`crate::store`].

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    store::{Db, Result, audit},
    upstream::Provider,
};

/// Something that happened to an account (or to a would-be account).
pub enum AuditEvent<'a> {
    Signup {
        provider: Provider,
        identity_id: Option<Uuid>,
    },
    Login {
        provider: Provider,
    },
    LoginRefused {
        provider: Provider,
        reason: &'a str,
    },
    LegacyBackfill {
        provider: Provider,
        identity_id: Uuid,
    },
    Link {
        provider: Provider,
        identity_id: Uuid,
    },
    LinkRefused {
        provider: Provider,
        reason: &'a str,
    },
    Unlink {
        provider: Provider,
        identity_id: Uuid,
    },
    GmailConnect {
        connection_id: Uuid,
        gmail_address: &'a str,
        renewed: bool,
    },
    GmailEquip {
        connection_id: Uuid,
        target: &'a str,
    },
    GmailUnequip {
        connection_id: Uuid,
    },
    GmailDisconnect {
        connection_id: Uuid,
        gmail_address: &'a str,
    },
    /// A service received an access token for the connection equipped to `target`.
    GmailVend {
        connection_id: Uuid,
        client_id: &'a str,
        target: &'a str,
    },
    /// A caller that may not vend for `target` asked for the user's Gmail token.
    GmailVendRefused {
        client_id: &'a str,
        target: &'a str,
        reason: &'a str,
    },
    GmailRefresh {
        connection_id: Uuid,
    },
    /// Google refused the grant; the connection needs to be connected again.
    GmailRevoked {
        connection_id: Uuid,
    },
    Logout {
        everywhere: bool,
    },
    /// A back-channel logout token reached `client_id` (`delivered`) or was given up.
    BackchannelLogout {
        client_id: &'a str,
        delivered: bool,
    },
    /// A provider said the person disconnected munji there (docs/provider-events.md): the
    /// identity is gone; `disabled` when it was the last one and the account was disabled.
    ProviderUnlink {
        provider: Provider,
        identity_id: Uuid,
        cause: &'a str,
        disabled: bool,
    },
    /// An account event a provider sent (Google's Cross-Account Protection), and what munji did.
    ProviderEvent {
        provider: Provider,
        event_type: &'a str,
        jti: &'a str,
        action: &'a str,
    },
    /// Admin actions on the user (docs/admin.md); the admin is the event's `actor_id`.
    AdminDisable {
        reason: &'a str,
    },
    AdminEnable,
    AdminEndSessions,
    AdminUnlink {
        provider: Provider,
        identity_id: Uuid,
    },
    AdminGrant,
    AdminRevoke,
    /// An admin created or removed a client, or gave it a new secret (`change`); the event
    /// belongs to the admin.
    AdminClientChange {
        client_id: &'a str,
        change: &'a str,
    },
}

impl AuditEvent<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Signup { .. } => "signup",
            Self::Login { .. } => "login",
            Self::LoginRefused { .. } => "login_refused",
            Self::LegacyBackfill { .. } => "legacy_backfill",
            Self::Link { .. } => "link",
            Self::LinkRefused { .. } => "link_refused",
            Self::Unlink { .. } => "unlink",
            Self::GmailConnect { .. } => "gmail_connect",
            Self::GmailEquip { .. } => "gmail_equip",
            Self::GmailUnequip { .. } => "gmail_unequip",
            Self::GmailDisconnect { .. } => "gmail_disconnect",
            Self::GmailVend { .. } => "gmail_vend",
            Self::GmailVendRefused { .. } => "gmail_vend_refused",
            Self::GmailRefresh { .. } => "gmail_refresh",
            Self::GmailRevoked { .. } => "gmail_revoked",
            Self::Logout { .. } => "logout",
            Self::BackchannelLogout { .. } => "backchannel_logout",
            Self::ProviderUnlink { .. } => "provider_unlink",
            Self::ProviderEvent { .. } => "provider_event",
            Self::AdminDisable { .. } => "admin_disable",
            Self::AdminEnable => "admin_enable",
            Self::AdminEndSessions => "admin_end_sessions",
            Self::AdminUnlink { .. } => "admin_unlink",
            Self::AdminGrant => "admin_grant",
            Self::AdminRevoke => "admin_revoke",
            Self::AdminClientChange { .. } => "admin_client_change",
        }
    }

    fn detail(&self) -> Value {
        match self {
            Self::Signup { provider, identity_id } => json!({"provider": provider, "identity_id": identity_id}),
            Self::Login { provider } => json!({"provider": provider}),
            Self::LoginRefused { provider, reason } => json!({"provider": provider, "reason": reason}),
            Self::LegacyBackfill { provider, identity_id }
            | Self::Link { provider, identity_id }
            | Self::Unlink { provider, identity_id }
            | Self::AdminUnlink { provider, identity_id } => json!({"provider": provider, "identity_id": identity_id}),
            Self::LinkRefused { provider, reason } => json!({"provider": provider, "reason": reason}),
            Self::GmailConnect { connection_id, gmail_address, renewed } => {
                json!({"connection_id": connection_id, "gmail_address": gmail_address, "renewed": renewed})
            }
            Self::GmailDisconnect { connection_id, gmail_address } => {
                json!({"connection_id": connection_id, "gmail_address": gmail_address})
            }
            Self::GmailVend { connection_id, client_id, target } => {
                json!({"connection_id": connection_id, "client_id": client_id, "equipped_to": target})
            }
            Self::GmailEquip { connection_id, target } => {
                json!({"connection_id": connection_id, "equipped_to": target})
            }
            Self::GmailVendRefused { client_id, target, reason } => {
                json!({"client_id": client_id, "equipped_to": target, "reason": reason})
            }
            Self::GmailUnequip { connection_id }
            | Self::GmailRefresh { connection_id }
            | Self::GmailRevoked { connection_id } => json!({"connection_id": connection_id}),
            Self::Logout { everywhere } => json!({"everywhere": everywhere}),
            Self::ProviderUnlink { provider, identity_id, cause, disabled } => {
                json!({"provider": provider, "identity_id": identity_id, "cause": cause, "disabled": disabled})
            }
            Self::ProviderEvent { provider, event_type, jti, action } => {
                json!({"provider": provider, "event_type": event_type, "jti": jti, "action": action})
            }
            Self::AdminDisable { reason } => json!({"reason": reason}),
            Self::AdminClientChange { client_id, change } => json!({"client_id": client_id, "change": change}),
            Self::AdminEnable | Self::AdminEndSessions | Self::AdminGrant | Self::AdminRevoke => json!({}),
            Self::BackchannelLogout { client_id, delivered } => {
                json!({"client_id": client_id, "outcome": if *delivered { "delivered" } else { "given_up" }})
            }
        }
    }
}

/// Write `event` for `user_id` (`None`: it belongs to no account).
pub async fn record(db: &Db, user_id: Option<Uuid>, event: AuditEvent<'_>) -> Result<()> {
    audit::insert(db, user_id, event.kind(), &event.detail(), Utc::now()).await
}

/// Write `event` for `user_id`, done by the admin `actor_id` (`None`: the command line).
pub async fn record_by(db: &Db, user_id: Uuid, actor_id: Option<Uuid>, event: AuditEvent<'_>) -> Result<()> {
    audit::insert_by(db, Some(user_id), actor_id, event.kind(), &event.detail(), Utc::now()).await
}
