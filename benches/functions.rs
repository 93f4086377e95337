#![allow(
    clippy::panic,
    reason = "a benchmark whose setup fails has nothing to measure"
)]
//! Language v1 functions (issue 13): a 20-rule policy written with `starts_with`,
//! `matches` and `hour_of_day` against the same policy written without them (set
//! membership and a precomputed hour, which decide the same requests alike), and one
//! `matches` of a 10-alternative pattern over a 100-byte string.

use std::hint::black_box;
use std::sync::Arc;

use bylaw::{Engine, Guard, Policy, Record};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

const MODELS: &[&str] = &[
    "gpt-4o",
    "gpt-4-turbo",
    "o3-mini",
    "claude-3",
    "llama-3",
    "gpt-3.5",
];
const KINDS: &[&str] = &["chat", "code", "image", "audio", "search", "embed"];

fn schema() -> &'static str {
    "schema request {\n  model: string\n  kind: string\n  at: timestamp\n  hour: int\n  n: int\n}\n"
}

/// Rule `i` of the policy with functions, and its equivalent without.
fn rule(i: usize, with_functions: bool) -> String {
    let (model, kind) = (MODELS[i % MODELS.len()], KINDS[i % KINDS.len()]);
    let prefix = &model[..model.len().min(5)];
    let hour = 18 + i % 6;
    let condition = match (i % 3, with_functions) {
        (0, true) => format!("starts_with(model, {prefix:?})"),
        (0, false) => {
            let matching: Vec<String> = MODELS
                .iter()
                .filter(|m| m.starts_with(prefix))
                .map(|m| format!("{m:?}"))
                .collect();
            format!("model in {{{}}}", matching.join(", "))
        }
        (1, true) => format!(
            "matches(kind, \"^({kind}|{})$\")",
            KINDS[(i + 1) % KINDS.len()]
        ),
        (1, false) => format!("kind in {{{kind:?}, {:?}}}", KINDS[(i + 1) % KINDS.len()]),
        (_, true) => format!("hour_of_day(at, \"UTC\") >= {hour}"),
        (_, false) => format!("hour >= {hour}"),
    };
    format!("deny r{i} when {condition} and n > {i} because \"rule {i}\"\n")
}

fn policy(with_functions: bool) -> String {
    let mut src = format!(
        "policy bench version \"1.0.0\"\n{}default allow\n",
        schema()
    );
    for i in 0..20 {
        src.push_str(&rule(i, with_functions));
    }
    src
}

fn guard(source: &str) -> Guard {
    let policy = Arc::new(Policy::check("bench.bylaw", source).unwrap_or_else(|d| panic!("{d}")));
    Guard::new(policy, Engine::Jit).unwrap_or_else(|d| panic!("{d}"))
}

fn requests(guard: &Guard) -> Vec<Record> {
    (0..256)
        .map(|k: usize| {
            let hour = (k * 7) % 24;
            let request = json!({
                "model": MODELS[k % MODELS.len()],
                "kind": KINDS[(k / 3) % KINDS.len()],
                "at": format!("2026-08-02T{hour:02}:15:00Z"),
                "hour": hour,
                "n": (k % 25) as i64,
            });
            guard
                .encode_value(&request)
                .unwrap_or_else(|e| panic!("{e:?}"))
        })
        .collect()
}

fn twenty_rules(c: &mut Criterion) {
    let with = guard(&policy(true));
    let without = guard(&policy(false));
    let (records_with, records_without) = (requests(&with), requests(&without));
    // Both policies decide every request alike: the comparison is of equals.
    let (mut a, mut b) = (with.compact(), without.compact());
    for (x, y) in records_with.iter().zip(&records_without) {
        with.decide_compact(x, false, &mut a);
        without.decide_compact(y, false, &mut b);
        assert_eq!(a, b, "the two policies must agree");
    }
    let mut group = c.benchmark_group("functions/20-rules");
    group.throughput(Throughput::Elements(records_with.len() as u64));
    for (name, guard, records) in [
        ("with-functions", &with, &records_with),
        ("without", &without, &records_without),
    ] {
        let mut out = guard.compact();
        group.bench_function(name, |bench| {
            bench.iter(|| {
                for r in records {
                    guard.decide_compact(black_box(r), false, &mut out);
                }
            })
        });
    }
    group.finish();
}

/// `matches` of ten alternatives against 100 bytes, in the JIT: a guard of one rule, so
/// what is timed is the call and the automaton's walk over the string.
fn one_match(c: &mut Criterion) {
    let alternatives = [
        "jailbreak",
        "ignore previous",
        "developer mode",
        "do anything now",
        "no restrictions",
        "pretend you are",
        "bypass",
        "unfiltered",
        "roleplay as",
        "system prompt",
    ];
    let source = format!(
        "policy m version \"1.0.0\"\nschema request {{\n  prompt: string\n}}\ndefault allow\n\
         deny when matches(prompt, \"({})\") because \"m\"\n",
        alternatives.join("|")
    );
    let guard = guard(&source);
    let miss = "a".repeat(50) + &"b".repeat(50);
    let hit = "x".repeat(88) + "unfiltered!!";
    let mut group = c.benchmark_group("functions/matches-10-alternatives-100-bytes");
    for (name, text) in [("no-match", miss), ("match-at-end", hit)] {
        assert_eq!(text.len(), 100);
        let record = guard
            .encode_value(&json!({ "prompt": text }))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let mut out = guard.compact();
        group.bench_function(name, |bench| {
            bench.iter(|| guard.decide_compact(black_box(&record), false, &mut out))
        });
    }
    group.finish();
}

criterion_group!(benches, twenty_rules, one_match);
criterion_main!(benches);
