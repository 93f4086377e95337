//! The stateful runtime: triggers, actions, service states, blocks, reports, the
//! durable store and its audit chain. Time is simulated throughout; nothing sleeps.

use std::sync::Arc;

use bylaw::governance::clock::Timestamp;
use bylaw::governance::service::ServiceState;
use bylaw::governance::store::Store;
use bylaw::governance::window::{Buckets, GlobalWindow, KeyedWindows};
use bylaw::governance::{GovernError, Governed, Governor, Options, What};
use bylaw::runtime::decision::{Outcome, ReasonKind};
use bylaw::{Engine, Guard, Policy, Record};

/// 2026-11-18T11:06:40Z
const T0: u64 = 1_795_000_000_000;

fn at(secs: u64) -> Timestamp {
    Timestamp(T0 + secs * 1000)
}

fn guard() -> Guard {
    let source = std::fs::read_to_string(crate::data("governance/ops.bylaw")).unwrap();
    let policy = Policy::check("ops.bylaw", &source).unwrap();
    Guard::new(Arc::new(policy), Engine::Jit).unwrap()
}

fn governor() -> Governor {
    Governor::new(guard(), None, Options::default()).unwrap()
}

fn durable(path: &std::path::Path) -> Governor {
    let store = Arc::new(Store::open(path).unwrap());
    Governor::new(guard(), Some(store), Options::default()).unwrap()
}

fn request(g: &Governor, id: &str, service: &str, user: Option<&str>, risk: f64) -> Record {
    let builder = g
        .guard()
        .record()
        .string("id", id)
        .string("service", service)
        .float("risk", risk);
    match user {
        Some(user) => builder.string("user", user),
        None => builder,
    }
    .build()
    .unwrap()
}

fn decide(g: &Governor, service: &str, risk: f64, now: Timestamp) -> Governed {
    g.decide(&request(g, "r-1", service, None, risk), now)
}

fn kinds(events: &[bylaw::governance::Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.what.kind()).collect()
}

fn state(g: &Governor, service: &str, now: Timestamp) -> ServiceState {
    let (status, _) = g.status(now).unwrap();
    status
        .services
        .into_iter()
        .find(|s| s.name == service)
        .unwrap()
        .state
}

/// Five risky requests in ten minutes suspend `chat`.
fn suspend_chat(g: &Governor, now: Timestamp) -> Vec<bylaw::governance::Event> {
    let mut events = Vec::new();
    for i in 0..5 {
        events.extend(decide(g, "other", 0.85, Timestamp(now.0 + i * 1000)).events);
    }
    events
}

/// Suspends chat at `at(4)`; recovery starts at `at(1804)`; both approvals come at
/// `at(1810)`, which starts the ramp's first stage (10%, then 50% and 100% every 10m).
fn chat_in_ramp(g: &Governor) {
    suspend_chat(g, at(0));
    g.approve("chat", "alice", None, at(1810)).unwrap();
    g.approve("chat", "bob", None, at(1810)).unwrap();
}

#[test]
fn a_count_trigger_suspends_its_service_and_notifies_once_per_episode() {
    let g = governor();
    let mut events = Vec::new();
    for i in 0..4 {
        events.extend(decide(&g, "other", 0.85, at(i)).events);
    }
    assert!(events.is_empty(), "{events:?}");
    let fifth = decide(&g, "other", 0.85, at(4)).events;
    assert_eq!(
        kinds(&fifth),
        ["trigger_fired", "service_changed", "notified"]
    );
    match &fifth[0].what {
        What::TriggerFired { observed, .. } => {
            assert_eq!(observed, "count 5 within 10m >= 5")
        }
        other => panic!("{other:?}"),
    }

    let to_chat = decide(&g, "chat", 0.1, at(5)).decision;
    assert_eq!(to_chat.outcome, Outcome::Suspended);
    let service = to_chat.service.as_ref().unwrap();
    assert_eq!(
        (service.state.as_str(), service.fallback.as_deref()),
        ("suspended", Some("faq_bot"))
    );
    assert!(
        to_chat
            .reasons
            .iter()
            .any(|r| r.kind == ReasonKind::Service && r.message.contains("faq_bot"))
    );
    // Deny outranks suspended.
    assert_eq!(
        decide(&g, "chat", 1.0, at(5)).decision.outcome,
        Outcome::Deny
    );
    // Other services are untouched.
    assert_eq!(
        decide(&g, "search", 0.1, at(5)).decision.outcome,
        Outcome::Allow
    );
    // The episode goes on: no second notification.
    assert!(decide(&g, "other", 0.85, at(6)).events.is_empty());
}

