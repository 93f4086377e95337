//! `bylaw report`: the compliance matrix. Every cited article → the tiers, rules and
//! duties that cite it (in the policy or in a module it uses) → the policy's tests
//! that exercise them, grouped by the regulation the standard library's catalogue files
//! each article under. An article no test exercises is flagged untested.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::guard::Policy;
use crate::runtime::decision::human_duration;
use crate::stdlib::catalogue::{Catalogue, NotEncoded, Regulation};
use crate::syntax::span::Span;
use crate::testing::{Part, TestResult};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matrix {
    pub policy: String,
    pub version: String,
    /// SHA-256 of the policy's own source, as `bylaw serve` shows it on `/v1/policy`.
    pub fingerprint: String,
    /// The version of the standard library (the binary's) the modules came from.
    pub stdlib_version: String,
    /// When the report was made (RFC 3339); `None` leaves it out, for reproducible output.
    pub generated_at: Option<String>,
    /// By regulation, in the catalogue's order; citations the catalogue does not know
    /// (the policy's own) last, in a group without a regulation.
    pub groups: Vec<Group>,
    pub tests: usize,
    pub tests_failed: usize,
    /// The policy's `assert`s and what `bylaw verify` found (see
    /// [`Matrix::with_assertions`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assertions: Vec<AssertionRow>,
}

