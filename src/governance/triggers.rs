//! Triggers: counting each decision in its windows, firing actions when a condition
//! starts to hold, and the reports they open.

use super::{
    Action, Block, Compact, Event, EventRef, Governor, Ordering, Record, Report, STATE_ACTIVE,
    STATE_SUSPENDED, ServiceState, StateWrite, Tally, Threshold, Timestamp, TriggerCell, What,
    Window, WindowKind, human_duration, ir, lock, ordered, read,
};

/// The event a trigger counted, for the reports it opens `per event`.
#[derive(Debug, Clone)]
pub(super) struct Counted<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    pub aware_at: Timestamp,
}

/// What counting does besides counting: fire the actions (live), or only bring the
/// episodes up to date (a restart counting the stored events again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Firing {
    Live,
    Restore,
}

impl Governor {
    /// Counts a judged decision in every trigger's window and fires those whose
    /// condition holds.
    pub(super) fn watch(
        &self,
        record: &Record,
        compact: &Compact,
        now: Timestamp,
        events: &mut Vec<Event>,
    ) {
        let ir = self.ir();
        let layout = ir.layout;
        self.count(
            (&self.triggers, ir),
            record,
            |index| compact.bit(layout.triggers, index),
            now,
            (Firing::Live, None),
            events,
        );
    }

