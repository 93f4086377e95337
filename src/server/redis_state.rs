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
//! - Fail-safe: when Redis cannot be reached, a replica keeps the last states it
//!   knew and counts on its own; `/healthz` says `redis: unreachable …` (and how many
//!   writes are pending) until Redis answers again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::{Client, Commands, Connection, RedisResult};

use crate::governance::clock::Timestamp;
use crate::governance::lock;
use crate::governance::shared::Shared;
use crate::governance::store::StateWrite;
use crate::governance::window::{Buckets, Tally};

const TIMEOUT: Duration = Duration::from_millis(250);
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

pub struct RedisShared {
    client: Client,
    prefix: String,
    replica: u64,
    connection: Mutex<Option<Connection>>,
    failure: Mutex<Option<String>>,
    rows: Mutex<Rows>,
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
    pub fn new(url: &str, namespace: &str) -> Result<Arc<RedisShared>, String> {
        let client = Client::open(url).map_err(|e| format!("bad Redis URL `{url}`: {e}"))?;
        let replica = xxhash_rust::xxh3::xxh3_64(
            format!("{}:{:?}", std::process::id(), std::time::SystemTime::now()).as_bytes(),
        ) & ((1 << REPLICA_BITS) - 1);
        Ok(Arc::new(RedisShared {
            client,
            prefix: format!("bylaw:{namespace}:"),
            replica,
            connection: Mutex::new(None),
            failure: Mutex::new(None),
            rows: Mutex::new(Rows::default()),
        }))
    }

    /// Why Redis is not answering, if it is not.
    pub fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
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
            return true;
        }
        let channel = self.channel();
        // Versioned writes are idempotent: a connection Redis dropped while idle is
        // replaced and the batch sent again at once.
        let sent = self
            .with(|c| self.send(c, &batch, &channel))
            .or_else(|| self.with(|c| self.send(c, &batch, &channel)));
        let mut rows = lock(&self.rows);
        if sent.is_some() {
            for (key, version, _) in &batch {
                // Acknowledged, unless a newer write of the row came meanwhile.
                if rows.pending.get(key) == Some(version) {
                    rows.pending.remove(key);
                }
            }
        }
        rows.pending.is_empty()
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
        let expire = (buckets.bucket_ms * buckets.len / 1000 + 60) as i64;
        let keys = |kind: &str| -> Vec<String> {
            (0..buckets.len)
                .filter_map(|back| epoch.checked_sub(back))
                .map(|e| format!("{base}{kind}:{e}"))
                .collect()
        };
        self.with(|c| {
            let mut pipe = redis::pipe();
            if hit {
                let k = format!("{base}h:{epoch}");
                pipe.incr(&k, 1).ignore().expire(&k, expire).ignore();
            }
            if total {
                let k = format!("{base}t:{epoch}");
                pipe.incr(&k, 1).ignore().expire(&k, expire).ignore();
                pipe.mget(keys("h")).mget(keys("t"));
                let (hits, totals): (Vec<Option<u64>>, Vec<Option<u64>>) = pipe.query(c)?;
                Ok(Tally {
                    hits: hits.into_iter().flatten().sum(),
                    total: totals.into_iter().flatten().sum(),
                })
            } else {
                pipe.mget(keys("h"));
                let (hits,): (Vec<Option<u64>>,) = pipe.query(c)?;
                Ok(Tally {
                    hits: hits.into_iter().flatten().sum(),
                    total: 0,
                })
            }
        })
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
        self.flush()
    }
}
