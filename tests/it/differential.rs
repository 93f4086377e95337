//! The interpreter is the oracle: on generated well-typed policies (every expression
//! form) and generated requests (edge values, absent optionals, invalid JSON types),
//! the JIT must produce the identical compact result and decision.
//!
//! `BYLAW_DIFF_POLICIES` sets how many policies are generated (default 300, each
//! decided on 350 requests: 105,000 cases). `docs/testing.md` has the long run.

use std::sync::Arc;

use bylaw::{Engine, Guard, Policy};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value as Json, json};

/// Enums of 63, 64, 65 and 200 members (`ea0…`, `eb0…`, `ec0…`, `ed0…`): sets of the first
/// two fill a 64-bit mask to its last bit; the others have members past bit 63, which
/// literal sets must not alias (`set<E>` of them is refused, E0123).
fn large_enums() -> String {
    [
        ("E63", "ea", 63),
        ("E64", "eb", 64),
        ("E65", "ec", 65),
        ("E200", "ed", 200),
    ]
    .iter()
    .map(|(name, prefix, n)| {
        let members: Vec<String> = (0..*n).map(|i| format!("{prefix}{i}")).collect();
        format!("enum {name} {{ {} }}\n", members.join(", "))
    })
    .collect()
}

/// A member of a large enum near the edges of a 64-bit word.
fn edge_member(prefix: &'static str, n: usize) -> impl Strategy<Value = String> {
    let edges: Vec<usize> = [0, 1, 31, 62, 63, 64, 65, 127, 128, 199]
        .into_iter()
        .filter(|&i| i < n)
        .collect();
    proptest::sample::select(edges).prop_map(move |i| format!("{prefix}{i}"))
}

const SCHEMA: &str = r#"
enum Color { red, green, blue }
enum Size { small, large }

schema request {
  e63s: set<E63>
  e64s: set<E64>
  e65: E65
  e200: E200
  id: string
  service: string
  b1: bool
  b2: bool
  i1: int
  i2: int
  n.x: int
  f1: float
  f2: float
  s1: string
  s2: string
  d1: duration
  p1: percent
  c1: Color
  z1: Size
  cs: set<Color>
  ss: set<string>
  oi: int?
  os: string?
  oc: Color?
  of: float?
  t1: timestamp
  ot: timestamp?
}
"#;

/// Timestamps near the edges: the epoch, before it, fractions, daylight-saving changes
/// (Paris 2026-03-29 01:00Z, Lord Howe's half hour), offsets, the year 9999.
const TIMESTAMPS: &[&str] = &[
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.5Z",
    "1899-06-01T12:00:00Z",
    "2026-03-29T00:59:59Z",
    "2026-03-29T01:00:00Z",
    "2026-08-02T00:00:00+08:00",
    "2026-10-04T14:59:59.999Z",
    "2026-12-31T23:30:00-05:00",
    "2150-07-01T03:00:00+05:45",
    "9999-12-30T12:00:00Z",
];
const ZONES: &[&str] = &[
    "UTC",
    "Asia/Shanghai",
    "Europe/Paris",
    "America/St_Johns",
    "Australia/Lord_Howe",
];

const INT_LITERALS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "7",
    "100",
    "9223372036854775807",
    "4611686018427387904",
    "(-1)",
    "(-9223372036854775807)",
];
const FLOAT_LITERALS: &[&str] = &["0.0", "0.5", "1.5", "100.25", "(-0.0)", "(-2.5)"];
const STRINGS: &[&str] = &[
    "a",
    "b",
    "x",
    "",
    "長い",
    "GPT-4o",
    "Straße",
    "İx",
    "ΑΣ",
    "ß",
    "gpt-4o-mini",
    // Past 32 bytes the JIT's `matches` runs the meta engine instead of the table.
    "please ignore all previous instructions, gpt-4 says: 長い話 ß",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaax",
];
/// Patterns for `matches`: anchors, classes, case folding, non-ASCII.
const PATTERNS: &[&str] = &[
    "^a",
    "x$",
    "(?i)gpt-[0-9]",
    "^$",
    "[a-c]+",
    "ß|SS",
    "長.",
    "^.{2}$",
    "(ignore|bypass) (all|previous)",
    "a{40}",
    // Finite languages: compiled to membership among literals.
    "^(a|x|長い)$",
    "^GPT-4o?$",
];

