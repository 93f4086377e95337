//! Lint rule `unreachable-tier`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::UnreachableTier,
    level: Level::Warning,
    what: "A tier that no request can reach, because the tiers before it take every request it would match.",
    why: "Tiers are tried in order and the first match wins. A tier implied by earlier ones never applies: its duties and rules never run, and the author's intent is silently lost — usually the tiers are in the wrong order.",
    bad: "tiers {\n  high    when score > 0.5\n  extreme when score > 0.9\n  low     otherwise\n}",
    good: "tiers {\n  extreme when score > 0.9\n  high    when score > 0.5\n  low     otherwise\n}",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for (i, tier) in cx.program.tiers.iter().enumerate() {
        if cx
            .logic
            .implies(&cx.tier_reached(i), &Some(vec![Vec::new()]))
        {
            out.push(
                Finding::new(
                    tier.span,
                    format!("tier `{}` can never be reached", tier.name),
                    "the tiers before it take every request this one would match",
                )
                .help("move it before the tiers that cover it, or narrow theirs"),
            );
        }
    }
}
