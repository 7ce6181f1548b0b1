//! `/api/v1/admin/…`: the operators' API (docs/admin.md). Every call needs a user's access
//! token with scope `admin` whose user is an admin, and not disabled, at the time of the call.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    ApiTags,
    apps::AppView,
    audit::page_size,
    error::{ApiError, ErrorCode},
    gmail::GmailConnection,
    me::IdentityView,
    security::AccessToken,
    sessions::SessionView,
};
use crate::{
    admin::{self, AdminError},
    oidc::clients::{Client, ClientError, NewClient},
    state::AppState,
    store::{audit::AdminAuditRow, users::Listed},
};

#[derive(Default)]
pub struct AdminApi;

/// A user as admins see them in lists.
#[derive(Object)]
pub struct AdminUser {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The latest sign-in through any identity; null if never.
    pub last_login_at: Option<DateTime<Utc>>,
    pub is_admin: bool,
    pub disabled: bool,
    /// Why it was disabled (null while enabled).
    pub disabled_reason: Option<String>,
}

impl From<Listed> for AdminUser {
    fn from(listed: Listed) -> Self {
        let user = listed.user;
        Self {
            disabled: user.is_disabled(),
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            email: user.email,
            created_at: user.created_at,
            last_login_at: listed.last_login_at,
            is_admin: user.is_admin,
            disabled_reason: user.disabled_reason,
        }
    }
}

#[derive(Object)]
pub struct AdminUsers {
    pub users: Vec<AdminUser>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// An earlier e-mail address of one of the user's identities.
#[derive(Object)]
pub struct PastEmail {
    pub identity_id: Uuid,
    pub email: String,
}

/// One user, whole (no secrets).
#[derive(Object)]
pub struct AdminUserDetail {
    #[oai(flatten)]
    pub user: AdminUser,
    pub identities: Vec<IdentityView>,
    pub email_history: Vec<PastEmail>,
    pub sessions: Vec<SessionView>,
    pub apps: Vec<AppView>,
    pub gmail: Vec<GmailConnection>,
}

impl From<admin::Detail> for AdminUserDetail {
    fn from(detail: admin::Detail) -> Self {
        let mut email_history = Vec::new();
        let mut identities = Vec::new();
        for (identity, past) in detail.identities {
            email_history.extend(past.into_iter().map(|email| PastEmail { identity_id: identity.id, email }));
            identities.push(IdentityView::from(identity));
        }
        Self {
            user: detail.user.into(),
            identities,
            email_history,
            sessions: detail.sessions.into_iter().map(|s| SessionView::of(s, None)).collect(),
            apps: detail.apps.into_iter().map(AppView::from).collect(),
            gmail: detail.gmail.into_iter().map(super::gmail::view).collect(),
        }
    }
}

#[derive(Object)]
pub struct DisableRequest {
    /// Shown to admins and kept in the audit log (up to 500 characters).
    #[oai(validator(max_length = 500))]
    pub reason: Option<String>,
}

/// An audit event of any user.
#[derive(Object)]
pub struct AdminAuditEvent {
    pub at: DateTime<Utc>,
    pub kind: String,
    /// Null for events that belong to no account.
    pub user_id: Option<Uuid>,
    /// The admin who did it (null unless an admin action from the API or pages).
    pub actor_id: Option<Uuid>,
    /// The client concerned, when the event names one.
    pub client_id: Option<String>,
    pub detail: serde_json::Value,
}

impl From<AdminAuditRow> for AdminAuditEvent {
    fn from(row: AdminAuditRow) -> Self {
        Self {
            at: row.at,
            kind: row.kind,
            user_id: row.user_id,
            actor_id: row.actor_id,
            client_id: row.detail.0.get("client_id").and_then(|c| c.as_str()).map(str::to_owned),
            detail: row.detail.0,
        }
    }
}

#[derive(Object)]
pub struct AdminAuditEvents {
    pub events: Vec<AdminAuditEvent>,
    pub next_cursor: Option<String>,
}

#[derive(Object)]
pub struct GmailCounts {
    pub active: i64,
    pub needs_reauth: i64,
}

#[derive(Object)]
pub struct AdminStats {
    pub users: i64,
    /// Users who signed in within a day, and within 30 days.
    pub active_1d: i64,
    pub active_30d: i64,
    /// Identities that can sign in, per provider.
    pub identities: std::collections::BTreeMap<String, i64>,
    /// Imported legacy mappings still waiting for their first sign-in, per provider.
    pub legacy_pending: std::collections::BTreeMap<String, i64>,
    pub gmail: GmailCounts,
}

impl From<admin::Stats> for AdminStats {
    fn from(s: admin::Stats) -> Self {
        let count = |status: &str| s.gmail.iter().find(|(k, _)| k == status).map_or(0, |(_, n)| *n);
        Self {
            gmail: GmailCounts { active: count("active"), needs_reauth: count("needs_reauth") },
            users: s.users,
            active_1d: s.active_1d,
            active_30d: s.active_30d,
            identities: s.identities.into_iter().collect(),
            legacy_pending: s.legacy_pending.into_iter().collect(),
        }
    }
}

/// An OIDC client (an app or a service).
#[derive(Object)]
pub struct AdminClient {
    pub id: String,
    pub name: String,
    /// `config` (read-only here: change the file) or `database`.
    pub source: String,
    /// No secret: PKCE.
    pub public: bool,
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub gmail_targets: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
}

impl From<Client> for AdminClient {
    fn from(c: Client) -> Self {
        Self {
            public: c.is_public(),
            source: if c.from_config { "config" } else { "database" }.to_owned(),
            id: c.id,
            name: c.name,
            first_party: c.first_party,
            redirect_uris: c.redirect_uris,
            grant_types: c.grant_types,
            scopes: c.scopes,
            gmail_targets: c.gmail_targets,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            backchannel_logout_uri: c.backchannel_logout_uri,
        }
    }
}

#[derive(Object)]
pub struct AdminClients {
    pub clients: Vec<AdminClient>,
}

/// A client to register, as `munji clients add` takes it (docs/tokens.md).
#[derive(Object)]
pub struct NewClientRequest {
    pub id: String,
    pub name: Option<String>,
    /// No secret (a single-page or mobile app): PKCE is required.
    #[oai(default)]
    pub public: bool,
    /// Third-party clients ask users for consent (default: first-party).
    pub first_party: Option<bool>,
    #[oai(default)]
    pub redirect_uris: Vec<String>,
    /// Default: `authorization_code` and `refresh_token`.
    pub grant_types: Option<Vec<String>>,
    /// Default: `openid`, `profile`, `email`.
    pub scopes: Option<Vec<String>>,
    #[oai(default)]
    pub gmail_targets: Vec<String>,
    #[oai(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
}

impl From<NewClientRequest> for NewClient {
    fn from(r: NewClientRequest) -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        Self {
            id: r.id,
            name: r.name,
            public: r.public,
            first_party: r.first_party.unwrap_or(true),
            redirect_uris: r.redirect_uris,
            grant_types: r.grant_types.unwrap_or_else(|| strings(&["authorization_code", "refresh_token"])),
            scopes: r.scopes.unwrap_or_else(|| strings(&["openid", "profile", "email"])),
            gmail_targets: r.gmail_targets,
            post_logout_redirect_uris: r.post_logout_redirect_uris,
            backchannel_logout_uri: r.backchannel_logout_uri,
            ..Default::default()
        }
    }
}

