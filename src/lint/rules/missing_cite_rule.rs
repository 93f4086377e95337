//! Lint rule `missing-cite-rule`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::MissingCiteRule,
    level: Level::Warning,
    what: "A `deny` rule without a `cite`.",
    why: "A refusal should say which law or policy it implements: citations make decisions explainable to users and auditors, and `bylaw report` can only map cited rules to articles.",
    bad: "deny when data.personal and not data.consent because \"no consent\"",
    good: "deny when data.personal and not data.consent because \"no consent\" cite \"PIPL Art. 13\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::ast::Outcome;
    for (i, rule) in cx.program.rules.iter().enumerate() {
        if rule.outcome == Outcome::Deny && rule.cite.is_none() {
            out.push(
                Finding::new(
                    rule.span,
                    format!("deny {} cites nothing", cx.rule_label(i)),
                    "no `cite`",
                )
                .help("add `cite \"…\"` naming the article or policy it implements"),
            );
        }
    }
}
