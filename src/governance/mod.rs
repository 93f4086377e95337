//! The stateful runtime around a guard: triggers over sliding windows, their actions,
//! the services' state machines, blocks, open reports, and the durable audit log.
//!
//! A [`Governor`] decides a request in this order: the request's service is brought up
//! to date (time-driven transitions), the guard decides (told whether the service is
//! degraded), blocks are looked up, the triggers count the decision and fire, and the
//! outcome is combined — deny > suspended > escalate > allow. Triggers see the
//! decision after it is made: an action it fires applies from the next request on.
//!
//! Every method takes the time; nothing here reads a clock (see [`clock`]).

mod blocks;
pub mod clock;
mod events;
mod operator;
pub mod outbox;
pub mod posted;
pub mod replay;
pub mod reports;
pub mod service;
pub mod shared;
pub mod store;
mod succession;
mod triggers;
pub mod window;

pub use operator::{ServiceReport, Status};

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::ast::{CmpOp, WindowKind};
use crate::guard::Guard;
use crate::ir::interp::ordered;
use crate::ir::{self, Action, Compact, Threshold, status};
use crate::runtime::decision::{
    Decision, Outcome, Reason, ReasonKind, ServiceStatus, human_duration,
};
use crate::runtime::record::Record;
use clock::Timestamp;
pub use events::{Event, What};
use service::{Admission, Change, Machine, Refused, ServiceState};
use store::{Entry, StateWrite, Store, StoreError, Ticket};
use window::{GlobalWindow, KeyedWindows, Tally};

/// Tunables of the runtime.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Most keys one `by` trigger tracks (see [`window::KeyedWindows`]).
    pub max_keys: usize,
    /// Most reports one trigger keeps open (not yet filed); an episode past it opens
    /// none and is counted ([`Governor::suppressed_reports`]).
    pub max_open_reports: usize,
    /// Most reports one trigger keeps open for one `by` key.
    pub max_open_reports_per_key: usize,
    /// Most posted events kept for the triggers' windows; past it an event is refused
    /// (the host retries) rather than the store growing without bound.
    pub max_events: usize,
    /// Queue `notify` and report openings for delivery (a server with a notification
    /// sink); needs a store.
    pub outbox: bool,
    /// Most notifications waiting for delivery; past it new ones are dropped and
    /// counted ([`Governor::dropped_notifications`]).
    pub max_outbox: usize,
    /// Where decision ids' random part starts: `None` picks one unpredictably (a
    /// server, an application); a fixed seed makes the same ids for the same
    /// decisions at the same times (a replay).
    pub id_seed: Option<u64>,
}

/// Default of [`Options::max_open_reports`].
pub const DEFAULT_MAX_OPEN_REPORTS: usize = 1_000;
/// Default of [`Options::max_open_reports_per_key`].
pub const DEFAULT_MAX_OPEN_REPORTS_PER_KEY: usize = 10;

impl Default for Options {
    fn default() -> Self {
        Options {
            max_keys: window::DEFAULT_MAX_KEYS,
            max_open_reports: DEFAULT_MAX_OPEN_REPORTS,
            max_open_reports_per_key: DEFAULT_MAX_OPEN_REPORTS_PER_KEY,
            max_events: posted::DEFAULT_MAX_EVENTS,
            outbox: false,
            max_outbox: outbox::DEFAULT_MAX_OUTBOX,
            id_seed: None,
        }
    }
}

/// A report opened by a trigger's `report "recipient" within D`. Its life: opened →
/// acknowledged → filed → closed, each step by a named person; it is *open* until it
/// is filed, and *overdue* when still open after its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub id: u64,
    pub trigger: String,
    pub recipient: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key: Option<String>,
    /// The event a `per event` report is about.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub event: Option<EventRef>,
    pub opened: Timestamp,
    pub due: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acknowledged: Option<Step>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub filed: Option<Step>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub closed: Option<Step>,
}

