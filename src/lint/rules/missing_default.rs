//! Lint rule `missing-default`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::MissingDefault,
    level: Level::Warning,
    what: "A policy without an explicit `default allow` or `default deny`.",
    why: "The default decides every request no rule matches. Leaving it implicit (allow) hides the most important choice of the policy from its readers.",
    bad: "policy gateway version \"1.0.0\"\nallow when verified because \"verified\"",
    good: "policy gateway version \"1.0.0\"\ndefault deny\nallow when verified because \"verified\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::ast::Decl;
    if cx.file.decls.iter().any(|d| matches!(d, Decl::Default(_))) {
        return;
    }
    let Some(Decl::Policy(policy)) = cx.file.decls.iter().find(|d| matches!(d, Decl::Policy(_)))
    else {
        return;
    };
    let at = crate::syntax::span::Span::new(policy.span.end, policy.span.end);
    out.push(
        Finding::new(
            policy.span,
            "the policy does not say its `default`: requests no rule decides are allowed",
            "no `default`",
        )
        .help("write `default allow` or `default deny` after the `policy` line")
        .fix(
            "Write `default allow` (what the policy does now)",
            at,
            "\n\ndefault allow".to_string(),
        ),
    );
}
