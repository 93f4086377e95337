//! What the runtime did: the timeline of a replay and the body of every audit record
//! that is not a decision.

use serde::Serialize;

use super::clock::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub at: Timestamp,
    /// The audit record that holds this event, once it is durable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(flatten)]
    pub what: What,
}

impl Event {
    pub fn new(at: Timestamp, what: What) -> Event {
        Event {
            at,
            seq: None,
            what,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum What {
    /// A trigger's condition started to hold (an episode begins).
    TriggerFired {
        trigger: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        observed: String,
    },
    ServiceChanged {
        service: String,
        from: String,
        to: String,
        cause: String,
    },
    Notified {
        trigger: String,
        channel: String,
    },
    ReportOpened {
        report: u64,
        trigger: String,
        recipient: String,
        due: Timestamp,
        /// The event a `per event` report is about: `kind:id`.
        #[serde(skip_serializing_if = "Option::is_none")]
        about: Option<String>,
    },
    ReportAcknowledged {
        report: u64,
        by: String,
    },
    ReportFiled {
        report: u64,
        by: String,
    },
    ReportClosed {
        report: u64,
        by: String,
    },
    /// The host posted an event (`POST /v1/events/KIND`, `Governor::post_event`).
    EventPosted {
        kind: String,
        id: String,
        aware_at: Timestamp,
        body: serde_json::Value,
    },
    Blocked {
        field: String,
        key: String,
        until: Timestamp,
        cause: String,
    },
    Unblocked {
        field: String,
        key: String,
        cause: String,
    },
    Approved {
        service: String,
        by: String,
        role: String,
    },
}

impl What {
    /// The audit record's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            What::TriggerFired { .. } => "trigger_fired",
            What::ServiceChanged { .. } => "service_changed",
            What::Notified { .. } => "notified",
            What::ReportOpened { .. } => "report_opened",
            What::ReportAcknowledged { .. } => "report_acknowledged",
            What::ReportFiled { .. } => "report_filed",
            What::ReportClosed { .. } => "report_closed",
            What::EventPosted { .. } => "event_posted",
            What::Blocked { .. } => "blocked",
            What::Unblocked { .. } => "unblocked",
            What::Approved { .. } => "approved",
        }
    }

    /// One line for people: `service chat: active → suspended (trigger …)`.
    pub fn describe(&self) -> String {
        match self {
            What::TriggerFired {
                trigger,
                key,
                observed,
            } => match key {
                Some(key) => format!("trigger {trigger} fired for \"{key}\": {observed}"),
                None => format!("trigger {trigger} fired: {observed}"),
            },
            What::ServiceChanged {
                service,
                from,
                to,
                cause,
            } => format!("service {service}: {from} → {to} ({cause})"),
            What::Notified { trigger, channel } => {
                format!("notify \"{channel}\" (trigger {trigger})")
            }
            What::ReportOpened {
                report,
                trigger,
                recipient,
                due,
                about,
            } => {
                let about = about
                    .as_ref()
                    .map(|a| format!(" about {a}"))
                    .unwrap_or_default();
                format!(
                    "report {report} to \"{recipient}\"{about} opened, due {due} (trigger {trigger})"
                )
            }
            What::ReportAcknowledged { report, by } => {
                format!("report {report} acknowledged by {by}")
            }
            What::ReportFiled { report, by } => format!("report {report} filed by {by}"),
            What::ReportClosed { report, by } => format!("report {report} closed by {by}"),
            What::EventPosted {
                kind, id, aware_at, ..
            } => format!("event {kind} \"{id}\" posted (aware at {aware_at})"),
            What::Blocked {
                field,
                key,
                until,
                cause,
            } => format!("block {field} \"{key}\" until {until} ({cause})"),
            What::Unblocked { field, key, cause } => {
                format!("unblock {field} \"{key}\" ({cause})")
            }
            What::Approved { service, by, role } => {
                format!("approval of {service}'s recovery by {by} as \"{role}\"")
            }
        }
    }
}
