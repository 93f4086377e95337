//! The shared scenario, 10,000 requests per pass, every engine in one run.
//!
//! `cargo bench -p bylaw-bench --bench scenario` — prints a table of ns per decision
//! and ratios to hand-written Rust (enums) at the end.

use std::hint::black_box;

use bylaw_bench::*;
use criterion::{Criterion, Throughput};

const GROUP: &str = "scenario";
const JSON_GROUP: &str = "scenario-json";

fn bench(c: &mut Criterion) {
    let cases = cases();
    let n = cases.len();
    let mut engines = Engines::new(&cases);
    // 0 disagreements with the expected decisions, for every engine, before timing.
    assert_eq!(
        engines.disagreements(&cases),
        [0; 7],
        "disagreements: {ENGINE_NAMES:?}"
    );
    let Engines {
        strings,
        enums,
        mut jit,
        mut interp,
        cedar,
        mut rego,
        cel,
    } = engines;

    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(20);
    group.bench_function("rust-strings", |b| {
        b.iter(|| strings.iter().filter(|r| black_box(*r).decide()).count())
    });
    group.bench_function("rust-enums", |b| {
        b.iter(|| enums.iter().filter(|r| black_box(*r).decide()).count())
    });
    group.bench_function("bylaw-jit", |b| {
        b.iter(|| (0..n).filter(|&i| jit.decide(black_box(i))).count())
    });
    group.bench_function("bylaw-jit-many", |b| {
        b.iter(|| black_box(&jit).decide_all())
    });
    group.bench_function("bylaw-jit-outcome", |b| {
        b.iter(|| (0..n).filter(|&i| jit.decide_outcome(black_box(i))).count())
    });
    let order = shuffled(n);
    group.bench_function("rust-enums-shuffled", |b| {
        b.iter(|| {
            order
                .iter()
                .filter(|&&i| black_box(&enums[i]).decide())
                .count()
        })
    });
    group.bench_function("bylaw-jit-shuffled", |b| {
        b.iter(|| order.iter().filter(|&&i| jit.decide(black_box(i))).count())
    });
    group.bench_function("bylaw-jit-outcome-shuffled", |b| {
        b.iter(|| {
            order
                .iter()
                .filter(|&&i| jit.decide_outcome(black_box(i)))
                .count()
        })
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
    json_to_decision(c, &cases);
}

/// JSON bytes → decision, every engine through its own JSON input path.
fn json_to_decision(c: &mut Criterion, cases: &[Case]) {
    let n = cases.len();
    let mut engines = JsonEngines::new(cases);
    assert_eq!(
        engines.disagreements(cases),
        [0; 5],
        "disagreements: {JSON_ENGINE_NAMES:?}"
    );
    let mut group = c.benchmark_group(JSON_GROUP);
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(10);
    group.bench_function("bylaw", |b| {
        b.iter(|| (0..n).filter(|&i| engines.bylaw(black_box(i))).count())
    });
    group.bench_function("bylaw-decision", |b| {
        b.iter(|| {
            (0..n)
                .filter(|&i| engines.bylaw_decision(black_box(i)))
                .count()
        })
    });
    group.bench_function("cel", |b| {
        b.iter(|| (0..n).filter(|&i| engines.cel(black_box(i))).count())
    });
    group.bench_function("rego-vm", |b| {
        b.iter(|| (0..n).filter(|&i| engines.rego(black_box(i))).count())
    });
    group.bench_function("cedar", |b| {
        b.iter(|| (0..n).filter(|&i| engines.cedar(black_box(i))).count())
    });
    group.finish();
}

/// Reads criterion's medians back and prints ns per decision and ratios.
fn report(n: f64) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/criterion")
        .join(GROUP);
    let median_in = |dir: &std::path::Path, id: &str| -> Option<f64> {
        let text = std::fs::read_to_string(dir.join(id).join("new/estimates.json")).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json["median"]["point_estimate"].as_f64().map(|ns| ns / n)
    };
    let median = |id: &str| median_in(&dir, id);
    let Some(base) = median("rust-enums") else {
        return;
    };
    println!("\n| engine | ns per decision (median) | × hand-written Rust (enums) |");
    println!("| --- | --- | --- |");
    for id in [
        "rust-strings",
        "rust-enums",
        "bylaw-jit",
        "bylaw-jit-many",
        "bylaw-jit-outcome",
        "rust-enums-shuffled",
        "bylaw-jit-shuffled",
        "bylaw-jit-outcome-shuffled",
        "bylaw-interp",
        "cel",
        "rego-vm",
        "cedar",
    ] {
        if let Some(ns) = median(id) {
            println!("| {id} | {ns:.1} | {:.2} |", ns / base);
        }
    }
    if let (Some(rust), Some(jit), Some(outcome)) = (
        median("rust-enums-shuffled"),
        median("bylaw-jit-shuffled"),
        median("bylaw-jit-outcome-shuffled"),
    ) {
        println!(
            "\nShuffled: the JIT is {:.2}× and decide_outcome {:.2}× hand-written Rust in the same order.",
            jit / rust,
            outcome / rust
        );
    }
    if let (Some(jit), Some(cel), Some(cedar)) =
        (median("bylaw-jit"), median("cel"), median("cedar"))
    {
        println!(
            "\nJIT is {:.0}× faster than CEL and {:.0}× faster than Cedar.",
            cel / jit,
            cedar / jit
        );
    }
    let json_dir = dir.with_file_name(JSON_GROUP);
    if let Some(bylaw) = median_in(&json_dir, "bylaw") {
        println!("\nJSON bytes → decision, each engine's own JSON input:\n");
        println!("| engine | ns per decision (median) | × Bylaw |");
        println!("| --- | --- | --- |");
        for id in JSON_ENGINE_NAMES {
            if let Some(ns) = median_in(&json_dir, id) {
                println!("| {id} | {ns:.1} | {:.2} |", ns / bylaw);
            }
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    report(10_000.0);
    // The enforcement module, from its C host, right after (not through criterion: the
    // host times itself, in-process, median of 5 runs of 200 passes).
    let cases = cases();
    match CModuleHost::new(&cases) {
        Ok(host) => {
            let decisions = host.decisions().unwrap_or_default();
            let wrong = decisions
                .iter()
                .zip(&cases)
                .filter(|(d, c)| **d != c.allow)
                .count();
            assert_eq!(
                (decisions.len(), wrong),
                (cases.len(), 0),
                "C module disagreements"
            );
            let mut runs: Vec<f64> = (0..5)
                .filter_map(|_| host.ns_per_decision(200).ok())
                .collect();
            runs.sort_by(f64::total_cmp);
            if let Some(ns) = runs.get(runs.len() / 2) {
                println!("| bylaw-c-module (C host, object file) | {ns:.1} | (see above) |");
            }
        }
        Err(e) => eprintln!("C module not measured: {e}"),
    }
}
