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
    clear_locations(&mut ir);
    format!("{ir:?}")
}

fn clear_locations(ir: &mut bylaw::ir::Policy) {
    for kind in &mut ir.events {
        kind.loc = Default::default();
        clear_locations(&mut kind.policy);
    }
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
    for a in &mut ir.assertions {
        a.loc = Default::default();
    }
    for s in &mut ir.sites {
        // Where an overflow happened, quoted from the source: comments inside the
        // expression move when formatted, and the quote with them.
        s.loc = Default::default();
        s.text = Default::default();
    }
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

/// `text` with a comment after the `every`-th token from token `offset` on, on the
/// same line (`trailing`) or on a line of its own.
fn with_comments(text: &str, every: usize, offset: usize, trailing: bool) -> String {
    let lexed = bylaw::syntax::lexer::lex(text, 0);
    let mut out = String::with_capacity(text.len() * 2);
    let mut last = 0;
    for (i, (span, _)) in lexed.tokens.iter().enumerate() {
        let end = span.end as usize;
        out.push_str(&text[last..end]);
        last = end;
        if i >= offset && (i - offset).is_multiple_of(every) {
            if trailing {
                out.push_str(&format!(" // c{i}\n"));
            } else {
                out.push_str(&format!("\n// c{i}\n"));
            }
        }
    }
    out.push_str(&text[last..]);
    out
}

#[test]
fn a_comment_heavy_corpus_formats_and_round_trips() {
    let mut sources: Vec<(String, String)> = Vec::new();
    for dir in [crate::example(""), crate::data("")] {
        for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
            let entry = entry.unwrap();
            if entry.path().extension().is_some_and(|e| e == "bylaw") {
                let text = std::fs::read_to_string(entry.path()).unwrap();
                sources.push((entry.path().display().to_string(), text));
            }
        }
    }
    let mut files = 0;
    let mut refused = Vec::new();
    for (name, text) in &sources {
        let parsed = bylaw::syntax::parser::parse(text, 0);
        if parsed.diagnostics.iter().any(|d| d.is_error()) {
            continue;
        }
        for (every, offset, trailing) in [
            (1, 0, true),
            (1, 0, false),
            (3, 1, true),
            (7, 2, false),
            (5, 4, true),
        ] {
            let commented = with_comments(text, every, offset, trailing);
            let variant = format!("{name} every {every} from {offset} trailing {trailing}");
            files += 1;
            let parsed = bylaw::syntax::parser::parse(&commented, 0);
            assert!(
                !parsed.diagnostics.iter().any(|d| d.is_error()),
                "{variant}: the corpus file itself does not parse: {:?}",
                parsed.diagnostics
            );
            let once = bylaw::format::format(&parsed.file, &parsed.comments, &commented, 0);
            let again = bylaw::syntax::parser::parse(&once, 0);
            if again.diagnostics.iter().any(|d| d.is_error())
                || again.comments.len() != parsed.comments.len()
            {
                refused.push(variant);
                continue;
            }
            assert_properties(&variant, &commented);
        }
    }
    assert!(files >= 100, "{files} files in the corpus");
    assert!(
        refused.is_empty(),
        "{} of {files} comment-heavy files would not format:\n{}",
        refused.len(),
        refused.join("\n")
    );
}
