//! Lint rule `vague-cite`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::VagueCite,
    level: Level::Warning,
    what: "A `cite` that names no article, section or paragraph number.",
    why: "A citation is there so a reader can find the text a rule implements. \"GDPR\" alone sends them through 99 articles; \"GDPR Art. 22\" does not.",
    bad: "deny when automated and not human_review because \"needs review\" cite \"GDPR\"",
    good: "deny when automated and not human_review because \"needs review\" cite \"GDPR Art. 22(1)\"",
};

/// Whether the text holds a number: ASCII digits, or Chinese numerals (第十四条).
fn has_number(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_ascii_digit() || "一二三四五六七八九十百零".contains(c))
}

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let p = cx.program;
    let mut cites: Vec<(&str, crate::syntax::span::Span)> = Vec::new();
    cites.extend(
        p.tiers
            .iter()
            .filter_map(|t| t.cite.as_deref().map(|c| (c, t.span))),
    );
    cites.extend(
        p.rules
            .iter()
            .filter_map(|r| r.cite.as_deref().map(|c| (c, r.span))),
    );
    for d in &p.duties {
        cites.extend(d.cites.iter().map(|c| (c.as_str(), d.span)));
    }
    for (cite, span) in cites {
        if !has_number(cite) {
            out.push(
                Finding::new(
                    span,
                    format!("`cite \"{cite}\"` names no article or section"),
                    "vague citation",
                )
                .help("cite the article, section or paragraph, such as \"EU AI Act Art. 50(1)\""),
            );
        }
    }
}
