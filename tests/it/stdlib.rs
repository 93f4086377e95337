//! The standard library: every module checks, lints clean and passes its own tests; a
//! policy using all of them compiles and passes its tests; parameters; the compliance
//! report as Markdown (snapshots) and as HTML rendered by headless Chromium.

use std::sync::Arc;

use bylaw::{Engine, Guard, Policy};

fn guard(name: &str, text: &str) -> Guard {
    let policy = Policy::check(name, text).unwrap_or_else(|d| panic!("{d}"));
    Guard::new(Arc::new(policy), Engine::Jit).unwrap()
}

const EXPECTED: &[&str] = &[
    "std::cn::algorithm_filing",
    "std::cn::genai_measures",
    "std::cn::labeling",
    "std::eu::ai_act::high_risk",
    "std::eu::ai_act::prohibited",
    "std::eu::ai_act::transparency",
    "std::eu::gpai",
    "std::minors",
    "std::nist::ai_rmf::operations",
    "std::personal_data",
];

#[test]
fn every_module_checks_lints_clean_and_passes_its_tests() {
    let names: Vec<&str> = bylaw::stdlib::MODULES.iter().map(|m| m.name).collect();
    assert_eq!(names, EXPECTED);
    for module in bylaw::stdlib::MODULES {
        let checked = bylaw::check_source(module.name, module.text);
        assert!(
            checked.diagnostics.is_empty(),
            "{}: {:?}",
            module.name,
            checked.diagnostics
        );
        let lints = bylaw::lint::run(
            checked.program.as_ref().unwrap(),
            &checked.file,
            module.text,
            0,
            &Default::default(),
        );
        assert!(
            lints.is_empty(),
            "{} does not lint clean: {:?}",
            module.name,
            lints
                .iter()
                .map(|l| &l.diagnostic.message)
                .collect::<Vec<_>>()
        );
        let results = bylaw::testing::run_tests(&guard(module.name, module.text));
        assert!(
            results.len() >= 3,
            "{} has {} tests",
            module.name,
            results.len()
        );
        for r in results {
            assert!(
                r.passed(),
                "{}: test \"{}\" fails: {:?}",
                module.name,
                r.name,
                r.failures
            );
        }
        // In `bylaw fmt`'s layout.
        let parsed = bylaw::syntax::parser::parse(module.text, 0);
        assert_eq!(
            bylaw::format::format(&parsed.file, &parsed.comments, module.text, 0),
            module.text,
            "{} is not formatted: run `bylaw fmt stdlib`",
            module.name
        );
        // Tiers are the policy's decision, never a module's.
        assert!(
            !checked
                .file
                .decls
                .iter()
                .any(|d| matches!(d, bylaw::ast::Decl::Tiers(_)))
        );
        // Every rule and duty says which article it implements.
        let program = checked.program.as_ref().unwrap();
        assert!(
            program.rules.iter().all(|r| r.cite.is_some()),
            "{}",
            module.name
        );
        assert!(
            program.duties.iter().all(|d| !d.cites.is_empty()),
            "{}",
            module.name
        );
        assert!(
            program.triggers.iter().all(|t| !t.cites.is_empty()),
            "{}: every trigger cites its article",
            module.name
        );
    }
}

fn all_modules() -> String {
    std::fs::read_to_string(crate::data("stdlib/all_modules.bylaw")).unwrap()
}

#[test]
fn a_policy_using_every_module_compiles_and_passes_its_tests() {
    let guard = guard("all_modules.bylaw", &all_modules());
    let results = bylaw::testing::run_tests(&guard);
    assert_eq!(results.len(), 10);
    for r in &results {
        assert!(r.passed(), "\"{}\": {:?}", r.name, r.failures);
    }
    // `log_retention: 1 year` reached the module's duty.
    let hiring = results
        .iter()
        .find(|r| r.name.starts_with("an EU hiring screen"))
        .and_then(|r| r.decision.clone())
        .unwrap();
    let logging = hiring
        .duties
        .iter()
        .find(|d| d.id == "eu_high_risk_logging")
        .unwrap();
    assert_eq!(logging.retain_seconds, Some(365 * 86_400));
}

