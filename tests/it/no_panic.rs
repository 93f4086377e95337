//! No input makes the front end panic: random bytes, random token streams, and
//! mutations of the shared examples all go through lexer, parser and checker.

use proptest::prelude::*;

fn front_end(text: &str) {
    let checked = bylaw::check_source("fuzz.bylaw", text);
    // Rendering touches every span: it must not panic either.
    let _ = bylaw::diagnostics::render(&checked.sources, &checked.diagnostics, false);
    let _ = bylaw::diagnostics::to_json(&checked.sources, &checked.diagnostics);
}

const WORDS: &[&str] = &[
    "policy",
    "version",
    "use",
    "enum",
    "schema",
    "request",
    "def",
    "tiers",
    "tier",
    "when",
    "otherwise",
    "cite",
    "default",
    "allow",
    "deny",
    "escalate",
    "because",
    "duty",
    "applies",
    "to",
    "require",
    "else",
    "retain",
    "report",
    "within",
    "notice",
    "trigger",
    "count",
    "rate",
    "by",
    "then",
    "suspend",
    "for",
    "degrade",
    "notify",
    "block",
    "service",
    "fallback",
    "recovery",
    "cooldown",
    "approve",
    "ramp",
    "every",
    "timeout",
    "fixture",
    "test",
    "given",
    "expect",
    "and",
    "or",
    "not",
    "in",
    "has",
    "true",
    "false",
    "null",
    "set",
    "int",
    "float",
    "bool",
    "string",
    "x",
    "user.age",
    "Region",
    "EU",
    "{",
    "}",
    "(",
    ")",
    ",",
    ":",
    "::",
    ".",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "?",
    "??",
    "\"s\"",
    "42",
    "0.5",
    "10m",
    "5%",
    "6 months",
    "\n",
    "// c\n",
    "\"",
    "$",
    "99999999999999999999",
];

fn shared_sources() -> Vec<String> {
    crate::example_policies()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        front_end(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_token_streams(words in proptest::collection::vec(proptest::sample::select(WORDS), 0..120)) {
        front_end(&words.join(" "));
    }

    #[test]
    fn mutated_examples(which in 0usize..4, edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, proptest::sample::select(WORDS)), 1..6)) {
        let sources = shared_sources();
        let mut text = sources[which % sources.len()].clone();
        for (index, kind, word) in edits {
            let mut at = index.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match kind {
                0 => text.insert_str(at, word),
                1 => {
                    let mut end = (at + word.len()).min(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.replace_range(at..end, "");
                }
                2 => text.truncate(at),
                _ => {
                    let mut end = (at + 1).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, word);
                }
            }
        }
        front_end(&text);
    }
}

#[test]
fn deeply_nested_expressions_do_not_overflow() {
    let depth = 2000;
    let text = format!(
        "policy p version \"1.0.0\"\nschema request {{ a: bool }}\ndeny when {}a{} because \"deep\"\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    front_end(&text);
    let nots = format!(
        "policy p version \"1.0.0\"\nschema request {{ a: bool }}\ndeny when {}a because \"deep\"\n",
        "not ".repeat(depth)
    );
    front_end(&nots);
    let chain = format!(
        "policy p version \"1.0.0\"\nschema request {{ a: bool }}\ndeny when a{} because \"long\"\n",
        " or a".repeat(20_000)
    );
    let checked = bylaw::check_source("chain.bylaw", &chain);
    assert!(
        checked.diagnostics.is_empty(),
        "a long flat chain is fine: {:?}",
        checked.diagnostics
    );
    let deep = bylaw::check_source("deep.bylaw", &text);
    assert_eq!(deep.diagnostics[0].code.code(), "E0013");
}
