//! The stateful runtime, correct and durable (issue 22): regression tests for what an
//! independent simulator, operators and kill -9 found.

use bylaw::governance::store::Store;

use crate::replay::bylaw;

fn ctl(policy: &str, state: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["ctl", "--policy", policy, "--state", state];
    all.extend_from_slice(args);
    bylaw(&all)
}

fn records(state: &std::path::Path) -> usize {
    Store::open(state)
        .unwrap()
        .records(0, usize::MAX)
        .unwrap()
        .len()
}

/// The kill switch on `chat` at 2026-11-18T10:00:00Z.
fn suspend_chat_on_the_18th(policy: &str, state: &str) {
    let out = ctl(
        policy,
        state,
        &[
            "--at",
            "2026-11-18T10:00:00Z",
            "suspend",
            "chat",
            "--reason",
            "incident",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ctl_status_is_a_query_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let policy = crate::example("genai_chat.bylaw");
    let (policy, state_text) = (policy.to_str().unwrap(), state.to_str().unwrap());
    suspend_chat_on_the_18th(policy, state_text);
    let before = records(&state);
    // A day later the cooldown is over: status shows it, and records nothing.
    for _ in 0..3 {
        let out = ctl(
            policy,
            state_text,
            &["--at", "2026-11-19T10:00:00Z", "status"],
        );
        assert_eq!(out.status.code(), Some(0));
        let out = ctl(
            policy,
            state_text,
            &["--at", "2026-11-19T10:00:00Z", "reports"],
        );
        assert_eq!(out.status.code(), Some(0));
    }
    assert_eq!(
        records(&state),
        before,
        "status and reports wrote audit records"
    );
}

#[test]
fn ctl_refuses_a_time_before_the_newest_record() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let policy = crate::example("genai_chat.bylaw");
    let (policy, state_text) = (policy.to_str().unwrap(), state.to_str().unwrap());
    suspend_chat_on_the_18th(policy, state_text);
    let before = records(&state);
    let out = ctl(
        policy,
        state_text,
        &["--at", "2026-11-18T09:00:00Z", "resume", "chat"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("never go back"), "{stderr}");
    assert_eq!(records(&state), before);
}

fn governor(source: &str) -> bylaw::governance::Governor {
    let guard = bylaw::Policy::compile(source).unwrap();
    bylaw::governance::Governor::new(guard, None, bylaw::governance::Options::default()).unwrap()
}

fn at(secs: u64) -> bylaw::governance::clock::Timestamp {
    bylaw::governance::clock::Timestamp::from_secs(1_800_000_000 + secs)
}

const TWO_SERVICES: &str = r#"policy two version "1.0.0"
schema request {
  service: string
  x: int
}
trigger b_incidents {
  when count(x > 0 and service == "b") within 1m >= 1
  then suspend a for 1m
}
service a {
  fallback "fa"
}
service b {
  fallback "fb"
}
"#;

#[test]
fn a_trigger_acting_on_another_service_meets_its_current_state() {
    let g = governor(TWO_SERVICES);
    let decide = |json: &str, secs| g.decide_json(json.as_bytes(), at(secs)).decision;
    decide(r#"{"service": "b", "x": 1}"#, 0);
    assert_eq!(
        decide(r#"{"service": "a", "x": 0}"#, 10).outcome.as_str(),
        "suspended"
    );
    // Five minutes on, `a` is active again though nothing has asked it since; a second
    // incident on `b` must suspend it again.
    decide(r#"{"service": "b", "x": 1}"#, 300);
    assert_eq!(
        decide(r#"{"service": "a", "x": 0}"#, 301).outcome.as_str(),
        "suspended"
    );
    assert_eq!(
        decide(r#"{"service": "a", "x": 0}"#, 400).outcome.as_str(),
        "allow"
    );
}

#[test]
fn a_decision_reports_the_state_it_was_decided_under() {
    let g = governor(&TWO_SERVICES.replace("then suspend a for 1m", "then suspend b for 1m"));
    let first = g
        .decide_json(br#"{"service": "b", "x": 1}"#, at(0))
        .decision;
    assert_eq!(first.outcome.as_str(), "allow");
    assert_eq!(first.service.as_ref().unwrap().state, "active", "{first:?}");
    let next = g
        .decide_json(br#"{"service": "b", "x": 0}"#, at(1))
        .decision;
    assert_eq!(next.service.as_ref().unwrap().state, "suspended");
}

#[test]
fn a_longer_block_from_a_later_firing_extends_a_shorter_one() {
    let g = governor(
        r#"policy ladder version "1.0.0"
schema request {
  user: string
  bad: bool
}
trigger first_offence {
  when count(bad) within 30d by user >= 1
  then block user for 1d
}
trigger repeat_offender {
  when count(bad) within 30d by user >= 3
  then block user for 30d
}
"#,
    );
    let decide = |json: &str, secs| g.decide_json(json.as_bytes(), at(secs)).decision;
    let bad = r#"{"user": "u1", "bad": true}"#;
    decide(bad, 0);
    // Blocked requests are still counted: the third offence escalates.
    decide(bad, 60);
    decide(bad, 120);
    let day = 24 * 3600;
    let later = decide(r#"{"user": "u1", "bad": false}"#, 2 * day);
    assert_eq!(
        later.outcome.as_str(),
        "deny",
        "the 30-day block holds on day 2: {later:?}"
    );
    let after = decide(r#"{"user": "u1", "bad": false}"#, 31 * day);
    assert_eq!(after.outcome.as_str(), "allow");
    // Repeats of the same length do not extend a block.
    let g2 = governor(
        r#"policy p version "1.0.0"
schema request {
  user: string
  bad: bool
}
trigger t {
  when count(bad) within 1h by user >= 1
  then block user for 1d
}
"#,
    );
    g2.decide_json(bad.as_bytes(), at(0));
    g2.decide_json(bad.as_bytes(), at(3600 * 20));
    let next_day = g2
        .decide_json(br#"{"user": "u1", "bad": false}"#, at(day + 60))
        .decision;
    assert_eq!(next_day.outcome.as_str(), "allow", "{next_day:?}");
}

/// How many events of `kind` (`trigger_fired`, `report_opened`, …) these decisions caused.
fn fired(g: &bylaw::governance::Governor, traffic: &[(&str, u64)], kind: &str) -> Vec<usize> {
    traffic
        .iter()
        .map(|(json, secs)| {
            g.decide_json(json.as_bytes(), at(*secs))
                .events
                .iter()
                .filter(|e| e.what.kind() == kind)
                .count()
        })
        .collect()
}

#[test]
fn a_per_key_rate_episode_is_not_reopened_by_decisions_where_p_did_not_hold() {
    let source = |by: &str| {
        format!(
            r#"policy p version "1.0.0"
schema request {{
  user: string
  flagged: bool
}}
trigger abuse {{
  when rate(flagged) within 1h {by} > 40%
  then notify "safety", report "regulator" within 1d
}}
"#
        )
    };
    // One streak: the share dips under 40% between hits and rises again.
    let (hit, miss) = (
        r#"{"user": "u", "flagged": true}"#,
        r#"{"user": "u", "flagged": false}"#,
    );
    let traffic = [
        (hit, 0),
        (miss, 1),
        (miss, 2),
        (hit, 3),
        (miss, 4),
        (miss, 5),
        (hit, 6),
    ];
    for by in ["", "by user"] {
        let g = governor(&source(by));
        let reports = fired(&g, &traffic, "report_opened");
        assert_eq!(
            reports.iter().sum::<usize>(),
            1,
            "`{by}`: one streak, one report: {reports:?}"
        );
    }
}

#[test]
fn an_episode_ends_when_the_window_empties_without_any_evaluation() {
    let source = |by: &str| {
        format!(
            r#"policy p version "1.0.0"
schema request {{
  user: string
  serious: bool
}}
trigger incident {{
  when count(serious) within 1d {by} >= 1
  then report "regulator" within 15d
}}
"#
        )
    };
    let day = 24 * 3600;
    let incident = r#"{"user": "u", "serious": true}"#;
    let calm = r#"{"user": "u", "serious": false}"#;
    for by in ["", "by user"] {
        let g = governor(&source(by));
        let traffic = [
            (incident, 0),
            (calm, 60),
            (incident, 19 * day),
            (incident, 19 * day + 5),
        ];
        assert_eq!(
            fired(&g, &traffic, "report_opened"),
            [1, 0, 1, 0],
            "`{by}`: a second incident 19 days later is a new episode; one 5 s after it is not"
        );
    }
    // The same with a threshold above one: the count must fall below it by expiry.
    let g = governor(&source("").replace(">= 1", ">= 2"));
    let traffic = [
        (incident, 0),
        (incident, 10),
        (incident, 20),
        (incident, 2 * day),
        (incident, 2 * day + 10),
    ];
    assert_eq!(fired(&g, &traffic, "report_opened"), [0, 1, 0, 0, 1]);
}

#[test]
fn an_expired_block_is_recorded_at_the_next_operation_with_the_moment_it_ended() {
    let g = governor(
        r#"policy p version "1.0.0"
schema request {
  user: string
  bad: bool
}
trigger t {
  when count(bad) within 1h by user >= 1
  then block user for 1h
}
"#,
    );
    g.decide_json(br#"{"user": "u1", "bad": true}"#, at(0));
    // Another user's request two hours later: u1 is never seen again.
    let events = g
        .decide_json(br#"{"user": "u2", "bad": false}"#, at(7200))
        .events;
    let unblocked: Vec<_> = events
        .iter()
        .filter(|e| e.what.kind() == "unblocked")
        .collect();
    assert_eq!(unblocked.len(), 1, "{events:?}");
    assert_eq!(
        unblocked[0].at,
        at(3600),
        "recorded at the moment the block ended"
    );
    // An operator command does the same.
    g.decide_json(br#"{"user": "u3", "bad": true}"#, at(8000));
    let (status, events) = g.status(at(8000 + 3601)).unwrap();
    assert!(status.blocks.is_empty());
    assert_eq!(
        events
            .iter()
            .filter(|e| e.what.kind() == "unblocked")
            .count(),
        1
    );
}

#[test]
fn anonymous_traffic_cannot_flood_the_regulator_with_reports() {
    let guard = bylaw::Policy::compile(&abuse_policy()).unwrap();
    let options = bylaw::governance::Options {
        max_open_reports: 50,
        max_open_reports_per_key: 2,
        ..bylaw::governance::Options::default()
    };
    let g = bylaw::governance::Governor::new(guard, None, options).unwrap();
    for i in 0..500u64 {
        let json = format!(r#"{{"session": "s{i}", "flagged": true}}"#);
        g.decide_json(json.as_bytes(), at(i));
    }
    // One key, episode after episode (each an hour apart).
    for i in 0..5u64 {
        g.decide_json(br#"{"session": "s0", "flagged": true}"#, at(7200 * (i + 1)));
    }
    let status = g.view(at(50_000));
    let open = status.reports.iter().filter(|r| r.filed.is_none()).count();
    assert_eq!(open, 50, "bounded per trigger");
    assert_eq!(g.suppressed_reports(), vec![("abuse".to_string(), 455)]);
    // Per key: filing makes room again, but no more than two stay open for one key.
    let g = bylaw::governance::Governor::new(
        bylaw::Policy::compile(&abuse_policy()).unwrap(),
        None,
        options,
    )
    .unwrap();
    for i in 0..5u64 {
        g.decide_json(br#"{"session": "s0", "flagged": true}"#, at(7200 * i));
    }
    let s0 = g
        .view(at(50_000))
        .reports
        .iter()
        .filter(|r| r.key.as_deref() == Some("s0"))
        .count();
    assert_eq!(s0, 2);
    assert_eq!(g.suppressed_reports(), vec![("abuse".to_string(), 3)]);
}

fn abuse_policy() -> String {
    r#"policy p version "1.0.0"
schema request {
  session: string
  flagged: bool
}
trigger abuse {
  when count(flagged) within 1h by session >= 1
  then report "regulator" within 1d
}
"#
    .to_string()
}

const OPERATED: &str = r#"policy p version "1.0.0"
schema request {
  service: string
  id: string
  bad: bool
  toxic: bool
}
trigger incident {
  when count(bad) within 1m >= 1
  then suspend chat for 10m
}
trigger drift {
  when count(toxic) within 1m >= 1
  then degrade chat
}
service chat {
  fallback "f"
  recovery {
    cooldown 10m
    approve by "officer"
    ramp 50%, 100% every 10m
  }
}
"#;

fn request(bad: bool, toxic: bool) -> String {
    format!(r#"{{"service": "chat", "id": "u1", "bad": {bad}, "toxic": {toxic}}}"#)
}

fn state_of(g: &bylaw::governance::Governor, secs: u64) -> String {
    g.view(at(secs)).services[0].state.name().to_string()
}

const MIN: u64 = 60;

#[test]
fn the_kill_switch_on_a_trigger_suspension_holds_it_until_resumed() {
    let g = governor(OPERATED);
    g.decide_json(request(true, false).as_bytes(), at(0));
    g.suspend("chat", "oscar", "investigating", at(MIN))
        .unwrap();
    // The trigger's 10 minutes and the cooldown are long over: still held.
    assert_eq!(state_of(&g, 60 * MIN), "suspended");
    g.resume("chat", "oscar", at(61 * MIN)).unwrap();
    assert_eq!(
        state_of(&g, 61 * MIN),
        "recovering",
        "the cooldown ran during the hold"
    );
}

#[test]
fn a_trigger_firing_during_a_kill_switch_hold_leaves_the_hold_as_it_is() {
    let g = governor(OPERATED);
    g.suspend("chat", "oscar", "incident", at(0)).unwrap();
    let events = g
        .decide_json(request(true, false).as_bytes(), at(5 * MIN))
        .events;
    assert!(
        events.iter().all(|e| e.what.kind() != "service_changed"),
        "{events:?}"
    );
    assert_eq!(
        state_of(&g, 60 * MIN),
        "suspended",
        "not released by the trigger's `for`"
    );
}

#[test]
fn resume_during_a_ramp_is_refused_and_the_ramp_goes_on() {
    let g = governor(OPERATED);
    g.decide_json(request(true, false).as_bytes(), at(0));
    g.approve("chat", "olga", None, at(11 * MIN)).unwrap();
    assert_eq!(state_of(&g, 12 * MIN), "recovering");
    let refused = g.resume("chat", "oscar", at(12 * MIN)).unwrap_err();
    assert!(
        refused.to_string().contains("already recovering"),
        "{refused}"
    );
    assert_eq!(
        state_of(&g, 40 * MIN),
        "active",
        "the ramp completed on its own"
    );
}

#[test]
fn degrading_a_suspended_service_does_nothing_and_is_not_remembered() {
    let g = governor(OPERATED);
    g.decide_json(request(true, false).as_bytes(), at(0));
    let events = g
        .decide_json(request(false, true).as_bytes(), at(MIN))
        .events;
    assert!(
        events.iter().all(|e| e.what.kind() != "service_changed"),
        "{events:?}"
    );
    assert_eq!(state_of(&g, 2 * MIN), "suspended");
    g.approve("chat", "olga", None, at(11 * MIN)).unwrap();
    assert_eq!(state_of(&g, 40 * MIN), "active");
}
