//! Lint rule `service-without-fallback`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::ServiceWithoutFallback,
    level: Level::Warning,
    what: "A service without a `fallback`.",
    why: "A suspended service should still answer: a backup system (a FAQ bot, cached answers, a static page) keeps users served while the AI is off. Without a fallback, a suspension is an outage.",
    bad: "service chat {\n  recovery { cooldown 30m approve by \"safety-officer\" }\n}",
    good: "service chat {\n  fallback \"faq_bot\"\n  recovery { cooldown 30m approve by \"safety-officer\" }\n}",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for service in &cx.program.services {
        if service.fallback.is_none() {
            out.push(
                Finding::new(
                    service.span,
                    format!(
                        "service `{}` has no fallback: while it is suspended, requests get nothing",
                        service.name
                    ),
                    "no `fallback`",
                )
                .help("add `fallback \"…\"` naming what serves instead"),
            );
        }
    }
}
