//! Replaying traffic through the whole stateful pipeline on the traffic's own clock,
//! and the operator commands that a replay (or `bylaw ctl`) can give.
//!
//! A traffic file is JSON lines. A request line: `{"at": TIME, "request": {…}}`. An
//! event line: `{"at": TIME, "event": "incident", "body": {…}}`. An operator line:
//! `{"at": TIME, "ctl": "approve", "service": "chat", "by": "alice"}` (see
//! [`Command`]). `TIME` is RFC 3339 or milliseconds since 1970; lines must not go back
//! in time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::posted::Posted;
use super::reports::ReportStep;
use super::{Event, GovernError, Governor, Status, What};
use crate::runtime::decision::{Decision, Outcome};

/// An operator command, from `bylaw ctl` or a traffic file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "ctl", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// The kill switch.
    Suspend {
        service: String,
        #[serde(default = "operator")]
        by: String,
        reason: String,
    },
    Resume {
        service: String,
        #[serde(default = "operator")]
        by: String,
    },
    Approve {
        service: String,
        by: String,
        #[serde(default)]
        role: Option<String>,
    },
    Block {
        field: String,
        key: String,
        /// A duration such as `24h` or `30m`.
        #[serde(rename = "for")]
        for_: String,
        #[serde(default = "operator")]
        by: String,
        #[serde(default)]
        reason: Option<String>,
    },
    Unblock {
        field: String,
        key: String,
        #[serde(default = "operator")]
        by: String,
    },
    /// Acknowledges a report: someone is on it.
    Acknowledge {
        report: u64,
        #[serde(default = "operator")]
        by: String,
    },
    /// Marks a report filed (sent to its recipient).
    File {
        report: u64,
        #[serde(default = "operator")]
        by: String,
    },
    /// Closes a filed report.
    Close {
        report: u64,
        #[serde(default = "operator")]
        by: String,
    },
}

fn operator() -> String {
    "operator".into()
}

/// `24h`, `30m`, `7d`, `90s` → seconds; at most 100 years, as in a policy.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let secs = humantime::parse_duration(text)
        .map(|d| d.as_secs())
        .map_err(|e| format!("`{text}` is not a duration such as 30m, 24h or 7d: {e}"))?;
    if secs > crate::check::MAX_DURATION_SECS {
        return Err(format!(
            "`{text}` is longer than 100 years, the longest duration"
        ));
    }
    Ok(secs)
}

impl Command {
    /// The command in words: `approve chat by alice`.
    pub fn describe(&self) -> String {
        match self {
            Command::Suspend {
                service,
                by,
                reason,
            } => {
                format!("suspend {service} by {by}: {reason}")
            }
            Command::Resume { service, by } => format!("resume {service} by {by}"),
            Command::Approve { service, by, role } => match role {
                Some(role) => format!("approve {service} by {by} as \"{role}\""),
                None => format!("approve {service} by {by}"),
            },
            Command::Block {
                field,
                key,
                for_,
                by,
                ..
            } => format!("block {field} \"{key}\" for {for_} by {by}"),
            Command::Unblock { field, key, by } => format!("unblock {field} \"{key}\" by {by}"),
            Command::Acknowledge { report, by } => format!("acknowledge report {report} by {by}"),
            Command::File { report, by } => format!("file report {report} by {by}"),
            Command::Close { report, by } => format!("close report {report} by {by}"),
        }
    }

    /// Carries the command out at `now`.
    pub fn apply(&self, governor: &Governor, now: Timestamp) -> Result<Vec<Event>, GovernError> {
        match self {
            Command::Suspend {
                service,
                by,
                reason,
            } => governor.suspend(service, by, reason, now),
            Command::Resume { service, by } => governor.resume(service, by, now),
            Command::Approve { service, by, role } => {
                governor.approve(service, by, role.as_deref(), now)
            }
            Command::Block {
                field,
                key,
                for_,
                by,
                reason,
            } => {
                let secs = parse_duration(for_).map_err(GovernError::Refused)?;
                let cause = match reason {
                    Some(r) => format!("operator {by}: {r}"),
                    None => format!("operator {by}"),
                };
                governor.block(field, key, secs, &cause, now)
            }
            Command::Unblock { field, key, by } => governor.unblock(field, key, by, now),
            Command::Acknowledge { report, by } => {
                governor.report_step(*report, ReportStep::Acknowledge, by, now)
            }
            Command::File { report, by } => {
                governor.report_step(*report, ReportStep::File, by, now)
            }
            Command::Close { report, by } => {
                governor.report_step(*report, ReportStep::Close, by, now)
            }
        }
    }
}