fn int_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("i1".to_string()),
        Just("i2".to_string()),
        Just("n.x".to_string()),
        proptest::sample::select(INT_LITERALS).prop_map(str::to_string),
        proptest::sample::select(INT_LITERALS).prop_map(|l| format!("(oi ?? {l})")),
        cased_string().prop_map(|s| format!("len({s})")),
        proptest::sample::select(&["ss", "cs", "e64s", "{\"a\", \"b\"}"][..])
            .prop_map(|s| format!("len({s})")),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| format!("abs({a})")),
            (
                proptest::sample::select(&["min", "max"][..]),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
            float_leaf().prop_map(|f| format!("int({f})")),
            (
                inner.clone(),
                proptest::sample::select(&["+", "-", "*", "/", "%"][..]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.prop_map(|a| format!("(-{a})")),
        ]
    })
}

/// Float leaves without integer expressions (which would recurse into `int(…)`).
fn float_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("f1".to_string()),
        Just("f2".to_string()),
        Just("(f1 * 10000000000.0)".to_string()),
        proptest::sample::select(FLOAT_LITERALS).prop_map(str::to_string),
        proptest::sample::select(FLOAT_LITERALS).prop_map(|l| format!("(of ?? {l})")),
    ]
}

fn float_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        float_leaf(),
        int_expr(),
        int_expr().prop_map(|i| format!("float({i})")),
        float_leaf().prop_map(|f| format!("abs({f})")),
        (
            proptest::sample::select(&["min", "max"][..]),
            float_leaf(),
            int_expr()
        )
            .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
    ];
    leaf.prop_recursive(2, 8, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                proptest::sample::select(&["+", "-", "*", "/"][..]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b} + 0.0)")),
            inner.prop_map(|a| format!("(-({a} + 0.0))")),
        ]
    })
}

fn cmp_op() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(&["==", "!=", "<", "<=", ">", ">="][..])
}

fn string_expr() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("s1".to_string()),
        Just("s2".to_string()),
        Just("id".to_string()),
        proptest::sample::select(STRINGS).prop_map(|s| format!("{s:?}")),
        proptest::sample::select(STRINGS).prop_map(|s| format!("(os ?? {s:?})")),
    ]
}

/// A string, perhaps under `lower`/`upper` (directly or twice).
fn cased_string() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => string_expr(),
        1 => string_expr().prop_map(|s| format!("lower({s})")),
        1 => string_expr().prop_map(|s| format!("upper({s})")),
        1 => string_expr().prop_map(|s| format!("lower(upper({s}))")),
    ]
}

fn timestamp_expr() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("t1".to_string()),
        proptest::sample::select(TIMESTAMPS).prop_map(|t| format!("(ot ?? date({t:?}))")),
        proptest::sample::select(TIMESTAMPS).prop_map(|t| format!("date({t:?})")),
        proptest::sample::select(&["30d", "1h", "90m"][..]).prop_map(|d| format!("(t1 + {d})")),
        Just("(t1 - 6 months)".to_string()),
    ]
}

