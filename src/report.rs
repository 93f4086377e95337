//! `bylaw report`: the compliance matrix. Every cited article → the tiers, rules and
//! duties that cite it (in the policy or in a module it uses) → the policy's tests
//! that exercise them. An article no test exercises is flagged.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::guard::Policy;
use crate::syntax::span::Span;
use crate::testing::{Part, TestResult};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matrix {
    pub policy: String,
    pub version: String,
    pub articles: Vec<Article>,
    pub tests: usize,
    pub tests_failed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Article {
    pub cite: String,
    pub implementors: Vec<Implementor>,
    /// Some test exercised some implementor.
    pub covered: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Implementor {
    /// `tier`, `rule`, `duty`, `trigger` or `service`.
    pub kind: &'static str,
    pub id: String,
    /// What it does, in a line.
    pub summary: String,
    /// The file: the policy, or `<std::module>`.
    pub source: String,
    pub line: usize,
    /// Tests whose decision it took part in.
    pub tests: Vec<String>,
}

impl Matrix {
    pub fn covered(&self) -> usize {
        self.articles.iter().filter(|a| a.covered).count()
    }
}

pub fn matrix(policy: &Policy, results: &[TestResult]) -> Matrix {
    let program = &policy.program;
    let place = |span: Span| match policy.sources.file_of(span) {
        Some(file) => (file.name.clone(), file.line_col(span.start).0),
        None => (String::new(), 0),
    };
    let mut by_cite: BTreeMap<String, Vec<Implementor>> = BTreeMap::new();
    for tier in &program.tiers {
        if let Some(cite) = &tier.cite {
            let (source, line) = place(tier.span);
            by_cite.entry(cite.clone()).or_default().push(Implementor {
                kind: "tier",
                id: tier.name.clone(),
                summary: format!("tier `{}`", tier.name),
                source,
                line,
                tests: Part::Tier(&tier.name).tests(results),
            });
        }
    }
    for rule in &program.rules {
        if let Some(cite) = &rule.cite {
            let (source, line) = place(rule.span);
            let id = rule.id.clone();
            let tests = Part::Rule(&id).tests(results);
            by_cite.entry(cite.clone()).or_default().push(Implementor {
                kind: "rule",
                id: id.clone(),
                summary: format!("{} because \"{}\"", rule.outcome.as_str(), rule.because),
                source,
                line,
                tests,
            });
        }
    }
    for duty in &program.duties {
        for cite in &duty.cites {
            let (source, line) = place(duty.span);
            by_cite.entry(cite.clone()).or_default().push(Implementor {
                kind: "duty",
                id: duty.name.clone(),
                summary: format!("duty `{}`", duty.name),
                source,
                line,
                tests: Part::Duty(&duty.name).tests(results),
            });
        }
    }
    // Reporting obligations and suspensions are carried by triggers and services: they
    // implement their articles, though no `test` block can exercise them.
    let triggers = program
        .triggers
        .iter()
        .map(|t| ("trigger", &t.name, t.span, &t.cites));
    let services = program
        .services
        .iter()
        .map(|s| ("service", &s.name, s.span, &s.cites));
    for (kind, name, span, cites) in triggers.chain(services) {
        for cite in cites {
            let (source, line) = place(span);
            by_cite.entry(cite.clone()).or_default().push(Implementor {
                kind,
                id: name.clone(),
                summary: format!("{kind} `{name}`"),
                source,
                line,
                tests: Vec::new(),
            });
        }
    }
    let mut articles: Vec<Article> = by_cite
        .into_iter()
        .map(|(cite, implementors)| Article {
            covered: implementors.iter().any(|i| !i.tests.is_empty()),
            cite,
            implementors,
        })
        .collect();
    articles.sort_by_cached_key(|a| natural_key(&a.cite));
    Matrix {
        policy: program.name.clone(),
        version: program.version.clone(),
        articles,
        tests: results.len(),
        tests_failed: results.iter().filter(|r| !r.passed()).count(),
    }
}

/// Sorts "Art. 9" before "Art. 12": runs of digits compare as numbers.
fn natural_key(text: &str) -> Vec<(String, u64)> {
    let mut key = Vec::new();
    let mut word = String::new();
    let mut number: Option<u64> = None;
    for c in text.chars() {
        match (c.to_digit(10), number) {
            (Some(d), Some(n)) => number = Some(n.saturating_mul(10).saturating_add(u64::from(d))),
            (Some(d), None) => {
                number = Some(u64::from(d));
            }
            (None, Some(n)) => {
                key.push((std::mem::take(&mut word), n));
                number = None;
                word.push(c);
            }
            (None, None) => word.push(c),
        }
    }
    key.push((word, number.unwrap_or(0)));
    key
}

fn summary_line(m: &Matrix) -> String {
    let uncovered = m.articles.len() - m.covered();
    format!(
        "{} articles cited; {} exercised by the policy's {} tests; {} not exercised by any test.",
        m.articles.len(),
        m.covered(),
        m.tests,
        uncovered
    )
}

/// The matrix as Markdown.
pub fn markdown(m: &Matrix) -> String {
    use std::fmt::Write;
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = format!(
        "# Compliance report: {} {}\n\n{}\n",
        m.policy,
        m.version,
        summary_line(m)
    );
    if m.tests_failed > 0 {
        let _ = writeln!(out, "\n**{} of the tests fail.**", m.tests_failed);
    }
    out.push_str("\n| article | implemented by | exercised by tests |\n| --- | --- | --- |\n");
    for a in &m.articles {
        let article = if a.covered {
            cell(&a.cite)
        } else {
            format!("**{}** — NOT COVERED", cell(&a.cite))
        };
        let implementors: Vec<String> = a
            .implementors
            .iter()
            .map(|i| format!("{} ({}:{})", cell(&i.summary), cell(&i.source), i.line))
            .collect();
        let mut tests: Vec<String> = a
            .implementors
            .iter()
            .flat_map(|i| i.tests.iter().cloned())
            .collect();
        tests.sort();
        tests.dedup();
        let tests = if tests.is_empty() {
            "—".to_string()
        } else {
            tests
                .iter()
                .map(|t| cell(&format!("\"{t}\"")))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let _ = writeln!(
            out,
            "| {article} | {} | {tests} |",
            implementors.join("<br>")
        );
    }
    out
}

/// The matrix as one self-contained HTML page.
pub fn html(m: &Matrix) -> String {
    use maud::{DOCTYPE, html};
    let uncovered = m.articles.len() - m.covered();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Compliance report: " (m.policy) " " (m.version) }
                style { (maud::PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { "Compliance report" }
                    p.policy { code { (m.policy) } " version " (m.version) }
                    p.summary { (summary_line(m)) }
                    @if m.tests_failed > 0 {
                        p.failing { (m.tests_failed) " of the tests fail." }
                    }
                    p.legend {
                        span.badge.ok { "covered" } " an implementing rule, tier or duty took part in a test's decision · "
                        span.badge.gap { "not covered" } " no test exercises it (" (uncovered) ")"
                    }
                }
                table id="matrix" {
                    thead { tr { th { "Article" } th { "Implemented by" } th { "Exercised by tests" } } }
                    tbody {
                        @for a in &m.articles {
                            tr class=(if a.covered { "covered" } else { "uncovered" }) data-article=(a.cite) {
                                th scope="row" {
                                    (a.cite)
                                    @if !a.covered { " " span.badge.gap { "not covered" } }
                                }
                                td {
                                    ul {
                                        @for i in &a.implementors {
                                            li {
                                                span.kind { (i.kind) } " "
                                                (if i.kind == "rule" { i.summary.as_str() } else { i.id.as_str() })
                                                span.where { " " (i.source) ":" (i.line) }
                                            }
                                        }
                                    }
                                }
                                td {
                                    @let tests: Vec<&String> = a.implementors.iter().flat_map(|i| &i.tests).collect();
                                    @if tests.is_empty() { span.none { "—" } }
                                    @else {
                                        ul { @for t in dedup(tests) { li { (t) } } }
                                    }
                                }
                            }
                        }
                    }
                }
                footer { "Generated by " code { "bylaw report" } "." }
            }
        }
    };
    page.into_string()
}

fn dedup(mut items: Vec<&String>) -> Vec<&String> {
    items.sort();
    items.dedup();
    items
}

const CSS: &str = "
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1b1f24; }
h1 { margin-bottom: .2rem; }
.policy { color: #57606a; margin-top: 0; }
.summary { font-size: 1.05rem; }
.failing { color: #b42318; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
th, td { text-align: left; vertical-align: top; padding: .5rem .6rem; border-bottom: 1px solid #d0d7de; }
thead th { background: #f6f8fa; position: sticky; top: 0; }
thead th:nth-child(1) { width: 24%; } thead th:nth-child(2) { width: 44%; }
tbody th { font-weight: 600; white-space: nowrap; }
tr.uncovered { background: #fff4f2; }
ul { margin: 0; padding-left: 1.1rem; }
.kind { font-size: .75rem; text-transform: uppercase; letter-spacing: .04em; color: #57606a; }
.where { color: #57606a; font-family: ui-monospace, monospace; font-size: .8rem; }
.badge { display: inline-block; border-radius: 1rem; padding: 0 .5rem; font-size: .75rem; font-weight: 600; }
.badge.ok { background: #dafbe1; color: #116329; }
.badge.gap { background: #ffebe9; color: #b42318; }
.none { color: #8c959f; }
footer { margin-top: 2rem; color: #57606a; font-size: .85rem; }
";
