//! Lint rule `degraded-never-set`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::DegradedNeverSet,
    level: Level::Warning,
    what: "A condition reads `degraded`, but no trigger degrades any service.",
    why: "`degraded` is true only while the request's service is degraded, and only a trigger's `degrade` action makes it so; without one, the condition is dead.",
    bad: "escalate when degraded and score > 0.5 because \"review while degraded\"\n// and no trigger says `then degrade …`",
    good: "trigger drift {\n  when rate(score > 0.7) within 1h > 5%\n  then degrade chat\n}\nescalate when degraded and score > 0.5 because \"review while degraded\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::check::program::{Action, ExprKind};
    let degrades = cx.program.triggers.iter().any(|t| {
        t.actions
            .iter()
            .any(|a| matches!(a, Action::Degrade { .. }))
    });
    if degrades {
        return;
    }
    let mut first = None;
    cx.each_expr(|e| {
        if matches!(e.kind, ExprKind::Degraded)
            && first.is_none_or(|s: crate::syntax::span::Span| e.span.start < s.start)
        {
            first = Some(e.span);
        }
    });
    if let Some(span) = first {
        out.push(
            Finding::new(
                span,
                "`degraded` is never true: no trigger degrades a service",
                "always false",
            )
            .help("add a trigger with `then degrade SERVICE`, or remove the condition"),
        );
    }
}
