//! `bylaw serve`: the decision server (axum on tokio).
//!
//! Decision endpoints: `POST /v1/decide` (one JSON request → one decision),
//! `POST /v1/decide/batch` (JSON lines in, JSON lines out). Read-only: `GET
//! /v1/policy`, `GET /healthz`, `GET /metrics` (Prometheus). Admin endpoints (the
//! kill switch, recovery, reports, blocks) need the bearer token; every change they
//! make is in the audit log with who and why. The policy file is polled; a new
//! version is compiled and swapped in atomically, and one that fails to compile is
//! never installed — the old one keeps serving and the error shows on `/v1/policy`.
//!
//! Every error is a JSON body `{"error": {"code": …, "message": …}}` with a 4xx or 5xx
//! status; nothing a client sends can crash the server.

#![allow(
    clippy::result_large_err,
    reason = "the `Err` of the request checks is the HTTP response, returned at once"
)]

mod admin;
pub mod breaker;
pub mod decision_log;
pub mod ext_authz;
pub mod notify;
pub mod otlp;
pub mod redis_state;
pub mod reload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, delete, get, post};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::governance::clock::{Clock, SystemClock, Timestamp};
use crate::governance::store::{Store, Ticket};
use crate::governance::{Event, Governor, Options, What, lock};
use crate::runtime::decision::Decision;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The policy file, or the bundle when `bundle_key` is set.
    pub policy: PathBuf,
    /// Serve a bundle (`bylaw bundle`), installing only versions signed by this key
    /// whose fingerprints verify.
    pub bundle_key: Option<ed25519_dalek::VerifyingKey>,
    pub addr: SocketAddr,
    pub state: Option<PathBuf>,
    pub admin_token: Option<String>,
    pub decide_token: Option<String>,
    pub max_body: usize,
    /// The most requests one batch may hold.
    pub max_batch: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a client has to send a request's head (and, per request, its body).
    pub header_timeout: Duration,
    pub reload_every: Duration,
    /// How long a changed policy file must stay unchanged before it is installed.
    pub reload_settle: Duration,
    /// Install a new version whose `policy` name differs from the served one.
    pub allow_policy_rename: bool,
    /// Share windows and states with other replicas through this Redis.
    pub redis: Option<String>,
    /// How long a decision waits for Redis before it counts locally.
    pub redis_budget: Duration,
    /// Log one line per request (`bylaw::access`, info).
    pub access_log: bool,
    /// What an Envoy check of a suspended service answers.
    pub ext_authz_suspended: StatusCode,
    /// Where notifications are delivered (needs `state`).
    /// Where notifications go; none: they are not delivered (no outbox is kept).
    pub notify: Option<notify::Routes>,
    pub notify_pace: notify::Pace,
    /// Ship every decision to this sink ([`decision_log`]).
    pub decision_log: Option<decision_log::Options>,
    /// Export request spans to this OpenTelemetry collector ([`otlp`]).
    pub otlp: Option<otlp::Options>,
}

/// The policy being served.
struct Loaded {
    governor: Governor,
    info: PolicyInfo,
    /// The decision counters of this policy, by outcome × (tier or none): looked up
    /// by index on the hot path instead of by label.
    counters: Vec<Counter>,
    /// This version's decision counters, by outcome (`OUTCOMES`' order).
    version_counters: Vec<Counter>,
    tiers: Vec<String>,
    /// The fingerprint of what the watcher reads: the bundle's bytes, or the policy
    /// file's with its user modules' ([`watched_print`]).
    watched: String,
    /// The files a reload must read besides the policy file: its user modules.
    module_files: Vec<PathBuf>,
    /// The fields the policy marks `sensitive`, masked in the decision log.
    sensitive: Option<decision_log::Sensitive>,
}

const OUTCOMES: [crate::runtime::decision::Outcome; 4] = [
    crate::runtime::decision::Outcome::Allow,
    crate::runtime::decision::Outcome::Escalate,
    crate::runtime::decision::Outcome::Suspended,
    crate::runtime::decision::Outcome::Deny,
];

impl Loaded {
    fn counter(&self, decision: &Decision) -> Option<&Counter> {
        let outcome = OUTCOMES.iter().position(|o| *o == decision.outcome)?;
        let tier = match &decision.tier {
            Some(t) => self.tiers.iter().position(|x| x == t)?,
            None => self.tiers.len(),
        };
        self.counters.get(outcome * (self.tiers.len() + 1) + tier)
    }

    fn version_counter(&self, decision: &Decision) -> Option<&Counter> {
        let outcome = OUTCOMES.iter().position(|o| *o == decision.outcome)?;
        self.version_counters.get(outcome)
    }
}

#[derive(Debug, Clone, Serialize)]
struct PolicyInfo {
    name: String,
    version: String,
    /// [`crate::Policy::fingerprint`]: SHA-256 of the policy file (and its user modules),
    /// the same for a bundle of it.
    fingerprint: String,
    path: String,
    loaded_at: Timestamp,
    /// For a bundle: the key that signed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct ReloadError {
    at: Timestamp,
    fingerprint: String,
    message: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    outcome: String,
    tier: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TriggerLabels {
    trigger: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    result: String,
}

struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    /// Decisions by the policy's name and version, and outcome: what each version
    /// did, across reloads.
    decisions_by_version: Family<VersionLabels, Counter>,
    latency: Histogram,
    /// Time to answer a request, by endpoint (the route's pattern) and method.
    requests: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    triggers: Family<TriggerLabels, Counter>,
    services: Family<ServiceLabels, Gauge>,
    reloads: Family<ReloadLabels, Counter>,
    open_reports: Gauge,
    overdue_reports: Gauge,
    suppressed_reports: Family<TriggerLabels, Gauge>,
    events: Family<EventLabels, Counter>,
    notifications_pending: Gauge,
    notifications_delivered: Gauge,
    notification_failures: Gauge,
    notifications_dropped: Gauge,
    redis_circuit_open: Gauge,
    redis_circuit_openings: Gauge,
    redis_counters_waiting: Gauge,
    redis_increments_dropped: Gauge,
    redis_writes_pending: Gauge,
    decision_log_shipped: Gauge,
    decision_log_queued: Gauge,
    decision_log_dropped: Gauge,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    policy: String,
    version: String,
    outcome: String,
}

