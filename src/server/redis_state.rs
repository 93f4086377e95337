//! Shared state on Redis for several replicas of `bylaw serve --redis URL`.
//!
//! - Trigger windows: one Redis counter per bucket (`INCR`, with an expiry of the
//!   window), summed with `MGET` — so counts from every replica add up exactly.
//! - Service states, blocks and reports: each changed row is written to a Redis key
//!   and announced on a pub/sub channel; every replica installs it on the message,
//!   and re-reads all rows every second in case a message was lost (the bound on
//!   propagation: immediate with pub/sub, at most about one second without).
//! - Fail-safe: when Redis cannot be reached, a replica keeps the last states it
//!   knew and counts on its own; `/healthz` says `redis: unreachable …` until Redis
//!   answers again.

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

pub struct RedisShared {
    client: Client,
    prefix: String,
    connection: Mutex<Option<Connection>>,
    failure: Mutex<Option<String>>,
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
        Ok(Arc::new(RedisShared {
            client,
            prefix: format!("bylaw:{namespace}:"),
            connection: Mutex::new(None),
            failure: Mutex::new(None),
        }))
    }

    /// Why Redis is not answering, if it is not.
    pub fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
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
            StateWrite::Service(name, _) => format!("{}state:service:{name}", self.prefix),
            StateWrite::Block(key, _) => format!("{}state:block:{key}", self.prefix),
            StateWrite::Report(id, _) => format!("{}state:report:{id}", self.prefix),
        }
    }

    fn channel(&self) -> String {
        format!("{}changes", self.prefix)
    }

    /// The row a state key names, with its current value.
    fn row(&self, key: &str, value: Option<String>) -> Option<StateWrite> {
        let rest = key.strip_prefix(&format!("{}state:", self.prefix))?;
        let (kind, id) = rest.split_once(':')?;
        Some(match kind {
            "service" => StateWrite::Service(id.to_string(), value),
            "block" => StateWrite::Block(id.to_string(), value),
            "report" => StateWrite::Report(id.parse().ok()?, value),
            _ => return None,
        })
    }

    /// Every shared row, for a replica that starts or catches up.
    pub fn rows(&self) -> Option<Vec<StateWrite>> {
        let pattern = format!("{}state:*", self.prefix);
        self.with(|c| {
            let keys: Vec<String> = c.keys(&pattern)?;
            let mut rows = Vec::with_capacity(keys.len());
            for key in keys {
                let value: Option<String> = c.get(&key)?;
                rows.extend(self.row(&key, value));
            }
            Ok(rows)
        })
    }

    /// Listens for other replicas' changes and hands each row to `apply`; re-reads
    /// every row each [`RESYNC`]. Runs until the process ends.
    pub fn follow(self: Arc<Self>, apply: impl Fn(StateWrite) + Send + 'static) {
        std::thread::spawn(move || {
            loop {
                if let Some(rows) = self.rows() {
                    rows.into_iter().for_each(&apply);
                }
                if let Err(e) = self.listen(&apply) {
                    *lock(&self.failure) = Some(e.to_string());
                    std::thread::sleep(TIMEOUT);
                }
            }
        });
    }

    /// One subscription, until an error or the next resync.
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
                    // Catch up on anything missed, then keep listening.
                    let pattern = format!("{}state:*", self.prefix);
                    let keys: Vec<String> = reader.keys(&pattern)?;
                    for key in keys {
                        let value: Option<String> = reader.get(&key)?;
                        self.row(&key, value).into_iter().for_each(apply);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let key: String = message.get_payload()?;
            let value: Option<String> = reader.get(&key)?;
            self.row(&key, value).into_iter().for_each(apply);
        }
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

    fn publish(&self, writes: &[StateWrite]) {
        let channel = self.channel();
        self.with(|c| {
            let mut pipe = redis::pipe();
            for row in writes {
                let key = self.row_key(row);
                let value = match row {
                    StateWrite::Service(_, v)
                    | StateWrite::Block(_, v)
                    | StateWrite::Report(_, v) => v,
                };
                match value {
                    Some(v) => pipe.set(&key, v).ignore(),
                    None => pipe.del(&key).ignore(),
                };
                pipe.publish(&channel, &key).ignore();
            }
            pipe.query::<()>(c)
        });
    }
}
