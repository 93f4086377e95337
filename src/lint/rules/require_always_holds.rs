//! Lint rule `require-always-holds`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::RequireAlwaysHolds,
    level: Level::Warning,
    what: "A `require` whose condition holds for every request the duty applies to.",
    why: "A requirement that can never be unmet enforces nothing; usually its condition or the duty's `applies` clause does not say what was meant.",
    bad: "duty adults {\n  applies when age >= 18\n  require age > 16 else deny \"too young\"\n}",
    good: "duty adults {\n  applies when age >= 18\n  require id_verified else deny \"verify the user's age\"\n}",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for duty in &cx.program.duties {
        for require in &duty.requires {
            if cx.duty_can_apply(duty) && cx.duty_implies(duty, &cx.logic.not(&require.cond)) {
                out.push(Finding::new(
                    require.cond.span,
                    format!(
                        "this `require` of duty `{}` always holds where the duty applies",
                        duty.name
                    ),
                    "never unmet",
                ));
            }
        }
    }
}