/// One `assert` of the policy in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssertionRow {
    pub name: String,
    pub line: u32,
    /// `proved`, `refuted` or `unknown`.
    pub verdict: &'static str,
    /// The counterexample request (refuted) or the reason (unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// `None`: citations of the policy's own that name no catalogued article.
    pub regulation: Option<Regulation>,
    pub articles: Vec<Article>,
    /// What the modules do not encode of this regulation.
    pub not_encoded: Vec<NotEncoded>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Article {
    pub cite: String,
    /// From the catalogue, when it knows the article.
    pub applies_from: Option<String>,
    pub summary: Option<String>,
    pub implementors: Vec<Implementor>,
    /// Some test exercised some implementor.
    pub tested: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Implementor {
    /// `tier`, `rule`, `duty`, `trigger` or `service`.
    pub kind: &'static str,
    pub id: String,
    /// What the control does, with the values its parameters have in this policy:
    /// `deny "…"`, `retain 1 year`, `report to "…" within 15d per event`.
    pub control: String,
    /// The file: the policy, or `<std::module>`.
    pub source: String,
    pub line: usize,
    /// Tests whose decision it took part in.
    pub tests: Vec<String>,
}

impl Matrix {
    /// The matrix with what `bylaw verify` found for each of the policy's assertions.
    pub fn with_assertions(mut self, checked: &[crate::verify::Checked]) -> Matrix {
        use crate::verify::Verdict;
        self.assertions = checked
            .iter()
            .map(|c| {
                let (verdict, detail) = match &c.verdict {
                    Verdict::Proved => ("proved", None),
                    Verdict::Refuted(x) => ("refuted", Some(x.refutation())),
                    Verdict::Unknown(why) => ("unknown", Some(why.clone())),
                };
                AssertionRow {
                    name: c.name.clone(),
                    line: c.line,
                    verdict,
                    detail,
                }
            })
            .collect();
        self
    }

    pub fn articles(&self) -> impl Iterator<Item = &Article> {
        self.groups.iter().flat_map(|g| &g.articles)
    }

    pub fn tested(&self) -> usize {
        self.articles().filter(|a| a.tested).count()
    }

    pub fn article_count(&self) -> usize {
        self.articles().count()
    }
}

impl Group {
    pub fn tested(&self) -> usize {
        self.articles.iter().filter(|a| a.tested).count()
    }

    pub fn title(&self) -> String {
        match &self.regulation {
            Some(r) => r.name.clone(),
            None => "The policy's own citations".to_string(),
        }
    }
}

pub fn matrix(policy: &Policy, results: &[TestResult]) -> Matrix {
    let program = &policy.program;
    let place = |span: Span| match policy.sources.file_of(span) {
        Some(file) => (file.name.clone(), file.line_col(span.start).0),
        None => (String::new(), 0),
    };
    let mut by_cite: BTreeMap<String, Vec<Implementor>> = BTreeMap::new();
    let mut add = |cite: &str,
                   kind: &'static str,
                   id: &str,
                   control: String,
                   span: Span,
                   tests: Vec<String>| {
        let (source, line) = place(span);
        by_cite
            .entry(cite.to_string())
            .or_default()
            .push(Implementor {
                kind,
                id: id.to_string(),
                control,
                source,
                line,
                tests,
            });
    };
    for tier in &program.tiers {
        if let Some(cite) = &tier.cite {
            let control = "assigns this tier".to_string();
            add(
                cite,
                "tier",
                &tier.name,
                control,
                tier.span,
                Part::Tier(&tier.name).tests(results),
            );
        }
    }
    for rule in &program.rules {
        if let Some(cite) = &rule.cite {
            let control = format!("{} \"{}\"", rule.outcome.as_str(), rule.because);
            add(
                cite,
                "rule",
                &rule.id,
                control,
                rule.span,
                Part::Rule(&rule.id).tests(results),
            );
        }
    }
    for duty in &program.duties {
        for cite in &duty.cites {
            let tests = Part::Duty(&duty.name).tests(results);
            add(
                cite,
                "duty",
                &duty.name,
                duty_control(duty),
                duty.span,
                tests,
            );
        }
    }
    // Reporting obligations, blocks and suspensions are carried by triggers and
    // services: they implement their articles, though no `test` block exercises them.
    for trigger in &program.triggers {
        for cite in &trigger.cites {
            let control = trigger_control(program, trigger);
            add(
                cite,
                "trigger",
                &trigger.name,
                control,
                trigger.span,
                Vec::new(),
            );
        }
    }
    for service in &program.services {
        for cite in &service.cites {
            let control = service_control(service);
            add(
                cite,
                "service",
                &service.name,
                control,
                service.span,
                Vec::new(),
            );
        }
    }
    Matrix {
        policy: program.name.clone(),
        version: program.version.clone(),
        fingerprint: fingerprint(policy),
        stdlib_version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at: None,
        groups: group_by_regulation(by_cite, crate::stdlib::catalogue::catalogue()),
        tests: results.len(),
        tests_failed: results.iter().filter(|r| !r.passed()).count(),
        assertions: Vec::new(),
    }
}

fn fingerprint(policy: &Policy) -> String {
    use sha2::{Digest, Sha256};
    let own = policy
        .sources
        .files()
        .first()
        .map(|f| f.text.as_bytes())
        .unwrap_or_default();
    hex::encode(Sha256::digest(own))
}

fn group_by_regulation(
    by_cite: BTreeMap<String, Vec<Implementor>>,
    catalogue: &Catalogue,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut own: Vec<Article> = Vec::new();
    for (cite, implementors) in by_cite {
        let tested = implementors.iter().any(|i| !i.tests.is_empty());
        let known = catalogue.article(&cite);
        let article = Article {
            applies_from: known.map(|(_, a)| a.applies_from.clone()),
            summary: known.map(|(_, a)| a.summary.clone()),
            cite,
            implementors,
            tested,
        };
        let Some((regulation, _)) = known else {
            own.push(article);
            continue;
        };
        match groups.iter_mut().find(|g| {
            g.regulation
                .as_ref()
                .is_some_and(|r| r.name == regulation.name)
        }) {
            Some(group) => group.articles.push(article),
            None => groups.push(Group {
                regulation: Some(regulation.clone()),
                articles: vec![article],
                not_encoded: regulation.not_encoded.clone(),
            }),
        }
    }
    let order = |g: &Group| {
        catalogue
            .regulations
            .iter()
            .position(|r| g.regulation.as_ref().is_some_and(|x| x.name == r.name))
            .unwrap_or(usize::MAX)
    };
    groups.sort_by_key(order);
    if !own.is_empty() {
        groups.push(Group {
            regulation: None,
            articles: own,
            not_encoded: Vec::new(),
        });
    }
    for group in &mut groups {
        group.articles.sort_by_cached_key(|a| natural_key(&a.cite));
    }
    groups
}

/// `escalate unless met ("…"); retain 1 year; notice`.
fn duty_control(duty: &crate::check::program::Duty) -> String {
    let mut parts: Vec<String> = duty
        .requires
        .iter()
        .map(|r| format!("{} unless met (\"{}\")", r.outcome.as_str(), r.message))
        .collect();
    if let Some(secs) = duty.retain_secs {
        parts.push(format!("retain {}", human_duration(secs)));
    }
    for report in &duty.reports {
        parts.push(format!(
            "report to \"{}\" within {}",
            report.recipient,
            human_duration(report.within_secs)
        ));
    }
    if !duty.notices.is_empty() {
        parts.push("notice".to_string());
    }
    if parts.is_empty() {
        parts.push("applies".to_string());
    }
    parts.join("; ")
}

/// `at 3 within 30d by user.id: block user.id for 1d; notify "…"`.
fn trigger_control(
    program: &crate::check::program::Program,
    t: &crate::check::program::Trigger,
) -> String {
    use crate::check::program::{Action, Threshold};
    let counted = match t.event.and_then(|e| program.events.get(e)) {
        Some(kind) => format!("{} events", kind.name),
        None => "requests".to_string(),
    };
    let threshold = match t.threshold {
        Threshold::Count(n) => format!("{} {n}", t.op.as_str()),
        Threshold::Rate(p) => format!("{} {p}%", t.op.as_str()),
    };
    let key_path = |id: usize, event: bool| {
        let fields = match t.event.and_then(|e| program.events.get(e)) {
            Some(kind) if event => &kind.fields,
            _ => &program.fields,
        };
        fields.get(id).map(|f| f.path.clone()).unwrap_or_default()
    };
    let by =
        t.by.map(|id| format!(" by {}", key_path(id, true)))
            .unwrap_or_default();
    let actions: Vec<String> = t
        .actions
        .iter()
        .map(|a| match a {
            Action::Suspend { service, for_secs } => {
                let name = program
                    .services
                    .get(*service)
                    .map(|s| s.name.as_str())
                    .unwrap_or("");
                match for_secs {
                    Some(secs) => format!("suspend {name} for {}", human_duration(*secs)),
                    None => format!("suspend {name}"),
                }
            }
            Action::Degrade { service } => format!(
                "degrade {}",
                program
                    .services
                    .get(*service)
                    .map(|s| s.name.as_str())
                    .unwrap_or("")
            ),
            Action::Notify { channel } => format!("notify \"{channel}\""),
            Action::Report {
                recipient,
                within_secs,
                per_event,
            } => format!(
                "report to \"{recipient}\" within {}{}",
                human_duration(*within_secs),
                if *per_event { " per event" } else { "" }
            ),
            Action::Block { key, for_secs } => {
                format!(
                    "block {} for {}",
                    key_path(*key, false),
                    human_duration(*for_secs)
                )
            }
        })
        .collect();
    format!(
        "{counted} {threshold} within {}{by}: {}",
        human_duration(t.within_secs),
        actions.join("; ")
    )
}

fn service_control(service: &crate::check::program::Service) -> String {
    let mut parts = vec![format!("service `{}`", service.name)];
    if service.fallback.is_some() {
        parts.push("fallback while suspended".to_string());
    }
    if let Some(recovery) = &service.recovery {
        if !recovery.approvers.is_empty() {
            parts.push(format!(
                "resumes with approval by {}",
                recovery.approvers.join(", ")
            ));
        }
        if recovery.require_report_filed {
            parts.push("resumes once its reports are filed".to_string());
        }
    }
    parts.join("; ")
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
    let untested = m.article_count() - m.tested();
    format!(
        "{} articles cited; {} exercised by the policy's {} tests; {} untested.",
        m.article_count(),
        m.tested(),
        m.tests,
        untested
    )
}

fn metadata_line(m: &Matrix) -> String {
    let mut line = format!(
        "Policy fingerprint (SHA-256) `{}` · standard library {}",
        m.fingerprint, m.stdlib_version
    );
    if let Some(at) = &m.generated_at {
        line.push_str(&format!(" · generated {at}"));
    }
    line
}

const DISCLAIMER: &str = "This report shows which articles the policy's rules, duties and triggers cite, \
what each does, and which of the policy's tests exercise them. It is not legal advice: whether a \
policy complies with a law depends on facts and readings it cannot see, and the standard library \
encodes only the articles listed, as its notes say.";

fn coverage_line(g: &Group) -> String {
    let total = g.articles.len();
    let share = (g.tested() * 100).checked_div(total).unwrap_or(0);
    format!(
        "Tested: {} of the {total} article(s) cited ({share}%).",
        g.tested()
    )
}

fn article_tests(a: &Article) -> Vec<&String> {
    let mut tests: Vec<&String> = a.implementors.iter().flat_map(|i| &i.tests).collect();
    tests.sort();
    tests.dedup();
    tests
}

/// The matrix as Markdown.
pub fn markdown(m: &Matrix) -> String {
    use std::fmt::Write;
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = format!(
        "# Compliance report: {} {}\n\n{}\n\n{}\n",
        m.policy,
        m.version,
        metadata_line(m),
        summary_line(m)
    );
    if m.tests_failed > 0 {
        let _ = writeln!(out, "\n**{} of the tests fail.**", m.tests_failed);
    }
    let _ = writeln!(out, "\n> {DISCLAIMER}");
    for g in &m.groups {
        let _ = writeln!(out, "\n## {}\n", g.title());
        if let Some(r) = &g.regulation {
            let title = match &r.original_title {
                Some(original) => format!("{} ({original})", r.title),
                None => r.title.clone(),
            };
            let reviewed = match &r.reviewed {
                Some(day) => format!("articles read against it on {day}"),
                None => "**not yet reviewed article by article**".to_string(),
            };
            let _ = writeln!(
                out,
                "{title}. {}; {}; {}. In force {}. Text: {}, {reviewed}. <{}>\n",
                r.issuer, r.jurisdiction, r.document, r.in_force, r.text_version, r.url
            );
        }
        let _ = writeln!(out, "{}\n", coverage_line(g));
        out.push_str("| article | applies from | control | exercised by tests |\n| --- | --- | --- | --- |\n");
        for a in &g.articles {
            let article = if a.tested {
                cell(&a.cite)
            } else {
                format!("**{}** — UNTESTED", cell(&a.cite))
            };
            let controls: Vec<String> = a
                .implementors
                .iter()
                .map(|i| {
                    format!(
                        "{} `{}`: {} ({}:{})",
                        i.kind,
                        cell(&i.id),
                        cell(&i.control),
                        cell(&i.source),
                        i.line
                    )
                })
                .collect();
            let tests = article_tests(a);
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
                "| {article} | {} | {} | {tests} |",
                a.applies_from.as_deref().unwrap_or("—"),
                controls.join("<br>")
            );
        }
        if !g.not_encoded.is_empty() {
            out.push_str("\nNot encoded by the standard library:\n\n");
            for n in &g.not_encoded {
                let _ = writeln!(out, "- {}: {}", n.article, n.obligation);
            }
        }
    }
    if !m.assertions.is_empty() {
        out.push_str("\n## Assertions (`bylaw verify`)\n\n| assertion | line | verdict | detail |\n| --- | --- | --- | --- |\n");
        for a in &m.assertions {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&a.name),
                a.line,
                a.verdict,
                cell(a.detail.as_deref().unwrap_or("—"))
            );
        }
    }
    out
}

