//! Sliding-window counters for triggers.
//!
//! A window of length W is a ring of at most 60 buckets of `max(W/60, 1s)` each. A
//! count "within W" sums the current bucket and the buckets before it that still lie
//! in the window, so an event is counted for at least `W − bucket` and at most `W`
//! after it happened: the precision is one bucket. Counts are exact — no sampling.
//!
//! The ring for a trigger without `by` is lock-free: each bucket is one atomic word
//! packing the bucket's epoch (28 bits) and its count (36 bits), updated by
//! compare-and-swap, so any number of threads add to it at once and no increment is
//! lost. Per-key windows (`by`) live in 64 mutex-guarded shards with a bounded number
//! of keys (see [`KeyedWindows`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::clock::Timestamp;

/// Most buckets in a window.
pub const MAX_BUCKETS: u64 = 60;
const MIN_BUCKET_MS: u64 = 1000;
const EPOCH_BITS: u32 = 28;
const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;
const COUNT_MASK: u64 = (1 << (64 - EPOCH_BITS)) - 1;

/// How a window of a given length is cut into buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub bucket_ms: u64,
    pub len: u64,
}

impl Buckets {
    pub fn for_window(within_secs: u64) -> Buckets {
        let within_ms = within_secs.saturating_mul(1000).max(MIN_BUCKET_MS);
        let bucket_ms = within_ms.div_ceil(MAX_BUCKETS).max(MIN_BUCKET_MS);
        Buckets {
            bucket_ms,
            len: within_ms.div_ceil(bucket_ms).clamp(1, MAX_BUCKETS),
        }
    }

    fn epoch(&self, now: Timestamp) -> u64 {
        now.0 / self.bucket_ms
    }
}

/// One lock-free ring of counts.
#[derive(Debug)]
pub struct Ring {
    buckets: Buckets,
    cells: Box<[AtomicU64]>,
}

