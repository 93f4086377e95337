//! User modules: `use acme::…` through the module roots of `bylaw.toml`, relative
//! `use ./x`, parameters, cycles and missing modules, and every command following
//! them. The workspace is `tests/data/modules/workspace/`: three policies sharing
//! Acme's safety library.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bylaw::{Engine, Guard, Policy};

use crate::replay::bylaw;

fn workspace(file: &str) -> PathBuf {
    crate::data("modules/workspace").join(file)
}

fn load(path: &Path) -> Guard {
    let text = std::fs::read_to_string(path).unwrap();
    let loader = bylaw::modules::Loader::for_policy(path).unwrap();
    let policy = Policy::check_with(&path.display().to_string(), &text, &loader)
        .unwrap_or_else(|d| panic!("{}: {d}", path.display()));
    Guard::new(Arc::new(policy), Engine::Jit).unwrap()
}

fn check(path: &Path) -> (bylaw::Checked, String) {
    let checked = bylaw::check_file(path).unwrap();
    let out = bylaw::diagnostics::render(&checked.sources, &checked.diagnostics, false);
    (checked, out)
}

const BORDERLINE: &str = r#"{"service": "x", "region": "EU",
    "output": {"synthetic": false, "explicit_label": false},
    "prompt": {"jailbreak_score": 0.85, "toxicity": 0.0}}"#;

#[test]
fn three_policies_share_one_module_each_with_its_own_parameters() {
    // chat sets the threshold to 0.9, search keeps the module's 0.8, the agent 0.5.
    let expected = [
        ("chat.bylaw", "allow"),
        ("search.bylaw", "deny"),
        ("agents/agent.bylaw", "deny"),
    ];
    for (file, outcome) in expected {
        let decision = load(&workspace(file)).decide_json(BORDERLINE.as_bytes());
        assert_eq!(decision.outcome.as_str(), outcome, "{file}: {decision:?}");
        if outcome == "deny" {
            // Module rules are qualified by their module in the reasons.
            assert_eq!(
                decision.reasons[0].id, "acme::safety::jailbreak::jailbreak_attempt",
                "{file}"
            );
        }
    }
}

#[test]
fn a_modules_relative_use_resolves_beside_it_and_is_named_in_its_namespace() {
    let guard = load(&workspace("search.bylaw"));
    let decision = guard
        .decide_json(br#"{"service": "s", "prompt": {"jailbreak_score": 0.0, "toxicity": 0.99}}"#);
    assert_eq!(decision.outcome.as_str(), "deny");
    assert_eq!(
        decision.reasons[0].id,
        "acme::safety::toxicity::toxic_prompt"
    );
    let names: Vec<&str> = guard
        .policy()
        .modules
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["acme::safety::jailbreak", "acme::safety::toxicity"]);
}

#[test]
fn relative_modules_are_found_from_the_policys_directory() {
    // `use ./common/labels` in chat, `use ../common/labels` in agents/agent: one file.
    for file in ["chat.bylaw", "agents/agent.bylaw"] {
        let guard = load(&workspace(file));
        let labels = guard
            .policy()
            .modules
            .iter()
            .find(|m| {
                m.path
                    .as_ref()
                    .is_some_and(|p| p.ends_with("common/labels.bylaw"))
            })
            .unwrap_or_else(|| panic!("{file}: {:?}", guard.policy().modules));
        assert!(labels.name.ends_with("common::labels"), "{}", labels.name);
        let decision = guard.decide_json(
            br#"{"service": "x", "region": "CN",
                "output": {"synthetic": true, "explicit_label": false},
                "prompt": {"jailbreak_score": 0.0, "toxicity": 0.0}}"#,
        );
        assert_eq!(decision.outcome.as_str(), "deny", "{file}");
        assert!(
            decision.duties.iter().any(|d| d.id == "label_synthetic"),
            "{file}: {decision:?}"
        );
    }
}