#[test]
fn a_suspension_lasts_its_for_and_cooldown_then_needs_two_different_approvers() {
    let g = governor();
    suspend_chat(&g, at(0));
    assert!(matches!(
        state(&g, "chat", at(1799)),
        ServiceState::Suspended { .. }
    ));
    let recovering = g.status(at(1805)).unwrap();
    let chat = &recovering.0.services[0];
    assert_eq!(
        chat.label,
        "recovering: awaiting approval by \"safety-officer\", \"safety-officer\""
    );
    // The change is stamped when the cooldown ended, not when someone looked.
    assert_eq!(recovering.1[0].at, at(1804));
    assert_eq!(
        decide(&g, "chat", 0.1, at(1806)).decision.outcome,
        Outcome::Suspended
    );

    let first = g.approve("chat", "alice", None, at(1810)).unwrap();
    assert_eq!(kinds(&first), ["approved"]);
    let again = g.approve("chat", "alice", None, at(1811)).unwrap_err();
    assert!(
        matches!(&again, GovernError::Refused(m) if m.contains("alice has already approved")),
        "{again}"
    );
    let wrong_role = g
        .approve("chat", "carol", Some("ceo"), at(1811))
        .unwrap_err();
    assert!(matches!(wrong_role, GovernError::Refused(_)));
    let second = g.approve("chat", "bob", None, at(1812)).unwrap();
    assert_eq!(kinds(&second), ["approved", "service_changed"]);
    assert!(matches!(
        state(&g, "chat", at(1812)),
        ServiceState::Recovering { stage: Some(0), .. }
    ));
}

#[test]
fn a_ramp_admits_a_stable_share_of_request_ids_and_ends_active() {
    let g = governor();
    chat_in_ramp(&g);
    let served_at = |now: Timestamp| {
        (0..2000)
            .filter(|i| {
                let record = request(&g, &format!("req-{i}"), "chat", None, 0.1);
                g.decide(&record, now).decision.outcome == Outcome::Allow
            })
            .count()
    };
    let ten = served_at(at(1811));
    assert!((120..=280).contains(&ten), "10% of 2000, got {ten}");
    // The same id gets the same answer.
    let record = request(&g, "req-7", "chat", None, 0.1);
    let first = g.decide(&record, at(1812)).decision.outcome;
    assert_eq!(g.decide(&record, at(1813)).decision.outcome, first);

    let fifty = served_at(at(1810 + 600));
    assert!((850..=1150).contains(&fifty), "50% of 2000, got {fifty}");
    assert_eq!(served_at(at(1810 + 1200)), 2000);
    assert!(matches!(
        state(&g, "chat", at(1810 + 1799)),
        ServiceState::Recovering { stage: Some(2), .. }
    ));
    assert_eq!(state(&g, "chat", at(1810 + 1800)), ServiceState::Active);
}

#[test]
fn the_trigger_firing_again_during_the_ramp_falls_back_to_suspended() {
    let g = governor();
    chat_in_ramp(&g);
    // The first wave has left the 10-minute window; a new one comes.
    let events = suspend_chat(&g, at(1900));
    let changed = events
        .iter()
        .find_map(|e| match &e.what {
            What::ServiceChanged { to, cause, .. } => Some((to.clone(), cause.clone())),
            _ => None,
        })
        .unwrap();
    assert!(changed.0.starts_with("suspended until"), "{changed:?}");
    assert!(changed.1.contains("relapse"), "{changed:?}");
    // Approvals start over.
    assert!(g.approve("chat", "alice", None, at(1910)).is_err());
    let ServiceState::Recovering { approvals, .. } = state(&g, "chat", at(1904 + 1800)) else {
        panic!("recovering again after the cooldown");
    };
    assert!(approvals.is_empty());
}