impl Ring {
    pub fn new(buckets: Buckets) -> Ring {
        Ring {
            buckets,
            cells: (0..buckets.len).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Adds one event at `now`.
    pub fn add(&self, now: Timestamp) {
        let epoch = self.buckets.epoch(now);
        let tag = epoch & EPOCH_MASK;
        let Some(cell) = self.cells.get((epoch % self.buckets.len) as usize) else {
            return;
        };
        let mut current = cell.load(Ordering::Relaxed);
        loop {
            let (cell_tag, count) = (current >> (64 - EPOCH_BITS), current & COUNT_MASK);
            // Same bucket, or a thread with a slightly later clock already moved the
            // cell on: count it there rather than lose it.
            let ahead = tag_distance(cell_tag, tag);
            let next = if cell_tag == tag || (ahead > 0 && ahead < self.buckets.len) {
                (cell_tag << (64 - EPOCH_BITS)) | (count + 1).min(COUNT_MASK)
            } else {
                (tag << (64 - EPOCH_BITS)) | 1
            };
            match cell.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// Events in the window that ends at `now`.
    pub fn sum(&self, now: Timestamp) -> u64 {
        let tag = self.buckets.epoch(now) & EPOCH_MASK;
        self.cells
            .iter()
            .map(|cell| cell.load(Ordering::Acquire))
            .filter(|word| word & COUNT_MASK != 0)
            .filter(|word| tag_distance(tag, word >> (64 - EPOCH_BITS)) < self.buckets.len)
            .map(|word| word & COUNT_MASK)
            .sum()
    }
}

/// How many epochs `later` is after `earlier`, modulo the tag width.
fn tag_distance(later: u64, earlier: u64) -> u64 {
    later.wrapping_sub(earlier) & EPOCH_MASK
}

/// Hits and decisions in a window: what `count` and `rate` read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub hits: u64,
    pub total: u64,
}

/// The window of a trigger without `by`.
#[derive(Debug)]
pub struct GlobalWindow {
    hits: Ring,
    /// Only rate triggers count every decision.
    total: Option<Ring>,
}

impl GlobalWindow {
    pub fn new(within_secs: u64, counts_total: bool) -> GlobalWindow {
        let buckets = Buckets::for_window(within_secs);
        GlobalWindow {
            hits: Ring::new(buckets),
            total: counts_total.then(|| Ring::new(buckets)),
        }
    }

    pub fn record(&self, now: Timestamp, hit: bool) -> Tally {
        if hit {
            self.hits.add(now);
        }
        if let Some(total) = &self.total {
            total.add(now);
        }
        self.tally(now)
    }

    /// Counts a decision where the predicate did not hold, without reading the window.
    pub fn record_miss(&self, now: Timestamp) {
        if let Some(total) = &self.total {
            total.add(now);
        }
    }

    pub fn tally(&self, now: Timestamp) -> Tally {
        Tally {
            hits: self.hits.sum(now),
            total: self.total.as_ref().map_or(0, |t| t.sum(now)),
        }
    }
}

/// Default bound on the keys one `by` trigger tracks.
pub const DEFAULT_MAX_KEYS: usize = 65_536;
const SHARDS: usize = 64;

/// One key's window, guarded by its shard's lock.
#[derive(Debug, Default)]
struct KeyWindow {
    /// (epoch, hits, total), oldest first; only buckets that saw a decision.
    cells: VecDeque<(u64, u64, u64)>,
    last_epoch: u64,
    /// The trigger's condition held at this key's last evaluation.
    active: bool,
}

impl KeyWindow {
    fn expire(&mut self, epoch: u64, len: u64) {
        while self
            .cells
            .front()
            .is_some_and(|&(e, _, _)| e + len <= epoch)
        {
            self.cells.pop_front();
        }
    }

    fn add(&mut self, epoch: u64, hit: bool) {
        self.last_epoch = self.last_epoch.max(epoch);
        match self.cells.back_mut() {
            Some((e, hits, total)) if *e >= epoch => {
                *hits += u64::from(hit);
                *total += 1;
            }
            _ => self.cells.push_back((epoch, u64::from(hit), 1)),
        }
    }

    fn tally(&self) -> Tally {
        self.cells
            .iter()
            .fold(Tally::default(), |t, &(_, hits, total)| Tally {
                hits: t.hits + hits,
                total: t.total + total,
            })
    }
}

type Shard = Mutex<HashMap<Box<str>, KeyWindow>>;

/// Keys up to this many bytes are kept as they are; a longer key is kept as the 64
/// hex digits of its SHA-256 after a `#` (65 bytes, so it can never equal a key kept
/// as it is). A `by` trigger's memory is then bounded by its key count alone.
pub const MAX_KEY_BYTES: usize = 64;

fn bounded(key: &str) -> std::borrow::Cow<'_, str> {
    use sha2::{Digest, Sha256};
    if key.len() <= MAX_KEY_BYTES {
        std::borrow::Cow::Borrowed(key)
    } else {
        std::borrow::Cow::Owned(format!("#{}", hex::encode(Sha256::digest(key.as_bytes()))))
    }
}

/// What a keyed window reports for one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyedTally {
    pub tally: Tally,
    /// Whether the condition held at this key's previous evaluation.
    pub was_active: bool,
}

/// Per-key windows of a trigger with `by`, bounded to `max_keys` keys.
///
/// Eviction: when a shard is full and a new key arrives, keys whose windows hold no
/// event any more are dropped first; if none, the key seen least recently goes. An
/// evicted key starts again from zero if it comes back.
#[derive(Debug)]
pub struct KeyedWindows {
    buckets: Buckets,
    per_shard: usize,
    shards: Box<[Shard]>,
}

impl KeyedWindows {
    pub fn new(within_secs: u64, max_keys: usize) -> KeyedWindows {
        KeyedWindows {
            buckets: Buckets::for_window(within_secs),
            per_shard: max_keys.div_ceil(SHARDS).max(1),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: &str) -> &Shard {
        let index = xxhash_rust::xxh3::xxh3_64(key.as_bytes()) as usize % SHARDS;
        &self.shards[index]
    }

    /// Records a decision for `key` and runs `evaluate` on the new tally under the
    /// key's lock, storing whether the condition now holds.
    pub fn record(
        &self,
        key: &str,
        now: Timestamp,
        hit: bool,
        evaluate: impl FnOnce(Tally) -> bool,
    ) -> (KeyedTally, bool) {
        self.counted(key, now, hit, |window| {
            let tally = window.tally();
            let was_active = window.active;
            let holds = evaluate(tally);
            window.active = holds;
            (KeyedTally { tally, was_active }, holds)
        })
    }

    /// Counts a decision for `key` where the predicate did not hold, without
    /// evaluating the condition: the key's episode is left as it is.
    pub fn record_miss(&self, key: &str, now: Timestamp) {
        self.counted(key, now, false, |_| ());
    }

    /// Counts one decision in `key`'s window (making room for a new key first), then
    /// runs `then` on the window under its shard's lock.
    fn counted<R>(
        &self,
        key: &str,
        now: Timestamp,
        hit: bool,
        then: impl FnOnce(&mut KeyWindow) -> R,
    ) -> R {
        let key = bounded(key);
        let key = key.as_ref();
        let epoch = self.buckets.epoch(now);
        let len = self.buckets.len;
        let mut shard = match self.shard(key).lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !shard.contains_key(key) && shard.len() >= self.per_shard {
            evict(&mut shard, epoch, len, self.per_shard);
        }
        let window = shard.entry(Box::from(key)).or_default();
        window.expire(epoch, len);
        window.add(epoch, hit);
        then(window)
    }

    /// A key's counts at `now`, without recording anything.
    pub fn peek(&self, key: &str, now: Timestamp) -> Option<Tally> {
        let key = bounded(key);
        let key = key.as_ref();
        let epoch = self.buckets.epoch(now);
        let len = self.buckets.len;
        let shard = match self.shard(key).lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let window = shard.get(key)?;
        Some(
            window
                .cells
                .iter()
                .filter(|&&(e, _, _)| e + len > epoch)
                .fold(Tally::default(), |t, &(_, hits, total)| Tally {
                    hits: t.hits + hits,
                    total: t.total + total,
                }),
        )
    }

    /// Bytes of the keys currently tracked (each at most 65: see [`MAX_KEY_BYTES`]).
    pub fn key_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .map(|m| m.keys().map(|k| k.len()).sum())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn evict(shard: &mut HashMap<Box<str>, KeyWindow>, epoch: u64, len: u64, limit: usize) {
    shard.retain(|_, w| w.last_epoch + len > epoch);
    if shard.len() >= limit {
        let oldest = shard
            .iter()
            .min_by_key(|(_, w)| w.last_epoch)
            .map(|(k, _)| k.clone());
        if let Some(key) = oldest {
            shard.remove(&key);
        }
    }
}
