//! Events the host posts: one report per incident, deadlines from awareness, repeats,
//! complaints, the report lifecycle, overdue reports, `require report filed`, and a
//! restart that keeps all of it. Time is simulated; nothing sleeps.

use std::sync::Arc;

use bylaw::governance::clock::Timestamp;
use bylaw::governance::posted::PostError;
use bylaw::governance::reports::ReportStep;
use bylaw::governance::store::Store;
use bylaw::governance::{GovernError, Governor, Options, Report, What};
use bylaw::runtime::decision::Outcome;

/// 2026-11-18T11:06:40Z
const T0: u64 = 1_795_000_000_000;
const DAY: u64 = 86_400;

fn at(secs: u64) -> Timestamp {
    Timestamp(T0 + secs * 1000)
}

fn rfc3339(secs: u64) -> String {
    at(secs).rfc3339()
}

fn policy() -> bylaw::Guard {
    let source = std::fs::read_to_string(crate::data("governance/incidents.bylaw")).unwrap();
    bylaw::Policy::compile(&source).unwrap()
}

fn governor() -> Governor {
    Governor::new(policy(), None, Options::default()).unwrap()
}

fn durable(path: &std::path::Path) -> Governor {
    let store = Arc::new(Store::open(path).unwrap());
    Governor::new(policy(), Some(store), Options::default()).unwrap()
}

fn incident(g: &Governor, id: &str, severity: &str, aware: u64, now: u64) -> Vec<What> {
    let body = format!(
        r#"{{"id": "{id}", "severity": "{severity}", "service": "chat", "aware_at": "{}"}}"#,
        rfc3339(aware)
    );
    let posted = g.post_event("incident", body.as_bytes(), at(now)).unwrap();
    assert!(!posted.duplicate, "{id} is new");
    posted.events.into_iter().map(|e| e.what).collect()
}

fn complaint(g: &Governor, id: &str, user: &str, now: u64) -> Vec<What> {
    let body = format!(
        r#"{{"id": "{id}", "user": {{"id": "{user}"}}, "aware_at": "{}"}}"#,
        rfc3339(now)
    );
    let posted = g.post_event("complaint", body.as_bytes(), at(now)).unwrap();
    posted.events.into_iter().map(|e| e.what).collect()
}

fn reports(g: &Governor, now: u64) -> Vec<Report> {
    g.reports(at(now), false)
}