    /// Counts one decision or event in the windows of `cells` (the triggers of
    /// `policy`, whose fields `record` has); `hit(i)` says whether trigger `i`'s
    /// predicate held.
    pub(super) fn count(
        &self,
        (cells, policy): (&[TriggerCell], &ir::Policy),
        record: &Record,
        hit: impl Fn(usize) -> bool,
        now: Timestamp,
        (firing, counted): (Firing, Option<&Counted<'_>>),
        events: &mut Vec<Event>,
    ) {
        for (index, (cell, trigger)) in cells.iter().zip(&policy.triggers).enumerate() {
            let hit = hit(index);
            let shared = |key, hit| match firing {
                Firing::Live => self.shared_count(trigger, key, now, hit),
                Firing::Restore => None,
            };
            let fire = |key: Option<&str>, tally, new_episode, events: &mut Vec<Event>| {
                if firing == Firing::Live {
                    let context = Context {
                        trigger,
                        key,
                        tally,
                        new_episode,
                        counted: counted.filter(|_| hit),
                    };
                    self.fire(cell, context, now, events);
                }
            };
            match &cell.window {
                Window::Global(window) => {
                    if !hit && cell.rising {
                        window.record_miss(now);
                        if trigger.kind == WindowKind::Rate {
                            shared(None, false);
                        }
                        continue;
                    }
                    let local = window.record(now, hit);
                    let tally = shared(None, hit).unwrap_or(local);
                    let holds = condition_holds(trigger, tally);
                    let was = cell.active.swap(holds, Ordering::AcqRel);
                    if holds {
                        let goes_on = was && episode_went_on(trigger, cell.rising, tally, hit);
                        fire(None, tally, !goes_on, events);
                    }
                }
                Window::Keyed { slot, windows } => {
                    if !hit && cell.rising && trigger.kind == WindowKind::Count {
                        continue;
                    }
                    // A request without the key is not counted by this trigger.
                    let Some(key) = record.value_text(policy, *slot) else {
                        continue;
                    };
                    let shared = shared(Some(&key), hit);
                    if !hit && cell.rising {
                        // As without `by`: a miss counts in a rate's total but is not
                        // an evaluation, so it neither fires nor ends an episode.
                        windows.record_miss(&key, now);
                        continue;
                    }
                    let (keyed, holds) = windows.record(&key, now, hit, |local| {
                        condition_holds(trigger, shared.unwrap_or(local))
                    });
                    if holds {
                        let tally = shared.unwrap_or(keyed.tally);
                        let goes_on =
                            keyed.was_active && episode_went_on(trigger, cell.rising, tally, hit);
                        fire(Some(&key), tally, !goes_on, events);
                    }
                }
            }
        }
    }

    /// A trigger's condition held: take its actions. State-changing actions apply
    /// whenever it holds (a suspension is not repeated, a relapse is caught);
    /// messages — `notify`, `report` — go once per episode.
    fn fire(
        &self,
        cell: &TriggerCell,
        context: Context<'_>,
        now: Timestamp,
        events: &mut Vec<Event>,
    ) {
        let Context {
            trigger,
            key,
            tally,
            new_episode,
            counted,
        } = context;
        let mut messages = Vec::new();
        if new_episode {
            messages.push(Event::new(
                now,
                What::TriggerFired {
                    trigger: trigger.name.clone(),
                    key: key.map(str::to_string),
                    observed: observed(trigger, tally),
                },
            ));
        }
        let mut writes = Vec::new();
        // Listed only once durable: a report filed before its opening is committed
        // would have the opening overwrite the filing.
        let mut opened = Vec::new();
        for action in &trigger.actions {
            match action {
                // The target may be another service than the request's: bring it up to
                // the firing time first, so the action meets its current state.
                Action::Suspend { service, for_secs } => {
                    if let Some(cell) = self.services.get(*service)
                        && !(cell.state_code() == STATE_SUSPENDED && cell.settled_at(now))
                    {
                        let mut machine = lock(&cell.machine);
                        let mut changes = machine.advance(now);
                        if !matches!(machine.state, ServiceState::Suspended { .. }) {
                            changes.extend(machine.suspend_by_trigger(
                                now,
                                &trigger.name,
                                *for_secs,
                            ));
                        }
                        let _ = self.commit_changes(
                            cell,
                            &machine,
                            changes,
                            std::mem::take(&mut messages),
                            events,
                        );
                    }
                }
                Action::Degrade { service } => {
                    if let Some(cell) = self.services.get(*service)
                        && (cell.state_code() == STATE_ACTIVE || !cell.settled_at(now))
                    {
                        let mut machine = lock(&cell.machine);
                        let mut changes = machine.advance(now);
                        if matches!(machine.state, ServiceState::Active) {
                            changes.extend(machine.degrade_by_trigger(now, &trigger.name));
                        }
                        let _ = self.commit_changes(
                            cell,
                            &machine,
                            changes,
                            std::mem::take(&mut messages),
                            events,
                        );
                    }
                }
                Action::Notify { channel } if new_episode => messages.push(Event::new(
                    now,
                    What::Notified {
                        trigger: trigger.name.clone(),
                        channel: channel.clone(),
                    },
                )),
                Action::Report {
                    recipient,
                    within_secs,
                    per_event,
                } if new_episode || *per_event => {
                    // `per event`: one report per counted event, due from when the
                    // provider became aware of it.
                    let about = match (per_event, counted) {
                        (true, Some(counted)) => Some(counted),
                        (true, None) => continue,
                        (false, _) => None,
                    };
                    if !self.may_open_report(&trigger.name, key) {
                        cell.suppressed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let from = about.map_or(now, |a| a.aware_at);
                    let report = Report {
                        id: self.next_report_id(),
                        trigger: trigger.name.clone(),
                        recipient: recipient.clone(),
                        key: key.map(str::to_string),
                        event: about.map(|a| EventRef {
                            kind: a.kind.to_string(),
                            id: a.id.to_string(),
                            aware_at: a.aware_at,
                        }),
                        opened: now,
                        due: from.plus_secs(*within_secs),
                        acknowledged: None,
                        filed: None,
                        closed: None,
                    };
                    if let Ok(text) = serde_json::to_string(&report) {
                        writes.push(StateWrite::Report(report.id, Some(text)));
                    }
                    messages.push(Event::new(
                        now,
                        What::ReportOpened {
                            report: report.id,
                            trigger: trigger.name.clone(),
                            recipient: recipient.clone(),
                            due: report.due,
                            about: about.map(|a| format!("{}:{}", a.kind, a.id)),
                        },
                    ));
                    opened.push(report);
                }
                Action::Block { key_slot, for_secs } => {
                    let slot = *key_slot as usize;
                    let (Some(key), Some(field)) = (key, self.ir().fields.get(slot)) else {
                        continue;
                    };
                    let until = now.plus_secs(*for_secs);
                    let covered = read(&self.blocks)
                        .by_slot
                        .get(&slot)
                        .and_then(|keys| keys.get(key))
                        .is_some_and(|b| b.until > now && b.for_secs >= *for_secs);
                    if !covered {
                        let block = Block {
                            field: field.path.clone(),
                            key: key.to_string(),
                            until,
                            cause: format!("trigger `{}`", trigger.name),
                            for_secs: *for_secs,
                        };
                        let _ =
                            self.add_block(slot, block, now, std::mem::take(&mut messages), events);
                    }
                }
                Action::Notify { .. } | Action::Report { .. } => {}
            }
        }
        if !messages.is_empty() || !writes.is_empty() {
            let _ = self.persist(&mut messages, writes);
            events.append(&mut messages);
        }
        if !opened.is_empty() {
            let mut reports = lock(&self.reports);
            reports.extend(opened.into_iter().map(|r| (r.id, r)));
        }
    }

    /// Whether `trigger` may open one more report (for `key`): the open-report bounds
    /// keep anonymous traffic from flooding a regulator's queue.
    pub(super) fn may_open_report(&self, trigger: &str, key: Option<&str>) -> bool {
        let reports = lock(&self.reports);
        let open = reports
            .values()
            .filter(|r| r.filed.is_none() && r.trigger == trigger);
        let (mut all, mut this_key) = (0, 0);
        for r in open {
            all += 1;
            this_key += usize::from(key.is_some() && r.key.as_deref() == key);
        }
        all < self.options.max_open_reports
            && (key.is_none() || this_key < self.options.max_open_reports_per_key)
    }

    /// Per trigger, how many reports were not opened because the open-report bounds
    /// were reached (see [`Options`]); triggers that suppressed none are left out.
    pub fn suppressed_reports(&self) -> Vec<(String, u64)> {
        self.triggers
            .iter()
            .zip(&self.ir().triggers)
            .map(|(cell, t)| (t.name.clone(), cell.suppressed.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// One firing's whole context.
struct Context<'a> {
    trigger: &'a ir::Trigger,
    key: Option<&'a str>,
    tally: Tally,
    new_episode: bool,
    /// The event counted, when this firing counted one that matched.
    counted: Option<&'a Counted<'a>>,
}

/// The share of decisions in the window where the predicate held, in percent.
fn rate_percent(tally: Tally) -> f64 {
    if tally.total == 0 {
        0.0
    } else {
        tally.hits as f64 * 100.0 / tally.total as f64
    }
}

/// Whether an episode that was open at the last evaluation was still open just before
/// this decision was counted: time alone ends an episode once the window stops
/// satisfying the condition, whether or not a decision was evaluated meanwhile.
/// `tally` includes this decision. For a rising `rate`, the share between evaluations
/// also moves with decisions where `P` did not hold, which by rule do not end an
/// episode; there only time counts — the episode ended if every hit had left the
/// window.
fn episode_went_on(trigger: &ir::Trigger, rising: bool, tally: Tally, hit: bool) -> bool {
    let before = Tally {
        hits: tally.hits.saturating_sub(u64::from(hit)),
        total: tally.total.saturating_sub(1),
    };
    match trigger.threshold {
        Threshold::Rate(_) if rising => before.hits > 0,
        // A count falls only as hits leave the window; a condition evaluated on every
        // decision was last evaluated on the decision before this one.
        _ => condition_holds(trigger, before),
    }
}

fn condition_holds(trigger: &ir::Trigger, tally: Tally) -> bool {
    match trigger.threshold {
        Threshold::Count(n) => {
            ordered(trigger.op, i64::try_from(tally.hits).unwrap_or(i64::MAX), n)
        }
        Threshold::Rate(p) => {
            tally.total > 0
                && tally.total >= trigger.min_decisions
                && ordered(trigger.op, rate_percent(tally), p)
        }
    }
}

/// `count 50 within 10m >= 50`, `rate 6.2% (31 of 500) within 1h > 5%`.
fn observed(trigger: &ir::Trigger, tally: Tally) -> String {
    let within = human_duration(trigger.within_secs);
    match trigger.threshold {
        Threshold::Count(n) => format!(
            "count {} within {within} {} {n}",
            tally.hits,
            trigger.op.as_str()
        ),
        Threshold::Rate(p) => format!(
            "rate {:.1}% ({} of {}) within {within} {} {p}%",
            rate_percent(tally),
            tally.hits,
            tally.total,
            trigger.op.as_str()
        ),
    }
}
