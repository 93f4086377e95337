//! Parse + check throughput: a generated policy of 10,000 rules over 1,000 fields.
//! Target (issue 2): ≥ 20 MB/s and under 200 ms for that file.

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

criterion_group!(benches, parse_and_check);
criterion_main!(benches);
