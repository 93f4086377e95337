//! Lint rule `float-equality`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::FloatEquality,
    level: Level::Warning,
    what: "`==` or `!=` between floating-point values (`float` or `percent`).",
    why: "Scores and shares are computed values; `0.1 + 0.2 == 0.3` is false in binary floating point, so exact equality on floats rarely means what it says.",
    bad: "deny when scores.toxicity == 0.9 because \"toxic\"",
    good: "deny when scores.toxicity >= 0.9 because \"toxic\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::ast::CmpOp;
    use crate::check::program::{ExprKind, Ty};
    cx.each_expr(|e| {
        if let ExprKind::Cmp(op @ (CmpOp::Eq | CmpOp::Ne), a, _) = &e.kind
            && matches!(a.ty, Ty::Float | Ty::Percent)
        {
            out.push(
                Finding::new(
                    e.span,
                    format!("`{}` between floating-point values", op.as_str()),
                    "exact comparison of floats",
                )
                .help("compare with `<=`/`>=`, or with a tolerance"),
            );
        }
    });
}
