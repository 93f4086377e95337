//! Delivering notifications (`notify "channel"`, reports opened) from the store's
//! outbox to sinks: an HTTP webhook (a JSON body, an `Idempotency-Key` header) or a
//! file of JSON lines (`-`: standard output), for development. [`Routes`] say which
//! sink takes which channel.
//!
//! One worker thread, off the decision path: each pass sends the oldest waiting
//! notification of every channel; a delivered one leaves the outbox in the same commit
//! as the audit record of its delivery, a failed one is retried with exponential
//! backoff. So delivery is at least once, in order per channel, and survives restarts;
//! a receiver that keeps the keys it has seen gets each notification exactly once.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::governance::clock::{Clock, SystemClock, Timestamp};
use crate::governance::lock;
use crate::governance::outbox::Notification;
use crate::governance::store::{Entry, StateWrite, Store, StoreError};

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// `POST URL` with the notification as JSON; any 2xx is a delivery.
    Webhook { url: String, timeout: Duration },
    /// One JSON line per notification, appended (and flushed) to the file; `-` is
    /// standard output.
    File(PathBuf),
}

impl Sink {
    /// A destination as written on the command line: an `http://` or `https://` URL is
    /// a webhook, anything else a file (`-`: standard output).
    pub fn parse(destination: &str, timeout: Duration) -> Result<Sink, String> {
        if destination.is_empty() {
            return Err("the destination is empty: give a URL, a file or `-`".into());
        }
        if destination.starts_with("http://") || destination.starts_with("https://") {
            Ok(Sink::Webhook {
                url: destination.to_string(),
                timeout,
            })
        } else {
            Ok(Sink::File(PathBuf::from(destination)))
        }
    }

    fn describe(&self) -> String {
        match self {
            Sink::Webhook { url, .. } => format!("webhook {url}"),
            Sink::File(path) if path.as_os_str() == "-" => "stdout".into(),
            Sink::File(path) => format!("file {}", path.display()),
        }
    }
}

/// Which sink takes a channel: the route of its own name, else of the longest prefix
/// pattern it matches (`report:*`), else the default (`*`). A channel no route takes
/// waits in the outbox, failing with the reason, until a server with a route for it
/// starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    routes: Vec<(String, Sink)>,
}

impl Routes {
    /// Every channel to `sink`.
    pub fn all(sink: Sink) -> Routes {
        Routes {
            routes: vec![("*".to_string(), sink)],
        }
    }

    /// Adds a route for `channel` (a name, a prefix ending in `*`, or `*`); a channel
    /// routed twice is refused.
    pub fn add(&mut self, channel: &str, sink: Sink) -> Result<(), String> {
        if channel.is_empty() {
            return Err("the channel is empty: write CHANNEL=DESTINATION".into());
        }
        if channel[..channel.len() - 1].contains('*') {
            return Err(format!(
                "`{channel}`: `*` may only end a channel pattern (`report:*`, `*`)"
            ));
        }
        if self.routes.iter().any(|(c, _)| c == channel) {
            return Err(format!("channel `{channel}` is routed twice"));
        }
        self.routes.push((channel.to_string(), sink));
        Ok(())
    }

    /// Parses `CHANNEL=DESTINATION` and adds it.
    pub fn add_written(&mut self, route: &str, timeout: Duration) -> Result<(), String> {
        let (channel, destination) = route.split_once('=').ok_or_else(|| {
            format!("`{route}` is not CHANNEL=DESTINATION (`alerts=https://…`, `report:*=-`)")
        })?;
        self.add(channel.trim(), Sink::parse(destination.trim(), timeout)?)
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The index of the route that takes `channel`.
    fn route_of(&self, channel: &str) -> Option<usize> {
        if let Some(exact) = self.routes.iter().position(|(c, _)| c == channel) {
            return Some(exact);
        }
        self.routes
            .iter()
            .enumerate()
            .filter_map(|(i, (pattern, _))| {
                let prefix = pattern.strip_suffix('*')?;
                channel.starts_with(prefix).then_some((prefix.len(), i))
            })
            .max()
            .map(|(_, i)| i)
    }

    /// Of `channels`, the ones no route takes.
    pub fn unrouted<'c>(&self, channels: impl IntoIterator<Item = &'c str>) -> Vec<&'c str> {
        channels
            .into_iter()
            .filter(|c| self.route_of(c).is_none())
            .collect()
    }
}

