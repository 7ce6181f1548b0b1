//! askama views: one `*View` struct per template in `templates/`.

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::i18n::Messages;

/// A moment as a page shows it: in the configured `display_timezone`, in the page language's
/// format (docs/configuration.md), with the exact instant and offset for `<time datetime>`.
pub struct Moment {
    pub datetime: String,
    pub text: String,
}

impl Moment {
    pub fn new(at: DateTime<Utc>, zone: Tz, t: &Messages) -> Self {
        let local = at.with_timezone(&zone);
        Self {
            datetime: local.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            text: local.format(t.date_format).to_string(),
        }
    }
}

/// A provider button.
pub struct ProviderLink {
    /// Its style and symbol: a built-in provider's name, or `oidc`.
    pub style: &'static str,
    pub label: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginView {
    pub t: &'static Messages,
    pub providers: Vec<ProviderLink>,
}

#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignupView {
    pub t: &'static Messages,
    pub csrf: String,
    pub username: String,
    pub display_name: String,
    pub errors: Vec<&'static str>,
    pub username_invalid: bool,
    pub display_name_invalid: bool,
}

#[derive(Template)]
#[template(path = "consent_required.html")]
pub struct ConsentRequiredView {
    pub t: &'static Messages,
    /// The provider's style and symbol (see [`ProviderLink::style`]).
    pub provider_style: &'static str,
    pub provider_name: String,
    pub retry_href: String,
}

pub struct IdentityRow {
    pub id: String,
    pub provider_id: &'static str,
    /// The provider's style and symbol (see [`ProviderLink::style`]).
    pub provider_style: &'static str,
    pub provider_name: String,
    pub email: Option<String>,
    pub linked_at: Moment,
    pub last_login_at: Option<Moment>,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountView {
    pub t: &'static Messages,
    pub csrf: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub created_at: Moment,
    pub identities: Vec<IdentityRow>,
    /// Providers that can be linked: `(id, style, name in the page's language)`.
    pub link_providers: Vec<(&'static str, &'static str, String)>,
    /// Whether Gmail can be connected here (Google configured, an encryption key set).
    pub gmail_available: bool,
    pub gmail_connections: Vec<GmailRow>,
    pub sessions: Vec<SessionRow>,
    pub apps: Vec<AppRow>,
}

/// A connected app on the account page.
pub struct AppRow {
    pub client_id: String,
    pub name: String,
    pub scopes: String,
    pub first_party: bool,
    pub authorized_at: Moment,
    pub last_used_at: Option<Moment>,
}

pub struct SessionRow {
    /// The session's opaque handle.
    pub id: String,
    pub current: bool,
    pub started_at: Moment,
    pub last_seen_at: Moment,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

pub struct GmailRow {
    pub id: String,
    pub address: String,
    pub can_send: bool,
    pub needs_reauth: bool,
    pub equipped_to: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorView {
    pub t: &'static Messages,
    pub title: &'static str,
    pub message: &'static str,
    /// A machine-readable code shown on the page (`IDENTITY_ALREADY_LINKED`, …).
    pub code: Option<&'static str>,
    pub retry_href: String,
    pub retry_label: &'static str,
    pub request_id: String,
}

/// The question before signing out for an app (`/end-session`): one form, carrying the request.
#[derive(Template)]
#[template(path = "end_session.html")]
pub struct EndSessionView {
    pub t: &'static Messages,
    pub csrf: String,
    /// The end-session parameters, as hidden fields.
    pub fields: Vec<(&'static str, String)>,
    pub client_name: Option<String>,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutView {
    pub t: &'static Messages,
}

/// The page that carries a cross-site form post back to munji from munji's own origin
/// (docs/security.md, "Form-post callbacks").
#[derive(Template)]
#[template(path = "relay.html")]
pub struct RelayView {
    pub t: &'static Messages,
    pub action: String,
    pub fields: Vec<(&'static str, String)>,
    /// The one script of munji's pages, allowed by its hash alone.
    pub script: &'static str,
}

#[derive(Template)]
#[template(path = "account_deleted.html")]
pub struct AccountDeletedView {
    pub t: &'static Messages,
}

/// A requested scope: its name (e.g. `email`) and what it means in plain words.
pub struct ScopeRow {
    pub name: String,
    pub description: &'static str,
}

/// The consent page for a third-party client: one form, two submit buttons named `decision`.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentView {
    pub t: &'static Messages,
    pub csrf: String,
    pub client_name: String,
    pub scopes: Vec<ScopeRow>,
    /// The authorization request, sent back with the answer.
    pub query: String,
}

/// The admin dashboard (docs/admin.md).
#[derive(Template)]
#[template(path = "admin_dashboard.html")]
pub struct AdminDashboardView {
    pub t: &'static Messages,
    pub q: String,
    pub stats: crate::admin::Stats,
    pub gmail_active: i64,
    pub gmail_needs_reauth: i64,
}

pub struct AdminUserRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub created_at: String,
    pub last_login_at: Option<String>,
    pub is_admin: bool,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct AdminUsersView {
    pub t: &'static Messages,
    pub q: String,
    pub users: Vec<AdminUserRow>,
    /// The next page's link, if there is one.
    pub next: Option<String>,
}

pub struct AdminIdentityRow {
    pub id: String,
    pub provider: &'static str,
    pub uid: Option<String>,
    pub email: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_user.html")]
pub struct AdminUserView {
    pub t: &'static Messages,
    pub q: String,
    pub csrf: String,
    pub user: AdminUserRow,
    pub identities: Vec<AdminIdentityRow>,
    pub past_emails: Vec<String>,
    pub sessions: usize,
    pub apps: Vec<String>,
}

pub struct AdminAuditRow {
    pub at: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub actor_id: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
pub struct AdminAuditView {
    pub t: &'static Messages,
    pub q: String,
    pub events: Vec<AdminAuditRow>,
    pub next: Option<String>,
}

pub struct AdminClientRow {
    pub id: String,
    pub name: String,
    pub source: &'static str,
    pub scopes: String,
}

#[derive(Template)]
#[template(path = "admin_clients.html")]
pub struct AdminClientsView {
    pub t: &'static Messages,
    pub q: String,
    pub clients: Vec<AdminClientRow>,
}
