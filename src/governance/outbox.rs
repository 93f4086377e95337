//! Notifications for the outside world: every `notify "channel"` and every report a
//! trigger opens is queued in the store's outbox in the same durable commit as the
//! audit record of the event behind it, so that none is lost to a crash, and a
//! delivery worker (`server::notify`) sends them at least once, each with a stable
//! idempotency key, in order per channel.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Event, Governor, StateWrite, Timestamp, What};

/// Default of [`super::Options::max_outbox`].
pub const DEFAULT_MAX_OUTBOX: usize = 100_000;

/// A notification waiting for delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The outbox number: increasing in the order the notifications arose.
    pub id: u64,
    /// The same on every attempt: a receiver that has seen it ignores a repeat.
    pub key: String,
    /// `notify`'s channel, or `report:RECIPIENT` for a report opened.
    pub channel: String,
    pub policy: String,
    pub at: Timestamp,
    /// The audit event it announces (`notified` or `report_opened`).
    pub event: serde_json::Value,
    #[serde(default)]
    pub attempts: u32,
    /// Not before this time (after a failed attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Notification {
    /// What a sink sends: the notification without its delivery bookkeeping.
    pub fn payload(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "key": self.key,
            "channel": self.channel,
            "policy": self.policy,
            "at": self.at,
            "event": self.event,
        })
    }
}

impl Governor {
    /// Adds an outbox row for each event of `events` that goes outside, when the
    /// runtime delivers notifications ([`super::Options::outbox`]). Past the outbox's
    /// bound a notification is dropped and counted — decisions never wait for it; the
    /// event itself is in the audit log either way.
    pub(super) fn queue_notifications(&self, events: &[Event], writes: &mut Vec<StateWrite>) {
        let Some(store) = self.store.as_ref().filter(|_| self.options.outbox) else {
            return;
        };
        let outgoing: Vec<(&Event, String)> = events
            .iter()
            .filter_map(|e| match &e.what {
                What::Notified { channel, .. } => Some((e, channel.clone())),
                What::ReportOpened { recipient, .. } => Some((e, format!("report:{recipient}"))),
                _ => None,
            })
            .collect();
        if outgoing.is_empty() {
            return;
        }
        let mut room = usize::try_from(store.outbox_len().unwrap_or(0))
            .map_or(0, |waiting| self.options.max_outbox.saturating_sub(waiting));
        for (event, channel) in outgoing {
            if room == 0 {
                self.dropped_notifications.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            room -= 1;
            let id = store.next_outbox_id();
            let body = serde_json::to_value(event).unwrap_or_default();
            let policy = &self.ir().name;
            let mut hash = Sha256::new();
            hash.update(policy.as_bytes());
            hash.update(id.to_le_bytes());
            hash.update(body.to_string().as_bytes());
            let notification = Notification {
                id,
                key: hex::encode(hash.finalize()),
                channel,
                policy: policy.clone(),
                at: event.at,
                event: body,
                attempts: 0,
                next_at: None,
                last_error: None,
            };
            if let Ok(text) = serde_json::to_string(&notification) {
                writes.push(StateWrite::Outbox(id, Some(text)));
            }
        }
    }

    /// Notifications dropped because the outbox was full, since the policy was loaded.
    pub fn dropped_notifications(&self) -> u64 {
        self.dropped_notifications.load(Ordering::Relaxed)
    }
}
