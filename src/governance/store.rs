//! The durable state store and audit log: one redb file.
//!
//! Tables: `services` (name → state), `blocks` (field and key → block), `reports`
//! (id → report), `events` (number → an event the host posted, kept while a trigger's
//! window can still count it), `outbox` (number → a notification not yet delivered),
//! `audit` (sequence number → record) and `meta` (the chain's head).
//!
//! Every record of the audit log is hash-chained: its hash covers the previous
//! record's hash, its sequence number, time, kind, retention deadline and the SHA-256
//! of its body, so a changed, inserted or missing record breaks the chain
//! ([`Store::verify`]). A purged record (its retention over) keeps its body's digest,
//! so the chain still verifies; a body erased from a record that had no deadline, or
//! before its deadline, is reported.
//!
//! redb can panic on a corrupted file; every entry point catches that at this
//! boundary and answers a `StoreError` naming the file, and the store then refuses
//! writes (fail closed).
//!
//! Writes go through one writer thread that commits everything queued since its last
//! commit in one durable transaction (group commit). Sequence numbers and hashes are
//! assigned when a write is queued, under one lock, so the log's order is the order
//! of [`Store::submit`] calls; a write is *acknowledged* once [`Store::wait`] returns.
//! After a failed commit (a full disk, say) the store refuses every later write with
//! that error, so the chain on disk never has a gap; reopening starts from what was
//! committed.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::clock::{Clock, SystemClock, Timestamp};
use super::lock;

const SERVICES: TableDefinition<&str, &str> = TableDefinition::new("services");
const BLOCKS: TableDefinition<&str, &str> = TableDefinition::new("blocks");
const REPORTS: TableDefinition<u64, &str> = TableDefinition::new("reports");
const EVENTS: TableDefinition<u64, &str> = TableDefinition::new("events");
const OUTBOX: TableDefinition<u64, &str> = TableDefinition::new("outbox");
const AUDIT: TableDefinition<u64, &str> = TableDefinition::new("audit");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const HEAD: &str = "head";
/// The highest outbox number used (rows leave the outbox; their numbers stay taken).
const OUTBOX_LAST: &str = "outbox_last";

/// Most writes one commit takes from the queue.
const GROUP_LIMIT: usize = 16_384;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

