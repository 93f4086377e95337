//! Lint rule `boolean-literal-comparison`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::BooleanLiteralComparison,
    level: Level::Warning,
    what: "A comparison of a boolean with `true` or `false`.",
    why: "`x == true` is `x` and `x == false` is `not x`; the comparison only adds noise.",
    bad: "deny when user.verified == false because \"unverified\"",
    good: "deny when not user.verified because \"unverified\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::ast::CmpOp;
    use crate::check::program::{ExprKind, Value};
    cx.each_expr(|e| {
        let ExprKind::Cmp(op @ (CmpOp::Eq | CmpOp::Ne), a, b) = &e.kind else {
            return;
        };
        let (other, literal) = match (&a.kind, &b.kind) {
            (_, ExprKind::Const(Value::Bool(v))) => (a, *v),
            (ExprKind::Const(Value::Bool(v)), _) => (b, *v),
            _ => return,
        };
        let keeps = (*op == CmpOp::Eq) == literal;
        let mut finding = Finding::new(
            e.span,
            format!("comparison with `{literal}`"),
            "compares a boolean with a literal",
        );
        // Offer the rewrite only where no parentheses are needed.
        if matches!(
            other.kind,
            ExprKind::Field(_) | ExprKind::Def(_) | ExprKind::Has(_) | ExprKind::Degraded
        ) {
            let text = cx.slice(other.span);
            let replacement = if keeps {
                text.to_string()
            } else {
                format!("not {text}")
            };
            finding = finding.fix(
                format!("Write `{replacement}`"),
                e.span,
                replacement.clone(),
            );
        }
        out.push(finding);
    });
}
