//! `bylaw fmt`: the canonical layout of every fixture and example (snapshots), and its
//! properties — idempotent, comments kept, and the same IR as the original.

use std::sync::Arc;

use bylaw::{Engine, Guard, Policy};
use proptest::prelude::*;

fn format(text: &str) -> String {
    let parsed = bylaw::syntax::parser::parse(text, 0);
    assert!(
        !parsed.diagnostics.iter().any(|d| d.is_error()),
        "{:?}",
        parsed.diagnostics
    );
    bylaw::format::format(&parsed.file, &parsed.comments, text, 0)
}

/// The IR without source positions, which formatting may move.
fn ir_without_locations(text: &str) -> String {
    let policy = Policy::check("p.bylaw", text).unwrap_or_else(|d| panic!("{d}"));
    let mut ir = policy.ir;
    for t in &mut ir.tiers {
        t.loc = Default::default();
    }
    for r in &mut ir.rules {
        r.loc = Default::default();
    }
    for d in &mut ir.duties {
        d.loc = Default::default();
        for r in &mut d.requires {
            r.loc = Default::default();
        }
    }
    for t in &mut ir.triggers {
        t.loc = Default::default();
    }
    for s in &mut ir.services {
        s.loc = Default::default();
    }
    for s in &mut ir.sites {
        s.loc = Default::default();
    }
    format!("{ir:?}")
}

fn assert_properties(name: &str, text: &str) {
    let once = format(text);
    assert_eq!(format(&once), once, "{name}: formatting is not idempotent");
    let comments = |t: &str| bylaw::syntax::parser::parse(t, 0).comments.len();
    assert_eq!(
        comments(&once),
        comments(text),
        "{name}: a comment was lost"
    );
    if Policy::check("p.bylaw", text).is_ok() {
        assert_eq!(
            ir_without_locations(&once),
            ir_without_locations(text),
            "{name}: the formatted program compiles differently"
        );
    }
}

#[test]
fn examples_format_canonically() {
    for path in crate::example_policies() {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_properties(&path.display().to_string(), &text);
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(format!("fmt_{name}"), format(&text));
        // The formatted example still passes its own tests.
        let policy = Policy::check("p.bylaw", &format(&text)).unwrap();
        let guard = Guard::new(Arc::new(policy), Engine::Interpreter).unwrap();
        assert!(bylaw::testing::run_tests(&guard).iter().all(|r| r.passed()));
    }
}

#[test]
fn every_fixture_that_parses_formats_canonically() {
    insta::glob!("../data", "**/*.bylaw", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let parsed = bylaw::syntax::parser::parse(&text, 0);
        if parsed.diagnostics.iter().any(|d| d.is_error()) {
            return; // syntax errors: `bylaw fmt` refuses (tested in cli)
        }
        assert_properties(&path.display().to_string(), &text);
        insta::assert_snapshot!(format(&text));
    });
}

#[test]
fn comments_stay_where_they_were() {
    let text = "// The header.\npolicy p version \"1\"   // trailing\n\n\n\nschema request {\n  // leading a field\n  a: int  // after a field\n\n  b: bool\n  // before the brace\n}\ndeny when a > 1 and // inside a condition\n  b because \"x\"\n// at the end\n";
    let formatted = format(text);
    insta::assert_snapshot!(formatted);
    assert_properties("comments", text);
}

#[test]
fn long_conditions_break_before_each_top_level_or() {
    let text = format!(
        "policy p version \"1\"\nschema request {{ {} }}\ndeny when {} because \"long\"\n",
        (0..12)
            .map(|i| format!("field_{i}: bool"))
            .collect::<Vec<_>>()
            .join("\n"),
        (0..12)
            .map(|i| format!("field_{i}"))
            .collect::<Vec<_>>()
            .join(" or ")
    );
    let formatted = format(&text);
    insta::assert_snapshot!(formatted);
    assert!(formatted.lines().all(|l| l.len() <= bylaw::format::WIDTH));
    assert_properties("long", &text);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn generated_policies_format_idempotently_to_the_same_ir(
        source in crate::differential::policy_source()
    ) {
        assert_properties("generated", &source);
    }
}
