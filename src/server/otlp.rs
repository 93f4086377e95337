//! Traces of the server's requests, exported to an OpenTelemetry collector over
//! OTLP/HTTP with the JSON encoding (`POST …/v1/traces`), off unless
//! `--otlp-endpoint` names one.
//!
//! Each request is one server span. A W3C `traceparent` header on the request makes the
//! span a child of the caller's (same trace id, the caller's span as parent), so a
//! decision shows up inside the gateway's or the application's trace; without one (or
//! with a malformed one) the span starts a new trace. The span names the route
//! (`POST /v1/decide`) and carries the method, path, status and the decision's id.
//!
//! Spans wait in a bounded queue and leave in batches from one worker thread, never on
//! a request's path; when the collector is down or slow, batches are dropped and
//! counted (traces are diagnostics, not records) and `/healthz` says so.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::governance::lock;

/// How the exporter runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The collector's traces URL (`http://collector:4318/v1/traces`).
    pub endpoint: String,
    /// The resource's `service.name`.
    pub service_name: String,
    /// Spans waiting at most; past it a span is dropped and counted.
    pub max_queue: usize,
    /// Spans per request to the collector, at most.
    pub batch: usize,
    /// How long a span may wait for its batch.
    pub flush_every: Duration,
    pub timeout: Duration,
}

impl Options {
    pub fn new(endpoint: String) -> Options {
        Options {
            endpoint,
            service_name: "bylaw".into(),
            max_queue: 10_000,
            batch: 512,
            flush_every: Duration::from_millis(1_000),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A trace's position as a `traceparent` header carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub sampled: bool,
}

impl Parent {
    /// The caller's trace position, from a request's `traceparent` header.
    pub fn of(headers: &axum::http::HeaderMap) -> Option<Parent> {
        headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(Parent::parse)
    }

    /// Reads a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`). `None` when it is
    /// malformed, all-zero, or of the invalid version `ff`; a later version is read by
    /// its first four fields, as the recommendation asks.
    pub fn parse(header: &str) -> Option<Parent> {
        let mut parts = header.trim().split('-');
        let version = parts.next()?;
        let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || version.eq_ignore_ascii_case("ff") {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let lower = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !(lower(version) && lower(trace) && lower(span) && lower(flags)) {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        hex::decode_to_slice(trace, &mut trace_id).ok()?;
        hex::decode_to_slice(span, &mut span_id).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Parent {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }
}

/// A request's span as it starts.
#[derive(Debug)]
pub struct Started {
    parent: Option<Parent>,
    path: String,
    start_unix_nanos: u64,
}

/// One finished server span.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub name: String,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    /// (key, value) string attributes; the status code is added as an integer.
    pub attributes: Vec<(&'static str, String)>,
    pub status_code: u16,
}

#[derive(Debug, Default)]
struct State {
    exported: AtomicU64,
    dropped: AtomicU64,
    failing: std::sync::Mutex<Option<String>>,
}

/// The exporter: where request spans are handed, and how export goes.
#[derive(Debug)]
pub struct Exporter {
    queue: Sender<Span>,
    state: Arc<State>,
    /// Ids: a random seed mixed with a sequence, so making one costs no system call.
    seed: u64,
    next: AtomicU64,
}

impl Exporter {
    /// Starts the worker that sends spans to the collector.
    pub fn start(options: Options) -> Result<Exporter, String> {
        if !(options.endpoint.starts_with("http://") || options.endpoint.starts_with("https://")) {
            return Err(format!(
                "--otlp-endpoint `{}` is not an http(s) URL (the collector's …/v1/traces)",
                options.endpoint
            ));
        }
        let (queue, spans) = bounded(options.max_queue.max(1));
        let state = Arc::new(State::default());
        let worker = Arc::clone(&state);
        std::thread::Builder::new()
            .name("bylaw-otlp".into())
            .spawn(move || export(&options, &spans, &worker))
            .map_err(|e| format!("cannot start the trace exporter: {e}"))?;
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| format!("no randomness for trace ids: {e}"))?;
        Ok(Exporter {
            queue,
            state,
            seed: u64::from_le_bytes(seed),
            next: AtomicU64::new(0),
        })
    }

    /// 16 fresh random-looking bytes: the next sequence number mixed with the seed.
    fn fresh(&self) -> [u8; 16] {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        xxhash_rust::xxh3::xxh3_128_with_seed(&n.to_le_bytes(), self.seed).to_le_bytes()
    }

    /// Where a request's span starts: the caller's trace, if the request names one.
    pub fn begin(&self, request: &axum::extract::Request) -> Started {
        Started {
            parent: Parent::of(request.headers()),
            path: request.uri().path().to_string(),
            start_unix_nanos: unix_nanos(),
        }
    }

    /// Records the span of a request begun with [`Exporter::begin`], answered with
    /// `response` after `elapsed`, on route `endpoint`.
    pub fn end(
        &self,
        started: Started,
        (method, endpoint): (&str, &str),
        response: &axum::response::Response,
        elapsed: Duration,
    ) {
        let mut span_id = [0u8; 8];
        span_id.copy_from_slice(&self.fresh()[..8]);
        let trace_id = started.parent.map_or_else(|| self.fresh(), |p| p.trace_id);
        let mut attributes = vec![
            ("http.request.method", method.to_string()),
            ("http.route", endpoint.to_string()),
            ("url.path", started.path),
        ];
        if let Some(id) = response
            .headers()
            .get(super::DECISION_ID_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            attributes.push(("bylaw.decision_id", id.to_string()));
        }
        self.record(Span {
            trace_id,
            span_id,
            parent: started.parent.map(|p| p.span_id),
            name: format!("{method} {endpoint}"),
            start_unix_nanos: started.start_unix_nanos,
            end_unix_nanos: started
                .start_unix_nanos
                .saturating_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)),
            attributes,
            status_code: response.status().as_u16(),
        });
    }

    /// Hands a finished span to the worker; a full queue drops it (counted).
    fn record(&self, span: Span) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.queue.try_send(span)
        {
            self.state.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn exported(&self) -> u64 {
        self.state.exported.load(Ordering::Relaxed)
    }

    pub fn dropped(&self) -> u64 {
        self.state.dropped.load(Ordering::Relaxed)
    }

    /// Why the last batch did not reach the collector, while it does not.
    pub fn failing(&self) -> Option<String> {
        lock(&self.state.failing).clone()
    }
}

/// The time now, in nanoseconds since the Unix epoch.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The worker: a batch at most every `flush_every`, or as soon as it is full.
fn export(options: &Options, spans: &Receiver<Span>, state: &State) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(options.timeout))
        .http_status_as_error(false)
        .build()
        .into();
    loop {
        let Ok(first) = spans.recv() else {
            return;
        };
        let deadline = Instant::now() + options.flush_every;
        let mut batch = vec![first];
        while batch.len() < options.batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match spans.recv_timeout(left) {
                Ok(span) => batch.push(span),
                Err(_) => break,
            }
        }
        let body = request_body(options, &batch).to_string();
        let sent = agent
            .post(&options.endpoint)
            .header("content-type", "application/json")
            .send(&body);
        let n = batch.len() as u64;
        match sent {
            Ok(response) if response.status().is_success() => {
                state.exported.fetch_add(n, Ordering::Relaxed);
                *lock(&state.failing) = None;
            }
            Ok(response) => {
                state.dropped.fetch_add(n, Ordering::Relaxed);
                *lock(&state.failing) =
                    Some(format!("the collector answered {}", response.status()));
            }
            Err(e) => {
                state.dropped.fetch_add(n, Ordering::Relaxed);
                *lock(&state.failing) = Some(e.to_string());
            }
        }
    }
}