#[test]
fn a_recovery_that_stalls_past_its_timeout_is_suspended_and_cools_down_again() {
    let g = governor();
    suspend_chat(&g, at(0));
    // Recovering from 1804; nobody approves; the timeout is 2h.
    let (_, events) = g.status(at(1804 + 7200)).unwrap();
    let ServiceState::Suspended { since, cause, .. } = state(&g, "chat", at(1804 + 7200)) else {
        panic!("suspended after the timeout");
    };
    assert_eq!(since, at(1804 + 7200));
    assert!(cause.contains("timeout of 2h"), "{cause}");
    assert_eq!(kinds(&events), ["service_changed", "service_changed"]);
    // The cooldown starts again.
    assert!(matches!(
        state(&g, "chat", at(1804 + 7200 + 1799)),
        ServiceState::Suspended { .. }
    ));
    assert!(matches!(
        state(&g, "chat", at(1804 + 7200 + 1800)),
        ServiceState::Recovering { stage: None, .. }
    ));
}

#[test]
fn a_service_without_recovery_returns_to_active_when_its_suspension_ends() {
    let g = governor();
    decide(&g, "other", 0.97, at(0));
    let events = decide(&g, "other", 0.97, at(10)).events;
    assert!(kinds(&events).contains(&"service_changed"));
    assert_eq!(
        decide(&g, "legacy", 0.1, at(609)).decision.outcome,
        Outcome::Suspended
    );
    let back = decide(&g, "legacy", 0.1, at(611));
    assert_eq!(back.decision.outcome, Outcome::Allow);
    assert_eq!(back.events[0].at, at(610));
}

#[test]
fn degrade_marks_a_service_degraded_until_an_operator_restores_it() {
    let g = governor();
    let first = decide(&g, "search", 0.6, at(0));
    assert_eq!(kinds(&first.events), ["trigger_fired", "service_changed"]);
    let degraded = decide(&g, "search", 0.6, at(1)).decision;
    assert_eq!(degraded.outcome, Outcome::Escalate);
    assert_eq!(degraded.service.unwrap().state, "degraded");
    // Degraded until restored, however long.
    assert_eq!(
        decide(&g, "search", 0.6, at(86_400 * 30)).decision.outcome,
        Outcome::Escalate
    );
    g.resume("search", "dana", at(86_400 * 30)).unwrap();
    assert_eq!(
        decide(&g, "search", 0.6, at(86_400 * 30 + 1))
            .decision
            .outcome,
        Outcome::Allow
    );
}

#[test]
fn block_denies_one_key_and_leaves_the_others_untouched() {
    let g = governor();
    let mut events = Vec::new();
    for i in 0..3 {
        let record = request(&g, "m", "other", Some("mallory"), 0.95);
        events.extend(g.decide(&record, at(i)).events);
    }
    assert_eq!(
        kinds(&events),
        ["trigger_fired", "blocked", "report_opened"]
    );
    let mallory = request(&g, "m", "other", Some("mallory"), 0.1);
    let blocked = g.decide(&mallory, at(10)).decision;
    assert_eq!(blocked.outcome, Outcome::Deny);
    assert!(
        blocked
            .reasons
            .iter()
            .any(|r| r.kind == ReasonKind::Block && r.message.contains("mallory"))
    );
    let alice = request(&g, "a", "other", Some("alice"), 0.1);
    assert_eq!(g.decide(&alice, at(10)).decision.outcome, Outcome::Allow);
    let nobody = request(&g, "n", "other", None, 0.1);
    assert_eq!(g.decide(&nobody, at(10)).decision.outcome, Outcome::Allow);

    // The block ends after its hour.
    let later = g.decide(&mallory, at(3602));
    assert_eq!(later.decision.outcome, Outcome::Allow);
    assert_eq!(kinds(&later.events), ["unblocked"]);
}

#[test]
fn a_request_without_the_by_key_is_not_counted() {
    let g = governor();
    for i in 0..5 {
        let record = request(&g, "n", "other", None, 0.95);
        let events = g.decide(&record, at(100 + i)).events;
        assert!(!kinds(&events).contains(&"blocked"));
    }
    assert_eq!(g.tally("abuser", Some("mallory"), at(105)), None);
    let record = request(&g, "m", "other", Some("mallory"), 0.95);
    g.decide(&record, at(106));
    assert_eq!(g.tally("abuser", Some("mallory"), at(106)).unwrap().hits, 1);
}

