//! Prometheus metrics, one registry per application (never a global: tests run many apps in one
//! process). `/metrics` renders [`Metrics::render`]. Depends on nothing else in the crate.

use prometheus::{Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

/// Every metric munji exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `munji_http_requests_total{route,method,status}`
    pub http_requests: IntCounterVec,
    /// `munji_http_request_duration_seconds{route,method,status}`
    pub http_duration: HistogramVec,
    /// `munji_logins_total{provider,outcome}`: every sign-in attempt that reached a callback.
    pub logins: IntCounterVec,
    /// `munji_upstream_errors_total{provider,kind}`: failures talking to a provider.
    pub upstream_errors: IntCounterVec,
    /// `munji_legacy_backfills_total{provider}`: legacy mappings that got their uid.
    pub legacy_backfills: IntCounterVec,
    /// `munji_gmail_vends_total{outcome}`: answers to `POST /api/v1/gmail/access-token`.
    pub gmail_vends: IntCounterVec,
    /// `munji_gmail_refreshes_total{outcome}`: refreshes of Gmail access tokens at Google.
    pub gmail_refreshes: IntCounterVec,
    /// `munji_rate_limited_total{group}`: requests refused with 429.
    pub rate_limited: IntCounterVec,
    /// `munji_rate_limit_unchecked_total{group}`: requests let through because the ephemeral
    /// store could not count them.
    pub rate_limit_unchecked: IntCounterVec,
    /// `munji_backchannel_deliveries_total{outcome}`: attempts to deliver a back-channel logout
    /// token (`delivered`, `failed` (to be retried), `given_up`).
    pub backchannel_deliveries: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let labels = &["route", "method", "status"];
        let http_requests = IntCounterVec::new(
            Opts::new("munji_http_requests_total", "HTTP requests answered, by route pattern, method and status"),
            labels,
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new("munji_http_request_duration_seconds", "Time to answer an HTTP request")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            labels,
        )?;
        let logins = IntCounterVec::new(
            Opts::new("munji_logins_total", "Sign-in attempts by provider and outcome"),
            &["provider", "outcome"],
        )?;
        let upstream_errors = IntCounterVec::new(
            Opts::new("munji_upstream_errors_total", "Failed calls to an upstream provider, by kind"),
            &["provider", "kind"],
        )?;
        let legacy_backfills = IntCounterVec::new(
            Opts::new("munji_legacy_backfills_total", "Legacy mappings whose uid was pinned at a first login"),
            &["provider"],
        )?;
        let gmail_vends = IntCounterVec::new(
            Opts::new("munji_gmail_vends_total", "Gmail access-token requests from services, by outcome"),
            &["outcome"],
        )?;
        let gmail_refreshes = IntCounterVec::new(
            Opts::new("munji_gmail_refreshes_total", "Gmail access tokens refreshed at Google, by outcome"),
            &["outcome"],
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new("munji_rate_limited_total", "Requests refused by a rate limit, by route group"),
            &["group"],
        )?;
        let rate_limit_unchecked = IntCounterVec::new(
            Opts::new("munji_rate_limit_unchecked_total", "Requests not rate-limited because the store was down"),
            &["group"],
        )?;
        let backchannel_deliveries = IntCounterVec::new(
            Opts::new("munji_backchannel_deliveries_total", "Back-channel logout delivery attempts, by outcome"),
            &["outcome"],
        )?;
        for metric in [
            &backchannel_deliveries,
            &legacy_backfills,
            &logins,
            &upstream_errors,
            &gmail_vends,
            &gmail_refreshes,
            &http_requests,
            &rate_limited,
            &rate_limit_unchecked,
        ] {
            registry.register(Box::new(metric.clone()))?;
        }
        registry.register(Box::new(http_duration.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            logins,
            upstream_errors,
            legacy_backfills,
            gmail_vends,
            gmail_refreshes,
            rate_limited,
            rate_limit_unchecked,
            backchannel_deliveries,
        })
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
