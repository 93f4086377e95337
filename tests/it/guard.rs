//! The guard through its Rust API: the shared examples, JSON input rules, fail-closed
//! arithmetic, the record builder, and both engines.

use std::sync::Arc;

use bylaw::runtime::decision::{Outcome, ReasonKind};
use bylaw::{Decision, Engine, Guard, Policy};
use serde_json::json;

fn example(name: &str) -> String {
    let path = crate::example_policies()
        .into_iter()
        .find(|p| p.ends_with(name))
        .unwrap();
    std::fs::read_to_string(path).unwrap()
}

fn guards(source: &str) -> [Guard; 2] {
    let policy = Arc::new(Policy::check("test.bylaw", source).unwrap());
    [
        Guard::new(policy.clone(), Engine::Jit).unwrap(),
        Guard::new(policy, Engine::Interpreter).unwrap(),
    ]
}

/// Decides with both engines and checks they agree.
fn decide(source: &str, request: serde_json::Value) -> Decision {
    let [jit, interp] = guards(source);
    let bytes = serde_json::to_vec(&request).unwrap();
    let a = jit.decide_json(&bytes);
    let b = interp.decide_json(&bytes);
    assert_eq!(a, b, "engines disagree on {request}");
    a
}

#[test]
fn every_test_block_in_the_examples_passes_in_both_engines() {
    let mut total = 0;
    for path in crate::example_policies() {
        let source = std::fs::read_to_string(&path).unwrap();
        for guard in guards(&source) {
            for result in bylaw::testing::run_tests(&guard) {
                assert!(
                    result.passed(),
                    "{}: {}: {:?}",
                    path.display(),
                    result.name,
                    result.failures
                );
                total += 1;
            }
        }
    }
    // The brief's four examples hold 16 tests; tutoring_minors 9 and eu_assistant 5 more.
    assert_eq!(total, 2 * 30, "the examples hold 30 tests");
}

#[test]
fn the_example_eu_medical_request_escalates_for_a_reviewer() {
    let bytes = std::fs::read(crate::example("requests/chat_eu_medical.json")).unwrap();
    for guard in guards(&example("genai_chat.bylaw")) {
        let d = guard.decide_json(&bytes);
        assert_eq!(d.outcome, Outcome::Escalate);
        assert_eq!(d.tier.as_deref(), Some("high"));
        let duties: Vec<(&str, bool)> = d.duties.iter().map(|d| (d.id.as_str(), d.met)).collect();
        assert_eq!(
            duties,
            [
                ("human_oversight", false),
                ("keep_logs", true),
                ("disclose_ai", true)
            ]
        );
        let logs = &d.duties[1];
        assert_eq!(logs.retain_seconds, Some(180 * 86_400));
        assert_eq!(logs.cite, ["EU AI Act Art. 12"]);
        let duty_reason = d
            .reasons
            .iter()
            .find(|r| r.kind == ReasonKind::Duty)
            .unwrap();
        assert_eq!(duty_reason.message, "a human reviewer must be assigned");
        assert_eq!(duty_reason.cite.as_deref(), Some("EU AI Act Art. 14"));
        let tier_reason = &d.reasons[0];
        assert_eq!(
            (tier_reason.kind, tier_reason.id.as_str()),
            (ReasonKind::Tier, "high")
        );
        assert_eq!(tier_reason.cite.as_deref(), Some("EU AI Act Annex III"));
        assert!(tier_reason.line > 0);
    }
}

#[test]
fn the_example_request_with_bad_fields_is_denied_naming_each() {
    let bytes = std::fs::read(crate::example("requests/chat_missing_field.json")).unwrap();
    for guard in guards(&example("genai_chat.bylaw")) {
        let d = guard.decide_json(&bytes);
        assert_eq!(d.outcome, Outcome::Deny);
        assert_eq!(d.tier, None);
        assert!(d.duties.is_empty());
        let fields: Vec<&str> = d.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "user.age",
                "user.minor_mode",
                "data.personal",
                "data.consent",
                "output.synthetic",
                "output.explicit_label",
                "reviewer.assigned",
                "tags"
            ]
        );
        assert_eq!(d.errors[0].message, "expected an integer, found a string");
    }
}