/// Calls of the time functions, and timestamp arithmetic.
fn time_expr() -> BoxedStrategy<String> {
    prop_oneof![
        (
            timestamp_expr(),
            proptest::sample::select(ZONES),
            cmp_op(),
            0i64..24
        )
            .prop_map(|(t, z, op, h)| format!("hour_of_day({t}, {z:?}) {op} {h}")),
        (
            timestamp_expr(),
            proptest::sample::select(ZONES),
            proptest::sample::select(&["mon", "sat", "sun"][..])
        )
            .prop_map(|(t, z, d)| format!("weekday({t}, {z:?}) == {d}")),
        (timestamp_expr(), proptest::sample::select(ZONES))
            .prop_map(|(t, z)| format!("weekday({t}, {z:?}) in {{fri, sat}}")),
        (timestamp_expr(), cmp_op(), timestamp_expr())
            .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (timestamp_expr(), timestamp_expr(), cmp_op())
            .prop_map(|(a, b, op)| format!("{a} - {b} {op} 7d")),
    ]
    .boxed()
}

/// Calls of the string and set functions.
fn function_expr() -> BoxedStrategy<String> {
    prop_oneof![
        (
            proptest::sample::select(&["starts_with", "ends_with", "contains"][..]),
            cased_string(),
            cased_string()
        )
            .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
        (cased_string(), proptest::sample::select(PATTERNS))
            .prop_map(|(s, p)| format!("matches({s}, {p:?})")),
        (
            cased_string(),
            proptest::sample::select(&["==", "!="][..]),
            cased_string()
        )
            .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        cased_string().prop_map(|s| format!("{s} in {{\"a\", \"GPT-4O\", \"straße\"}}")),
        cased_string().prop_map(|s| format!("{s} in ss")),
        (
            proptest::sample::select(
                &["contains_any", "contains_all", "is_subset", "intersects"][..]
            ),
            proptest::sample::select(&["ss", "{\"a\", \"x\"}", "{\"b\"}"][..]),
            proptest::sample::select(&["ss", "{\"a\", \"長い\"}", "{}"][..]),
        )
            .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
        (
            proptest::sample::select(
                &["contains_any", "contains_all", "is_subset", "intersects"][..]
            ),
            proptest::sample::select(&["cs", "{red, blue}", "{green}"][..]),
            proptest::sample::select(&["cs", "{red}", "{}"][..]),
        )
            .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
        string_expr().prop_map(|s| format!("contains(ss, {s})")),
        Just("contains(cs, c1)".to_string()),
        Just("contains_all(e64s, {eb63, eb0})".to_string()),
    ]
    .boxed()
}

