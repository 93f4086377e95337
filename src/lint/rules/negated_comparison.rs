//! Lint rule `negated-comparison`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::NegatedComparison,
    level: Level::Warning,
    what: "`not a == b` or `not a != b` (and `not` of an integer ordering), clearer without the `not`.",
    why: "`not` binds looser than comparisons, so `not a == b` is `not (a == b)` — correct, but readers stumble on it. The direct operator says the same thing plainly.",
    bad: "deny when not region == EU because \"outside the EU\"",
    good: "deny when region != EU because \"outside the EU\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::ast::CmpOp;
    use crate::check::program::{ExprKind, Ty};
    cx.each_expr(|e| {
        let ExprKind::Not(inner) = &e.kind else {
            return;
        };
        let ExprKind::Cmp(op, a, b) = &inner.kind else {
            return;
        };
        // Orderings flip exactly only for integers (floats have NaN).
        let flipped = match op {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::Lt if a.ty == Ty::Int => CmpOp::Ge,
            CmpOp::Le if a.ty == Ty::Int => CmpOp::Gt,
            CmpOp::Gt if a.ty == Ty::Int => CmpOp::Le,
            CmpOp::Ge if a.ty == Ty::Int => CmpOp::Lt,
            _ => return,
        };
        let replacement = format!(
            "{} {} {}",
            cx.slice(a.span),
            flipped.as_str(),
            cx.slice(b.span)
        );
        out.push(
            Finding::new(
                e.span,
                format!(
                    "`not … {} …` reads better as `{}`",
                    op.as_str(),
                    flipped.as_str()
                ),
                "negated comparison",
            )
            .fix(
                format!("Write `{replacement}`"),
                e.span,
                replacement.clone(),
            ),
        );
    });
}
