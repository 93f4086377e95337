#![allow(
    clippy::panic,
    reason = "a benchmark whose setup fails has nothing to measure"
)]
//! Runtime benchmarks (issue 4): what the stateful runtime adds per decision — with no
//! trigger, and with the three triggers of `genai_chat.bylaw` — on top of the guard
//! alone; and audit-log append throughput with group commit.

use std::hint::black_box;
use std::sync::Arc;

use bylaw::governance::clock::Timestamp;
use bylaw::governance::store::{Entry, Store};
use bylaw::governance::{Governor, Options};
use bylaw::{Engine, Guard, Policy};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common;

fn example() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/genai_chat.bylaw");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example no longer has `{from}`");
    text.replace(from, to)
}

/// The example with thresholds no stream here reaches, so every decision takes the
/// steady-state path (counting, evaluating, not firing).
fn with_triggers() -> String {
    let text = replaced(&example(), "within 10m >= 50", "within 10m >= 1000000000");
    let text = replaced(&text, "within 1h > 5%", "within 1h > 100%");
    replaced(&text, "by model.id >= 10", "by model.id >= 1000000000")
}

/// The example without its `trigger` blocks.
fn without_triggers() -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in example().lines() {
        if line.starts_with("trigger ") {
            skipping = true;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
        if skipping && line.starts_with('}') {
            skipping = false;
        }
    }
    assert!(!out.contains("trigger "));
    out
}

fn guard(source: &str) -> Guard {
    let policy = Policy::check("bench.bylaw", source).unwrap_or_else(|d| panic!("{d}"));
    Guard::new(Arc::new(policy), Engine::Jit).unwrap_or_else(|d| panic!("{d}"))
}

/// Chat requests: a tenth jailbreak attempts, a tenth toxic, 100 models.
fn records(guard: &Guard, count: usize) -> Vec<bylaw::Record> {
    let mut rng = common::Rng::new(11);
    (0..count)
        .map(|i| {
            let jailbreak = if rng.below(10) == 0 { 0.95 } else { 0.1 };
            let toxicity = if rng.below(10) == 0 { 0.8 } else { 0.1 };
            let request = serde_json::json!({
                "id": format!("r-{i}"), "service": "chat", "domain": "general", "region": "CN",
                "user": {"age": 30, "minor_mode": false},
                "data": {"personal": false, "consent": false},
                "scores": {"toxicity": toxicity, "jailbreak": jailbreak},
                "output": {"synthetic": false, "explicit_label": false},
                "reviewer": {"assigned": false}, "tags": [],
                "model": {"id": format!("m-{}", rng.below(100))}
            });
            guard
                .encode_value(&request)
                .unwrap_or_else(|e| panic!("{e:?}"))
        })
        .collect()
}

fn per_decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("runtime/decide");
    let plain = guard(&with_triggers());
    let batch = records(&plain, 1024);
    group.throughput(Throughput::Elements(batch.len() as u64));
    let mut out = plain.compact();
    group.bench_function("guard alone", |b| {
        b.iter(|| {
            for record in &batch {
                plain.decide_compact(black_box(record), false, &mut out);
            }
            black_box(&out);
        })
    });
    for (name, source) in [
        ("governor, no trigger", without_triggers()),
        ("governor, 3 triggers", with_triggers()),
    ] {
        let governor = Governor::new(guard(&source), None, Options::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let batch = records(governor.guard(), 1024);
        let mut out = governor.guard().compact();
        let mut events = Vec::new();
        let mut now = 1_795_000_000_000u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                for record in &batch {
                    now += 1;
                    let verdict =
                        governor.govern(black_box(record), Timestamp(now), &mut out, &mut events);
                    black_box(verdict);
                }
                events.clear();
            })
        });
    }
    group.finish();
}

fn audit_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("runtime/audit");
    group.sample_size(10);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(&dir.path().join("bench.redb")).unwrap_or_else(|e| panic!("{e}"));
    let body = serde_json::json!({
        "request_id": "r-123456",
        "decision": {"outcome": "allow", "tier": "limited", "duties": [{"id": "keep_logs", "met": true, "retain": "180d"}], "reasons": []}
    })
    .to_string();
    const RECORDS: u64 = 20_000;
    group.throughput(Throughput::Elements(RECORDS));
    let mut at = 1_795_000_000_000u64;
    // One record per submit, as decisions arrive; durable when `flush` returns.
    group.bench_function("append 20,000 decisions, one per submit", |b| {
        b.iter(|| {
            for _ in 0..RECORDS {
                at += 1;
                let entry = Entry {
                    at: Timestamp(at),
                    kind: "decision".into(),
                    body: body.clone(),
                    retain_until: Some(Timestamp(at + 15_552_000_000)),
                };
                store
                    .submit(vec![entry], Vec::new())
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            store.flush().unwrap_or_else(|e| panic!("{e}"));
        })
    });
    group.finish();
}

criterion_group!(benches, per_decision, audit_append);
criterion_main!(benches);
