//! The standard library against the regulations it encodes: the catalogue
//! (`stdlib/regulations.toml`) names every article a module cites, with the date it
//! applies from, which the module's `effective` clauses follow; jurisdiction gates,
//! parameters that are policy choices, renamed modules; and replays of the EU AI Act
//! Art. 73 reporting clocks and the CN GenAI Measures Art. 14(2) ladder.

use std::collections::BTreeSet;
use std::sync::Arc;

use bylaw::stdlib::catalogue::{self, Catalogue};
use bylaw::{Engine, Guard, Policy};

fn parsed_catalogue() -> Catalogue {
    catalogue::parse(catalogue::text()).unwrap_or_else(|e| panic!("stdlib/regulations.toml: {e}"))
}

#[test]
fn the_catalogue_names_every_cited_article_and_the_date_it_applies_from() {
    let catalogue = parsed_catalogue();
    assert_eq!(
        &catalogue,
        catalogue::catalogue(),
        "the embedded catalogue parses"
    );
    let mut cited = BTreeSet::new();
    for module in bylaw::stdlib::MODULES {
        for bylaw::stdlib::Citation {
            cite,
            effective_from: from,
        } in module.citations()
        {
            let Some((regulation, article)) = catalogue.article(&cite) else {
                panic!(
                    "{}: `{cite}` is not in stdlib/regulations.toml",
                    module.name
                );
            };
            assert!(
                cite.starts_with(&regulation.name),
                "`{cite}` is filed under {}",
                regulation.name
            );
            // An article that applied later than the regulation came into force is
            // encoded from that day; an `effective` date is always the article's.
            if article.applies_from > regulation.in_force || from.is_some() {
                assert_eq!(
                    from.as_deref(),
                    Some(article.applies_from.as_str()),
                    "{}: `{cite}` applies from {}",
                    module.name,
                    article.applies_from
                );
            }
            cited.insert(cite);
        }
    }
    for regulation in &catalogue.regulations {
        assert!(regulation.url.starts_with("http"), "{}", regulation.name);
        assert!(!regulation.document.is_empty() && !regulation.issuer.is_empty());
        for article in &regulation.articles {
            assert!(
                cited.contains(&article.cite),
                "`{}` is in the catalogue but no module cites it",
                article.cite
            );
            assert!(
                jiff::civil::Date::strptime("%Y-%m-%d", &article.applies_from).is_ok(),
                "{}: {}",
                article.cite,
                article.applies_from
            );
            // Chinese texts carry the original beside the (unofficial) English summary.
            if regulation.jurisdiction == "CN" && regulation.reviewed.is_some() {
                assert!(
                    article.original.is_some(),
                    "{} has no original text",
                    article.cite
                );
            }
        }
    }
}

fn guard(text: &str) -> Guard {
    let policy = Policy::check("p.bylaw", text).unwrap_or_else(|d| panic!("{d}"));
    Guard::new(Arc::new(policy), Engine::Jit).unwrap()
}

fn outcome(guard: &Guard, request: serde_json::Value) -> String {
    let decision = guard.decide_json(&serde_json::to_vec(&request).unwrap());
    assert!(decision.errors.is_empty(), "{:?}", decision.errors);
    decision.outcome.as_str().to_string()
}

#[test]
fn a_15_year_old_in_the_eu_is_judged_by_the_gdpr_not_by_china_s_rules() {
    let g = guard("policy p version \"1.0.0\"\nuse std::minors\ndefault allow\n");
    let teen = |cn: bool, eu: bool, consent: bool| {
        serde_json::json!({
            "now": "2026-12-03T10:00:00Z",
            "jurisdiction": { "cn": cn, "eu": eu },
            "user": { "age": 15, "guardian_consent": consent },
            "content": { "harmful_to_minors": false },
        })
    };
    // Outside minor mode: refused in China (Art. 43), not in the EU.
    assert_eq!(outcome(&g, teen(true, false, true)), "deny");
    assert_eq!(outcome(&g, teen(false, true, true)), "allow");
    // In the EU the GDPR Art. 8 age decides: 15 < 16 needs a parent.
    assert_eq!(outcome(&g, teen(false, true, false)), "deny");
    // A Member State that set 13.
    let g13 = guard(
        "policy p version \"1.0.0\"\nuse std::minors { eu_consent_age: 13 }\ndefault allow\n",
    );
    assert_eq!(outcome(&g13, teen(false, true, false)), "allow");
    // A provider that reads Art. 43 as not reaching its service.
    let no_mode = guard(
        "policy p version \"1.0.0\"\nuse std::minors { cn_minor_mode_required: false }\ndefault allow\n",
    );
    assert_eq!(outcome(&no_mode, teen(true, false, true)), "allow");
}

