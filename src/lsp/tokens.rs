//! Semantic tokens: what each word of a document is — a keyword, a field, a `def`, an
//! enum member, a tier, a function — from the lexer's tokens and the analysis's
//! names, so that editors colour `count` in `usage.count` as a field and `EU` as a
//! member. Comments, strings and numbers are included, so a client may rely on
//! semantic tokens alone.

use crate::syntax::lexer::{Tok, lex};
use crate::syntax::span::Span;

use super::analysis::{Analysis, Symbol};

/// The token types, in the order of the legend the server announces.
pub const TYPES: &[&str] = &[
    "keyword",
    "comment",
    "string",
    "number",
    "operator",
    "property",
    "variable",
    "function",
    "enum",
    "enumMember",
    "type",
    "namespace",
    "class",
    "interface",
    "event",
];

/// The modifiers, as bits in this order.
pub const MODIFIERS: &[&str] = &["declaration", "readonly", "defaultLibrary"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Keyword = 0,
    Comment,
    String,
    Number,
    Operator,
    Property,
    Variable,
    Function,
    Enum,
    EnumMember,
    Type,
    Namespace,
    Class,
    Interface,
    Event,
}

const DECLARATION: u32 = 1;
const READONLY: u32 = 2;
const DEFAULT_LIBRARY: u32 = 4;

/// One classified token: its bytes, its type and its modifier bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub span: Span,
    pub kind: Kind,
    pub modifiers: u32,
}

/// Every token of the document worth colouring, in order.
pub fn tokens(analysis: &Analysis) -> Vec<Token> {
    let lexed = lex(&analysis.text, 0);
    let all = &lexed.tokens;
    let mut out = Vec::with_capacity(all.len());
    // The occurrences are sorted by position: walk them alongside.
    let occurrences = &analysis.occurrences;
    let mut next_occurrence = 0;
    let mut in_use_line = false;
    for (i, (span, tok)) in all.iter().enumerate() {
        let previous = i.checked_sub(1).and_then(|p| all.get(p)).map(|(_, t)| t);
        let following = all.get(i + 1).map(|(_, t)| t);
        if tok.starts_declaration() {
            in_use_line = *tok == Tok::Use;
        }
        while next_occurrence < occurrences.len()
            && occurrences[next_occurrence].span.end <= span.start
        {
            next_occurrence += 1;
        }
        let occurrence = occurrences
            .get(next_occurrence)
            .filter(|o| o.span.start <= span.start && span.end <= o.span.end);
        let classified = match tok {
            Tok::Comment(_) => Some((Kind::Comment, 0)),
            Tok::Str(_) => Some((Kind::String, 0)),
            Tok::Int(_) | Tok::Float(_) | Tok::Duration(_) | Tok::Percent(_) => {
                Some((Kind::Number, 0))
            }
            Tok::EqEq
            | Tok::NotEq
            | Tok::Lt
            | Tok::Le
            | Tok::Gt
            | Tok::Ge
            | Tok::Plus
            | Tok::Minus
            | Tok::Star
            | Tok::Slash
            | Tok::PercentSign
            | Tok::QuestionQuestion => Some((Kind::Operator, 0)),
            Tok::Ident(_) => Some(identifier(
                occurrence.map(|o| (&o.symbol, o.definition)),
                previous,
                following,
                in_use_line,
            )),
            // A keyword after a dot is a field's segment (`usage.count`).
            _ if tok.is_keyword() && previous == Some(&Tok::Dot) => Some((Kind::Property, 0)),
            Tok::Service if occurrence.is_some() => Some((Kind::Property, 0)),
            _ if tok.is_keyword() => Some((Kind::Keyword, 0)),
            _ => None,
        };
        if let Some((kind, modifiers)) = classified {
            out.push(Token {
                span: *span,
                kind,
                modifiers,
            });
        }
    }
    out
}

fn identifier(
    symbol: Option<(&Symbol, bool)>,
    previous: Option<&Tok<'_>>,
    following: Option<&Tok<'_>>,
    in_use_line: bool,
) -> (Kind, u32) {
    if let Some((symbol, definition)) = symbol {
        let declared = if definition { DECLARATION } else { 0 };
        return match symbol {
            Symbol::Field(_) | Symbol::EventField(..) => (Kind::Property, declared),
            Symbol::Def(_) => (Kind::Variable, declared | READONLY),
            Symbol::Enum(_) => (Kind::Enum, declared),
            Symbol::Member(..) | Symbol::Tier(_) => (Kind::EnumMember, declared | READONLY),
            Symbol::Service(_) => (Kind::Class, declared),
            Symbol::Fixture(_) => (Kind::Variable, declared),
            Symbol::Duty(_) => (Kind::Interface, declared),
            Symbol::Trigger(_) => (Kind::Event, declared),
            Symbol::Event(_) => (Kind::Type, declared),
        };
    }
    if following == Some(&Tok::LParen) {
        return (Kind::Function, DEFAULT_LIBRARY);
    }
    if previous == Some(&Tok::Dot) || following == Some(&Tok::Dot) {
        return (Kind::Property, 0);
    }
    if in_use_line {
        return (Kind::Namespace, 0);
    }
    if previous == Some(&Tok::Colon) {
        return (Kind::Type, 0);
    }
    (Kind::Variable, 0)
}

/// The tokens in the protocol's relative encoding: five numbers per token (line delta,
/// start delta, length, type, modifiers), positions in UTF-16 as `position` gives
/// them. A token that spans lines (none do but comments, which end at the line) is
/// cut at its line's end.
pub fn encode(tokens: &[Token], position: impl Fn(u32) -> (u32, u32)) -> Vec<u32> {
    let mut out = Vec::with_capacity(tokens.len() * 5);
    let (mut line, mut column) = (0u32, 0u32);
    for token in tokens {
        let (l, c) = position(token.span.start);
        let (end_line, end_column) = position(token.span.end);
        let length = if end_line == l { end_column - c } else { 0 };
        if length == 0 {
            continue;
        }
        let delta_line = l - line;
        let delta_start = if delta_line == 0 { c - column } else { c };
        out.extend([
            delta_line,
            delta_start,
            length,
            token.kind as u32,
            token.modifiers,
        ]);
        line = l;
        column = c;
    }
    out
}

/// One edit that turns `old` into `new`: (start, how many to delete, what to insert),
/// on the whole numbers of the encoding; `None` when they are equal.
pub fn delta(old: &[u32], new: &[u32]) -> Option<(usize, usize, Vec<u32>)> {
    if old == new {
        return None;
    }
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let prefix = prefix - prefix % 5;
    let rest_old = &old[prefix..];
    let rest_new = &new[prefix..];
    let suffix = rest_old
        .iter()
        .rev()
        .zip(rest_new.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let suffix = (suffix - suffix % 5)
        .min(rest_old.len())
        .min(rest_new.len());
    Some((
        prefix,
        rest_old.len() - suffix,
        rest_new[..rest_new.len() - suffix].to_vec(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_replaces_only_what_changed() {
        let old = [0, 0, 3, 0, 0, 1, 0, 2, 5, 0, 0, 4, 1, 3, 0];
        let new = [0, 0, 3, 0, 0, 1, 0, 4, 5, 0, 0, 4, 1, 3, 0];
        assert_eq!(delta(&old, &new), Some((5, 5, vec![1, 0, 4, 5, 0])));
        assert_eq!(delta(&old, &old), None);
        let shorter = [0, 0, 3, 0, 0];
        assert_eq!(delta(&old, &shorter), Some((5, 10, vec![])));
    }
}