#[test]
fn reports_stay_listed_until_filed_once() {
    let g = governor();
    for i in 0..3 {
        let record = request(&g, "m", "other", Some("mallory"), 0.95);
        g.decide(&record, at(i));
    }
    let (status, _) = g.status(at(60)).unwrap();
    let report = &status.reports[0];
    assert_eq!(
        (
            report.recipient.as_str(),
            report.due,
            report.filed.is_none()
        ),
        ("regulator", at(2 + 15 * 86_400), true)
    );
    let filed = g.file_report(report.id, "erin", at(120)).unwrap();
    // Filing a report nobody had acknowledged acknowledges it too, by the same person.
    assert_eq!(kinds(&filed), ["report_acknowledged", "report_filed"]);
    assert!(matches!(
        g.file_report(report.id, "erin", at(121)),
        Err(GovernError::Refused(_))
    ));
    assert!(matches!(
        g.file_report(99, "erin", at(121)),
        Err(GovernError::Unknown(_))
    ));
}

#[test]
fn the_kill_switch_holds_until_resumed_then_recovery_runs() {
    let g = governor();
    g.suspend("chat", "oscar", "incident 42", at(0)).unwrap();
    assert_eq!(
        decide(&g, "chat", 0.1, at(86_400)).decision.outcome,
        Outcome::Suspended
    );
    assert!(matches!(
        g.suspend("chat", "oscar", "again", at(1)),
        Err(GovernError::Refused(_))
    ));
    assert!(matches!(
        g.suspend("nope", "oscar", "x", at(1)),
        Err(GovernError::Unknown(_))
    ));
    // The cooldown has long passed: resume goes straight to the approvals.
    let events = g.resume("chat", "oscar", at(86_400)).unwrap();
    assert_eq!(kinds(&events), ["service_changed"]);
    assert!(matches!(
        state(&g, "chat", at(86_400)),
        ServiceState::Recovering { stage: None, .. }
    ));
    assert!(matches!(
        g.resume("chat", "oscar", at(86_401)),
        Err(GovernError::Refused(_))
    ));
}

#[test]
fn a_restart_forgets_no_suspension_block_or_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    {
        let g = durable(&path);
        suspend_chat(&g, at(0));
        for i in 0..3 {
            let record = request(&g, "m", "other", Some("mallory"), 0.95);
            g.decide(&record, at(10 + i));
        }
        g.suspend("search", "oscar", "drill", at(20)).unwrap();
    }
    let g = durable(&path);
    let (status, _) = g.status(at(30)).unwrap();
    let states: Vec<&str> = status.services.iter().map(|s| s.state.name()).collect();
    assert_eq!(states, ["suspended", "suspended", "active"]);
    assert_eq!(status.blocks.len(), 1);
    assert_eq!(status.reports.len(), 1);
    let mallory = request(&g, "m", "other", Some("mallory"), 0.1);
    assert_eq!(g.decide(&mallory, at(31)).decision.outcome, Outcome::Deny);
    // New reports continue the numbering.
    for i in 0..3 {
        let record = request(&g, "t", "other", Some("trent"), 0.95);
        g.decide(&record, at(40 + i));
    }
    let (status, _) = g.status(at(50)).unwrap();
    let ids: Vec<u64> = status.reports.iter().map(|r| r.id).collect();
    assert_eq!(ids, [1, 2]);
    let check = g.store().unwrap().verify().unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
}

#[test]
fn every_event_is_an_audit_record_with_its_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let g = durable(&dir.path().join("state.redb"));
    let events = suspend_chat(&g, at(0));
    // The four decisions before (under `keep_logs`: risk > 0.7) are records 1–4.
    let seqs: Vec<Option<u64>> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [Some(5), Some(6), Some(7)]);
    g.store().unwrap().flush().unwrap();
    let records = g.store().unwrap().records(1, 10).unwrap();
    let record_kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        record_kinds,
        [
            "decision",
            "decision",
            "decision",
            "decision",
            "trigger_fired",
            "service_changed",
            "notified",
            "decision"
        ]
    );
    let body: serde_json::Value =
        serde_json::from_str(records[5].body.as_ref().unwrap().get()).unwrap();
    assert_eq!(body["event"], "service_changed");
    assert_eq!(body["service"], "chat");
}

