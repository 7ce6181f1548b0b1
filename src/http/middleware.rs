//! Middleware applied to every route.
//!
//! - [`Observe`]: request id (task-local and `X-Request-Id`), one JSON log line per request,
//!   request counts and latency by route pattern (`unmatched` when no route took the request,
//!   docs/operations.md); errors rendered in their area's shape.
//! - [`BodyLimit`]: refuse bodies over a size, declared or streamed, with 413.
//! - [`SecurityHeaders`]: what every response carries, pages or not (pages add their own
//!   stricter policy in `pages::PageLayer`).

use std::time::Instant;

use poem::{
    Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result,
    error::{NotFoundError, ReadBodyError},
    http::{HeaderValue, StatusCode, header},
};
use tracing::Instrument as _;

use super::request_id::{self, RequestId};
use crate::metrics::Metrics;

/// Outermost middleware: everything a request leaves behind in logs and metrics.
pub struct Observe {
    metrics: Metrics,
}

impl Observe {
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<E: Endpoint> Middleware<E> for Observe {
    type Output = ObserveEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ObserveEndpoint { inner, metrics: self.metrics.clone() }
    }
}

pub struct ObserveEndpoint<E> {
    inner: E,
    metrics: Metrics,
}

impl<E: Endpoint> Endpoint for ObserveEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let started = Instant::now();
        let id = RequestId::from_header(req.headers().get(request_id::HEADER).and_then(|v| v.to_str().ok()));
        let method = req.method().to_string();
        // The path only: query strings carry codes and state, which never reach the logs.
        let path = req.uri().path().to_owned();
        let span = tracing::info_span!("request", request_id = %id, http.method = %method, http.path = %path);

        let mut resp = id
            .clone()
            .scope(async {
                match self.inner.call(req).await {
                    Ok(resp) => resp.into_response(),
                    Err(err) => render_error(&path, err),
                }
            })
            .instrument(span.clone())
            .await;

        let status = resp.status();
        let route = route_label(&resp).to_owned();
        let elapsed = started.elapsed();
        let labels = [route.as_str(), method.as_str(), status.as_str()];
        self.metrics.http_requests.with_label_values(&labels).inc();
        self.metrics.http_duration.with_label_values(&labels).observe(elapsed.as_secs_f64());
        span.in_scope(|| {
            let duration_ms = elapsed.as_secs_f64() * 1000.0;
            if status.is_server_error() {
                tracing::warn!(http.status = status.as_u16(), http.route = %route, duration_ms, "request answered");
            } else {
                tracing::info!(http.status = status.as_u16(), http.route = %route, duration_ms, "request answered");
            }
        });
        if let Ok(value) = HeaderValue::from_str(id.as_str()) {
            resp.headers_mut().insert(request_id::HEADER, value);
        }
        Ok(resp)
    }
}

/// An error as the response of its area. No route took a request that ends in poem's
/// `NotFoundError`: the pattern a surrounding `nest` gave it (`/dev`, `/docs`) is not its route.
fn render_error(path: &str, err: poem::Error) -> Response {
    let unmatched = err.is::<NotFoundError>();
    let mut resp = super::api::error::render_for_path(path, err);
    if unmatched {
        resp.extensions_mut().remove::<PathPattern>();
    }
    resp
}

/// The `route` label: the pattern of the route that answered, or `unmatched`. The pages are
/// nested at `/`, whose own pattern is empty: a page answer that carries no pattern of a page
/// route (the 404 page for a path no route matches) is unmatched.
fn route_label(resp: &Response) -> &str {
    resp.data::<PathPattern>().map(|p| &*p.0).filter(|p| !p.is_empty()).unwrap_or("unmatched")
}

/// Refuse request bodies larger than a limit with 413, whether the size is declared in
/// `Content-Length` or only found while reading a chunked body.
pub struct BodyLimit {
    max: usize,
}

impl BodyLimit {
    pub fn new(max: usize) -> Self {
        Self { max }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint { inner, max: self.max }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let too_large = || poem::Error::from_string("request body too large", StatusCode::PAYLOAD_TOO_LARGE);
        let declared =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max as u64) {
            return Err(too_large());
        }
        let body = req.take_body().into_bytes_limit(self.max).await.map_err(|e| match e {
            ReadBodyError::PayloadTooLarge => too_large(),
            other => other.into(),
        })?;
        req.set_body(body);
        self.inner.call(req).await
    }
}

/// `nosniff`, `Referrer-Policy: no-referrer` (callback URLs carry codes and state: never leak
/// them to another site), a deny-everything Content-Security-Policy for
/// responses that set none (JSON is never a document to render or frame), and HSTS when
/// `public_url` is https. Swagger UI (`/docs`) runs scripts, so it is only kept out of frames.
pub struct SecurityHeaders {
    pub hsts: bool,
}

impl<E: Endpoint> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        SecurityHeadersEndpoint { inner, hsts: self.hsts }
    }
}

pub struct SecurityHeadersEndpoint<E> {
    inner: E,
    hsts: bool,
}

impl<E: Endpoint> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let path = req.uri().path().to_owned();
        let docs = path == "/docs" || path.starts_with("/docs/");
        // Errors are rendered here already, so that they carry the headers too.
        let mut resp = match self.inner.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => render_error(&path, err),
        };
        let headers = resp.headers_mut();
        let csp = if docs { "frame-ancestors 'none'" } else { "default-src 'none'; frame-ancestors 'none'" };
        headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(csp));
        headers.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
        headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
        if self.hsts {
            headers.entry(header::STRICT_TRANSPORT_SECURITY).or_insert(HeaderValue::from_static("max-age=31536000"));
        }
        Ok(resp)
    }
}