/// Static strings: labelling a request allocates nothing.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
    method: &'static str,
}

/// Buckets for a whole HTTP exchange: 50 µs to 2.5 s.
fn request_histogram() -> Histogram {
    Histogram::new([
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        0.5, 1.0, 2.5,
    ])
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    kind: String,
    /// `accepted`, `duplicate` or `refused`.
    result: String,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("bylaw");
        let decisions = Family::<DecisionLabels, Counter>::default();
        let decisions_by_version = Family::<VersionLabels, Counter>::default();
        let requests: Family<EndpointLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(request_histogram);
        registry.register(
            "decisions_by_version",
            "Decisions by the policy's name and version, and outcome",
            decisions_by_version.clone(),
        );
        registry.register(
            "http_request_seconds",
            "Time to answer an HTTP request, by endpoint and method",
            requests.clone(),
        );
        let latency = Histogram::new([
            0.000_001, 0.000_005, 0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.1,
        ]);
        let triggers = Family::<TriggerLabels, Counter>::default();
        let services = Family::<ServiceLabels, Gauge>::default();
        let reloads = Family::<ReloadLabels, Counter>::default();
        let open_reports = Gauge::default();
        let overdue_reports = Gauge::default();
        let suppressed_reports = Family::<TriggerLabels, Gauge>::default();
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "reports_open",
            "Reports opened and not yet filed",
            open_reports.clone(),
        );
        registry.register(
            "reports_overdue",
            "Reports not yet filed whose deadline has passed",
            overdue_reports.clone(),
        );
        let notifications_pending = Gauge::default();
        let notifications_delivered = Gauge::default();
        let notification_failures = Gauge::default();
        let notifications_dropped = Gauge::default();
        registry.register(
            "notifications_pending",
            "Notifications in the outbox, waiting for delivery",
            notifications_pending.clone(),
        );
        registry.register(
            "notifications_delivered",
            "Notifications delivered since the server started",
            notifications_delivered.clone(),
        );
        registry.register(
            "notification_failed_attempts",
            "Failed delivery attempts since the server started",
            notification_failures.clone(),
        );
        registry.register(
            "notifications_dropped",
            "Notifications not queued because the outbox was full, since the policy was loaded",
            notifications_dropped.clone(),
        );
        let redis_circuit_open = Gauge::default();
        let redis_circuit_openings = Gauge::default();
        let redis_counters_waiting = Gauge::default();
        let redis_increments_dropped = Gauge::default();
        let redis_writes_pending = Gauge::default();
        let decision_log_shipped = Gauge::default();
        let decision_log_queued = Gauge::default();
        let decision_log_dropped = Gauge::default();
        for (name, help, gauge) in [
            (
                "decision_log_shipped",
                "Decisions the decision log has shipped since the server started",
                &decision_log_shipped,
            ),
            (
                "decision_log_queued",
                "Decisions waiting to be shipped",
                &decision_log_queued,
            ),
            (
                "decision_log_dropped",
                "Decisions not logged because the queue was full (the sink was down)",
                &decision_log_dropped,
            ),
            (
                "redis_circuit_open",
                "1 while the Redis circuit breaker is open: decisions count locally",
                &redis_circuit_open,
            ),
            (
                "redis_circuit_openings",
                "Times the Redis circuit breaker opened since the server started",
                &redis_circuit_openings,
            ),
            (
                "redis_counters_waiting",
                "Trigger-window counters whose increments Redis has not taken yet",
                &redis_counters_waiting,
            ),
            (
                "redis_increments_dropped",
                "Window increments dropped because too many counters were waiting",
                &redis_increments_dropped,
            ),
            (
                "redis_writes_pending",
                "State writes (services, blocks, reports) Redis has not acknowledged",
                &redis_writes_pending,
            ),
        ] {
            registry.register(name, help, gauge.clone());
        }
        registry.register(
            "events_posted",
            "Events posted to /v1/events/KIND, by kind and result",
            events.clone(),
        );
        registry.register(
            "reports_suppressed",
            "Reports a trigger did not open because its open-report bound was reached, \
             since the policy was loaded",
            suppressed_reports.clone(),
        );
        registry.register(
            "decisions",
            "Decisions by outcome and tier",
            decisions.clone(),
        );
        registry.register(
            "decision_seconds",
            "Time to decide one request, from body to decision",
            latency.clone(),
        );
        registry.register(
            "trigger_firings",
            "Trigger episodes started",
            triggers.clone(),
        );
        registry.register(
            "service_state",
            "1 for each service's current state",
            services.clone(),
        );
        registry.register(
            "policy_reloads",
            "Policy reloads by result",
            reloads.clone(),
        );
        Metrics {
            registry,
            decisions,
            decisions_by_version,
            latency,
            requests,
            triggers,
            services,
            reloads,
            open_reports,
            overdue_reports,
            suppressed_reports,
            events,
            notifications_pending,
            notifications_delivered,
            notification_failures,
            notifications_dropped,
            redis_circuit_open,
            redis_circuit_openings,
            redis_counters_waiting,
            redis_increments_dropped,
            redis_writes_pending,
            decision_log_shipped,
            decision_log_queued,
            decision_log_dropped,
        }
    }
}

