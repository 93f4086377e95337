#![allow(
    clippy::panic,
    reason = "a benchmark whose setup fails has nothing to measure"
)]
//! Memory (issue 24): the heap a ready guard holds for generated policies of 100 /
//! 1,000 / 10,000 rules (indexed and not), its machine code, bytes per rule, and the
//! bytes of a decoded record. Sizes, not times: counted by an instrumented global
//! allocator (`stats_alloc`), printed as the table `docs/performance.md` keeps.
//!
//! `cargo bench --bench memory`

use std::alloc::System;

use std::sync::Arc;

use bylaw::{Engine, Guard, Policy};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

mod common;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The bytes still allocated after `make` than before it, with what it made.
fn live_bytes<T>(make: impl FnOnce() -> T) -> (T, isize) {
    let region = Region::new(GLOBAL);
    let made = make();
    let change = region.change();
    // A reallocation's growth is counted in `bytes_allocated` (and a shrink in
    // `bytes_deallocated`) already.
    let live = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    (made, live)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter, if any, is ignored: this runs in seconds.
    println!(
        "| policy | rules | checked policy (program, IR, sources) | compiled guard adds | machine code | heap per rule | code per rule |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (family, indexable) in [("keyed (indexed)", true), ("keyed, not indexable", false)] {
        for rules in [100usize, 1_000, 10_000] {
            let source = common::keyed_policy(rules, 11, indexable);
            let (policy, checked) = live_bytes(|| {
                Arc::new(Policy::check("p.bylaw", &source).unwrap_or_else(|d| panic!("{d}")))
            });
            let (guard, compiled) = live_bytes(|| {
                Guard::new(policy.clone(), Engine::Jit).unwrap_or_else(|d| panic!("{d}"))
            });
            let heap = checked + compiled;
            let code = guard.native_code_bytes().unwrap_or(0);
            println!(
                "| {family} | {rules} | {} | {} | {} | {:.0} B | {:.0} B |",
                kib(checked),
                kib(compiled),
                kib(code as isize),
                heap as f64 / rules as f64,
                code as f64 / rules as f64,
            );
        }
    }
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bench/scenario/guard.bylaw"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let requests = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bench/scenario/requests.jsonl"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let guard = Policy::compile(&source).unwrap_or_else(|d| panic!("{d}"));
    let line = requests.lines().next().unwrap_or_default();
    let (record, heap) = live_bytes(|| guard.encode_json(line.as_bytes()));
    let record = record.unwrap_or_else(|e| panic!("{e:?}"));
    println!(
        "\nA scenario record (12 fields): {} bytes inline + {} on the heap ({} counted by the allocator).",
        std::mem::size_of::<bylaw::Record>(),
        record.heap_bytes(),
        heap
    );
    let mut reused = record.clone();
    let region = Region::new(GLOBAL);
    let mut decoded = 0;
    for line in requests.lines().take(1_000) {
        decoded += usize::from(guard.encode_json_into(line.as_bytes(), &mut reused).is_ok());
    }
    let change = region.change();
    println!(
        "Decoding {decoded} more requests into that record (`encode_json_into`): {} allocations.",
        change.allocations + change.reallocations
    );
}

fn kib(bytes: isize) -> String {
    if bytes.abs() >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}
