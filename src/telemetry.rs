//! Tracing setup, called once from `main`. Logs go to stderr so stdout stays for data.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: `format` is `pretty` or `json`; `RUST_LOG` overrides `level`.
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Ignored error: a subscriber is already set (only in tests that call init twice).
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.compact().try_init()
    };
}
