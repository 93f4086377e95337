//! Lint rule `unused-fixture`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::UnusedFixture,
    level: Level::Warning,
    what: "A fixture that no test starts from.",
    why: "Fixtures exist for tests; one that no test uses is stale, and it still has to be kept valid against the schema.",
    bad: "fixture adult { age: 30 }\nfixture child { age: 9 }\ntest \"adults pass\" {\n  given adult\n  expect allow\n}",
    good: "fixture adult { age: 30 }\ntest \"adults pass\" {\n  given adult\n  expect allow\n}",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for (i, fixture) in cx.program.fixtures.iter().enumerate() {
        if !cx.program.tests.iter().any(|t| t.fixture == i) {
            out.push(Finding::new(
                fixture.span,
                format!("fixture `{}` is used by no test", fixture.name),
                "unused fixture",
            ));
        }
    }
}
