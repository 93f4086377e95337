//! Lint rule `pattern-never-matches`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::PatternNeverMatches,
    level: Level::Warning,
    what: "A `matches` pattern that no string can match, such as `a^b` or `[^\\s\\S]`.",
    why: "The call is always false, so the rule or duty around it is dead; the pattern usually has an anchor or a class in the wrong place.",
    bad: "deny when matches(prompt, \"jailbreak^\") because \"jailbreak\"",
    good: "deny when matches(prompt, \"^jailbreak\") because \"jailbreak\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::check::program::{Builtin, ExprKind};
    cx.each_expr(|e| {
        if let ExprKind::Call(Builtin::Matches(i), _) = &e.kind
            && let Some(pattern) = cx.program.patterns.get(*i)
            && !pattern.can_match()
        {
            out.push(
                Finding::new(
                    e.span,
                    format!("the pattern {:?} matches no string", pattern.source),
                    "always false",
                )
                .help("check the anchors (`^` starts, `$` ends) and the classes"),
            );
        }
    });
}
