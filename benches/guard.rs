#![allow(
    clippy::panic,
    reason = "a benchmark whose setup fails has nothing to measure"
)]
//! Guard benchmarks (issue 3): generated policies of 100 / 1,000 / 10,000 rules —
//! ns per decision and compile time from source to ready guard — and JSON bytes to
//! decision, end to end, for the shared scenario's requests.

use std::hint::black_box;
use std::sync::Arc;

use bylaw::{Engine, Guard, Policy};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

mod common;

fn requests_for(guard: &Guard, fields: usize, count: usize) -> Vec<bylaw::Record> {
    let mut rng = common::Rng::new(7);
    (0..count)
        .map(|_| {
            let mut request = serde_json::Map::new();
            for i in 0..fields {
                let value = match i % 5 {
                    0 => serde_json::json!(rng.below(200) as i64),
                    1 => serde_json::json!(rng.below(1000) as f64 / 1000.0),
                    2 => serde_json::json!(rng.below(2) == 0),
                    3 => serde_json::json!(
                        ["low", "medium", "high", "critical"][rng.below(4) as usize]
                    ),
                    _ => serde_json::json!(format!("v{}", rng.below(10))),
                };
                let group = request
                    .entry(format!("group{}", i % 37))
                    .or_insert_with(|| serde_json::json!({}));
                if let Some(obj) = group.as_object_mut() {
                    obj.insert(format!("field{i}"), value);
                }
            }
            guard
                .encode_value(&serde_json::Value::Object(request))
                .unwrap_or_else(|e| panic!("{e:?}"))
        })
        .collect()
}

/// Source → ready guard, for each `(rules, source)`.
fn compile_sources(c: &mut Criterion, group: &str, sources: Vec<(usize, String)>) {
    let mut compile = c.benchmark_group(group);
    compile.sample_size(10);
    for (rules, source) in sources {
        compile.bench_with_input(
            BenchmarkId::new("source-to-guard", rules),
            &source,
            |b, source| {
                b.iter(|| {
                    black_box(Policy::compile(black_box(source)).unwrap_or_else(|d| panic!("{d}")))
                })
            },
        );
    }
    compile.finish();
}

fn generated_policies(c: &mut Criterion) {
    let mut decide = c.benchmark_group("generated/decide");
    let mut compile_times = Vec::new();
    for rules in [100usize, 1_000, 10_000] {
        let fields = 200;
        let source = common::policy(fields, rules, 42);
        compile_times.push((rules, source.clone()));
        let policy =
            Arc::new(Policy::check("generated.bylaw", &source).unwrap_or_else(|d| panic!("{d}")));
        let guard = Guard::new(policy, Engine::Jit).unwrap_or_else(|d| panic!("{d}"));
        let records = requests_for(&guard, fields, 256);
        let mut out = guard.compact();
        decide.throughput(Throughput::Elements(records.len() as u64));
        decide.bench_with_input(BenchmarkId::new("jit", rules), &records, |b, records| {
            b.iter(|| {
                for r in records {
                    guard.decide_compact(black_box(r), false, &mut out);
                }
            })
        });
    }
    decide.finish();

    compile_sources(c, "generated/compile", compile_times);
}

/// Rule indexing (issue 24): generated policies where each request can match few
/// rules, decided through the index and — the same policy with its keys hidden from
/// the index — by scanning every rule, in one run.
fn keyed_policies(c: &mut Criterion) {
    let mut decide = c.benchmark_group("keyed/decide");
    let mut sources = Vec::new();
    for rules in [1_000usize, 10_000] {
        for (name, indexable) in [("indexed", true), ("scanned", false)] {
            let source = common::keyed_policy(rules, 42, indexable);
            let policy =
                Arc::new(Policy::check("keyed.bylaw", &source).unwrap_or_else(|d| panic!("{d}")));
            let indexed = bylaw::ir::index::RuleIndex::plan(&policy.ir);
            assert_eq!(indexed.groups.is_empty(), !indexable, "{name} {rules}");
            let guard = Guard::new(policy, Engine::Jit).unwrap_or_else(|d| panic!("{d}"));
            let records: Vec<bylaw::Record> = common::keyed_requests(rules, 256, 7)
                .iter()
                .map(|r| guard.encode_value(r).unwrap_or_else(|e| panic!("{e:?}")))
                .collect();
            let mut out = guard.compact();
            decide.throughput(Throughput::Elements(records.len() as u64));
            decide.bench_with_input(BenchmarkId::new(name, rules), &records, |b, records| {
                b.iter(|| {
                    for r in records {
                        guard.decide_compact(black_box(r), false, &mut out);
                    }
                })
            });
            if indexable {
                sources.push((rules, source));
            }
        }
    }
    decide.finish();
    compile_sources(c, "keyed/compile", sources);
}