#[test]
fn every_command_follows_user_modules() {
    for file in ["chat.bylaw", "search.bylaw", "agents/agent.bylaw"] {
        let path = workspace(file);
        let path = path.to_str().unwrap();
        for args in [
            vec!["check", path],
            vec!["test", path],
            vec!["lint", path],
            vec!["fmt", "--check", path],
        ] {
            let out = bylaw(&args);
            assert_eq!(
                out.status.code(),
                Some(0),
                "bylaw {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let report = bylaw(&["report", workspace("chat.bylaw").to_str().unwrap()]);
    let report = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.contains("acme::safety::jailbreak::jailbreak_attempt")
            && report.contains("lib/acme/safety/jailbreak.bylaw"),
        "{report}"
    );
    let dir = tempfile::tempdir().unwrap();
    let object = dir.path().join("chat.o");
    let out = bylaw(&[
        "build",
        workspace("chat.bylaw").to_str().unwrap(),
        "-o",
        object.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(object.is_file());
}

#[test]
fn a_module_that_uses_the_policy_is_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.bylaw"),
        "policy p version \"1.0.0\"\nuse ./helper\nschema request { score: float }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("helper.bylaw"),
        "policy helper version \"1.0.0\"\nuse ./main\n",
    )
    .unwrap();
    let (checked, out) = check(&dir.path().join("main.bylaw"));
    let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code.code()).collect();
    assert_eq!(codes, ["E0127"], "{out}");
    assert!(
        out.contains("module cycle: the policy → helper → the policy"),
        "{out}"
    );
}

#[test]
fn a_missing_module_names_the_roots_it_looked_in() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bylaw.toml"),
        "[modules]\npaths = [\"lib\", \"vendor\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("p.bylaw"),
        "policy p version \"1.0.0\"\nuse acme::nowhere\n",
    )
    .unwrap();
    let (checked, out) = check(&dir.path().join("p.bylaw"));
    assert!(checked.program.is_none());
    assert!(out.contains("unknown module `acme::nowhere`"), "{out}");
    assert!(
        out.contains("looked for `acme/nowhere.bylaw` in the module roots")
            && out.contains("lib`")
            && out.contains("vendor`"),
        "{out}"
    );
    // A standard-library module written without `std::` is pointed at.
    std::fs::write(
        dir.path().join("p.bylaw"),
        "policy p version \"1.0.0\"\nuse minors\n",
    )
    .unwrap();
    let (_, out) = check(&dir.path().join("p.bylaw"));
    assert!(out.contains("write `use std::minors`"), "{out}");
}

#[test]
fn a_bad_bylaw_toml_is_a_usage_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bylaw.toml"),
        "[modules]\npaths = \"lib\"\n",
    )
    .unwrap();
    let policy = dir.path().join("p.bylaw");
    std::fs::write(&policy, "policy p version \"1.0.0\"\ndefault allow\n").unwrap();
    let out = bylaw(&["check", policy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bylaw.toml") && stderr.contains("[modules] paths must be a list"),
        "{stderr}"
    );
}

#[test]
fn a_policy_from_a_string_cannot_use_a_relative_module() {
    let checked = bylaw::check_source("p.bylaw", "policy p version \"1.0.0\"\nuse ./common/x\n");
    let out = bylaw::diagnostics::render(&checked.sources, &checked.diagnostics, false);
    assert!(out.contains("was not read from a file"), "{out}");
}

#[test]
fn changing_a_module_changes_the_policys_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib/acme");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        dir.path().join("bylaw.toml"),
        "[modules]\npaths = [\"lib\"]\n",
    )
    .unwrap();
    let module = lib.join("rules.bylaw");
    std::fs::write(
        &module,
        "policy rules version \"1.0.0\"\nschema request { score: float }\n\
         deny when score > 0.9 because \"too risky\"\n",
    )
    .unwrap();
    let policy = dir.path().join("p.bylaw");
    std::fs::write(&policy, "policy p version \"1.0.0\"\nuse acme::rules\n").unwrap();
    let before = load(&policy).policy().fingerprint();
    std::fs::write(
        &module,
        "policy rules version \"1.0.0\"\nschema request { score: float }\n\
         deny when score > 0.5 because \"too risky\"\n",
    )
    .unwrap();
    let after = load(&policy);
    assert_ne!(before, after.policy().fingerprint());
    assert_eq!(
        after.decide_json(br#"{"score": 0.6}"#).outcome.as_str(),
        "deny"
    );
    // Without user modules, the fingerprint is the file's own SHA-256, as before.
    let alone = dir.path().join("alone.bylaw");
    let text = "policy alone version \"1.0.0\"\ndefault allow\n";
    std::fs::write(&alone, text).unwrap();
    assert_eq!(
        load(&alone).policy().fingerprint(),
        bylaw::guard::fingerprint(text.as_bytes())
    );
}
