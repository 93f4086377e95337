//! Lint rule `recovery-without-approval`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::RecoveryWithoutApproval,
    level: Level::Warning,
    what: "A `recovery` block without any `approve by`.",
    why: "Regulators expect a human decision before a suspended AI service returns (human oversight, EU AI Act Art. 14). Without an approval, recovery runs on timers alone.",
    bad: "recovery {\n  cooldown 30m\n  ramp 10%, 100% every 10m\n}",
    good: "recovery {\n  cooldown 30m\n  approve by \"safety-officer\"\n  ramp 10%, 100% every 10m\n}",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for service in &cx.program.services {
        if let Some(r) = &service.recovery
            && r.approvers.is_empty()
        {
            out.push(
                Finding::new(
                    service.span,
                    format!(
                        "the recovery of service `{}` needs no approval",
                        service.name
                    ),
                    "no `approve by`",
                )
                .help("add `approve by \"role\"` to its `recovery` block"),
            );
        }
    }
}
