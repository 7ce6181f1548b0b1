//! The JSON API under `/api/v1` (poem-openapi). The document is served at
//! `/api/v1/openapi.json`, Swagger UI at `/docs`, and `munji openapi` prints it; the committed
//! `openapi/munji.json` must equal [`spec_json`] (a test checks).
//!
//! Capabilities add their API structs to [`Apis`] as they arrive; the error envelope
//! ([`error::ApiError`]) is shared by all of them.

pub mod admin;
mod apps;
mod audit;
pub mod error;
mod gmail;
pub mod leaving;
mod me;
mod security;
mod services;
mod sessions;
mod verify;

use poem_openapi::{OpenApiService, Tags};

/// The tuple of every API struct.
pub type Apis = (
    me::MeApi,
    sessions::SessionsApi,
    apps::AppsApi,
    leaving::LeavingApi,
    gmail::GmailApi,
    audit::AuditApi,
    services::ServicesApi,
    verify::VerifyApi,
    admin::AdminApi,
);

/// Groups of operations in the document.
#[derive(Tags)]
pub enum ApiTags {
    /// The signed-in user (user tokens).
    Me,
    /// Internal services (client-credentials tokens).
    Services,
    /// Forward authentication for API gateways.
    Gateway,
    /// Operators: users, audit, counts (tokens with scope `admin` of admin users).
    Admin,
}

/// The `/api/v1` service. The document does not depend on configuration: its only server entry
/// is the relative `/api/v1`, so the committed copy equals the served one byte for byte.
pub fn service() -> OpenApiService<Apis, ()> {
    let apis: Apis = Default::default();
    // No `.summary(...)`: poem-openapi declares OpenAPI 3.0, whose `info` has no `summary` (3.1
    // added it), and validators and client generators refuse a 3.0 document that carries one.
    OpenApiService::new(apis, "munji", env!("CARGO_PKG_VERSION"))
        .description(
            "The JSON API of the munji identity provider. Errors have the shape \
             `{\"error\": {\"code\", \"message\", \"request_id\"}}`; every response carries `X-Request-Id`.",
        )
        .server("/api/v1")
}

/// The OpenAPI document exactly as `/api/v1/openapi.json` serves it.
pub fn spec_json() -> String {
    service().spec()
}
