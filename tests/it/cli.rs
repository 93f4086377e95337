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
fn check_passes_on_the_shared_examples() {
    for path in crate::shared_examples() {
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
    let dir = crate::shared_examples()[0].parent().unwrap().to_path_buf();
    let out = bylaw(&["check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("checked 4 files"));
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
