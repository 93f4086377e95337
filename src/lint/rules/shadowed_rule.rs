//! Lint rule `shadowed-rule`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::ShadowedRule,
    level: Level::Warning,
    what: "A rule whose condition implies the condition of an earlier rule with the same outcome.",
    why: "Whenever the later rule fires, the earlier one already fires with the same outcome, so the later rule never changes a decision. Usually its condition was meant to be broader, or it is left over from an edit.",
    bad: "deny when score > 0.8 because \"risky\"\ndeny when score > 0.9 and region == EU because \"risky in the EU\"",
    good: "deny when score > 0.8 because \"risky\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let rules = &cx.program.rules;
    for (j, later) in rules.iter().enumerate() {
        let shadow = cx.implied_by(j).iter().copied().find(|&i| {
            i < j && rules[i].outcome == later.outcome && !cx.implied_by(i).contains(&j)
        });
        if let Some(i) = shadow {
            out.push(
                Finding::new(
                    later.span,
                    format!(
                        "{} is shadowed by {}: whenever it fires, {} already does, with the same outcome",
                        cx.rule_label(j),
                        cx.rule_label(i),
                        cx.rule_label(i)
                    ),
                    format!("implied by {}", cx.rule_label(i)),
                )
                .help("remove it, or widen its condition if it was meant to catch more"),
            );
        }
    }
}