/// A client's id and its secret, shown this once (munji keeps only its hash).
#[derive(Object)]
pub struct ClientSecret {
    pub client_id: String,
    /// Absent for a public client.
    pub client_secret: Option<String>,
}

#[derive(ApiResponse)]
pub enum ClientsResponse {
    #[oai(status = 200)]
    Ok(Json<AdminClients>),
}

#[derive(ApiResponse)]
pub enum CreatedClientResponse {
    #[oai(status = 201)]
    Created(Json<ClientSecret>),
}

#[derive(ApiResponse)]
pub enum SecretResponse {
    #[oai(status = 200)]
    Ok(Json<ClientSecret>),
}

#[derive(ApiResponse)]
pub enum UsersResponse {
    #[oai(status = 200)]
    Ok(Json<AdminUsers>),
}

#[derive(ApiResponse)]
pub enum UserDetailResponse {
    #[oai(status = 200)]
    Ok(Json<AdminUserDetail>),
}

#[derive(ApiResponse)]
pub enum UserResponse {
    #[oai(status = 200)]
    Ok(Json<AdminUser>),
}

#[derive(ApiResponse)]
pub enum DoneResponse {
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum AuditResponse {
    #[oai(status = 200)]
    Ok(Json<AdminAuditEvents>),
}

#[derive(ApiResponse)]
pub enum StatsResponse {
    #[oai(status = 200)]
    Ok(Json<AdminStats>),
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NoSuchUser => ApiError::new(ErrorCode::NotFound, "no such user"),
            AdminError::NoSuchIdentity => ApiError::new(ErrorCode::NotFound, "no such identity of this user"),
            AdminError::LastIdentity => {
                ApiError::new(ErrorCode::LastIdentity, "the last identity can be removed only from a disabled account")
            }
            AdminError::BadCursor => ApiError::new(ErrorCode::ValidationFailed, "cursor is not one this list gave"),
            AdminError::Store(e) => e.into(),
            AdminError::Sessions(e) => e.into(),
            AdminError::Clients(ClientError::Invalid(why)) => ApiError::new(ErrorCode::ValidationFailed, why),
            AdminError::Clients(e @ ClientError::Exists(_)) => ApiError::new(ErrorCode::ClientExists, e.to_string()),
            AdminError::Clients(e @ ClientError::NotFound(_)) => ApiError::new(ErrorCode::NotFound, e.to_string()),
            AdminError::Clients(e @ ClientError::ReadOnly(_)) => {
                ApiError::new(ErrorCode::ClientReadOnly, e.to_string())
            }
            AdminError::Clients(e @ ClientError::Public(_)) => {
                ApiError::new(ErrorCode::ValidationFailed, e.to_string())
            }
            AdminError::Clients(e) => e.into(),
        }
    }
}

