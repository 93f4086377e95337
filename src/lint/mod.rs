//! `bylaw lint`: rules about policies that check but are probably wrong, unclear or
//! incomplete. One file per rule under `rules/`, each with its documentation (from
//! which `docs/lint-rules.md` is generated) and its check.
//!
//! Lints run on a program that checks (no errors); semantic rules reason over the
//! schema's types with [`logic`].

pub mod logic;
mod rules;

use std::collections::HashMap;

use serde::Serialize;

use crate::ast;
use crate::check::program::{Expr, ExprKind, Program};
use crate::diagnostics::{Code, Diagnostic, Label, Severity};
use crate::syntax::span::Span;
use logic::{Dnf, Logic};

/// How a rule reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Off,
    Warning,
    Error,
}

impl Level {
    pub fn parse(text: &str) -> Option<Level> {
        match text {
            "off" | "allow" => Some(Level::Off),
            "warning" | "warn" => Some(Level::Warning),
            "error" | "deny" => Some(Level::Error),
            _ => None,
        }
    }
}

/// A rule's documentation: what it finds, why it matters, an example.
#[derive(Debug)]
pub struct RuleDoc {
    pub code: Code,
    pub level: Level,
    /// What the rule finds, one sentence.
    pub what: &'static str,
    pub why: &'static str,
    /// A policy fragment the rule reports.
    pub bad: &'static str,
    /// The same, mended.
    pub good: &'static str,
}

impl RuleDoc {
    pub fn id(&self) -> &'static str {
        self.code.name()
    }
}

/// A replacement that mends a finding (offered as an editor code action).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub title: String,
    pub span: Span,
    pub replacement: String,
}

/// One finding of one rule.
#[derive(Debug, Clone)]
pub struct Finding {
    pub span: Span,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    pub fix: Option<Fix>,
}

impl Finding {
    pub fn new(span: Span, message: impl Into<String>, label: impl Into<String>) -> Self {
        Finding {
            span,
            message: message.into(),
            label: label.into(),
            help: None,
            fix: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn fix(mut self, title: impl Into<String>, span: Span, replacement: String) -> Self {
        self.fix = Some(Fix {
            title: title.into(),
            span,
            replacement,
        });
        self
    }
}

/// A finding as a diagnostic, with its fix.
#[derive(Debug, Clone)]
pub struct Lint {
    pub diagnostic: Diagnostic,
    pub fix: Option<Fix>,
}

/// Severity overrides by rule id.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub levels: HashMap<String, Level>,
}

impl Config {
    /// Reads `[lint]` of a `bylaw.toml`: `rule-id = "off" | "warning" | "error"`.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
        let mut config = Config::default();
        let Some(lint) = table.get("lint") else {
            return Ok(config);
        };
        let lint = lint
            .as_table()
            .ok_or_else(|| "`lint` must be a table: [lint]".to_string())?;
        for (id, value) in lint {
            let level = value.as_str().and_then(Level::parse).ok_or_else(|| {
                format!("[lint] {id}: expected \"off\", \"warning\" or \"error\"")
            })?;
            config.set(id, level)?;
        }
        Ok(config)
    }

    /// Sets a rule's level; an unknown rule id is an error naming the closest.
    pub fn set(&mut self, id: &str, level: Level) -> Result<(), String> {
        if rule(id).is_none() {
            let ids: Vec<&str> = rules::ALL
                .iter()
                .flat_map(|(d, _)| [d.id(), d.code.code()])
                .collect();
            let close = ids
                .iter()
                .min_by_key(|c| strsim::levenshtein(c, id))
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            return Err(format!("unknown lint rule `{id}`{close}"));
        }
        let name = rule(id).map_or(id, |doc| doc.id());
        self.levels.insert(name.to_string(), level);
        Ok(())
    }

    fn level(&self, doc: &RuleDoc) -> Level {
        self.levels.get(doc.id()).copied().unwrap_or(doc.level)
    }
}

/// Every rule's documentation, in code order.
pub fn docs() -> Vec<&'static RuleDoc> {
    rules::ALL.iter().map(|(doc, _)| *doc).collect()
}

