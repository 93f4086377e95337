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
        use crate::ast::{Decl, DutyItem, ServiceItem};
        let parsed = crate::syntax::parser::parse(self.text, 0);
        let mut cites = std::collections::BTreeSet::new();
        for decl in &parsed.file.decls {
            match decl {
                Decl::Rule(r) => cites.extend(r.cite.iter().map(|c| c.node.clone())),
                Decl::Trigger(t) => cites.extend(t.cite.iter().map(|c| c.node.clone())),
                Decl::Duty(d) => cites.extend(d.items.iter().filter_map(|i| match i {
                    DutyItem::Cite(c, _) => Some(c.node.clone()),
                    _ => None,
                })),
                Decl::Service(s) => cites.extend(s.items.iter().filter_map(|i| match i {
                    ServiceItem::Cite(c, _) => Some(c.node.clone()),
                    _ => None,
                })),
                _ => {}
            }
        }
        cites
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
