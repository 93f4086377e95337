//! `assert` blocks: a condition over the request and what every decision under it
//! must be. Checked here; proved by `crate::verify`.

use std::collections::HashMap;

use super::Checker;
use super::program::{self, Expect, ExpectTarget};
use crate::ast::{self, AssertTarget, Decl};
use crate::diagnostics::{Code, Diagnostic};

impl Checker<'_> {
    pub(super) fn check_assertions(&mut self, file: &ast::File) -> Vec<program::Assertion> {
        let mut first_span = HashMap::new();
        let mut assertions = Vec::new();
        for decl in &file.decls {
            let Decl::Assert(assertion) = decl else {
                continue;
            };
            if let Some(first) = first_span.insert(assertion.name.node.clone(), assertion.name.span)
            {
                self.error(super::duplicate(
                    &format!("assertion \"{}\"", assertion.name.node),
                    assertion.name.span,
                    first,
                ));
            }
            let when = self.condition(&assertion.when);
            let expect = assertion
                .expect
                .iter()
                .filter_map(|e| {
                    let target = self.expect_target(&e.target)?;
                    Some(Expect {
                        negated: e.negated,
                        target,
                    })
                })
                .collect();
            assertions.push(program::Assertion {
                name: assertion.name.node.clone(),
                when,
                expect,
                span: assertion.span,
            });
        }
        assertions
    }

    fn expect_target(&mut self, target: &AssertTarget) -> Option<ExpectTarget> {
        match target {
            AssertTarget::Outcome(o) => Some(ExpectTarget::Outcome(*o)),
            AssertTarget::Tier(name) => self.resolve_tier(name).map(ExpectTarget::Tier),
            AssertTarget::Duty(name) => self.resolve_duty(name).map(ExpectTarget::Duty),
        }
    }

    /// The duty named at `name`, or a diagnostic (with a suggestion) saying there is none.
    pub(super) fn resolve_duty(&mut self, name: &ast::Name) -> Option<usize> {
        if let Some(&id) = self.duty_by_name.get(&name.node) {
            return Some(id);
        }
        let names: Vec<String> = self.duty_by_name.keys().cloned().collect();
        let diag = Diagnostic::error(
            Code::UnknownDuty,
            format!("unknown duty `{}`", name.node),
            name.span,
            "no `duty` has this name",
        );
        self.error(super::with_suggestion(
            diag,
            &name.node,
            names.iter().map(String::as_str),
        ));
        None
    }
}
