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
