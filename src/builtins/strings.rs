//! What the string functions mean, in one place: the interpreter and the JIT's helper
//! both call these (the C module has its own implementation, held to the same answers
//! by the tests).
//!
//! Case mapping is Unicode's full mapping applied to each character on its own
//! (`char::to_lowercase`): `lower("ΑΣ")` is `"ασ"` — no final-sigma rule, which needs
//! the word around it — and `upper("ß")` is `"SS"`. Lengths count Unicode scalar values.

use std::borrow::Cow;

/// A case mapping applied to a string before a function reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Case {
    Lower,
    Upper,
}

impl Case {
    pub fn name(self) -> &'static str {
        match self {
            Case::Lower => "lower",
            Case::Upper => "upper",
        }
    }
}

/// `text` with `cases` applied innermost first.
#[inline]
pub fn apply<'a>(text: &'a str, cases: &[Case]) -> Cow<'a, str> {
    if cases.is_empty() {
        return Cow::Borrowed(text);
    }
    map_cases(text, cases)
}

fn map_cases<'a>(text: &'a str, cases: &[Case]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for case in cases {
        // Most strings are already in the wanted case: keep them borrowed.
        let unchanged = match case {
            Case::Lower => out.chars().all(|c| c.to_lowercase().eq([c])),
            Case::Upper => out.chars().all(|c| c.to_uppercase().eq([c])),
        };
        if !unchanged {
            out = Cow::Owned(match case {
                Case::Lower => out.chars().flat_map(char::to_lowercase).collect(),
                Case::Upper => out.chars().flat_map(char::to_uppercase).collect(),
            });
        }
    }
    out
}

/// The length of a string in Unicode scalar values.
pub fn length(text: &str) -> i64 {
    text.chars().count() as i64
}
