//! Lint rule `ineffective-rule`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::IneffectiveRule,
    level: Level::Warning,
    what: "A rule that can never change the outcome: an `allow` under `default allow`, or a rule whose condition implies a rule with a more severe outcome.",
    why: "The outcome is the most severe of what fired, or the default. A rule that only ever fires alongside a more severe one — or that says what the default says — decides nothing; if it was meant to, the policy is wrong.",
    bad: "default allow\nallow when plan == enterprise because \"enterprise\"",
    good: "default deny\nallow when plan == enterprise because \"enterprise\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::ast::Outcome;
    let rules = &cx.program.rules;
    let severity = |o: Outcome| match o {
        Outcome::Allow => 0,
        Outcome::Escalate => 1,
        Outcome::Deny => 2,
    };
    for (j, rule) in rules.iter().enumerate() {
        if rule.outcome == Outcome::Allow && cx.program.default == Outcome::Allow {
            out.push(
                Finding::new(
                    rule.span,
                    format!(
                        "{} allows what `default allow` already allows",
                        cx.rule_label(j)
                    ),
                    "never changes the outcome",
                )
                .help("remove it, or make the default `deny` if allowing is the exception"),
            );
            continue;
        }
        let stronger = cx
            .implied_by(j)
            .iter()
            .map(|&i| (i, &rules[i]))
            .find(|(_, other)| severity(other.outcome) > severity(rule.outcome));
        if let Some((i, other)) = stronger {
            out.push(Finding::new(
                rule.span,
                format!(
                    "{} never changes the outcome: whenever it fires, {} fires and {}s",
                    cx.rule_label(j),
                    cx.rule_label(i),
                    other.outcome.as_str()
                ),
                format!("implies {}", cx.rule_label(i)),
            ));
        }
    }
}