/// An `ExportTraceServiceRequest` in OTLP's JSON encoding: ids in hex, times as
/// strings of nanoseconds, `kind` 2 (server), status 2 (error) for a 5xx answer.
fn request_body(options: &Options, spans: &[Span]) -> serde_json::Value {
    let spans: Vec<serde_json::Value> = spans
        .iter()
        .map(|s| {
            let mut attributes: Vec<serde_json::Value> = s
                .attributes
                .iter()
                .map(|(k, v)| serde_json::json!({"key": k, "value": {"stringValue": v}}))
                .collect();
            attributes.push(serde_json::json!({
                "key": "http.response.status_code",
                "value": {"intValue": s.status_code.to_string()},
            }));
            let mut span = serde_json::json!({
                "traceId": hex::encode(s.trace_id),
                "spanId": hex::encode(s.span_id),
                "name": s.name,
                "kind": 2,
                "startTimeUnixNano": s.start_unix_nanos.to_string(),
                "endTimeUnixNano": s.end_unix_nanos.to_string(),
                "attributes": attributes,
                "status": {"code": if s.status_code >= 500 { 2 } else { 0 }},
            });
            if let Some(parent) = s.parent {
                span["parentSpanId"] = serde_json::json!(hex::encode(parent));
            }
            span
        })
        .collect();
    serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": options.service_name}},
                {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}},
            ]},
            "scopeSpans": [{
                "scope": {"name": "bylaw", "version": env!("CARGO_PKG_VERSION")},
                "spans": spans,
            }],
        }],
    })
}
