//! The state machine of one service: active → degraded / suspended → recovering
//! (approvals, then ramp stages) → active.
//!
//! Pure: every method takes the time and returns the changes it made, each stamped
//! with the moment it logically happened (a cooldown that ended an hour ago ended an
//! hour ago, even if nobody looked until now). The governor persists and audits them.

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use crate::check::program::Recovery;
use crate::runtime::decision::human_duration;

/// One approval of a recovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    pub role: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ServiceState {
    #[default]
    Active,
    /// Until an operator restores it.
    Degraded { since: Timestamp, cause: String },
    Suspended {
        since: Timestamp,
        cause: String,
        /// The end of the suspension's `for D`; `None`: held until an operator resumes.
        until: Option<Timestamp>,
    },
    Recovering {
        since: Timestamp,
        approvals: Vec<Approval>,
        /// The ramp stage; `None` while approvals are pending.
        stage: Option<usize>,
        stage_since: Timestamp,
    },
}

impl ServiceState {
    pub fn name(&self) -> &'static str {
        match self {
            ServiceState::Active => "active",
            ServiceState::Degraded { .. } => "degraded",
            ServiceState::Suspended { .. } => "suspended",
            ServiceState::Recovering { .. } => "recovering",
        }
    }
}

/// What a request to the service gets, decided without the service's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Serve,
    ServeDegraded,
    /// Suspended, or recovering and not (yet) admitted by the ramp.
    Fallback,
    /// Admitted when the request id's ramp bucket (0..10,000) is below this.
    Ramp(u32),
}

/// A state change, for the timeline and the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub at: Timestamp,
    pub from: String,
    pub to: String,
    pub cause: String,
}

/// A service's declared behaviour and its current state.
#[derive(Debug, Clone)]
pub struct Machine {
    pub name: String,
    pub recovery: Option<Recovery>,
    pub state: ServiceState,
}

/// Why an operator command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Bounds the work of one `advance` after a long silence (cooldown/timeout cycles).
const MAX_STEPS: usize = 10_000;

impl Machine {
    pub fn new(name: &str, recovery: Option<Recovery>) -> Machine {
        Machine {
            name: name.to_string(),
            recovery,
            state: ServiceState::Active,
        }
    }

    fn cooldown(&self) -> u64 {
        self.recovery
            .as_ref()
            .and_then(|r| r.cooldown_secs)
            .unwrap_or(0)
    }

    /// A short description of the state, with what it waits for.
    pub fn label(&self) -> String {
        match &self.state {
            ServiceState::Active => "active".into(),
            ServiceState::Degraded { .. } => "degraded".into(),
            ServiceState::Suspended { until: None, .. } => {
                "suspended (held until an operator resumes it)".into()
            }
            ServiceState::Suspended { .. } => match self.ready_at() {
                Some(at) => format!("suspended until {at}"),
                None => "suspended".into(),
            },
            ServiceState::Recovering {
                stage: None,
                approvals,
                ..
            } => {
                let pending = self.pending_roles(approvals);
                format!("recovering: awaiting approval by {}", quoted(&pending))
            }
            ServiceState::Recovering {
                stage: Some(stage), ..
            } => format!("recovering: ramp {}%", self.ramp_percent(*stage)),
        }
    }

    fn ramp_percent(&self, stage: usize) -> f64 {
        self.recovery
            .as_ref()
            .and_then(|r| r.ramp.get(stage).copied())
            .unwrap_or(100.0)
    }

    /// When a suspension with an end may move on: its `for D` and its cooldown both over.
    fn ready_at(&self) -> Option<Timestamp> {
        match &self.state {
            ServiceState::Suspended {
                since,
                until: Some(until),
                ..
            } => Some((*until).max(since.plus_secs(self.cooldown()))),
            _ => None,
        }
    }

