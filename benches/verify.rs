#![allow(
    clippy::panic,
    reason = "a benchmark whose setup fails has nothing to measure"
)]
//! `bylaw verify` and `bylaw diff` (issue 17): the 20 assertions of the chat policy
//! (`tests/data/verify/genai_chat.bylaw`), all proved, from the compiled policy to the
//! verdicts; `diff` of every example against itself, of the chat policy against its
//! widened toxicity threshold (the first 20 regions), and of a generated 1,000-rule
//! policy against itself with one rule's outcome changed (the first 20 regions).

mod common;

use std::hint::black_box;
use std::sync::Arc;

use bylaw::verify::diff::diff;
use bylaw::verify::{Verdict, verify};
use bylaw::{Engine, Guard, Policy};
use criterion::{Criterion, criterion_group, criterion_main};

fn guard_of(name: &str, text: &str) -> Guard {
    let policy = Policy::check(name, text).unwrap_or_else(|d| panic!("{d}"));
    Guard::new(Arc::new(policy), Engine::Interpreter).unwrap_or_else(|d| panic!("{d}"))
}

fn read(relative: &str) -> String {
    let path = format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The generated policy with rule `n`'s outcome changed (deny ↔ allow, escalate → deny).
fn with_one_rule_changed(text: &str, n: usize) -> String {
    let marker = format!("because \"generated rule {n}\"");
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(&marker))
        .unwrap_or_else(|| panic!("no rule {n}"));
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let head = &mut out[at - 1];
    *head = if let Some(rest) = head.strip_prefix("deny ") {
        format!("allow {rest}")
    } else if let Some(rest) = head.strip_prefix("allow ") {
        format!("deny {rest}")
    } else {
        head.replacen("escalate ", "deny ", 1)
    };
    out.join("\n")
}

fn bench_diff(c: &mut Criterion) {
    let examples: Vec<Guard> = [
        "api_gateway",
        "eu_assistant",
        "eu_hiring",
        "genai_chat",
        "minimal",
        "tutoring_minors",
    ]
    .iter()
    .map(|name| guard_of(name, &read(&format!("examples/{name}.bylaw"))))
    .collect();
    for g in &examples {
        let report = diff(g, g, 20).unwrap_or_else(|e| panic!("{e}"));
        if !report.exhausted || !report.changes.is_empty() {
            panic!("an example differs from itself: {report:?}");
        }
    }
    c.bench_function("diff/every_example_against_itself", |b| {
        b.iter(|| {
            for g in &examples {
                black_box(diff(g, g, 20).ok());
            }
        })
    });
    let base = guard_of("base.bylaw", &read("tests/data/diff/base.bylaw"));
    let widened = guard_of("threshold.bylaw", &read("tests/data/diff/threshold.bylaw"));
    c.bench_function("diff/genai_chat_widened_threshold_20_regions", |b| {
        b.iter(|| black_box(diff(&base, &widened, 20).ok()))
    });
    // The generated rules deny every request between them, which hides any change; as
    // escalations, a rule turned into a denial shows wherever it fires.
    let generated = common::policy(100, 1000, 7).replace("deny when", "escalate when");
    let old = guard_of("generated.bylaw", &generated);
    let new = guard_of("changed.bylaw", &with_one_rule_changed(&generated, 500));
    let report = diff(&old, &new, 20).unwrap_or_else(|e| panic!("{e}"));
    if report.changes.is_empty() {
        panic!("the changed rule changes nothing: {report:?}");
    }
    let mut group = c.benchmark_group("diff");
    group.sample_size(10);
    group.bench_function("generated_1000_rules_one_changed", |b| {
        b.iter(|| black_box(diff(&old, &new, 20).ok()))
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let guard = guard_of(
        "genai_chat.bylaw",
        &read("tests/data/verify/genai_chat.bylaw"),
    );
    let results = verify(&guard);
    if results.len() != 20 || results.iter().any(|r| r.verdict != Verdict::Proved) {
        panic!("expected 20 proved assertions, got {results:?}");
    }
    c.bench_function("verify/genai_chat_20_assertions", |b| {
        b.iter(|| verify(black_box(&guard)))
    });
}

criterion_group!(benches, bench, bench_diff);
criterion_main!(benches);
