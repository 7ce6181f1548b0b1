//! Tracing set-up: JSON lines by default, readable text with `--dev`. `RUST_LOG` filters
//! (default `info`). Log fields are dotted and carry units (`duration_ms`); tokens, codes,
//! `state` values, secrets, cookies and `Authorization` headers are never logged.

use tracing_subscriber::{EnvFilter, fmt};

/// Install the global subscriber. Calling it twice leaves the first one in place.
pub fn init(dev: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let result = if dev {
        fmt().with_env_filter(filter).with_target(false).try_init()
    } else {
        fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init()
    };
    // Already installed (tests, or a second call): keep the first.
    drop(result);
}
