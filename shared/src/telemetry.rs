//! Structured JSON logs for every function, configured in one place.
//!
//! What may be logged: ids, routes, statuses, latencies, error chains. What may not: tokens,
//! Authorization headers, passwords, card data, request bodies. Nothing here logs headers or
//! bodies, and the services log ids only.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber (level from `RUST_LOG`, `info` by default). Safe to call twice.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _already_installed = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .try_init();
}