    /// The next moment time alone changes the state, if any.
    pub fn deadline(&self) -> Option<Timestamp> {
        match &self.state {
            ServiceState::Suspended { .. } => self.ready_at(),
            ServiceState::Recovering {
                since,
                stage,
                stage_since,
                ..
            } => {
                let recovery = self.recovery.as_ref()?;
                let timeout = recovery.timeout_secs.map(|t| since.plus_secs(t));
                let next_stage = stage
                    .and(recovery.ramp_every_secs)
                    .map(|every| stage_since.plus_secs(every));
                match (timeout, next_stage) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            _ => None,
        }
    }

    pub fn admission(&self) -> Admission {
        match &self.state {
            ServiceState::Active => Admission::Serve,
            ServiceState::Degraded { .. } => Admission::ServeDegraded,
            ServiceState::Suspended { .. } | ServiceState::Recovering { stage: None, .. } => {
                Admission::Fallback
            }
            ServiceState::Recovering {
                stage: Some(stage), ..
            } => Admission::Ramp((self.ramp_percent(*stage) * 100.0).round() as u32),
        }
    }

    fn set(&mut self, at: Timestamp, state: ServiceState, cause: String) -> Change {
        let from = self.label();
        self.state = state;
        Change {
            at,
            from,
            to: self.label(),
            cause,
        }
    }

    /// A trigger's `suspend S [for D]`. A recovering service falls back to suspended
    /// (a relapse); a suspended one stays as it is.
    pub fn suspend_by_trigger(
        &mut self,
        now: Timestamp,
        trigger: &str,
        for_secs: Option<u64>,
    ) -> Option<Change> {
        let relapse = matches!(self.state, ServiceState::Recovering { .. });
        if matches!(self.state, ServiceState::Suspended { .. }) {
            return None;
        }
        let until = match (for_secs, &self.recovery) {
            (Some(d), _) => Some(now.plus_secs(d)),
            (None, Some(_)) => Some(now),
            // Nothing would ever end it: an operator must.
            (None, None) => None,
        };
        let mut cause = format!("trigger `{trigger}`");
        if let Some(d) = for_secs {
            cause.push_str(&format!(": suspend for {}", human_duration(d)));
        }
        if relapse {
            cause.push_str(" (relapse during recovery)");
        }
        Some(self.set(
            now,
            ServiceState::Suspended {
                since: now,
                cause: cause.clone(),
                until,
            },
            cause,
        ))
    }

    /// A trigger's `degrade S`: only an active service becomes degraded.
    pub fn degrade_by_trigger(&mut self, now: Timestamp, trigger: &str) -> Option<Change> {
        if self.state != ServiceState::Active {
            return None;
        }
        let cause = format!("trigger `{trigger}`");
        Some(self.set(
            now,
            ServiceState::Degraded {
                since: now,
                cause: cause.clone(),
            },
            cause,
        ))
    }

    /// The kill switch: suspended until an operator resumes, whatever the state.
    pub fn suspend_by_operator(
        &mut self,
        now: Timestamp,
        by: &str,
        reason: &str,
    ) -> Result<Change, Refused> {
        if let ServiceState::Suspended { until: None, .. } = self.state {
            return Err(Refused(format!(
                "service `{}` is already suspended until an operator resumes it",
                self.name
            )));
        }
        let cause = format!("operator {by}: {reason}");
        Ok(self.set(
            now,
            ServiceState::Suspended {
                since: now,
                cause: cause.clone(),
                until: None,
            },
            cause,
        ))
    }

    /// An operator's resume: a degraded service is restored; a held suspension is
    /// released into its recovery procedure (cooldown, approvals, ramp).
    pub fn resume(&mut self, now: Timestamp, by: &str) -> Result<Vec<Change>, Refused> {
        match &self.state {
            ServiceState::Degraded { .. } => Ok(vec![self.set(
                now,
                ServiceState::Active,
                format!("operator {by}: restored"),
            )]),
            ServiceState::Suspended {
                since,
                cause,
                until: None,
            } => {
                let (since, cause) = (*since, cause.clone());
                self.state = ServiceState::Suspended {
                    since,
                    cause,
                    until: Some(now),
                };
                let mut changes = Vec::new();
                let ready = self.ready_at().unwrap_or(now);
                if ready > now {
                    changes.push(Change {
                        at: now,
                        from: "suspended (held until an operator resumes it)".into(),
                        to: self.label(),
                        cause: format!("operator {by}: released; the cooldown runs first"),
                    });
                }
                changes.extend(self.advance(now));
                Ok(changes)
            }
            ServiceState::Suspended { .. } => Err(Refused(format!(
                "service `{}` is {}; it moves to recovery on its own",
                self.name,
                self.label()
            ))),
            ServiceState::Recovering { .. } => Err(Refused(format!(
                "service `{}` is already {}",
                self.name,
                self.label()
            ))),
            ServiceState::Active => Err(Refused(format!(
                "service `{}` is active: nothing to resume",
                self.name
            ))),
        }
    }

    fn pending_roles(&self, approvals: &[Approval]) -> Vec<String> {
        let mut pending: Vec<String> = self
            .recovery
            .as_ref()
            .map(|r| r.approvers.clone())
            .unwrap_or_default();
        for a in approvals {
            if let Some(i) = pending.iter().position(|r| *r == a.role) {
                pending.remove(i);
            }
        }
        pending
    }

    /// An approval by a named person, for a role (the first pending one if not given).
    /// One person approves once per recovery: two `approve by` lines need two people.
    pub fn approve(
        &mut self,
        now: Timestamp,
        by: &str,
        role: Option<&str>,
    ) -> Result<(String, Vec<Change>), Refused> {
        let ServiceState::Recovering {
            since,
            approvals,
            stage: None,
            ..
        } = &self.state
        else {
            return Err(Refused(format!(
                "service `{}` is {}: there is no approval to give",
                self.name,
                self.label()
            )));
        };
        let since = *since;
        if approvals.iter().any(|a| a.by == by) {
            return Err(Refused(format!(
                "{by} has already approved this recovery of `{}`; the next approval must come from someone else",
                self.name
            )));
        }
        let pending = self.pending_roles(approvals);
        let role = match role {
            Some(r) if pending.iter().any(|p| p == r) => r.to_string(),
            Some(r) => {
                return Err(Refused(format!(
                    "no approval by `{r}` is pending for `{}` (pending: {})",
                    self.name,
                    quoted(&pending)
                )));
            }
            None => match pending.first() {
                Some(r) => r.clone(),
                None => {
                    return Err(Refused(format!(
                        "service `{}` needs no approval",
                        self.name
                    )));
                }
            },
        };
        let mut approvals = approvals.clone();
        approvals.push(Approval {
            by: by.to_string(),
            role: role.clone(),
            at: now,
        });
        let complete = self.pending_roles(&approvals).is_empty();
        let cause = format!("approved by {by} as \"{role}\"");
        if !complete {
            self.state = ServiceState::Recovering {
                since,
                approvals,
                stage: None,
                stage_since: now,
            };
            return Ok((role, Vec::new()));
        }
        Ok((role, vec![self.start_ramp(now, since, approvals, cause)]))
    }

    fn start_ramp(
        &mut self,
        at: Timestamp,
        since: Timestamp,
        approvals: Vec<Approval>,
        cause: String,
    ) -> Change {
        let has_ramp = self.recovery.as_ref().is_some_and(|r| !r.ramp.is_empty());
        let state = if has_ramp {
            ServiceState::Recovering {
                since,
                approvals,
                stage: Some(0),
                stage_since: at,
            }
        } else {
            ServiceState::Active
        };
        self.set(at, state, cause)
    }

    /// Applies every change that time alone makes up to `now`.
    pub fn advance(&mut self, now: Timestamp) -> Vec<Change> {
        let mut changes = Vec::new();
        for _ in 0..MAX_STEPS {
            match self.step(now) {
                Some(change) => changes.push(change),
                None => break,
            }
        }
        changes
    }

    fn step(&mut self, now: Timestamp) -> Option<Change> {
        let deadline = self.deadline().filter(|d| *d <= now)?;
        match self.state.clone() {
            ServiceState::Suspended { .. } => match &self.recovery {
                None => Some(self.set(
                    deadline,
                    ServiceState::Active,
                    "the suspension ended".into(),
                )),
                Some(recovery) if recovery.approvers.is_empty() => {
                    let cause = "cooldown over".to_string();
                    Some(self.start_ramp(deadline, deadline, Vec::new(), cause))
                }
                Some(_) => Some(self.set(
                    deadline,
                    ServiceState::Recovering {
                        since: deadline,
                        approvals: Vec::new(),
                        stage: None,
                        stage_since: deadline,
                    },
                    "cooldown over".into(),
                )),
            },
            ServiceState::Recovering {
                since,
                approvals,
                stage,
                stage_since,
            } => {
                let recovery = self.recovery.clone()?;
                let stage_end = stage
                    .and(recovery.ramp_every_secs)
                    .map(|every| stage_since.plus_secs(every));
                if let (Some(stage), Some(end)) = (stage, stage_end)
                    && end == deadline
                {
                    let next = stage + 1;
                    let state = if next < recovery.ramp.len() {
                        ServiceState::Recovering {
                            since,
                            approvals,
                            stage: Some(next),
                            stage_since: end,
                        }
                    } else {
                        ServiceState::Active
                    };
                    let cause = format!(
                        "ramp stage {}% held without relapse",
                        recovery.ramp.get(stage).copied().unwrap_or(100.0)
                    );
                    return Some(self.set(end, state, cause));
                }
                let timeout = recovery.timeout_secs.unwrap_or(0);
                let cause = format!(
                    "recovery not complete within its timeout of {}",
                    human_duration(timeout)
                );
                Some(self.set(
                    deadline,
                    ServiceState::Suspended {
                        since: deadline,
                        cause: cause.clone(),
                        until: Some(deadline),
                    },
                    cause,
                ))
            }
            _ => None,
        }
    }
}

fn quoted(roles: &[String]) -> String {
    roles
        .iter()
        .map(|r| format!("\"{r}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
