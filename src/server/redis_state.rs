//! Shared state on Redis for several replicas of `bylaw serve --redis URL`.
//!
//! - Trigger windows: one Redis counter per bucket (`INCR`, with an expiry of the
//!   window), summed with `MGET` — so counts from every replica add up exactly.
//! - Service states, blocks and reports: each row is a Redis hash `{v, b}`: a version
//!   and the row's body (empty once deleted). Versions are monotonic per row (a
//!   Lamport counter, ties broken by a replica id), and a row is written only if its
//!   version is newer than Redis's, by one script that also announces it on a pub/sub
//!   channel. A replica installs a row only if it is newer than the one it has — so a
//!   resync never puts an older state back over a newer one.
//! - Writes are retried until Redis acknowledges them: a write that fails (a dropped
//!   idle connection, a partition) stays pending and goes out with the next resync,
//!   every second. A resync also writes back every row Redis lost (a restart without
//!   persistence), so the replicas never disagree for longer than a resync once
//!   Redis answers.
//! - Decisions never wait on Redis beyond a budget (`--redis-budget-ms`): a decision
//!   hands its counter updates to one worker thread, which sends everything queued in
//!   one pipeline, and waits for the answer at most the budget. Past it — or while
//!   the circuit breaker ([`super::breaker`]) is open after failures in a row — the
//!   decision counts locally, and its increments stay queued (coalesced per counter)
//!   until Redis takes them: the windows reconcile when it answers again.
//! - Fail-safe: when Redis cannot be reached, a replica keeps the last states it
//!   knew and counts on its own; `/healthz` says `redis: unreachable …` (and how many
//!   writes are pending) until Redis answers again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use redis::{Client, Commands, Connection, RedisResult};

use crate::governance::clock::Timestamp;
use crate::governance::lock;
use crate::governance::shared::{REPLICA_RANGE, Shared};
use crate::governance::store::StateWrite;
use crate::governance::window::{Buckets, Tally};

const TIMEOUT: Duration = Duration::from_millis(250);
/// How long the counting worker waits for one pipeline: off the decision path, so
/// longer than a decision's budget; a Redis that takes longer counts as failing.
const WORKER_TIMEOUT: Duration = Duration::from_secs(1);
/// The default of `--redis-budget-ms`.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(20);
/// Most counters with increments Redis has not taken; past it an increment is dropped
/// and counted ([`RedisShared::dropped_increments`]), so an outage cannot grow memory
/// without bound.
pub const MAX_DEFERRED: usize = 100_000;
/// How often every row is re-read, whatever pub/sub delivered.
pub const RESYNC: Duration = Duration::from_secs(1);

/// Writes a row if its version is newer than the stored one, and announces it.
/// KEYS[1]: the row; ARGV: version, body ("" once deleted), channel.
const WRITE_IF_NEWER: &str = "\
local stored = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1') \
if tonumber(ARGV[1]) > stored then \
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'b', ARGV[2]) \
  redis.call('PUBLISH', ARGV[3], KEYS[1]) \
  return 1 \
end \
return 0";

/// The next report number: one more than the counter, and never below the floor a
/// replica knows (a Redis that lost its counter must not give a number twice).
/// KEYS[1]: the counter; ARGV[1]: the floor.
const NEXT_REPORT_ID: &str = "\
local n = redis.call('INCR', KEYS[1]) \
local floor = tonumber(ARGV[1]) \
if n < floor then redis.call('SET', KEYS[1], floor) n = floor end \
return n";

/// Claims an event id for a replica: 1 when it is unclaimed or claimed by the same
/// replica (its own retry), else 0. KEYS[1]: the id; ARGV: replica, seconds.
const CLAIM_EVENT: &str = "\
local owner = redis.call('GET', KEYS[1]) \
if not owner then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end \
if owner == ARGV[1] then return 1 end \
return 0";

/// Gives back a claim, if it is still the replica's. KEYS[1]: the id; ARGV[1]: replica.
const RELEASE_EVENT: &str = "\
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end \
return 0";