const SMALL: &str = r#"
policy small version "1.0.0"
enum Region { EU, CN }
schema request {
  n: int
  f: float
  region: Region
  tags: set<string>
  meta.owner: string?
  meta.team: string?
}
deny when n > 10 because "too many"
escalate when f > 0.5 and not has(meta.owner) because "unowned"
deny when "blocked" in tags because "blocked"
"#;

#[test]
fn json_input_follows_the_brief() {
    let base = json!({"n": 1, "f": 0.1, "region": "EU", "tags": []});
    assert_eq!(decide(SMALL, base.clone()).outcome, Outcome::Allow);

    // An integer JSON number is accepted for a float; unknown fields are ignored.
    let d = decide(
        SMALL,
        json!({"n": 1, "f": 1, "region": "EU", "tags": [], "other": {"x": 1}}),
    );
    assert_eq!(d.outcome, Outcome::Escalate);

    // A missing or null parent that holds only optional fields means absent.
    let d = decide(
        SMALL,
        json!({"n": 1, "f": 0.9, "region": "EU", "tags": [], "meta": null}),
    );
    assert_eq!(d.outcome, Outcome::Escalate);
    let d = decide(
        SMALL,
        json!({"n": 1, "f": 0.9, "region": "EU", "tags": [], "meta": {"owner": "ana"}}),
    );
    assert_eq!(d.outcome, Outcome::Allow);
    // An empty string is present.
    let d = decide(
        SMALL,
        json!({"n": 1, "f": 0.9, "region": "EU", "tags": [], "meta": {"owner": ""}}),
    );
    assert_eq!(d.outcome, Outcome::Allow);

    // Duplicates in sets are allowed and ignored.
    let d = decide(
        SMALL,
        json!({"n": 1, "f": 0.1, "region": "EU", "tags": ["blocked", "blocked"]}),
    );
    assert_eq!(d.outcome, Outcome::Deny);

    let invalid = |request: serde_json::Value, field: &str, message: &str| {
        let d = decide(SMALL, request.clone());
        assert_eq!(d.outcome, Outcome::Deny, "{request}");
        assert_eq!(d.tier, None);
        assert!(
            d.errors
                .iter()
                .any(|e| e.field == field && e.message.contains(message)),
            "{request}: {:?}",
            d.errors
        );
    };
    invalid(
        json!({"n": 1.5, "f": 0.1, "region": "EU", "tags": []}),
        "n",
        "expected an integer",
    );
    invalid(
        json!({"n": 18446744073709551615u64, "f": 0.1, "region": "EU", "tags": []}),
        "n",
        "out of range",
    );
    invalid(
        json!({"n": null, "f": 0.1, "region": "EU", "tags": []}),
        "n",
        "null",
    );
    invalid(
        json!({"f": 0.1, "region": "EU", "tags": []}),
        "n",
        "missing",
    );
    invalid(
        json!({"n": 1, "f": 0.1, "region": "eu", "tags": []}),
        "region",
        "not a member",
    );
    invalid(
        json!({"n": 1, "f": 0.1, "region": "EU", "tags": [1]}),
        "tags",
        "array of strings",
    );
    invalid(
        json!({"n": 1, "f": 0.1, "region": "EU", "tags": [], "meta": "x"}),
        "meta.owner",
        "must be an object",
    );
    invalid(json!([1, 2]), "", "must be a JSON object");
    let [jit, _] = guards(SMALL);
    let d = jit.decide_json(b"{\"n\": 1,");
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(
        d.errors[0]
            .message
            .starts_with("the request is not valid JSON")
    );
}

