//! `bylaw serve`: the decision server.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::EXIT_USAGE;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The policy file; it is watched, and a new version that compiles is swapped in.
    #[arg(
        long,
        env = "BYLAW_POLICY",
        value_name = "FILE",
        required_unless_present = "bundle",
        conflicts_with = "bundle"
    )]
    policy: Option<PathBuf>,
    /// Serve a bundle (`bylaw bundle`) instead of a policy file: it is watched like one,
    /// and only a bundle signed by --verify-key whose fingerprints verify is installed.
    #[arg(
        long,
        env = "BYLAW_BUNDLE",
        value_name = "FILE",
        requires = "verify_key"
    )]
    bundle: Option<PathBuf>,
    /// The ed25519 public key (PEM) that bundles must be signed with.
    #[arg(
        long,
        env = "BYLAW_VERIFY_KEY",
        value_name = "PUB",
        requires = "bundle"
    )]
    verify_key: Option<PathBuf>,
    /// Where to listen (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8181")]
    addr: std::net::SocketAddr,
    /// The durable state store and audit log; without it, state lives in memory.
    #[arg(long, env = "BYLAW_STATE", value_name = "FILE")]
    state: Option<PathBuf>,
    /// A file holding the admin API's bearer token (else `BYLAW_ADMIN_TOKEN`; with
    /// neither, the admin API is off).
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// A file holding a bearer token required by the decision endpoints (else
    /// `BYLAW_DECIDE_TOKEN`; with neither, they are open).
    #[arg(long, value_name = "FILE")]
    decide_token_file: Option<PathBuf>,
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body: usize,
    /// The most requests one `POST /v1/decide/batch` may hold (413 beyond).
    #[arg(long, default_value_t = 10_000)]
    max_batch: usize,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a client has to send a request's head, and then its body.
    #[arg(long, default_value_t = 10)]
    read_timeout_secs: u64,
    /// How often the policy file is checked for a new version, in milliseconds.
    #[arg(long, default_value_t = 500)]
    reload_interval_ms: u64,
    /// How long a changed policy file must stay unchanged before it is installed, in
    /// milliseconds: a file being written in place is never served half-written.
    #[arg(long, default_value_t = 1000)]
    reload_settle_ms: u64,
    /// Install a new version even when its `policy` name differs from the served one.
    #[arg(long)]
    allow_policy_rename: bool,
    /// Share trigger windows, service states, blocks and reports with other replicas
    /// through this Redis (`redis://127.0.0.1:6379`).
    #[arg(long, env = "BYLAW_REDIS", value_name = "URL")]
    redis: Option<String>,
    /// How long a decision waits for Redis's counts, in milliseconds; past it (and
    /// while Redis keeps failing) the replica counts locally and catches up later.
    #[arg(long, default_value_t = 20, value_name = "MS")]
    redis_budget_ms: u64,
    /// Log one line per request (method, path, status, microseconds, decision id)
    /// at `info`, target `bylaw::access`; with `--log-format json`, one JSON object.
    #[arg(long)]
    access_log: bool,
    /// The status an Envoy external-authorization check (`/v1/ext_authz/…`) answers
    /// for a suspended service (the fallback is in `x-bylaw-fallback`).
    #[arg(long, default_value_t = 503, value_parser = clap::value_parser!(u16).range(200..=599))]
    ext_authz_suspended_status: u16,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Deliver `notify` and report openings to this webhook: `POST URL` with a JSON
    /// body and an `Idempotency-Key` header, retried with backoff until a 2xx. It takes
    /// every channel no --notify-route names. Needs `--state` (the outbox is durable).
    #[arg(long, value_name = "URL", conflicts_with = "notify_file")]
    notify_webhook: Option<String>,
    /// Deliver notifications as JSON lines appended to FILE (`-`: standard output),
    /// for development; it takes every channel no --notify-route names. Needs `--state`.
    #[arg(long, value_name = "FILE")]
    notify_file: Option<PathBuf>,
    /// Send one channel's notifications to their own sink: CHANNEL=DESTINATION, where
    /// CHANNEL is a `notify` channel, `report:RECIPIENT`, a prefix ending in `*`
    /// (`report:*`) or `*`, and DESTINATION an http(s) URL (a webhook) or a file (`-`:
    /// standard output). Repeatable; the most specific route wins. Needs `--state`.
    #[arg(long = "notify-route", value_name = "CHANNEL=DESTINATION")]
    notify_routes: Vec<String>,
    /// How long one webhook attempt may take, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    notify_timeout_ms: u64,
    /// The wait after a first failed delivery, in milliseconds; it doubles with each
    /// failure, up to 5 minutes.
    #[arg(long, default_value_t = 500)]
    notify_retry_ms: u64,
    /// Export a span per request to this OpenTelemetry collector, OTLP/HTTP with JSON
    /// (`http://collector:4318/v1/traces`); a W3C `traceparent` on a request makes its
    /// span part of the caller's trace. Off by default.
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// The `service.name` of exported spans.
    #[arg(long, default_value = "bylaw", requires = "otlp_endpoint")]
    otlp_service_name: String,
    /// How long a span may wait for its batch, in milliseconds.
    #[arg(long, default_value_t = 1_000, requires = "otlp_endpoint")]
    otlp_flush_ms: u64,
    /// Ship every decision, with its request, as JSON lines POSTed in batches to this
    /// URL (retried with backoff).
    #[arg(long, value_name = "URL", conflicts_with = "decision_log_file")]
    decision_log_url: Option<String>,
    /// Append every decision, with its request, to this file as JSON lines, rotated at
    /// --decision-log-max-mb.
    #[arg(long, value_name = "FILE")]
    decision_log_file: Option<PathBuf>,
    /// Request fields written as "***" in the decision log (comma-separated, dotted).
    #[arg(long, value_name = "FIELD,…", value_delimiter = ',')]
    decision_log_mask: Vec<String>,
    /// The most decisions waiting to be shipped; beyond it they are dropped and counted.
    #[arg(long, default_value_t = 10_000)]
    decision_log_max_queue: usize,
    /// Decisions per batch.
    #[arg(long, default_value_t = 500)]
    decision_log_batch: usize,
    /// The longest a decision waits for its batch, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    decision_log_flush_ms: u64,
    /// A log file is rotated (FILE → FILE.1 …) when it would grow past this size.
    #[arg(long, default_value_t = 64)]
    decision_log_max_mb: u64,
    /// Rotated log files kept.
    #[arg(long, default_value_t = 5)]
    decision_log_keep: usize,
}

