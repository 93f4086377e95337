//! Lint rule `unsatisfiable-condition`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::UnsatisfiableCondition,
    level: Level::Warning,
    what: "A condition that no request can satisfy, judged over the schema's types.",
    why: "A condition that can never hold makes its rule, duty clause or trigger dead code, which is almost always a mistake such as `and` written for `or` or a bound the wrong way round.",
    bad: "deny when age < 13 and age > 65 because \"impossible\"",
    good: "deny when age < 13 or age > 65 because \"outside the served ages\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for (cond, owner) in cx.conditions() {
        if cx.logic.never(cond) {
            out.push(Finding::new(
                cond.span,
                format!("the condition of {owner} can never hold"),
                "no request satisfies this",
            ));
        }
    }
}
