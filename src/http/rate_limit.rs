//! Rate limits on HTTP (see [`crate::rate_limit`]): [`IpLimit`] counts requests per client IP
//! for a route group and refuses the ones over the limit with [`RateLimited`], which each area
//! renders in its own shape: pages as the error page (see `pages::PageLayer`), OAuth endpoints
//! as `{"error": "slow_down"}`. Both carry `Retry-After`. Per-client limits are counted where
//! the client is known (client authentication, the vend route).

use std::{net::IpAddr, time::Duration};

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    error::ResponseError,
    http::{HeaderMap, HeaderValue, StatusCode, header},
};

use crate::{
    oidc::error::OAuthError,
    rate_limit::{Group, Subject, Verdict},
    state::AppState,
};

/// A request over its group's limit.
#[derive(Debug, thiserror::Error)]
#[error("too many requests to {group:?}; retry after {retry_after:?}")]
pub struct RateLimited {
    pub group: Group,
    pub retry_after: Duration,
}

impl RateLimited {
    pub fn retry_after_header(&self) -> HeaderValue {
        HeaderValue::from(self.retry_after.as_secs())
    }
}

impl ResponseError for RateLimited {
    fn status(&self) -> StatusCode {
        StatusCode::TOO_MANY_REQUESTS
    }

    fn as_response(&self) -> Response {
        let mut resp = match self.group {
            Group::OAuth => super::oauth_response::error_response(&OAuthError::SlowDown {
                retry_after_secs: self.retry_after.as_secs(),
            }),
            Group::Pages | Group::Vend => (StatusCode::TOO_MANY_REQUESTS, self.to_string()).into_response(),
        };
        resp.headers_mut().insert(header::RETRY_AFTER, self.retry_after_header());
        resp
    }
}

/// Every `X-Forwarded-For` line, in order, as one comma-separated list: several lines of one
/// field are one list, and a proxy may append a line of its own instead of extending the
/// client's, so reading only the first line would let the client name its own address. A line
/// that is not text becomes one that does not parse, so nothing to its left is trusted.
fn forwarded_for(headers: &HeaderMap) -> Option<String> {
    let lines: Vec<_> =
        headers.get_all("x-forwarded-for").iter().map(|v| String::from_utf8_lossy(v.as_bytes())).collect();
    (!lines.is_empty()).then(|| lines.join(","))
}

/// The client's address as the rate limits count it: the socket's peer, or, behind a trusted
/// proxy, the address `X-Forwarded-For` names. `None` when the request has no socket address.
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip())?;
    Some(match req.data::<AppState>() {
        Some(state) => state.rate_limiter.client_ip(peer, forwarded_for(req.headers()).as_deref()),
        None => peer,
    })
}

/// Count every request per client IP in `group`.
pub struct IpLimit(pub Group);

impl<E: Endpoint> Middleware<E> for IpLimit {
    type Output = IpLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        IpLimitEndpoint { inner, group: self.0 }
    }
}

pub struct IpLimitEndpoint<E> {
    inner: E,
    group: Group,
}

impl<E: Endpoint> Endpoint for IpLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        if let (Some(state), Some(ip)) = (req.data::<AppState>(), client_ip(&req))
            && let Verdict::Limited { retry_after } = state.rate_limit(self.group, Subject::Ip(ip)).await
        {
            return Err(RateLimited { group: self.group, retry_after }.into());
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}