thread_local! {
    /// How deep this thread is inside [`guarded`]: panics there are answered as
    /// errors, so the panic hook keeps quiet about them.
    static GUARDED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f`; the outer `Err` is a panic inside redb (a corrupted file can cause one),
/// as an error that names the file.
fn guarded<T>(path: &Path, f: impl FnOnce() -> T) -> Result<T, StoreError> {
    GUARDED.with(|g| g.set(g.get() + 1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get().saturating_sub(1)));
    result.map_err(|panic| {
        let detail = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no detail");
        StoreError(format!(
            "the state store `{}` is corrupted ({detail}); restore it from a backup, or \
             move it aside to start with an empty state",
            path.display()
        ))
    })
}

/// Keeps the default panic message for real bugs but not for panics the store
/// catches and reports as errors. The binary installs it once at start.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if GUARDED.with(|g| g.get()) == 0 {
            previous(info);
        }
    }));
}

fn store_error(what: &str, path: &Path) -> impl Fn(redb::Error) -> StoreError {
    move |e| StoreError(format!("{what} `{}`: {e}", path.display()))
}

/// An entry to append to the audit log.
#[derive(Debug, Clone)]
pub struct Entry {
    pub at: Timestamp,
    pub kind: String,
    /// JSON text, kept byte for byte.
    pub body: String,
    /// Purged after this time (decisions under a `retain` duty); `None`: kept.
    pub retain_until: Option<Timestamp>,
}

/// A change to the state tables; `None` deletes the row.
#[derive(Debug, Clone)]
pub enum StateWrite {
    Service(String, Option<String>),
    Block(String, Option<String>),
    Report(u64, Option<String>),
    /// An event the host posted (kept on this replica only).
    Event(u64, Option<String>),
    /// A notification waiting for delivery (each replica delivers its own).
    Outbox(u64, Option<String>),
}

/// One record of the audit log, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: Timestamp,
    pub kind: String,
    /// The entry's JSON, byte for byte; `None` once purged.
    pub body: Option<Box<RawValue>>,
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retain_until: Option<Timestamp>,
    pub prev: String,
    pub hash: String,
    /// The hash's format: 2 covers the retention deadline; records written before it
    /// have none (0) and are checked as they were written.
    #[serde(default)]
    pub chain: u8,
}

/// The format of the hashes this version writes.
const CHAIN_FORMAT: u8 = 2;

/// What a submitted write became: its place in the queue, and the sequence number of
/// its first record (the others follow).
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    pub op: u64,
    pub first_seq: u64,
}

struct Op {
    number: u64,
    /// (sequence number, the record as JSON), serialized by the submitter.
    records: Vec<(u64, String)>,
    /// The chain's head after this op's records.
    head: Option<Head>,
    writes: Vec<StateWrite>,
}

#[derive(Default)]
struct Progress {
    committed: u64,
    failed: Option<String>,
}

struct Chain {
    next_op: u64,
    next_seq: u64,
    head: [u8; 32],
    sender: Option<SyncSender<Op>>,
}

/// The open state file. Only one process may have it open at a time.
pub struct Store {
    path: PathBuf,
    db: Arc<Database>,
    chain: Mutex<Chain>,
    progress: Arc<(Mutex<Progress>, Condvar)>,
    writer: Mutex<Option<JoinHandle<()>>>,
    next_outbox: AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// The rows of the state tables, as JSON text.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub services: Vec<(String, String)>,
    pub blocks: Vec<(String, String)>,
    pub reports: Vec<(u64, String)>,
    pub events: Vec<(u64, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub records: u64,
    pub purged: u64,
    pub head: String,
    pub problems: Vec<String>,
}

impl Store {
    /// Opens or creates the state file.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        guarded(path, || Store::open_unguarded(path)).and_then(|opened| opened)
    }

    fn open_unguarded(path: &Path) -> Result<Store, StoreError> {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError(format!(
                "the state store `{}` is in use by another bylaw process",
                path.display()
            )),
            e => StoreError(format!(
                "cannot open the state store `{}`: {e}",
                path.display()
            )),
        })?;
        let db = Arc::new(db);
        let fail = store_error("cannot read the state store", path);
        let txn = db.begin_write().map_err(|e| fail(e.into()))?;
        let outbox_last;
        let head = {
            for t in [SERVICES, BLOCKS, META] {
                txn.open_table(t).map_err(|e| fail(e.into()))?;
            }
            txn.open_table(REPORTS).map_err(|e| fail(e.into()))?;
            txn.open_table(EVENTS).map_err(|e| fail(e.into()))?;
            let outbox = txn.open_table(OUTBOX).map_err(|e| fail(e.into()))?;
            let queued = outbox
                .last()
                .map_err(|e| fail(e.into()))?
                .map(|(k, _)| k.value());
            let meta = txn.open_table(META).map_err(|e| fail(e.into()))?;
            let used = meta
                .get(OUTBOX_LAST)
                .map_err(|e| fail(e.into()))?
                .and_then(|v| v.value().parse::<u64>().ok());
            outbox_last = queued.max(used).unwrap_or(0);
            let audit = txn.open_table(AUDIT).map_err(|e| fail(e.into()))?;
            let last = audit.last().map_err(|e| fail(e.into()))?;
            match last {
                Some((_, value)) => {
                    let record: AuditRecord = serde_json::from_str(value.value())
                        .map_err(|e| StoreError(format!("corrupt audit record: {e}")))?;
                    (record.seq, decode_hex(&record.hash))
                }
                None => (0, [0; 32]),
            }
        };
        txn.commit().map_err(|e| fail(e.into()))?;
        let (sender, receiver) = sync_channel::<Op>(GROUP_LIMIT);
        let progress = Arc::new((Mutex::new(Progress::default()), Condvar::new()));
        let writer = {
            let db = Arc::clone(&db);
            let progress = Arc::clone(&progress);
            let path = path.to_path_buf();
            std::thread::Builder::new()
                .name("bylaw-audit-writer".into())
                .spawn(move || write_loop(&db, &path, &receiver, &progress))
                .map_err(|e| StoreError(format!("cannot start the audit writer: {e}")))?
        };
        Ok(Store {
            path: path.to_path_buf(),
            db,
            chain: Mutex::new(Chain {
                next_op: 1,
                next_seq: head.0 + 1,
                head: head.1,
                sender: Some(sender),
            }),
            progress,
            writer: Mutex::new(Some(writer)),
            next_outbox: AtomicU64::new(outbox_last + 1),
        })
    }

    /// A new outbox number, never used before in this store (every governor of the
    /// store, old and reloaded, takes them here).
    pub fn next_outbox_id(&self) -> u64 {
        self.next_outbox
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues entries and state writes for the next group commit.
    pub fn submit(
        &self,
        entries: Vec<Entry>,
        writes: Vec<StateWrite>,
    ) -> Result<Ticket, StoreError> {
        self.check_failed()?;
        // Digests and JSON checks outside the lock: only the chaining is sequential.
        let mut digested = Vec::with_capacity(entries.len());
        for entry in entries {
            let digest: [u8; 32] = Sha256::digest(entry.body.as_bytes()).into();
            let body = RawValue::from_string(entry.body)
                .map_err(|e| StoreError(format!("an audit record's body must be JSON: {e}")))?;
            digested.push((entry.at, entry.kind, entry.retain_until, body, digest));
        }
        let mut chain = lock(&self.chain);
        let first_seq = chain.next_seq;
        let mut records = Vec::with_capacity(digested.len());
        let mut head = None;
        for (at, kind, retain_until, body, digest) in digested {
            let seq = chain.next_seq;
            let hash = chain_hash(&chain.head, seq, at, &kind, &digest, Some(retain_until));
            let record = AuditRecord {
                seq,
                at,
                kind,
                body: Some(body),
                digest: encode_hex(&digest),
                retain_until,
                prev: encode_hex(&chain.head),
                hash: encode_hex(&hash),
                chain: CHAIN_FORMAT,
            };
            let text = serde_json::to_string(&record)
                .map_err(|e| StoreError(format!("cannot encode an audit record: {e}")))?;
            head = Some(Head {
                seq,
                hash: record.hash,
            });
            records.push((seq, text));
            chain.head = hash;
            chain.next_seq += 1;
        }
        let number = chain.next_op;
        let ticket = Ticket {
            op: number,
            first_seq,
        };
        let sender = chain
            .sender
            .as_ref()
            .ok_or_else(|| StoreError("the state store is closed".into()))?;
        sender
            .send(Op {
                number,
                records,
                head,
                writes,
            })
            .map_err(|_| StoreError("the audit writer has stopped".into()))?;
        chain.next_op += 1;
        Ok(ticket)
    }

    /// Blocks until the write behind `ticket` is durable.
    pub fn wait(&self, ticket: &Ticket) -> Result<(), StoreError> {
        let (lock_, cvar) = &*self.progress;
        let mut progress = lock(lock_);
        loop {
            if progress.committed >= ticket.op {
                return Ok(());
            }
            if let Some(e) = &progress.failed {
                return Err(StoreError(e.clone()));
            }
            progress = match cvar.wait(progress) {
                Ok(p) => p,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
    }

    /// Blocks until everything submitted so far is durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        let op = lock(&self.chain).next_op - 1;
        self.wait(&Ticket { op, first_seq: 0 })
    }

    /// Whether the write behind `ticket` is durable, without waiting.
    pub fn is_durable(&self, ticket: &Ticket) -> bool {
        lock(&self.progress.0).committed >= ticket.op
    }

    /// Submits and waits: the write is durable when this returns.
    pub fn commit(
        &self,
        entries: Vec<Entry>,
        writes: Vec<StateWrite>,
    ) -> Result<Ticket, StoreError> {
        let ticket = self.submit(entries, writes)?;
        self.wait(&ticket)?;
        Ok(ticket)
    }

    /// The error that stopped the writer, if any.
    pub fn failure(&self) -> Option<String> {
        lock(&self.progress.0).failed.clone()
    }

    fn check_failed(&self) -> Result<(), StoreError> {
        match self.failure() {
            Some(e) => Err(StoreError(format!(
                "the state store refuses writes after a failed commit: {e}"
            ))),
            None => Ok(()),
        }
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        let fail = store_error("cannot read the state store", &self.path);
        self.guarded(|| {
            let txn = self.db.begin_read().map_err(|e| fail(e.into()))?;
            f(&txn).map_err(&fail)
        })
    }

    /// [`guarded`], and a store found corrupted refuses writes from then on, so that
    /// nothing is appended to a file that cannot be trusted and decisions needing it
    /// fail closed.
    fn guarded<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        guarded(&self.path, f).unwrap_or_else(|corrupted| {
            let mut progress = lock(&self.progress.0);
            progress.failed.get_or_insert_with(|| corrupted.0.clone());
            self.progress.1.notify_all();
            Err(corrupted)
        })
    }

    /// Every row of the state tables.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.read(|txn| {
            let mut snapshot = Snapshot::default();
            for row in txn.open_table(SERVICES)?.iter()? {
                let (k, v) = row?;
                snapshot
                    .services
                    .push((k.value().to_string(), v.value().to_string()));
            }
            for row in txn.open_table(BLOCKS)?.iter()? {
                let (k, v) = row?;
                snapshot
                    .blocks
                    .push((k.value().to_string(), v.value().to_string()));
            }
            for row in txn.open_table(REPORTS)?.iter()? {
                let (k, v) = row?;
                snapshot.reports.push((k.value(), v.value().to_string()));
            }
            for row in txn.open_table(EVENTS)?.iter()? {
                let (k, v) = row?;
                snapshot.events.push((k.value(), v.value().to_string()));
            }

            Ok(snapshot)
        })
    }

    /// The notifications waiting for delivery, oldest first, at most `limit`.
    pub fn outbox(&self, limit: usize) -> Result<Vec<(u64, String)>, StoreError> {
        self.read(|txn| {
            let mut rows = Vec::new();
            for row in txn.open_table(OUTBOX)?.iter()?.take(limit) {
                let (k, v) = row?;
                rows.push((k.value(), v.value().to_string()));
            }
            Ok(rows)
        })
    }

    /// How many notifications wait for delivery.
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        self.read(|txn| Ok(ReadableTableMetadata::len(&txn.open_table(OUTBOX)?)?))
    }

    /// Audit records with `seq >= from`, at most `limit`.
    pub fn records(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let mut records = Vec::new();
        self.each_record(from, limit, |record| {
            records.push(record);
            true
        })?;
        Ok(records)
    }

    /// When the newest audit record happened, if there is one: operator commands at an
    /// earlier time are refused, so the chain's times never go back.
    pub fn latest_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let row: Option<String> = self.read(|txn| {
            let table = txn.open_table(AUDIT)?;
            Ok(table.last()?.map(|(_, v)| v.value().to_string()))
        })?;
        row.map(|text| {
            serde_json::from_str::<AuditRecord>(&text)
                .map(|r| r.at)
                .map_err(|e| StoreError(format!("corrupt audit record: {e}")))
        })
        .transpose()
    }

    /// Checks the whole chain as of now: see [`Store::verify_at`].
    pub fn verify(&self) -> Result<Verification, StoreError> {
        self.verify_at(SystemClock.now())
    }

    /// Checks the whole chain: every link, every hash, every body's digest, that every
    /// erased body had a retention deadline that passed by `now`, and the head
    /// recorded with the last commit. Streams the log: memory does not grow with it.
    pub fn verify_at(&self, now: Timestamp) -> Result<Verification, StoreError> {
        self.read(|txn| {
            let mut check = Verification {
                records: 0,
                purged: 0,
                head: encode_hex(&[0; 32]),
                problems: Vec::new(),
            };
            let mut prev = [0u8; 32];
            let mut expected_seq = 1;
            for row in txn.open_table(AUDIT)?.iter()? {
                let (key, value) = row?;
                check.records += 1;
                let key = key.value();
                if key != expected_seq {
                    check.problems.push(format!(
                        "record {expected_seq}{}: missing",
                        if key > expected_seq + 1 {
                            format!("–{}", key - 1)
                        } else {
                            String::new()
                        }
                    ));
                }
                expected_seq = key + 1;
                let record: AuditRecord = match serde_json::from_str(value.value()) {
                    Ok(r) => r,
                    Err(e) => {
                        check
                            .problems
                            .push(format!("record {key}: unreadable ({e})"));
                        continue;
                    }
                };
                check_record(key, &record, &prev, now, &mut check);
                prev = decode_hex(&record.hash);
            }
            check.head = encode_hex(&prev);
            let head = txn
                .open_table(META)?
                .get(HEAD)?
                .map(|v| v.value().to_string());
            match head.and_then(|h| serde_json::from_str::<Head>(&h).ok()) {
                Some(h) if h.seq == expected_seq - 1 && h.hash == check.head => {}
                Some(h) => check.problems.push(format!(
                    "the log ends at record {} but its last commit ended at record {}: records are missing from the end",
                    expected_seq - 1,
                    h.seq
                )),
                None if check.records > 0 => check
                    .problems
                    .push("the log's head is missing".to_string()),
                None => {}
            }
            Ok(check)
        })
    }

    /// Calls `each` on the audit records with `seq >= from`, in order, at most `limit`
    /// of them, until it returns `false`; one record in memory at a time.
    pub fn each_record(
        &self,
        from: u64,
        limit: usize,
        mut each: impl FnMut(AuditRecord) -> bool,
    ) -> Result<(), StoreError> {
        let mut unreadable = None;
        self.read(|txn| {
            for row in txn.open_table(AUDIT)?.range(from..)?.take(limit) {
                let (key, value) = row?;
                match serde_json::from_str::<AuditRecord>(value.value()) {
                    Ok(record) => {
                        if !each(record) {
                            break;
                        }
                    }
                    Err(e) => {
                        unreadable = Some(format!("audit record {} is corrupt: {e}", key.value()));
                        break;
                    }
                }
            }
            Ok(())
        })?;
        match unreadable {
            Some(e) => Err(StoreError(e)),
            None => Ok(()),
        }
    }

    /// Purges the bodies of records whose retention ended by `now`. Returns how many.
    pub fn purge(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.check_failed()?;
        self.guarded(|| self.purge_unguarded(now))
    }

    fn purge_unguarded(&self, now: Timestamp) -> Result<u64, StoreError> {
        let fail = store_error("cannot purge the audit log", &self.path);
        let txn = self.db.begin_write().map_err(|e| fail(e.into()))?;
        let mut purged = 0;
        {
            let mut table = txn.open_table(AUDIT).map_err(|e| fail(e.into()))?;
            let mut expired = Vec::new();
            for row in table.iter().map_err(|e| fail(e.into()))? {
                let (k, v) = row.map_err(|e| fail(e.into()))?;
                if let Ok(mut record) = serde_json::from_str::<AuditRecord>(v.value())
                    && record.body.is_some()
                    && record.retain_until.is_some_and(|t| t <= now)
                {
                    record.body = None;
                    expired.push((k.value(), record));
                }
            }
            for (key, record) in expired {
                let text = serde_json::to_string(&record)
                    .map_err(|e| StoreError(format!("cannot encode a record: {e}")))?;
                table
                    .insert(key, text.as_str())
                    .map_err(|e| fail(e.into()))?;
                purged += 1;
            }
        }
        txn.commit().map_err(|e| fail(e.into()))?;
        Ok(purged)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        lock(&self.chain).sender = None;
        if let Some(writer) = lock(&self.writer).take() {
            let _ = writer.join();
        }
    }
}

fn write_loop(
    db: &Database,
    path: &Path,
    receiver: &Receiver<Op>,
    progress: &(Mutex<Progress>, Condvar),
) {
    while let Ok(first) = receiver.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_LIMIT {
            match receiver.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        let last = group.last().map_or(0, |op| op.number);
        let failed = lock(&progress.0).failed.is_some();
        let result = if failed {
            Ok(())
        } else {
            guarded(path, || commit_group(db, &group))
                .and_then(|committed| committed.map_err(|e| StoreError(e.to_string())))
        };
        let mut p = lock(&progress.0);
        match result {
            Ok(()) if !failed => p.committed = last,
            Ok(()) => {}
            Err(e) => p.failed = Some(e.0),
        }
        progress.1.notify_all();
    }
}

fn commit_group(db: &Database, group: &[Op]) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut audit = txn.open_table(AUDIT)?;
        let mut services = txn.open_table(SERVICES)?;
        let mut blocks = txn.open_table(BLOCKS)?;
        let mut reports = txn.open_table(REPORTS)?;
        let mut events = txn.open_table(EVENTS)?;
        let mut outbox = txn.open_table(OUTBOX)?;
        let mut outbox_last = None;
        let mut head = None;
        for op in group {
            for (seq, text) in &op.records {
                audit.insert(*seq, text.as_str())?;
            }
            if op.head.is_some() {
                head = op.head.as_ref();
            }
            for write in &op.writes {
                match write {
                    StateWrite::Service(k, Some(v)) => {
                        services.insert(k.as_str(), v.as_str())?;
                    }
                    StateWrite::Service(k, None) => {
                        services.remove(k.as_str())?;
                    }
                    StateWrite::Block(k, Some(v)) => {
                        blocks.insert(k.as_str(), v.as_str())?;
                    }
                    StateWrite::Block(k, None) => {
                        blocks.remove(k.as_str())?;
                    }
                    StateWrite::Report(k, Some(v)) => {
                        reports.insert(*k, v.as_str())?;
                    }
                    StateWrite::Report(k, None) => {
                        reports.remove(*k)?;
                    }
                    StateWrite::Event(k, Some(v)) => {
                        events.insert(*k, v.as_str())?;
                    }
                    StateWrite::Event(k, None) => {
                        events.remove(*k)?;
                    }
                    StateWrite::Outbox(k, Some(v)) => {
                        outbox.insert(*k, v.as_str())?;
                        outbox_last = outbox_last.max(Some(*k));
                    }
                    StateWrite::Outbox(k, None) => {
                        outbox.remove(*k)?;
                    }
                }
            }
        }
        if let Some(head) = head {
            let text =
                serde_json::to_string(head).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
            txn.open_table(META)?.insert(HEAD, text.as_str())?;
        }
        if let Some(last) = outbox_last {
            let mut meta = txn.open_table(META)?;
            let known = meta
                .get(OUTBOX_LAST)?
                .and_then(|v| v.value().parse::<u64>().ok())
                .unwrap_or(0);
            if last > known {
                meta.insert(OUTBOX_LAST, last.to_string().as_str())?;
            }
        }
    }
    txn.commit()?;
    Ok(())
}

/// `retention`: `None` for records of the first format, which did not cover it.
fn chain_hash(
    prev: &[u8; 32],
    seq: u64,
    at: Timestamp,
    kind: &str,
    digest: &[u8; 32],
    retention: Option<Option<Timestamp>>,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(at.0.to_be_bytes());
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(digest);
    match retention {
        None => {}
        Some(None) => h.update([0]),
        Some(Some(until)) => {
            h.update([1]);
            h.update(until.0.to_be_bytes());
        }
    }
    h.finalize().into()
}

/// One record's checks, against the hash of the record before it.
fn check_record(
    key: u64,
    record: &AuditRecord,
    prev: &[u8; 32],
    now: Timestamp,
    check: &mut Verification,
) {
    if record.seq != key {
        check
            .problems
            .push(format!("record {key}: says it is record {}", record.seq));
    }
    if record.prev != encode_hex(prev) {
        check.problems.push(format!(
            "record {key}: does not follow the record before it"
        ));
    }
    match &record.body {
        Some(body) => {
            if encode_hex(&Sha256::digest(body.get().as_bytes()).into()) != record.digest {
                check
                    .problems
                    .push(format!("record {key}: its body was changed"));
            }
        }
        None => match record.retain_until {
            None => check.problems.push(format!(
                "record {key}: its body was erased, but it was never to be purged"
            )),
            Some(until) if until > now => check.problems.push(format!(
                "record {key}: its body was erased before its retention ends ({until})"
            )),
            Some(_) => check.purged += 1,
        },
    }
    let retention = (record.chain >= CHAIN_FORMAT).then_some(record.retain_until);
    let digest = decode_hex(&record.digest);
    let hash = chain_hash(
        prev,
        record.seq,
        record.at,
        &record.kind,
        &digest,
        retention,
    );
    if encode_hex(&hash) != record.hash {
        check.problems.push(format!(
            "record {key}: its hash does not match its contents"
        ));
    }
}

fn encode_hex(bytes: &[u8; 32]) -> String {
    hex::encode(bytes)
}

/// Reads 64 hex digits; anything else reads as zeros (and then fails verification).
fn decode_hex(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    if hex::decode_to_slice(text, &mut out).is_err() {
        out = [0; 32];
    }
    out
}
