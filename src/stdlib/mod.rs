//! The standard library: modules that encode regulations, embedded in the binary.
//! `use std::eu::ai_act::transparency` loads `stdlib/eu/ai_act/transparency.bylaw`.
//! What each covers: `docs/stdlib.md`; the regulations they encode, article by
//! article: `catalogue`.

pub mod catalogue;

/// One embedded module.
#[derive(Debug, Clone, Copy)]
pub struct Module {
    pub name: &'static str,
    pub text: &'static str,
}

impl Module {
    /// The module's opening comment: what it encodes.
    pub fn summary(&self) -> String {
        self.text
            .lines()
            .take_while(|l| l.starts_with("//"))
            .map(|l| l.trim_start_matches("//").trim())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Every article the module's rules, duties, triggers and services cite.
    pub fn cites(&self) -> std::collections::BTreeSet<String> {
        self.citations().into_iter().map(|c| c.cite).collect()
    }

    /// Each citation with the day its item's `effective from date("…")` names, if any.
    pub fn citations(&self) -> Vec<Citation> {
        use crate::ast::{Decl, DutyItem, Effective, ServiceItem};
        let parsed = crate::syntax::parser::parse(self.text, 0);
        let mut out = Vec::new();
        let mut add = |cite: &crate::syntax::span::Spanned<String>,
                       effective: Option<&Effective>| {
            out.push(Citation {
                cite: cite.node.clone(),
                effective_from: effective.and_then(|e| date_literal(&e.from)),
            })
        };
        for decl in &parsed.file.decls {
            match decl {
                Decl::Rule(r) => r.cite.iter().for_each(|c| add(c, r.effective.as_ref())),
                Decl::Trigger(t) => t.cite.iter().for_each(|c| add(c, t.effective.as_ref())),
                Decl::Duty(d) => {
                    let effective = d.items.iter().find_map(|i| match i {
                        DutyItem::Effective(e) => Some(e),
                        _ => None,
                    });
                    for item in &d.items {
                        if let DutyItem::Cite(c, _) = item {
                            add(c, effective);
                        }
                    }
                }
                Decl::Service(s) => {
                    for item in &s.items {
                        if let ServiceItem::Cite(c, _) = item {
                            add(c, None);
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// A module's citation of an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    pub cite: String,
    /// `YYYY-MM-DD` of `effective from date("YYYY-MM-DD")` on the citing item.
    pub effective_from: Option<String>,
}

/// The text of `date("…")`.
fn date_literal(expr: &crate::ast::Expr) -> Option<String> {
    use crate::ast::{ExprKind, Literal};
    match &expr.kind {
        ExprKind::Call(name, args) if name.node == "date" => match args.as_slice() {
            [arg] => match &arg.kind {
                ExprKind::Lit(Literal::Str(day)) => Some(day.clone()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// Every module, by name.
pub static MODULES: &[Module] = &[
    Module {
        name: "std::cn::algorithm_filing",
        text: include_str!("../../stdlib/cn/algorithm_filing.bylaw"),
    },
    Module {
        name: "std::cn::genai_measures",
        text: include_str!("../../stdlib/cn/genai_measures.bylaw"),
    },
    Module {
        name: "std::cn::labeling",
        text: include_str!("../../stdlib/cn/labeling.bylaw"),
    },
    Module {
        name: "std::eu::ai_act::high_risk",
        text: include_str!("../../stdlib/eu/ai_act/high_risk.bylaw"),
    },
    Module {
        name: "std::eu::ai_act::prohibited",
        text: include_str!("../../stdlib/eu/ai_act/prohibited.bylaw"),
    },
    Module {
        name: "std::eu::ai_act::transparency",
        text: include_str!("../../stdlib/eu/ai_act/transparency.bylaw"),
    },
    Module {
        name: "std::eu::gpai",
        text: include_str!("../../stdlib/eu/gpai.bylaw"),
    },
    Module {
        name: "std::minors",
        text: include_str!("../../stdlib/minors.bylaw"),
    },
    Module {
        name: "std::nist::ai_rmf::operations",
        text: include_str!("../../stdlib/nist/ai_rmf/operations.bylaw"),
    },
    Module {
        name: "std::personal_data",
        text: include_str!("../../stdlib/personal_data.bylaw"),
    },
];

/// Modules that were renamed, old name first: `use` of the old name says where it went.
pub static RENAMED: &[(&str, &str)] = &[(
    // 2.0.0: it encodes 4 of the framework's 72 subcategories, all operational.
    "std::nist::ai_rmf",
    "std::nist::ai_rmf::operations",
)];

pub fn get(name: &str) -> Option<&'static Module> {
    MODULES.iter().find(|m| m.name == name)
}
