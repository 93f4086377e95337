//! Lint rule `no-tests`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::NoTests,
    level: Level::Warning,
    what: "A policy with rules or duties and no `test` block.",
    why: "Policies are code: a rule nobody tested is a rule nobody knows works. `bylaw test --coverage` shows what the tests exercise.",
    bad: "policy p version \"1.0.0\"\ndeny when age < 13 because \"too young\"",
    good: "policy p version \"1.0.0\"\ndeny when age < 13 because \"too young\"\nfixture child { age: 9 }\ntest \"children are refused\" {\n  given child\n  expect deny\n}",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::ast::Decl;
    let p = cx.program;
    if p.tests.is_empty() && (!p.rules.is_empty() || !p.duties.is_empty()) {
        let span = cx.file.decls.iter().find_map(|d| match d {
            Decl::Policy(p) => Some(p.span),
            _ => None,
        });
        if let Some(span) = span {
            out.push(
                Finding::new(span, "the policy has no tests", "no `test` block")
                    .help("add a `fixture` and `test` blocks; see docs/testing.md"),
            );
        }
    }
}