#[test]
fn retained_decisions_are_logged_for_their_retention_then_purged() {
    let dir = tempfile::tempdir().unwrap();
    let g = durable(&dir.path().join("state.redb"));
    decide(&g, "other", 0.75, at(0)); // keep_logs applies: 30 days
    decide(&g, "other", 0.10, at(1)); // it does not
    let store = g.store().unwrap();
    // A state change waits for its commit, and so for the decision queued before it.
    g.suspend("chat", "oscar", "flush", at(2)).unwrap();
    let records = store.records(1, 10).unwrap();
    let decision = &records[0];
    assert_eq!(decision.kind, "decision");
    assert_eq!(decision.retain_until, Some(at(30 * 86_400)));
    let body: serde_json::Value =
        serde_json::from_str(decision.body.as_ref().unwrap().get()).unwrap();
    assert_eq!(body["decision"]["duties"][0]["id"], "keep_logs");
    assert_eq!(
        records.len(),
        2,
        "only the retained decision and the suspension"
    );

    assert_eq!(store.purge(at(30 * 86_400 - 1)).unwrap(), 0);
    assert_eq!(store.purge(at(30 * 86_400)).unwrap(), 1);
    let purged = &store.records(1, 1).unwrap()[0];
    assert!(purged.body.is_none());
    let check = store.verify_at(at(30 * 86_400)).unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert_eq!((check.records, check.purged), (2, 1));
}

#[test]
fn the_audit_chain_detects_a_changed_and_a_missing_record() {
    use redb::{Database, ReadableTable, TableDefinition};
    const AUDIT: TableDefinition<u64, &str> = TableDefinition::new("audit");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    {
        let g = durable(&path);
        g.suspend("search", "oscar", "drill", at(0)).unwrap();
        g.suspend("chat", "oscar", "incident", at(1)).unwrap();
        g.resume("search", "oscar", at(2)).unwrap();
        assert!(g.store().unwrap().verify().unwrap().problems.is_empty());
    }
    let tamper = |f: &dyn Fn(&mut redb::Table<u64, &str>)| {
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(AUDIT).unwrap();
            f(&mut table);
        }
        txn.commit().unwrap();
    };
    let problems = || Store::open(&path).unwrap().verify().unwrap().problems;

    // An operator's reason rewritten after the fact.
    tamper(&|table| {
        let text = table.get(1).unwrap().unwrap().value().to_string();
        let changed = text.replace("drill", "routine");
        assert_ne!(text, changed);
        table.insert(1, changed.as_str()).unwrap();
    });
    assert_eq!(problems(), ["record 1: its body was changed"]);

    // A record removed from the middle.
    tamper(&|table| {
        table.remove(2).unwrap();
    });
    let found = problems();
    assert!(
        found.contains(&"record 2: missing".to_string()),
        "{found:?}"
    );
    assert!(
        found.contains(&"record 3: does not follow the record before it".to_string()),
        "{found:?}"
    );
}

#[test]
fn the_last_record_removed_is_detected_too() {
    use redb::{Database, TableDefinition};
    const AUDIT: TableDefinition<u64, &str> = TableDefinition::new("audit");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    drop(
        durable(&path)
            .suspend("chat", "oscar", "drill", at(0))
            .unwrap(),
    );
    {
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(AUDIT).unwrap().remove(1).unwrap();
        txn.commit().unwrap();
    }
    let problems = Store::open(&path).unwrap().verify().unwrap().problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("missing from the end"), "{problems:?}");
}

#[test]
fn a_second_process_cannot_open_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let _first = Store::open(&path).unwrap();
    let second = Store::open(&path).unwrap_err();
    assert!(second.0.contains("in use"), "{second}");
}

#[test]
fn windows_forget_events_older_than_the_window() {
    assert_eq!(
        Buckets::for_window(600),
        Buckets {
            bucket_ms: 10_000,
            len: 60
        }
    );
    assert_eq!(
        Buckets::for_window(10),
        Buckets {
            bucket_ms: 1000,
            len: 10
        }
    );
    let window = GlobalWindow::new(600, true);
    for i in 0..10 {
        window.record(at(i * 10), i % 2 == 0);
    }
    assert_eq!(window.tally(at(95)).hits, 5);
    assert_eq!(window.tally(at(95)).total, 10);
    // Bucket precision: the event at 0s is gone once its bucket leaves the window.
    assert_eq!(window.tally(at(599)).hits, 5);
    assert_eq!(window.tally(at(600)).hits, 4);
    assert_eq!(window.tally(at(700)).hits, 0);
}

