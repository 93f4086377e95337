//! Lint rule `unused-enum`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::UnusedEnum,
    level: Level::Warning,
    what: "An enum that no schema field uses.",
    why: "Enum members can only be compared with fields of that enum; an enum no field has is dead code.",
    bad: "enum Plan { free, team }\nenum Region { EU, US }\nschema request { region: Region }",
    good: "enum Region { EU, US }\nschema request { region: Region }",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::check::program::{Elem, Ty};
    for (id, e) in cx.program.enums.iter().enumerate() {
        let used = cx.program.fields.iter().any(|f| {
            matches!(f.ty, Ty::Enum(x) if x == id)
                || matches!(f.ty, Ty::Set(Elem::Enum(x)) if x == id)
        });
        if !used {
            out.push(Finding::new(
                e.span,
                format!("enum `{}` is used by no field", e.name),
                "unused enum",
            ));
        }
    }
}
