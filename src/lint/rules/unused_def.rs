//! Lint rule `unused-def`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::UnusedDef,
    level: Level::Warning,
    what: "A `def` that no condition uses.",
    why: "An unused definition is dead code that readers still have to understand, and often a sign that a rule meant to use it does not.",
    bad: "def minor = age < 18\ndeny when age < 13 because \"too young\"",
    good: "def minor = age < 18\ndeny when minor because \"a minor\"",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::check::program::ExprKind;
    let mut used = vec![false; cx.program.defs.len()];
    cx.each_expr(|e| {
        if let ExprKind::Def(id) = e.kind
            && let Some(u) = used.get_mut(id)
        {
            *u = true;
        }
    });
    // `retain NAME` and a trigger's `within NAME`, `>= NAME`, `for NAME` read a def by name.
    let mut mark = |name: &str| {
        if let Some(id) = cx.program.defs.iter().position(|d| d.name == name)
            && let Some(u) = used.get_mut(id)
        {
            *u = true;
        }
    };
    for decl in &cx.file.decls {
        match decl {
            crate::ast::Decl::Duty(duty) => {
                for item in &duty.items {
                    if let crate::ast::DutyItem::RetainDef(name, _) = item {
                        mark(&name.node);
                    }
                }
            }
            crate::ast::Decl::Trigger(trigger) => {
                for (name, _) in trigger.params() {
                    mark(name);
                }
            }
            _ => {}
        }
    }
    for (id, def) in cx.program.defs.iter().enumerate() {
        if !used.get(id).copied().unwrap_or(true) {
            out.push(Finding::new(
                def.span,
                format!("`def {}` is never used", def.name),
                "unused def",
            ));
        }
    }
}