struct App {
    config: Config,
    shared: Option<Arc<redis_state::RedisShared>>,
    current: ArcSwap<Loaded>,
    reload_error: Mutex<Option<ReloadError>>,
    store: Option<Arc<Store>>,
    metrics: Metrics,
    requests: AtomicU64,
    /// Batches decided at once (one per core).
    batch_slots: Arc<tokio::sync::Semaphore>,
    /// How notification delivery goes, when there is a sink.
    delivery: Option<Arc<notify::Delivery>>,
    decision_log: Option<decision_log::DecisionLog>,
    otlp: Option<otlp::Exporter>,
}

/// Says which of the policy's channels no `--notify-route` takes: their
/// notifications would wait in the outbox.
fn warn_unrouted(routes: &notify::Routes, governor: &Governor) {
    let channels = notify::channels_of(&governor.guard().policy().ir);
    let unrouted = routes.unrouted(channels.iter().map(String::as_str));
    if !unrouted.is_empty() {
        tracing::warn!(
            channels = %unrouted.join(", "),
            "no sink takes these channels: their notifications wait in the outbox until a \
             route takes them (--notify-route CHANNEL=DESTINATION)"
        );
    }
}

/// Compiles the policy file's `bytes` into a governor over the shared store. A reload
/// passes the policy being served: the new version must keep its name (unless renaming
/// is allowed), and takes over its services, blocks, reports and windows.
fn load(
    config: &Config,
    bytes: &[u8],
    store: Option<Arc<Store>>,
    shared: Option<&Arc<redis_state::RedisShared>>,
    metrics: &Metrics,
    served: Option<&Loaded>,
) -> Result<Loaded, (String, String)> {
    let print = match served {
        Some(served) => watched_print(bytes, &served.module_files),
        None => crate::guard::fingerprint(bytes),
    };
    let fail = |message: String| (print.clone(), message);
    let served_name = served.map(|s| s.info.name.as_str());
    let (guard, signed_by) = match &config.bundle_key {
        Some(key) => reload::accept_bundle(bytes, key, served_name, config.allow_policy_rename)
            .map(|(guard, signer)| (guard, Some(signer))),
        None => reload::accept(
            &config.policy.display().to_string(),
            bytes,
            served_name,
            config.allow_policy_rename,
        )
        .map(|guard| (guard, None)),
    }
    .map_err(fail)?;
    let program = &guard.policy().program;
    let module_files: Vec<PathBuf> = match config.bundle_key {
        Some(_) => Vec::new(),
        None => guard
            .policy()
            .modules
            .iter()
            .filter_map(|m| m.path.clone())
            .collect(),
    };
    let info = PolicyInfo {
        name: program.name.clone(),
        version: program.version.clone(),
        fingerprint: guard.policy().fingerprint(),
        path: config.policy.display().to_string(),
        loaded_at: SystemClock.now(),
        signed_by,
    };
    let watched = watched_print(bytes, &module_files);
    let tiers: Vec<String> = guard
        .policy()
        .ir
        .tiers
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let mut counters = Vec::new();
    for outcome in OUTCOMES {
        for tier in tiers.iter().map(String::as_str).chain(["none"]) {
            counters.push(
                metrics
                    .decisions
                    .get_or_create(&DecisionLabels {
                        outcome: outcome.as_str().to_string(),
                        tier: tier.to_string(),
                    })
                    .clone(),
            );
        }
    }
    let options = Options {
        outbox: config.notify.is_some(),
        ..Options::default()
    };
    let mut governor = Governor::new(guard, store, options).map_err(|e| fail(e.to_string()))?;
    if let Some(served) = served {
        governor = governor.succeeding(&served.governor);
    }
    if let Some(shared) = shared {
        governor = attach(governor, shared);
    }
    let version_counters = OUTCOMES
        .iter()
        .map(|outcome| {
            metrics
                .decisions_by_version
                .get_or_create(&VersionLabels {
                    policy: info.name.clone(),
                    version: info.version.clone(),
                    outcome: outcome.as_str().to_string(),
                })
                .clone()
        })
        .collect();
    let sensitive = decision_log::sensitive_of(&governor.guard().policy().ir);
    Ok(Loaded {
        governor,
        info,
        counters,
        version_counters,
        tiers,
        watched,
        module_files,
        sensitive,
    })
}

/// What the watcher compares: SHA-256 of the policy file's bytes, and, when the
/// policy uses user modules, of theirs too — a changed module is a new version.
fn watched_print(bytes: &[u8], module_files: &[PathBuf]) -> String {
    if module_files.is_empty() {
        return crate::guard::fingerprint(bytes);
    }
    let mut all = bytes.to_vec();
    for path in module_files {
        all.push(0);
        all.extend_from_slice(path.display().to_string().as_bytes());
        all.push(0);
        match std::fs::read(path) {
            Ok(module) => all.extend_from_slice(&module),
            Err(_) => all.extend_from_slice(b"\0missing"),
        }
    }
    crate::guard::fingerprint(&all)
}

/// Shares a governor's state through Redis, starting from what the other replicas
/// know.
fn attach(governor: Governor, shared: &Arc<redis_state::RedisShared>) -> Governor {
    for row in shared.rows().unwrap_or_default() {
        governor.apply_remote(&row);
    }
    let shared: Arc<dyn crate::governance::shared::Shared> = shared.clone();
    governor.with_shared(shared)
}

