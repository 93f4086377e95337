//! The crash test: `bylaw replay --state` decides a stream with durable state and is
//! killed with SIGKILL at random points, many times. After each kill, every event it
//! acknowledged (printed — it prints an event only once its audit record is durable)
//! is in the audit log unchanged, every acknowledged suspension and open report is in
//! the state, and `bylaw audit verify` passes. Then the next run continues on the
//! same store.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};
use serde_json::{Value, json};

use crate::replay::{bylaw, chat_request, retained};

/// Kills per test run; `BYLAW_CRASH_RUNS` for longer runs.
fn runs() -> usize {
    std::env::var("BYLAW_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

/// Run `round`'s traffic, a day after the previous round's: a jailbreak wave that
/// suspends chat, then many models abused one after another, each opening a report.
fn traffic(round: u64) -> String {
    let start = (1_795_000_000 + round * 86_400) * 1000;
    let mut lines = Vec::new();
    let mut at = start;
    let mut id = 0;
    let mut push = |at: u64, jailbreak: f64, model: String| {
        id += 1;
        let request = chat_request(id, jailbreak, 0.1, Some(&model));
        lines.push(json!({"at": at, "request": request}).to_string());
    };
    for _ in 0..50 {
        at += 1000;
        push(at, 0.85, format!("wave-{round}"));
    }
    // Long enough (about 3,000 durable commits) that every kill lands mid-run.
    for model in 0..3000 {
        for _ in 0..10 {
            at += 100;
            push(at, 0.95, format!("m-{round}-{model}"));
        }
    }
    lines.join("\n") + "\n"
}

/// The complete lines a killed child printed: its acknowledged events.
fn acknowledged(output: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(output);
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v: &Value| v.get("seq").is_some())
        .collect()
}

fn audit_log(state: &str) -> BTreeMap<u64, Value> {
    let out = bylaw(&["audit", "log", "--state", state, "--limit", "100000000"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let record: Value = serde_json::from_str(l).unwrap();
            (record["seq"].as_u64().unwrap(), record)
        })
        .collect()
}

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_record_or_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let state = state.to_str().unwrap();
    let policy = crate::example("genai_chat.bylaw");
    let mut rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut acked_total = 0;
    let mut reports_acked = BTreeSet::new();
    for round in 0..runs() as u64 {
        let path = dir.path().join(format!("traffic-{round}.jsonl"));
        std::fs::write(&path, traffic(round)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_bylaw"))
            .args(["replay", policy.to_str().unwrap(), "--requests"])
            .arg(&path)
            .args(["--state", state, "--format", "jsonl"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout.read_to_end(&mut bytes);
            bytes
        });
        // Somewhere between start-up and the end of the run.
        let delay = Duration::from_millis(rng.random_range(30..630));
        let started = Instant::now();
        while started.elapsed() < delay && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = acknowledged(&reader.join().unwrap());
        std::fs::remove_file(&path).unwrap();
        acked_total += acked.len();
        eprintln!(
            "round {round}: {} acknowledged after {:?}",
            acked.len(),
            delay
        );

        // Every acknowledged event is in the log, unchanged.
        let log = audit_log(state);
        for event in &acked {
            let seq = event["seq"].as_u64().unwrap();
            let record = log
                .get(&seq)
                .unwrap_or_else(|| panic!("round {round}: acknowledged record {seq} is gone"));
            assert_eq!(
                record["kind"], event["event"],
                "round {round}, record {seq}"
            );
            let mut expected = event.clone();
            expected.as_object_mut().unwrap().remove("seq");
            let body = record["body"].clone();
            assert_eq!(body, expected, "round {round}, record {seq}");
            if event["event"] == "report_opened" {
                reports_acked.insert(event["report"].as_u64().unwrap());
            }
        }

        let verify = bylaw(&["audit", "verify", "--state", state]);
        assert_eq!(
            verify.status.code(),
            Some(0),
            "round {round}: {}",
            String::from_utf8_lossy(&verify.stdout)
        );

        // Reports and the suspension, as of the last acknowledged moment.
        let Some(last) = acked.last() else { continue };
        let at = last["at"].as_str().unwrap();
        let status = bylaw(&[
            "ctl",
            "--policy",
            policy.to_str().unwrap(),
            "--state",
            state,
            "status",
            "--format",
            "json",
            "--at",
            at,
        ]);
        assert_eq!(
            status.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let status: Value = serde_json::from_slice(&status.stdout).unwrap();
        let stored: BTreeSet<u64> = status["reports"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r.get("filed").is_none())
            .map(|r| r["id"].as_u64().unwrap())
            .collect();
        assert!(
            reports_acked.is_subset(&stored),
            "round {round}: acknowledged open reports {:?} not all stored",
            reports_acked.difference(&stored).collect::<Vec<_>>()
        );
        let suspended_acked = acked.iter().any(|e| {
            e["event"] == "service_changed" && e["to"].as_str().unwrap().starts_with("suspended")
        });
        if suspended_acked {
            assert_eq!(
                status["services"][0]["state"]["state"], "suspended",
                "round {round}"
            );
        }
    }
    assert!(
        acked_total > 0,
        "no run lived long enough to acknowledge anything"
    );
}

/// A full disk, simulated with a file-size limit on the replaying process: the store
/// refuses writes after the failed commit, decisions that a `retain` duty needs logged
/// are denied with the reason, nothing panics, and the log on disk still verifies.
#[test]
fn a_full_disk_fails_closed_and_keeps_the_chain_whole() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let traffic = dir.path().join("traffic.jsonl");
    let lines: String = (0..3000)
        .map(|i| {
            let request = retained(chat_request(i, 0.0, 0.1, None));
            format!(
                "{}\n",
                json!({"at": 1_795_000_000_000u64 + i as u64 * 1000, "request": request})
            )
        })
        .collect();
    std::fs::write(&traffic, lines).unwrap();
    let policy = crate::example("genai_chat.bylaw");
    let script = format!(
        "trap '' XFSZ; ulimit -f 1024; exec '{}' replay '{}' --requests '{}' --state '{}' --decisions --format jsonl",
        env!("CARGO_BIN_EXE_bylaw"),
        policy.display(),
        traffic.display(),
        state.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decisions: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("decision").is_some())
        .collect();
    assert_eq!(decisions.len(), 3000);
    let refused: Vec<&Value> = decisions
        .iter()
        .filter(|d| d["decision"]["outcome"] == "deny")
        .collect();
    assert!(!refused.is_empty(), "the limit was never reached");
    let reason = refused[0]["decision"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "audit-log")
        .unwrap();
    assert!(
        reason["message"]
            .as_str()
            .unwrap()
            .contains("the audit log cannot record the decision"),
        "{reason}"
    );
    // Before the failure, decisions were allowed; after it, every one is denied.
    assert_eq!(decisions[0]["decision"]["outcome"], "allow");
    assert_eq!(decisions[2999]["decision"]["outcome"], "deny");

    let verify = bylaw(&["audit", "verify", "--state", state.to_str().unwrap()]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    // With space again, the store takes writes from where it stopped.
    let again = bylaw(&[
        "replay",
        policy.to_str().unwrap(),
        "--requests",
        traffic.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("3000 requests: allow 3000"));
    let verify = bylaw(&["audit", "verify", "--state", state.to_str().unwrap()]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn sigkill_under_load_loses_no_answered_retained_decision() {
    let mut dir = tempfile::tempdir().unwrap();
    let mut answered = BTreeSet::new();
    for round in 0..3usize {
        let mut server = crate::server::Server::start_in(dir, true, &[]);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let base = server.base().to_string();
        let acked: Vec<Vec<String>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4usize)
                .map(|worker| {
                    let (base, stop) = (&base, &stop);
                    scope.spawn(move || {
                        let agent = client();
                        let mut acked = Vec::new();
                        let mut n = 0;
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            n += 1;
                            let id = (round * 10 + worker) * 1_000_000 + n;
                            let body = retained(chat_request(id, 0.1, 0.1, None)).to_string();
                            // A request cut off by the kill was never answered.
                            let Ok(mut response) = agent
                                .post(format!("{base}/v1/decide"))
                                .header("content-type", "application/json")
                                .send(&body)
                            else {
                                break;
                            };
                            let Ok(answer) = response.body_mut().read_to_string() else {
                                break;
                            };
                            assert_eq!(response.status().as_u16(), 200, "{answer}");
                            let decision: Value = serde_json::from_str(&answer).unwrap();
                            assert_eq!(decision["outcome"], "allow", "{decision}");
                            assert!(
                                decision["duties"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .any(|d| d["id"] == "keep_logs"),
                                "{decision}"
                            );
                            acked.push(format!("r-{id}"));
                        }
                        acked
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(1500));
            // SIGKILL while the workers are mid-request.
            server.child.kill().unwrap();
            server.child.wait().unwrap();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        answered.extend(acked.into_iter().flatten());
        dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    }
    assert!(
        answered.len() > 300,
        "only {} decisions answered",
        answered.len()
    );
    let store = bylaw::governance::store::Store::open(&dir.path().join("state.redb")).unwrap();
    let verified = store.verify().unwrap();
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    let logged: BTreeSet<String> = store
        .records(0, usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "decision")
        .filter_map(|r| {
            let body: Value = serde_json::from_str(r.body?.get()).ok()?;
            body["request_id"].as_str().map(str::to_string)
        })
        .collect();
    let missing: Vec<&String> = answered.difference(&logged).collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered retained decisions are not in the log, e.g. {:?}",
        missing.len(),
        answered.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn sigkill_while_events_and_report_steps_arrive_loses_none_acknowledged() {
    let mut dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        crate::data("governance/incidents.bylaw"),
        dir.path().join("policy.bylaw"),
    )
    .unwrap();
    let outbox = dir.path().join("notifications.jsonl");
    let outbox_arg = outbox.to_str().unwrap().to_string();
    let mut posted = BTreeSet::new();
    let mut filed = BTreeSet::new();
    for round in 0..3usize {
        let mut server =
            crate::server::Server::start_in(dir, true, &["--notify-file", &outbox_arg]);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let base = server.base().to_string();
        let (events, steps): (Vec<String>, Vec<u64>) = std::thread::scope(|scope| {
            let poster = scope.spawn(|| {
                let agent = client();
                let mut acked = Vec::new();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let id = format!("r{round}-{n}");
                    let body = json!({"id": id, "severity": "death", "service": "chat"});
                    let Ok(mut response) = agent
                        .post(format!("{base}/v1/events/incident"))
                        .header("content-type", "application/json")
                        .send(body.to_string())
                    else {
                        break;
                    };
                    if response.status() == 200 && response.body_mut().read_to_string().is_ok() {
                        acked.push(id);
                    }
                }
                acked
            });
            let filer = scope.spawn(|| {
                let agent = client();
                let mut acked = Vec::new();
                let mut report = 1u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok(response) = agent
                        .post(format!("{base}/v1/reports/{report}/file"))
                        .header("content-type", "application/json")
                        .header("authorization", "Bearer s3cret")
                        .send(r#"{"by": "dpo"}"#)
                    else {
                        break;
                    };
                    match response.status().as_u16() {
                        200 => {
                            acked.push(report);
                            report += 1;
                        }
                        // Filed in an earlier round.
                        409 => report += 1,
                        _ => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
                acked
            });
            std::thread::sleep(Duration::from_millis(1200));
            server.child.kill().unwrap();
            server.child.wait().unwrap();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            (poster.join().unwrap(), filer.join().unwrap())
        });
        posted.extend(events);
        filed.extend(steps);
        dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    }
    assert!(posted.len() > 30, "only {} events answered", posted.len());
    assert!(!filed.is_empty(), "no report filed");
    // A last run delivers what the kills left in the outbox.
    let mut server = crate::server::Server::start_in(dir, true, &["--notify-file", &outbox_arg]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = server.get("/healthz");
        let health: Value = serde_json::from_str(&body).unwrap();
        if health["notifications"]["pending"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "outbox not drained: {health}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, reports) = server.get_with_token("/v1/reports", Some("s3cret"));
    let reports: Vec<Value> = serde_json::from_str(&reports).unwrap();
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    drop(server);
    let reported: BTreeSet<String> = reports
        .iter()
        .filter_map(|r| r["event"]["id"].as_str().map(str::to_string))
        .collect();
    let lost: Vec<&String> = posted.difference(&reported).collect();
    assert!(
        lost.is_empty(),
        "answered events without their report: {lost:?}"
    );
    for report in &filed {
        let stored = reports.iter().find(|r| r["id"] == *report).unwrap();
        assert!(
            stored["filed"].is_object(),
            "report {report} lost its filing"
        );
    }
    let delivered: BTreeSet<String> = std::fs::read_to_string(&outbox)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|n| n["event"]["about"].as_str().map(str::to_string))
        .collect();
    let undelivered: Vec<String> = reported
        .iter()
        .map(|id| format!("incident:{id}"))
        .filter(|about| !delivered.contains(about))
        .collect();
    assert!(
        undelivered.is_empty(),
        "reports never notified: {undelivered:?}"
    );
    let store = bylaw::governance::store::Store::open(&dir.path().join("state.redb")).unwrap();
    let verified = store.verify().unwrap();
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
}

/// An HTTP client that hands back every status instead of failing on 4xx and 5xx.
fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}
