//! Reports: opened by triggers (`report "recipient" within D [per event]`), then
//! acknowledged, filed and closed by named people, each step audited; listed, and
//! overdue when still open after their deadline.

use super::{
    Action, Event, GovernError, Governor, Report, StateWrite, Step, StoreError, Timestamp, What,
    lock,
};

/// A step of a report's life an operator takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStep {
    Acknowledge,
    File,
    Close,
}

impl ReportStep {
    pub fn name(self) -> &'static str {
        match self {
            ReportStep::Acknowledge => "acknowledge",
            ReportStep::File => "file",
            ReportStep::Close => "close",
        }
    }

    fn past(self) -> &'static str {
        match self {
            ReportStep::Acknowledge => "acknowledged",
            ReportStep::File => "filed",
            ReportStep::Close => "closed",
        }
    }
}

impl Governor {
    /// Marks an open report filed (acknowledging it too, if nobody had).
    pub fn file_report(
        &self,
        id: u64,
        by: &str,
        now: Timestamp,
    ) -> Result<Vec<Event>, GovernError> {
        self.report_step(id, ReportStep::File, by, now)
    }

    /// Takes one step of report `id`'s life. Steps go in order — acknowledge, file,
    /// close — and each is taken once; filing an unacknowledged report acknowledges it
    /// at the same time, by the same person.
    pub fn report_step(
        &self,
        id: u64,
        step: ReportStep,
        by: &str,
        now: Timestamp,
    ) -> Result<Vec<Event>, GovernError> {
        let mut events = Vec::new();
        self.lift_expired_blocks(now, &mut events);
        if by.trim().is_empty() {
            return Err(GovernError::Refused(format!(
                "a report is {} by a named person: say who",
                step.past()
            )));
        }
        let mut reports = lock(&self.reports);
        let report = reports
            .get_mut(&id)
            .ok_or_else(|| GovernError::Unknown(format!("there is no report {id}")))?;
        let mut updated = report.clone();
        let done = Step {
            at: now,
            by: by.to_string(),
        };
        let mut steps = Vec::new();
        match step {
            ReportStep::Acknowledge => {
                refuse_if_taken(id, "acknowledged", updated.acknowledged.as_ref())?;
                updated.acknowledged = Some(done);
                steps.push(What::ReportAcknowledged {
                    report: id,
                    by: by.to_string(),
                });
            }
            ReportStep::File => {
                refuse_if_taken(id, "filed", updated.filed.as_ref())?;
                if updated.acknowledged.is_none() {
                    updated.acknowledged = Some(done.clone());
                    steps.push(What::ReportAcknowledged {
                        report: id,
                        by: by.to_string(),
                    });
                }
                updated.filed = Some(done);
                steps.push(What::ReportFiled {
                    report: id,
                    by: by.to_string(),
                });
            }
            ReportStep::Close => {
                refuse_if_taken(id, "closed", updated.closed.as_ref())?;
                if updated.filed.is_none() {
                    return Err(GovernError::Refused(format!(
                        "report {id} is {}: it is closed once it is filed",
                        updated.stage()
                    )));
                }
                updated.closed = Some(done);
                steps.push(What::ReportClosed {
                    report: id,
                    by: by.to_string(),
                });
            }
        }
        let text = serde_json::to_string(&updated)
            .map_err(|e| StoreError(format!("cannot encode a report: {e}")))?;
        let mut taken: Vec<Event> = steps.into_iter().map(|w| Event::new(now, w)).collect();
        self.persist(&mut taken, vec![StateWrite::Report(id, Some(text))])?;
        *report = updated;
        events.append(&mut taken);
        Ok(events)
    }

    /// Every report, oldest first; with `overdue_only`, the open ones past their
    /// deadline at `now`.
    pub fn reports(&self, now: Timestamp, overdue_only: bool) -> Vec<Report> {
        lock(&self.reports)
            .values()
            .filter(|r| !overdue_only || r.is_overdue(now))
            .cloned()
            .collect()
    }

    /// How many reports are open (not filed), and how many of those are overdue.
    pub fn report_counts(&self, now: Timestamp) -> (usize, usize) {
        open_and_overdue(lock(&self.reports).values(), now)
    }

    /// With `recovery { require report filed }`, the reports that keep approvals of
    /// `service`'s recovery from counting: open reports of the triggers that suspend it.
    pub(super) fn reports_blocking_approval(&self, service: usize) -> Vec<Report> {
        let requires = self
            .ir()
            .services
            .get(service)
            .and_then(|s| s.recovery.as_ref())
            .is_some_and(|r| r.require_report_filed);
        if !requires {
            return Vec::new();
        }
        let suspends = |actions: &[Action]| {
            actions
                .iter()
                .any(|a| matches!(a, Action::Suspend { service: s, .. } if *s == service))
        };
        let ir = self.ir();
        let mut triggers: Vec<&str> = ir
            .triggers
            .iter()
            .filter(|t| suspends(&t.actions))
            .map(|t| t.name.as_str())
            .collect();
        for kind in &ir.events {
            triggers.extend(
                kind.policy
                    .triggers
                    .iter()
                    .filter(|t| suspends(&t.actions))
                    .map(|t| t.name.as_str()),
            );
        }
        lock(&self.reports)
            .values()
            .filter(|r| r.is_open() && triggers.contains(&r.trigger.as_str()))
            .cloned()
            .collect()
    }
}

/// How many of `reports` are open at `now`, and how many of those are overdue.
pub fn open_and_overdue<'a>(
    reports: impl IntoIterator<Item = &'a Report>,
    now: Timestamp,
) -> (usize, usize) {
    reports.into_iter().fold((0, 0), |(open, overdue), r| {
        (
            open + usize::from(r.is_open()),
            overdue + usize::from(r.is_overdue(now)),
        )
    })
}

fn refuse_if_taken(id: u64, what: &str, step: Option<&Step>) -> Result<(), GovernError> {
    match step {
        Some(step) => Err(GovernError::Refused(format!(
            "report {id} was already {what} by {} at {}",
            step.by, step.at
        ))),
        None => Ok(()),
    }
}