fn json_to_decision(c: &mut Criterion) {
    let policy_path = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/scenario/guard.bylaw");
    let requests_path = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/scenario/requests.jsonl");
    let source = std::fs::read_to_string(policy_path).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<Vec<u8>> = std::fs::read_to_string(requests_path)
        .unwrap_or_else(|e| panic!("{e}"))
        .lines()
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let guard = Policy::compile(&source).unwrap_or_else(|d| panic!("{d}"));
    let mut group = c.benchmark_group("json");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.sample_size(10);
    group.bench_function("bytes-to-decision", |b| {
        b.iter(|| {
            let mut denied = 0usize;
            for line in &lines {
                let d = guard.decide_json(black_box(line));
                denied += usize::from(d.outcome == bylaw::runtime::decision::Outcome::Deny);
            }
            denied
        })
    });
    group.bench_function("bytes-to-outcome", |b| {
        let mut out = guard.compact();
        b.iter(|| {
            let mut denied = 0usize;
            for line in &lines {
                if let Ok(record) = guard.encode_json(black_box(line)) {
                    guard.decide_compact(&record, false, &mut out);
                    denied += usize::from(out.outcome() == bylaw::ast::Outcome::Deny);
                }
            }
            denied
        })
    });
    group.bench_function("bytes-to-compact-reused", |b| {
        let mut out = guard.compact();
        let mut record = bylaw::runtime::record::Record::default();
        b.iter(|| {
            let mut denied = 0usize;
            for line in &lines {
                if guard.encode_json_into(black_box(line), &mut record).is_ok() {
                    guard.decide_compact(&record, false, &mut out);
                    denied += usize::from(out.outcome() == bylaw::ast::Outcome::Deny);
                }
            }
            denied
        })
    });
    group.bench_function("serde-derive-struct", |b| {
        b.iter(|| {
            let mut minors = 0usize;
            for line in &lines {
                if let Ok(r) = serde_json::from_slice::<PlainRequest>(black_box(line)) {
                    minors += usize::from(r.user_age < 18);
                    black_box(&r);
                }
            }
            minors
        })
    });
    group.finish();
}

/// The scenario's request as a plain struct, decoded by serde's derive: the floor the
/// issue measures Bylaw's own decoder against. Enums are their own Rust enums, as a
/// hand-written service would declare them; unknown keys (`expected`) are skipped.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct PlainRequest {
    domain: PlainDomain,
    jurisdiction: PlainJurisdiction,
    user_age: i64,
    is_minor_mode: bool,
    contains_personal_data: bool,
    personal_data_consent: bool,
    output_is_synthetic_media: bool,
    has_ai_label: bool,
    model_tier: PlainModelTier,
    human_reviewer_assigned: bool,
    toxicity_score: f64,
    jailbreak_score: f64,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum PlainDomain {
    Medical,
    Judicial,
    Finance,
    Education,
    General,
}

#[derive(serde::Deserialize)]
enum PlainJurisdiction {
    EU,
    CN,
    US,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum PlainModelTier {
    Narrow,
    Gpai,
    GpaiSystemic,
}

criterion_group!(
    benches,
    generated_policies,
    keyed_policies,
    json_to_decision
);
criterion_main!(benches);