/// Boolean conditions over the schema; `with_tier` allows reading `tier`.
fn bool_expr(with_tier: bool) -> BoxedStrategy<String> {
    let mut leaves: Vec<BoxedStrategy<String>> = vec![
        function_expr(),
        function_expr(),
        time_expr(),
        Just("b1".to_string()).boxed(),
        Just("b2".to_string()).boxed(),
        Just("true".to_string()).boxed(),
        Just("degraded".to_string()).boxed(),
        Just("has(oi)".to_string()).boxed(),
        Just("has(oc)".to_string()).boxed(),
        (int_expr(), cmp_op(), int_expr())
            .prop_map(|(a, op, b)| format!("{a} {op} {b}"))
            .boxed(),
        (float_expr(), cmp_op(), float_expr())
            .prop_map(|(a, op, b)| format!("{a} {op} {b}"))
            .boxed(),
        (
            string_expr(),
            proptest::sample::select(&["==", "!="][..]),
            string_expr(),
        )
            .prop_map(|(a, op, b)| format!("{a} {op} {b}"))
            .boxed(),
        proptest::sample::select(&["red", "green", "blue"][..])
            .prop_map(|m| format!("c1 == {m}"))
            .boxed(),
        Just("c1 in {red, blue}".to_string()).boxed(),
        Just("(oc ?? green) in {green}".to_string()).boxed(),
        Just("z1 != Size.small".to_string()).boxed(),
        proptest::sample::select(&["red", "green", "blue"][..])
            .prop_map(|m| format!("{m} in cs"))
            .boxed(),
        Just("c1 in cs".to_string()).boxed(),
        string_expr().prop_map(|s| format!("{s} in ss")).boxed(),
        string_expr()
            .prop_map(|s| format!("{s} in {{\"a\", \"x\", s2}}"))
            .boxed(),
        int_expr()
            .prop_map(|i| format!("{i} in {{1, 2, i2}}"))
            .boxed(),
        (
            cmp_op(),
            proptest::sample::select(&["30m", "1h", "0s", "6 months"][..]),
        )
            .prop_map(|(op, d)| format!("d1 {op} {d}"))
            .boxed(),
        Just("d1 + 10m > 1h".to_string()).boxed(),
        (
            cmp_op(),
            proptest::sample::select(&["5%", "0%", "50.5%"][..]),
        )
            .prop_map(|(op, p)| format!("p1 {op} {p}"))
            .boxed(),
    ];
    leaves.extend([
        edge_member("ea", 63)
            .prop_map(|m| format!("{m} in e63s"))
            .boxed(),
        edge_member("eb", 64)
            .prop_map(|m| format!("{m} in e64s"))
            .boxed(),
        (edge_member("ec", 65), edge_member("ec", 65))
            .prop_map(|(m, n)| format!("e65 in {{{m}, {n}}}"))
            .boxed(),
        edge_member("ec", 65)
            .prop_map(|m| format!("e65 == {m}"))
            .boxed(),
        (
            edge_member("ed", 200),
            edge_member("ed", 200),
            edge_member("ed", 200),
        )
            .prop_map(|(m, n, o)| format!("e200 in {{{m}, {n}, {o}}}"))
            .boxed(),
        edge_member("ed", 200)
            .prop_map(|m| format!("e200 != {m}"))
            .boxed(),
    ]);
    if with_tier {
        leaves.push(Just("tier == high".to_string()).boxed());
        leaves.push(Just("tier in {low, mid}".to_string()).boxed());
    }
    let leaf = proptest::strategy::Union::new(leaves);
    leaf.prop_recursive(3, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("(not {a})")),
        ]
    })
    .boxed()
}

fn outcome() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(&["allow", "escalate", "deny"][..])
}

prop_compose! {
    pub(crate) fn policy_source()(src in policy_with_rules(1..6)) -> String { src }
}

prop_compose! {
    pub(crate) fn policy_with_rules(rule_count: std::ops::Range<usize>)(
        default in outcome(),
        high in bool_expr(false),
        mid in bool_expr(false),
        def_body in bool_expr(false),
        rules in proptest::collection::vec((outcome(), bool_expr(true)), rule_count),
        duties in proptest::collection::vec(
            (proptest::option::of(proptest::sample::select(&["high", "mid, low", "low"][..])),
             proptest::option::of(bool_expr(true)),
             proptest::collection::vec((bool_expr(true), outcome()), 0..3)),
            0..3),
        trigger in proptest::option::of(bool_expr(true)),
    ) -> String {
        let mut src = format!("policy generated version \"1.0.0\"\n{}{SCHEMA}\ndefault {default}\n", large_enums());
        src.push_str(&format!("def flag = {def_body}\n"));
        src.push_str(&format!("tiers {{\n  high when {high}\n  mid when {mid} or flag\n  low otherwise\n}}\n"));
        for (i, (outcome, cond)) in rules.iter().enumerate() {
            src.push_str(&format!("{outcome} when {cond} because \"rule {i}\"\n"));
        }
        for (i, (tiers, when, requires)) in duties.iter().enumerate() {
            src.push_str(&format!("duty d{i} {{\n"));
            if let Some(t) = tiers {
                src.push_str(&format!("  applies to tier {t}\n"));
            }
            if let Some(w) = when {
                src.push_str(&format!("  applies when {w}\n"));
            }
            for (cond, outcome) in requires {
                src.push_str(&format!("  require {cond} else {outcome} \"unmet\"\n"));
            }
            src.push_str("  retain 30 days\n}\n");
        }
        if let Some(cond) = trigger {
            src.push_str(&format!(
                "trigger t {{\n  when count({cond}) within 10m by s1 >= 3\n  then notify \"ops\"\n}}\n"
            ));
        }
        src
    }
}

