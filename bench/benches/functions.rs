//! String functions against the peers: 2,000 generated requests per pass, decided by
//! hand-written Rust, Bylaw's JIT and interpreter, CEL, Rego (regorus VM) and Cedar.
//!
//! `cargo bench -p bylaw-bench --bench functions`

use std::hint::black_box;

use bylaw_bench::functions;
use criterion::{Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let cases = functions::cases(2_000);
    let n = cases.len();
    let plain: Vec<(String, String)> = cases
        .iter()
        .map(|c| {
            let field = |k: &str| c.json[k].as_str().unwrap_or_default().to_string();
            (field("model"), field("prompt"))
        })
        .collect();
    let mut engines = functions::Engines::new(&cases);
    // Every engine agrees with the hand-written decision on every request before timing.
    assert_eq!(engines.disagreements(&cases), Vec::<usize>::new());
    let functions::Engines {
        mut jit,
        mut interp,
        cel,
        mut rego,
        cedar,
    } = engines;

    let mut group = c.benchmark_group("functions-peers");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(20);
    group.bench_function("rust", |b| {
        b.iter(|| {
            plain
                .iter()
                .filter(|(m, p)| functions::allow(black_box(m), black_box(p)))
                .count()
        })
    });
    group.bench_function("bylaw-jit", |b| {
        b.iter(|| (0..n).filter(|&i| jit.decide(black_box(i))).count())
    });
    group.bench_function("bylaw-interp", |b| {
        b.iter(|| (0..n).filter(|&i| interp.decide(black_box(i))).count())
    });
    group.sample_size(10);
    group.bench_function("cel", |b| {
        b.iter(|| (0..n).filter(|&i| cel.decide(black_box(i))).count())
    });
    group.bench_function("rego-vm", |b| {
        b.iter(|| (0..n).filter(|&i| rego.decide(black_box(i))).count())
    });
    group.bench_function("cedar", |b| {
        b.iter(|| (0..n).filter(|&i| cedar.decide(black_box(i))).count())
    });
    group.finish();
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
