//! `bylaw replay`, `bylaw ctl` and `bylaw audit` as an operator runs them.

use std::process::Command;

use serde_json::{Value, json};

pub(crate) fn bylaw(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bylaw"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("BYLAW_STATE")
        .env_remove("BYLAW_POLICY")
        .output()
        .unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn example(name: &str) -> String {
    crate::example(name).to_string_lossy().into_owned()
}

/// 2026-11-18T11:06:40Z, in seconds.
const T0: u64 = 1_795_000_000;

/// A request to `genai_chat.bylaw`'s chat service.
pub(crate) fn chat_request(id: usize, jailbreak: f64, toxicity: f64, model: Option<&str>) -> Value {
    json!({
        "id": format!("r-{id}"), "service": "chat", "domain": "general", "region": "CN",
        "user": {"age": 30, "minor_mode": false},
        "data": {"personal": false, "consent": false},
        "scores": {"toxicity": toxicity, "jailbreak": jailbreak},
        "output": {"synthetic": false, "explicit_label": false},
        "reviewer": {"assigned": false}, "tags": [], "model": {"id": model}
    })
}

/// `request` with synthetic, labelled output in China: tier `limited`, so the
/// `keep_logs` duty (`retain 6 months`) applies and its decision is audited.
pub(crate) fn retained(mut request: Value) -> Value {
    request["output"] = json!({"synthetic": true, "explicit_label": true});
    request
}

/// A day of chat traffic, generated: calm, a jailbreak wave (suspension), recovery
/// with an approval refused and one given, a relapse during the ramp, recovery again,
/// a model abused (notify, report), and toxicity drift (degrade).
fn generated_traffic() -> String {
    let mut lines = Vec::new();
    let mut id = 0;
    let mut request = |lines: &mut Vec<Value>,
                       secs: u64,
                       jailbreak: f64,
                       toxicity: f64,
                       model: Option<&str>| {
        id += 1;
        lines.push(json!({"at": (T0 + secs) * 1000, "request": chat_request(id, jailbreak, toxicity, model)}));
    };
    let ctl = |lines: &mut Vec<Value>, secs: u64, command: Value| {
        let mut line = command;
        line["at"] = json!((T0 + secs) * 1000);
        lines.push(line);
    };
    for s in (0..600).step_by(30) {
        request(&mut lines, s, 0.0, 0.1, Some("m-1"));
    }
    // 60 jailbreak attempts, one every 5 s: the 50th suspends chat.
    for i in 0..60 {
        request(&mut lines, 600 + i * 5, 0.85, 0.1, Some("m-1"));
    }
    for s in (900..2700).step_by(60) {
        request(&mut lines, s, 0.0, 0.1, Some("m-1"));
    }
    // Suspended at 845 for 30m (cooldown 30m): recovery from 2645.
    ctl(
        &mut lines,
        2700,
        json!({"ctl": "approve", "service": "chat", "by": "alice", "role": "ceo"}),
    );
    ctl(
        &mut lines,
        2710,
        json!({"ctl": "approve", "service": "chat", "by": "alice"}),
    );
    ctl(
        &mut lines,
        2720,
        json!({"ctl": "approve", "service": "chat", "by": "bob"}),
    );
    for s in (2730..3000).step_by(30) {
        request(&mut lines, s, 0.0, 0.1, Some("m-1"));
    }
    // A second wave during the 10% stage: relapse.
    for i in 0..50 {
        request(&mut lines, 3000 + i * 2, 0.85, 0.1, Some("m-1"));
    }
    ctl(
        &mut lines,
        5000,
        json!({"ctl": "approve", "service": "chat", "by": "carol"}),
    );
    for s in (5000..7000).step_by(60) {
        request(&mut lines, s, 0.0, 0.1, Some("m-1"));
    }
    // One model abused: 10 attempts above 0.9 within 5 minutes.
    for i in 0..10 {
        request(&mut lines, 7000 + i * 20, 0.93, 0.1, Some("m-7"));
    }
    // Requests without a model are not counted per model.
    for i in 0..12 {
        request(&mut lines, 7300 + i * 5, 0.93, 0.1, None);
    }
    ctl(
        &mut lines,
        7400,
        json!({"ctl": "file", "report": 1, "by": "dana"}),
    );
    // Toxicity drift: more than 5% of the last hour's decisions.
    for i in 0..400 {
        let toxicity = if i % 4 == 0 { 0.75 } else { 0.1 };
        request(&mut lines, 9000 + i * 5, 0.0, toxicity, Some("m-1"));
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn replay_prints_the_timeline_of_a_generated_day() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = dir.path().join("traffic.jsonl");
    std::fs::write(&traffic, generated_traffic()).unwrap();
    let out = bylaw(&[
        "replay",
        &example("genai_chat.bylaw"),
        "--requests",
        traffic.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!("replay_genai_chat_day", stdout(&out));
}

#[test]
fn a_replay_names_its_decisions_with_the_same_ids_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = dir.path().join("traffic.jsonl");
    std::fs::write(&traffic, generated_traffic()).unwrap();
    let run = || {
        let out = bylaw(&[
            "replay",
            &example("genai_chat.bylaw"),
            "--requests",
            traffic.to_str().unwrap(),
            "--decisions",
            "--format",
            "jsonl",
        ]);
        assert_eq!(out.status.code(), Some(0));
        stdout(&out)
    };
    let first = run();
    assert_eq!(first, run());
    let mut ids = std::collections::HashSet::new();
    for line in first.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if let Some(d) = v.get("decision") {
            let id = d["decision_id"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "{id} twice");
            // The id's time is the decision's: the traffic line's, not the clock's.
            let at = d["at"].as_str().unwrap();
            assert_eq!(at, v["at"].as_str().unwrap());
        }
    }
    assert!(ids.len() > 100, "{}", ids.len());
}

#[test]
fn replay_reports_bad_lines_with_their_number_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = dir.path().join("traffic.jsonl");
    let good = json!({"at": "2026-11-18T11:00:00Z", "request": chat_request(1, 0.0, 0.1, None)});
    let early = json!({"at": "2026-11-18T10:00:00Z", "request": chat_request(2, 0.0, 0.1, None)});
    let unknown = json!({"at": "2026-11-18T11:00:01Z", "ctl": "explode", "service": "chat"});
    let invalid = json!({"at": "2026-11-18T11:00:02Z", "request": {"id": "x"}});
    std::fs::write(
        &traffic,
        format!("{good}\nnot json\n{early}\n{unknown}\n{{\"request\": {{}}}}\n{invalid}\n"),
    )
    .unwrap();
    let out = bylaw(&[
        "replay",
        &example("genai_chat.bylaw"),
        "--requests",
        traffic.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "traffic.jsonl:2: expected ident",
        "traffic.jsonl:3: time goes back: 2026-11-18T10:00:00Z comes after 2026-11-18T11:00:00Z",
        "traffic.jsonl:4: not a request and not an operator command: unknown variant `explode`",
        "traffic.jsonl:5: missing field `at`",
        "4 line(s)",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in\n{stderr}");
    }
    // The invalid request is still decided: denied.
    assert!(
        stdout(&out).contains("2 requests: allow 1, deny 1"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn ctl_drives_the_kill_switch_and_recovery_against_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let policy = example("genai_chat.bylaw");
    let ctl = |args: &[&str]| {
        let mut all = vec![
            "ctl",
            "--policy",
            &policy,
            "--state",
            state.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        bylaw(&all)
    };
    let out = ctl(&[
        "suspend",
        "chat",
        "--reason",
        "incident 7",
        "--by",
        "oscar",
        "--at",
        "2026-11-20T10:00:00Z",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("service chat: active → suspended (held until an operator resumes it) (operator oscar: incident 7)"));

    let status = ctl(&["status", "--at", "2026-11-21T10:00:00Z"]);
    assert!(
        stdout(&status).contains("service chat: suspended (held until an operator resumes it)")
    );

    let refused = ctl(&[
        "approve",
        "chat",
        "--by",
        "alice",
        "--at",
        "2026-11-21T10:00:00Z",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("refused: service `chat` is suspended")
    );

    let resumed = ctl(&[
        "resume",
        "chat",
        "--by",
        "oscar",
        "--at",
        "2026-11-21T10:00:00Z",
    ]);
    assert!(
        stdout(&resumed).contains("→ recovering: awaiting approval by \"safety-officer\""),
        "{}",
        stdout(&resumed)
    );
    let approved = ctl(&[
        "approve",
        "chat",
        "--by",
        "alice",
        "--at",
        "2026-11-21T10:05:00Z",
        "--format",
        "json",
    ]);
    let events: Vec<Value> = stdout(&approved)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["event"], "approved");
    assert_eq!(events[1]["to"], "recovering: ramp 10%");

    let blocked = ctl(&[
        "block",
        "user.age",
        "12",
        "--for",
        "1h",
        "--reason",
        "test",
        "--at",
        "2026-11-21T10:05:00Z",
    ]);
    assert_eq!(
        blocked.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&blocked.stderr)
    );
    let bad_field = ctl(&["block", "tags", "x", "--for", "1h"]);
    assert_eq!(bad_field.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_field.stderr).contains("`tags` is a set"));
    let bad_for = ctl(&["block", "id", "x", "--for", "soon"]);
    assert!(String::from_utf8_lossy(&bad_for.stderr).contains("`soon` is not a duration"));

    let status = ctl(&["status", "--at", "2026-11-21T10:06:00Z", "--format", "json"]);
    let status: Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(status["services"][0]["state"]["state"], "recovering");
    assert_eq!(status["blocks"][0]["key"], "12");

    let verify = bylaw(&["audit", "verify", "--state", state.to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(0));
    assert!(
        stdout(&verify).contains("5 record(s), 0 purged"),
        "{}",
        stdout(&verify)
    );
    assert!(stdout(&verify).contains("the chain verifies"));
    let log = bylaw(&[
        "audit",
        "log",
        "--state",
        state.to_str().unwrap(),
        "--kind",
        "approved",
    ]);
    let records: Vec<Value> = stdout(&log)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1);
    let body = &records[0]["body"];
    assert_eq!(body["by"], "alice");
}

#[test]
fn ctl_and_audit_explain_a_missing_store_or_service() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let out = bylaw(&["audit", "verify", "--state", state.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no state store at"));
    let out = bylaw(&[
        "ctl",
        "--policy",
        &example("genai_chat.bylaw"),
        "--state",
        state.to_str().unwrap(),
        "resume",
        "search",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("the policy has no service `search` (services: chat)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