/// The channels a policy's notifications go to: each `notify`'s, and
/// `report:RECIPIENT` for each report a trigger opens.
pub fn channels_of(policy: &crate::ir::Policy) -> Vec<String> {
    let mut channels = Vec::new();
    let triggers = policy
        .triggers
        .iter()
        .chain(policy.events.iter().flat_map(|e| e.policy.triggers.iter()));
    for trigger in triggers {
        for action in &trigger.actions {
            let channel = match action {
                crate::ir::Action::Notify { channel } => channel.clone(),
                crate::ir::Action::Report { recipient, .. } => format!("report:{recipient}"),
                _ => continue,
            };
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
    }
    channels
}

/// How delivery goes, for `/healthz` and `/metrics`.
#[derive(Debug, Default)]
pub struct Delivery {
    pub pending: AtomicU64,
    pub delivered: AtomicU64,
    pub failures: AtomicU64,
    /// The last attempt failed (cleared by the next delivery).
    pub failing: AtomicBool,
    pub last_error: Mutex<Option<String>>,
}

/// Tunables of the worker.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// How often the outbox is looked at when there is nothing to send.
    pub poll: Duration,
    /// The wait after a first failed attempt; it doubles each time, up to `max_retry`.
    pub retry: Duration,
    pub max_retry: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            poll: Duration::from_millis(200),
            retry: Duration::from_millis(500),
            max_retry: Duration::from_secs(300),
        }
    }
}

/// Most notifications one pass reads.
const PASS: usize = 1_000;

/// Starts the worker; it runs as long as the process.
pub fn start(
    store: Arc<Store>,
    routes: Routes,
    pace: Pace,
    delivery: Arc<Delivery>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    // What a restart left in the outbox is pending from the start, not from the
    // first pass.
    delivery
        .pending
        .store(store.outbox_len().unwrap_or(0), Ordering::Relaxed);
    std::thread::Builder::new()
        .name("bylaw-notify".into())
        .spawn(move || {
            let mut senders = Senders::new(routes);
            loop {
                let sent = pass(&store, &mut senders, pace, &delivery);
                if !sent {
                    std::thread::sleep(pace.poll);
                }
            }
        })
}

/// One look at the outbox: sends the due head of each channel. Whether anything was
/// delivered (then the next pass comes at once).
fn pass(store: &Store, senders: &mut Senders, pace: Pace, delivery: &Delivery) -> bool {
    let rows = match store.outbox(PASS) {
        Ok(rows) => rows,
        Err(e) => {
            note_failure(delivery, &e.to_string());
            return false;
        }
    };
    // A short read is the whole outbox; only a full one needs counting.
    let read = rows.len() as u64;
    let pending = if rows.len() < PASS {
        read
    } else {
        store.outbox_len().unwrap_or(read)
    };
    delivery.pending.store(pending, Ordering::Relaxed);
    let now = SystemClock.now();
    let mut channels = HashSet::new();
    let mut delivered_any = false;
    for (id, text) in rows {
        let notification: Notification = match serde_json::from_str(&text) {
            Ok(n) => n,
            Err(e) => {
                // A row this version cannot read is set aside in the audit log, not
                // retried for ever.
                let _ = store.commit(
                    vec![audit_entry(
                        now,
                        "notification_unreadable",
                        serde_json::json!({ "id": id, "error": e.to_string(), "row": text }),
                    )],
                    vec![StateWrite::Outbox(id, None)],
                );
                continue;
            }
        };
        // Only the oldest of each channel: order per channel is kept.
        if !channels.insert(notification.channel.clone()) {
            continue;
        }
        if notification.next_at.is_some_and(|t| t > now) {
            continue;
        }
        let Some(sender) = senders.for_channel(&notification.channel) else {
            let message = format!(
                "no sink takes channel `{}`: route it with --notify-route",
                notification.channel
            );
            note_failure(delivery, &message);
            let _ = retry_later(store, notification, now, &message, pace);
            continue;
        };
        match sender.send(&notification) {
            Ok(()) => {
                let body = serde_json::json!({
                    "id": id,
                    "key": notification.key,
                    "channel": notification.channel,
                    "attempts": notification.attempts + 1,
                    "sink": sender.sink.describe(),
                });
                let committed = store.commit(
                    vec![audit_entry(now, "notification_delivered", body)],
                    vec![StateWrite::Outbox(id, None)],
                );
                match committed {
                    Ok(_) => {
                        delivery.delivered.fetch_add(1, Ordering::Relaxed);
                        delivery.failing.store(false, Ordering::Relaxed);
                        delivered_any = true;
                    }
                    Err(e) => note_failure(delivery, &e.to_string()),
                }
            }
            Err(message) => {
                note_failure(delivery, &format!("{}: {message}", notification.channel));
                let _ = retry_later(store, notification, now, &message, pace);
            }
        }
    }
    delivered_any
}

