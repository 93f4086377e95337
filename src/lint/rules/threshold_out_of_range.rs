//! Lint rule `threshold-out-of-range`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::ThresholdOutOfRange,
    level: Level::Warning,
    what: "A comparison with a value outside what its type can hold — a negative duration, a percentage outside 0–100%, a trigger count below zero — so it always or never holds.",
    why: "A threshold that the value can never cross turns a rule or a trigger into dead code or a constant; it is usually a unit mistake (`5` for `5%`, seconds for minutes).",
    bad: "trigger any_abuse {
  when count(abuse > 0.8) within 10m >= 0
  then notify \"trust-and-safety\"
}
deny when share > 150% because \"over the limit\"",
    good: "trigger any_abuse {
  when count(abuse > 0.8) within 10m >= 10
  then notify \"trust-and-safety\"
}
deny when share > 15% because \"over the limit\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::ast::CmpOp;
    use crate::check::program::{ExprKind, Threshold, Ty, Value};
    // Whether `x OP v` always / never holds for x in [lo, hi].
    fn verdict(op: CmpOp, v: f64, lo: f64, hi: f64) -> Option<&'static str> {
        let never = match op {
            CmpOp::Gt => v >= hi,
            CmpOp::Ge => v > hi,
            CmpOp::Lt => v <= lo,
            CmpOp::Le => v < lo,
            CmpOp::Eq => v < lo || v > hi,
            CmpOp::Ne => false,
        };
        let always = match op {
            CmpOp::Gt => v < lo,
            CmpOp::Ge => v <= lo,
            CmpOp::Lt => v > hi,
            CmpOp::Le => v >= hi,
            CmpOp::Ne => v < lo || v > hi,
            CmpOp::Eq => false,
        };
        if never {
            Some("never")
        } else if always {
            Some("always")
        } else {
            None
        }
    }
    for t in &cx.program.triggers {
        let (v, lo, hi, what) = match t.threshold {
            Threshold::Count(n) => (n as f64, 0.0, f64::INFINITY, "a count is never negative"),
            Threshold::Rate(p) => (p, 0.0, 100.0, "a rate lies between 0% and 100%"),
        };
        if let Some(v) = verdict(t.op, v, lo, hi) {
            out.push(Finding::new(
                t.span,
                format!("the condition of trigger `{}` {v} holds: {what}", t.name),
                format!("{v} true"),
            ));
        }
    }
    cx.each_expr(|e| {
        let ExprKind::Cmp(op, a, b) = &e.kind else {
            return;
        };
        let (ty, value, op) = match (&a.kind, &b.kind) {
            (ExprKind::Field(_), ExprKind::Const(c)) => (a.ty, c, *op),
            _ => return,
        };
        let (v, lo, hi, what) = match (ty, value) {
            (Ty::Duration, Value::Duration(d)) => (
                *d as f64,
                0.0,
                f64::INFINITY,
                "a duration is never negative",
            ),
            (Ty::Percent, Value::Percent(p)) => {
                (*p, 0.0, 100.0, "a percentage lies between 0% and 100%")
            }
            _ => return,
        };
        if let Some(v) = verdict(op, v, lo, hi) {
            out.push(Finding::new(
                e.span,
                format!("this comparison {v} holds: {what}"),
                format!("{v} true"),
            ));
        }
    });
}