impl Report {
    /// `opened`, `acknowledged`, `filed` or `closed`.
    pub fn stage(&self) -> &'static str {
        if self.closed.is_some() {
            "closed"
        } else if self.filed.is_some() {
            "filed"
        } else if self.acknowledged.is_some() {
            "acknowledged"
        } else {
            "opened"
        }
    }

    /// Not yet filed.
    pub fn is_open(&self) -> bool {
        self.filed.is_none()
    }

    /// Still open after its deadline.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.is_open() && now > self.due
    }
}

/// The event a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    pub kind: String,
    pub id: String,
    /// When the provider became aware of it: the deadline counts from here.
    pub aware_at: Timestamp,
}

/// One step of a report's life: when, and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub at: Timestamp,
    pub by: String,
}

/// The step that files a report (the name the v0 API used).
pub type Filed = Step;

/// One blocked key of one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub field: String,
    pub key: String,
    pub until: Timestamp,
    pub cause: String,
    /// How long the block was set for: a trigger with a longer `for` extends it (an
    /// escalation ladder), repeats of the same length do not.
    #[serde(default)]
    pub for_secs: u64,
}

/// Why an operator command or a state change did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GovernError {
    /// The command makes no sense in the current state; nothing changed.
    Refused(String),
    /// Nothing of that name: service, field, report.
    Unknown(String),
    /// The change could not be made durable.
    Store(StoreError),
}

impl std::fmt::Display for GovernError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GovernError::Refused(m) | GovernError::Unknown(m) => f.write_str(m),
            GovernError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for GovernError {}

impl From<StoreError> for GovernError {
    fn from(e: StoreError) -> Self {
        GovernError::Store(e)
    }
}

impl From<Refused> for GovernError {
    fn from(e: Refused) -> Self {
        GovernError::Refused(e.0)
    }
}

const STATE_ACTIVE: u64 = 0;
const STATE_DEGRADED: u64 = 1;
const STATE_SUSPENDED: u64 = 2;
const STATE_RECOVERING: u64 = 3;
const NO_DEADLINE: u64 = u64::MAX;

/// A service: its machine behind a lock, and what decisions read without it.
#[derive(Debug)]
struct ServiceCell {
    name: String,
    fallback: Option<String>,
    loc: ir::Loc,
    machine: Mutex<Machine>,
    /// The state's code (low byte) and, in a ramp, the admitted share in
    /// hundredths of a percent (above it).
    view: AtomicU64,
    /// When time alone next changes the state (ms), or `NO_DEADLINE`.
    deadline: AtomicU64,
}

impl ServiceCell {
    fn publish(&self, machine: &Machine) {
        let code = match machine.state {
            ServiceState::Active => STATE_ACTIVE,
            ServiceState::Degraded { .. } => STATE_DEGRADED,
            ServiceState::Suspended { .. } => STATE_SUSPENDED,
            ServiceState::Recovering { .. } => STATE_RECOVERING,
        };
        let ramp = match machine.admission() {
            Admission::Ramp(share) => u64::from(share),
            _ => 0,
        };
        self.view.store(code | (ramp << 8), Ordering::Release);
        self.deadline.store(
            machine.deadline().map_or(NO_DEADLINE, |d| d.0),
            Ordering::Release,
        );
    }

    /// Whether time alone changes nothing before `now` (the published view is current).
    fn settled_at(&self, now: Timestamp) -> bool {
        now.0 < self.deadline.load(Ordering::Acquire)
    }

    fn state_code(&self) -> u64 {
        self.view.load(Ordering::Acquire) & 0xff
    }

    fn admission(&self) -> Admission {
        let view = self.view.load(Ordering::Acquire);
        match view & 0xff {
            STATE_ACTIVE => Admission::Serve,
            STATE_DEGRADED => Admission::ServeDegraded,
            STATE_RECOVERING if view >> 8 > 0 => Admission::Ramp((view >> 8) as u32),
            _ => Admission::Fallback,
        }
    }
}

