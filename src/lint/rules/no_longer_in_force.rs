//! Lint rule `no-longer-in-force`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::NoLongerInForce,
    level: Level::Warning,
    what: "A condition that can only hold before a date that has passed: an effective period whose `until` is over, or `now < date(…)` with a date in the past.",
    why: "Such a rule, duty or trigger will never apply again; it is kept by mistake after the regulation changed, or its date has a typo.",
    bad: "deny when region == EU because \"interim measure\"\n  effective from date(\"2020-01-01\") until date(\"2021-01-01\")",
    good: "deny when region == EU because \"interim measure\"\n  effective from date(\"2020-01-01\")",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::ast::CmpOp;
    use crate::check::program::{ExprKind, Value};
    // Judged against today: a lint about the calendar changes with it.
    let today = crate::builtins::time::system_now();
    let is_clock = |id: &usize| cx.program.fields.get(*id).is_some_and(|f| f.clock);
    cx.each_expr(|e| {
        let ExprKind::Cmp(CmpOp::Lt | CmpOp::Le, a, b) = &e.kind else {
            return;
        };
        if let (ExprKind::Field(id), ExprKind::Const(Value::Timestamp(t))) = (&a.kind, &b.kind)
            && is_clock(id)
            && *t <= today
        {
            out.push(
                Finding::new(
                    e.span,
                    format!(
                        "this holds only before {}, which has passed",
                        crate::builtins::time::format_timestamp(*t)
                    ),
                    "no longer in force",
                )
                .help("remove what is no longer in force, or correct its date"),
            );
        }
    });
}
