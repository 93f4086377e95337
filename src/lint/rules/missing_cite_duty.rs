//! Lint rule `missing-cite-duty`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::MissingCiteDuty,
    level: Level::Warning,
    what: "A duty without a `cite`.",
    why: "Duties encode obligations from law or policy; without a citation nobody can check the duty against its source, and the compliance report cannot place it.",
    bad: "duty keep_logs {\n  applies to tier high\n  retain 6 months\n}",
    good: "duty keep_logs {\n  applies to tier high\n  retain 6 months\n  cite \"EU AI Act Art. 12\"\n}",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for duty in &cx.program.duties {
        if duty.cites.is_empty() {
            out.push(
                Finding::new(
                    duty.span,
                    format!("duty `{}` cites nothing", duty.name),
                    "no `cite`",
                )
                .help("add `cite \"…\"` naming the article it implements"),
            );
        }
    }
}
