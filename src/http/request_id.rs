//! Request ids: one per request, echoed from a well-formed `X-Request-Id` or made fresh, carried
//! in a task-local so error bodies and log lines can name it without threading it through.

use std::fmt;

pub const HEADER: &str = "x-request-id";

/// The longest incoming id that is echoed; longer ones are replaced.
const MAX_LEN: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

tokio::task_local! {
    static CURRENT: RequestId;
}

impl RequestId {
    /// Keep an incoming id only if it is 1–128 characters of `A-Z a-z 0-9 . _ -` (safe in
    /// headers, logs and HTML); otherwise make a new one.
    pub fn from_header(value: Option<&str>) -> Self {
        match value {
            Some(v) if Self::well_formed(v) => Self(v.to_owned()),
            _ => Self::new(),
        }
    }

    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    fn well_formed(value: &str) -> bool {
        (1..=MAX_LEN).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the request this task is answering ("-" outside a request).
    pub fn current() -> String {
        CURRENT.try_with(|id| id.0.clone()).unwrap_or_else(|_| "-".to_owned())
    }

    /// Run `fut` with this id as [`RequestId::current`].
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_incoming_id_is_kept() {
        assert_eq!(RequestId::from_header(Some("abc-123_x.y")).as_str(), "abc-123_x.y");
    }

    #[test]
    fn a_malformed_or_oversized_incoming_id_is_replaced() {
        for bad in ["", "has space", "new\nline", "<script>", &"a".repeat(129)] {
            let id = RequestId::from_header(Some(bad));
            assert_ne!(id.as_str(), bad);
            assert!(uuid::Uuid::parse_str(id.as_str()).is_ok());
        }
    }

    #[tokio::test]
    async fn current_is_the_scoped_id() {
        let id = RequestId::from_header(Some("req-1"));
        assert_eq!(id.scope(async { RequestId::current() }).await, "req-1");
        assert_eq!(RequestId::current(), "-");
    }
}