/// Runs the server until interrupted.
pub async fn run(config: Config) -> Result<(), String> {
    let store = match &config.state {
        Some(path) => Some(Arc::new(Store::open(path).map_err(|e| e.to_string())?)),
        None => None,
    };
    let metrics = Metrics::new();
    let bytes = std::fs::read(&config.policy)
        .map_err(|e| format!("cannot read `{}`: {e}", config.policy.display()))?;
    let mut loaded =
        load(&config, &bytes, store.clone(), None, &metrics, None).map_err(|(_, m)| m)?;
    // Replicas of one policy share keys under its name.
    let shared = match &config.redis {
        Some(url) => Some(redis_state::RedisShared::new(
            url,
            &loaded.info.name,
            config.redis_budget,
        )?),
        None => None,
    };
    if let Some(shared) = &shared {
        loaded.governor = attach(loaded.governor, shared);
    }
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let delivery = match (&config.notify, &store) {
        (Some(routes), Some(store)) => {
            let delivery = Arc::new(notify::Delivery::default());
            warn_unrouted(routes, &loaded.governor);
            notify::start(
                Arc::clone(store),
                routes.clone(),
                config.notify_pace,
                Arc::clone(&delivery),
            )
            .map_err(|e| format!("cannot start notification delivery: {e}"))?;
            Some(delivery)
        }
        (Some(_), None) => return Err("delivering notifications needs --state FILE".into()),
        (None, _) => None,
    };
    let otlp = match &config.otlp {
        Some(options) => Some(otlp::Exporter::start(options.clone())?),
        None => None,
    };
    let decision_log = match &config.decision_log {
        Some(options) => Some(decision_log::DecisionLog::start(options.clone())?),
        None => None,
    };
    let app = Arc::new(App {
        delivery,
        decision_log,
        otlp,
        current: ArcSwap::from_pointee(loaded),
        reload_error: Mutex::new(None),
        store,
        shared: shared.clone(),
        metrics,
        requests: AtomicU64::new(0),
        batch_slots: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
        config,
    });
    tokio::spawn(watch(Arc::clone(&app)));
    if let Some(shared) = shared {
        let follower = Arc::clone(&app);
        shared.follow(move |row| follower.current.load().governor.apply_remote(&row));
    }
    if let Some(store) = app.store.clone() {
        tokio::spawn(purge_expired(store));
    }
    let routes = router(Arc::clone(&app));
    let info = app.current.load().info.clone();
    println!(
        "bylaw serve: {} {} on http://{addr}",
        info.name, info.version
    );
    serve_connections(listener, routes, &app.config).await
}

/// Accepts connections until interrupted: at most `max_connections` at once (more wait
/// in the kernel's queue), each given `header_timeout` to send its request head, so
/// a client that opens sockets and trickles bytes cannot hold the server.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    routes: Router,
    config: &Config,
) -> Result<(), String> {
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
    let header_timeout = config.header_timeout;
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => permit.map_err(|e| e.to_string())?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: wait a moment, keep serving.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(routes.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = connection.await;
            drop(permit);
        });
    }
}

/// Purges decisions whose `retain` period is over, every ten minutes.
async fn purge_expired(store: Arc<Store>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(600));
    loop {
        ticker.tick().await;
        let worker = Arc::clone(&store);
        match tokio::task::spawn_blocking(move || worker.purge(SystemClock.now())).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(purged = n, "purged audit records past their retention"),
            Ok(Err(e)) => tracing::error!("purging the audit log failed: {e}"),
            Err(e) => tracing::error!("purging the audit log failed: {e}"),
        }
    }
}

/// Polls the policy file; installs a new version once it has settled and is
/// acceptable ([`reload`]), and never anything else.
async fn watch(app: Arc<App>) {
    let mut ticker = tokio::time::interval(app.config.reload_every);
    let mut settle = reload::Settle::new(app.config.reload_settle);
    loop {
        ticker.tick().await;
        let Ok(bytes) = std::fs::read(&app.config.policy) else {
            // Missing for a moment (a rename in progress) or unreadable: keep serving.
            settle.reset();
            continue;
        };
        let (print, current) = {
            let served = app.current.load();
            (
                watched_print(&bytes, &served.module_files),
                served.watched.clone(),
            )
        };
        let failed_already = lock(&app.reload_error)
            .as_ref()
            .is_some_and(|e| e.fingerprint == print);
        if print == current || failed_already {
            settle.reset();
            continue;
        }
        if !settle.observe(&print, Instant::now()) {
            continue;
        }
        settle.reset();
        let worker = Arc::clone(&app);
        let loaded = tokio::task::spawn_blocking(move || {
            let served = worker.current.load_full();
            load(
                &worker.config,
                &bytes,
                worker.store.clone(),
                worker.shared.as_ref(),
                &worker.metrics,
                Some(&served),
            )
        })
        .await;
        match loaded {
            Ok(Ok(new)) => {
                tracing::info!(
                    policy = %new.info.name,
                    version = %new.info.version,
                    fingerprint = new.info.fingerprint.get(..12).unwrap_or_default(),
                    "reloaded the policy"
                );
                if let Some(routes) = &app.config.notify {
                    warn_unrouted(routes, &new.governor);
                }
                app.current.store(Arc::new(new));
                *lock(&app.reload_error) = None;
                app.metrics
                    .reloads
                    .get_or_create(&ReloadLabels {
                        result: "ok".into(),
                    })
                    .inc();
            }
            Ok(Err((fingerprint, message))) => {
                tracing::warn!(
                    "the new policy was not installed; still serving the old one:\n{message}"
                );
                *lock(&app.reload_error) = Some(ReloadError {
                    at: SystemClock.now(),
                    fingerprint,
                    message,
                });
                app.metrics
                    .reloads
                    .get_or_create(&ReloadLabels {
                        result: "error".into(),
                    })
                    .inc();
            }
            Err(e) => tracing::error!("reload failed: {e}"),
        }
    }
}

