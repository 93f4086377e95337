//! The standard library: modules that encode regulations, embedded in the binary.
//! `use std::eu::ai_act::transparency` loads `stdlib/eu/ai_act/transparency.bylaw`.
//! What each covers: `docs/stdlib.md`.

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
        name: "std::nist::ai_rmf",
        text: include_str!("../../stdlib/nist/ai_rmf.bylaw"),
    },
    Module {
        name: "std::personal_data",
        text: include_str!("../../stdlib/personal_data.bylaw"),
    },
];

pub fn get(name: &str) -> Option<&'static Module> {
    MODULES.iter().find(|m| m.name == name)
}