#[test]
fn arithmetic_failures_fail_closed_with_a_reason() {
    let source = std::fs::read_to_string(crate::data("guard/arith.bylaw")).unwrap();
    let ok = decide(&source, json!({"a": 30, "b": 10, "x": 1.0, "y": 1.0}));
    assert_eq!(ok.outcome, Outcome::Deny);
    assert_eq!(ok.tier.as_deref(), Some("small"));

    let zero = decide(&source, json!({"a": 30, "b": 0, "x": 1.0, "y": 1.0}));
    assert_eq!(zero.outcome, Outcome::Deny);
    assert_eq!(zero.tier, None);
    assert!(zero.duties.is_empty());
    let reason = &zero.reasons[0];
    assert_eq!(reason.kind, ReasonKind::Failure);
    assert_eq!(reason.id, "division-by-zero");
    assert_eq!(
        reason.message,
        "division by zero in `a / b`: the request cannot be judged"
    );
    assert_eq!((reason.line, reason.column), (17, 11));

    let overflow = decide(&source, json!({"a": i64::MAX, "b": 2, "x": 1.0, "y": 1.0}));
    assert_eq!(overflow.reasons[0].id, "overflow");
    assert_eq!(
        overflow.reasons[0].message,
        "integer overflow in `a * b`: the request cannot be judged"
    );

    let negate = decide(&source, json!({"a": i64::MIN, "b": 1, "x": 1.0, "y": 1.0}));
    assert_eq!(negate.reasons[0].id, "overflow", "{negate:?}");

    let min_div = decide(&source, json!({"a": i64::MIN, "b": -1, "x": 1.0, "y": 1.0}));
    assert_eq!(min_div.reasons[0].id, "overflow", "{min_div:?}");

    let float_zero = decide(&source, json!({"a": 1, "b": 1, "x": 1.0, "y": -0.0}));
    assert_eq!(float_zero.reasons[0].id, "division-by-zero");
}

#[test]
fn duties_carry_their_parameters() {
    let source = std::fs::read_to_string(crate::data("guard/arith.bylaw")).unwrap();
    let d = decide(&source, json!({"a": 2_000_000, "b": 1, "x": 1.0, "y": 1.0}));
    assert_eq!(d.tier.as_deref(), Some("big"));
    assert_eq!(d.outcome, Outcome::Escalate);
    let duty = &d.duties[0];
    assert_eq!(duty.id, "note_big");
    assert!(!duty.met);
    assert_eq!(duty.retain.as_deref(), Some("180d"));
    assert_eq!(duty.reports[0].recipient, "auditor");
    assert_eq!(duty.reports[0].within_seconds, 15 * 86_400);
    assert_eq!(duty.notices, ["big numbers"]);
    assert_eq!(duty.cite, ["Test Art. 2"]);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["duties"][0]["reports"][0]["within"], "15d");
    assert_eq!(json["reasons"][1]["kind"], "duty");
}

#[test]
fn the_builder_makes_the_same_record_as_json() {
    for guard in guards(SMALL) {
        let built = guard
            .record()
            .int("n", 3)
            .float("f", 0.75)
            .string("region", "CN")
            .strings("tags", &["a", "blocked"])
            .string("meta.owner", "ana")
            .build()
            .unwrap();
        let decoded = guard
            .encode_json(br#"{"n": 3, "f": 0.75, "region": "CN", "tags": ["a", "blocked"], "meta": {"owner": "ana"}}"#)
            .unwrap();
        assert_eq!(built, decoded);
        assert_eq!(guard.decide(&built).outcome, Outcome::Deny);
        let errors = guard
            .record()
            .int("n", 3)
            .string("region", "JP")
            .int("nope", 1)
            .build()
            .unwrap_err();
        // In schema order, as a JSON request's errors; a path the schema lacks first.
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["nope", "f", "region", "tags"]);
    }
}