/// Every route: method, path and handler. The router is built from this list, and
/// [`route_table`] gives it to the test that keeps `/openapi.json` in step.
fn routes() -> Vec<(&'static str, &'static str, MethodRouter<Arc<App>>)> {
    vec![
        ("POST", "/v1/decide", post(decide)),
        ("POST", "/v1/decide/batch", post(decide_batch)),
        ("GET", "/v1/policy", get(policy)),
        ("GET", "/healthz", get(healthz)),
        ("GET", "/metrics", get(metrics)),
        ("GET", "/openapi.json", get(openapi)),
        ("GET", "/v1/status", get(admin::status)),
        ("POST", "/v1/services/{name}/suspend", post(admin::suspend)),
        ("POST", "/v1/services/{name}/resume", post(admin::resume)),
        ("POST", "/v1/services/{name}/approve", post(admin::approve)),
        ("GET", "/v1/reports", get(admin::reports)),
        ("POST", "/v1/reports/{id}/{step}", post(admin::report_step)),
        ("POST", "/v1/events/{kind}", post(post_event)),
        ("POST", "/v1/blocks", post(admin::block)),
        ("DELETE", "/v1/blocks/{field}/{key}", delete(admin::unblock)),
        ("GET", "/v1/audit", get(admin::audit_log)),
        ("GET", "/v1/audit/verify", get(admin::audit_verify)),
        ("ANY", "/v1/ext_authz", any(ext_authz::check)),
        ("ANY", "/v1/ext_authz/{*path}", any(ext_authz::check)),
    ]
}

/// The methods an `ANY` route answers, as the OpenAPI document lists them.
pub const ANY_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The server's routes as (method, path), in the OpenAPI document's path syntax
/// (`{*path}` is `{path}`; `ANY` is each of [`ANY_METHODS`]).
pub fn route_table() -> Vec<(&'static str, String)> {
    routes()
        .into_iter()
        .flat_map(|(method, path, _)| {
            let path = path.replace("{*", "{");
            let methods: Vec<&'static str> = if method == "ANY" {
                ANY_METHODS.to_vec()
            } else {
                vec![method]
            };
            methods.into_iter().map(move |m| (m, path.clone()))
        })
        .collect()
}

/// The OpenAPI 3.1 document of the HTTP API, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

fn router(app: Arc<App>) -> Router {
    let access_log = app.config.access_log;
    let routes = routes();
    let mut paths: Vec<&'static str> = routes.iter().map(|(_, path, _)| *path).collect();
    paths.dedup();
    let timing = (app.clone(), Arc::<[&'static str]>::from(paths));
    let router = routes
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(timing, time_request))
        .with_state(app);
    if access_log {
        router.layer(axum::middleware::from_fn(log_access))
    } else {
        router
    }
}

/// Observes each request's time in `bylaw_http_request_seconds`, by the route it
/// matched (`/v1/decide`, `/v1/admin/services/{service}/suspend`; `unmatched` for a
/// path no route has, so that scanners cannot grow the label set).
async fn time_request(
    State((app, paths)): State<(Arc<App>, Arc<[&'static str]>)>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    // The route's own `&'static str`, found among the routes (a few dozen).
    let endpoint = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .and_then(|matched| paths.iter().find(|p| **p == matched.as_str()).copied())
        .unwrap_or("unmatched");
    let method = match request.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    // With tracing on, the request is a span, in the caller's trace when it names one.
    let span = app.otlp.as_ref().map(|exporter| exporter.begin(&request));
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    app.metrics
        .requests
        .get_or_create(&EndpointLabels { endpoint, method })
        .observe(elapsed.as_secs_f64());
    if let (Some(exporter), Some(span)) = (&app.otlp, span) {
        exporter.end(span, (method, endpoint), &response, elapsed);
    }
    response
}

/// One `bylaw::access` line per request: method, path, status, time taken and the
/// decision's id when there is one (the header's).
async fn log_access(request: Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    // The caller's trace, when it names one: the line joins the trace's other logs.
    let trace_id = otlp::Parent::of(request.headers())
        .map(|p| hex::encode(p.trace_id))
        .unwrap_or_default();
    let started = Instant::now();
    let response = next.run(request).await;
    let decision_id = response
        .headers()
        .get(DECISION_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info!(
        target: "bylaw::access",
        method = method.as_str(),
        path,
        status = response.status().as_u16(),
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        decision_id,
        trace_id,
        "request"
    );
    response
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!({ "error": { "code": code, "message": message.into() } });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

async fn not_found(State(app): State<Arc<App>>, request: Request) -> Response {
    // Envoy appends the checked path to its prefix: `/` gives `/v1/ext_authz/`, which
    // neither ext_authz route matches.
    if request.uri().path() == format!("{}/", ext_authz::PREFIX) {
        return ext_authz::check(State(app), request).await;
    }
    error(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no endpoint {} {}", request.method(), request.uri().path()),
    )
}

/// Compares a bearer token without leaking where it differs. No header, and a blank
/// expected token (refused at start-up too), never match.
fn token_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    !expected.trim().is_empty()
        && Sha256::digest(given.as_bytes()) == Sha256::digest(expected.as_bytes())
}

fn authorize(headers: &HeaderMap, token: Option<&str>, what: &str) -> Result<(), Response> {
    match token {
        None => Ok(()),
        Some(t) if token_matches(headers, t) => Ok(()),
        Some(_) => Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("{what} needs `Authorization: Bearer <token>`"),
        )),
    }
}

fn admin(app: &App, headers: &HeaderMap) -> Result<(), Response> {
    match &app.config.admin_token {
        None => Err(error(
            StatusCode::FORBIDDEN,
            "admin-disabled",
            "the admin API is off: start the server with --admin-token-file or BYLAW_ADMIN_TOKEN",
        )),
        Some(t) => authorize(headers, Some(t), "the admin API"),
    }
}

/// Reads a body up to the configured limit, of one of the accepted content types.
async fn read_body(app: &App, request: Request, accepted: &[&str]) -> Result<Bytes, Response> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !accepted.contains(&content_type.as_str()) {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!(
                "content type `{content_type}` is not accepted here; send {}",
                accepted.join(" or ")
            ),
        ));
    }
    body_bytes(app, request).await
}