#[test]
fn a_policy_may_declare_what_a_module_declares_the_same_way() {
    let text = "policy p version \"1.0.0\"\nuse std::minors\nuse std::personal_data\nschema request {\n  user.age: int\n  data.personal: bool\n}\ndefault allow\n";
    let checked = bylaw::check_source("p.bylaw", text);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let program = checked.program.unwrap();
    assert_eq!(
        program
            .fields
            .iter()
            .filter(|f| f.path == "user.age")
            .count(),
        1
    );
}

#[test]
fn the_markdown_report_maps_articles_to_rules_duties_and_tests() {
    for (name, text) in [
        (
            "genai_chat",
            std::fs::read_to_string(crate::example("genai_chat.bylaw")).unwrap(),
        ),
        ("all_modules", all_modules()),
    ] {
        let guard = guard(&format!("{name}.bylaw"), &text);
        let results = bylaw::testing::run_tests(&guard);
        let matrix = bylaw::report::matrix(guard.policy(), &results);
        assert!(
            matrix.generated_at.is_none(),
            "the library leaves the time to the caller"
        );
        insta::assert_snapshot!(format!("report_{name}"), bylaw::report::markdown(&matrix));
    }
}

#[test]
fn the_html_report_renders_every_article_row_in_headless_chromium() {
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium (.ci/run)"
        );
        eprintln!(
            "chromium is not installed: skipping the browser test (`apt-get install chromium`)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let out = crate::replay::bylaw(&[
        "report",
        crate::data("stdlib/all_modules.bylaw").to_str().unwrap(),
        "--format",
        "html",
        "-o",
        page.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let headless = |what: &str| {
        let mut command = std::process::Command::new(chromium);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join(format!("profile-{what}")).display()
            ));
        command
    };
    let rendered = headless("dom")
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let dom = String::from_utf8_lossy(&rendered.stdout);
    let guard = guard("all_modules.bylaw", &all_modules());
    let matrix = bylaw::report::matrix(guard.policy(), &bylaw::testing::run_tests(&guard));
    assert!(matrix.article_count() >= 30);
    for article in matrix.articles() {
        assert!(
            dom.contains(&format!("data-article=\"{}\"", article.cite)),
            "the rendered page has no row for {}",
            article.cite
        );
    }
    let rows =
        dom.matches("<tr class=\"tested\"").count() + dom.matches("<tr class=\"untested\"").count();
    assert_eq!(rows, matrix.article_count());
    for heading in [
        "EU AI Act",
        "PIPL",
        "CN GenAI Interim Measures",
        "The policy's own citations",
    ] {
        assert!(
            dom.contains(&format!("<h2>{heading}</h2>")),
            "no section for {heading}"
        );
    }
    assert!(dom.contains("It is not legal advice"));
    assert!(dom.contains("Not encoded"));

    // Printable: Chromium prints it to a PDF of at least one page.
    let pdf = dir.path().join("report.pdf");
    let printed = headless("pdf")
        .arg("--no-pdf-header-footer")
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF"), "not a PDF");
    let text = String::from_utf8_lossy(&bytes);
    let pages = text.matches("/Type /Page").count() - text.matches("/Type /Pages").count();
    assert!(pages > 0, "the PDF has no pages");
}

/// A module's rules are named by their module in decisions, so that two modules (or a
/// module and the policy) cannot give two rules one id.
#[test]
fn module_rules_are_qualified_by_their_module() {
    let text = "policy p version \"1.0.0\"\nuse std::eu::ai_act::prohibited\ndefault allow\n\
                deny when practice.social_scoring because \"ours\"\n";
    let guard = guard("p.bylaw", text);
    let request = serde_json::json!({
        "now": "2026-12-03T10:00:00Z",
        "jurisdiction": { "eu": true },
        "practice": {
            "manipulation": false,
            "exploits_vulnerability": false,
            "social_scoring": true,
            "crime_prediction_by_profiling": false,
            "untargeted_facial_scraping": false,
            "emotion_recognition_work_or_school": false,
            "sensitive_biometric_categorisation": false,
            "realtime_remote_biometric_id_law_enforcement": false,
        },
    });
    let decision = guard.decide_json(&serde_json::to_vec(&request).unwrap());
    let ids: Vec<&str> = decision.reasons.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(
        ids.contains(&"std::eu::ai_act::prohibited::eu_social_scoring"),
        "{ids:?}"
    );
    assert!(ids.iter().any(|id| id.starts_with("rule-")), "{ids:?}");
}
