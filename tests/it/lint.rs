//! `bylaw lint`: for every rule a fixture that triggers it and one that must not; the
//! rendered findings snapshotted; the generated rules document in step; the shared
//! examples lint without errors; configuration, fixes and SARIF.

use bylaw::lint::{self, Config, Level};

fn lints(path: &std::path::Path) -> Vec<bylaw::lint::Lint> {
    let text = std::fs::read_to_string(path).unwrap();
    let checked = bylaw::check_source(&path.display().to_string(), &text);
    assert!(
        !checked.has_errors(),
        "{} does not check: {:?}",
        path.display(),
        checked.diagnostics
    );
    lint::run(
        checked.program.as_ref().unwrap(),
        &checked.file,
        &text,
        0,
        &Config::default(),
    )
}

fn rendered(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let checked = bylaw::check_source(&path.file_name().unwrap().to_string_lossy(), &text);
    let diags: Vec<_> = lints(path).into_iter().map(|l| l.diagnostic).collect();
    bylaw::diagnostics::render(&checked.sources, &diags, false)
}

#[test]
fn there_are_at_least_25_rules_each_with_a_distinct_id_and_fixtures() {
    let docs = lint::docs();
    assert!(docs.len() >= 25, "{} rules", docs.len());
    let mut ids: Vec<&str> = docs.iter().map(|d| d.id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), docs.len());
    for doc in docs {
        let dir = crate::data(&format!("lint/{}", doc.id()));
        assert!(
            dir.join("bad.bylaw").is_file(),
            "no fixture that triggers `{}`",
            doc.id()
        );
        assert!(
            dir.join("good.bylaw").is_file(),
            "no fixture that must not trigger `{}`",
            doc.id()
        );
        assert!(!doc.why.is_empty() && !doc.bad.is_empty() && !doc.good.is_empty());
    }
}

#[test]
fn each_rule_fires_on_its_bad_fixture_and_not_on_its_good_one() {
    for doc in lint::docs() {
        let dir = crate::data(&format!("lint/{}", doc.id()));
        let bad = lints(&dir.join("bad.bylaw"));
        assert!(
            bad.iter().any(|l| l.diagnostic.code == doc.code),
            "`{}` does not fire on its bad fixture",
            doc.id()
        );
        let good = lints(&dir.join("good.bylaw"));
        assert!(
            !good.iter().any(|l| l.diagnostic.code == doc.code),
            "`{}` fires on its good fixture: {:?}",
            doc.id(),
            good.iter()
                .find(|l| l.diagnostic.code == doc.code)
                .map(|l| &l.diagnostic.message)
        );
    }
}

#[test]
fn findings_render_with_their_code_span_and_help() {
    insta::glob!("../data/lint", "*/bad.bylaw", |path| {
        insta::assert_snapshot!(rendered(path));
    });
}

#[test]
fn the_examples_lint_without_errors() {
    for path in crate::example_policies() {
        let found = lints(&path);
        assert!(
            found.iter().all(|l| !l.diagnostic.is_error()),
            "{}: {:?}",
            path.display(),
            found
                .iter()
                .map(|l| &l.diagnostic.message)
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn rules_doc_is_generated_from_the_rules() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/lint-rules.md");
    let generated = lint::rules_markdown();
    if std::env::var_os("BYLAW_BLESS").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/lint-rules.md is out of date: run BYLAW_BLESS=1 cargo test --test it lint::rules_doc"
    );
}

#[test]
fn levels_come_from_bylaw_toml_and_unknown_rules_are_named() {
    let config =
        Config::from_toml("[lint]\nmissing-cite-rule = \"off\"\nno-tests = \"error\"\n").unwrap();
    let path = crate::data("lint/missing-cite-rule/bad.bylaw");
    let text = std::fs::read_to_string(&path).unwrap();
    let checked = bylaw::check_source("p.bylaw", &text);
    let found = lint::run(
        checked.program.as_ref().unwrap(),
        &checked.file,
        &text,
        0,
        &config,
    );
    let names: Vec<&str> = found.iter().map(|l| l.diagnostic.code.name()).collect();
    assert!(!names.contains(&"missing-cite-rule"), "{names:?}");
    assert!(
        found
            .iter()
            .any(|l| l.diagnostic.code.name() == "no-tests" && l.diagnostic.is_error())
    );

    let err = Config::from_toml("[lint]\nmissing-cite = \"off\"\n").unwrap_err();
    assert!(
        err.contains("unknown lint rule `missing-cite`; did you mean"),
        "{err}"
    );
    let err = Config::from_toml("[lint]\nno-tests = \"loud\"\n").unwrap_err();
    assert!(
        err.contains("expected \"off\", \"warning\" or \"error\""),
        "{err}"
    );
    let mut config = Config::default();
    config.set("tautology", Level::Off).unwrap();
}

#[test]
fn fixes_rewrite_the_source_into_a_program_without_the_finding() {
    for rule in [
        "negated-comparison",
        "boolean-literal-comparison",
        "single-item-in",
        "missing-default",
    ] {
        let path = crate::data(&format!("lint/{rule}/bad.bylaw"));
        let mut text = std::fs::read_to_string(&path).unwrap();
        let found = lints(&path);
        let lint = found
            .iter()
            .find(|l| l.diagnostic.code.name() == rule)
            .unwrap();
        let fix = lint
            .fix
            .as_ref()
            .unwrap_or_else(|| panic!("`{rule}` offers no fix"));
        text.replace_range(
            fix.span.start as usize..fix.span.end as usize,
            &fix.replacement,
        );
        let dir = tempfile::tempdir().unwrap();
        let fixed = dir.path().join("fixed.bylaw");
        std::fs::write(&fixed, &text).unwrap();
        let after = lints(&fixed);
        assert!(
            !after.iter().any(|l| l.diagnostic.code.name() == rule),
            "{rule}: still reported after its fix:\n{text}"
        );
        // The fix changes no decision: same IR apart from source positions.
        let before_ir = bylaw::Policy::check("a", &std::fs::read_to_string(&path).unwrap())
            .unwrap()
            .ir;
        let after_ir = bylaw::Policy::check("a", &text).unwrap().ir;
        assert_eq!(before_ir.rules.len(), after_ir.rules.len());
    }
}

#[test]
fn lint_cli_speaks_json_and_sarif_and_fails_on_errors() {
    let path = crate::data("lint/tautology/bad.bylaw");
    let p = path.to_str().unwrap();
    let out = crate::replay::bylaw(&["lint", "--format", "sarif", p]);
    assert_eq!(out.status.code(), Some(0));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let tautology = results.iter().find(|r| r["ruleId"] == "L0005").unwrap();
    assert_eq!(
        tautology["locations"][0]["physicalLocation"]["region"]["startLine"],
        14
    );
    assert!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "tautology")
    );

    let denied = crate::replay::bylaw(&["lint", "--deny", "tautology", "--format", "json", p]);
    assert_eq!(denied.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&denied.stdout).unwrap();
    assert!(json["errors"].as_u64().unwrap() >= 1);

    let unknown = crate::replay::bylaw(&["lint", "--allow", "tautologies", p]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("did you mean `tautology`?"));
    let explain = crate::replay::bylaw(&["lint", "--explain", "unreachable-tier"]);
    assert!(String::from_utf8_lossy(&explain.stdout).contains("Why: Tiers are tried in order"));
}