/// A request's whole body, within the size limit and the read timeout.
async fn body_bytes(app: &App, request: Request) -> Result<Bytes, Response> {
    let reading = axum::body::to_bytes(request.into_body(), app.config.max_body);
    match tokio::time::timeout(app.config.header_timeout, reading).await {
        Ok(bytes) => bytes.map_err(|_| too_large(app)),
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "body-timeout",
            format!(
                "the body did not arrive within {} s",
                app.config.header_timeout.as_secs()
            ),
        )),
    }
}

fn too_large(app: &App) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body-too-large",
        format!(
            "the body is over the limit of {} bytes",
            app.config.max_body
        ),
    )
}

/// Decides one JSON request, counting it in the metrics; `Err` when the bytes are not
/// a JSON object at all (a client error, not an invalid request).
/// A decision under a `retain` duty comes with the ticket of its audit record: it is
/// answered only once that is durable (`await_record`).
fn decide_bytes(
    app: &App,
    loaded: &Loaded,
    bytes: &[u8],
) -> Result<(Decision, Option<Ticket>), String> {
    let started = Instant::now();
    let governor = &loaded.governor;
    let now = SystemClock.now();
    let encoded = governor.encode_json(bytes, now);
    if let Err(errors) = &encoded
        && let Some(e) = errors.iter().find(|e| e.field.is_empty())
    {
        return Err(e.message.clone());
    }
    Ok(decide_encoded(app, loaded, encoded, started))
}

/// Decides an encoded request (or denies an invalid one) and counts it in the metrics.
fn decide_encoded(
    app: &App,
    loaded: &Loaded,
    encoded: Result<crate::runtime::record::Record, Vec<crate::runtime::record::InputError>>,
    started: Instant,
) -> (Decision, Option<Ticket>) {
    let governor = &loaded.governor;
    let now = SystemClock.now();
    let (governed, pending) = match encoded {
        Ok(record) => governor.decide_pending(&record, now),
        Err(errors) => {
            let governed = crate::governance::Governed {
                decision: governor.invalid(errors, now),
                events: Vec::new(),
            };
            (governed, None)
        }
    };
    app.metrics.latency.observe(started.elapsed().as_secs_f64());
    app.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(counter) = loaded.counter(&governed.decision) {
        counter.inc();
    }
    if let Some(counter) = loaded.version_counter(&governed.decision) {
        counter.inc();
    }
    count_events(app, &governed.events);
    (governed.decision, pending)
}

