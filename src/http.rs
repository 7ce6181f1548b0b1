//! HTTP: poem routes and middleware. Handlers translate between HTTP and the services; they hold
//! no state of their own.
//!
//! Middleware order, outermost first: [`middleware::Observe`] (request id, log line, metrics),
//! then [`middleware::BodyLimit`]. `/api/v1` errors are rendered by [`api::error`].

pub mod api;
pub mod bearer;
pub mod middleware;
pub mod oidc;
pub mod ops;
pub mod pages;
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
        .nest("/api/v1", api)
        .nest("/docs", docs);
    let mut routes = oidc::mount(routes).nest("/", pages::routes(&state));
    if let Some(dev) = &state.dev_provider {
        routes = routes.nest("/dev", crate::dev_provider::routes(dev.clone()));
    }
    routes
        .with(middleware::BodyLimit::new(MAX_BODY_BYTES))
        .with(middleware::Observe::new(state.metrics.clone()))
        .data(state)
}