/// Bits of a version that name the replica that wrote it; the rest count.
const REPLICA_BITS: u32 = 10;

/// A row as this replica last wrote or installed it.
#[derive(Debug, Clone)]
struct Known {
    version: u64,
    body: Option<String>,
}

#[derive(Debug, Default)]
struct Rows {
    known: HashMap<String, Known>,
    /// Rows written here that Redis has not acknowledged yet, with their version.
    pending: HashMap<String, u64>,
}

/// A counter's increments that Redis has not taken yet.
#[derive(Debug, Clone, Copy)]
struct Deferred {
    by: u64,
    /// The counter's expiry in Redis, in seconds.
    ttl: i64,
    /// When the counter's bucket has left every window (Unix ms): it is dropped then.
    stale_at: u64,
}

/// What a decision (or a state change) waits for from the worker.
enum Ask {
    /// The window's counts: the hit buckets' keys, and the total buckets' for `rate`.
    Count {
        hits: Vec<String>,
        totals: Option<Vec<String>>,
        reply: SyncSender<Tally>,
    },
    /// Every pending state write sent: true when Redis took them all.
    Flush { reply: SyncSender<bool> },
    /// A report number from the shared counter, at least `floor`.
    ReportId { floor: u64, reply: SyncSender<u64> },
    /// An event id claimed for this replica (true) or taken by another (false); with
    /// no reply, a claim given back.
    Claim {
        key: String,
        ttl_secs: u64,
        reply: Option<SyncSender<bool>>,
    },
}

/// The worker's in-tray.
#[derive(Default)]
struct Queue {
    increments: HashMap<String, Deferred>,
    asks: Vec<Ask>,
}

pub struct RedisShared {
    client: Client,
    prefix: String,
    replica: u64,
    /// For the follow thread and start-up; the counting worker has its own.
    connection: Mutex<Option<Connection>>,
    failure: Mutex<Option<String>>,
    rows: Mutex<Rows>,
    /// How long a decision waits for Redis.
    budget: Duration,
    breaker: super::breaker::Breaker,
    queue: Mutex<Queue>,
    wake: Condvar,
    dropped: AtomicU64,
    /// Report numbers given from this replica's own range while Redis was away.
    own_reports: AtomicU64,
}