/// A trigger's counts. Shared (`Arc`) so that a reloaded policy's governor can take
/// over the windows of the one it replaces while that one finishes its last decisions.
#[derive(Debug)]
enum Window {
    Global(Arc<GlobalWindow>),
    Keyed {
        slot: usize,
        windows: Arc<KeyedWindows>,
    },
}

#[derive(Debug)]
struct TriggerCell {
    window: Window,
    /// The condition held at the last evaluation (global triggers; keyed ones keep
    /// this per key).
    active: AtomicBool,
    /// `>` and `>=`: the condition can only become true when the predicate holds, so
    /// decisions where it does not are not evaluated.
    rising: bool,
    /// Reports this trigger did not open: the open-report bounds were reached.
    suppressed: AtomicU64,
}

impl TriggerCell {
    fn new(t: &ir::Trigger, options: &Options) -> TriggerCell {
        TriggerCell {
            window: match t.by_slot {
                Some(slot) => Window::Keyed {
                    slot: slot as usize,
                    windows: Arc::new(KeyedWindows::new(t.within_secs, options.max_keys)),
                },
                None => Window::Global(Arc::new(GlobalWindow::new(
                    t.within_secs,
                    t.kind == WindowKind::Rate,
                ))),
            },
            active: AtomicBool::new(false),
            rising: matches!(t.op, CmpOp::Gt | CmpOp::Ge),
            suppressed: AtomicU64::new(0),
        }
    }
}

#[derive(Debug, Default)]
struct BlockTable {
    /// Field slot → key → block.
    by_slot: HashMap<usize, HashMap<Box<str>, Block>>,
}

/// What the governor adds to the guard's result for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub service: Option<usize>,
    pub admission: Admission,
    /// The request's service's state when it was decided (a trigger this decision
    /// fires changes the state for the next one, not for this one).
    pub state: Option<u64>,
    pub blocked: Option<Block>,
    /// A `retain` duty applies but the audit log cannot take the decision.
    pub audit_failure: Option<String>,
}

/// A decision and the events it caused.
#[derive(Debug, Clone, PartialEq)]
pub struct Governed {
    pub decision: Decision,
    pub events: Vec<Event>,
}

/// The stateful runtime for one policy. `Send + Sync`: share it between threads.
#[derive(Debug)]
pub struct Governor {
    guard: Guard,
    services: Vec<ServiceCell>,
    triggers: Vec<TriggerCell>,
    blocks: RwLock<BlockTable>,
    block_count: AtomicUsize,
    /// The earliest `until` of the blocks (ms; `u64::MAX` when none): at the first
    /// operation at or after it, expired blocks are lifted and recorded.
    next_unblock: AtomicU64,
    reports: Mutex<BTreeMap<u64, Report>>,
    next_report: AtomicU64,
    /// One per event kind the policy declares.
    event_kinds: Vec<posted::EventCell>,
    /// The events kept for the windows, oldest first.
    kept_events: Mutex<posted::Kept>,
    /// Notifications not queued: the outbox was full.
    dropped_notifications: AtomicU64,
    store: Option<Arc<Store>>,
    shared: Option<Arc<dyn shared::Shared>>,
    service_slot: Option<usize>,
    id_slot: Option<usize>,
    /// (duty index, retention in seconds) of duties with `retain`.
    retained: Vec<(usize, u64)>,
    options: Options,
    /// What every decision names as its policy.
    policy_ref: Arc<crate::runtime::decision::PolicyRef>,
    /// Decision ids: a seed and a sequence, mixed into each id's random bits.
    id_seed: u64,
    next_id: AtomicU64,
}

