//! munji: a self-hosted identity provider.
//!
//! Crate map (each module's `//!` says what it may depend on):
//!
//! - [`cli`]: the `munji` command line (serve, migrate, openapi).
//! - [`config`]: settings from defaults, a TOML file and `MUNJI_*` variables, validated once.
//! - [`startup`]: [`startup::Application`] connects the stores, migrates and binds the listener.
//! - [`state`]: [`state::AppState`], the one value every handler receives.
//! - [`store`]: the durable store, PostgreSQL or SQLite, with per-backend migrations.
//! - [`ephemeral`]: TTL values with an atomic take-once, in Redis or a database table.
//! - [`http`]: the poem routes and middleware; [`http::api`] is the `/api/v1` OpenAPI service.
//! - [`leaving`]: a user's data export and the deletion of an account.
//! - [`metrics`]: the Prometheus registry that `/metrics` renders.
//! - [`rate_limit`]: fixed-window limits counted in the ephemeral store.
//! - [`readiness`]: whether the stores answer, checked at most once a second.
//! - [`telemetry`]: tracing set-up (JSON logs, request ids).
//! - [`crypto`]: random values and constant-time comparisons.
//! - [`provider_events`]: what munji does when a provider reports on one of its accounts.

// The Redis Cluster client's futures nest deeper than the default limit allows.
#![recursion_limit = "256"]

pub mod admin;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod dev_provider;
pub mod ephemeral;
pub mod gmail;
pub mod http;
pub mod i18n;
pub mod identity;
pub mod leaving;
pub mod legacy;
pub mod metrics;
pub mod oidc;
pub mod provider_events;
pub mod rate_limit;
pub mod readiness;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod upstream;
