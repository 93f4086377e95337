//! A circuit breaker for the shared store: after a few failures in a row the server
//! stops waiting on Redis and decides with local counts, then probes it again after a
//! backoff that doubles up to a ceiling. Pure: every call takes the time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::governance::lock;

/// Failures in a row that open the circuit.
pub const FAILURES_TO_OPEN: u32 = 3;
/// The first wait before a probe; doubled at every failed probe.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest wait before a probe.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct State {
    failures: u32,
    /// Set while the circuit is open: when the next probe may go.
    retry_at: Option<Instant>,
    backoff: Duration,
    last_error: Option<String>,
    /// How many times the circuit opened.
    opened: u64,
}

/// What the breaker says, for `/healthz` and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Closed,
    /// Open: deciding locally; `retry_in` until the next probe.
    Open {
        error: String,
        retry_in: Duration,
    },
}

#[derive(Debug)]
pub struct Breaker {
    /// Mirrors `State::retry_at.is_none()` for the decision path's one atomic load.
    closed: AtomicBool,
    state: Mutex<State>,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            closed: AtomicBool::new(true),
            state: Mutex::new(State {
                failures: 0,
                retry_at: None,
                backoff: BACKOFF_MIN,
                last_error: None,
                opened: 0,
            }),
        }
    }
}

impl Breaker {
    /// Whether a decision may wait (within its budget) for Redis.
    #[inline]
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Redis answered: the circuit closes and the backoff starts again from the
    /// smallest.
    pub fn success(&self) {
        let mut s = lock(&self.state);
        s.failures = 0;
        s.retry_at = None;
        s.backoff = BACKOFF_MIN;
        s.last_error = None;
        self.closed.store(true, Ordering::Release);
    }

    /// Redis failed or did not answer in time. The circuit opens at the
    /// [`FAILURES_TO_OPEN`]th failure in a row, or at once when a probe fails.
    pub fn failure(&self, now: Instant, error: &str) {
        let mut s = lock(&self.state);
        s.failures = s.failures.saturating_add(1);
        s.last_error = Some(error.to_string());
        match s.retry_at {
            Some(_) => {
                // A failed probe: wait twice as long before the next one.
                s.backoff = (s.backoff * 2).min(BACKOFF_MAX);
                s.retry_at = Some(now + s.backoff);
            }
            None if s.failures >= FAILURES_TO_OPEN => {
                s.retry_at = Some(now + s.backoff);
                s.opened += 1;
                self.closed.store(false, Ordering::Release);
            }
            None => {}
        }
    }

    /// When the circuit is open: how long until a probe may go (zero when due).
    pub fn retry_in(&self, now: Instant) -> Option<Duration> {
        lock(&self.state)
            .retry_at
            .map(|at| at.saturating_duration_since(now))
    }

    pub fn status(&self, now: Instant) -> Status {
        let s = lock(&self.state);
        match s.retry_at {
            None => Status::Closed,
            Some(at) => Status::Open {
                error: s.last_error.clone().unwrap_or_default(),
                retry_in: at.saturating_duration_since(now),
            },
        }
    }

    /// How many times the circuit has opened.
    pub fn opened(&self) -> u64 {
        lock(&self.state).opened
    }
}
