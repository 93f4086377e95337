//! Lint rule `tautology`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::Tautology,
    level: Level::Warning,
    what: "A condition that every request satisfies.",
    why: "A condition that always holds is either a mistake (`or` for `and`, a bound the wrong way) or noise; a rule that always fires decides every request the same way.",
    bad: "deny when age >= 18 or age < 21 because \"always\"",
    good: "deny when age >= 18 and age < 21 because \"in the restricted band\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for (cond, owner) in cx.conditions() {
        if cx.logic.always(cond) {
            out.push(Finding::new(
                cond.span,
                format!("the condition of {owner} always holds"),
                "every request satisfies this",
            ));
        }
    }
}
