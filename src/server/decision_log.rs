//! Decision logs: every decision the server makes, with the request it decided
//! (fields named by `--decision-log-mask` replaced by `"***"`), shipped in batches
//! off the request path — as JSON lines POSTed to a URL, retried with backoff, or
//! appended to a file that is rotated by size.
//!
//! Memory is bounded: a decision joins a queue of at most `max_queue` entries, and
//! when the sink is down long enough for the queue to fill, further decisions are
//! dropped and counted, never waited for. `/healthz` and the metrics say so.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use axum::body::Bytes;

/// Where decision logs go.
#[derive(Debug, Clone)]
pub enum Sink {
    /// POST batches of JSON lines (`application/x-ndjson`) to this URL.
    Http { url: String, timeout: Duration },
    /// Append JSON lines to this file; at `max_bytes` it becomes `FILE.1` (`FILE.1`
    /// becomes `FILE.2`, …), keeping `keep` old files.
    File {
        path: PathBuf,
        max_bytes: u64,
        keep: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Options {
    pub sink: Sink,
    /// Dotted request fields replaced by `"***"` before a decision leaves the server.
    pub mask: Vec<String>,
    pub max_queue: usize,
    pub batch: usize,
    pub flush_every: Duration,
    /// The first retry's wait after a failed POST; doubled up to 30 s.
    pub retry: Duration,
}

/// The queue and its counters; the worker thread writes and ships what it holds.
#[derive(Debug)]
pub struct DecisionLog {
    queue: Sender<Entry>,
    state: Arc<State>,
}

/// One decision, as answered (its JSON), and the request bytes it decided, as queued:
/// written out (and masked) on the worker, not on the request's thread. Both are shared
/// buffers: queueing one copies nothing of a single decision.
#[derive(Debug)]
struct Entry {
    request: Bytes,
    decision: Bytes,
    /// The paths the deciding policy marks `sensitive` (split at dots), if any.
    sensitive: Option<Sensitive>,
}

/// A policy's `sensitive` fields, as paths split at dots; shared by every entry it
/// decided.
pub type Sensitive = Arc<[Vec<String>]>;

/// The fields `policy` marks `sensitive`, or `None` when it marks none.
pub fn sensitive_of(policy: &crate::ir::Policy) -> Option<Sensitive> {
    let paths: Vec<Vec<String>> = policy
        .fields
        .iter()
        .filter(|f| f.sensitive)
        .map(|f| f.segments.clone())
        .collect();
    (!paths.is_empty()).then(|| paths.into())
}

#[derive(Debug, Default)]
struct State {
    shipped: AtomicU64,
    dropped: AtomicU64,
    queued: AtomicU64,
    /// The last failure, while the sink is failing.
    failing: Mutex<Option<String>>,
}

impl DecisionLog {
    /// Starts the worker thread that ships the log.
    pub fn start(options: Options) -> Result<DecisionLog, String> {
        if let Sink::File { path, .. } = &options.sink {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open the decision log `{}`: {e}", path.display()))?;
        }
        let (queue, entries) = crossbeam_channel::bounded(options.max_queue.max(1));
        let state = Arc::new(State::default());
        let worker_state = Arc::clone(&state);
        std::thread::Builder::new()
            .name("bylaw-decision-log".into())
            .spawn(move || ship(&options, &entries, &worker_state))
            .map_err(|e| format!("cannot start the decision log: {e}"))?;
        Ok(DecisionLog { queue, state })
    }

    /// Queues a decision — its JSON as the client was answered — and its request;
    /// `sensitive` are the deciding policy's `sensitive` fields, masked with the
    /// `--decision-log-mask` ones. Drops it (counted) when the queue is full; never
    /// blocks.
    pub fn record(&self, request: Bytes, decision: Bytes, sensitive: Option<&Sensitive>) {
        let entry = Entry {
            request,
            decision,
            sensitive: sensitive.cloned(),
        };
        match self.queue.try_send(entry) {
            Ok(()) => {
                self.state.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.state.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn shipped(&self) -> u64 {
        self.state.shipped.load(Ordering::Relaxed)
    }

    pub fn dropped(&self) -> u64 {
        self.state.dropped.load(Ordering::Relaxed)
    }

    /// Entries waiting to be shipped.
    pub fn queued(&self) -> u64 {
        self.state.queued.load(Ordering::Relaxed)
    }

    /// The sink's last error, while it is failing.
    pub fn failing(&self) -> Option<String> {
        self.state
            .failing
            .lock()
            .map_or_else(|e| e.into_inner().clone(), |g| g.clone())
    }
}

/// Appends one entry's JSON line to `out`: the decision, and the request — as sent
/// when nothing is masked (it was JSON, or it is `null`), parsed and masked otherwise.
fn write_line(out: &mut Vec<u8>, entry: &Entry, mask_paths: &[Vec<String>]) {
    out.extend_from_slice(b"{\"decision\":");
    // The answer's JSON as sent: the server wrote it (on one line), so it is not read
    // again here.
    if entry.decision.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        out.extend_from_slice(&entry.decision);
    }
    out.extend_from_slice(b",\"input\":");
    // A request on one line goes as sent; one written over several lines (or to be
    // masked) is parsed and written again, so each entry stays one line.
    let one_line = !entry.request.iter().any(|b| *b == b'\n' || *b == b'\r');
    let policy_paths = entry.sensitive.as_deref().unwrap_or(&[]);
    if mask_paths.is_empty() && policy_paths.is_empty() && one_line {
        match serde_json::from_slice::<&serde_json::value::RawValue>(&entry.request) {
            Ok(raw) => out.extend_from_slice(raw.get().as_bytes()),
            Err(_) => out.extend_from_slice(b"null"),
        }
    } else {
        let mut input: serde_json::Value =
            serde_json::from_slice(&entry.request).unwrap_or(serde_json::Value::Null);
        for path in mask_paths.iter().chain(policy_paths) {
            mask(&mut input, path);
        }
        if serde_json::to_writer(&mut *out, &input).is_err() {
            out.extend_from_slice(b"null");
        }
    }
    out.extend_from_slice(b"}\n");
}

/// Replaces the value at `path` (when the request has it) with `"***"`.
fn mask(value: &mut serde_json::Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = value;
    for part in parents {
        match at.get_mut(part.as_str()) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Some(object) = at.as_object_mut()
        && let Some(slot) = object.get_mut(last.as_str())
    {
        *slot = serde_json::Value::String("***".into());
    }
}

/// The worker: takes up to a batch, or what came within the flush interval, and
/// ships it; a batch that fails is retried with backoff while newer entries wait in
/// the (bounded) queue.
fn ship(options: &Options, entries: &Receiver<Entry>, state: &State) {
    let mask_paths: Vec<Vec<String>> = options
        .mask
        .iter()
        .map(|m| m.split('.').map(str::to_string).collect())
        .collect();
    // The worker wakes on its own at short intervals and drains what came: a sender
    // never has to wake it, so queueing a decision costs no system call.
    let nap = options.flush_every.min(Duration::from_millis(5));
    // One HTTP client for the worker's life: its connection is kept alive between
    // batches.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(match &options.sink {
            Sink::Http { timeout, .. } => Some(*timeout),
            Sink::File { .. } => None,
        })
        .http_status_as_error(false)
        .build()
        .into();
    let mut body: Vec<u8> = Vec::new();
    let mut count = 0;
    let mut deadline = Instant::now() + options.flush_every;
    loop {
        std::thread::sleep(nap);
        let mut closed = false;
        loop {
            if count >= options.batch {
                break;
            }
            match entries.try_recv() {
                Ok(entry) => {
                    write_line(&mut body, &entry, &mask_paths);
                    count += 1;
                }
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        let due = count >= options.batch || Instant::now() >= deadline || closed;
        if due && count > 0 {
            deliver(options, &agent, &body, count, state);
            body.clear();
            count = 0;
        }
        if due {
            deadline = Instant::now() + options.flush_every;
        }
        if closed {
            return;
        }
    }
}

/// Ships one batch of `count` lines, retrying until it goes; counts it shipped.
fn deliver(options: &Options, agent: &ureq::Agent, body: &[u8], count: usize, state: &State) {
    let mut wait = options.retry;
    loop {
        match write(&options.sink, agent, body) {
            Ok(()) => {
                if let Ok(mut failing) = state.failing.lock() {
                    *failing = None;
                }
                let n = count as u64;
                state.shipped.fetch_add(n, Ordering::Relaxed);
                state.queued.fetch_sub(n, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                tracing::warn!(target: "bylaw::decision_log", "shipping {count} decisions failed: {e}");
                if let Ok(mut failing) = state.failing.lock() {
                    *failing = Some(e);
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn write(sink: &Sink, agent: &ureq::Agent, body: &[u8]) -> Result<(), String> {
    match sink {
        Sink::Http { url, .. } => {
            let response = agent
                .post(url)
                .header("content-type", "application/x-ndjson")
                .header("user-agent", concat!("bylaw/", env!("CARGO_PKG_VERSION")))
                .send(body)
                .map_err(|e| format!("{url}: {e}"))?;
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(format!("{url} answered {status}"))
            }
        }
        Sink::File {
            path,
            max_bytes,
            keep,
        } => {
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            if size > 0 && size + body.len() as u64 > *max_bytes {
                rotate(path, *keep).map_err(|e| format!("rotating `{}`: {e}", path.display()))?;
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("`{}`: {e}", path.display()))?;
            file.write_all(body)
                .and_then(|()| file.flush())
                .map_err(|e| format!("`{}`: {e}", path.display()))
        }
    }
}

/// `FILE` → `FILE.1`, `FILE.1` → `FILE.2`, …, the oldest beyond `keep` removed.
fn rotate(path: &std::path::Path, keep: usize) -> std::io::Result<()> {
    let numbered = |n: usize| {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    };
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    let oldest = numbered(keep);
    if oldest.exists() {
        std::fs::remove_file(&oldest)?;
    }
    for n in (1..keep).rev() {
        let from = numbered(n);
        if from.exists() {
            std::fs::rename(&from, numbered(n + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "the test's own files")]
mod tests {
    use super::*;

    #[test]
    fn masking_replaces_only_the_named_fields() {
        let mut v = serde_json::json!({"user": {"name": "Ann", "age": 30}, "id": "r1"});
        mask(&mut v, &["user".into(), "name".into()]);
        mask(&mut v, &["missing".into(), "x".into()]);
        assert_eq!(
            v,
            serde_json::json!({"user": {"name": "***", "age": 30}, "id": "r1"})
        );
    }

    #[test]
    fn every_entry_is_one_line_of_json() {
        let decision = Bytes::from_static(br#"{"outcome":"deny"}"#);
        let mut out = Vec::new();
        for request in [&b"{\n  \"a\": 1\n}"[..], b"{\"a\": 1}", b"not json"] {
            write_line(
                &mut out,
                &Entry {
                    request: Bytes::copy_from_slice(request),
                    decision: decision.clone(),
                    sensitive: None,
                },
                &[],
            );
        }
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["input"]["a"], 1);
        assert_eq!(lines[1]["input"]["a"], 1);
        assert!(lines[2]["input"].is_null());
    }

    #[test]
    fn rotation_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.log");
        for round in 0..4 {
            std::fs::write(&path, format!("{round}")).unwrap();
            rotate(&path, 2).unwrap();
        }
        let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).ok();
        assert_eq!(read("d.log.1").as_deref(), Some("3"));
        assert_eq!(read("d.log.2").as_deref(), Some("2"));
        assert_eq!(read("d.log.3"), None);
    }
}