/// A rule by its name (`shadowed-rule`) or its code (`L0003`, any case): findings
/// print both, so either is accepted wherever a rule is named.
pub fn rule(id: &str) -> Option<&'static RuleDoc> {
    rules::ALL
        .iter()
        .map(|(d, _)| *d)
        .find(|d| d.id() == id || d.code.code().eq_ignore_ascii_case(id))
}

/// What rules read: the checked program, its syntax tree, and the logic over it.
pub struct Context<'a> {
    pub program: &'a Program,
    pub file: &'a ast::File,
    pub logic: Logic<'a>,
    tier_dnfs: Vec<(Dnf, Dnf)>,
    /// Per rule: the other rules whose condition its own implies.
    implied: Vec<Vec<usize>>,
    text: &'a str,
    base: u32,
}

/// For each rule j, the rules i ≠ j with `cond_j ⇒ cond_i`. Variables are independent
/// in the logic, so a satisfiable condition implies one that is not always true only
/// if they share a variable — and implies a conjunction only if it reads every
/// variable the conjunction reads. Candidates come from two indexes: conjunctions by
/// their set of variables (looked up for every subset of rule j's variables), other
/// conditions by each variable they read. (A conjunction with a literal that always
/// holds is the one implication this misses; `tautology` flags that literal.)
///
/// Only the pairs the rules ask about are decided: the same outcome (duplicates,
/// shadowing) or a more severe one (ineffective rules).
fn implications(logic: &Logic<'_>, program: &Program) -> Vec<Vec<usize>> {
    use crate::ast::Outcome;
    use std::collections::BTreeSet;
    /// Past this many variables, rule j's subsets are too many to enumerate: its
    /// candidates are then every rule sharing a variable with it.
    const SUBSET_VARS: usize = 10;
    let severity = |o: Outcome| match o {
        Outcome::Allow => 0,
        Outcome::Escalate => 1,
        Outcome::Deny => 2,
    };
    let facts: Vec<(Dnf, Dnf, Option<BTreeSet<u64>>)> = program
        .rules
        .iter()
        .map(|r| {
            let dnf = logic.dnf(&r.when);
            let vars = logic.vars(&dnf);
            (dnf, logic.not(&r.when), vars)
        })
        .collect();
    // (terms of the condition, terms of its negation), summarised for the quick
    // refutation: some satisfiable term of j's condition reads nothing that some
    // satisfiable term of `not i` reads, so both hold at once and j does not imply i.
    type Summaries = Vec<(u64, bool)>;
    let summaries: Vec<(Summaries, Summaries)> = facts
        .iter()
        .map(|(dnf, not, _)| {
            (
                logic.term_summaries(dnf).unwrap_or_default(),
                logic.term_summaries(not).unwrap_or_default(),
            )
        })
        .collect();
    let refuted = |j: usize, i: usize| {
        summaries[j]
            .0
            .iter()
            .filter(|(_, sat)| *sat)
            .any(|(s, _)| summaries[i].1.iter().any(|&(u, sat)| sat && s & u == 0))
    };
    let mut by_var: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut disjunctions_by_var: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut conjunctions: HashMap<Vec<u64>, Vec<usize>> = HashMap::new();
    let mut always = Vec::new();
    for (i, (dnf, not, vars)) in facts.iter().enumerate() {
        if logic.satisfiable(not) == Some(false) {
            always.push(i);
            continue;
        }
        let Some(vars) = vars else { continue };
        for v in vars {
            by_var.entry(*v).or_default().push(i);
        }
        match dnf {
            Some(terms) if terms.len() == 1 => conjunctions
                .entry(vars.iter().copied().collect())
                .or_default()
                .push(i),
            _ => {
                for v in vars {
                    disjunctions_by_var.entry(*v).or_default().push(i);
                }
            }
        }
    }
    let empty: &[usize] = &[];
    facts
        .iter()
        .enumerate()
        .map(|(j, (dnf, _, vars))| {
            let Some(vars) = vars else {
                return Vec::new();
            };
            let vars: Vec<u64> = vars.iter().copied().collect();
            let mut candidates: Vec<usize> = always.clone();
            if vars.len() > SUBSET_VARS {
                for v in &vars {
                    candidates.extend_from_slice(by_var.get(v).map_or(empty, Vec::as_slice));
                }
            } else {
                for v in &vars {
                    candidates
                        .extend_from_slice(disjunctions_by_var.get(v).map_or(empty, Vec::as_slice));
                }
                for mask in 1u32..(1 << vars.len()) {
                    let subset: Vec<u64> = vars
                        .iter()
                        .enumerate()
                        .filter(|(bit, _)| mask & (1 << bit) != 0)
                        .map(|(_, v)| *v)
                        .collect();
                    candidates
                        .extend_from_slice(conjunctions.get(&subset).map_or(empty, Vec::as_slice));
                }
            }
            candidates.retain(|&i| {
                i != j && severity(program.rules[i].outcome) >= severity(program.rules[j].outcome)
            });
            candidates.sort_unstable();
            candidates.dedup();
            candidates
                .into_iter()
                .filter(|&i| !refuted(j, i) && logic.implies_one(dnf, &facts[i].1))
                .collect()
        })
        .collect()
}

