//! HTTP: poem routes and middleware. Handlers translate between HTTP and the services; they hold
//! no state of their own.
//!
//! Middleware order, outermost first: [`middleware::Observe`] (request id, log line, metrics),
//! [`middleware::SecurityHeaders`], then [`middleware::BodyLimit`]. Rate limits
//! ([`rate_limit`]) and CORS ([`cors`]) sit on the routes they apply to. `/api/v1` errors are rendered by [`api::error`].

pub mod api;
pub mod cors;
pub mod hooks;
pub mod middleware;
pub mod oauth_response;
pub mod oidc;
pub mod ops;
pub mod pages;
pub mod rate_limit;
pub mod request_id;
pub mod session;

use poem::{Endpoint, EndpointExt, Route, get};

use crate::state::AppState;

/// The largest request body accepted: forms and JSON bodies of an identity provider are small.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route of the service.
pub fn routes(state: AppState) -> impl Endpoint + 'static {
    let api = api::service();
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let routes = Route::new()
        .at("/healthz", get(ops::healthz))
        .at("/readyz", get(ops::readyz))
        .at("/metrics", get(ops::metrics))
        .at("/api/v1/openapi.json", spec)
        .nest("/api/v1", cors::allow(&state.config, api))
        .nest("/docs", docs);
    let routes = hooks::mount(routes, &state);
    let mut routes = oidc::mount(routes, &state.config).nest("/", pages::routes(&state));
    if let Some(dev) = &state.dev_provider {
        routes = routes.nest("/dev", crate::dev_provider::routes(dev.clone()));
    }
    let hsts = state.config.public_url.scheme() == "https";
    routes
        .with(middleware::BodyLimit::new(MAX_BODY_BYTES))
        .with(middleware::SecurityHeaders { hsts })
        .with(middleware::Observe::new(state.metrics.clone()))
        .data(state)
}
