//! `bylaw diff OLD NEW`: a corpus of policy pairs with known differences, every printed
//! region's example re-decided by both versions' JIT guards, and generated pairs — the
//! changes found are real, and pairs found equivalent decide 100,000 random requests
//! alike.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bylaw::guard::{Engine, Guard, Policy};
use bylaw::runtime::decision::Decision;
use bylaw::verify::diff::{Report, Summary, diff};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const DATA: &str = "tests/data/diff";

fn guard_of(name: &str, text: &str) -> Guard {
    let policy = Policy::check(name, text).unwrap_or_else(|d| panic!("{name}: {d}"));
    Guard::new(Arc::new(policy), Engine::Jit).unwrap_or_else(|d| panic!("{name}: {d}"))
}

fn guard(file: &str) -> Guard {
    let text = std::fs::read_to_string(Path::new(DATA).join(file)).unwrap();
    guard_of(file, &text)
}

fn summary_of(d: &Decision) -> Summary {
    Summary {
        outcome: match d.outcome.as_str() {
            "allow" => bylaw::ast::Outcome::Allow,
            "escalate" => bylaw::ast::Outcome::Escalate,
            _ => bylaw::ast::Outcome::Deny,
        },
        tier: d.tier.clone(),
        duties: d.duties.iter().map(|x| x.id.clone()).collect(),
    }
}

/// Every change's example is decided by the JIT guards as the change says.
fn assert_changes_are_real(old: &Guard, new: &Guard, report: &Report) {
    for c in &report.changes {
        let decide = |g: &Guard| {
            let record = g.encode_value(&c.request).unwrap();
            summary_of(&g.decide_with(&record, c.degraded))
        };
        assert_eq!(decide(old), c.old, "{}", c.request);
        assert_eq!(decide(new), c.new, "{}", c.request);
        assert_ne!(c.old, c.new);
    }
}

fn corpus(file: &str) -> (Guard, Guard, Report) {
    let (old, new) = (guard("base.bylaw"), guard(file));
    let report = diff(&old, &new, 50).unwrap();
    assert_changes_are_real(&old, &new, &report);
    (old, new, report)
}

fn regions(report: &Report) -> Vec<String> {
    report
        .changes
        .iter()
        .map(|c| c.region.clone().unwrap_or_default().join(" and "))
        .collect()
}

#[test]
fn a_widened_threshold_makes_requests_more_permissive_in_its_band() {
    let (_, _, report) = corpus("threshold.bylaw");
    assert!(!report.changes.is_empty());
    for (c, region) in report.changes.iter().zip(regions(&report)) {
        assert!(c.widens_allow(), "{region}");
        assert!(region.contains("0.9 < scores.toxicity <= 0.95"), "{region}");
    }
}

#[test]
fn a_removed_rule_shows_where_it_used_to_fire() {
    let (_, _, report) = corpus("removed_rule.bylaw");
    assert!(!report.changes.is_empty());
    for (c, region) in report.changes.iter().zip(regions(&report)) {
        assert_eq!(c.old.outcome, bylaw::ast::Outcome::Deny);
        assert!(region.contains("\"blocked\" in tags"), "{region}");
    }
}

#[test]
fn reordered_tiers_change_the_tier_in_two_complete_regions() {
    let (_, _, report) = corpus("reordered_tiers.bylaw");
    assert!(report.complete);
    let regions = regions(&report);
    assert_eq!(regions.len(), 2, "{regions:?}");
    for (c, region) in report.changes.iter().zip(&regions) {
        assert_eq!(c.old.tier.as_deref(), Some("high"));
        assert_eq!(c.new.tier.as_deref(), Some("limited"));
        assert_eq!(c.old.outcome, c.new.outcome);
        assert!(
            region.starts_with("domain in {finance, judicial, medical} and region == EU"),
            "{region}"
        );
        assert!(region.contains("output.synthetic"), "{region}");
    }
}

#[test]
fn a_changed_set_of_members_is_found_for_the_member_removed() {
    let (_, _, report) = corpus("enum_set.bylaw");
    assert!(report.complete);
    for (c, region) in report.changes.iter().zip(regions(&report)) {
        assert!(
            region.starts_with("domain == finance and region == EU"),
            "{region}"
        );
        assert_eq!(c.old.tier.as_deref(), Some("high"));
        assert!(!c.new.duties.contains(&"human_oversight".to_string()));
    }
}