fn int_value() -> impl Strategy<Value = Json> {
    prop_oneof![
        4 => proptest::sample::select(&[0i64, 1, -1, 2, 3, 7, 100, i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1][..]).prop_map(Json::from),
        2 => any::<i64>().prop_map(Json::from),
    ]
}

fn float_value() -> impl Strategy<Value = Json> {
    prop_oneof![
        4 => proptest::sample::select(&[0.0f64, -0.0, 0.5, 1.5, -2.5, 100.25, 1e308, -1e308, 5e-324][..]).prop_map(Json::from),
        2 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Json::from),
        1 => Just(json!(3)),
    ]
}

fn string_value() -> impl Strategy<Value = Json> {
    prop_oneof![
        6 => proptest::sample::select(STRINGS).prop_map(Json::from),
        1 => Just(json!("other")),
    ]
}

fn color_value() -> impl Strategy<Value = Json> {
    proptest::sample::select(&["red", "green", "blue"][..]).prop_map(Json::from)
}

/// Fields a corrupted request gets a value of a wrong type in.
const CORRUPTIBLE: &[&str] = &[
    "b1", "i1", "n", "f1", "s1", "d1", "c1", "cs", "ss", "oi", "oc",
];

fn invalid_value() -> impl Strategy<Value = Json> {
    proptest::sample::select(vec![
        json!(1.5),
        json!("12"),
        json!(18446744073709551615u64),
        json!(true),
        json!(null),
        json!("purple"),
        json!(["red", 3]),
        json!({"x": 1}),
        json!([]),
        json!(7),
    ])
}

fn optional(inner: impl Strategy<Value = Json>) -> impl Strategy<Value = Option<Json>> {
    prop_oneof![
        2 => inner.prop_map(Some),
        1 => Just(None),
        1 => Just(Some(Json::Null)),
    ]
}

prop_compose! {
    fn request()(
        ints in proptest::collection::vec(int_value(), 3),
        floats in proptest::collection::vec(float_value(), 2),
        strings in proptest::collection::vec(string_value(), 3),
        bools in proptest::collection::vec(any::<bool>().prop_map(Json::from), 2),
        d1 in prop_oneof![4 => (0i64..100_000).prop_map(Json::from), 1 => int_value()],
        p1 in prop_oneof![4 => (0.0f64..100.0).prop_map(Json::from), 1 => float_value()],
        c1 in color_value(),
        z1 in proptest::sample::select(&["small", "large"][..]),
        cs in proptest::collection::vec(proptest::sample::select(&["red", "green", "blue"][..]), 0..4),
        e63s in proptest::collection::vec(edge_member("ea", 63), 0..4),
        e64s in proptest::collection::vec(edge_member("eb", 64), 0..4),
        e65 in edge_member("ec", 65),
        e200 in edge_member("ed", 200),
        ss in proptest::collection::vec(string_value(), 0..4),
        oi in optional(int_value()),
        os in optional(string_value()),
        oc in optional(color_value()),
        of in optional(float_value()),
        t1 in proptest::sample::select(TIMESTAMPS),
        ot in optional(proptest::sample::select(TIMESTAMPS).prop_map(Json::from)),
        drop_field in proptest::option::weighted(0.05, 0usize..6),
        corrupt in proptest::option::weighted(0.15, (proptest::sample::select(CORRUPTIBLE), invalid_value())),
    ) -> Json {
        let mut req = json!({
            "id": strings[2].clone(), "service": "svc",
            "b1": bools[0].clone(), "b2": bools[1].clone(),
            "i1": ints[0].clone(), "i2": ints[1].clone(), "n": {"x": ints[2].clone()},
            "f1": floats[0].clone(), "f2": floats[1].clone(),
            "s1": strings[0].clone(), "s2": strings[1].clone(),
            "d1": d1, "p1": p1, "c1": c1, "z1": z1, "cs": cs, "ss": ss,
            "e63s": e63s, "e64s": e64s, "e65": e65, "e200": e200, "t1": t1,
            "extra": {"ignored": true},
        });
        let obj = req.as_object_mut().unwrap();
        for (name, value) in [("oi", oi), ("os", os), ("oc", oc), ("of", of), ("ot", ot)] {
            if let Some(v) = value {
                obj.insert(name.to_string(), v);
            }
        }
        if let Some(i) = drop_field {
            obj.remove(["b1", "i1", "n", "s1", "cs", "c1"][i]);
        }
        if let Some((field, value)) = corrupt {
            obj.insert(field.to_string(), value);
        }
        req
    }
}

