//! `bylaw verify`: assertions are proved, refuted by a request the policy really decides
//! otherwise, or unknown with the reason — and "proved" is never wrong (a property
//! test over generated policies and requests).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bylaw::guard::{Engine, Guard, Policy};
use bylaw::runtime::decision::{Decision, Outcome};
use bylaw::verify::{Checked, Verdict, verify};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const DATA: &str = "tests/data/verify";

fn guard_of(name: &str, text: &str) -> Guard {
    let policy = Policy::check(name, text).unwrap_or_else(|d| panic!("{name}: {d}"));
    Guard::new(Arc::new(policy), Engine::Jit).unwrap_or_else(|d| panic!("{name}: {d}"))
}

fn guard(file: &str) -> Guard {
    let path = Path::new(DATA).join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    guard_of(file, &text)
}

fn verdict<'a>(results: &'a [Checked], name: &str) -> &'a Verdict {
    &results
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no assertion \"{name}\" in {results:?}"))
        .verdict
}

fn bylaw(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bylaw"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// How the JIT guard decides a counterexample's request.
fn decided(guard: &Guard, request: &serde_json::Value, degraded: bool) -> Decision {
    let record = guard
        .encode_value(request)
        .unwrap_or_else(|e| panic!("the counterexample is not a valid request: {e:?}"));
    guard.decide_with(&record, degraded)
}

#[test]
fn every_assertion_of_the_chat_policy_is_proved() {
    let results = verify(&guard("genai_chat.bylaw"));
    assert_eq!(results.len(), 20);
    for r in &results {
        assert_eq!(r.verdict, Verdict::Proved, "{}", r.name);
    }
    let (code, out) = bylaw(&["verify", "tests/data/verify/genai_chat.bylaw"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("20 assertions: 20 proved, 0 refuted, 0 unknown"),
        "{out}"
    );
}

#[test]
fn a_refuted_assertion_comes_with_a_request_the_policy_decides_otherwise() {
    let guard = guard("refuted.bylaw");
    let results = verify(&guard);
    let Verdict::Refuted(c) = verdict(
        &results,
        "EU medical requests without a reviewer are never allowed",
    ) else {
        panic!("not refuted: {results:?}");
    };
    let d = decided(&guard, &c.request, c.degraded);
    assert_eq!(d.outcome, Outcome::Allow);
    assert_eq!(c.request["region"], "EU");
    assert_eq!(c.request["domain"], "medical");
    assert_eq!(c.broken, "not allow");

    let Verdict::Refuted(c) = verdict(&results, "medical requests escalate") else {
        panic!("not refuted: {results:?}");
    };
    assert_ne!(
        decided(&guard, &c.request, c.degraded).outcome,
        Outcome::Escalate
    );
    for name in [
        "young users without minor mode are never allowed",
        "EU medical requests are high risk",
        "CN synthetic output is labelled or denied",
    ] {
        assert_eq!(verdict(&results, name), &Verdict::Proved, "{name}");
    }
}

#[test]
fn a_printed_counterexample_is_ready_for_bylaw_eval() {
    let (code, out) = bylaw(&[
        "verify",
        "--format",
        "json",
        "tests/data/verify/refuted.bylaw",
    ]);
    assert_eq!(code, 1, "{out}");
    let results: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let refuted: Vec<&serde_json::Value> = results
        .iter()
        .filter(|r| r["verdict"] == "refuted")
        .collect();
    assert_eq!(refuted.len(), 2, "{out}");
    let dir = std::env::temp_dir().join(format!("bylaw-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, r) in refuted.iter().enumerate() {
        let request = dir.join(format!("request-{i}.json"));
        std::fs::write(&request, r["request"].to_string()).unwrap();
        let (code, eval) = bylaw(&[
            "eval",
            "tests/data/verify/refuted.bylaw",
            "--request",
            request.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{eval}");
        let decision: serde_json::Value = serde_json::from_str(&eval).unwrap();
        assert_eq!(decision["outcome"], r["decision"]["outcome"], "{eval}");
        assert_eq!(decision["tier"], r["decision"]["tier"], "{eval}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn what_the_logic_cannot_read_is_unknown_with_the_reason_or_refuted_concretely() {
    let guard = guard("unknown.bylaw");
    let results = verify(&guard);
    let Verdict::Unknown(why) = verdict(&results, "a model named gpt-3 is denied") else {
        panic!("not unknown: {results:?}");
    };
    assert!(why.contains("`starts_with` over `model`"), "{why}");
    // Division by zero is found by trying a candidate: the request fails closed.
    let Verdict::Refuted(c) = verdict(&results, "small requests are allowed") else {
        panic!("not refuted: {results:?}");
    };
    assert_eq!(c.request["budget"], 0);
    let d = decided(&guard, &c.request, c.degraded);
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(d.reasons[0].message.contains("division by zero"), "{d:?}");
}

#[test]
fn a_counterexample_may_need_the_service_degraded() {
    let guard = guard("degraded.bylaw");
    let results = verify(&guard);
    let Verdict::Refuted(c) = verdict(&results, "adults in the EU are allowed") else {
        panic!("not refuted: {results:?}");
    };
    assert!(c.degraded);
    assert_eq!(decided(&guard, &c.request, true).outcome, Outcome::Escalate);
    assert_eq!(decided(&guard, &c.request, false).outcome, Outcome::Allow);
    assert_eq!(verdict(&results, "children are denied"), &Verdict::Proved);
}

#[test]
fn a_failure_the_logic_cannot_rule_out_makes_a_tier_assertion_unknown() {
    let text = r#"policy p version "1.0.0"
schema request {
  a: int
  b: int
}
tiers {
  high when a > 10
  low otherwise
}
deny when a * b > 100 because "too much"
assert "big is high" { when a > 10 expect tier high }
assert "big is not allowed when b is big" { when a > 10 and b > 10 expect deny }
"#;
    let results = verify(&guard_of("p.bylaw", text));
    let Verdict::Unknown(why) = verdict(&results, "big is high") else {
        panic!("not unknown: {results:?}");
    };
    assert!(why.contains("`a * b` (line 10) can fail"), "{why}");
    // A failing request is denied anyway, so a `deny` expectation is not affected.
    assert!(
        !matches!(
            verdict(&results, "big is not allowed when b is big"),
            Verdict::Refuted(_)
        ),
        "{results:?}"
    );
}

#[test]
fn assertions_run_in_bylaw_test_and_appear_in_the_report() {
    let (code, out) = bylaw(&["test", "tests/data/verify/refuted.bylaw"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("0 tests, 5 assertions"), "{out}");
    assert!(
        out.contains("FAILED  assert medical requests escalate (line "),
        "{out}"
    );
    assert!(
        out.contains("proved  assert EU medical requests are high risk"),
        "{out}"
    );
    assert!(out.contains("3 passed, 2 failed"), "{out}");

    let (code, out) = bylaw(&["test", "tests/data/verify/genai_chat.bylaw"]);
    assert_eq!(code, 0, "{out}");

    let (code, out) = bylaw(&["report", "tests/data/verify/refuted.bylaw"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("## Assertions (`bylaw verify`)"), "{out}");
    assert!(
        out.contains(
            "| medical requests escalate | 116 | refuted | expected escalate; refuted by {"
        ),
        "{out}"
    );
}

#[test]
fn verify_exits_3_when_nothing_is_refuted_but_something_is_unknown() {
    let dir = std::env::temp_dir().join(format!("bylaw-verify-unknown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("p.bylaw");
    std::fs::write(
        &file,
        r#"policy p version "1.0.0"
schema request {
  model: string
}
default allow
deny when starts_with(model, "gpt-3") because "retired"
assert "gpt-3 is denied" { when model == "gpt-3" expect deny }
"#,
    )
    .unwrap();
    let (code, out) = bylaw(&["verify", file.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("unknown  gpt-3 is denied (line 7)"), "{out}");
}

// ---------------------------------------------------------------- property test

const INTS: &[i64] = &[i64::MIN, -1, 0, 1, 4, 5, 6, 9, 10, 11, 50, i64::MAX];
const FLOATS: &[f64] = &[-1.0, 0.0, 0.5, 1.0, 1.5, 5.5, 9.99, 10.0, 1e300];
const STRINGS: &[&str] = &["k0", "k1", "k2", "other", "kk"];
const MEMBERS: &[&str] = &["x", "y", "z"];

fn atom() -> impl Strategy<Value = String> {
    let c = || proptest::sample::select(&[0i64, 1, 5, 10, 50][..]);
    prop_oneof![
        (
            proptest::sample::select(&["<", "<=", ">", ">=", "==", "!="][..]),
            c()
        )
            .prop_map(|(op, c)| format!("a {op} {c}")),
        c().prop_map(|c| format!("b > {c}")),
        c().prop_map(|c| format!("f <= {c}.5")),
        c().prop_map(|c| format!("f > {c}.0")),
        proptest::sample::select(MEMBERS).prop_map(|m| format!("e == {m}")),
        Just("e in {x, y}".to_string()),
        (0..3usize).prop_map(|i| format!("s == \"k{i}\"")),
        Just("flag".to_string()),
        c().prop_map(|c| format!("(o ?? 3) > {c}")),
        Just("has(o)".to_string()),
        c().prop_map(|c| format!("(o ?? 0) < {c}")),
        (0..2usize).prop_map(|i| format!("\"t{i}\" in tags")),
        Just("y in es".to_string()),
        Just("contains_any(es, {x, z})".to_string()),
        Just("contains_all(es, {x, y})".to_string()),
        c().prop_map(|c| format!("a + b > {c}")),
        // Linear in one field: decided exactly.
        c().prop_map(|c| format!("a * 2 > {c}")),
        c().prop_map(|c| format!("3 * a - 1 <= {c}")),
        c().prop_map(|c| format!("-a < {c}")),
        c().prop_map(|c| format!("a * 2 == {c}")),
        c().prop_map(|c| format!("float(a) > {c}.5")),
        Just("starts_with(s, \"k\")".to_string()),
        Just("degraded".to_string()),
    ]
}

fn condition() -> impl Strategy<Value = String> {
    atom().prop_recursive(2, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn outcome() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(&["allow", "escalate", "deny"][..])
}

fn expectation() -> impl Strategy<Value = String> {
    prop_oneof![
        outcome().prop_map(str::to_string),
        outcome().prop_map(|o| format!("not {o}")),
        Just("tier hi".to_string()),
        Just("not tier lo".to_string()),
        Just("duty d0".to_string()),
        Just("not duty d0".to_string()),
    ]
}

fn policy() -> impl Strategy<Value = String> {
    (
        condition(),
        prop::collection::vec((outcome(), condition(), any::<bool>()), 1..5),
        (condition(), condition(), any::<bool>()),
        outcome(),
        prop::collection::vec((condition(), expectation()), 1..4),
    )
        .prop_map(|(tier, rules, (when, require, by_tier), default, asserts)| {
            let mut text = String::from(
                "policy gen version \"1.0.0\"\nenum E { x, y, z }\nschema request {\n  a: int\n  b: int\n  f: float\n  e: E\n  s: string\n  flag: bool\n  o: int?\n  tags: set<string>\n  es: set<E>\n}\n",
            );
            text.push_str(&format!("tiers {{\n  hi when {}\n  lo otherwise\n}}\n", tier.replace("degraded", "flag")));
            text.push_str(&format!("default {default}\n"));
            for (i, (o, c, reads_tier)) in rules.iter().enumerate() {
                let c = if *reads_tier { format!("(tier == hi and {c})") } else { c.clone() };
                text.push_str(&format!("{o} r{i} when {c} because \"r{i}\"\n"));
            }
            let applies = if by_tier {
                "applies to tier hi".to_string()
            } else {
                format!("applies when {when}")
            };
            text.push_str(&format!(
                "duty d0 {{\n  {applies}\n  require {require} else escalate \"needed\"\n}}\n"
            ));
            for (i, (c, e)) in asserts.iter().enumerate() {
                text.push_str(&format!("assert \"p{i}\" {{ when {c} expect {e} }}\n"));
            }
            // What a rule says holds whenever it fires: assertions that should be proved.
            for (i, (o, c, reads_tier)) in rules.iter().enumerate() {
                let c = if *reads_tier { format!("(tier == hi and {c})") } else { c.clone() };
                let e = match *o {
                    "deny" => "deny",
                    "escalate" => "not allow",
                    _ => continue,
                };
                text.push_str(&format!("assert \"r{i}\" {{ when {c} expect {e} }}\n"));
            }
            text
        })
}

fn request() -> impl Strategy<Value = (serde_json::Value, bool)> {
    (
        (
            proptest::sample::select(INTS),
            proptest::sample::select(INTS),
            proptest::sample::select(FLOATS),
            proptest::sample::select(MEMBERS),
            proptest::sample::select(STRINGS),
            any::<bool>(),
        ),
        (
            proptest::option::of(proptest::sample::select(INTS)),
            proptest::sample::subsequence(&["t0", "t1", "x"][..], 0..=3),
            proptest::sample::subsequence(MEMBERS, 0..=3),
            any::<bool>(),
        ),
    )
        .prop_map(|((a, b, f, e, s, flag), (o, tags, es, degraded))| {
            let mut r = serde_json::json!({
                "a": a, "b": b, "f": f, "e": e, "s": s, "flag": flag, "tags": tags, "es": es,
            });
            if let Some(o) = o {
                r["o"] = serde_json::json!(o);
            }
            (r, degraded)
        })
}

/// Whether the decision meets `expect …` as written in the generated policy.
fn meets(d: &Decision, expect: &str) -> bool {
    let (negated, target) = match expect.strip_prefix("not ") {
        Some(t) => (true, t),
        None => (false, expect),
    };
    let holds = match target {
        "tier hi" => d.tier.as_deref() == Some("hi"),
        "tier lo" => d.tier.as_deref() == Some("lo"),
        "duty d0" => d.duties.iter().any(|x| x.id == "d0"),
        outcome => d.outcome.as_str() == outcome,
    };
    holds != negated
}

#[test]
fn proved_assertions_hold_for_every_request_tried_and_counterexamples_are_real() {
    let mut runner = TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    let counts = std::cell::RefCell::new([0usize; 3]);
    let strategy = (policy(), prop::collection::vec(request(), 500));
    runner
        .run(&strategy, |(text, requests)| {
            let guard = guard_of("gen.bylaw", &text);
            let policy = &guard.policy().ir;
            for (checked, assertion) in verify(&guard).iter().zip(&policy.assertions) {
                let expect = text
                    .lines()
                    .find(|l| l.starts_with(&format!("assert \"{}\"", checked.name)))
                    .and_then(|l| l.rsplit_once(" expect "))
                    .map(|(_, e)| e.trim_end_matches(" }").to_string())
                    .unwrap_or_default();
                match &checked.verdict {
                    Verdict::Proved => {
                        counts.borrow_mut()[0] += 1;
                        for (request, degraded) in &requests {
                            let record = guard.encode_value(request).unwrap();
                            let when = bylaw::ir::interp::holds(policy, &record, *degraded, &assertion.when);
                            if when != Ok(true) {
                                continue;
                            }
                            let d = guard.decide_with(&record, *degraded);
                            prop_assert!(
                                meets(&d, &expect),
                                "proved `{}` but {request} (degraded {degraded}) is decided {d:?}\n{text}",
                                checked.name
                            );
                        }
                    }
                    Verdict::Refuted(c) => {
                        counts.borrow_mut()[1] += 1;
                        let d = decided(&guard, &c.request, c.degraded);
                        prop_assert!(
                            !meets(&d, &expect),
                            "the counterexample {} meets `{expect}`\n{text}",
                            c.request
                        );
                    }
                    Verdict::Unknown(_) => counts.borrow_mut()[2] += 1,
                }
            }
            Ok(())
        })
        .unwrap();
    let [proved, refuted, unknown] = *counts.borrow();
    println!("verify: {proved} proved, {refuted} refuted, {unknown} unknown");
    // The run means something only when it has proved and refuted assertions to check.
    assert!(
        proved >= 30 && refuted >= 30,
        "proved {proved}, refuted {refuted}, unknown {unknown}"
    );
}

// ---------------------------------------------------------------- static questions

#[test]
fn static_questions_prove_what_never_happens_and_show_what_does() {
    let path = crate::data("verify/questions.bylaw");
    let (code, out) = bylaw(&["verify", "--questions", path.to_str().unwrap()]);
    assert_eq!(code, 1, "findings exit 1:\n{out}");
    for line in [
        "NEVER    rule `contradiction` can never fire (line 17)",
        "NEVER    rule `doubled_small` can never fire (line 19)",
        "NEVER    tier `mid` can never be chosen (line 13)",
        "NEVER    duty `never_applies` can never apply (line 22)",
        "NEVER    `require` 1 of duty `impossible` can never be met where the duty applies (line 29)",
        "static questions: 5 findings, 0 unknown",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // What can happen comes with a request that does it, ready for `bylaw eval`.
    let (_, json) = bylaw(&[
        "verify",
        "--questions",
        "--format",
        "json",
        path.to_str().unwrap(),
    ]);
    let items: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let witness = items
        .iter()
        .find(|q| q["kind"] == "rule" && q["name"] == "large")
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(witness["answer"], "yes");
    assert!(
        witness["request"]["tokens"].as_i64().unwrap() * 2 > 1000,
        "{witness}"
    );
    let dir = tempfile::tempdir().unwrap();
    let request = dir.path().join("witness.json");
    std::fs::write(&request, witness["request"].to_string()).unwrap();
    let (code, decided) = bylaw(&[
        "eval",
        path.to_str().unwrap(),
        "--request",
        request.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{decided}");
    let decision: serde_json::Value = serde_json::from_str(&decided).unwrap();
    assert_eq!(decision["outcome"], "escalate", "{decided}");
    assert_eq!(decision["outcome"], witness["decision"]["outcome"]);
}

#[test]
fn a_policy_that_always_denies_is_told_so() {
    let dir = std::env::temp_dir().join(format!("bylaw-always-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("always.bylaw");
    std::fs::write(
        &file,
        "policy always version \"1.0.0\"\nschema request {\n  n: int\n}\ndefault deny\nallow when n > 5 and n < 3 because \"never\"\n",
    )
    .unwrap();
    let (code, out) = bylaw(&["verify", "--questions", file.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ALWAYS   the policy decides deny for every valid request"),
        "{out}"
    );
}

/// Whether the generated policy's item `name` happens for `request` as the question
/// asks: a rule's condition holds, a tier is chosen, a duty applies, its require is met.
fn happens(
    guard: &Guard,
    question: &bylaw::verify::questions::Question,
    request: &serde_json::Value,
    degraded: bool,
) -> bool {
    use bylaw::verify::questions::Subject;
    let policy = &guard.policy().ir;
    let record = guard.encode_value(request).unwrap();
    let d = guard.decide_with(&record, degraded);
    let holds = |e| bylaw::ir::interp::holds(policy, &record, degraded, e) == Ok(true);
    let mut compact = bylaw::ir::Compact::new(&policy.layout);
    bylaw::ir::interp::decide(policy, &record, degraded, &mut compact);
    let judged = compact.status() == bylaw::ir::status::OK;
    match &question.subject {
        // Of the requests the policy can judge (one that fails is denied regardless).
        Subject::Outcome(o) => judged && compact.outcome() == *o,
        Subject::Rule { id } => policy.rules.iter().any(|r| r.id == *id && holds(&r.cond)),
        Subject::Tier { name } => d.tier.as_deref() == Some(name.as_str()),
        Subject::Duty { name } => d.duties.iter().any(|x| x.id == *name),
        Subject::Require { duty, index } => {
            d.duties.iter().any(|x| x.id == *duty)
                && policy
                    .duties
                    .iter()
                    .filter(|x| x.name == *duty)
                    .filter_map(|x| x.requires.get(*index))
                    .all(|r| holds(&r.cond))
        }
    }
}

#[test]
fn a_never_is_never_seen_and_every_witness_does_what_it_shows() {
    use bylaw::verify::questions::{Answer, ask};
    let mut runner = TestRunner::new(Config {
        cases: 150,
        failure_persistence: None,
        ..Config::default()
    });
    let counts = std::cell::RefCell::new([0usize; 3]);
    let strategy = (policy(), prop::collection::vec(request(), 300));
    runner
        .run(&strategy, |(text, requests)| {
            let guard = guard_of("gen.bylaw", &text);
            for q in ask(&guard).questions {
                match &q.answer {
                    Answer::Never => {
                        counts.borrow_mut()[0] += 1;
                        for (request, degraded) in &requests {
                            prop_assert!(
                                !happens(&guard, &q, request, *degraded),
                                "`{}` was proved never, but {request} (degraded {degraded}) does it\n{text}",
                                q.text()
                            );
                        }
                    }
                    Answer::Witness(w) => {
                        counts.borrow_mut()[1] += 1;
                        prop_assert!(
                            happens(&guard, &q, &w.request, w.degraded),
                            "the witness {} of `{}` does not do it\n{text}",
                            w.request,
                            q.text()
                        );
                    }
                    Answer::Unknown(_) => counts.borrow_mut()[2] += 1,
                }
            }
            Ok(())
        })
        .unwrap();
    let [never, witnessed, unknown] = *counts.borrow();
    println!("questions: {never} never, {witnessed} witnessed, {unknown} unknown");
    assert!(
        never >= 30 && witnessed >= 100,
        "never {never}, witnessed {witnessed}, unknown {unknown}"
    );
}
