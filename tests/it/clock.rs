//! The policy's clock as users meet it: `now`, effective periods in both engines and
//! enforcement modules, a left-out clock reading the host's time, and a replay reading
//! each line's time (`tests/data/guard/clock.bylaw`).

use std::sync::Arc;

use bylaw::runtime::decision::Outcome;
use bylaw::{Engine, Guard, Policy};
use serde_json::{Value as Json, json};

fn guards() -> [Guard; 2] {
    let source = std::fs::read_to_string(crate::data("guard/clock.bylaw")).unwrap();
    let policy = Arc::new(Policy::check("clock.bylaw", &source).unwrap());
    [
        Guard::new(policy.clone(), Engine::Jit).unwrap(),
        Guard::new(policy, Engine::Interpreter).unwrap(),
    ]
}

/// The ids of the fired rules and applying duties, by both engines (which agree).
fn decide(request: Json) -> (Outcome, Vec<String>) {
    let bytes = serde_json::to_vec(&request).unwrap();
    let [jit, interp] = guards();
    let (a, b) = (jit.decide_json(&bytes), interp.decide_json(&bytes));
    assert_eq!(a, b, "engines disagree on {request}");
    assert!(a.errors.is_empty(), "{:?}", a.errors);
    let mut ids: Vec<String> = a.reasons.iter().map(|r| r.id.clone()).collect();
    ids.extend(a.duties.iter().map(|d| d.id.clone()));
    (a.outcome, ids)
}

fn child_at(time: &str) -> Json {
    json!({"id": "r", "service": "chat", "request": {"time": time}, "user": {"age": 12}})
}

#[test]
fn rules_and_duties_hold_only_in_their_effective_period() {
    // 15:30Z is 23:30 in Shanghai.
    let (outcome, ids) = decide(child_at("2026-03-10T15:30:00Z"));
    assert_eq!(outcome, Outcome::Deny);
    assert!(ids.contains(&"minors_at_night".to_string()), "{ids:?}");
    assert!(ids.contains(&"label".to_string()), "{ids:?}");
    // Before 2024 the rule was not in force; before 2025-09 the duty was not.
    let (outcome, ids) = decide(child_at("2023-12-10T15:30:00Z"));
    assert_eq!((outcome, ids), (Outcome::Allow, vec![]));
    // The first second of the period is in it.
    let (_, ids) = decide(child_at("2025-09-01T00:00:00Z"));
    assert_eq!(ids, ["label"]);
    let (_, ids) = decide(child_at("2025-08-31T23:59:59Z"));
    assert!(ids.is_empty(), "{ids:?}");
    // `until` is exclusive.
    let (_, ids) = decide(child_at("2000-12-31T23:59:59Z"));
    assert_eq!(ids.first().map(String::as_str), Some("old_rule"));
    let (_, ids) = decide(child_at("2001-01-01T00:00:00Z"));
    assert!(ids.is_empty(), "{ids:?}");
}

/// A request that leaves the clock out is decided at the host's time: after 2025, so
/// the label duty applies and the rule of 1999–2001 does not.
#[test]
fn a_left_out_clock_reads_the_time_of_the_decision() {
    let (_, ids) = decide(json!({"id": "r", "service": "chat", "user": {"age": 12}}));
    assert!(ids.contains(&"label".to_string()), "{ids:?}");
    assert!(!ids.contains(&"old_rule".to_string()), "{ids:?}");
    assert!(!ids.contains(&"recent".to_string()), "{ids:?}");
}

/// A replay decides a request without the clock at its line's time, and counts a
/// trigger only within the trigger's period.
#[test]
fn replays_read_the_time_of_each_line() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = dir.path().join("traffic.jsonl");
    let line = |at: &str, id: &str, extra: Json| {
        let mut request = json!({"id": id, "service": "chat", "user": {"age": 12}});
        if let Some(time) = extra.as_str() {
            request["request"] = json!({"time": time});
        }
        json!({"at": at, "request": request}).to_string()
    };
    let lines = [
        // 23:00 in Shanghai, but in 2023: the rule and the trigger are not in force.
        line("2023-06-01T15:00:00Z", "a", Json::Null),
        // 23:00 in Shanghai in 2026: denied.
        line("2026-06-01T15:00:00Z", "b", Json::Null),
        // The request's own clock says 09:00 in Shanghai: allowed.
        line("2026-06-01T15:10:00Z", "c", json!("2026-06-01T01:00:00Z")),
    ];
    std::fs::write(&traffic, lines.join("\n") + "\n").unwrap();
    let policy = crate::data("guard/clock.bylaw");
    let out = crate::replay::bylaw(&[
        "replay",
        policy.to_str().unwrap(),
        "--requests",
        traffic.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("3 requests: allow 2, deny 1"), "{stdout}");
    // Two children within the hour, both in 2026: the trigger fires once.
    assert!(
        stdout.contains("trigger night_wave: fired 1 time(s)"),
        "{stdout}"
    );
}
