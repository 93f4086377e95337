//! The corrupted-store fuzz test (issue 22): random byte flips over a real state store,
//! then every command that opens it. None may panic: each either works or says the
//! store is unreadable, naming the file.

use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};
use serde_json::json;

use crate::replay::{bylaw, chat_request, retained};

/// A store with services, a report, blocks and retained decisions in it.
fn real_store(dir: &std::path::Path) -> std::path::PathBuf {
    let state = dir.join("state.redb");
    let traffic = dir.join("traffic.jsonl");
    let mut lines = Vec::new();
    let t0: u64 = 1_795_000_000_000;
    for i in 0..400u64 {
        let jailbreak = if i % 3 == 0 { 0.85 } else { 0.1 };
        let mut request = chat_request(i as usize, jailbreak, 0.1, Some(&format!("m-{}", i % 7)));
        if i % 2 == 0 {
            request = retained(request);
        }
        lines.push(json!({"at": t0 + i * 1000, "request": request}).to_string());
    }
    std::fs::write(&traffic, lines.join("\n") + "\n").unwrap();
    let policy = crate::example("genai_chat.bylaw");
    let out = bylaw(&[
        "replay",
        policy.to_str().unwrap(),
        "--requests",
        traffic.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    state
}

fn assert_no_panic(what: &str, out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{what} panicked: {stderr}");
    assert!(out.status.code().is_some(), "{what} was killed: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

#[test]
fn flipped_bytes_in_a_store_never_panic_any_command() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = std::fs::read(real_store(dir.path())).unwrap();
    let policy = crate::example("genai_chat.bylaw");
    let policy = policy.to_str().unwrap();
    let mut rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let runs: usize = std::env::var("BYLAW_CORRUPT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let (mut refused, mut worked) = (0, 0);
    for run in 0..runs {
        let mut bytes = pristine.clone();
        let flips = rng.random_range(1..=16);
        // Half the runs aim at the first pages, where redb keeps its header and roots.
        let span = if run % 2 == 0 {
            bytes.len().min(16 << 10)
        } else {
            bytes.len()
        };
        for _ in 0..flips {
            let at = rng.random_range(0..span);
            bytes[at] ^= 1 << rng.random_range(0..8);
        }
        let state = dir.path().join(format!("corrupt-{run}.redb"));
        std::fs::write(&state, &bytes).unwrap();
        let state = state.to_str().unwrap();
        let commands: [&[&str]; 5] = [
            &["audit", "verify", "--state", state],
            &["audit", "log", "--state", state, "--limit", "1000000"],
            &["ctl", "--policy", policy, "--state", state, "status"],
            &[
                "ctl",
                "--policy",
                policy,
                "--state",
                state,
                "--at",
                "2030-01-01T00:00:00Z",
                "suspend",
                "chat",
                "--reason",
                "fuzz",
            ],
            &[
                "audit",
                "purge",
                "--state",
                state,
                "--at",
                "2031-01-01T00:00:00Z",
            ],
        ];
        for args in commands {
            let out = bylaw(args);
            assert_no_panic(&format!("run {run}: bylaw {}", args.join(" ")), &out);
            if out.status.success() {
                worked += 1;
            } else {
                refused += 1;
                let stderr = String::from_utf8_lossy(&out.stderr);
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(
                    stderr.contains("error") || stdout.contains("BROKEN"),
                    "run {run}: a failure says why: {stderr}{stdout}"
                );
            }
        }
    }
    eprintln!("{worked} commands worked, {refused} refused, over {runs} corrupted stores");
    assert!(
        refused > 0,
        "no flip was ever noticed: the test is not reaching the data"
    );
}