#[test]
fn keyed_windows_keep_a_bounded_number_of_keys() {
    let windows = KeyedWindows::new(60, 64);
    for i in 0..1000 {
        windows.record(&format!("key-{i}"), at(i), true, |_| false);
    }
    assert!(windows.len() <= 64, "{} keys", windows.len());
    // The most recent key is kept.
    assert_eq!(windows.peek("key-999", at(999)).unwrap().hits, 1);
}

#[test]
fn threads_deciding_at_once_give_exact_window_counts() {
    let g = Arc::new(governor());
    let threads = 4;
    let per_thread = 5000;
    let now = at(0);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let g = Arc::clone(&g);
            scope.spawn(move || {
                let user = format!("user-{}", t % 2);
                for i in 0..per_thread {
                    // risky_wave counts risk > 0.8; abuser counts risk > 0.9 by user.
                    let risk = if i % 2 == 0 { 0.95 } else { 0.85 };
                    let record = request(&g, "x", "search", Some(&user), risk);
                    g.decide(&record, now);
                }
            });
        }
    });
    let global = g.tally("risky_wave", None, now).unwrap();
    assert_eq!(global.hits, (threads * per_thread) as u64);
    let drift = g.tally("drift", None, now).unwrap();
    assert_eq!(
        (drift.hits, drift.total),
        ((threads * per_thread) as u64, (threads * per_thread) as u64)
    );
    for user in ["user-0", "user-1"] {
        let keyed = g.tally("abuser", Some(user), now).unwrap();
        assert_eq!(keyed.hits, (threads / 2 * per_thread / 2) as u64, "{user}");
    }
}

#[test]
fn an_erased_body_is_caught_unless_its_retention_passed() {
    use redb::{Database, ReadableTable, TableDefinition};
    const AUDIT: TableDefinition<u64, &str> = TableDefinition::new("audit");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    {
        let g = durable(&path);
        decide(&g, "other", 0.75, at(0)); // retained for 30 days: record 1
        g.suspend("chat", "oscar", "drill", at(1)).unwrap(); // never purged: record 2
    }
    let erase = |seq: u64, retain: Option<u64>| {
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(AUDIT).unwrap();
            let text = table.get(seq).unwrap().unwrap().value().to_string();
            let mut record: serde_json::Value = serde_json::from_str(&text).unwrap();
            record["body"] = serde_json::Value::Null;
            if let Some(ms) = retain {
                record["retain_until"] = ms.into();
            }
            table.insert(seq, record.to_string().as_str()).unwrap();
        }
        txn.commit().unwrap();
    };
    let problems_at = |secs: u64| {
        Store::open(&path)
            .unwrap()
            .verify_at(at(secs))
            .unwrap()
            .problems
    };
    // A retained decision's body erased a day in: too early.
    erase(1, None);
    assert_eq!(
        problems_at(86_400),
        [format!(
            "record 1: its body was erased before its retention ends ({})",
            at(30 * 86_400)
        )]
    );
    assert!(
        problems_at(30 * 86_400).is_empty(),
        "on time, it is a purge"
    );
    // A record with no retention erased, then given one to pass as purged.
    erase(2, None);
    assert_eq!(
        problems_at(30 * 86_400),
        ["record 2: its body was erased, but it was never to be purged"]
    );
    erase(2, Some(at(1).0));
    assert_eq!(
        problems_at(30 * 86_400),
        ["record 2: its hash does not match its contents"]
    );
}

#[test]
fn a_rate_with_a_minimum_waits_for_enough_decisions() {
    let guard = bylaw::Policy::compile(
        r#"policy p version "1.0.0"
schema request {
  flagged: bool
}
trigger drift {
  when rate(flagged) within 1h min 5 > 40%
  then notify "team"
  cite "Internal policy §1"
}
"#,
    )
    .unwrap();
    let g = bylaw::governance::Governor::new(guard, None, Default::default()).unwrap();
    let fired = |flagged: bool, secs: u64| {
        let json = format!(r#"{{"flagged": {flagged}}}"#);
        g.decide_json(json.as_bytes(), at(secs))
            .events
            .iter()
            .any(|e| e.what.kind() == "trigger_fired")
    };
    // 1 of 1, 2 of 3 and 3 of 4 are over 40%, but under five decisions.
    assert!(!fired(true, 0), "one decision of one is not a rate yet");
    assert!(!fired(false, 1));
    assert!(!fired(true, 2));
    assert!(!fired(true, 3));
    assert!(fired(true, 4), "4 of 5: 80% over at least five decisions");
}
