#![allow(
    clippy::expect_used,
    reason = "a benchmark whose setup fails has nothing to measure"
)]
//! Parse + check throughput: a generated policy of 10,000 rules over 1,000 fields.
//! Target (issue 2): ≥ 20 MB/s and under 200 ms for that file.
//!
//! Check + lint of a 5,000-line policy, and the language server's whole analysis of
//! it (check, lint, index). Target (issue 5): ≤ 50 ms, so every keystroke re-checks.
//!
//! Lint of 10,000 rules, over 1,000 fields and over 20 (where rules overlap and the
//! semantic rules — shadowing, redundancy — have the most pairs to consider).
//! Target (issue 23): ≤ 2 s each.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common;

fn parse_and_check(c: &mut Criterion) {
    let source = common::policy(1_000, 10_000, 42);
    let checked = bylaw::check_source("generated.bylaw", &source);
    assert!(
        checked.diagnostics.is_empty(),
        "the generated policy must check clean: {:?}",
        checked.diagnostics.first()
    );
    let mut group = c.benchmark_group("frontend");
    group.throughput(Throughput::Bytes(source.len() as u64));
    group.sample_size(20);
    group.bench_function("parse+check 10k rules / 1k fields", |b| {
        b.iter(|| black_box(bylaw::check_source("generated.bylaw", black_box(&source))))
    });
    group.finish();
}

fn check_and_lint(c: &mut Criterion) {
    let source = common::policy(200, 2_400, 7);
    let lines = source.lines().count();
    assert!((4_900..=5_100).contains(&lines), "{lines} lines");
    let config = bylaw::lint::Config::default();
    let mut group = c.benchmark_group("authoring");
    group.sample_size(20);
    group.bench_function("check+lint 5,000 lines", |b| {
        b.iter(|| {
            let checked = bylaw::check_source("generated.bylaw", black_box(&source));
            let program = checked
                .program
                .as_ref()
                .expect("the generated policy checks");
            black_box(bylaw::lint::run(
                program,
                &checked.file,
                &source,
                0,
                &config,
            ))
        })
    });
    group.bench_function("lsp analysis 5,000 lines", |b| {
        b.iter(|| {
            black_box(bylaw::lsp::analysis::Analysis::new(
                "generated.bylaw",
                black_box(&source),
                &config,
                &bylaw::modules::Loader::stdlib_only(),
            ))
        })
    });
    // What the editor asks after a change has been analysed: completion in a condition
    // (after a dot, and on a bare word) and the document's semantic tokens.
    let analysis = bylaw::lsp::analysis::Analysis::new(
        "generated.bylaw",
        &source,
        &config,
        &bylaw::modules::Loader::stdlib_only(),
    );
    let end = source.len() as u32;
    group.bench_function("lsp completion 5,000 lines", |b| {
        b.iter(|| black_box(analysis.completions_at(black_box(end))))
    });
    group.bench_function("lsp semantic tokens 5,000 lines", |b| {
        let lines = bylaw::lsp::position::LineIndex::new(&source);
        b.iter(|| {
            let tokens = bylaw::lsp::tokens::tokens(black_box(&analysis));
            black_box(bylaw::lsp::tokens::encode(&tokens, |offset| {
                lines.position(&source, offset as usize)
            }))
        })
    });
    group.finish();
}

fn lint_at_scale(c: &mut Criterion) {
    let config = bylaw::lint::Config::default();
    let mut group = c.benchmark_group("lint");
    group.sample_size(10);
    for fields in [1_000, 20] {
        let source = common::policy(fields, 10_000, 11);
        let checked = bylaw::check_source("generated.bylaw", &source);
        let program = checked
            .program
            .as_ref()
            .expect("the generated policy checks");
        group.bench_function(format!("lint 10k rules / {fields} fields"), |b| {
            b.iter(|| {
                black_box(bylaw::lint::run(
                    program,
                    &checked.file,
                    &source,
                    0,
                    &config,
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse_and_check, check_and_lint, lint_at_scale);
criterion_main!(benches);