impl<'a> Context<'a> {
    /// `text` is the linted file's source, starting at global offset `base`.
    pub fn new(program: &'a Program, file: &'a ast::File, text: &'a str, base: u32) -> Self {
        let logic = Logic::new(program);
        let tier_dnfs = program
            .tiers
            .iter()
            .map(|t| match &t.when {
                Some(cond) => (logic.dnf(cond), logic.not(cond)),
                None => (Some(vec![Vec::new()]), Some(Vec::new())),
            })
            .collect();
        let implied = implications(&logic, program);
        Context {
            program,
            file,
            logic,
            tier_dnfs,
            implied,
            text,
            base,
        }
    }

    /// How findings name rule `i` (0-based): `rule \`name\`` when it has one, else
    /// `rule N` by its place in the file.
    pub fn rule_label(&self, i: usize) -> String {
        match self.program.rules.get(i) {
            Some(rule) if rule.named => format!("rule `{}`", rule.id),
            _ => format!("rule {}", i + 1),
        }
    }

    /// The rules whose condition rule `j`'s condition implies.
    pub fn implied_by(&self, j: usize) -> &[usize] {
        self.implied.get(j).map_or(&[], Vec::as_slice)
    }

    /// The source text of a span, as written.
    pub fn slice(&self, span: Span) -> &'a str {
        let start = span.start.saturating_sub(self.base) as usize;
        let end = span.end.saturating_sub(self.base) as usize;
        self.text.get(start..end).unwrap_or("")
    }

    /// The ways a duty can come to apply: per tier it names (that tier reached, and
    /// its `applies when`), or just its `applies when`.
    fn application_contexts(&self, duty: &crate::check::program::Duty) -> Vec<Vec<Dnf>> {
        let when = duty.when.as_ref().map(|w| self.logic.dnf(w));
        if duty.tiers.is_empty() {
            return vec![when.into_iter().collect()];
        }
        duty.tiers
            .iter()
            .map(|&t| {
                let mut given = self.tier_reached(t);
                given.push(self.logic.tier_in(t));
                given.extend(when.clone());
                given
            })
            .collect()
    }

    /// Whether some request meets the duty's `applies` clauses.
    pub fn duty_can_apply(&self, duty: &crate::check::program::Duty) -> bool {
        let never = Some(vec![Vec::new()]);
        self.application_contexts(duty)
            .iter()
            .any(|given| !self.logic.implies(given, &never))
    }

    /// Whether, wherever the duty applies, the condition whose negation is `then_not`
    /// holds.
    pub fn duty_implies(&self, duty: &crate::check::program::Duty, then_not: &Dnf) -> bool {
        self.application_contexts(duty)
            .iter()
            .all(|given| self.logic.implies(given, then_not))
    }

    /// The constraints under which tier `t` is the request's tier: its condition and
    /// the negation of every earlier one.
    pub fn tier_reached(&self, t: usize) -> Vec<Dnf> {
        let mut given: Vec<Dnf> = self
            .tier_dnfs
            .iter()
            .take(t)
            .map(|(_, n)| n.clone())
            .collect();
        if let Some((d, _)) = self.tier_dnfs.get(t) {
            given.push(d.clone());
        }
        given
    }

    /// Every condition of the program with what it belongs to, for rules that look
    /// at all of them.
    pub fn conditions(&self) -> Vec<(&'a Expr, String)> {
        let p = self.program;
        let mut out = Vec::new();
        // A `def` whose value is a constant is a named value (a module parameter such as
        // `def strict: bool = true`), not a condition.
        for d in p
            .defs
            .iter()
            .filter(|d| !matches!(d.value.kind, ExprKind::Const(_)))
        {
            out.push((&d.value, format!("def `{}`", d.name)));
        }
        for t in &p.tiers {
            if let Some(c) = &t.when {
                out.push((c, format!("tier `{}`", t.name)));
            }
        }
        for (i, r) in p.rules.iter().enumerate() {
            let owner = if r.named {
                format!("rule `{}`", r.id)
            } else {
                format!("rule {} ({})", i + 1, r.outcome.as_str())
            };
            out.push((&r.when, owner));
        }
        for d in &p.duties {
            if let Some(c) = &d.when {
                out.push((c, format!("`applies when` of duty `{}`", d.name)));
            }
            for r in &d.requires {
                out.push((&r.cond, format!("`require` of duty `{}`", d.name)));
            }
        }
        // An event trigger's condition reads the event's fields, not the request's:
        // the request analyses do not apply to it.
        for t in p.triggers.iter().filter(|t| t.event.is_none()) {
            out.push((&t.cond, format!("trigger `{}`", t.name)));
        }
        out
    }

    /// Calls `f` on every sub-expression of every condition (a `def`'s body once, at
    /// the `def`).
    pub fn each_expr(&self, mut f: impl FnMut(&'a Expr)) {
        for (root, _) in self.conditions() {
            let mut stack = vec![root];
            while let Some(e) = stack.pop() {
                f(e);
                e.children(&mut stack);
            }
        }
    }
}

