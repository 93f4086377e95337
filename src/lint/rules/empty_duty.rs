//! Lint rule `empty-duty`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::EmptyDuty,
    level: Level::Warning,
    what: "A duty with no `require`, `retain`, `report` or `notice`: it applies but asks for nothing.",
    why: "A duty is an obligation; one without any item only adds a name to decisions, which suggests its items were forgotten.",
    bad: "duty oversight {\n  applies to tier high\n  cite \"EU AI Act Art. 14\"\n}",
    good: "duty oversight {\n  applies to tier high\n  require reviewer.assigned else escalate \"assign a reviewer\"\n  cite \"EU AI Act Art. 14\"\n}",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for duty in &cx.program.duties {
        if duty.requires.is_empty()
            && duty.retain_secs.is_none()
            && duty.reports.is_empty()
            && duty.notices.is_empty()
        {
            out.push(Finding::new(
                duty.span,
                format!("duty `{}` asks for nothing", duty.name),
                "no require, retain, report or notice",
            ));
        }
    }
}
