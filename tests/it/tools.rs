//! The command line as a new user meets it: `bylaw init`, completions and manual
//! pages, and tools that behave on mistyped paths, links, lint codes, byte-order marks,
//! standard input and output folders (issues 12 and 23).

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn bylaw(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bylaw"))
        .args(args)
        .output()
        .unwrap()
}

fn bylaw_in(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bylaw"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn init_makes_a_project_that_checks_lints_clean_and_passes_its_tests() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("my-policy");
    let out = bylaw(&["init", project.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for file in ["policy.bylaw", "bylaw.toml", "ci.sh", "README.md"] {
        assert!(project.join(file).is_file(), "{file}");
    }
    let check = bylaw_in(&project, &["check", "."]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    let lint = bylaw_in(&project, &["lint", "--deny-warnings", "."]);
    assert_eq!(
        lint.status.code(),
        Some(0),
        "{}{}",
        stdout(&lint),
        stderr(&lint)
    );
    let test = bylaw_in(&project, &["test", "."]);
    assert_eq!(test.status.code(), Some(0), "{}", stdout(&test));
    assert!(
        stdout(&test).trim_end().ends_with("5 passed, 0 failed"),
        "{}",
        stdout(&test)
    );
    let fmt = bylaw_in(&project, &["fmt", "--check", "."]);
    assert_eq!(fmt.status.code(), Some(0), "{}", stdout(&fmt));

    // The README's request decides as it says: toxic output is denied.
    let request = r#"{"region":"EU","user":{"age":30},"scores":{"toxicity":0.9},"output":{"synthetic":false,"labelled":false},"reviewer":{"assigned":false}}"#;
    let decision = eval_stdin(&project.join("policy.bylaw"), request);
    assert!(decision.contains(r#""outcome":"deny""#), "{decision}");

    // A second init refuses, and changes nothing.
    std::fs::write(project.join("policy.bylaw"), "edited").unwrap();
    let again = bylaw(&["init", project.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("refusing to overwrite"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read_to_string(project.join("policy.bylaw")).unwrap(),
        "edited"
    );
}

fn eval_stdin(policy: &std::path::Path, request: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bylaw"))
        .args(["eval", policy.to_str().unwrap(), "--request", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    stdout(&child.wait_with_output().unwrap())
}

#[test]
fn completions_for_three_shells_and_a_manual_page() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef bylaw"),
        ("fish", "complete -c bylaw"),
    ] {
        let out = bylaw(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell}: {text}");
        assert!(text.contains("init") && text.contains("serve"), "{shell}");
    }
    let man = bylaw(&["man"]);
    assert!(stdout(&man).starts_with(".ie") || stdout(&man).contains(".TH bylaw"));
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let out = bylaw(&["man", "--out-dir", pages.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(pages.join("bylaw.1").is_file());
    assert!(pages.join("bylaw-check.1").is_file());
}

#[test]
fn a_folder_without_policies_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
    for command in ["check", "test", "lint", "fmt"] {
        let out = bylaw(&[command, dir.path().to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(
            stderr(&out).contains("no policy files found"),
            "{command}: {}",
            stderr(&out)
        );
    }
}

#[cfg(unix)]
#[test]
fn a_link_back_to_a_parent_folder_finds_each_file_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(crate::example("minimal.bylaw"), dir.path().join("p.bylaw")).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::os::unix::fs::symlink("..", dir.path().join("sub/up")).unwrap();
    let out = bylaw(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("checked 1 file"), "{}", stderr(&out));
}

#[test]
fn lint_rules_are_named_by_code_or_by_name() {
    let by_code = bylaw(&["lint", "--explain", "L0003"]);
    assert_eq!(by_code.status.code(), Some(0), "{}", stderr(&by_code));
    assert_eq!(
        stdout(&by_code),
        stdout(&bylaw(&["lint", "--explain", "shadowed-rule"]))
    );
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.bylaw");
    std::fs::write(
        &policy,
        "policy p version \"1.0.0\"\nschema request {\n  x: int\n}\n\
         deny when x > 1 because \"big\" cite \"T §1\"\n\
         deny when x > 2 because \"bigger\" cite \"T §1\"\n",
    )
    .unwrap();
    let warned = bylaw(&["lint", "--deny", "L0003", policy.to_str().unwrap()]);
    assert_eq!(warned.status.code(), Some(1), "{}", stdout(&warned));
    let quiet = bylaw(&[
        "lint",
        "--allow",
        "l0003",
        "--deny-warnings",
        policy.to_str().unwrap(),
    ]);
    assert!(!stdout(&quiet).contains("L0003"), "{}", stdout(&quiet));
    std::fs::write(dir.path().join("bylaw.toml"), "[lint]\nL0003 = \"off\"\n").unwrap();
    let configured = bylaw_in(dir.path(), &["lint", "p.bylaw"]);
    assert!(
        !stdout(&configured).contains("L0003"),
        "{}",
        stdout(&configured)
    );
}

#[test]
fn a_byte_order_mark_is_white_space() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("bom.bylaw");
    let text = std::fs::read_to_string(crate::example("minimal.bylaw")).unwrap();
    std::fs::write(&policy, format!("\u{feff}{text}")).unwrap();
    let out = bylaw(&["check", policy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = bylaw(&["fmt", policy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&policy).unwrap(), text);
}

#[test]
fn eval_reads_one_request_from_standard_input_and_numbers_bad_lines() {
    let decision = eval_stdin(
        &crate::example("minimal.bylaw"),
        r#"{"scores": {"toxicity": 0.93}}"#,
    );
    assert!(decision.contains(r#""outcome":"deny""#), "{decision}");
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("r.jsonl");
    std::fs::write(&lines, "{\"scores\": {\"toxicity\": 0.1}}\n{not json\n").unwrap();
    let out = bylaw(&[
        "eval",
        crate::example("minimal.bylaw").to_str().unwrap(),
        "--requests",
        lines.to_str().unwrap(),
    ]);
    let text = stdout(&out);
    let second = text.lines().nth(1).unwrap();
    assert!(
        second.contains("line 2: the request is not valid JSON"),
        "{text}"
    );
}

#[test]
fn build_makes_missing_folders_and_leaves_nothing_when_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out/nested");
    let object = out_dir.join("guard.o");
    let out = bylaw(&[
        "build",
        crate::example("minimal.bylaw").to_str().unwrap(),
        "-o",
        object.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(object.is_file() && out_dir.join("guard.h").is_file());

    // A policy too large for native code is refused, and nothing is written.
    let terms = vec!["x + 1"; 9000].join(" + ");
    let large = dir.path().join("large.bylaw");
    std::fs::write(
        &large,
        format!("policy p version \"1.0.0\"\nschema request {{\n  x: int\n}}\ndeny when {terms} > 0 because \"r\"\n"),
    )
    .unwrap();
    let failed_dir = dir.path().join("failed");
    let out = bylaw(&[
        "build",
        large.to_str().unwrap(),
        "-o",
        failed_dir.join("guard.o").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("branching operations"),
        "{}",
        stderr(&out)
    );
    assert!(!failed_dir.join("guard.o").exists() && !failed_dir.join("guard.h").exists());
}
