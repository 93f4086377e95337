//! Lint rule `duty-never-applies`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::DutyNeverApplies,
    level: Level::Warning,
    what: "A duty whose `applies to tier` and `applies when` clauses no request can meet together.",
    why: "A duty that never applies is an obligation the policy claims to enforce but never does — the worst kind of compliance gap, because a reader believes it is covered.",
    bad: "duty oversight {\n  applies to tier minimal\n  applies when domain == medical\n  require reviewer.assigned else escalate \"review\"\n}\n// where the tiers put every medical request in `high`",
    good: "duty oversight {\n  applies to tier high\n  require reviewer.assigned else escalate \"review\"\n}",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for duty in &cx.program.duties {
        if !cx.duty_can_apply(duty) {
            out.push(
                Finding::new(duty.span, format!("duty `{}` can never apply", duty.name), "no request meets its `applies` clauses")
                    .help("check the tiers it names against the tiers' conditions, and its `applies when`"),
            );
        }
    }
}