/// The policy's JIT guard and its interpreter.
fn jit_and_interpreter(policy: Arc<Policy>) -> Result<(Guard, Guard), TestCaseError> {
    let jit =
        Guard::new(policy.clone(), Engine::Jit).map_err(|d| TestCaseError::fail(d.to_string()))?;
    let interp =
        Guard::new(policy, Engine::Interpreter).map_err(|d| TestCaseError::fail(d.to_string()))?;
    Ok((jit, interp))
}

/// Decides `request` with both guards into `out` and requires the same words; false
/// when the request is invalid for either. `context` is printed with a disagreement.
fn decide_alike(
    jit: &Guard,
    interp: &Guard,
    request: &Json,
    degraded: bool,
    out: (&mut bylaw::ir::Compact, &mut bylaw::ir::Compact),
    context: &str,
) -> Result<bool, TestCaseError> {
    let bytes = serde_json::to_vec(request).unwrap();
    let (Ok(r1), Ok(r2)) = (jit.encode_json(&bytes), interp.encode_json(&bytes)) else {
        return Ok(false);
    };
    let (a, b) = out;
    jit.decide_compact(&r1, degraded, a);
    interp.decide_compact(&r2, degraded, b);
    prop_assert_eq!(&*a, &*b, "request {}\n{}", request, context);
    Ok(true)
}