#[test]
fn hosts_fill_records_by_slot_with_the_json_rules() {
    use bylaw::runtime::record::Leaf;
    for guard in guards(SMALL) {
        let slot = |path: &str| {
            guard
                .record()
                .fields()
                .iter()
                .position(|f| f.path == path)
                .unwrap()
        };
        let region = slot("region");
        let mut builder = guard.record();
        builder.put(slot("n"), Leaf::Int(3));
        builder.put(slot("f"), Leaf::Int(1));
        builder.put_member(region, 1);
        builder.put(slot("tags"), Leaf::List(vec![Leaf::Str("a")]));
        builder.put(slot("meta.owner"), Leaf::Null);
        let built = builder.build().unwrap();
        let decoded = guard
            .encode_json(
                br#"{"n": 3, "f": 1, "region": "CN", "tags": ["a"], "meta": {"owner": null}}"#,
            )
            .unwrap();
        assert_eq!(built, decoded);

        let mut wrong = guard.record();
        wrong.put(slot("n"), Leaf::Bool(true));
        wrong.put(slot("f"), Leaf::Float(f64::NAN));
        wrong.put_member(region, 2);
        wrong.put_literal(slot("tags"), 0);
        wrong.put_not_object(slot("meta.owner"), "meta");
        let errors = wrong.build().unwrap_err();
        let listed: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("n", "expected an integer, found a boolean"),
                ("f", "expected a finite number, found NaN"),
                (
                    "region",
                    "member number 2 is not a member of this field's enum"
                ),
                ("tags", "literal number 0 is not a string of this policy"),
                ("meta.owner", "`meta` must be an object to hold this field"),
            ]
        );
    }
}

#[test]
fn the_summary_of_a_compact_result_is_the_expanded_outcome_and_tier() {
    use bylaw::runtime::decision::Decision as Full;
    for name in ["genai_chat.bylaw", "api_gateway.bylaw", "eu_hiring.bylaw"] {
        let source = example(name);
        for guard in guards(&source) {
            let request = std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("examples/requests/chat_eu_medical.json"),
            )
            .unwrap();
            if let Ok(record) = guard.encode_json(&request) {
                let mut out = guard.compact();
                guard.decide_compact(&record, false, &mut out);
                let full = Full::expand(&guard.policy().ir, &out);
                let (outcome, tier) = Full::summary(&guard.policy().ir, &out);
                assert_eq!((outcome, tier), (full.outcome, full.tier.as_deref()));
            }
        }
    }
    // A failure is a deny without a tier, in the summary as in the expansion.
    let source = "policy f version \"1.0.0\"\nschema request { a: int }\ntiers { high when 10 / a > 1\n low otherwise }\nallow when tier == low because \"low\"\n";
    for guard in guards(source) {
        let record = guard.encode_json(br#"{"a": 0}"#).unwrap();
        let mut out = guard.compact();
        guard.decide_compact(&record, false, &mut out);
        let full = Full::expand(&guard.policy().ir, &out);
        assert_eq!(full.outcome, Outcome::Deny);
        assert_eq!(
            Full::summary(&guard.policy().ir, &out),
            (Outcome::Deny, None)
        );
    }
}

#[test]
fn policy_compile_is_the_front_door() {
    let guard = Policy::compile(SMALL).unwrap();
    assert_eq!(guard.engine(), Engine::Jit);
    let d = guard.decide_json(br#"{"n": 11, "f": 0.0, "region": "EU", "tags": []}"#);
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.reasons[0].message, "too many");
    let err = Policy::compile("policy p version \"1\"").unwrap_err();
    assert_eq!(err.diagnostics[0].code.code(), "E0108");
    assert!(err.to_string().contains("invalid version"));
}

#[test]
fn guards_are_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Guard>();
    let guard = Policy::compile(SMALL).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let guard = guard.clone();
            std::thread::spawn(move || {
                let mut out = guard.compact();
                let mut denied = 0;
                for n in 0..1000 {
                    let record = guard
                        .record()
                        .int("n", (n + t) % 20)
                        .float("f", 0.1)
                        .string("region", "EU")
                        .strings("tags", &[])
                        .build()
                        .unwrap();
                    guard.decide_compact(&record, false, &mut out);
                    if out.outcome() == bylaw::ast::Outcome::Deny {
                        denied += 1;
                    }
                }
                denied
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 450, "n in 11..=19 of every 20 is denied");
    }
}

