//! What operators do and see: suspend, resume and approve services, and the status
//! of the whole runtime.

use serde::Serialize;

use super::{
    Block, Change, Event, GovernError, Governor, Machine, Refused, Report, ServiceCell,
    ServiceState, Tally, Timestamp, What, Window, lock, read,
};

impl Governor {
    pub(super) fn service(&self, name: &str) -> Result<&ServiceCell, GovernError> {
        self.services
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
                GovernError::Unknown(format!(
                    "the policy has no service `{name}` (services: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            })
    }

    /// An operator command on a service: bring it up to `now`, then apply `command`,
    /// which returns its changes and the events that go with them (first).
    pub(super) fn operate(
        &self,
        name: &str,
        now: Timestamp,
        command: impl FnOnce(&mut Machine) -> Result<(Vec<Change>, Vec<Event>), Refused>,
    ) -> Result<Vec<Event>, GovernError> {
        let cell = self.service(name)?;
        let mut events = Vec::new();
        self.lift_expired_blocks(now, &mut events);
        let mut machine = lock(&cell.machine);
        let changes = machine.advance(now);
        self.commit_changes(cell, &machine, changes, Vec::new(), &mut events)?;
        let (changes, extra) = command(&mut machine)?;
        self.commit_changes(cell, &machine, changes, extra, &mut events)?;
        Ok(events)
    }

    /// The kill switch: suspends a service until an operator resumes it.
    pub fn suspend(
        &self,
        name: &str,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Vec<Event>, GovernError> {
        self.operate(name, now, |m| {
            Ok((vec![m.suspend_by_operator(now, by, reason)?], Vec::new()))
        })
    }

    /// Restores a degraded service, or releases a held suspension into recovery.
    pub fn resume(&self, name: &str, by: &str, now: Timestamp) -> Result<Vec<Event>, GovernError> {
        self.operate(name, now, |m| Ok((m.resume(now, by)?, Vec::new())))
    }

    /// Records an approval of a service's recovery.
    pub fn approve(
        &self,
        name: &str,
        by: &str,
        role: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<Event>, GovernError> {
        if let Some(index) = self.services.iter().position(|s| s.name == name) {
            let open = self.reports_blocking_approval(index);
            if !open.is_empty() {
                let listed: Vec<String> = open
                    .iter()
                    .map(|r| format!("report {} to \"{}\" (due {})", r.id, r.recipient, r.due))
                    .collect();
                return Err(GovernError::Refused(format!(
                    "approvals of `{name}`'s recovery count once its reports are filed; open: {}",
                    listed.join(", ")
                )));
            }
        }
        self.operate(name, now, |m| {
            let (role, changes) = m.approve(now, by, role)?;
            let approved = Event::new(
                now,
                What::Approved {
                    service: name.to_string(),
                    by: by.to_string(),
                    role,
                },
            );
            Ok((changes, vec![approved]))
        })
    }

    /// Brings every service up to `now` and returns the whole state.
    pub fn status(&self, now: Timestamp) -> Result<(Status, Vec<Event>), GovernError> {
        let mut events = Vec::new();
        self.lift_expired_blocks(now, &mut events);
        let mut services = Vec::new();
        for cell in &self.services {
            let mut machine = lock(&cell.machine);
            let changes = machine.advance(now);
            self.commit_changes(cell, &machine, changes, Vec::new(), &mut events)?;
            services.push(ServiceReport {
                name: cell.name.clone(),
                label: machine.label(),
                fallback: cell.fallback.clone(),
                state: machine.state.clone(),
            });
        }
        let (blocks, reports) = self.blocks_and_reports(now);
        Ok((
            Status {
                at: now,
                services,
                blocks,
                reports,
            },
            events,
        ))
    }

    /// The blocks in force at `now`, by field and key, and every report.
    pub(super) fn blocks_and_reports(&self, now: Timestamp) -> (Vec<Block>, Vec<Report>) {
        let mut blocks: Vec<Block> = read(&self.blocks)
            .by_slot
            .values()
            .flat_map(|keys| keys.values().cloned())
            .filter(|b| b.until > now)
            .collect();
        blocks.sort_by(|a, b| (&a.field, &a.key).cmp(&(&b.field, &b.key)));
        let reports = lock(&self.reports).values().cloned().collect();
        (blocks, reports)
    }

    /// The state at `now` without changing anything: time-driven transitions are worked
    /// out on copies and neither applied nor recorded (`bylaw ctl status` is a query).
    pub fn view(&self, now: Timestamp) -> Status {
        let services = self
            .services
            .iter()
            .map(|cell| {
                let mut machine = lock(&cell.machine).clone();
                machine.advance(now);
                ServiceReport {
                    name: cell.name.clone(),
                    label: machine.label(),
                    fallback: cell.fallback.clone(),
                    state: machine.state,
                }
            })
            .collect();
        let (blocks, reports) = self.blocks_and_reports(now);
        Status {
            at: now,
            services,
            blocks,
            reports,
        }
    }

    /// A trigger's current counts — over requests or over an event kind: for a `by`
    /// trigger, of one key.
    pub fn tally(&self, trigger: &str, key: Option<&str>, now: Timestamp) -> Option<Tally> {
        let ir = self.ir();
        let cell = match ir.triggers.iter().position(|t| t.name == trigger) {
            Some(index) => self.triggers.get(index)?,
            None => self.event_trigger(trigger)?,
        };
        match (&cell.window, key) {
            (Window::Global(w), None) => Some(w.tally(now)),
            (Window::Keyed { windows, .. }, Some(key)) => windows.peek(key, now),
            _ => None,
        }
    }
}

/// The whole runtime state at one moment, for `bylaw ctl status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub at: Timestamp,
    pub services: Vec<ServiceReport>,
    pub blocks: Vec<Block>,
    pub reports: Vec<Report>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceReport {
    pub name: String,
    /// The state in words, with what it waits for.
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    pub state: ServiceState,
}