/// One traffic line: its time, the request's raw bytes (decoded by the same streaming
/// decoder as `eval` and `serve`, so a line is decided identically everywhere), and the
/// other keys, which make an operator command.
struct Line {
    at: Timestamp,
    request: Option<Box<serde_json::value::RawValue>>,
    /// An event line's kind and body.
    event: Option<(String, Box<serde_json::value::RawValue>)>,
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Line {
    fn parse(text: &str) -> Result<Line, String> {
        let keys: Keys = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut at = None;
        let mut request = None;
        let mut kind: Option<String> = None;
        let mut body = None;
        let mut rest = serde_json::Map::new();
        for (key, raw) in keys.0 {
            match key.as_str() {
                "at" => {
                    at = Some(serde_json::from_str(raw.get()).map_err(|e| format!("`at`: {e}"))?)
                }
                "request" => request = Some(raw),
                "event" => {
                    kind = Some(
                        serde_json::from_str(raw.get())
                            .map_err(|e| format!("`event` names a kind: {e}"))?,
                    )
                }
                "body" => body = Some(raw),
                _ => {
                    let value = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
                    rest.insert(key, value);
                }
            }
        }
        let at = at.ok_or("missing field `at`")?;
        let event = match (kind, body) {
            (Some(kind), Some(body)) => Some((kind, body)),
            (None, None) => None,
            (Some(_), None) => return Err("an event line needs its `body`".into()),
            (None, Some(_)) => return Err("`body` belongs to an event line: add `event`".into()),
        };
        Ok(Line {
            at,
            request,
            event,
            rest,
        })
    }
}

/// The keys of a JSON object in order, each value kept raw; a repeated key is an error.
struct Keys(Vec<(String, Box<serde_json::value::RawValue>)>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> serde::de::Visitor<'de> for KeysVisitor {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys: Vec<(String, Box<serde_json::value::RawValue>)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if keys.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format!(
                            "the key `{key}` appears more than once"
                        )));
                    }
                    let value = map.next_value()?;
                    keys.push((key, value));
                }
                Ok(Keys(keys))
            }
        }
        deserializer.deserialize_map(KeysVisitor)
    }
}

/// What one traffic line did.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Decided {
        at: Timestamp,
        decision: Decision,
        events: Vec<Event>,
    },
    Operated {
        at: Timestamp,
        command: Command,
        result: Result<Vec<Event>, String>,
    },
    /// An event line: the kind, and what posting it did (or why it was refused).
    Posted {
        at: Timestamp,
        kind: String,
        result: Result<Posted, String>,
    },
}

/// Totals of a replay.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub requests: u64,
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Episodes per trigger.
    pub triggers: BTreeMap<String, u64>,
    pub commands: u64,
    pub refused: u64,
    /// Event lines accepted, and refused (a bad body or an unknown kind).
    pub events: u64,
    pub refused_events: u64,
}

/// Runs traffic lines, in order, through a governor.
#[derive(Debug)]
pub struct Replay<'g> {
    governor: &'g Governor,
    last: Option<Timestamp>,
    pub summary: Summary,
}

impl<'g> Replay<'g> {
    pub fn new(governor: &'g Governor) -> Replay<'g> {
        Replay {
            governor,
            last: None,
            summary: Summary::default(),
        }
    }

    /// Runs one line. An error says what is wrong with the line; nothing ran.
    pub fn step(&mut self, text: &str) -> Result<Step, String> {
        let line = Line::parse(text)?;
        if let Some(last) = self.last
            && line.at < last
        {
            return Err(format!("time goes back: {} comes after {}", line.at, last));
        }
        self.last = Some(line.at);
        if let Some((kind, body)) = line.event {
            if line.request.is_some() || !line.rest.is_empty() {
                return Err("an event line has `at`, `event` and `body` only".into());
            }
            let result = self
                .governor
                .post_event(&kind, body.get().as_bytes(), line.at)
                .map_err(|e| e.to_string());
            match &result {
                Ok(posted) => {
                    self.summary.events += 1;
                    self.count_triggers(&posted.events);
                }
                Err(_) => self.summary.refused_events += 1,
            }
            return Ok(Step::Posted {
                at: line.at,
                kind,
                result,
            });
        }
        match line.request {
            Some(request) => {
                if !line.rest.is_empty() {
                    return Err("a request line has `at` and `request` only".into());
                }
                let governed = match self.governor.encode_json(request.get().as_bytes(), line.at) {
                    Ok(record) => self.governor.decide(&record, line.at),
                    Err(errors) => super::Governed {
                        decision: self.governor.invalid(errors, line.at),
                        events: Vec::new(),
                    },
                };
                self.count(&governed.decision, &governed.events);
                Ok(Step::Decided {
                    at: line.at,
                    decision: governed.decision,
                    events: governed.events,
                })
            }
            None => {
                let command: Command = serde_json::from_value(serde_json::Value::Object(line.rest))
                    .map_err(|e| format!("not a request and not an operator command: {e}"))?;
                let result = command
                    .apply(self.governor, line.at)
                    .map_err(|e| e.to_string());
                self.summary.commands += 1;
                if result.is_err() {
                    self.summary.refused += 1;
                }
                Ok(Step::Operated {
                    at: line.at,
                    command,
                    result,
                })
            }
        }
    }

    fn count(&mut self, decision: &Decision, events: &[Event]) {
        self.summary.requests += 1;
        *self
            .summary
            .outcomes
            .entry(outcome_name(decision.outcome))
            .or_default() += 1;
        self.count_triggers(events);
    }

    fn count_triggers(&mut self, events: &[Event]) {
        for event in events {
            if let What::TriggerFired { trigger, .. } = &event.what {
                *self.summary.triggers.entry(trigger.clone()).or_default() += 1;
            }
        }
    }

    /// The state when the traffic ends, with the changes time made up to then.
    pub fn finish(&self) -> Result<(Status, Vec<Event>), GovernError> {
        self.governor.status(self.last.unwrap_or_default())
    }
}

fn outcome_name(outcome: Outcome) -> &'static str {
    outcome.as_str()
}
