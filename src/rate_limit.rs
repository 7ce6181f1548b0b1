//! Rate limits (`[rate_limits]`, docs/security.md): fixed-window counters in the ephemeral
//! store, so every instance counts into the same window. A window starts at the first
//! request of a subject and lasts the rate's unit; `Retry-After` is what is left of it.
//!
//! Groups and subjects: `pages` per client IP, `oauth` per client IP and per authenticated
//! client, `vend` per service client. A signed-in user is a subject too: `pages` counts their
//! Gmail equips and unequips, `vend` their (refused) vend calls. The client IP is the socket's, unless the socket is a
//! trusted proxy, in which case `X-Forwarded-For` is read from the right, skipping trusted hops.
//! An IPv6 client is counted by its /64: one subscriber is usually handed a whole /64, and
//! counting its addresses one by one would give it 2^64 budgets.
//!
//! When the ephemeral store cannot be reached the limits fail open (the request goes on and is
//! counted in `munji_rate_limit_unchecked_total`): every limited route but client credentials
//! needs the store itself and answers 503 anyway, and a store outage should not also stop
//! token issuance. Depends on [`crate::ephemeral`], [`crate::metrics`], [`crate::config`].

use std::{
    net::{IpAddr, Ipv6Addr},
    time::Duration,
};

use ipnet::IpNet;

use crate::{
    config::{Config, Rate},
    ephemeral::{Ephemeral, EphemeralError, Hit},
    metrics::Metrics,
};

/// A set of routes that share one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `/login/*`, `/callback/*`, `/signup`, `/authorize`, per client IP; equipping and
    /// unequipping Gmail (API and account page), per user.
    Pages,
    /// `/token`, `/introspect`, `/revoke`, per client IP and per client.
    OAuth,
    /// `POST /api/v1/gmail/access-token`, per calling service client (or user, whose token
    /// is refused there).
    Vend,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pages => "pages",
            Self::OAuth => "oauth",
            Self::Vend => "vend",
        }
    }
}

/// Who is counted.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Ip(IpAddr),
    Client(&'a str),
    /// A signed-in user, whatever app or browser they use.
    User(uuid::Uuid),
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit: try again after this long (whole seconds, at least one).
    Limited {
        retry_after: Duration,
    },
}

/// The configured limits and proxies.
pub struct RateLimiter {
    pages: Rate,
    oauth: Rate,
    vend: Rate,
    trusted_proxies: Vec<IpNet>,
}

impl RateLimiter {
    pub fn from_config(config: &Config) -> Self {
        let limits = &config.rate_limits;
        Self {
            pages: limits.pages,
            oauth: limits.oauth,
            vend: limits.vend,
            trusted_proxies: limits.trusted_proxies.clone(),
        }
    }

    fn rate(&self, group: Group) -> Rate {
        match group {
            Group::Pages => self.pages,
            Group::OAuth => self.oauth,
            Group::Vend => self.vend,
        }
    }

    /// Forget every count of the user `user_id` (a deleted account leaves no counter naming it).
    pub async fn forget_user(
        ephemeral: &Ephemeral,
        user_id: uuid::Uuid,
    ) -> Result<(), crate::ephemeral::EphemeralError> {
        for group in [Group::Pages, Group::OAuth, Group::Vend] {
            ephemeral.delete_count(&counter_key(group, Subject::User(user_id))).await?;
        }
        Ok(())
    }

    /// Count this request of `subject` in `group` and say whether it may go on.
    pub async fn check(&self, ephemeral: &Ephemeral, metrics: &Metrics, group: Group, subject: Subject<'_>) -> Verdict {
        self.check_all(ephemeral, metrics, &[(group, subject)], &[]).await.0
    }

    /// Count this request once for each of `counted` and read the ephemeral `marks` (keys whose
    /// presence refuses the request) in one round trip. The verdict is the first limit the
    /// request is over. When the store cannot be reached the limits fail open, as in
    /// [`Self::check`], and the marks are the error, for the caller to refuse on.
    pub async fn check_all(
        &self,
        ephemeral: &Ephemeral,
        metrics: &Metrics,
        counted: &[(Group, Subject<'_>)],
        marks: &[String],
    ) -> (Verdict, Result<Vec<bool>, EphemeralError>) {
        let hits: Vec<Hit> = counted
            .iter()
            .map(|&(group, subject)| Hit { key: counter_key(group, subject), window: self.rate(group).per })
            .collect();
        let found = match ephemeral.batch(&hits, marks).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error.message = %e, "rate limit not checked: store unreachable");
                for (group, _) in counted {
                    metrics.rate_limit_unchecked.with_label_values(&[group.as_str()]).inc();
                }
                return (Verdict::Allowed, Err(e));
            }
        };
        let over = counted
            .iter()
            .zip(&found.counts)
            .find(|((group, _), (count, _))| *count > u64::from(self.rate(*group).count));
        let verdict = match over {
            Some(((group, _), (_, left))) => {
                metrics.rate_limited.with_label_values(&[group.as_str()]).inc();
                Verdict::Limited { retry_after: whole_seconds(*left) }
            }
            None => Verdict::Allowed,
        };
        (verdict, Ok(found.present))
    }

    /// The client's address: the peer's, or, when the peer is a trusted proxy, the rightmost
    /// address of `X-Forwarded-For` that is not a trusted proxy itself. `forwarded_for` is the
    /// whole list: every header line, in order, joined with commas.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|net| net.contains(ip));
        let mut client = peer.to_canonical();
        if !trusted(&client) {
            return client;
        }
        // Empty elements carry nothing and are passed over, as lists in HTTP fields allow.
        let hops = forwarded_for.unwrap_or_default().rsplit(',').map(str::trim).filter(|hop| !hop.is_empty());
        for hop in hops {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip.to_canonical();
                    if !trusted(&client) {
                        break;
                    }
                }
                // A hop we cannot read: trust nothing to its left.
                Err(_) => break,
            }
        }
        client
    }
}