#[test]
fn degraded_is_read_from_the_service_state() {
    let source = example("api_gateway.bylaw");
    let request = br#"{"id": "g-1", "service": "llm_api", "tenant": {"id": "acme", "plan": "team", "region": "EU",
        "balance_cents": 12000, "verified": true}, "usage": {"tokens_today": 5000},
        "call": {"tokens": 800, "purpose": "chat", "features": ["chat"]}, "scores": {"abuse": 0.6, "pii": 0.0},
        "flags": []}"#;
    for guard in guards(&source) {
        let record = guard.encode_json(request).unwrap();
        assert_eq!(guard.decide_with(&record, false).outcome, Outcome::Allow);
        assert_eq!(guard.decide_with(&record, true).outcome, Outcome::Escalate);
    }
}

#[test]
fn ir_of_the_examples() {
    for path in crate::example_policies() {
        let source = std::fs::read_to_string(&path).unwrap();
        let policy = Policy::check("x.bylaw", &source).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        insta::assert_snapshot!(format!("ir_{name}"), bylaw::ir::print(&policy.ir));
    }
}

/// The README's API example, kept true.
#[test]
fn the_readme_example_works() {
    let path = crate::example_policies()
        .into_iter()
        .find(|p| p.ends_with("minimal.bylaw"))
        .unwrap();
    let source = std::fs::read_to_string(path).unwrap();
    let guard = Policy::compile(&source).unwrap();
    let decision = guard.decide_json(br#"{"scores": {"toxicity": 0.93}}"#);
    assert_eq!(decision.outcome.as_str(), "deny");
    assert_eq!(decision.reasons[0].message, "toxic");
    let record = guard
        .record()
        .float("scores.toxicity", 0.2)
        .build()
        .unwrap();
    assert_eq!(guard.decide(&record).outcome.as_str(), "allow");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains(r##"guard.decide_json(br#"{"scores": {"toxicity": 0.93}}"#);"##));
}

/// Floats from JSON text are read exactly (a threshold compared with a value one bit
/// off decides differently); found by the long differential run.
#[test]
fn json_floats_are_read_exactly() {
    let [guard, _] = guards(SMALL);
    for text in [
        "-4.9894631735499795e-254",
        "0.8",
        "0.30000000000000004",
        "1e308",
        "5e-324",
        "2.2250738585072014e-308",
    ] {
        let exact: f64 = text.parse().unwrap();
        let json = format!(r#"{{"n": 1, "f": {text}, "region": "EU", "tags": []}}"#);
        let decoded = guard.encode_json(json.as_bytes()).unwrap();
        let built = guard
            .record()
            .int("n", 1)
            .float("f", exact)
            .string("region", "EU")
            .strings("tags", &[])
            .build()
            .unwrap();
        assert_eq!(decoded, built, "{text}");
    }
}

fn rule_ids(source: &str, request: serde_json::Value) -> Vec<String> {
    decide(source, request)
        .reasons
        .iter()
        .filter(|r| r.kind == ReasonKind::Rule)
        .map(|r| r.id.clone())
        .collect()
}

#[test]
fn a_named_rule_is_its_own_id_and_an_unnamed_one_keeps_its_id_when_rules_move() {
    let head = "policy p version \"1.0.0\"\nschema request {\n  x: int\n}\n";
    let named = format!("{head}deny too_big when x > 10 because \"too big\"\n");
    assert_eq!(rule_ids(&named, json!({"x": 11})), ["too_big"]);

    let rule = "deny when x > 10 because \"too big\"\n";
    let alone = rule_ids(&format!("{head}{rule}"), json!({"x": 11}));
    assert!(
        alone[0].starts_with("rule-") && alone[0].len() == 13,
        "{alone:?}"
    );
    // Another rule before it, and the layout changed: the same id.
    let moved = format!(
        "{head}allow when x < 0 because \"negative\"\ndeny   when  (x > 10)\n  because \"too big\"\n"
    );
    assert_eq!(rule_ids(&moved, json!({"x": 11})), alone);
    // A different message is a different rule.
    let other = format!("{head}deny when x > 10 because \"far too big\"\n");
    assert_ne!(rule_ids(&other, json!({"x": 11})), alone);
    // The same rule twice: the second gets a suffix.
    let twice = format!("{head}{rule}{rule}");
    assert_eq!(
        rule_ids(&twice, json!({"x": 11})),
        [alone[0].clone(), format!("{}-2", alone[0])]
    );
}

#[test]
fn an_absent_field_with_a_default_takes_it_in_both_engines() {
    let source = r#"policy p version "1.0.0"
schema request {
  score: float
  output.deepfake: bool = false
  model: string = "none"
}
deny when output.deepfake because "deepfake"
escalate when model == "none" because "no model named"
"#;
    let ids = |request| -> Vec<String> {
        decide(source, request)
            .reasons
            .iter()
            .map(|r| r.message.clone())
            .collect()
    };
    assert_eq!(ids(json!({"score": 0.1})), ["no model named"]);
    assert_eq!(
        ids(json!({"score": 0.1, "model": "m", "output": {"deepfake": true}})),
        ["deepfake"]
    );
    // `null` is absence for a field with a default.
    assert_eq!(
        ids(json!({"score": 0.1, "model": null, "output": null})),
        ["no model named"]
    );
    // A field without a default is still required.
    assert_eq!(decide(source, json!({})).outcome, Outcome::Deny);
}

#[test]
fn the_remainder_is_checked_in_both_engines() {
    let source = r#"policy p version "1.0.0"
schema request {
  a: int
  b: int
}
deny when a % b == 1 because "odd remainder"
"#;
    assert_eq!(
        decide(source, json!({"a": 7, "b": 2})).outcome,
        Outcome::Deny
    );
    assert_eq!(
        decide(source, json!({"a": -7, "b": 2})).outcome,
        Outcome::Allow,
        "-7 % 2 is -1"
    );
    let by_zero = decide(source, json!({"a": 7, "b": 0}));
    assert_eq!(by_zero.outcome, Outcome::Deny);
    assert!(
        by_zero.reasons.iter().any(|r| r.id == "division-by-zero"),
        "{by_zero:?}"
    );
    let overflow = decide(source, json!({"a": i64::MIN, "b": -1}));
    assert!(
        overflow.reasons.iter().any(|r| r.id == "overflow"),
        "{overflow:?}"
    );
}

/// One request of `genai_chat.bylaw` as JSON text, its keys in the order `order` picks
/// (schema order, or shuffled: the decoder predicts schema order and must not depend
/// on it), sometimes invalid: a wrong type, a key given twice, a missing field.
fn chat_line(
    strings: &[String],
    tags: &[String],
    order: &[usize],
    flaw: u8,
    model: Option<&String>,
) -> String {
    let pick = |i: usize| {
        strings
            .get(i % strings.len().max(1))
            .cloned()
            .unwrap_or_default()
    };
    let mut members: Vec<String> = vec![
        format!("\"id\": {}", json!(pick(0))),
        format!("\"service\": {}", json!(pick(1))),
        "\"domain\": \"medical\"".into(),
        "\"region\": \"EU\"".into(),
        "\"user\": {\"minor_mode\": false, \"age\": 15}".into(),
        "\"data\": {\"personal\": true, \"consent\": false}".into(),
        "\"scores\": {\"toxicity\": 0.25, \"jailbreak\": 0.5}".into(),
        "\"output\": {\"synthetic\": true, \"explicit_label\": false}".into(),
        "\"reviewer\": {\"assigned\": false}".into(),
        format!("\"tags\": {}", json!(tags)),
        format!("\"model\": {{\"id\": {}}}", json!(model)),
        "\"extra\": [1, {\"id\": 2}]".into(),
    ];
    match flaw {
        1 => members.push("\"region\": \"CN\"".into()),
        2 => members[4] = "\"user\": {\"age\": \"15\"}".into(),
        3 => {
            members.remove(3);
        }
        4 => members.push("\"extra\": null".into()),
        _ => {}
    }
    let ordered: Vec<&String> = order
        .iter()
        .filter_map(|&i| members.get(i))
        .chain(members.iter().skip(order.len()))
        .collect();
    let mut unique = Vec::new();
    for m in ordered {
        if !unique.contains(&m) {
            unique.push(m);
        }
    }
    format!(
        "{{{}}}",
        unique
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

use proptest::prelude::{Strategy as _, prop_assert, prop_assert_eq};

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    /// Decoding into one reused record (strings, string sets, errors in between) gives
    /// each time what decoding into a fresh one gives, and an invalid request leaves no
    /// request behind.
    #[test]
    fn a_reused_record_decodes_like_a_fresh_one(
        lines in proptest::collection::vec(
            (
                proptest::collection::vec("(chat|EU|x|[a-z]{0,20})", 2),
                proptest::collection::vec("(eval|chat|[a-z]{1,6})", 0..6),
                proptest::strategy::Just((0..12).collect::<Vec<usize>>()).prop_shuffle(),
                0u8..8,
                proptest::option::of("(gpt|m-[0-9]{1,3})"),
            ),
            1..8,
        )
    ) {
        let source = example("genai_chat.bylaw");
        let [jit, interp] = guards(&source);
        let mut record = bylaw::runtime::record::Record::default();
        for (strings, tags, order, flaw, model) in &lines {
            let line = chat_line(strings, tags, order, *flaw, model.as_ref());
            let fresh = jit.encode_json(line.as_bytes());
            let reused = jit.encode_json_into(line.as_bytes(), &mut record);
            match (&fresh, &reused) {
                (Ok(fresh), Ok(())) => {
                    prop_assert_eq!(fresh, &record, "{}", line);
                    prop_assert_eq!(jit.decide(&record), interp.decide(fresh), "{}", line);
                }
                (Err(a), Err(b)) => {
                    prop_assert_eq!(a, b, "{}", line);
                    // Nothing of an earlier request is left.
                    let mut blank = bylaw::runtime::record::Record::default();
                    prop_assert!(jit.encode_json_into(line.as_bytes(), &mut blank).is_err());
                    prop_assert_eq!(&record, &blank, "{}", line);
                }
                _ => prop_assert!(false, "{line}: {fresh:?} vs {reused:?}"),
            }
        }
    }
}

#[test]
fn a_guard_reports_its_machine_code_and_a_record_its_heap() {
    let source = example("genai_chat.bylaw");
    let [jit, interp] = guards(&source);
    assert_eq!(interp.native_code_bytes(), None);
    let small = jit.native_code_bytes().unwrap();
    assert!(small > 0);
    // Twenty more rules make more code.
    let more: String = (0..20)
        .map(|i| format!("deny when user.age == {} because \"age {i}\"\n", 200 + i))
        .collect();
    let [bigger, _] = guards(&format!("{source}\n{more}"));
    assert!(bigger.native_code_bytes().unwrap() > small);
    let record = jit
        .encode_json(
            &serde_json::to_vec(&crate::replay::chat_request(1, 0.1, 0.1, Some("m-1"))).unwrap(),
        )
        .unwrap();
    // Fifteen slots and a presence word, and the strings "r-1" and "m-1".
    assert!(record.heap_bytes() >= 16 * 8 + 6, "{}", record.heap_bytes());
}

#[test]
fn decide_many_gives_each_record_what_decide_compact_gives() {
    let source = example("genai_chat.bylaw");
    for guard in guards(&source) {
        let records: Vec<bylaw::Record> = (0..50)
            .map(|i| {
                let request = crate::replay::chat_request(
                    i,
                    (i % 11) as f64 / 10.0,
                    0.25 * (i % 5) as f64,
                    None,
                );
                guard
                    .encode_json(&serde_json::to_vec(&request).unwrap())
                    .unwrap()
            })
            .collect();
        for degraded in [false, true] {
            let mut seen = Vec::new();
            guard.decide_many(&records, degraded, |i, out| seen.push((i, out.clone())));
            assert_eq!(seen.len(), records.len());
            let mut outcomes = std::collections::BTreeSet::new();
            for (i, out) in &seen {
                let mut one = guard.compact();
                guard.decide_compact(&records[*i], degraded, &mut one);
                assert_eq!(out, &one, "record {i}");
                outcomes.insert(format!("{:?}", out.outcome()));
            }
            // The batch is not all one answer, so the comparison means something.
            assert!(outcomes.len() > 1, "{outcomes:?}");
        }
    }
}