fn note_failure(delivery: &Delivery, message: &str) {
    delivery.failures.fetch_add(1, Ordering::Relaxed);
    delivery.failing.store(true, Ordering::Relaxed);
    *lock(&delivery.last_error) = Some(message.to_string());
}

fn retry_later(
    store: &Store,
    mut notification: Notification,
    now: Timestamp,
    message: &str,
    pace: Pace,
) -> Result<(), StoreError> {
    notification.attempts = notification.attempts.saturating_add(1);
    let doublings = notification.attempts.saturating_sub(1).min(20);
    let wait = pace
        .retry
        .saturating_mul(1 << doublings)
        .min(pace.max_retry);
    notification.next_at = Some(Timestamp(
        now.0
            .saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
    ));
    notification.last_error = Some(message.to_string());
    let text = serde_json::to_string(&notification)
        .map_err(|e| StoreError(format!("cannot encode a notification: {e}")))?;
    store
        .commit(
            Vec::new(),
            vec![StateWrite::Outbox(notification.id, Some(text))],
        )
        .map(|_| ())
}

fn audit_entry(at: Timestamp, kind: &str, body: serde_json::Value) -> Entry {
    Entry {
        at,
        kind: kind.to_string(),
        body: body.to_string(),
        retain_until: None,
    }
}

/// A sender per route.
struct Senders {
    routes: Routes,
    senders: Vec<Sender>,
}

impl Senders {
    fn new(routes: Routes) -> Senders {
        let senders = routes
            .routes
            .iter()
            .map(|(_, sink)| Sender::new(sink.clone()))
            .collect();
        Senders { routes, senders }
    }

    fn for_channel(&mut self, channel: &str) -> Option<&mut Sender> {
        let index = self.routes.route_of(channel)?;
        self.senders.get_mut(index)
    }
}

/// Sends to one sink, keeping what a sink keeps between notifications.
struct Sender {
    sink: Sink,
    agent: Option<ureq::Agent>,
}

impl Sender {
    fn new(sink: Sink) -> Sender {
        let agent = match &sink {
            Sink::Webhook { timeout, .. } => Some(
                ureq::Agent::config_builder()
                    .timeout_global(Some(*timeout))
                    .http_status_as_error(false)
                    .build()
                    .into(),
            ),
            Sink::File(_) => None,
        };
        Sender { sink, agent }
    }

    fn send(&mut self, notification: &Notification) -> Result<(), String> {
        let body = notification.payload().to_string();
        match (&self.sink, &self.agent) {
            (Sink::Webhook { url, .. }, Some(agent)) => {
                let response = agent
                    .post(url)
                    .header("content-type", "application/json")
                    .header("idempotency-key", &notification.key)
                    .header("user-agent", concat!("bylaw/", env!("CARGO_PKG_VERSION")))
                    .send(&body)
                    .map_err(|e| e.to_string())?;
                let status = response.status();
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("the webhook answered {status}"))
                }
            }
            (Sink::File(path), _) if path.as_os_str() == "-" => {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                writeln!(out, "{body}")
                    .and_then(|()| out.flush())
                    .map_err(|e| e.to_string())
            }
            (Sink::File(path), _) => {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                writeln!(file, "{body}")
                    .and_then(|()| file.sync_data())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))
            }
            (Sink::Webhook { .. }, None) => Err("the webhook client is missing".into()),
        }
    }
}
