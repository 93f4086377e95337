//! Lint rule `constant-set-relation`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::ConstantSetRelation,
    level: Level::Warning,
    what: "A set function with the empty set `{}` as an argument, so that its answer is fixed: `contains_any(x, {})` and `intersects` are always false, `contains_all(x, {})` and `is_subset({}, x)` always true.",
    why: "A relation with nothing decides nothing: the list of members was probably left empty by mistake, or the arguments are the wrong way round.",
    bad: "deny when contains_any(tags, {}) because \"flagged\"",
    good: "deny when contains_any(tags, {\"pii\", \"medical\"}) because \"flagged\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::check::program::{Builtin, Expr, ExprKind, Value};
    let empty =
        |e: &Expr| matches!(&e.kind, ExprKind::Const(Value::Set(items)) if items.is_empty());
    cx.each_expr(|e| {
        let ExprKind::Call(f, args) = &e.kind else {
            return;
        };
        let verdict = match (f, args.as_slice()) {
            (Builtin::ContainsAny | Builtin::Intersects, [a, b]) if empty(a) || empty(b) => {
                "always false"
            }
            (Builtin::ContainsAll, [_, b]) if empty(b) => "always true",
            (Builtin::IsSubset, [a, _]) if empty(a) => "always true",
            _ => return,
        };
        out.push(
            Finding::new(
                e.span,
                format!("`{}` with the empty set is {verdict}", f.name()),
                verdict,
            )
            .help("list the members the set should hold"),
        );
    });
}
