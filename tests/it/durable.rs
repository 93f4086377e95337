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

#[test]
fn ctl_status_is_a_query_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let policy = crate::example("genai_chat.bylaw");
    let (policy, state_text) = (policy.to_str().unwrap(), state.to_str().unwrap());
    let out = ctl(
        policy,
        state_text,
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
    let out = ctl(
        policy,
        state_text,
        &[
            "--at",
            "2026-11-18T10:00:00Z",
            "suspend",
            "chat",
            "--reason",
            "incident",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
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
