//! Lint rule `unused-field`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::UnusedField,
    level: Level::Warning,
    what: "A schema field that no condition, `by` key or `block` reads.",
    why: "Every required field must be present in every request, or the request is invalid: an unused required field rejects requests for nothing. An unused optional field is dead schema.",
    bad: "schema request {\n  age: int\n  nickname: string\n}\ndeny when age < 13 because \"too young\"",
    good: "schema request {\n  age: int\n}\ndeny when age < 13 because \"too young\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::check::program::{Action, ExprKind};
    let mut used = vec![false; cx.program.fields.len()];
    let mut mark = |id: usize| {
        if let Some(u) = used.get_mut(id) {
            *u = true;
        }
    };
    cx.each_expr(|e| match &e.kind {
        ExprKind::Field(id) | ExprKind::Has(id) | ExprKind::Coalesce(id, _) => mark(*id),
        _ => {}
    });
    for t in &cx.program.triggers {
        if let (Some(by), None) = (t.by, t.event) {
            mark(by);
        }
        for a in &t.actions {
            if let Action::Block { key, .. } = a {
                mark(*key);
            }
        }
    }
    for (id, field) in cx.program.fields.iter().enumerate() {
        // The runtime reads these: routing to services, and the ramp's stable key.
        let runtime = (field.path == "service" && !cx.program.services.is_empty())
            || (field.path == "id"
                && cx
                    .program
                    .services
                    .iter()
                    .any(|s| s.recovery.as_ref().is_some_and(|r| !r.ramp.is_empty())));
        if !used.get(id).copied().unwrap_or(true) && !runtime {
            out.push(Finding::new(field.span, format!("field `{}` is never read", field.path), "unused field").help(if field.optional { "remove it from the schema" } else { "remove it: a required field that nothing reads still makes requests without it invalid" }));
        }
    }
}