/// The user after an action, as the list shows them.
async fn listed(state: &AppState, user_id: Uuid) -> Result<AdminUser, ApiError> {
    Ok(admin::listed(state, user_id).await?.into())
}

#[OpenApi(prefix_path = "/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// Users, newest first: all of them, or those `q` matches (a username prefix, an e-mail
    /// current or past in any letter case, a provider uid, or a user id).
    #[oai(path = "/users", method = "get", operation_id = "admin_list_users")]
    async fn users(
        &self,
        token: AccessToken,
        q: Query<Option<String>>,
        limit: Query<Option<i64>>,
        cursor: Query<Option<String>>,
        state: Data<&AppState>,
    ) -> Result<UsersResponse, ApiError> {
        token.admin(&state).await?;
        let q = q.0.unwrap_or_default();
        if q.len() > 320 {
            return Err(ApiError::new(ErrorCode::ValidationFailed, "q is longer than 320 characters"));
        }
        let page = admin::search_users(&state, &q, cursor.0.as_deref(), page_size(limit.0)?).await?;
        let users = page.items.into_iter().map(AdminUser::from).collect();
        Ok(UsersResponse::Ok(Json(AdminUsers { users, next_cursor: page.next_cursor })))
    }

    /// One user with their identities, past e-mails, sessions, apps and Gmail connections.
    #[oai(path = "/users/:id", method = "get", operation_id = "admin_get_user")]
    async fn user(
        &self,
        token: AccessToken,
        id: Path<Uuid>,
        state: Data<&AppState>,
    ) -> Result<UserDetailResponse, ApiError> {
        token.admin(&state).await?;
        Ok(UserDetailResponse::Ok(Json(admin::detail(&state, id.0).await?.into())))
    }

    /// Disable the account: no sign-in, every session and token ends, no Gmail vending.
    #[oai(path = "/users/:id/disable", method = "post", operation_id = "admin_disable_user")]
    async fn disable(
        &self,
        token: AccessToken,
        id: Path<Uuid>,
        body: Json<DisableRequest>,
        state: Data<&AppState>,
    ) -> Result<UserResponse, ApiError> {
        let actor = token.admin(&state).await?;
        admin::disable(&state, Some(actor), id.0, body.0.reason.as_deref().unwrap_or_default()).await?;
        Ok(UserResponse::Ok(Json(listed(&state, id.0).await?)))
    }

    /// Enable the account again (its old tokens stay dead).
    #[oai(path = "/users/:id/enable", method = "post", operation_id = "admin_enable_user")]
    async fn enable(
        &self,
        token: AccessToken,
        id: Path<Uuid>,
        state: Data<&AppState>,
    ) -> Result<UserResponse, ApiError> {
        let actor = token.admin(&state).await?;
        admin::enable(&state, Some(actor), id.0).await?;
        Ok(UserResponse::Ok(Json(listed(&state, id.0).await?)))
    }

    /// End every session of the user, with their tokens.
    #[oai(path = "/users/:id/end-sessions", method = "post", operation_id = "admin_end_sessions")]
    async fn end_sessions(
        &self,
        token: AccessToken,
        id: Path<Uuid>,
        state: Data<&AppState>,
    ) -> Result<DoneResponse, ApiError> {
        let actor = token.admin(&state).await?;
        admin::end_sessions(&state, Some(actor), id.0).await?;
        Ok(DoneResponse::NoContent)
    }

    /// Remove one of the user's identities (the last one only from a disabled account).
    #[oai(path = "/users/:id/identities/:identity_id", method = "delete", operation_id = "admin_unlink")]
    async fn unlink(
        &self,
        token: AccessToken,
        id: Path<Uuid>,
        identity_id: Path<Uuid>,
        state: Data<&AppState>,
    ) -> Result<DoneResponse, ApiError> {
        let actor = token.admin(&state).await?;
        admin::unlink(&state, Some(actor), id.0, identity_id.0).await?;
        Ok(DoneResponse::NoContent)
    }

    /// Delete the account (docs/leaving.md): a receipt is kept, not an audit event.
    #[oai(path = "/users/:id", method = "delete", operation_id = "admin_delete_user")]
    async fn delete(
        &self,
        token: AccessToken,
        id: Path<Uuid>,
        state: Data<&AppState>,
    ) -> Result<DoneResponse, ApiError> {
        let actor = token.admin(&state).await?;
        crate::leaving::delete_account(&state, id.0, crate::leaving::Deleter::Admin(actor)).await?;
        Ok(DoneResponse::NoContent)
    }

    /// Audit events of every user (or `user_id`), of one `kind` if given, newest first.
    #[oai(path = "/audit", method = "get", operation_id = "admin_audit")]
    async fn audit(
        &self,
        token: AccessToken,
        user_id: Query<Option<Uuid>>,
        kind: Query<Option<String>>,
        limit: Query<Option<i64>>,
        cursor: Query<Option<String>>,
        state: Data<&AppState>,
    ) -> Result<AuditResponse, ApiError> {
        token.admin(&state).await?;
        let page =
            admin::audit_log(&state, user_id.0, kind.0.as_deref(), cursor.0.as_deref(), page_size(limit.0)?).await?;
        let events = page.items.into_iter().map(AdminAuditEvent::from).collect();
        Ok(AuditResponse::Ok(Json(AdminAuditEvents { events, next_cursor: page.next_cursor })))
    }

    /// Every client: from the configuration file (read-only) and from the database.
    #[oai(path = "/clients", method = "get", operation_id = "admin_list_clients")]
    async fn clients(&self, token: AccessToken, state: Data<&AppState>) -> Result<ClientsResponse, ApiError> {
        token.admin(&state).await?;
        let clients = admin::clients(&state).await?.into_iter().map(AdminClient::from).collect();
        Ok(ClientsResponse::Ok(Json(AdminClients { clients })))
    }

    /// Register a client in the database; its secret is in this answer only.
    #[oai(path = "/clients", method = "post", operation_id = "admin_add_client")]
    async fn add_client(
        &self,
        token: AccessToken,
        body: Json<NewClientRequest>,
        state: Data<&AppState>,
    ) -> Result<CreatedClientResponse, ApiError> {
        let actor = token.admin(&state).await?;
        let client_id = body.0.id.clone();
        let client_secret = admin::add_client(&state, actor, body.0.into()).await?;
        Ok(CreatedClientResponse::Created(Json(ClientSecret { client_id, client_secret })))
    }

    /// Remove a database client (its tokens stop working within the client cache's 30 s).
    #[oai(path = "/clients/:id", method = "delete", operation_id = "admin_remove_client")]
    async fn remove_client(
        &self,
        token: AccessToken,
        id: Path<String>,
        state: Data<&AppState>,
    ) -> Result<DoneResponse, ApiError> {
        let actor = token.admin(&state).await?;
        admin::remove_client(&state, actor, &id.0).await?;
        Ok(DoneResponse::NoContent)
    }

    /// A new secret for a confidential database client, shown once.
    #[oai(path = "/clients/:id/secret", method = "post", operation_id = "admin_new_client_secret")]
    async fn new_secret(
        &self,
        token: AccessToken,
        id: Path<String>,
        state: Data<&AppState>,
    ) -> Result<SecretResponse, ApiError> {
        let actor = token.admin(&state).await?;
        let client_secret = Some(admin::new_client_secret(&state, actor, &id.0).await?);
        Ok(SecretResponse::Ok(Json(ClientSecret { client_id: id.0, client_secret })))
    }

    /// Counts for the dashboard.
    #[oai(path = "/stats", method = "get", operation_id = "admin_stats")]
    async fn stats(&self, token: AccessToken, state: Data<&AppState>) -> Result<StatsResponse, ApiError> {
        token.admin(&state).await?;
        Ok(StatsResponse::Ok(Json(admin::stats(&state).await?.into())))
    }
}
