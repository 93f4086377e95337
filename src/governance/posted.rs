//! Events the host posts (`event incident { … }` in the policy): checked against their
//! kind's schema, made durable, then counted by the triggers over that kind, whose
//! actions fire as a request trigger's do — and whose `report … per event` opens one
//! report per event, due from the event's `aware_at`.
//!
//! Posted events are kept (in the store's `events` table) while a trigger's window can
//! still count them, so a restart counts them again; an event whose `id` was already
//! taken within that time is a repeat, answered as such and not counted twice.

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::triggers::{Counted, Firing};
use super::{
    Event, GovernError, Governor, Options, StateWrite, StoreError, Timestamp, TriggerCell, What,
    ir, lock,
};
use crate::ir::{Compact, interp, status};
use crate::runtime::record::{Encoder, InputError, Record};

/// Default of [`Options::max_events`].
pub const DEFAULT_MAX_EVENTS: usize = 100_000;

/// The least time an event's id is remembered, even for a kind no trigger counts
/// over a longer window: a host retrying a post within it is recognised.
const MIN_HORIZON_SECS: u64 = 7 * 24 * 3600;

/// An event kind's runtime: its encoder and its triggers' windows.
#[derive(Debug)]
pub(super) struct EventCell {
    encoder: Encoder,
    triggers: Vec<TriggerCell>,
    /// How long its events are kept: its longest trigger window (at least a week).
    horizon_secs: u64,
}

impl EventCell {
    pub(super) fn new(kind: &ir::EventKind, options: &Options) -> EventCell {
        let longest = kind
            .policy
            .triggers
            .iter()
            .map(|t| t.within_secs)
            .max()
            .unwrap_or(0);
        EventCell {
            encoder: Encoder::new(&kind.policy),
            triggers: kind
                .policy
                .triggers
                .iter()
                .map(|t| TriggerCell::new(t, options))
                .collect(),
            horizon_secs: longest.max(MIN_HORIZON_SECS),
        }
    }
}

/// The events kept, oldest first, and the ids taken.
#[derive(Debug, Default)]
pub(super) struct Kept {
    queue: VecDeque<KeptEvent>,
    /// (kind, id) of every event kept.
    ids: HashSet<(usize, String)>,
    next: u64,
}

#[derive(Debug)]
struct KeptEvent {
    number: u64,
    kind: usize,
    id: String,
    until: Timestamp,
}

/// An event as the store keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    kind: String,
    id: String,
    at: Timestamp,
    aware_at: Timestamp,
    body: serde_json::Value,
}

/// An accepted event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Posted {
    pub kind: String,
    /// The event's `id`, or one the runtime gave it (`KIND-N`).
    pub id: String,
    /// When the provider became aware of it: its `aware_at`, else when it was posted.
    pub aware_at: Timestamp,
    /// An event with this id was already accepted: nothing was counted again.
    pub duplicate: bool,
    /// Why the triggers could not judge it (an overflow, say): it then counts as
    /// matching every trigger of its kind, so that no obligation is missed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unjudged: Option<String>,
    /// What posting it did: the record of it, reports opened, services suspended…
    pub events: Vec<Event>,
}

/// Why an event was not accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum PostError {
    /// The policy declares no such kind.
    UnknownKind { kind: String, known: Vec<String> },
    /// The body does not fit the kind's schema: every bad field.
    Invalid(Vec<InputError>),
    /// As many events are kept as [`Options::max_events`] allows.
    Full(String),
    /// It could not be made durable.
    Store(StoreError),
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::UnknownKind { kind, known } => {
                let known = if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                };
                write!(f, "the policy declares no event `{kind}` (events: {known})")
            }
            PostError::Invalid(errors) => {
                let listed: Vec<String> = errors
                    .iter()
                    .map(|e| format!("`{}`: {}", e.field, e.message))
                    .collect();
                write!(f, "invalid event: {}", listed.join("; "))
            }
            PostError::Full(m) => f.write_str(m),
            PostError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PostError {}

impl From<StoreError> for PostError {
    fn from(e: StoreError) -> Self {
        PostError::Store(e)
    }
}

impl From<GovernError> for PostError {
    fn from(e: GovernError) -> Self {
        match e {
            GovernError::Store(e) => PostError::Store(e),
            other => PostError::Store(StoreError(other.to_string())),
        }
    }
}

