//! Lint rule `empty-message`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::EmptyMessage,
    level: Level::Warning,
    what: "A rule's `because` or a `require`'s `else` message that is empty.",
    why: "The message is what users and operators read when a request is refused or escalated; an empty one explains nothing.",
    bad: "deny when age < 13 because \"\"",
    good: "deny when age < 13 because \"users under 13 are not served\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for rule in &cx.program.rules {
        if rule.because.trim().is_empty() {
            out.push(Finding::new(
                rule.span,
                "this rule's `because` message is empty",
                "empty message",
            ));
        }
    }
    for duty in &cx.program.duties {
        for r in &duty.requires {
            if r.message.trim().is_empty() {
                out.push(Finding::new(
                    r.span,
                    format!("a `require` of duty `{}` has an empty message", duty.name),
                    "empty message",
                ));
            }
        }
    }
}
