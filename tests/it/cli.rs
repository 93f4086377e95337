//! The `bylaw` binary as a user runs it: exit codes, formats, help.

use std::process::Command;

fn bylaw(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bylaw"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn check_passes_on_the_example_policies() {
    for path in crate::example_policies() {
        let out = bylaw(&["check", path.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("0 errors"));
    }
}

#[test]
fn check_accepts_directories() {
    let dir = crate::example("");
    let out = bylaw(&["check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let files = crate::example_policies().len();
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("checked {files} files")));
}

#[test]
fn check_exits_1_on_errors_and_renders_them() {
    let path = crate::data("check/invalid/E0200_unknown_field.bylaw");
    let out = bylaw(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[E0200] Error: unknown field `user.agee`"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `user.age`?"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "NO_COLOR means no escape codes");
}

#[test]
fn warnings_fail_only_with_deny_warnings() {
    let path = crate::data("check/invalid/W0001_has_required.bylaw");
    let path = path.to_str().unwrap();
    assert_eq!(bylaw(&["check", path]).status.code(), Some(0));
    assert_eq!(
        bylaw(&["check", "--deny-warnings", path]).status.code(),
        Some(1)
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(bylaw(&["check"]).status.code(), Some(2));
    assert_eq!(
        bylaw(&["check", "/no/such/policy.bylaw"]).status.code(),
        Some(2)
    );
    assert_eq!(
        bylaw(&["check", "--format", "xml", "x.bylaw"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(bylaw(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn json_format_is_one_document_on_stdout() {
    let path = crate::data("check/multi/several_errors.bylaw");
    let out = bylaw(&["check", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["errors"], 5);
    assert_eq!(doc["files"], 1);
    assert_eq!(doc["diagnostics"].as_array().unwrap().len(), 5);
}

#[test]
fn help_describes_each_command() {
    let out = bylaw(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("check"), "{text}");
    let out = bylaw(&["check", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--format", "--deny-warnings", "--color"] {
        assert!(text.contains(flag), "{text}");
    }
}

fn example_path(name: &str) -> String {
    crate::example_policies()
        .into_iter()
        .find(|p| p.ends_with(name))
        .unwrap()
        .to_string_lossy()
        .to_string()
}

fn request_path(name: &str) -> String {
    crate::example("requests")
        .join(name)
        .to_string_lossy()
        .to_string()
}

#[test]
fn test_runs_every_example_and_passes() {
    for engine in ["jit", "interp"] {
        let dir = crate::example("").to_string_lossy().to_string();
        let out = bylaw(&["test", "--engine", engine, &dir]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(
            stdout.trim_end().ends_with("30 passed, 0 failed"),
            "{stdout}"
        );
        assert!(
            stdout.contains("  ok      minors need minor mode"),
            "{stdout}"
        );
    }
}

#[test]
fn a_failing_test_shows_what_differed_and_exits_1() {
    let dir = std::env::temp_dir().join(format!("bylaw-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = std::fs::read_to_string(example_path("genai_chat.bylaw")).unwrap();
    let broken = source.replace(
        "expect deny, tier prohibited",
        "expect allow, tier minimal, duty keep_logs",
    );
    let file = dir.join("broken.bylaw");
    std::fs::write(&file, broken).unwrap();
    let out = bylaw(&["test", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED  minors need minor mode"),
        "{stdout}"
    );
    assert!(
        stdout.contains("outcome: expected allow, got deny"),
        "{stdout}"
    );
    assert!(
        stdout.contains("tier: expected minimal, got prohibited"),
        "{stdout}"
    );
    assert!(
        stdout.contains("duty: expected `keep_logs` to apply; applying: none"),
        "{stdout}"
    );
    assert!(
        stdout.trim_end().ends_with("5 passed, 1 failed"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn eval_prints_one_decision_as_json() {
    let policy = example_path("genai_chat.bylaw");
    for engine in ["jit", "interp"] {
        let out = bylaw(&[
            "eval",
            &policy,
            "--engine",
            engine,
            "--request",
            &request_path("chat_eu_medical.json"),
        ]);
        assert_eq!(out.status.code(), Some(0));
        let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(d["outcome"], "escalate");
        assert_eq!(d["tier"], "high");
        assert_eq!(d["duties"][0]["id"], "human_oversight");
        assert_eq!(d["duties"][0]["met"], false);
    }
    let out = bylaw(&[
        "eval",
        &policy,
        "--request",
        &request_path("chat_missing_field.json"),
    ]);
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["outcome"], "deny");
    assert_eq!(d["tier"], serde_json::Value::Null);
    assert_eq!(d["errors"][0]["field"], "user.age");
}

#[test]
fn eval_streams_json_lines_in_order() {
    let policy = example_path("minimal.bylaw");
    let dir = std::env::temp_dir().join(format!("bylaw-cli-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("in.jsonl");
    let mut lines = String::new();
    for i in 0..500 {
        lines.push_str(&format!(
            "{{\"scores\": {{\"toxicity\": {}}}}}\n",
            f64::from(i % 10) / 10.0
        ));
    }
    lines.push_str("not json\n\n");
    std::fs::write(&file, lines).unwrap();
    let out = bylaw(&["eval", &policy, "--requests", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let decisions: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(decisions.len(), 501, "one decision per non-empty line");
    for (i, d) in decisions.iter().take(500).enumerate() {
        let expected = if i % 10 == 9 { "deny" } else { "allow" };
        assert_eq!(d["outcome"], expected, "line {i}");
    }
    assert_eq!(
        decisions[500]["outcome"], "deny",
        "unreadable lines fail closed"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn eval_explain_says_why() {
    let out = bylaw(&[
        "eval",
        &example_path("genai_chat.bylaw"),
        "--explain",
        "--request",
        &request_path("chat_eu_medical.json"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("outcome: escalate\ntier: high\n"),
        "{text}"
    );
    assert!(text.contains("escalate duty human_oversight (line 50): a human reviewer must be assigned [EU AI Act Art. 14]"), "{text}");
}

#[test]
fn eval_and_ir_report_policy_errors() {
    let bad = crate::data("check/invalid/E0200_unknown_field.bylaw");
    let out = bylaw(&[
        "eval",
        bad.to_str().unwrap(),
        "--request",
        &request_path("chat_eu_medical.json"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E0200"));
    let out = bylaw(&["ir", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let out = bylaw(&["eval", &example_path("minimal.bylaw")]);
    assert_eq!(out.status.code(), Some(2), "a request source is required");
    let out = bylaw(&["ir", &example_path("minimal.bylaw")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("rule 0 deny when (>.float (load.float 0) 0.8)")
    );
}

#[test]
fn fmt_check_prints_a_diff_and_fmt_rewrites_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.bylaw");
    std::fs::write(&path, "policy p version \"1\"\nschema request { a: int }\ndeny   when a>1 because \"x\"  // why\n").unwrap();
    let p = path.to_str().unwrap();
    let check = bylaw(&["fmt", "--check", p]);
    assert_eq!(check.status.code(), Some(1));
    let diff = String::from_utf8_lossy(&check.stdout);
    assert!(
        diff.contains("-deny   when a>1 because \"x\"  // why"),
        "{diff}"
    );
    assert!(
        diff.contains("+deny when a > 1 because \"x\"  // why"),
        "{diff}"
    );
    assert!(String::from_utf8_lossy(&check.stderr).contains("1 would change"));

    let write = bylaw(&["fmt", p]);
    assert_eq!(write.status.code(), Some(0));
    let formatted = std::fs::read_to_string(&path).unwrap();
    assert!(
        formatted.contains("schema request {\n  a: int\n}"),
        "{formatted}"
    );
    assert_eq!(bylaw(&["fmt", "--check", p]).status.code(), Some(0));
}

#[test]
fn fmt_refuses_a_file_that_does_not_parse_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.bylaw");
    let text = "policy p version \"1\"\ndeny when because\n";
    std::fs::write(&path, text).unwrap();
    let out = bylaw(&["fmt", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("E0"), "{stderr}");
    assert!(stderr.contains("1 not formatted"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn test_coverage_names_what_no_test_exercised_and_junit_records_failures() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.bylaw");
    std::fs::write(
        &policy,
        r#"policy p version "1.0.0"
schema request { age: int  verified: bool }
tiers {
  minor when age < 18
  adult otherwise
}
default allow
deny when age < 13 because "too young"
escalate unverified when not verified because "verify"
duty notice_minors {
  applies to tier minor
  notice "Parental controls are on."
}
fixture kid { age: 9, verified: true }
test "children are refused" {
  given kid
  expect deny, tier minor
}
test "a wrong expectation" {
  given kid { age: 30 }
  expect deny
}
"#,
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let out = bylaw(&[
        "test",
        "--coverage",
        "--junit",
        junit.to_str().unwrap(),
        policy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("coverage: rules 1/2, tiers 2/2, duties 1/1 (80%)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("not exercised: unverified (line 9)"),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"tests="2""#) && xml.contains(r#"failures="1""#),
        "{xml}"
    );
    assert!(xml.contains("outcome: expected deny, got allow"), "{xml}");
}

/// `bylaw ir --explain-index`: each group's field and the rules under each of its
/// values, and every scanned rule with the reason it is not indexed.
#[test]
fn ir_explain_index_says_what_is_indexed_and_why_the_rest_is_scanned() {
    let path = crate::data("index/keyed.bylaw");
    let out = bylaw(&["ir", "--explain-index", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
    let small = bylaw(&["ir", "--explain-index", &example_path("minimal.bylaw")]);
    assert!(
        String::from_utf8_lossy(&small.stdout).contains("the policy has fewer than 64 rules"),
        "{}",
        String::from_utf8_lossy(&small.stdout)
    );
}