/// The counter of `subject` in `group`.
fn counter_key(group: Group, subject: Subject<'_>) -> String {
    match subject {
        Subject::Ip(ip) => format!("rl:{}:ip:{}", group.as_str(), ip_counter(ip)),
        Subject::Client(id) => format!("rl:{}:client:{id}", group.as_str()),
        Subject::User(id) => format!("rl:{}:user:{id}", group.as_str()),
    }
}

/// The per-IP counter `ip` counts in: an IPv4 address alone, an IPv6 address by its /64.
fn ip_counter(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{}/64", Ipv6Addr::from_bits(v6.to_bits() & (u128::MAX << 64))),
    }
}

/// `Retry-After` is in whole seconds: round up, and never say 0.
fn whole_seconds(left: Duration) -> Duration {
    Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(proxies: &[&str]) -> RateLimiter {
        let rate = Rate { count: 1, per: Duration::from_secs(60) };
        RateLimiter {
            pages: rate,
            oauth: rate,
            vend: rate,
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_socket_is_the_client_unless_it_is_a_trusted_proxy() {
        let direct = limiter(&[]);
        assert_eq!(direct.client_ip(ip("203.0.113.9"), Some("198.51.100.1")), ip("203.0.113.9"), "XFF ignored");
        let proxied = limiter(&["10.0.0.0/8", "::1/128"]);
        assert_eq!(proxied.client_ip(ip("10.0.0.2"), Some("198.51.100.1")), ip("198.51.100.1"));
        // A forged leftmost entry does not win: the rightmost untrusted hop does.
        assert_eq!(proxied.client_ip(ip("10.0.0.2"), Some("1.2.3.4, 198.51.100.1, 10.0.0.7")), ip("198.51.100.1"));
        assert_eq!(proxied.client_ip(ip("10.0.0.2"), Some("1.2.3.4, garbage, 10.0.0.7")), ip("10.0.0.7"));
        assert_eq!(proxied.client_ip(ip("10.0.0.2"), None), ip("10.0.0.2"));
        assert_eq!(proxied.client_ip(ip("::ffff:10.0.0.2"), Some("198.51.100.1")), ip("198.51.100.1"), "mapped v4");
        assert_eq!(proxied.client_ip(ip("203.0.113.9"), Some("198.51.100.1")), ip("203.0.113.9"), "untrusted peer");
    }

    #[test]
    fn header_lines_joined_are_one_list_and_empty_elements_are_passed_over() {
        let proxied = limiter(&["10.0.0.0/8"]);
        // What the HTTP layer makes of a client's line and a line the proxy appended.
        assert_eq!(proxied.client_ip(ip("10.0.0.2"), Some("1.2.3.4,198.51.100.1")), ip("198.51.100.1"));
        assert_eq!(proxied.client_ip(ip("10.0.0.2"), Some("198.51.100.1, , 10.0.0.7,")), ip("198.51.100.1"));
        assert_eq!(proxied.client_ip(ip("10.0.0.2"), Some("")), ip("10.0.0.2"));
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64() {
        assert_eq!(ip_counter(ip("203.0.113.9")), "203.0.113.9");
        assert_eq!(ip_counter(ip("::ffff:203.0.113.9")), "203.0.113.9", "mapped v4 is v4");
        assert_eq!(ip_counter(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), "2001:db8:1:2::/64");
        assert_eq!(ip_counter(ip("2001:db8:1:2::1")), ip_counter(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(ip_counter(ip("2001:db8:1:2::1")), ip_counter(ip("2001:db8:1:3::1")));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), Duration::from_secs(1));
        assert_eq!(whole_seconds(Duration::from_millis(1500)), Duration::from_secs(2));
        assert_eq!(whole_seconds(Duration::from_secs(3)), Duration::from_secs(3));
        assert_eq!(whole_seconds(Duration::ZERO), Duration::from_secs(1));
    }
}