impl Governor {
    /// A runtime for `guard`, with its state loaded from `store` when given (and kept
    /// only in memory otherwise).
    pub fn new(
        guard: Guard,
        store: Option<Arc<Store>>,
        options: Options,
    ) -> Result<Governor, GovernError> {
        let policy = &guard.policy().ir;
        let services = policy
            .services
            .iter()
            .map(|s| ServiceCell {
                name: s.name.clone(),
                fallback: s.fallback.clone(),
                loc: s.loc,
                machine: Mutex::new(Machine::new(&s.name, s.recovery.clone())),
                view: AtomicU64::new(STATE_ACTIVE),
                deadline: AtomicU64::new(NO_DEADLINE),
            })
            .collect();
        let triggers = policy
            .triggers
            .iter()
            .map(|t| TriggerCell::new(t, &options))
            .collect();
        let event_kinds = policy
            .events
            .iter()
            .map(|kind| posted::EventCell::new(kind, &options))
            .collect();
        let slot_of = |path: &str| policy.fields.iter().position(|f| f.path == path);
        let governor = Governor {
            services,
            triggers,
            blocks: RwLock::new(BlockTable::default()),
            block_count: AtomicUsize::new(0),
            next_unblock: AtomicU64::new(u64::MAX),
            reports: Mutex::new(BTreeMap::new()),
            next_report: AtomicU64::new(1),
            event_kinds,
            kept_events: Mutex::new(posted::Kept::default()),
            dropped_notifications: AtomicU64::new(0),
            store,
            shared: None,
            service_slot: (!policy.services.is_empty())
                .then(|| slot_of("service"))
                .flatten(),
            id_slot: slot_of("id"),
            retained: policy
                .duties
                .iter()
                .enumerate()
                .filter_map(|(i, d)| d.retain_secs.map(|r| (i, r)))
                .collect(),
            policy_ref: Arc::new(crate::runtime::decision::PolicyRef {
                name: policy.name.clone(),
                version: policy.version.clone(),
                fingerprint: guard.policy().fingerprint(),
            }),
            id_seed: options.id_seed.unwrap_or_else(unpredictable_seed),
            next_id: AtomicU64::new(0),
            options,
            guard,
        };
        governor.load()?;
        Ok(governor)
    }

    /// Shares window counts and state changes with other replicas from now on.
    pub fn with_shared(mut self, shared: Arc<dyn shared::Shared>) -> Governor {
        self.shared = Some(shared);
        self
    }

    /// Installs a state row another replica changed (never re-published or persisted:
    /// the replica that made the change did both). A row that cannot be read is
    /// ignored, so a bad peer cannot break this one.
    pub fn apply_remote(&self, row: &StateWrite) {
        match row {
            StateWrite::Service(name, Some(text)) => {
                let (Some(cell), Ok(state)) = (
                    self.services.iter().find(|c| c.name == *name),
                    serde_json::from_str::<ServiceState>(text),
                ) else {
                    return;
                };
                let mut machine = lock(&cell.machine);
                if machine.state != state {
                    machine.state = state;
                    cell.publish(&machine);
                }
            }
            StateWrite::Block(key, text) => {
                let Some((field, value)) = key.split_once('\u{1f}') else {
                    return;
                };
                let Some(slot) = self.field_slot(field) else {
                    return;
                };
                let block = text
                    .as_deref()
                    .and_then(|t| serde_json::from_str::<Block>(t).ok());
                let mut table = write(&self.blocks);
                let keys = table.by_slot.entry(slot).or_default();
                let (before, after) = match block {
                    Some(b) => {
                        self.next_unblock.fetch_min(b.until.0, Ordering::AcqRel);
                        (keys.insert(value.into(), b).is_some(), true)
                    }
                    None => (keys.remove(value).is_some(), false),
                };
                match (before, after) {
                    (false, true) => self.block_count.fetch_add(1, Ordering::AcqRel),
                    (true, false) => self.block_count.fetch_sub(1, Ordering::AcqRel),
                    _ => 0,
                };
            }
            StateWrite::Report(id, Some(text)) => {
                if let Ok(report) = serde_json::from_str::<Report>(text) {
                    self.knows_report(*id);
                    lock(&self.reports).insert(*id, report);
                }
            }
            StateWrite::Service(_, None)
            | StateWrite::Report(_, None)
            | StateWrite::Event(..)
            | StateWrite::Outbox(..) => {}
        }
    }

