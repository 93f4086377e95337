//! Lint rule `single-item-in`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::SingleItemIn,
    level: Level::Warning,
    what: "`x in {a}` with one item, clearer as `x == a`.",
    why: "A one-element set reads as if more items were meant, or were removed by mistake.",
    bad: "deny when region in {CN} because \"not served in China\"",
    good: "deny when region == CN because \"not served in China\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::check::program::ExprKind;
    cx.each_expr(|e| {
        let ExprKind::InList(elem, items) = &e.kind else {
            return;
        };
        let [item] = items.as_slice() else { return };
        let replacement = format!("{} == {}", cx.slice(elem.span), cx.slice(item.span));
        out.push(
            Finding::new(e.span, "`in` a set of one item", "one-item set").fix(
                format!("Write `{replacement}`"),
                e.span,
                replacement.clone(),
            ),
        );
    });
}
