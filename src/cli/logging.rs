//! Where the server and long-running commands report: `tracing` events, written to
//! standard error. `BYLAW_LOG` filters them (`EnvFilter` syntax: `warn`,
//! `bylaw=debug`, …); the default is `info`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub(crate) fn init() {
    let filter = EnvFilter::try_from_env("BYLAW_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // A second initialisation (never in the binary, possible in tests) is not an error.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .try_init();
}