fn chat_request(g: &Governor, user: &str, now: u64) -> Outcome {
    let json = format!(r#"{{"id": "r1", "service": "chat", "user": {{"id": "{user}"}}}}"#);
    g.decide_json(json.as_bytes(), at(now)).decision.outcome
}

#[test]
fn every_serious_incident_opens_its_own_report_due_fifteen_days_after_awareness() {
    let g = governor();
    let first = incident(&g, "inc-1", "serious", 0, 3_600);
    assert!(
        first.iter().any(
            |w| matches!(w, What::ReportOpened { about: Some(a), .. } if a == "incident:inc-1")
        ),
        "{first:?}"
    );
    // A second serious incident in the same window opens a second report (the v0
    // encoding as a request flag opened none: the episode was already running).
    incident(&g, "inc-2", "serious", 2 * DAY, 2 * DAY + 60);
    let open = reports(&g, 3 * DAY);
    assert_eq!(open.len(), 2, "{open:?}");
    let by_event: Vec<(&str, Timestamp)> = open
        .iter()
        .map(|r| (r.event.as_ref().unwrap().id.as_str(), r.due))
        .collect();
    assert_eq!(
        by_event,
        vec![("inc-1", at(15 * DAY)), ("inc-2", at(17 * DAY))],
        "due 15 days after the provider became aware, not after the post"
    );
    assert!(open.iter().all(|r| r.recipient == "market-surveillance"));
}

#[test]
fn deadlines_follow_the_kind_of_incident_two_ten_or_fifteen_days() {
    let g = governor();
    incident(&g, "a", "death", 100, 200);
    incident(&g, "b", "widespread", 300, 400);
    incident(&g, "c", "infrastructure", 500, 600);
    incident(&g, "d", "serious", 700, 800);
    incident(&g, "e", "minor", 900, 1_000);
    let due: Vec<(String, u64)> = reports(&g, 2_000)
        .iter()
        .map(|r| {
            let event = r.event.as_ref().unwrap();
            let secs = (r.due.0 - T0) / 1000;
            (event.id.clone(), secs)
        })
        .collect();
    assert_eq!(
        due,
        vec![
            ("a".to_string(), 100 + 10 * DAY),
            ("b".to_string(), 300 + 2 * DAY),
            ("c".to_string(), 500 + 2 * DAY),
            ("d".to_string(), 700 + 15 * DAY),
        ],
        "one death opens one report; a minor incident none"
    );
}

#[test]
fn an_event_without_aware_at_counts_from_its_post_and_an_aware_at_in_the_future_is_capped() {
    let g = governor();
    let body = r#"{"id": "x", "severity": "death", "service": "chat"}"#;
    g.post_event("incident", body.as_bytes(), at(1_000))
        .unwrap();
    let future = format!(
        r#"{{"id": "y", "severity": "death", "service": "chat", "aware_at": "{}"}}"#,
        rfc3339(50 * DAY)
    );
    g.post_event("incident", future.as_bytes(), at(2_000))
        .unwrap();
    let due: Vec<Timestamp> = reports(&g, 3_000).iter().map(|r| r.due).collect();
    assert_eq!(due, vec![at(1_000 + 10 * DAY), at(2_000 + 10 * DAY)]);
}

#[test]
fn a_repeated_post_of_the_same_event_is_not_counted_again() {
    let g = governor();
    incident(&g, "inc-1", "serious", 0, 10);
    let body = format!(
        r#"{{"id": "inc-1", "severity": "serious", "service": "chat", "aware_at": "{}"}}"#,
        rfc3339(0)
    );
    let again = g.post_event("incident", body.as_bytes(), at(20)).unwrap();
    assert!(again.duplicate);
    assert!(again.events.is_empty(), "{:?}", again.events);
    assert_eq!(reports(&g, 30).len(), 1);
}

#[test]
fn complaints_get_a_response_deadline_and_repeated_ones_block_the_user() {
    let g = governor();
    complaint(&g, "c1", "u-7", 100);
    complaint(&g, "c2", "u-7", 200);
    assert_eq!(chat_request(&g, "u-7", 250), Outcome::Allow);
    let third = complaint(&g, "c3", "u-7", 300);
    assert!(
        third
            .iter()
            .any(|w| matches!(w, What::Blocked { key, .. } if key == "u-7")),
        "{third:?}"
    );
    assert_eq!(chat_request(&g, "u-7", 400), Outcome::Deny);
    assert_eq!(chat_request(&g, "u-8", 400), Outcome::Allow);
    let complainant: Vec<Timestamp> = reports(&g, 500)
        .iter()
        .filter(|r| r.recipient == "complainant")
        .map(|r| r.due)
        .collect();
    assert_eq!(
        complainant,
        vec![at(100 + 15 * DAY), at(200 + 15 * DAY), at(300 + 15 * DAY)]
    );
}

#[test]
fn a_report_filed_late_is_overdue_in_between_and_not_after() {
    let g = governor();
    incident(&g, "w", "widespread", 0, 60);
    let report = reports(&g, 100)[0].id;
    assert!(g.reports(at(DAY), true).is_empty(), "due in two days");
    assert_eq!(g.reports(at(3 * DAY), true).len(), 1, "overdue on day 3");
    assert_eq!(g.report_counts(at(3 * DAY)), (1, 1));
    g.report_step(report, ReportStep::File, "dpo@example.com", at(4 * DAY))
        .unwrap();
    assert!(g.reports(at(5 * DAY), true).is_empty());
    assert_eq!(g.report_counts(at(5 * DAY)), (0, 0));
}

#[test]
fn report_steps_go_in_order_each_once_by_a_named_person() {
    let g = governor();
    incident(&g, "d", "death", 0, 60);
    let id = reports(&g, 100)[0].id;
    let refused = |r: Result<Vec<bylaw::governance::Event>, GovernError>| match r {
        Err(GovernError::Refused(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let m = refused(g.report_step(id, ReportStep::Close, "ana", at(200)));
    assert!(m.contains("closed once it is filed"), "{m}");
    refused(g.report_step(id, ReportStep::Acknowledge, " ", at(200)));
    let ack = g
        .report_step(id, ReportStep::Acknowledge, "ana", at(300))
        .unwrap();
    assert!(matches!(&ack[0].what, What::ReportAcknowledged { by, .. } if by == "ana"));
    let m = refused(g.report_step(id, ReportStep::Acknowledge, "bo", at(400)));
    assert!(m.contains("already acknowledged by ana"), "{m}");
    g.report_step(id, ReportStep::File, "bo", at(500)).unwrap();
    g.report_step(id, ReportStep::Close, "cy", at(600)).unwrap();
    let report = &reports(&g, 700)[0];
    assert_eq!(report.stage(), "closed");
    assert_eq!(report.acknowledged.as_ref().unwrap().by, "ana");
    assert_eq!(report.filed.as_ref().unwrap().by, "bo");
    assert_eq!(report.closed.as_ref().unwrap().by, "cy");
    assert!(matches!(
        g.report_step(99, ReportStep::File, "x", at(800)),
        Err(GovernError::Unknown(_))
    ));
}

#[test]
fn approvals_count_only_once_the_incident_report_is_filed() {
    let g = governor();
    incident(&g, "inc-1", "serious", 0, 60);
    assert_eq!(chat_request(&g, "u", 120), Outcome::Suspended);
    let refusal = g.approve("chat", "sam", None, at(300)).unwrap_err();
    let GovernError::Refused(message) = refusal else {
        panic!("{refusal:?}");
    };
    assert!(message.contains("market-surveillance"), "{message}");
    let id = reports(&g, 300)[0].id;
    g.file_report(id, "dpo", at(400)).unwrap();
    g.approve("chat", "sam", None, at(500)).unwrap();
    assert_eq!(chat_request(&g, "u", 600), Outcome::Allow);
}

#[test]
fn bad_events_are_refused_naming_the_field_and_unknown_kinds_naming_the_known() {
    let g = governor();
    let err = g
        .post_event(
            "incident",
            br#"{"id": "1", "severity": "bad", "service": "chat"}"#,
            at(0),
        )
        .unwrap_err();
    let PostError::Invalid(errors) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(errors[0].field, "severity", "{errors:?}");
    let err = g.post_event("outage", b"{}", at(0)).unwrap_err();
    assert!(err.to_string().contains("incident, complaint"), "{err}");
    let err = g.post_event("incident", b"[1]", at(0)).unwrap_err();
    assert!(matches!(err, PostError::Invalid(_)), "{err:?}");
    assert!(reports(&g, 10).is_empty());
}

#[test]
fn a_restart_keeps_open_reports_counted_events_and_known_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    {
        let g = durable(&path);
        complaint(&g, "c1", "u-1", 100);
        complaint(&g, "c2", "u-1", 200);
        incident(&g, "inc-1", "death", 0, 300);
    }
    let g = durable(&path);
    assert_eq!(reports(&g, 400).len(), 3, "two complaints and a death");
    // The two complaints before the restart still count: the third blocks the user.
    let third = complaint(&g, "c3", "u-1", 500);
    assert!(
        third.iter().any(|w| matches!(w, What::Blocked { .. })),
        "{third:?}"
    );
    // And a host retrying a post from before the restart is recognised.
    let body = format!(
        r#"{{"id": "inc-1", "severity": "death", "service": "chat", "aware_at": "{}"}}"#,
        rfc3339(0)
    );
    assert!(
        g.post_event("incident", body.as_bytes(), at(600))
            .unwrap()
            .duplicate
    );
    assert_eq!(reports(&g, 700).len(), 4);
    drop(g);
    // Everything is in the audit log, in order.
    let store = Store::open(&path).unwrap();
    let kinds: Vec<String> = store
        .records(1, 1_000)
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .filter(|k| k == "event_posted")
        .collect();
    assert_eq!(kinds.len(), 4);
    assert!(store.verify().unwrap().problems.is_empty());
}

#[test]
fn events_leave_the_store_once_no_window_can_count_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let options = Options {
        max_events: 2,
        ..Options::default()
    };
    let g = Governor::new(
        policy(),
        Some(Arc::new(Store::open(&path).unwrap())),
        options,
    )
    .unwrap();
    complaint(&g, "c1", "u", 0);
    complaint(&g, "c2", "u", 10);
    let full = g
        .post_event(
            "complaint",
            format!(
                r#"{{"id": "c3", "user": {{"id": "u"}}, "aware_at": "{}"}}"#,
                rfc3339(20)
            )
            .as_bytes(),
            at(20),
        )
        .unwrap_err();
    assert!(matches!(full, PostError::Full(_)), "{full:?}");
    // Thirty days on, both have left the window: room again.
    complaint(&g, "c4", "u", 31 * DAY);
    assert_eq!(
        reports(&g, 31 * DAY)
            .iter()
            .filter(|r| r.recipient == "complainant")
            .count(),
        3
    );
}

/// The notifications a receiver took, each once by its idempotency key (the body
/// names the key too), and how many were repeats.
fn notifications_taken(
    hook: &crate::server::Loopback,
) -> (Vec<(String, serde_json::Value)>, usize) {
    let mut unique: Vec<(String, serde_json::Value)> = Vec::new();
    let mut repeats = 0;
    for (headers, body) in hook.taken.lock().unwrap().iter() {
        let key = headers["idempotency-key"].to_str().unwrap().to_string();
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["key"], key.as_str());
        if unique.iter().any(|(k, _)| *k == key) {
            repeats += 1;
        } else {
            unique.push((key, body));
        }
    }
    (unique, repeats)
}

fn incidents_server(dir: tempfile::TempDir, webhook: &str) -> crate::server::Server {
    incidents_server_in(
        dir,
        &["--notify-webhook", webhook, "--notify-retry-ms", "20"],
    )
}

/// A durable server of the incidents policy in `dir`, with `args`.
fn incidents_server_in(dir: tempfile::TempDir, args: &[&str]) -> crate::server::Server {
    std::fs::copy(
        crate::data("governance/incidents.bylaw"),
        dir.path().join("policy.bylaw"),
    )
    .unwrap();
    crate::server::Server::start_in(dir, true, args)
}

fn health_until(
    server: &crate::server::Server,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, body) = server.get("/healthz");
        let health: serde_json::Value = serde_json::from_str(&body).unwrap();
        if ok(&health) {
            return health;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {health}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn post_incident(server: &crate::server::Server, id: &str, severity: &str) -> (u16, String) {
    let body = format!(r#"{{"id": "{id}", "severity": "{severity}", "service": "chat"}}"#);
    server.post("/v1/events/incident", "application/json", &body, None)
}

#[test]
fn the_server_takes_events_and_delivers_every_notification_once_in_order_across_a_restart() {
    // First nothing listens: the notifications wait in the outbox, and say so.
    let dead = {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", port.local_addr().unwrap())
    };
    let mut server = incidents_server(tempfile::tempdir().unwrap(), &dead);
    for (id, severity) in [("i1", "death"), ("i2", "widespread"), ("i3", "serious")] {
        let (status, body) = post_incident(&server, id, severity);
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = post_incident(&server, "i1", "death");
    assert_eq!(status, 200);
    assert!(body.contains(r#""duplicate":true"#), "{body}");
    let (status, body) = post_incident(&server, "i4", "fatal");
    assert_eq!(status, 400, "{body}");
    assert_eq!(crate::server::code(&body), "invalid-event");
    assert!(body.contains("severity"), "{body}");
    let (status, body) = server.post("/v1/events/outage", "application/json", "{}", None);
    assert_eq!(
        (status, crate::server::code(&body).as_str()),
        (404, "unknown-event")
    );
    let health = health_until(&server, "failing delivery", |h| {
        h["notifications"]["failing"] == true
    });
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["notifications"]["pending"], 3, "{health}");
    assert_eq!(health["reports"]["open"], 3);
    // Decisions go on meanwhile (the serious incident suspended chat).
    let decision = server.decide(&serde_json::json!({
        "id": "r", "service": "chat", "user": {"id": "u"}
    }));
    assert_eq!(decision["outcome"], "suspended");
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    drop(server);

    // Restarted with a receiver that fails its first three attempts.
    let hook = crate::server::loopback("/hook", 3);
    let server = incidents_server(dir, &hook.url);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while notifications_taken(&hook).0.len() < 3 {
        assert!(std::time::Instant::now() < deadline, "not all delivered");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (status, _) = post_incident(&server, "i5", "death");
    assert_eq!(status, 200);
    while notifications_taken(&hook).0.len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "the fourth not delivered"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (accepted, repeats) = notifications_taken(&hook);
    assert_eq!(accepted.len(), 4, "{accepted:?}");
    assert_eq!(repeats, 0);
    assert!(hook.attempts.load(std::sync::atomic::Ordering::SeqCst) >= 7);
    let about: Vec<&str> = accepted
        .iter()
        .map(|(_, n)| n["event"]["about"].as_str().unwrap())
        .collect();
    assert_eq!(
        about,
        ["incident:i1", "incident:i2", "incident:i3", "incident:i5"],
        "in order on the channel"
    );
    assert!(
        accepted
            .iter()
            .all(|(_, n)| n["channel"] == "report:market-surveillance")
    );
    let health = health_until(&server, "delivery recovered", |h| {
        h["notifications"]["pending"] == 0 && h["notifications"]["failing"] == false
    });
    assert_eq!(health["status"], "ok", "{health}");
    // Each delivery is in the audit log.
    let (_, log) = server.get_with_token("/v1/audit", Some("s3cret"));
    let delivered = log
        .lines()
        .filter(|l| l.contains(r#""kind":"notification_delivered""#))
        .count();
    assert_eq!(delivered, 4);
    // And the reports can be worked through the admin API.
    let (status, body) = server.post(
        "/v1/reports/1/close",
        "application/json",
        r#"{"by": "dpo"}"#,
        Some("s3cret"),
    );
    assert_eq!(
        (status, crate::server::code(&body).as_str()),
        (409, "refused")
    );
    let (status, body) = server.post(
        "/v1/reports/1/file",
        "application/json",
        r#"{"by": "dpo"}"#,
        Some("s3cret"),
    );
    assert_eq!(status, 200, "{body}");
    let (_, overdue) = server.get_with_token("/v1/reports?overdue=true", Some("s3cret"));
    assert_eq!(overdue, "[]");
}

#[test]
fn replay_shows_events_on_the_timeline_and_ctl_posts_them_and_lists_overdue_reports() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = dir.path().join("traffic.jsonl");
    std::fs::write(
        &traffic,
        [
            r#"{"at": "2026-12-01T09:00:00Z", "event": "incident", "body": {"id": "i1", "severity": "death", "service": "chat", "aware_at": "2026-12-01T08:00:00Z"}}"#,
            r#"{"at": "2026-12-01T09:05:00Z", "event": "incident", "body": {"id": "i1", "severity": "death", "service": "chat"}}"#,
            r#"{"at": "2026-12-01T09:10:00Z", "event": "incident", "body": {"id": "i2", "severity": "unheard-of", "service": "chat"}}"#,
            r#"{"at": "2026-12-01T09:20:00Z", "ctl": "acknowledge", "report": 1, "by": "ana"}"#,
            r#"{"at": "2026-12-12T09:00:00Z", "ctl": "file", "report": 1, "by": "ana"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let policy = crate::data("governance/incidents.bylaw");
    let policy = policy.to_str().unwrap();
    let out = crate::replay::bylaw(&["replay", policy, "--requests", traffic.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "2026-12-01T09:00:00Z  event incident \"i1\" posted (aware at 2026-12-01T08:00:00Z)",
        "report 1 to \"market-surveillance\" about incident:i1 opened, due 2026-12-11T08:00:00Z (trigger death)",
        "2026-12-01T09:05:00Z  event incident \"i1\" again: already counted",
        "2026-12-01T09:10:00Z  refused: event incident: invalid event: `severity`",
        "2026-12-01T09:20:00Z  report 1 acknowledged by ana",
        "2026-12-12T09:00:00Z  report 1 filed by ana",
        "2 event(s), 1 refused",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }

    let state = dir.path().join("state.redb");
    let ctl = |args: &[&str]| {
        let mut all = vec![
            "ctl",
            "--policy",
            policy,
            "--state",
            state.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        crate::replay::bylaw(&all)
    };
    let out = ctl(&[
        "--at",
        "2026-12-01T10:00:00Z",
        "event",
        "complaint",
        "--id",
        "c1",
        "--user.id",
        "u-1",
        "--aware_at",
        "2026-12-01T09:00:00Z",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("report 1 to \"complainant\""));
    let out = ctl(&[
        "--at",
        "2026-12-01T10:00:00Z",
        "event",
        "complaint",
        "--id",
        "c2",
        "--colour",
        "red",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no field `colour`"));
    let out = ctl(&["--at", "2026-12-10T10:00:00Z", "reports", "--overdue"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "no overdue reports"
    );
    let out = ctl(&["--at", "2026-12-17T10:00:00Z", "reports", "--overdue"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("OVERDUE since 2026-12-16T09:00:00Z"),
        "{text}"
    );
    let out = ctl(&["--at", "2026-12-17T10:00:00Z", "status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 open report(s), 1 overdue"));
}

#[test]
fn the_counts_of_an_event_trigger_are_readable_like_a_request_triggers() {
    let g = governor();
    incident(&g, "inc-1", "serious", 100, 100);
    incident(&g, "inc-2", "minor", 110, 110);
    complaint(&g, "c-1", "mallory", 120);
    complaint(&g, "c-2", "mallory", 130);
    complaint(&g, "c-3", "alice", 140);
    // One serious incident of the two counted; the minor one does not match.
    assert_eq!(g.tally("serious_incident", None, at(200)).unwrap().hits, 1);
    // Per key: mallory's two complaints, alice's one.
    let keyed = |user| {
        g.tally("repeated_complaints", Some(user), at(200))
            .unwrap()
            .hits
    };
    assert_eq!((keyed("mallory"), keyed("alice")), (2, 1));
    // Thirty days on, the window has emptied.
    assert_eq!(
        g.tally("serious_incident", None, at(100 + 30 * 86_400))
            .unwrap()
            .hits,
        0
    );
    assert_eq!(g.tally("no_such_trigger", None, at(200)), None);
}

fn post_complaint(server: &crate::server::Server, id: &str) -> (u16, String) {
    let body =
        format!(r#"{{"id": "{id}", "user": {{"id": "u1"}}, "aware_at": "2026-12-01T00:00:00Z"}}"#);
    server.post("/v1/events/complaint", "application/json", &body, None)
}

fn wait_for(hook: &crate::server::Loopback, n: usize, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while notifications_taken(hook).0.len() < n {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn each_channel_goes_to_the_sink_its_most_specific_route_names() {
    let regulator = crate::server::loopback("/regulator", 0);
    let others = crate::server::loopback("/others", 0);
    let exact = format!("report:market-surveillance={}", regulator.url);
    let prefix = format!("report:*={}", others.url);
    let server = incidents_server_in(
        tempfile::tempdir().unwrap(),
        &[
            "--notify-route",
            &exact,
            "--notify-route",
            &prefix,
            "--notify-retry-ms",
            "20",
        ],
    );
    assert_eq!(post_incident(&server, "i1", "serious").0, 200);
    assert_eq!(post_complaint(&server, "c1").0, 200);
    wait_for(
        &regulator,
        1,
        "the incident report reaches the regulator's sink",
    );
    wait_for(
        &others,
        1,
        "the complaint report reaches the prefix route's sink",
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let channels = |hook: &crate::server::Loopback| -> Vec<String> {
        notifications_taken(hook)
            .0
            .iter()
            .map(|(_, n)| n["channel"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(channels(&regulator), ["report:market-surveillance"]);
    assert_eq!(channels(&others), ["report:complainant"]);
    // The audit log names the sink each went to (recorded once the receiver answered).
    let delivered = || -> Vec<String> {
        let (_, log) = server.get_with_token("/v1/audit", Some("s3cret"));
        log.lines()
            .filter(|l| l.contains(r#""kind":"notification_delivered""#))
            .map(|l| {
                let record: serde_json::Value = serde_json::from_str(l).unwrap();
                record["body"]["sink"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{record}"))
                    .to_string()
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while delivered().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "{:?}", delivered());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sinks = delivered();
    assert_eq!(
        sinks,
        [
            format!("webhook {}", regulator.url),
            format!("webhook {}", others.url)
        ]
    );
}

#[test]
fn a_channel_no_route_takes_waits_visibly_without_holding_up_the_others() {
    let regulator = crate::server::loopback("/regulator", 0);
    let exact = format!("report:market-surveillance={}", regulator.url);
    let server = incidents_server_in(
        tempfile::tempdir().unwrap(),
        &["--notify-route", &exact, "--notify-retry-ms", "20"],
    );
    assert_eq!(post_complaint(&server, "c1").0, 200);
    assert_eq!(post_incident(&server, "i1", "serious").0, 200);
    wait_for(&regulator, 1, "the routed channel is delivered");
    // The routed one leaves the outbox; the unrouted one stays, failing with the reason.
    let health = health_until(&server, "the unrouted channel is failing alone", |h| {
        h["notifications"]["failing"] == true && h["notifications"]["pending"] == 1
    });
    let error = health["notifications"]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("no sink takes channel `report:complainant`"),
        "{health}"
    );
}

#[test]
fn a_malformed_route_is_refused_before_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.bylaw");
    std::fs::copy(crate::data("governance/incidents.bylaw"), &policy).unwrap();
    let state = dir.path().join("state.redb");
    for (route, message) in [
        ("alerts", "is not CHANNEL=DESTINATION"),
        ("a*b=-", "`*` may only end a channel pattern"),
        ("=-", "the channel is empty"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bylaw"))
            .args(["serve", "--addr", "127.0.0.1:0", "--policy"])
            .arg(&policy)
            .arg("--state")
            .arg(&state)
            .args(["--notify-route", route])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{route}: {stderr}");
        assert!(stderr.contains(message), "{route}: {stderr}");
    }
}

fn incidents_replica(redis: &str) -> crate::server::Server {
    incidents_server_in(tempfile::tempdir().unwrap(), &["--redis", redis])
}

fn open_reports(server: &crate::server::Server) -> Vec<serde_json::Value> {
    let (status, body) = server.get_with_token("/v1/reports", Some("s3cret"));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Vec<serde_json::Value>>(&body).unwrap()
}

fn eventually(what: &str, ok: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !ok() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn replicas_share_event_ids_report_numbers_and_event_counts_through_redis() {
    let Some(redis) = crate::server::start_redis() else {
        return;
    };
    let a = incidents_replica(&redis.url);
    let b = incidents_replica(&redis.url);
    // A host that retries a post on another replica: the second one is a repeat.
    let (status, body) = post_incident(&a, "i1", "death");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""duplicate":false"#), "{body}");
    let (status, body) = post_incident(&b, "i1", "death");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""duplicate":true"#), "{body}");
    // Incidents posted on both replicas at once: every one gets its own report, with
    // a number no other replica gave.
    std::thread::scope(|scope| {
        for (server, side) in [(&a, "a"), (&b, "b")] {
            scope.spawn(move || {
                for n in 0..10 {
                    let (status, body) = post_incident(server, &format!("{side}{n}"), "widespread");
                    assert_eq!(status, 200, "{body}");
                }
            });
        }
    });
    for (name, server) in [("A", &a), ("B", &b)] {
        eventually(&format!("replica {name} lists all 21 reports"), || {
            open_reports(server).len() == 21
        });
    }
    let reports = open_reports(&a);
    let mut ids: Vec<u64> = reports.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 21, "report numbers are unique: {reports:?}");
    let about: std::collections::HashSet<String> = reports
        .iter()
        .map(|r| r["event"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(about.len(), 21, "one report per incident");
    // Complaints counted across replicas: two on A and one on B block the user.
    for (server, id) in [(&a, "c1"), (&a, "c2"), (&b, "c3")] {
        assert_eq!(post_complaint(server, id).0, 200);
    }
    eventually("the user is blocked on both replicas", || {
        [&a, &b].iter().all(|s| {
            let d =
                s.decide(&serde_json::json!({"id": "r", "service": "chat", "user": {"id": "u1"}}));
            d["outcome"] == "deny"
        })
    });
}