/// A bearer token from its file, else from the environment. A blank token is refused:
/// it would match a request that sends no `Authorization` header at all.
fn token(file: &Option<PathBuf>, env: &str) -> Result<Option<String>, String> {
    let (token, source) = match file {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?,
            format!("`{}`", path.display()),
        ),
        None => match std::env::var(env) {
            Ok(token) => (token, format!("`{env}`")),
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(format!("`{env}` is not valid UTF-8"));
            }
        },
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(format!(
            "the token in {source} is empty: an empty token would let every request in; \
             write a token there, or leave the option out"
        ));
    }
    Ok(Some(token.to_string()))
}

/// The decision log's options, when a sink is given.
/// The notification routes: each --notify-route, then --notify-webhook or
/// --notify-file for every other channel. None when no sink is given.
fn notify_routes(args: &ServeArgs) -> Result<Option<crate::server::notify::Routes>, String> {
    use crate::server::notify::{Routes, Sink};
    let timeout = Duration::from_millis(args.notify_timeout_ms.max(1));
    let mut routes = Routes::default();
    for route in &args.notify_routes {
        routes.add_written(route, timeout)?;
    }
    let default = match (&args.notify_webhook, &args.notify_file) {
        (Some(url), _) => Some(Sink::Webhook {
            url: url.clone(),
            timeout,
        }),
        (None, Some(path)) => Some(Sink::File(path.clone())),
        (None, None) => None,
    };
    if let Some(sink) = default {
        routes
            .add("*", sink)
            .map_err(|_| "`*` is routed and --notify-webhook/--notify-file given too: keep one")?;
    }
    Ok((!routes.is_empty()).then_some(routes))
}