#[test]
fn the_gpai_obligations_bind_only_in_the_eu_and_spare_open_source_models() {
    let g = guard("policy p version \"1.0.0\"\nuse std::eu::gpai\ndefault allow\n");
    let model = |eu: bool, open: bool, compute: f64| {
        serde_json::json!({
            "now": "2026-12-03T10:00:00Z",
            "jurisdiction": { "eu": eu },
            "model": {
                "gpai": true,
                "training_compute_log10": compute,
                "open_source": open,
                "copyright_policy": true,
                "training_summary_published": true,
            },
        })
    };
    assert_eq!(
        outcome(&g, model(true, false, 24.0)),
        "deny",
        "no documentation"
    );
    assert_eq!(outcome(&g, model(true, true, 24.0)), "allow", "Art. 53(2)");
    assert_eq!(
        outcome(&g, model(true, true, 25.5)),
        "deny",
        "not with systemic risk"
    );
    assert_eq!(
        outcome(&g, model(false, false, 25.5)),
        "allow",
        "not placed in the EU"
    );
}

#[test]
fn a_renamed_module_says_where_it_went() {
    let checked = bylaw::check_source(
        "p.bylaw",
        "policy p version \"1.0.0\"\nuse std::nist::ai_rmf\ndefault allow\n",
    );
    let diag = checked
        .diagnostics
        .iter()
        .find(|d| d.code.code() == "E0109")
        .expect("an unknown-module error");
    assert!(
        diag.message.contains("std::nist::ai_rmf::operations"),
        "{}",
        diag.message
    );
}

