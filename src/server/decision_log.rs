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

use crate::runtime::decision::Decision;

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

/// The queue and its counters; the worker thread ships what it holds.
#[derive(Debug)]
pub struct DecisionLog {
    queue: Sender<String>,
    mask: Vec<Vec<String>>,
    state: Arc<State>,
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
        let mask = options
            .mask
            .iter()
            .map(|m| m.split('.').map(str::to_string).collect())
            .collect();
        std::thread::Builder::new()
            .name("bylaw-decision-log".into())
            .spawn(move || ship(&options, &entries, &worker_state))
            .map_err(|e| format!("cannot start the decision log: {e}"))?;
        Ok(DecisionLog { queue, mask, state })
    }

    /// Queues one decision and the request it decided; drops it (counted) when the
    /// queue is full. Never blocks.
    pub fn record(&self, request: &[u8], decision: &Decision) {
        let mut input: serde_json::Value =
            serde_json::from_slice(request).unwrap_or(serde_json::Value::Null);
        for path in &self.mask {
            mask(&mut input, path);
        }
        let line = serde_json::json!({ "decision": decision, "input": input }).to_string();
        match self.queue.try_send(line) {
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
fn ship(options: &Options, entries: &Receiver<String>, state: &State) {
    let mut batch: Vec<String> = Vec::with_capacity(options.batch);
    loop {
        let deadline = Instant::now() + options.flush_every;
        while batch.len() < options.batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match entries.recv_timeout(left) {
                Ok(line) => batch.push(line),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => break,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    if !batch.is_empty() {
                        deliver(options, &batch, state);
                    }
                    return;
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        deliver(options, &batch, state);
        batch.clear();
    }
}

/// Ships one batch, retrying until it goes; counts it shipped.
fn deliver(options: &Options, batch: &[String], state: &State) {
    let mut body = batch.join("\n");
    body.push('\n');
    let mut wait = options.retry;
    loop {
        match write(&options.sink, &body) {
            Ok(()) => {
                if let Ok(mut failing) = state.failing.lock() {
                    *failing = None;
                }
                let n = batch.len() as u64;
                state.shipped.fetch_add(n, Ordering::Relaxed);
                state.queued.fetch_sub(n, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                tracing::warn!(target: "bylaw::decision_log", "shipping {} decisions failed: {e}", batch.len());
                if let Ok(mut failing) = state.failing.lock() {
                    *failing = Some(e);
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn write(sink: &Sink, body: &str) -> Result<(), String> {
    match sink {
        Sink::Http { url, timeout } => {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(*timeout))
                .http_status_as_error(false)
                .build()
                .into();
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
            file.write_all(body.as_bytes())
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
