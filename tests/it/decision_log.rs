//! Decision logs from a real `bylaw serve`: to a file with masked fields, to an HTTP
//! receiver that fails at first (retried until it takes them), and to a receiver that
//! is down (bounded: dropped and counted, decisions unaffected, /healthz degraded).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::replay::chat_request;
use crate::server::Server;

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn decisions_are_logged_to_a_file_with_masked_fields() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.jsonl");
    let log_arg = log.to_str().unwrap().to_string();
    let server = Server::start_in(
        tempfile::tempdir().unwrap(),
        false,
        &[
            "--decision-log-file",
            &log_arg,
            "--decision-log-mask",
            "user.age,scores.toxicity",
            "--decision-log-flush-ms",
            "20",
        ],
    );
    let ids: Vec<String> = (0..3)
        .map(|i| {
            server.decide(&chat_request(i, 0.0, 0.1, None))["decision_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let read = || -> Vec<Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    wait_until("three logged decisions", || read().len() == 3);
    let lines = read();
    for (line, id) in lines.iter().zip(&ids) {
        assert_eq!(line["decision"]["decision_id"], id.as_str());
        assert_eq!(line["decision"]["outcome"], "allow");
        assert_eq!(line["input"]["user"]["age"], "***", "{line}");
        assert_eq!(line["input"]["scores"]["toxicity"], "***", "{line}");
        assert_eq!(line["input"]["scores"]["jailbreak"], 0.0, "{line}");
        assert_eq!(line["input"]["service"], "chat");
    }
    let (_, health) = server.get("/healthz");
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["decision_log"]["shipped"], 3, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
}

/// The decision-log lines a receiver took, in order.
fn lines_taken(receiver: &crate::server::Loopback) -> Vec<Value> {
    receiver
        .taken
        .lock()
        .unwrap()
        .iter()
        .inspect(|(headers, _)| assert_eq!(headers["content-type"], "application/x-ndjson"))
        .flat_map(|(_, body)| {
            body.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn batches_are_retried_until_the_receiver_takes_them() {
    let receiver = crate::server::loopback("/logs", 2);
    let server = Server::start_in(
        tempfile::tempdir().unwrap(),
        false,
        &[
            "--decision-log-url",
            &receiver.url,
            "--decision-log-flush-ms",
            "20",
        ],
    );
    for i in 0..5 {
        server.decide(&chat_request(i, 0.0, 0.1, None));
    }
    wait_until("five shipped decisions", || {
        lines_taken(&receiver).len() == 5
    });
    assert!(
        receiver.attempts.load(Ordering::SeqCst) >= 3,
        "two refusals, then taken"
    );
    let ids: Vec<String> = lines_taken(&receiver)
        .iter()
        .map(|l| l["input"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        ["r-0", "r-1", "r-2", "r-3", "r-4"],
        "in order, none twice"
    );
    wait_until("a healthy log", || {
        let (_, health) = server.get("/healthz");
        let health: Value = serde_json::from_str(&health).unwrap();
        health["decision_log"]["failing"].is_null() && health["decision_log"]["shipped"] == 5
    });
}

#[test]
fn a_down_receiver_costs_dropped_log_entries_not_decisions() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/logs");
    let server = Server::start_in(
        tempfile::tempdir().unwrap(),
        false,
        &[
            "--decision-log-url",
            &url,
            "--decision-log-max-queue",
            "5",
            "--decision-log-batch",
            "2",
            "--decision-log-flush-ms",
            "10",
        ],
    );
    let started = Instant::now();
    for i in 0..40 {
        assert_eq!(
            server.decide(&chat_request(i, 0.0, 0.1, None))["outcome"],
            "allow"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "decisions never wait for the log"
    );
    wait_until("a degraded /healthz", || {
        let (_, health) = server.get("/healthz");
        let health: Value = serde_json::from_str(&health).unwrap();
        health["status"] == "degraded" && health["decision_log"]["failing"].is_string()
    });
    let (_, health) = server.get("/healthz");
    let health: Value = serde_json::from_str(&health).unwrap();
    let dropped = health["decision_log"]["dropped"].as_u64().unwrap();
    let queued = health["decision_log"]["queued"].as_u64().unwrap();
    assert!(
        queued <= 7,
        "at most the queue and one batch held: {health}"
    );
    assert_eq!(dropped + queued, 40, "{health}");
    let (_, metrics) = server.get("/metrics");
    assert!(
        metrics.contains(&format!("bylaw_decision_log_dropped {dropped}")),
        "{metrics}"
    );
}

#[test]
fn fields_the_policy_marks_sensitive_are_masked_in_the_version_that_marks_them() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.bylaw");
    let original = std::fs::read_to_string(crate::example("genai_chat.bylaw")).unwrap();
    let marked = original.replace("  user.age: int\n", "  user.age: int sensitive\n");
    assert_ne!(marked, original);
    std::fs::write(&policy, &marked).unwrap();
    let log = tempfile::tempdir().unwrap();
    let log_path = log.path().join("decisions.jsonl");
    let log_arg = log_path.to_str().unwrap().to_string();
    let server = Server::start_in(
        dir,
        false,
        &[
            "--decision-log-file",
            &log_arg,
            "--decision-log-flush-ms",
            "20",
        ],
    );
    let read = || -> Vec<Value> {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    server.decide(&chat_request(1, 0.0, 0.1, None));
    wait_until("the first decision logged", || read().len() == 1);
    let first = &read()[0];
    assert_eq!(first["input"]["user"]["age"], "***", "{first}");
    assert_eq!(first["input"]["service"], "chat", "{first}");
    // The next version no longer marks it: its decisions log the age.
    let unmarked = original.replace("version \"1.0.0\"", "version \"1.0.1\"");
    std::fs::write(policy_path(&server), unmarked).unwrap();
    wait_until("the new version", || {
        let (_, body) = server.get("/v1/policy");
        body.contains("\"1.0.1\"")
    });
    server.decide(&chat_request(2, 0.0, 0.1, None));
    wait_until("the second decision logged", || read().len() == 2);
    let second = &read()[1];
    assert!(second["input"]["user"]["age"].is_number(), "{second}");
}

fn policy_path(server: &Server) -> std::path::PathBuf {
    server.dir.path().join("policy.bylaw")
}