impl std::fmt::Debug for RedisShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisShared")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisShared {
    /// A client for `url`, its keys under `bylaw:NAMESPACE:`. Not reaching Redis now
    /// is not an error: the replica starts degraded and keeps trying.
    /// Decisions wait for Redis at most `budget`. Starts the counting worker.
    pub fn new(url: &str, namespace: &str, budget: Duration) -> Result<Arc<RedisShared>, String> {
        let client = Client::open(url).map_err(|e| format!("bad Redis URL `{url}`: {e}"))?;
        let replica = xxhash_rust::xxh3::xxh3_64(
            format!("{}:{:?}", std::process::id(), std::time::SystemTime::now()).as_bytes(),
        ) & ((1 << REPLICA_BITS) - 1);
        let shared = Arc::new(RedisShared {
            client,
            prefix: format!("bylaw:{namespace}:"),
            replica,
            connection: Mutex::new(None),
            failure: Mutex::new(None),
            rows: Mutex::new(Rows::default()),
            budget,
            breaker: super::breaker::Breaker::default(),
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            dropped: AtomicU64::new(0),
            own_reports: AtomicU64::new(0),
        });
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("bylaw-redis-counts".to_string())
            .spawn(move || worker.count_forever())
            .map_err(|e| format!("cannot start the Redis worker: {e}"))?;
        Ok(shared)
    }

    /// Why Redis is not answering, if it is not: the breaker's reason while it is
    /// open, else the last failure of the state replication.
    pub fn failure(&self) -> Option<String> {
        match self.breaker.status(Instant::now()) {
            super::breaker::Status::Open { error, retry_in } => Some(format!(
                "{error}; circuit open, next try in {} ms",
                retry_in.as_millis()
            )),
            super::breaker::Status::Closed => lock(&self.failure).clone(),
        }
    }

    /// Counters whose increments Redis has not taken yet (they are sent when it
    /// answers again).
    pub fn deferred(&self) -> usize {
        lock(&self.queue).increments.len()
    }

    /// Increments dropped because [`MAX_DEFERRED`] counters were waiting.
    pub fn dropped_increments(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Whether the circuit breaker is open (decisions count locally).
    pub fn circuit_open(&self) -> bool {
        !self.breaker.closed()
    }

    /// How many times the circuit breaker opened.
    pub fn breaker_opened(&self) -> u64 {
        self.breaker.opened()
    }

    /// How many state writes Redis has not acknowledged yet.
    pub fn pending(&self) -> usize {
        lock(&self.rows).pending.len()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> RedisResult<T>) -> Option<T> {
        let mut slot = lock(&self.connection);
        if slot.is_none() {
            match self.open() {
                Ok(c) => *slot = Some(c),
                Err(e) => {
                    *lock(&self.failure) = Some(e.to_string());
                    return None;
                }
            }
        }
        let connection = slot.as_mut()?;
        match f(connection) {
            Ok(v) => {
                *lock(&self.failure) = None;
                Some(v)
            }
            Err(e) => {
                *lock(&self.failure) = Some(e.to_string());
                *slot = None;
                None
            }
        }
    }

    fn open(&self) -> RedisResult<Connection> {
        let c = self.client.get_connection_with_timeout(TIMEOUT)?;
        c.set_read_timeout(Some(TIMEOUT))?;
        c.set_write_timeout(Some(TIMEOUT))?;
        Ok(c)
    }

    fn row_key(&self, row: &StateWrite) -> String {
        match row {
            StateWrite::Service(name, _) => format!("{}row:service:{name}", self.prefix),
            StateWrite::Block(key, _) => format!("{}row:block:{key}", self.prefix),
            StateWrite::Report(id, _) => format!("{}row:report:{id}", self.prefix),
            StateWrite::Event(id, _) => format!("{}row:event:{id}", self.prefix),
            StateWrite::Outbox(id, _) => format!("{}row:outbox:{id}", self.prefix),
        }
    }

    fn rows_pattern(&self) -> String {
        format!("{}row:*", self.prefix)
    }

    fn channel(&self) -> String {
        format!("{}changes", self.prefix)
    }

    /// The row a state key names, with its current value.
    fn row(&self, key: &str, value: Option<String>) -> Option<StateWrite> {
        let rest = key.strip_prefix(&format!("{}row:", self.prefix))?;
        let (kind, id) = rest.split_once(':')?;
        Some(match kind {
            "service" => StateWrite::Service(id.to_string(), value),
            "block" => StateWrite::Block(id.to_string(), value),
            "report" => StateWrite::Report(id.parse().ok()?, value),
            _ => return None,
        })
    }

    /// Every shared row newer than what this replica has, for a replica that starts;
    /// their versions are remembered, so they are not installed twice.
    pub fn rows(&self) -> Option<Vec<StateWrite>> {
        let stored = self.with(|c| self.read_all(c))?;
        Some(self.newer(stored))
    }

    /// Every row in Redis: key, version, body.
    fn read_all(&self, c: &mut Connection) -> RedisResult<Vec<(String, u64, Option<String>)>> {
        let keys: Vec<String> = c.keys(self.rows_pattern())?;
        let mut rows = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some((version, body)) = read_row(c, &key)? {
                rows.push((key, version, body));
            }
        }
        Ok(rows)
    }

    /// The rows that are newer than the known ones, remembered as known; rows this
    /// replica knows and Redis lacks (or holds older) become pending again, so that a
    /// Redis that lost them gets them back.
    fn newer(&self, stored: Vec<(String, u64, Option<String>)>) -> Vec<StateWrite> {
        let mut rows = lock(&self.rows);
        let mut installed = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (key, version, body) in stored {
            seen.insert(key.clone());
            let known = rows.known.get(&key).map_or(0, |k| k.version);
            if version > known {
                rows.pending.remove(&key);
                installed.extend(self.row(&key, body.clone()));
                rows.known.insert(key, Known { version, body });
            } else if version < known {
                rows.pending.insert(key, known);
            }
        }
        let lost: Vec<(String, u64)> = rows
            .known
            .iter()
            .filter(|(key, _)| !seen.contains(*key))
            .map(|(key, k)| (key.clone(), k.version))
            .collect();
        rows.pending.extend(lost);
        installed
    }

    /// One row read at `key` (from a message), if it is newer than the known one.
    fn newer_row(&self, c: &mut Connection, key: &str) -> RedisResult<Option<StateWrite>> {
        let Some((version, body)) = read_row(c, key)? else {
            return Ok(None);
        };
        let mut rows = lock(&self.rows);
        if version <= rows.known.get(key).map_or(0, |k| k.version) {
            return Ok(None);
        }
        rows.pending.remove(key);
        let row = self.row(key, body.clone());
        rows.known.insert(key.to_string(), Known { version, body });
        Ok(row)
    }

    /// Sends every pending write; true when none is left.
    fn flush(&self) -> bool {
        // Versioned writes are idempotent: a connection Redis dropped while idle is
        // replaced and the batch sent again at once.
        self.with(|c| self.flush_on(c))
            .or_else(|| self.with(|c| self.flush_on(c)))
            .unwrap_or(false)
    }

    /// [`RedisShared::flush`] on a given connection.
    fn flush_on(&self, c: &mut Connection) -> RedisResult<bool> {
        let batch: Vec<(String, u64, Option<String>)> = {
            let rows = lock(&self.rows);
            rows.pending
                .iter()
                .filter_map(|(key, &version)| {
                    let known = rows.known.get(key)?;
                    Some((key.clone(), version, known.body.clone()))
                })
                .collect()
        };
        if batch.is_empty() {
            return Ok(true);
        }
        self.send(c, &batch, &self.channel())?;
        let mut rows = lock(&self.rows);
        for (key, version, _) in &batch {
            // Acknowledged, unless a newer write of the row came meanwhile.
            if rows.pending.get(key) == Some(version) {
                rows.pending.remove(key);
            }
        }
        Ok(rows.pending.is_empty())
    }

    fn send(
        &self,
        c: &mut Connection,
        batch: &[(String, u64, Option<String>)],
        channel: &str,
    ) -> RedisResult<()> {
        let mut pipe = redis::pipe();
        for (key, version, body) in batch {
            pipe.cmd("EVAL")
                .arg(WRITE_IF_NEWER)
                .arg(1)
                .arg(key)
                .arg(version)
                .arg(body.as_deref().unwrap_or(""))
                .arg(channel)
                .ignore();
        }
        pipe.query::<()>(c)
    }

    /// Catches up with Redis and sends what is pending; `apply` installs newer rows.
    fn resync(&self, apply: &impl Fn(StateWrite)) {
        if let Some(stored) = self.with(|c| self.read_all(c)) {
            self.newer(stored).into_iter().for_each(apply);
        }
        self.flush();
    }

    /// Listens for other replicas' changes and hands each newer row to `apply`;
    /// re-reads every row and retries pending writes each [`RESYNC`]. Runs until the
    /// process ends.
    pub fn follow(self: Arc<Self>, apply: impl Fn(StateWrite) + Send + 'static) {
        std::thread::spawn(move || {
            loop {
                self.resync(&apply);
                if let Err(e) = self.listen(&apply) {
                    *lock(&self.failure) = Some(e.to_string());
                    std::thread::sleep(TIMEOUT);
                }
            }
        });
    }

    /// One subscription, until an error; resyncs on every quiet [`RESYNC`].
    fn listen(&self, apply: &impl Fn(StateWrite)) -> RedisResult<()> {
        let mut connection = self.client.get_connection_with_timeout(TIMEOUT)?;
        let mut reader = self.open()?;
        let mut pubsub = connection.as_pubsub();
        pubsub.subscribe(self.channel())?;
        pubsub.set_read_timeout(Some(RESYNC))?;
        loop {
            let message = match pubsub.get_message() {
                Ok(m) => m,
                Err(e) if e.is_timeout() => {
                    self.resync(apply);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let key: String = message.get_payload()?;
            if let Some(row) = self.newer_row(&mut reader, &key)? {
                apply(row);
            }
        }
    }
}

/// A row's version and body; `None` when the key holds no row.
fn read_row(c: &mut Connection, key: &str) -> RedisResult<Option<(u64, Option<String>)>> {
    let (version, body): (Option<u64>, Option<String>) =
        redis::cmd("HMGET").arg(key).arg("v").arg("b").query(c)?;
    Ok(version.map(|v| (v, body.filter(|b| !b.is_empty()))))
}

impl RedisShared {
    /// Queues increments for the worker, coalesced per counter; stale ones (their
    /// bucket out of every window) are dropped.
    fn defer(&self, queue: &mut Queue, increments: impl IntoIterator<Item = (String, Deferred)>) {
        for (key, add) in increments {
            if let Some(d) = queue.increments.get_mut(&key) {
                d.by += add.by;
                d.stale_at = d.stale_at.max(add.stale_at);
            } else if queue.increments.len() < MAX_DEFERRED {
                queue.increments.insert(key, add);
            } else {
                self.dropped.fetch_add(add.by, Ordering::Relaxed);
            }
        }
    }

    /// The counting worker: sends what decisions queued in one pipeline, answers the
    /// decisions still waiting, and probes Redis while the circuit is open.
    fn count_forever(&self) {
        let mut connection: Option<Connection> = None;
        loop {
            let (increments, asks) = self.next_batch();
            let now = Instant::now();
            match self.send_batch(&mut connection, &increments, &asks) {
                Ok(answers) => {
                    self.breaker.success();
                    for (ask, answer) in asks.into_iter().zip(answers) {
                        match (ask, answer) {
                            (Ask::Count { reply, .. }, Answer::Tally(t)) => {
                                let _ = reply.try_send(t);
                            }
                            (Ask::Flush { reply }, Answer::Flushed(done)) => {
                                let _ = reply.try_send(done);
                            }
                            (Ask::ReportId { reply, .. }, Answer::Number(n)) => {
                                let _ = reply.try_send(n);
                            }
                            (
                                Ask::Claim {
                                    reply: Some(reply), ..
                                },
                                Answer::Claimed(mine),
                            ) => {
                                let _ = reply.try_send(mine);
                            }
                            _ => {}
                        }
                    }
                }
                Err(e) => {
                    connection = None;
                    self.breaker.failure(now, &e.to_string());
                    // The asks are dropped (their decisions count locally); the
                    // increments wait for the next try.
                    let now_ms = crate::governance::clock::Clock::now(
                        &crate::governance::clock::SystemClock,
                    )
                    .0;
                    let mut queue = lock(&self.queue);
                    let fresh = increments.into_iter().filter(|(_, d)| d.stale_at > now_ms);
                    self.defer(&mut queue, fresh);
                }
            }
        }
    }

    /// Waits until there is something to send (the circuit closed) or a probe is due
    /// (open), then takes everything queued.
    fn next_batch(&self) -> (Vec<(String, Deferred)>, Vec<Ask>) {
        let mut queue = lock(&self.queue);
        loop {
            let now = Instant::now();
            let wait = match self.breaker.retry_in(now) {
                None if !queue.asks.is_empty() || !queue.increments.is_empty() => break,
                None => Duration::from_secs(1),
                Some(left) if left.is_zero() => break,
                Some(left) => left,
            };
            queue = match self.wake.wait_timeout(queue, wait) {
                Ok((q, _)) => q,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        let increments = queue.increments.drain().collect();
        let asks = std::mem::take(&mut queue.asks);
        (increments, asks)
    }

    /// One pipeline: every increment, then each ask's reads (a `PING` when there is
    /// nothing else, as a probe); then the pending state writes if one asked.
    fn send_batch(
        &self,
        connection: &mut Option<Connection>,
        increments: &[(String, Deferred)],
        asks: &[Ask],
    ) -> RedisResult<Vec<Answer>> {
        if connection.is_none() {
            let c = self.client.get_connection_with_timeout(TIMEOUT)?;
            c.set_read_timeout(Some(WORKER_TIMEOUT))?;
            c.set_write_timeout(Some(WORKER_TIMEOUT))?;
            *connection = Some(c);
        }
        let Some(c) = connection.as_mut() else {
            return Ok(Vec::new());
        };
        let mut pipe = redis::pipe();
        for (key, d) in increments {
            pipe.cmd("INCRBY").arg(key).arg(d.by).ignore();
            pipe.expire(key, d.ttl).ignore();
        }
        pipe.cmd("PING");
        for ask in asks {
            match ask {
                Ask::Count { hits, totals, .. } => {
                    pipe.mget(hits);
                    if let Some(totals) = totals {
                        pipe.mget(totals);
                    }
                }
                Ask::Flush { .. } => {}
                Ask::ReportId { floor, .. } => {
                    pipe.cmd("EVAL")
                        .arg(NEXT_REPORT_ID)
                        .arg(1)
                        .arg(format!("{}report-id", self.prefix))
                        .arg(floor);
                }
                Ask::Claim {
                    key,
                    ttl_secs,
                    reply,
                } => {
                    let script = if reply.is_some() {
                        CLAIM_EVENT
                    } else {
                        RELEASE_EVENT
                    };
                    pipe.cmd("EVAL")
                        .arg(script)
                        .arg(1)
                        .arg(key)
                        .arg(self.replica)
                        .arg(ttl_secs);
                }
            }
        }
        let mut replies = pipe.query::<Vec<redis::Value>>(c)?.into_iter().skip(1);
        let sum = |replies: &mut dyn Iterator<Item = redis::Value>| -> RedisResult<u64> {
            let counts: Vec<Option<u64>> = match replies.next() {
                Some(v) => redis::FromRedisValue::from_redis_value(v)?,
                None => Vec::new(),
            };
            Ok(counts.into_iter().flatten().sum())
        };
        let number = |replies: &mut dyn Iterator<Item = redis::Value>| -> RedisResult<u64> {
            match replies.next() {
                Some(v) => Ok(redis::FromRedisValue::from_redis_value(v)?),
                None => Ok(0),
            }
        };
        let mut answers = Vec::with_capacity(asks.len());
        let mut flushed = None;
        for ask in asks {
            answers.push(match ask {
                Ask::Count { totals, .. } => {
                    let hits = sum(&mut replies)?;
                    let total = if totals.is_some() {
                        sum(&mut replies)?
                    } else {
                        0
                    };
                    Answer::Tally(Tally { hits, total })
                }
                // A failed flush must not fail the batch: its increments are in Redis
                // already. The writes stay pending and the next pipeline finds out
                // whether the connection is broken.
                Ask::ReportId { .. } => Answer::Number(number(&mut replies)?),
                Ask::Claim { .. } => Answer::Claimed(number(&mut replies)? == 1),
                Ask::Flush { .. } => match flushed {
                    Some(done) => Answer::Flushed(done),
                    None => {
                        let done = self.flush_on(c).unwrap_or(false);
                        flushed = Some(done);
                        Answer::Flushed(done)
                    }
                },
            });
        }
        Ok(answers)
    }
}

/// The worker's answer to one ask.
enum Answer {
    Tally(Tally),
    Flushed(bool),
    Number(u64),
    Claimed(bool),
}

impl RedisShared {
    /// Hands `ask` to the worker and waits at most the budget for its answer; `None`
    /// past it, or at once while the circuit is open.
    fn ask<T>(&self, make: impl FnOnce(SyncSender<T>) -> Ask) -> Option<T> {
        if !self.breaker.closed() {
            return None;
        }
        let (reply, answer) = sync_channel(1);
        lock(&self.queue).asks.push(make(reply));
        self.wake.notify_one();
        answer.recv_timeout(self.budget).ok()
    }

    fn event_key(&self, kind: &str, id: &str) -> String {
        // Hashed: an id is the host's text, of any length.
        let digest = xxhash_rust::xxh3::xxh3_128(id.as_bytes());
        format!("{}event:{kind}:{digest:032x}", self.prefix)
    }
}

impl Shared for RedisShared {
    fn count(
        &self,
        trigger: &str,
        key: Option<&str>,
        buckets: Buckets,
        now: Timestamp,
        hit: bool,
        total: bool,
    ) -> Option<Tally> {
        let epoch = now.0 / buckets.bucket_ms;
        let base = format!("{}w:{trigger}:{}:", self.prefix, key.unwrap_or(""));
        let window_ms = buckets.bucket_ms * buckets.len;
        let add = Deferred {
            by: 1,
            ttl: (window_ms / 1000 + 60) as i64,
            stale_at: (epoch + 1) * buckets.bucket_ms + window_ms,
        };
        let keys = |kind: &str| -> Vec<String> {
            (0..buckets.len)
                .filter_map(|back| epoch.checked_sub(back))
                .map(|e| format!("{base}{kind}:{e}"))
                .collect()
        };
        let mut increments = Vec::with_capacity(2);
        if hit {
            increments.push((format!("{base}h:{epoch}"), add));
        }
        if total {
            increments.push((format!("{base}t:{epoch}"), add));
        }
        if !self.breaker.closed() {
            let mut queue = lock(&self.queue);
            self.defer(&mut queue, increments);
            return None;
        }
        let (reply, answer) = sync_channel(1);
        {
            let mut queue = lock(&self.queue);
            self.defer(&mut queue, increments);
            queue.asks.push(Ask::Count {
                hits: keys("h"),
                totals: total.then(|| keys("t")),
                reply,
            });
        }
        self.wake.notify_one();
        match answer.recv_timeout(self.budget) {
            Ok(tally) => Some(tally),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                self.breaker.failure(
                    Instant::now(),
                    &format!("no answer within {} ms", self.budget.as_millis()),
                );
                None
            }
            // The worker's pipeline failed: it has told the breaker.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
        }
    }

    fn report_id(&self, floor: u64) -> u64 {
        match self.ask(|reply| Ask::ReportId { floor, reply }) {
            Some(id) if id > 0 && id < REPLICA_RANGE => id,
            _ => {
                let n = self.own_reports.fetch_add(1, Ordering::Relaxed);
                REPLICA_RANGE * (self.replica + 1) + n
            }
        }
    }

    fn claim_event(&self, kind: &str, id: &str, horizon_secs: u64) -> bool {
        let key = self.event_key(kind, id);
        self.ask(|reply| Ask::Claim {
            key,
            ttl_secs: horizon_secs.max(1),
            reply: Some(reply),
        })
        .unwrap_or(true)
    }

    fn release_event(&self, kind: &str, id: &str) {
        lock(&self.queue).asks.push(Ask::Claim {
            key: self.event_key(kind, id),
            ttl_secs: 1,
            reply: None,
        });
        self.wake.notify_one();
    }

    fn publish(&self, writes: &[StateWrite]) -> bool {
        {
            let mut rows = lock(&self.rows);
            for row in writes {
                let key = self.row_key(row);
                let body = match row {
                    StateWrite::Service(_, v)
                    | StateWrite::Block(_, v)
                    | StateWrite::Report(_, v)
                    | StateWrite::Event(_, v)
                    | StateWrite::Outbox(_, v) => v.clone(),
                };
                let count = rows
                    .known
                    .get(&key)
                    .map_or(0, |k| k.version >> REPLICA_BITS);
                let version = ((count + 1) << REPLICA_BITS) | self.replica;
                rows.known.insert(key.clone(), Known { version, body });
                rows.pending.insert(key, version);
            }
        }
        // Sent by the worker; waited for at most the budget, and not at all while the
        // circuit is open (the follow thread's resync retries it every second).
        self.ask(|reply| Ask::Flush { reply }).unwrap_or(false)
    }
}
