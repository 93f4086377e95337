//! The string-function scenario: retired model families by prefix, a prompt-injection
//! phrase by substring, shell commands by a regular expression at the start of the
//! prompt — the same tests in Bylaw (`starts_with`, `contains`, `matches`), CEL
//! (`startsWith`, `contains`, `matches`), Cedar (`like`, which has no regular
//! expressions: the pattern is two prefixes) and Rego (`startswith`, `contains`,
//! `regex.match`). Requests are generated (seeded), decided by hand-written Rust first.

use serde_json::{Value as Json, json};

use crate::Case;

pub const BYLAW_POLICY: &str = include_str!("../scenario/functions/guard.bylaw");
pub const CEDAR_POLICY: &str = include_str!("../scenario/functions/guard.cedar");
pub const REGO_POLICY: &str = include_str!("../scenario/functions/guard.rego");
pub const CEL_EXPR: &str = include_str!("../scenario/functions/guard.cel");
pub const REGO_ENTRY: &str = "data.functions.allow";

const MODELS: [&str; 8] = [
    "gpt-4o-mini",
    "gpt-3.5-turbo",
    "davinci-002",
    "claude-3-haiku",
    "o1-preview",
    "llama-3-70b-instruct",
    "gpt-4.1",
    "mistral-large",
];

const WORDS: [&str; 12] = [
    "please",
    "summarise",
    "the",
    "attached",
    "report",
    "and",
    "list",
    "three",
    "risks",
    "for",
    "our",
    "team",
];

/// The decision, written by hand: what every engine must agree with.
pub fn allow(model: &str, prompt: &str) -> bool {
    let retired = model.starts_with("gpt-3") || model.starts_with("davinci");
    let injection = prompt.contains("ignore previous instructions");
    let shell = prompt.starts_with("sudo ") || prompt.starts_with("rm -rf ");
    !(retired || injection || shell)
}

/// `n` requests from a seeded generator: prompts of 8–24 words (about 60–160 bytes);
/// one in ten carries the injection phrase somewhere, one in twenty starts with a
/// shell command, one in four names a retired model.
pub fn cases(n: usize) -> Vec<Case> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let model = MODELS[(next() % MODELS.len() as u64) as usize];
            let words = 8 + (next() % 17) as usize;
            let mut prompt: Vec<&str> = (0..words)
                .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
                .collect();
            match next() % 20 {
                0 | 1 => {
                    let at = (next() % words as u64) as usize;
                    prompt.insert(at, "ignore previous instructions");
                }
                2 => prompt.insert(0, "sudo"),
                3 => prompt.insert(0, "rm -rf"),
                _ => {}
            }
            let prompt = prompt.join(" ");
            Case {
                allow: allow(model, &prompt),
                json: json!({ "model": model, "prompt": prompt }),
            }
        })
        .collect()
}

/// Every request's JSON as a Cedar `context`.
pub fn cedar_contexts(cases: &[Case]) -> Vec<Json> {
    cases.iter().map(|c| c.json.clone()).collect()
}

/// Every engine, each over the same requests.
pub struct Engines {
    pub jit: crate::BylawEngine,
    pub interp: crate::BylawEngine,
    pub cel: crate::CelEngine,
    pub rego: crate::RegoEngine,
    pub cedar: crate::CedarEngine,
}

impl Engines {
    pub fn new(cases: &[Case]) -> Self {
        Engines {
            jit: crate::BylawEngine::with_policy(BYLAW_POLICY, bylaw::Engine::Jit, cases),
            interp: crate::BylawEngine::with_policy(
                BYLAW_POLICY,
                bylaw::Engine::Interpreter,
                cases,
            ),
            cel: crate::CelEngine::with_expr(CEL_EXPR, cases),
            rego: crate::RegoEngine::with_policy(REGO_POLICY, REGO_ENTRY, cases),
            cedar: crate::CedarEngine::with_policy(CEDAR_POLICY, cedar_contexts(cases)),
        }
    }

    /// Requests on which some engine decides otherwise than the hand-written Rust.
    pub fn disagreements(&mut self, cases: &[Case]) -> Vec<usize> {
        (0..cases.len())
            .filter(|&i| {
                let got = [
                    self.jit.decide(i),
                    self.interp.decide(i),
                    self.cel.decide(i),
                    self.rego.decide(i),
                    self.cedar.decide(i),
                ];
                got != [cases[i].allow; 5]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_decides_the_string_scenario_as_written_by_hand() {
        let cases = cases(2_000);
        let denied = cases.iter().filter(|c| !c.allow).count();
        assert!(denied > 400 && denied < 1_000, "{denied} denied");
        assert_eq!(
            Engines::new(&cases).disagreements(&cases),
            Vec::<usize>::new()
        );
    }
}