fn replay(policy: &str, lines: &[serde_json::Value]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let traffic = dir.path().join("traffic.jsonl");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&traffic, text).unwrap();
    let policy = crate::data(policy);
    let out = crate::replay::bylaw(&[
        "replay",
        policy.to_str().unwrap(),
        "--requests",
        traffic.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn incident(at: &str, id: &str, aware_at: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut body = serde_json::json!({ "id": id, "aware_at": aware_at });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    serde_json::json!({ "at": at, "event": "serious_incident", "body": body })
}

#[test]
fn art_73_opens_one_report_per_incident_due_from_awareness_by_kind() {
    let none = serde_json::json!({});
    let text = replay(
        "stdlib/eu_incidents.bylaw",
        &[
            incident(
                "2028-03-01T09:00:00Z",
                "inc-1",
                "2028-03-01T08:00:00Z",
                none.clone(),
            ),
            // 19 days later, while the first is still in the window: a report of its own.
            incident(
                "2028-03-20T09:00:00Z",
                "inc-2",
                "2028-03-20T08:00:00Z",
                none,
            ),
            incident(
                "2028-03-21T09:00:00Z",
                "inc-3",
                "2028-03-21T07:00:00Z",
                serde_json::json!({ "death": true }),
            ),
            incident(
                "2028-03-22T09:00:00Z",
                "inc-4",
                "2028-03-22T09:00:00Z",
                serde_json::json!({ "death": true, "critical_infrastructure": true }),
            ),
            // Art. 73(1): not a high-risk system on the Union market — no report.
            incident(
                "2028-03-23T09:00:00Z",
                "inc-5",
                "2028-03-23T09:00:00Z",
                serde_json::json!({ "death": true, "eu_market": false }),
            ),
            incident(
                "2028-03-24T09:00:00Z",
                "inc-6",
                "2028-03-24T09:00:00Z",
                serde_json::json!({ "high_risk": false }),
            ),
        ],
    );
    for line in [
        "report 1 to \"market-surveillance-authority\" about serious_incident:inc-1 opened, due 2028-03-16T08:00:00Z (trigger eu_serious_incident)",
        "report 2 to \"market-surveillance-authority\" about serious_incident:inc-2 opened, due 2028-04-04T08:00:00Z (trigger eu_serious_incident)",
        "report 3 to \"market-surveillance-authority\" about serious_incident:inc-3 opened, due 2028-03-31T07:00:00Z (trigger eu_incident_death)",
        "report 4 to \"market-surveillance-authority\" about serious_incident:inc-4 opened, due 2028-03-24T09:00:00Z (trigger eu_incident_widespread_or_infrastructure)",
        "4 open report(s)",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert_eq!(
        text.matches("opened, due").count(),
        4,
        "one report each, a death one:\n{text}"
    );
}

fn cn_request(at: &str, user: &str, violation: bool) -> serde_json::Value {
    cn_line(at, user, violation, false)
}

fn cn_line(at: &str, user: &str, violation: bool, unlawful: bool) -> serde_json::Value {
    serde_json::json!({
        "at": at,
        "request": {
            "jurisdiction": { "cn": true },
            "user": { "id": user, "minor": false, "violation": violation },
            "session": { "minutes_today": 10 },
            "content": { "unlawful": unlawful },
            "input": { "identifies_user": false, "retained_beyond_need": false },
            "service": { "complaint_channel": true, "complaint_time_limit_published": true },
        },
    })
}

#[test]
fn the_cn_ladder_warns_limits_suspends_and_a_terminated_user_stays_blocked() {
    let mut lines: Vec<serde_json::Value> = (1..=4)
        .map(|day| cn_request(&format!("2026-12-0{day}T10:00:00Z"), "u-bad", true))
        .collect();
    // Three months on, long after the violations left the 30-day window.
    lines.push(cn_request("2027-03-01T10:00:00Z", "u-bad", false));
    lines.push(cn_request("2027-03-01T10:00:01Z", "u-good", false));
    let text = replay("stdlib/cn_ladder.bylaw", &lines);
    for line in [
        "trigger cn_user_warning fired for \"u-bad\": count 1 within 30d >= 1",
        "report 1 to \"competent-department\" opened, due 2026-12-16T10:00:00Z (trigger cn_user_warning)",
        "trigger cn_user_limit fired for \"u-bad\": count 2 within 30d >= 2",
        "block user.id \"u-bad\" until 2026-12-03T10:00:00Z (trigger `cn_user_limit`)",
        "block user.id \"u-bad\" until 2027-01-02T10:00:00Z (trigger `cn_user_suspend`)",
        "trigger cn_user_terminate fired for \"u-bad\": count 4 within 30d >= 4",
        "6 requests: allow 4, deny 2",
        "blocked user.id \"u-bad\" until 2126-11-10T10:00:00Z (trigger `cn_user_terminate`)",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn docs_stdlib_describes_every_module_and_article() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/stdlib.md"),
    )
    .unwrap();
    for module in bylaw::stdlib::MODULES {
        assert!(
            doc.contains(&format!("## `{}`", module.name)),
            "docs/stdlib.md lacks {}",
            module.name
        );
        for cite in module.cites() {
            assert!(doc.contains(&cite), "docs/stdlib.md does not name {cite}");
        }
    }
}

#[test]
fn unlawful_content_is_removed_and_reported_under_art_14_1() {
    let text = replay(
        "stdlib/cn_ladder.bylaw",
        &[cn_line("2026-12-01T10:00:00Z", "u-1", false, true)],
    );
    for line in [
        "notify \"content-removal\" (trigger cn_unlawful_content_found)",
        "report 1 to \"competent-department\" opened, due 2026-12-16T10:00:00Z (trigger cn_unlawful_content_found)",
        "1 requests: deny 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn an_open_incident_is_communicated_under_manage_4_3_with_the_policy_s_deadline() {
    let request = |at: &str, open: bool| {
        serde_json::json!({
            "at": at,
            "request": {
                "monitoring": { "enabled": true, "drift_score": 0.01 },
                "deployment": { "deactivation_owner": true },
                "incident": { "open": open },
            },
        })
    };
    let text = replay(
        "stdlib/nist_ops.bylaw",
        &[
            request("2026-12-01T10:00:00Z", false),
            request("2026-12-01T11:00:00Z", true),
        ],
    );
    for line in [
        "notify \"incident-response\" (trigger nist_open_incident)",
        "report 1 to \"ai-risk-owner\" opened, due 2026-12-02T11:00:00Z (trigger nist_open_incident)",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}
