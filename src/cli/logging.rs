//! Where the server and long-running commands report: `tracing` events, written to
//! standard error. `BYLAW_LOG` filters them (`EnvFilter` syntax: `warn`,
//! `bylaw=debug`, …); the default is `info`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line: time, level, target, message and fields.
    Json,
}

pub(crate) fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("BYLAW_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (never in the binary, possible in tests) is not an error.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .with_target(false)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_ansi(false)
            .try_init(),
    };
}