impl Governor {
    /// The event kinds the policy declares.
    pub fn event_kinds(&self) -> Vec<&str> {
        self.ir().events.iter().map(|k| k.name.as_str()).collect()
    }

    /// The fields of event kind `kind`, if the policy declares it.
    pub fn event_schema(&self, kind: &str) -> Option<&[crate::ir::Field]> {
        self.event_kind(kind)
            .map(|(_, spec, _)| spec.policy.fields.as_slice())
    }

    /// The runtime of the event trigger named `name`.
    pub(super) fn event_trigger(&self, name: &str) -> Option<&TriggerCell> {
        self.ir()
            .events
            .iter()
            .zip(&self.event_kinds)
            .find_map(|(kind, cell)| {
                let index = kind.policy.triggers.iter().position(|t| t.name == name)?;
                cell.triggers.get(index)
            })
    }

    /// Event kind `kind`: its index, compiled form and runtime.
    fn event_kind(&self, kind: &str) -> Option<(usize, &ir::EventKind, &EventCell)> {
        let ir = self.ir();
        let index = ir.events.iter().position(|k| k.name == kind)?;
        Some((index, ir.events.get(index)?, self.event_kinds.get(index)?))
    }

    /// Accepts an event of `kind` (a JSON object) posted at `now`: checks it, makes it
    /// durable, and counts it in the triggers over its kind, which fire as they would
    /// for a request.
    pub fn post_event(&self, kind: &str, body: &[u8], now: Timestamp) -> Result<Posted, PostError> {
        let Some((index, spec, cell)) = self.event_kind(kind) else {
            return Err(PostError::UnknownKind {
                kind: kind.to_string(),
                known: self.event_kinds().iter().map(|k| k.to_string()).collect(),
            });
        };
        let mut record = cell
            .encoder
            .decode_json(&spec.policy, body)
            .map_err(PostError::Invalid)?;
        record.set_filled_clock(&spec.policy, now.unix_seconds());
        let body: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| PostError::Invalid(vec![InputError::new("", e.to_string())]))?;
        let mut events = Vec::new();
        self.lift_expired_blocks(now, &mut events);
        let aware_at = awareness(spec, &record, now);
        let mut kept = lock(&self.kept_events);
        let given_id = spec
            .id_slot
            .and_then(|slot| record.value_text(&spec.policy, slot as usize))
            .map(|id| id.into_owned());
        let repeat = |id: &str, events| {
            Ok(Posted {
                kind: kind.to_string(),
                id: id.to_string(),
                aware_at,
                duplicate: true,
                unjudged: None,
                events,
            })
        };
        if let Some(id) = &given_id
            && kept.ids.contains(&(index, id.clone()))
        {
            return repeat(id, events);
        }
        let mut writes = expire(&mut kept, now);
        if kept.queue.len() >= self.options.max_events {
            return Err(PostError::Full(format!(
                "{} events are kept for the triggers' windows, the most this runtime \
                 keeps; retry once older ones leave their windows",
                kept.queue.len()
            )));
        }
        // Another replica may have taken the same event (a host retrying elsewhere):
        // the shared store says which replica counts it.
        let claimed = match (&self.shared, &given_id) {
            (Some(shared), Some(id)) => {
                if !shared.claim_event(kind, id, cell.horizon_secs) {
                    return repeat(id, events);
                }
                Some((shared, id.clone()))
            }
            _ => None,
        };
        kept.next += 1;
        let number = kept.next;
        let id = given_id.unwrap_or_else(|| format!("{kind}-{number}"));
        let stored = Stored {
            kind: kind.to_string(),
            id: id.clone(),
            at: now,
            aware_at,
            body: body.clone(),
        };
        let text = serde_json::to_string(&stored)
            .map_err(|e| StoreError(format!("cannot encode an event: {e}")))?;
        writes.push(StateWrite::Event(number, Some(text)));
        let mut accepted = vec![Event::new(
            now,
            What::EventPosted {
                kind: kind.to_string(),
                id: id.clone(),
                aware_at,
                body,
            },
        )];
        // Durable before it counts: an event the caller was told about is never lost.
        if let Err(e) = self.persist(&mut accepted, writes) {
            if let Some((shared, id)) = claimed {
                shared.release_event(kind, &id);
            }
            return Err(e.into());
        }
        kept.ids.insert((index, id.clone()));
        kept.queue.push_back(KeptEvent {
            number,
            kind: index,
            id: id.clone(),
            until: now.plus_secs(cell.horizon_secs),
        });
        drop(kept);
        events.append(&mut accepted);
        let counted = Counted {
            kind,
            id: &id,
            aware_at,
        };
        let unjudged = self.count_event(
            (spec, cell),
            &record,
            now,
            (Firing::Live, Some(&counted)),
            &mut events,
        );
        Ok(Posted {
            kind: kind.to_string(),
            id,
            aware_at,
            duplicate: false,
            unjudged,
            events,
        })
    }

    /// Judges an event under its kind's triggers and counts it; returns why it could
    /// not be judged, if it could not (it then counts as matching them all).
    fn count_event(
        &self,
        (spec, cell): (&ir::EventKind, &EventCell),
        record: &Record,
        now: Timestamp,
        (firing, counted): (Firing, Option<&Counted<'_>>),
        events: &mut Vec<Event>,
    ) -> Option<String> {
        let policy = &spec.policy;
        let mut compact = Compact::new(&policy.layout);
        interp::decide(policy, record, false, &mut compact);
        let unjudged = (compact.status() != status::OK).then(|| {
            let site = compact.word(ir::Layout::SITE) as usize;
            match policy.sites.get(site) {
                Some(site) => format!(
                    "`{}` (line {}) could not be evaluated: {}",
                    site.text,
                    site.loc.line,
                    crate::runtime::decision::failure_kind(compact.status()).1
                ),
                None => "a condition could not be evaluated".to_string(),
            }
        });
        let layout = policy.layout;
        let all = unjudged.is_some();
        self.count(
            (&cell.triggers, policy),
            record,
            |i| all || compact.bit(layout.triggers, i),
            now,
            (firing, counted),
            events,
        );
        unjudged
    }

    /// Counts the stored events again after a restart (no action fires twice), and
    /// remembers their ids.
    pub(super) fn restore_events(&self, rows: Vec<(u64, String)>) -> Result<(), GovernError> {
        let mut kept = lock(&self.kept_events);
        for (number, text) in rows {
            kept.next = kept.next.max(number);
            let stored: Stored = serde_json::from_str(&text).map_err(|e| {
                GovernError::Store(StoreError(format!(
                    "stored event {number} is unreadable: {e}"
                )))
            })?;
            let Some((index, spec, cell)) = self.event_kind(&stored.kind) else {
                // A kind the policy no longer declares: not counted, and deleted once
                // its id could no longer be retried.
                kept.queue.push_back(KeptEvent {
                    number,
                    kind: usize::MAX,
                    id: stored.id,
                    until: stored.at.plus_secs(MIN_HORIZON_SECS),
                });
                continue;
            };
            kept.ids.insert((index, stored.id.clone()));
            kept.queue.push_back(KeptEvent {
                number,
                kind: index,
                id: stored.id.clone(),
                until: stored.at.plus_secs(cell.horizon_secs),
            });
            let body = stored.body.to_string();
            // An event the policy's new schema no longer reads is not counted.
            if let Ok(mut record) = cell.encoder.decode_json(&spec.policy, body.as_bytes()) {
                record.set_filled_clock(&spec.policy, stored.at.unix_seconds());
                self.count_event(
                    (spec, cell),
                    &record,
                    stored.at,
                    (Firing::Restore, None),
                    &mut Vec::new(),
                );
            }
        }
        Ok(())
    }
}

/// When the provider became aware of an event: its `aware_at`, but never after it was
/// posted (a deadline cannot be pushed back by a time in the future).
fn awareness(spec: &ir::EventKind, record: &Record, now: Timestamp) -> Timestamp {
    spec.aware_slot
        .map(|slot| slot as usize)
        .filter(|&slot| record.is_present(slot))
        .map(|slot| {
            let secs = (record.slot(slot) as i64).max(0) as u64;
            Timestamp::from_secs(secs).min(now)
        })
        .unwrap_or(now)
}

/// Drops the events no window can count any more; returns the store deletions.
fn expire(kept: &mut Kept, now: Timestamp) -> Vec<StateWrite> {
    let mut writes = Vec::new();
    while kept.queue.front().is_some_and(|e| e.until <= now) {
        if let Some(old) = kept.queue.pop_front() {
            kept.ids.remove(&(old.kind, old.id));
            writes.push(StateWrite::Event(old.number, None));
        }
    }
    writes
}