#[test]
fn an_equivalent_rewrite_has_no_difference() {
    let (_, _, report) = corpus("equivalent.bylaw");
    assert!(report.complete && report.changes.is_empty(), "{report:?}");
}

#[test]
fn a_module_parameter_changed_is_a_difference() {
    let (old, new) = (guard("module_old.bylaw"), guard("module_new.bylaw"));
    let report = diff(&old, &new, 50).unwrap();
    assert_changes_are_real(&old, &new, &report);
    assert!(!report.changes.is_empty(), "{report:?}");
    for region in regions(&report) {
        assert!(region.contains("13 <= user.age < 16"), "{region}");
    }
}

#[test]
fn different_schemas_are_refused_with_the_field() {
    let old = guard_of(
        "a.bylaw",
        "policy p version \"1.0.0\"\nschema request {\n  x: int\n}\ndeny when x > 1 because \"x\"\n",
    );
    let new = guard_of(
        "b.bylaw",
        "policy p version \"1.0.0\"\nschema request {\n  x: float\n}\ndeny when x > 1.0 because \"x\"\n",
    );
    let err = diff(&old, &new, 10).unwrap_err();
    assert!(err.contains("field `x` is declared differently"), "{err}");
}

fn bylaw_in(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bylaw"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn the_command_fails_on_allow_widening_and_prints_every_format() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (old, widened, tiers) = (
        "tests/data/diff/base.bylaw",
        "tests/data/diff/threshold.bylaw",
        "tests/data/diff/reordered_tiers.bylaw",
    );
    let (code, out) = bylaw_in(here, &["diff", old, widened, "--fail-on", "allow-widening"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("deny → allow  [more permissive]"), "{out}");
    let (code, out) = bylaw_in(here, &["diff", old, tiers, "--fail-on", "allow-widening"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("tier high → limited, duty human_oversight no longer applies"),
        "{out}"
    );
    assert!(
        out.contains("every request decided differently is in a region above"),
        "{out}"
    );
    let (code, out) = bylaw_in(here, &["diff", old, tiers, "--fail-on", "any"]);
    assert_eq!(code, 1, "{out}");

    let (_, json) = bylaw_in(here, &["diff", old, tiers, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["complete"], true);
    assert_eq!(json["changes"].as_array().map(Vec::len), Some(2));
    let (_, md) = bylaw_in(here, &["diff", old, tiers, "--format", "md"]);
    assert!(md.contains("| requests | change | example |"), "{md}");
    let (_, sarif) = bylaw_in(here, &["diff", old, widened, "--format", "sarif"]);
    let sarif: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"][0]["ruleId"], "allow-widening");
}

#[test]
fn the_old_version_can_come_from_a_git_revision() {
    let dir = std::env::temp_dir().join(format!("bylaw-diff-git-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .current_dir(&dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    git(&["init", "-q"]);
    std::fs::copy(
        here.join("tests/data/diff/base.bylaw"),
        dir.join("policy.bylaw"),
    )
    .unwrap();
    git(&["add", "policy.bylaw"]);
    git(&["commit", "-q", "-m", "base"]);
    std::fs::copy(
        here.join("tests/data/diff/reordered_tiers.bylaw"),
        dir.join("policy.bylaw"),
    )
    .unwrap();
    let (code, out) = bylaw_in(&dir, &["diff", "HEAD:policy.bylaw", "policy.bylaw"]);
    let (bad, missing) = bylaw_in(&dir, &["diff", "HEAD:nothing.bylaw", "policy.bylaw"]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 region(s) decided differently"), "{out}");
    assert_eq!(bad, 2, "{missing}");
    assert!(
        missing.contains("`git show HEAD:nothing.bylaw` failed"),
        "{missing}"
    );
}

// ---------------------------------------------------------------- generated pairs

const BASE: &str = "policy gen version \"1.0.0\"\nenum E { x, y, z }\nschema request {\n  a: int\n  f: float\n  e: E\n  s: string\n  flag: bool\n  tags: set<string>\n}\n";

fn atom() -> impl Strategy<Value = String> {
    let c = || proptest::sample::select(&[0i64, 1, 5, 10][..]);
    prop_oneof![
        (
            proptest::sample::select(&["<", "<=", ">", ">=", "=="][..]),
            c()
        )
            .prop_map(|(op, c)| format!("a {op} {c}")),
        c().prop_map(|c| format!("f > {c}.5")),
        proptest::sample::select(&["x", "y", "z"][..]).prop_map(|m| format!("e == {m}")),
        (0..2usize).prop_map(|i| format!("s == \"k{i}\"")),
        Just("flag".to_string()),
        Just("\"t\" in tags".to_string()),
        Just("starts_with(s, \"k\")".to_string()),
    ]
}

fn condition() -> impl Strategy<Value = String> {
    atom().prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

#[derive(Debug, Clone)]
struct Pair {
    old: String,
    new: String,
    /// The mutation keeps the meaning (the rules in another order, a double negation).
    same_meaning: bool,
}

fn pair() -> impl Strategy<Value = Pair> {
    let outcome = || proptest::sample::select(&["allow", "escalate", "deny"][..]);
    (
        condition(),
        prop::collection::vec((outcome(), condition()), 2..5),
        outcome(),
        0..4usize,
        condition(),
    )
        .prop_map(|(tier, rules, default, mutation, other)| {
            let render = |rules: &[(&str, String)]| {
                let mut text = format!(
                    "{BASE}tiers {{\n  hi when {tier}\n  lo otherwise\n}}\ndefault {default}\n"
                );
                for (i, (o, c)) in rules.iter().enumerate() {
                    text.push_str(&format!("{o} when {c} because \"r{i}\"\n"));
                }
                text.push_str("duty d0 {\n  applies to tier hi\n}\n");
                text
            };
            let old = render(&rules);
            let mut changed = rules.clone();
            let same_meaning = match mutation {
                0 => {
                    changed.reverse();
                    true
                }
                1 => {
                    changed[0].1 = format!("not (not ({}))", changed[0].1);
                    true
                }
                2 => {
                    changed[0].1 = other;
                    false
                }
                _ => {
                    changed.remove(0);
                    false
                }
            };
            // Rules in another order get other content ids: compare by meaning, not text.
            Pair {
                old,
                new: render(&changed),
                same_meaning,
            }
        })
}

fn request() -> impl Strategy<Value = (serde_json::Value, bool)> {
    (
        proptest::sample::select(&[i64::MIN, -1, 0, 1, 2, 5, 6, 9, 10, 11, i64::MAX][..]),
        proptest::sample::select(&[-1.0, 0.5, 1.0, 1.5, 5.5, 9.0, 10.5, 1e300][..]),
        proptest::sample::select(&["x", "y", "z"][..]),
        proptest::sample::select(&["k0", "k1", "k", "other"][..]),
        any::<bool>(),
        proptest::sample::subsequence(&["t", "u"][..], 0..=2),
    )
        .prop_map(|(a, f, e, s, flag, tags)| {
            (
                serde_json::json!({"a": a, "f": f, "e": e, "s": s, "flag": flag, "tags": tags}),
                false,
            )
        })
}

#[test]
fn changes_found_are_real_and_equivalent_pairs_decide_every_request_alike() {
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let tally = std::cell::RefCell::new((0usize, 0usize, 0usize));
    runner
        .run(
            &(pair(), prop::collection::vec(request(), 1000)),
            |(pair, requests)| {
                let old = guard_of("old.bylaw", &pair.old);
                let new = guard_of("new.bylaw", &pair.new);
                let report = diff(&old, &new, 5).unwrap();
                assert_changes_are_real(&old, &new, &report);
                if pair.same_meaning {
                    prop_assert!(
                        report.changes.is_empty(),
                        "same meaning, but {:?}\n{}\n{}",
                        report.changes,
                        pair.old,
                        pair.new
                    );
                }
                if report.complete && report.changes.is_empty() {
                    let mut t = tally.borrow_mut();
                    t.0 += 1;
                    for (request, degraded) in &requests {
                        let decide = |g: &Guard| {
                            let r = g.encode_value(request).unwrap();
                            summary_of(&g.decide_with(&r, *degraded))
                        };
                        t.2 += 1;
                        prop_assert_eq!(
                            decide(&old),
                            decide(&new),
                            "{}\n{}\n{}",
                            request,
                            pair.old,
                            pair.new
                        );
                    }
                } else if !report.changes.is_empty() {
                    tally.borrow_mut().1 += 1;
                }
                Ok(())
            },
        )
        .unwrap();
    let (equivalent, different, requests) = *tally.borrow();
    println!(
        "diff: {equivalent} pairs equivalent ({requests} requests alike), {different} with changes"
    );
    assert!(
        equivalent >= 100 && different >= 100 && requests >= 100_000,
        "{equivalent} {different} {requests}"
    );
}