/// Runs every rule that is not off; findings sorted by position.
pub fn run(
    program: &Program,
    file: &ast::File,
    text: &str,
    base: u32,
    config: &Config,
) -> Vec<Lint> {
    let cx = Context::new(program, file, text, base);
    let mut lints = Vec::new();
    for (doc, check) in rules::ALL {
        let level = config.level(doc);
        if level == Level::Off {
            continue;
        }
        let mut findings = Vec::new();
        check(&cx, &mut findings);
        // Findings inside `use`d modules are the modules' business, not this file's.
        findings.retain(|f| crate::modules::in_file(f.span, base, text.len()));
        for f in findings {
            lints.push(Lint {
                diagnostic: Diagnostic {
                    code: doc.code,
                    severity: match level {
                        Level::Error => Severity::Error,
                        _ => Severity::Warning,
                    },
                    message: f.message,
                    labels: vec![Label {
                        span: f.span,
                        message: f.label,
                    }],
                    help: f.help,
                },
                fix: f.fix,
            });
        }
    }
    lints.sort_by_key(|l| {
        (
            l.diagnostic.labels.first().map_or(0, |l| l.span.start),
            l.diagnostic.code.code(),
        )
    });
    lints
}

/// `docs/lint-rules.md`, generated from the rules' documentation.
pub fn rules_markdown() -> String {
    use std::fmt::Write;
    let mut out = String::from(
        "# Lint rules\n\nGenerated from `src/lint/rules/*.rs` (a test keeps this file in step; \
         regenerate with `BYLAW_BLESS=1 cargo test --test it lint::rules_doc`).\n\n\
         `bylaw lint` runs every rule on policies that check. Set a rule's level in \
         `bylaw.toml`:\n\n```toml\n[lint]\nmissing-cite-rule = \"off\"\nunreachable-tier = \"error\"\n```\n\n\
         or with `--deny RULE`, `--warn RULE`, `--allow RULE`.\n\n| code | rule | default | finds |\n| --- | --- | --- | --- |\n",
    );
    for doc in docs() {
        let _ = writeln!(
            out,
            "| {} | [`{}`](#{}) | {} | {} |",
            doc.code.code(),
            doc.id(),
            doc.id(),
            match doc.level {
                Level::Off => "off",
                Level::Warning => "warning",
                Level::Error => "error",
            },
            doc.what
        );
    }
    for doc in docs() {
        let _ = write!(
            out,
            "\n## {}\n\n`{}` — {}\n\n**Why.** {}\n\n**Reported:**\n\n```bylaw\n{}\n```\n\n**Better:**\n\n```bylaw\n{}\n```\n",
            doc.id(),
            doc.code.code(),
            doc.what,
            doc.why,
            doc.bad.trim(),
            doc.good.trim()
        );
    }
    out
}