    /// The number of a report being opened: unique across replicas when state is
    /// shared.
    pub(super) fn next_report_id(&self) -> u64 {
        match &self.shared {
            Some(shared) => {
                let id = shared.report_id(self.next_report.load(Ordering::Acquire));
                self.knows_report(id);
                id
            }
            None => self.next_report.fetch_add(1, Ordering::AcqRel),
        }
    }

    /// Report `id` exists: the next number given here is above it — unless it is from
    /// a replica's own range ([`shared::REPLICA_RANGE`]), which the shared counter
    /// does not climb into.
    fn knows_report(&self, id: u64) {
        if id < shared::REPLICA_RANGE {
            self.next_report.fetch_max(id + 1, Ordering::AcqRel);
        }
    }

    /// A trigger window's counts from the shared store, if one is configured and up.
    fn shared_count(
        &self,
        trigger: &ir::Trigger,
        key: Option<&str>,
        now: Timestamp,
        hit: bool,
    ) -> Option<Tally> {
        let shared = self.shared.as_ref()?;
        let buckets = window::Buckets::for_window(trigger.within_secs);
        let total = trigger.kind == WindowKind::Rate;
        shared.count(&trigger.name, key, buckets, now, hit, total)
    }

    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    fn ir(&self) -> &ir::Policy {
        &self.guard.policy().ir
    }

    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// Restores services, blocks and reports from the store.
    fn load(&self) -> Result<(), GovernError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let snapshot = store.snapshot()?;
        for (name, text) in snapshot.services {
            let Some(cell) = self.services.iter().find(|c| c.name == name) else {
                continue;
            };
            let state: ServiceState = serde_json::from_str(&text).map_err(|e| {
                GovernError::Store(StoreError(format!(
                    "the stored state of service `{name}` is unreadable: {e}"
                )))
            })?;
            let mut machine = lock(&cell.machine);
            machine.state = state;
            cell.publish(&machine);
        }
        let mut table = write(&self.blocks);
        for (_, text) in snapshot.blocks {
            let block: Block = serde_json::from_str(&text).map_err(|e| {
                GovernError::Store(StoreError(format!("a stored block is unreadable: {e}")))
            })?;
            if let Some(slot) = self.field_slot(&block.field) {
                self.next_unblock.fetch_min(block.until.0, Ordering::AcqRel);
                table
                    .by_slot
                    .entry(slot)
                    .or_default()
                    .insert(block.key.clone().into_boxed_str(), block);
                self.block_count.fetch_add(1, Ordering::Release);
            }
        }
        drop(table);
        let mut reports = lock(&self.reports);
        for (id, text) in snapshot.reports {
            let report: Report = serde_json::from_str(&text).map_err(|e| {
                GovernError::Store(StoreError(format!("stored report {id} is unreadable: {e}")))
            })?;
            self.knows_report(id);
            reports.insert(id, report);
        }
        drop(reports);
        self.restore_events(snapshot.events)
    }

    fn field_slot(&self, path: &str) -> Option<usize> {
        self.ir().fields.iter().position(|f| f.path == path)
    }

    /// The service a request targets, if the policy declares it.
    fn service_of(&self, record: &Record) -> Option<usize> {
        let slot = self.service_slot?;
        let name = record.text(self.ir(), record.slot(slot))?;
        self.services.iter().position(|s| s.name == name)
    }

    /// The request id's ramp bucket, 0..10,000, from a stable hash.
    fn ramp_bucket(&self, record: &Record) -> u32 {
        let id = self
            .id_slot
            .and_then(|slot| record.text(self.ir(), record.slot(slot)))
            .unwrap_or("");
        (xxhash_rust::xxh3::xxh3_64(id.as_bytes()) % 10_000) as u32
    }

    /// Encodes a JSON request to be decided at `now`: a left-out clock reads `now`.
    pub fn encode_json(
        &self,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<Record, Vec<crate::runtime::record::InputError>> {
        let mut record = self.guard.encode_json(bytes)?;
        record.set_filled_clock(self.ir(), now.unix_seconds());
        Ok(record)
    }

    /// Decides a JSON request at `now`.
    pub fn decide_json(&self, bytes: &[u8], now: Timestamp) -> Governed {
        match self.encode_json(bytes, now) {
            Ok(record) => self.decide(&record, now),
            Err(errors) => Governed {
                decision: self.invalid(errors, now),
                events: Vec::new(),
            },
        }
    }

    /// An invalid request's decision (a deny naming every bad field), with its id.
    pub fn invalid(
        &self,
        errors: Vec<crate::runtime::record::InputError>,
        now: Timestamp,
    ) -> Decision {
        let mut decision = Decision::invalid(errors);
        self.identify(&mut decision, now);
        decision
    }

    /// Gives a decision made at `now` its id (a UUID v7: the time in ms, then 74 bits
    /// of a hash of the governor's sequence number under its seed — unique within a
    /// governor, unpredictable across them), its policy and its time.
    pub fn identify(&self, decision: &mut Decision, now: Timestamp) {
        let sequence = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mixed = xxhash_rust::xxh3::xxh3_128_with_seed(&sequence.to_le_bytes(), self.id_seed)
            .to_le_bytes();
        let mut random = [0u8; 10];
        random.copy_from_slice(&mixed[..10]);
        let id = uuid::Builder::from_unix_timestamp_millis(now.0, &random).into_uuid();
        decision.decision_id = Some(id.hyphenated().to_string());
        decision.policy = Some(Arc::clone(&self.policy_ref));
        decision.at = Some(now.rfc3339());
    }

    /// Decides a request at `now`, with everything the runtime adds. A decision a
    /// `retain` duty applies to is returned once its audit record is durable; if the
    /// record cannot be committed, the decision is a deny that says so.
    pub fn decide(&self, record: &Record, now: Timestamp) -> Governed {
        let (mut governed, pending) = self.decide_pending(record, now);
        if let (Some(ticket), Some(store)) = (pending, &self.store)
            && let Err(e) = store.wait(&ticket)
        {
            fail_for_audit(&mut governed.decision, &e.to_string());
        }
        governed
    }

    /// [`Governor::decide`] without waiting for the audit record: the caller must wait
    /// for the returned ticket (`Store::wait`, off an async executor) and apply
    /// [`fail_for_audit`] if it fails, before answering.
    pub fn decide_pending(&self, record: &Record, now: Timestamp) -> (Governed, Option<Ticket>) {
        // A request without the policy's clock reads the governor's time, so that a
        // replay decides as the traffic did. Records from `Governor::encode_json` have
        // it already; one built elsewhere is copied.
        let at_now;
        let record = if record.clock_filled() {
            let mut copy = record.clone();
            copy.set_filled_clock(self.ir(), now.unix_seconds());
            at_now = copy;
            &at_now
        } else {
            record
        };
        let mut compact = self.guard.compact();
        let mut events = Vec::new();
        let verdict = self.govern(record, now, &mut compact, &mut events);
        let (decision, pending) = self.expand(record, &verdict, &compact, now);
        (Governed { decision, events }, pending)
    }

    /// The fast path: decides into a reused buffer and returns what the runtime adds;
    /// [`Governor::decide`] expands both into a [`Decision`].
    pub fn govern(
        &self,
        record: &Record,
        now: Timestamp,
        compact: &mut Compact,
        events: &mut Vec<Event>,
    ) -> Verdict {
        self.lift_expired_blocks(now, events);
        let service = self.service_of(record);
        let (admission, state) = match service.and_then(|s| self.services.get(s)) {
            Some(cell) => {
                if !cell.settled_at(now) {
                    self.advance_service(cell, now, events);
                }
                (cell.admission(), Some(cell.state_code()))
            }
            None => (Admission::Serve, None),
        };
        self.guard
            .decide_compact(record, admission == Admission::ServeDegraded, compact);
        let blocked = self.blocked(record, now);
        let judged = compact.status() == status::OK;
        if judged {
            self.watch(record, compact, now, events);
        }
        let base = Outcome::from(compact.outcome());
        let served = match admission {
            Admission::Serve | Admission::ServeDegraded => true,
            Admission::Fallback => false,
            Admission::Ramp(share) => self.ramp_bucket(record) < share,
        };
        let audit_failure = if judged && self.retention(compact).is_some() {
            self.store.as_ref().and_then(|s| s.failure())
        } else {
            None
        };
        let outcome = if blocked.is_some() || base == Outcome::Deny || audit_failure.is_some() {
            Outcome::Deny
        } else if !served {
            Outcome::Suspended
        } else {
            base
        };
        Verdict {
            outcome,
            service,
            admission,
            state,
            blocked,
            audit_failure,
        }
    }

    /// The longest `retain` among the duties that apply, if any.
    fn retention(&self, compact: &Compact) -> Option<u64> {
        let layout = self.ir().layout;
        self.retained
            .iter()
            .filter(|(duty, _)| compact.bit(layout.duties, *duty))
            .map(|(_, secs)| *secs)
            .max()
    }

    fn expand(
        &self,
        record: &Record,
        verdict: &Verdict,
        compact: &Compact,
        now: Timestamp,
    ) -> (Decision, Option<Ticket>) {
        let mut decision = Decision::expand(self.ir(), compact);
        decision.outcome = verdict.outcome;
        self.identify(&mut decision, now);
        if let Some(cell) = verdict.service.and_then(|s| self.services.get(s)) {
            let suspended = verdict.outcome == Outcome::Suspended;
            decision.service = Some(ServiceStatus {
                name: cell.name.clone(),
                state: state_name(verdict.state.unwrap_or_else(|| cell.state_code())).to_string(),
                fallback: if suspended {
                    cell.fallback.clone()
                } else {
                    None
                },
            });
            if suspended {
                let why = match verdict.admission {
                    Admission::Ramp(share) => format!(
                        "is recovering and admits {}% of requests; this one is not yet among them",
                        f64::from(share) / 100.0
                    ),
                    _ => format!("is {}", lock(&cell.machine).label()),
                };
                let fallback = cell
                    .fallback
                    .as_ref()
                    .map(|f| format!(": serving the fallback \"{f}\""))
                    .unwrap_or_default();
                decision.reasons.push(Reason {
                    kind: ReasonKind::Service,
                    id: cell.name.clone(),
                    outcome: Some(Outcome::Suspended),
                    message: format!("service `{}` {why}{fallback}", cell.name),
                    cite: None,
                    line: cell.loc.line,
                    column: cell.loc.column,
                });
            }
        }
        if let Some(block) = &verdict.blocked {
            decision.reasons.push(Reason {
                kind: ReasonKind::Block,
                id: block.field.clone(),
                outcome: Some(Outcome::Deny),
                message: format!(
                    "`{}` \"{}\" is blocked until {} ({})",
                    block.field, block.key, block.until, block.cause
                ),
                cite: None,
                line: 0,
                column: 0,
            });
        }
        let mut pending = None;
        if let Some(failure) = &verdict.audit_failure {
            fail_for_audit(&mut decision, failure);
        } else if let (Some(store), Some(secs)) = (&self.store, self.retention(compact))
            && compact.status() == status::OK
        {
            match self.audit_decision(store, record, &decision, now, secs) {
                Ok(ticket) => pending = Some(ticket),
                Err(e) => fail_for_audit(&mut decision, &e.to_string()),
            }
        }
        (decision, pending)
    }

    /// Queues a decision a `retain` duty applies to; it is purged after `secs`.
    fn audit_decision(
        &self,
        store: &Store,
        record: &Record,
        decision: &Decision,
        now: Timestamp,
        secs: u64,
    ) -> Result<Ticket, StoreError> {
        let id = self
            .id_slot
            .and_then(|slot| record.text(self.ir(), record.slot(slot)));
        let body = serde_json::json!({ "request_id": id, "decision": decision });
        store.submit(
            vec![Entry {
                at: now,
                kind: "decision".into(),
                body: body.to_string(),
                retain_until: Some(now.plus_secs(secs)),
            }],
            Vec::new(),
        )
    }

    /// Applies the time-driven changes of a service up to `now`.
    fn advance_service(&self, cell: &ServiceCell, now: Timestamp, events: &mut Vec<Event>) {
        let mut machine = lock(&cell.machine);
        let changes = machine.advance(now);
        // A store failure leaves the state changed in memory; later writes report it.
        let _ = self.commit_changes(cell, &machine, changes, Vec::new(), events);
    }

    /// Persists and publishes a service's changes, with any extra events, then makes
    /// them visible to decisions. Called with the machine locked.
    fn commit_changes(
        &self,
        cell: &ServiceCell,
        machine: &Machine,
        changes: Vec<Change>,
        mut extra: Vec<Event>,
        events: &mut Vec<Event>,
    ) -> Result<(), GovernError> {
        if changes.is_empty() && extra.is_empty() {
            return Ok(());
        }
        extra.extend(changes.into_iter().map(|c| {
            Event::new(
                c.at,
                What::ServiceChanged {
                    service: cell.name.clone(),
                    from: c.from,
                    to: c.to,
                    cause: c.cause,
                },
            )
        }));
        let state = serde_json::to_string(&machine.state)
            .map_err(|e| StoreError(format!("cannot encode a service state: {e}")))?;
        let result = self.persist(
            &mut extra,
            vec![StateWrite::Service(cell.name.clone(), Some(state))],
        );
        cell.publish(machine);
        events.append(&mut extra);
        result
    }

    /// Writes events to the audit log with the state writes, durably, and stamps each
    /// event with its record's sequence number.
    fn persist(
        &self,
        events: &mut [Event],
        mut writes: Vec<StateWrite>,
    ) -> Result<(), GovernError> {
        self.queue_notifications(events, &mut writes);
        // Events stay on the replica that took them (its windows count them), and each
        // replica delivers its own notifications.
        let shared_writes: Vec<StateWrite> = match &self.shared {
            Some(_) => writes
                .iter()
                .filter(|w| !matches!(w, StateWrite::Event(..) | StateWrite::Outbox(..)))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        // Durable here first; then the other replicas are told (and told again until
        // Redis acknowledges: `server::redis_state`).
        let committed = match &self.store {
            Some(store) => {
                let entries = events
                    .iter()
                    .map(|e| Entry {
                        at: e.at,
                        kind: e.what.kind().to_string(),
                        body: serde_json::to_string(e).unwrap_or_default(),
                        retain_until: None,
                    })
                    .collect();
                store.commit(entries, writes).map(|ticket| {
                    for (event, seq) in events.iter_mut().zip(ticket.first_seq..) {
                        event.seq = Some(seq);
                    }
                })
            }
            None => Ok(()),
        };
        if let Some(shared) = &self.shared
            && !shared_writes.is_empty()
        {
            shared.publish(&shared_writes);
        }
        Ok(committed?)
    }
}

/// A seed nobody can guess or repeat: the process's random hash keys over its id.
fn unpredictable_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::process::id())
}

/// Turns a decision whose `retain` duty's record could not be written into a deny
/// that says why: a decision the law requires a record of is not given without one.
pub fn fail_for_audit(decision: &mut Decision, failure: &str) {
    decision.outcome = Outcome::Deny;
    decision.reasons.push(Reason {
        kind: ReasonKind::Failure,
        id: "audit-log".into(),
        outcome: Some(Outcome::Deny),
        message: format!(
            "a `retain` duty applies but the audit log cannot record the decision: {failure}"
        ),
        cite: None,
        line: 0,
        column: 0,
    });
}

fn state_name(code: u64) -> &'static str {
    match code {
        STATE_ACTIVE => "active",
        STATE_DEGRADED => "degraded",
        STATE_SUSPENDED => "suspended",
        _ => "recovering",
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    match m.read() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    match m.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