/// Waits, off the async workers, until the audit record behind `ticket` is durable.
async fn await_record(store: Arc<Store>, ticket: Ticket) -> Result<(), String> {
    if store.is_durable(&ticket) {
        return Ok(());
    }
    match tokio::task::spawn_blocking(move || store.wait(&ticket)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn count_events(app: &App, events: &[Event]) {
    for e in events {
        if let What::TriggerFired { trigger, .. } = &e.what {
            app.metrics
                .triggers
                .get_or_create(&TriggerLabels {
                    trigger: trigger.clone(),
                })
                .inc();
        }
    }
}

async fn decide(State(app): State<Arc<App>>, request: Request) -> Response {
    if let Err(r) = authorize(
        request.headers(),
        app.config.decide_token.as_deref(),
        "deciding",
    ) {
        return r;
    }
    let body = match read_body(&app, request, &["application/json"]).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // Only a retained decision takes the store with it across the wait; the policy
    // itself is not held (nor its reference count touched) beyond deciding.
    // Kept for the decision log only (a shared buffer: no copy).
    let logged_request = app.decision_log.is_some().then(|| body.clone());
    let decide = move |app: &App| {
        let loaded = app.current.load();
        // The deciding version's sensitive fields go with the decision to the log.
        decide_bytes(app, &loaded, &body).map(|(decision, pending)| {
            (
                decision,
                pending.zip(loaded.governor.store().cloned()),
                app.decision_log
                    .as_ref()
                    .and_then(|_| loaded.sensitive.clone()),
            )
        })
    };
    let decided = match decide_where_it_may_wait(&app, decide).await {
        Ok(decided) => decided,
        Err(r) => return r,
    };
    let (mut decision, pending, sensitive) = match decided {
        Ok(decided) => decided,
        Err(message) => return error(StatusCode::BAD_REQUEST, "malformed-json", message),
    };
    if let Some((ticket, store)) = pending
        && let Err(e) = await_record(store, ticket).await
    {
        crate::governance::fail_for_audit(&mut decision, &e);
    }
    tracing::debug!(
        target: "bylaw::decisions",
        decision_id = decision.decision_id.as_deref().unwrap_or(""),
        outcome = decision.outcome.as_str(),
        tier = decision.tier.as_deref().unwrap_or(""),
        "decided"
    );
    // Serialized once: the answer, and the decision log's copy of it — the decision
    // as answered, after the audit log had its say.
    let answer = match serde_json::to_vec(&decision) {
        Ok(bytes) => Bytes::from(bytes),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    if let (Some(log), Some(request)) = (&app.decision_log, logged_request) {
        log.record(request, answer.clone(), sensitive.as_ref());
    }
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        answer,
    )
        .into_response();
    if let Some(id) = decision
        .decision_id
        .as_deref()
        .and_then(|id| axum::http::HeaderValue::from_str(id).ok())
    {
        response.headers_mut().insert(DECISION_ID_HEADER, id);
    }
    response
}

/// Runs `decide` in place, or — when the server shares state on Redis, so that a
/// decision may wait for it within its budget — on a blocking thread, so that
/// concurrent decisions wait together (their counts share one pipeline) instead of one
/// at a time on an async worker.
async fn decide_where_it_may_wait<T: Send + 'static>(
    app: &Arc<App>,
    decide: impl FnOnce(&App) -> T + Send + 'static,
) -> Result<T, Response> {
    if app.shared.is_none() {
        return Ok(decide(app));
    }
    let worker = Arc::clone(app);
    tokio::task::spawn_blocking(move || decide(&worker))
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

/// The response header that carries a decision's id (its body has it too).
pub const DECISION_ID_HEADER: &str = "bylaw-decision-id";

/// `POST /v1/events/KIND`: an event the host reports, checked against the kind's
/// schema and durable before the answer (authenticated like deciding).
async fn post_event(
    State(app): State<Arc<App>>,
    axum::extract::Path(kind): axum::extract::Path<String>,
    request: Request,
) -> Response {
    if let Err(r) = authorize(
        request.headers(),
        app.config.decide_token.as_deref(),
        "posting events",
    ) {
        return r;
    }
    let body = match read_body(&app, request, &["application/json"]).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let loaded = app.current.load_full();
    let posting = {
        let kind = kind.clone();
        tokio::task::spawn_blocking(move || {
            loaded.governor.post_event(&kind, &body, SystemClock.now())
        })
    };
    let result = match posting.await {
        Ok(result) => result,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    let counted = |result: &str| {
        app.metrics
            .events
            .get_or_create(&EventLabels {
                kind: kind.clone(),
                result: result.into(),
            })
            .inc();
    };
    match result {
        Ok(posted) => {
            counted(if posted.duplicate {
                "duplicate"
            } else {
                "accepted"
            });
            count_events(&app, &posted.events);
            json_response(StatusCode::OK, &posted)
        }
        Err(e) => {
            counted("refused");
            posting_refused(&e)
        }
    }
}

fn posting_refused(e: &crate::governance::posted::PostError) -> Response {
    use crate::governance::posted::PostError;
    match e {
        PostError::UnknownKind { .. } => {
            error(StatusCode::NOT_FOUND, "unknown-event", e.to_string())
        }
        PostError::Invalid(errors) if errors.iter().any(|e| e.field.is_empty()) => {
            error(StatusCode::BAD_REQUEST, "malformed-json", e.to_string())
        }
        PostError::Invalid(errors) => {
            let body = json!({ "error": {
                "code": "invalid-event",
                "message": e.to_string(),
                "fields": errors,
            }});
            json_response(StatusCode::BAD_REQUEST, &body)
        }
        PostError::Full(m) => error(StatusCode::SERVICE_UNAVAILABLE, "events-full", m.clone()),
        PostError::Store(s) => error(StatusCode::SERVICE_UNAVAILABLE, "store", s.to_string()),
    }
}

async fn decide_batch(State(app): State<Arc<App>>, request: Request) -> Response {
    if let Err(r) = authorize(
        request.headers(),
        app.config.decide_token.as_deref(),
        "deciding",
    ) {
        return r;
    }
    let accepted = [
        "application/x-ndjson",
        "application/jsonl",
        "application/json",
    ];
    let body = match read_body(&app, request, &accepted).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let items = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count();
    if items > app.config.max_batch {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch-too-large",
            format!(
                "a batch holds at most {} requests; this one has {items}",
                app.config.max_batch
            ),
        );
    }
    // Batches are decided off the async workers, a few at a time, so that health
    // checks, metrics and single decisions keep their own budget; the answer streams
    // out in chunks, so its memory is bounded whatever the batch's size.
    let Ok(slot) = Arc::clone(&app.batch_slots).acquire_owned().await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "the server is stopping",
        );
    };
    let (chunks, receiver) = tokio::sync::mpsc::channel::<Bytes>(BATCH_CHUNKS_IN_FLIGHT);
    let worker = Arc::clone(&app);
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        stream_lines(&worker, &body, &chunks);
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), receiver))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// A batch answer is sent in chunks of about this many bytes…
const BATCH_CHUNK_BYTES: usize = 64 << 10;
/// …at most this many of them waiting for the client.
const BATCH_CHUNKS_IN_FLIGHT: usize = 4;

/// One decision (or error) per non-blank line, serialized straight into the answer's
/// chunks. A chunk is sent only once the records of the retained decisions in it are
/// durable (they are committed in order, so its last one covers them); if they cannot
/// be, an `audit-log-failed` error line ends the answer and the chunk's decisions are
/// not given.
fn stream_lines(app: &App, body: &[u8], chunks: &tokio::sync::mpsc::Sender<Bytes>) {
    let loaded = app.current.load();
    let mut out = Vec::with_capacity(BATCH_CHUNK_BYTES + 4096);
    let mut last_record = None;
    for (number, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let start = out.len();
        let written = match decide_bytes(app, &loaded, line) {
            Ok((decision, pending)) => {
                last_record = pending.or(last_record);
                let written = serde_json::to_writer(&mut out, &decision);
                if let (Some(log), Ok(())) = (&app.decision_log, &written) {
                    log.record(
                        Bytes::copy_from_slice(line),
                        Bytes::copy_from_slice(&out[start..]),
                        loaded.sensitive.as_ref(),
                    );
                }
                written
            }
            Err(message) => serde_json::to_writer(
                &mut out,
                &json!({ "error": { "code": "malformed-json", "line": number + 1, "message": message } }),
            ),
        };
        if written.is_err() {
            return;
        }
        out.push(b'\n');
        if out.len() >= BATCH_CHUNK_BYTES
            && !send_chunk(&loaded, &mut out, last_record.take(), chunks)
        {
            return;
        }
    }
    if !out.is_empty() {
        send_chunk(&loaded, &mut out, last_record, chunks);
    }
}