fn decision_log(args: &ServeArgs) -> Option<crate::server::decision_log::Options> {
    use crate::server::decision_log::{Options, Sink};
    let sink = match (&args.decision_log_url, &args.decision_log_file) {
        (Some(url), _) => Sink::Http {
            url: url.clone(),
            timeout: Duration::from_secs(10),
        },
        (None, Some(path)) => Sink::File {
            path: path.clone(),
            max_bytes: args.decision_log_max_mb.max(1) * 1024 * 1024,
            keep: args.decision_log_keep,
        },
        (None, None) => return None,
    };
    Some(Options {
        sink,
        mask: args.decision_log_mask.clone(),
        max_queue: args.decision_log_max_queue.max(1),
        batch: args.decision_log_batch.max(1),
        flush_every: Duration::from_millis(args.decision_log_flush_ms.max(1)),
        retry: Duration::from_millis(100),
    })
}

pub(crate) fn run(args: &ServeArgs) -> ExitCode {
    let tokens = token(&args.admin_token_file, "BYLAW_ADMIN_TOKEN")
        .and_then(|a| token(&args.decide_token_file, "BYLAW_DECIDE_TOKEN").map(|d| (a, d)));
    let (admin_token, decide_token) = match tokens {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let bundle_key = match args
        .verify_key
        .as_deref()
        .map(crate::bundle::keys::read_verifying_key)
    {
        Some(Ok(key)) => Some(key),
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
        None => None,
    };
    let Some(policy) = args.bundle.clone().or_else(|| args.policy.clone()) else {
        eprintln!("error: give --policy FILE or --bundle FILE");
        return ExitCode::from(EXIT_USAGE);
    };
    let mut config = crate::server::Config {
        policy,
        bundle_key,
        addr: args.addr,
        state: args.state.clone(),
        admin_token,
        decide_token,
        max_body: args.max_body,
        max_batch: args.max_batch.max(1),
        max_connections: args.max_connections.max(1),
        header_timeout: Duration::from_secs(args.read_timeout_secs.max(1)),
        reload_every: Duration::from_millis(args.reload_interval_ms.max(10)),
        reload_settle: Duration::from_millis(args.reload_settle_ms),
        allow_policy_rename: args.allow_policy_rename,
        redis: args.redis.clone(),
        redis_budget: Duration::from_millis(args.redis_budget_ms.max(1)),
        access_log: args.access_log,
        ext_authz_suspended: axum::http::StatusCode::from_u16(args.ext_authz_suspended_status)
            .unwrap_or(axum::http::StatusCode::SERVICE_UNAVAILABLE),
        notify: None,
        notify_pace: crate::server::notify::Pace {
            retry: Duration::from_millis(args.notify_retry_ms.max(1)),
            ..crate::server::notify::Pace::default()
        },
        decision_log: decision_log(args),
        otlp: args.otlp_endpoint.clone().map(|endpoint| {
            let mut options = crate::server::otlp::Options::new(endpoint);
            options.service_name = args.otlp_service_name.clone();
            options.flush_every = Duration::from_millis(args.otlp_flush_ms.max(1));
            options
        }),
    };
    config.notify = match notify_routes(args) {
        Ok(routes) => routes,
        Err(message) => {
            eprintln!("error: --notify-route: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if config.notify.is_some() && config.state.is_none() {
        eprintln!(
            "error: delivering notifications needs --state FILE: the outbox keeps every \
             notification until it is delivered, across restarts"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(crate::server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
