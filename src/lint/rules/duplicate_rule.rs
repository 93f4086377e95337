//! Lint rule `duplicate-rule`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::DuplicateRule,
    level: Level::Warning,
    what: "A rule with the same outcome as an earlier rule and an equivalent condition.",
    why: "A duplicate adds nothing but a second reason for the same thing; when one copy is later edited and the other is not, the policy quietly keeps the old behaviour.",
    bad: "deny when score > 0.9 because \"too risky\"\ndeny when not (score <= 0.9) because \"risky\"",
    good: "deny when score > 0.9 because \"too risky\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let rules = &cx.program.rules;
    for (j, later) in rules.iter().enumerate() {
        let duplicate =
            cx.implied_by(j).iter().copied().find(|&i| {
                i < j && rules[i].outcome == later.outcome && cx.implied_by(i).contains(&j)
            });
        if let Some(i) = duplicate {
            out.push(
                Finding::new(
                    later.span,
                    format!(
                        "{} repeats {}: same outcome, same condition",
                        cx.rule_label(j),
                        cx.rule_label(i)
                    ),
                    format!("the same as {}", cx.rule_label(i)),
                )
                .help("remove one of the two"),
            );
        }
    }
}