/// Sends `out` once `record` is durable; `false` when the answer must end here.
fn send_chunk(
    loaded: &Loaded,
    out: &mut Vec<u8>,
    record: Option<Ticket>,
    chunks: &tokio::sync::mpsc::Sender<Bytes>,
) -> bool {
    if let (Some(ticket), Some(store)) = (record, loaded.governor.store())
        && let Err(e) = store.wait(&ticket)
    {
        let line = json!({ "error": { "code": "audit-log-failed", "message": format!(
            "decisions here are under a `retain` duty and the audit log could not record \
             them; the rest of the batch is not given ({e})"
        ) } });
        let _ = chunks.blocking_send(Bytes::from(format!("{line}\n")));
        return false;
    }
    let chunk = Bytes::from(std::mem::replace(
        out,
        Vec::with_capacity(BATCH_CHUNK_BYTES + 4096),
    ));
    // A client that went away ends the batch.
    chunks.blocking_send(chunk).is_ok()
}

async fn policy(State(app): State<Arc<App>>) -> Response {
    let loaded = app.current.load();
    let reload_error = lock(&app.reload_error).clone();
    json_response(
        StatusCode::OK,
        &json!({ "policy": loaded.info, "reload_error": reload_error }),
    )
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let store = match &app.store {
        None => "memory".to_string(),
        Some(s) => match s.failure() {
            None => "ok".to_string(),
            Some(e) => format!("failed: {e}"),
        },
    };
    let healthy = !store.starts_with("failed");
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // Redis down is degraded but still serving (fail-safe), so still 200.
    let redis = app
        .shared
        .as_ref()
        .map(|s| match (s.failure(), s.pending(), s.deferred()) {
            (None, 0, 0) => "ok".to_string(),
            (None, n, d) => format!("ok; {n} state write(s) pending, {d} counter(s) catching up"),
            (Some(e), n, d) => format!(
                "unreachable: {e}; deciding with the last known states and local counts; \
             {n} state write(s) pending, {d} counter(s) waiting to be sent"
            ),
        });
    // Undeliverable notifications are degraded too: decisions go on, and the outbox
    // keeps them.
    let loaded = app.current.load();
    let notifications = app.delivery.as_ref().map(|d| {
        let failing = d.failing.load(Ordering::Relaxed);
        json!({
            "pending": d.pending.load(Ordering::Relaxed),
            "delivered": d.delivered.load(Ordering::Relaxed),
            "failed_attempts": d.failures.load(Ordering::Relaxed),
            "dropped": loaded.governor.dropped_notifications(),
            "failing": failing,
            "last_error": if failing { lock(&d.last_error).clone() } else { None },
        })
    });
    let notifying = notifications
        .as_ref()
        .is_some_and(|n| n["failing"] == true || n["dropped"] != 0);
    // A decision log that cannot ship, or has dropped decisions, is degraded too.
    let decision_log = app.decision_log.as_ref().map(|log| {
        json!({
            "shipped": log.shipped(),
            "queued": log.queued(),
            "dropped": log.dropped(),
            "failing": log.failing(),
        })
    });
    let logging = decision_log
        .as_ref()
        .is_some_and(|l| !l["failing"].is_null() || l["dropped"] != 0);
    // Traces are diagnostics: a collector that is down is shown, not a degradation.
    let tracing = app.otlp.as_ref().map(|t| {
        json!({
            "exported": t.exported(),
            "dropped": t.dropped(),
            "failing": t.failing(),
        })
    });
    let (open, overdue) = loaded.governor.report_counts(SystemClock.now());
    let degraded = !healthy || notifying || logging || redis.as_deref().is_some_and(|r| r != "ok");
    json_response(
        status,
        &json!({
            "status": if degraded { "degraded" } else { "ok" },
            "store": store,
            "redis": redis,
            "notifications": notifications,
            "decision_log": decision_log,
            "tracing": tracing,
            "reports": { "open": open, "overdue": overdue },
            "policy": loaded.info.version,
            "decisions": app.requests.load(Ordering::Relaxed),
        }),
    )
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    // Service states as of now, one gauge per (service, state): read, never written
    // (a scrape is not an operation).
    let loaded = app.current.load();
    let now = SystemClock.now();
    let status = loaded.governor.view(now);
    let (open, overdue) = loaded.governor.report_counts(now);
    app.metrics
        .open_reports
        .set(i64::try_from(open).unwrap_or(i64::MAX));
    app.metrics
        .overdue_reports
        .set(i64::try_from(overdue).unwrap_or(i64::MAX));
    if let Some(d) = &app.delivery {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let m = &app.metrics;
        m.notifications_pending
            .set(gauge(d.pending.load(Ordering::Relaxed)));
        m.notifications_delivered
            .set(gauge(d.delivered.load(Ordering::Relaxed)));
        m.notification_failures
            .set(gauge(d.failures.load(Ordering::Relaxed)));
        m.notifications_dropped
            .set(gauge(loaded.governor.dropped_notifications()));
    }
    if let Some(log) = &app.decision_log {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let m = &app.metrics;
        m.decision_log_shipped.set(gauge(log.shipped()));
        m.decision_log_queued.set(gauge(log.queued()));
        m.decision_log_dropped.set(gauge(log.dropped()));
    }
    if let Some(shared) = &app.shared {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let m = &app.metrics;
        m.redis_circuit_open.set(i64::from(shared.circuit_open()));
        m.redis_circuit_openings.set(gauge(shared.breaker_opened()));
        m.redis_counters_waiting
            .set(gauge(shared.deferred() as u64));
        m.redis_increments_dropped
            .set(gauge(shared.dropped_increments()));
        m.redis_writes_pending.set(gauge(shared.pending() as u64));
    }
    for (trigger, n) in loaded.governor.suppressed_reports() {
        app.metrics
            .suppressed_reports
            .get_or_create(&TriggerLabels { trigger })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    for s in status.services {
        for state in ["active", "degraded", "suspended", "recovering"] {
            app.metrics
                .services
                .get_or_create(&ServiceLabels {
                    service: s.name.clone(),
                    state: state.into(),
                })
                .set(i64::from(s.state.name() == state));
        }
    }
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &app.metrics.registry) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string());
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