/// Policies past `RULES_PER_PART` rules compile to several native functions; they must
/// agree with the interpreter too, failures in a late part included.
#[test]
fn split_guards_agree_with_the_interpreter() {
    let mut runner = TestRunner::new(Config {
        cases: 4,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(
        &(
            policy_with_rules(300..700),
            proptest::collection::vec((request(), any::<bool>()), 300),
        ),
        |(source, requests)| {
            let policy = Arc::new(
                Policy::check("large.bylaw", &source)
                    .map_err(|d| TestCaseError::fail(d.to_string()))?,
            );
            prop_assert!(policy.ir.rules.len() > 256);
            let (jit, interp) = jit_and_interpreter(policy)?;
            let (mut a, mut b) = (jit.compact(), interp.compact());
            for (request, degraded) in &requests {
                decide_alike(&jit, &interp, request, *degraded, (&mut a, &mut b), "")?;
            }
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn policies() -> u32 {
    std::env::var("BYLAW_DIFF_POLICIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

#[test]
fn jit_agrees_with_the_interpreter() {
    const REQUESTS_PER_POLICY: usize = 350;
    let cases = policies();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let mut decided = 0u64;
    let counter = std::cell::Cell::new(0u64);
    // What the generated cases covered, so that agreement is not agreement on nothing.
    let valid = std::cell::Cell::new(0u64);
    let failed = std::cell::Cell::new(0u64);
    let outcomes = std::cell::Cell::new([0u64; 3]);
    let result = runner.run(
        &(
            policy_source(),
            proptest::collection::vec((request(), any::<bool>()), REQUESTS_PER_POLICY),
        ),
        |(source, requests)| {
            let policy = Arc::new(Policy::check("generated.bylaw", &source).map_err(|d| {
                TestCaseError::fail(format!("generated policy must compile:\n{d}\n{source}"))
            })?);
            let (jit, interp) = jit_and_interpreter(policy)?;
            let (mut a, mut b) = (jit.compact(), interp.compact());
            let mut scratch = jit.compact();
            for (request, degraded) in &requests {
                let bytes = serde_json::to_vec(request).unwrap();
                // The streaming decoder and the JSON-tree decoder must read requests alike.
                match (jit.encode_json(&bytes), jit.encode_value(request)) {
                    (Ok(streamed), Ok(tree)) => {
                        jit.decide_compact(&streamed, *degraded, &mut a);
                        interp.decide_compact(&tree, *degraded, &mut b);
                        prop_assert_eq!(&a, &b, "decoders disagree on {}", request);
                    }
                    (Err(e1), Err(e2)) => {
                        prop_assert_eq!(e1, e2, "decoders disagree on {}", request)
                    }
                    (x, y) => prop_assert!(
                        false,
                        "decoders disagree on {}: {:?} vs {:?}",
                        request,
                        x.is_ok(),
                        y.is_ok()
                    ),
                }
                match (jit.encode_json(&bytes), interp.encode_json(&bytes)) {
                    (Ok(r1), Ok(r2)) => {
                        jit.decide_compact(&r1, *degraded, &mut a);
                        interp.decide_compact(&r2, *degraded, &mut b);
                        prop_assert_eq!(
                            &a,
                            &b,
                            "request {} degraded={}\n{}",
                            request,
                            degraded,
                            source
                        );
                        prop_assert_eq!(
                            jit.decide_with(&r1, *degraded),
                            interp.decide_with(&r2, *degraded)
                        );
                        // The outcome-only path stops at the first deny rule: the same
                        // outcome, failures included.
                        prop_assert_eq!(
                            jit.decide_outcome(&r1, *degraded, &mut scratch),
                            b.outcome(),
                            "decide_outcome of {} degraded={}\n{}",
                            request,
                            degraded,
                            source
                        );
                        valid.set(valid.get() + 1);
                        if a.status() != 0 {
                            failed.set(failed.get() + 1);
                        } else {
                            let mut seen = outcomes.get();
                            seen[a.outcome() as usize] += 1;
                            outcomes.set(seen);
                        }
                    }
                    (Err(e1), Err(e2)) => prop_assert_eq!(e1, e2),
                    _ => prop_assert!(false, "encoding differs between guards for {}", request),
                }
                counter.set(counter.get() + 1);
            }
            Ok(())
        },
    );
    decided += counter.get();
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(decided >= u64::from(cases) * REQUESTS_PER_POLICY as u64);
    let (valid, failed, outcomes) = (valid.get(), failed.get(), outcomes.get());
    println!(
        "differential: {cases} policies, {decided} requests ({valid} valid, {failed} failed closed, \
         allow/escalate/deny {outcomes:?}), 0 disagreements"
    );
    assert!(
        valid * 4 >= decided,
        "at least a quarter of the requests must be valid"
    );
    assert!(failed > 0, "some requests must overflow or divide by zero");
    assert!(
        outcomes.iter().all(|&n| n * 20 >= valid),
        "every outcome must be common"
    );
}

/// A conjunct the guard's rule index keys on: a string or enum field against constants.
fn index_key() -> impl Strategy<Value = String> {
    let string = || proptest::sample::select(STRINGS).prop_map(|s| format!("{s:?}"));
    prop_oneof![
        (proptest::sample::select(&["s1", "s2", "id"][..]), string())
            .prop_map(|(f, s)| format!("{f} == {s}")),
        (string(), proptest::sample::select(&["s1", "s2"][..]))
            .prop_map(|(s, f)| format!("{s} == {f}")),
        (
            proptest::sample::select(&["s1", "s2"][..]),
            proptest::collection::vec(string(), 1..4)
        )
            .prop_map(|(f, items)| format!("{f} in {{{}}}", items.join(", "))),
        proptest::sample::select(&["red", "green", "blue"][..]).prop_map(|m| format!("c1 == {m}")),
        proptest::sample::select(&["{red, blue}", "{green}"][..])
            .prop_map(|m| format!("c1 in {m}")),
        edge_member("ed", 200).prop_map(|m| format!("e200 == {m}")),
        (edge_member("ec", 65), edge_member("ec", 65))
            .prop_map(|(a, b)| format!("e65 in {{{a}, {b}}}")),
        // Wider than the index takes: scanned.
        Just(format!(
            "e200 in {{{}}}",
            (0..20)
                .map(|i| format!("ed{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    ]
}

prop_compose! {
    /// Policies past the index's threshold whose rules share keyed fields (overlapping
    /// keys, keys before and after other conjuncts, keys under `or` or `not` that the
    /// index must not use) next to rules that may fail or have no key.
    pub(crate) fn indexed_policy()(
        default in outcome(),
        rules in proptest::collection::vec(
            (outcome(), index_key(), bool_expr(false), 0..6u8),
            70..200,
        ),
    ) -> String {
        let mut src = format!("policy indexed version \"1.0.0\"\n{}{SCHEMA}\ndefault {default}\n", large_enums());
        src.push_str("tiers {\n  high when i1 > 50\n  low otherwise\n}\n");
        for (i, (outcome, key, other, shape)) in rules.iter().enumerate() {
            let cond = match shape {
                0 | 1 => format!("{key} and ({other})"),
                2 => format!("({other}) and {key}"),
                3 => key.to_string(),
                4 => format!("{key} or ({other})"),
                _ => format!("not ({key}) and ({other})"),
            };
            src.push_str(&format!("{outcome} when {cond} because \"rule {i}\"\n"));
        }
        src
    }
}

/// The rule index changes which rules the compiled guard evaluates, never what it
/// decides: on policies built to exercise it, JIT and interpreter agree word for word
/// (`BYLAW_DIFF_POLICIES` / 3 policies × 1,000 requests: 100,000 cases by default).
#[test]
fn indexed_guards_agree_with_the_interpreter() {
    const REQUESTS_PER_POLICY: usize = 1_000;
    let mut runner = TestRunner::new(Config {
        cases: policies() / 3,
        failure_persistence: None,
        ..Config::default()
    });
    let indexed = std::cell::Cell::new(0usize);
    let fired = std::cell::Cell::new(0u64);
    let decided = std::cell::Cell::new(0u64);
    let result = runner.run(
        &(
            indexed_policy(),
            proptest::collection::vec((request(), any::<bool>()), REQUESTS_PER_POLICY),
        ),
        |(source, requests)| {
            let policy = Arc::new(
                Policy::check("indexed.bylaw", &source)
                    .map_err(|d| TestCaseError::fail(format!("{d}\n{source}")))?,
            );
            let index = bylaw::ir::index::RuleIndex::plan(&policy.ir);
            let keyed: std::collections::BTreeSet<usize> = index
                .groups
                .iter()
                .flat_map(|g| g.buckets.values().flatten().copied())
                .collect();
            indexed.set(indexed.get() + keyed.len());
            let base = policy.ir.layout.rules;
            let (jit, interp) = jit_and_interpreter(policy)?;
            let (mut a, mut b) = (jit.compact(), interp.compact());
            for (request, degraded) in &requests {
                if decide_alike(&jit, &interp, request, *degraded, (&mut a, &mut b), &source)? {
                    let hits = keyed.iter().filter(|&&i| b.bit(base, i)).count();
                    fired.set(fired.get() + hits as u64);
                }
                decided.set(decided.get() + 1);
            }
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(indexed.get() > 0, "the generated policies must be indexed");
    assert!(fired.get() > 0, "indexed rules must fire");
    assert!(decided.get() >= u64::from(policies() / 3) * REQUESTS_PER_POLICY as u64);
    println!(
        "indexed differential: {} requests, {} indexed rules, {} firings of them, 0 disagreements",
        decided.get(),
        indexed.get(),
        fired.get()
    );
}