/// The matrix as one self-contained HTML page, printable (`chromium --print-to-pdf`).
pub fn html(m: &Matrix) -> String {
    use maud::{DOCTYPE, html};
    let untested = m.article_count() - m.tested();
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
                    p.meta { (metadata_line(m)) }
                    p.summary { (summary_line(m)) }
                    @if m.tests_failed > 0 {
                        p.failing { (m.tests_failed) " of the tests fail." }
                    }
                    p.disclaimer { (DISCLAIMER) }
                    p.legend {
                        span.badge.ok { "tested" } " an implementing rule, tier or duty took part in a test's decision · "
                        span.badge.gap { "untested" } " no test exercises it (" (untested) ")"
                    }
                }
                @for g in &m.groups {
                    section.regulation {
                        h2 { (g.title()) }
                        @if let Some(r) = &g.regulation {
                            p.about {
                                (r.title)
                                @if let Some(o) = &r.original_title { " (" (o) ")" }
                                ". " (r.issuer) "; " (r.jurisdiction) "; " (r.document) ". In force " (r.in_force) ". "
                                "Text: " (r.text_version) ", "
                                @match &r.reviewed {
                                    Some(day) => { "articles read against it on " (day) ". " }
                                    None => { strong { "not yet reviewed article by article" } ". " }
                                }
                                a href=(r.url) { (r.url) }
                            }
                        }
                        p.coverage { (coverage_line(g)) }
                        table {
                            thead { tr { th { "Article" } th { "Applies from" } th { "Control" } th { "Exercised by tests" } } }
                            tbody {
                                @for a in &g.articles {
                                    tr class=(if a.tested { "tested" } else { "untested" }) data-article=(a.cite) {
                                        th scope="row" {
                                            (a.cite)
                                            @if !a.tested { " " span.badge.gap { "untested" } }
                                            @if let Some(s) = &a.summary { p.article-summary { (s) } }
                                        }
                                        td { (a.applies_from.as_deref().unwrap_or("—")) }
                                        td {
                                            ul {
                                                @for i in &a.implementors {
                                                    li {
                                                        span.kind { (i.kind) } " " code { (i.id) } ": " (i.control)
                                                        span.where { " " (i.source) ":" (i.line) }
                                                    }
                                                }
                                            }
                                        }
                                        td {
                                            @let tests = article_tests(a);
                                            @if tests.is_empty() { span.none { "—" } }
                                            @else { ul { @for t in tests { li { (t) } } } }
                                        }
                                    }
                                }
                            }
                        }
                        @if !g.not_encoded.is_empty() {
                            h3 { "Not encoded by the standard library" }
                            ul.not-encoded {
                                @for n in &g.not_encoded { li { strong { (n.article) } ": " (n.obligation) } }
                            }
                        }
                    }
                }
                @if !m.assertions.is_empty() {
                    section.assertions {
                        h2 { "Assertions (" code { "bylaw verify" } ")" }
                        table {
                            thead { tr { th { "Assertion" } th { "Line" } th { "Verdict" } th { "Detail" } } }
                            tbody {
                                @for a in &m.assertions {
                                    tr class=(a.verdict) {
                                        th scope="row" { (a.name) }
                                        td { (a.line) }
                                        td { (a.verdict) }
                                        td { (a.detail.as_deref().unwrap_or("—")) }
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

const CSS: &str = "
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1b1f24; }
h1 { margin-bottom: .2rem; }
.policy { color: #57606a; margin-top: 0; }
.summary { font-size: 1.05rem; }
.failing { color: #b42318; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
th, td { text-align: left; vertical-align: top; padding: .5rem .6rem; border-bottom: 1px solid #d0d7de; }
thead th { background: #f6f8fa; position: sticky; top: 0; }
thead th:nth-child(1) { width: 26%; } thead th:nth-child(2) { width: 9%; } thead th:nth-child(3) { width: 42%; }
tbody th { font-weight: 600; }
tr.untested { background: #fff4f2; }
tr.refuted { background: #fff4f2; }
.meta, .about, .coverage { color: #57606a; }
.disclaimer { border-left: 3px solid #d0d7de; padding-left: .8rem; color: #57606a; }
.article-summary { font-weight: 400; font-size: .85rem; color: #57606a; margin: .3rem 0 0; }
section.regulation { margin-top: 2rem; break-inside: auto; }
@media print { thead th { position: static; } tr { break-inside: avoid; } body { margin: 0; max-width: none; } }
ul { margin: 0; padding-left: 1.1rem; }
.kind { font-size: .75rem; text-transform: uppercase; letter-spacing: .04em; color: #57606a; }
.where { color: #57606a; font-family: ui-monospace, monospace; font-size: .8rem; }
.badge { display: inline-block; border-radius: 1rem; padding: 0 .5rem; font-size: .75rem; font-weight: 600; }
.badge.ok { background: #dafbe1; color: #116329; }
.badge.gap { background: #ffebe9; color: #b42318; }
.none { color: #8c959f; }
footer { margin-top: 2rem; color: #57606a; font-size: .85rem; }
";
