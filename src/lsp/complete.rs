//! Completion by context: what may be written where the cursor is, read from the
//! tokens before it (the document may not parse while it is being typed).
//!
//! - after `.` in a field path: the next segments of the fields under that prefix;
//! - after `==`, `!=` or `in` (and inside `in {…}`): the members of the left side's
//!   enum, or the tier names after `tier ==`;
//! - after `use `: module paths of the standard library;
//! - after `: ` in a schema or event: the types; after `given`: fixtures; after
//!   `suspend`/`degrade`: services; after `tier` in a duty or a test: tiers;
//! - at the start of a line: the declarations at top level, or the items of the block
//!   the cursor is in (duty, service, recovery, trigger, test);
//! - elsewhere in an expression: fields, `def`s, functions with their signatures,
//!   members, and the expression keywords.
//!
//! Inside `count(KIND where …)` the fields are the event kind's, not the request's.
//!
//! Every candidate replaces the word being typed ([`Completion::replace`]).

use crate::syntax::lexer::{Tok, lex};
use crate::syntax::span::Span;

use super::analysis::{Analysis, Candidate, CandidateKind};

/// The candidates, and the span of text each replaces: the word typed so far (after
/// the last `.` of a path, or the whole path after `use`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub items: Vec<Candidate>,
    pub replace: Span,
}

const DECLARATIONS: &[(&str, &str)] = &[
    ("policy", "policy NAME version \"x.y.z\""),
    ("use", "use std::MODULE { parameter: value }"),
    ("enum", "enum Name { A, B }"),
    ("schema", "schema request { field: type }"),
    ("event", "event kind { field: type }"),
    ("def", "def name = expression"),
    ("tiers", "tiers { name when condition … name otherwise }"),
    ("default", "default allow | deny | escalate"),
    ("allow", "allow when condition because \"…\""),
    ("deny", "deny when condition because \"…\""),
    ("escalate", "escalate when condition because \"…\""),
    ("clock", "clock field"),
    ("duty", "duty name { applies … require … }"),
    (
        "trigger",
        "trigger name { when count(…) within D >= N then … }",
    ),
    ("service", "service name { fallback \"…\" recovery { … } }"),
    ("fixture", "fixture name { field: value, … }"),
    ("test", "test \"name\" { given fixture expect outcome }"),
    (
        "assert",
        "assert \"name\" { when condition expect outcome }",
    ),
];

const DUTY_ITEMS: &[(&str, &str)] = &[
    ("applies", "applies to tier T, … | applies when condition"),
    ("require", "require condition else deny \"message\""),
    ("retain", "retain 6 months"),
    ("report", "report \"recipient\" within 15d"),
    ("notice", "notice \"text\""),
    ("cite", "cite \"article\""),
    ("effective", "effective from date(\"…\") until date(\"…\")"),
];

const SERVICE_ITEMS: &[(&str, &str)] = &[
    ("fallback", "fallback \"text\""),
    ("recovery", "recovery { cooldown … approve by … ramp … }"),
    ("cite", "cite \"article\""),
];

const RECOVERY_ITEMS: &[(&str, &str)] = &[
    ("cooldown", "cooldown 10m"),
    ("approve", "approve by \"role\""),
    ("ramp", "ramp 25%, 100% every 5m"),
    ("timeout", "timeout 2h"),
    ("require", "require report filed"),
];

const TRIGGER_ITEMS: &[(&str, &str)] = &[
    ("when", "when count(condition) within 1h >= 3"),
    (
        "then",
        "then suspend S, notify \"…\", report \"…\" within D, block K for D",
    ),
    ("cite", "cite \"article\""),
    ("effective", "effective from date(\"…\")"),
];

const TEST_ITEMS: &[(&str, &str)] = &[
    ("given", "given fixture { overrides }"),
    ("expect", "expect outcome, tier T, duty D, rule R"),
];

const EXPRESSION_WORDS: &[(&str, &str)] = &[
    ("not", "not condition"),
    ("and", "a and b"),
    ("or", "a or b"),
    ("in", "x in set"),
    ("has", "has(optional.field)"),
    ("tier", "the tier chosen"),
    ("true", "bool"),
    ("false", "bool"),
];

const TYPES: &[&str] = &[
    "string",
    "int",
    "float",
    "bool",
    "timestamp",
    "duration",
    "set<string>",
];

/// A block the cursor is inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Duty,
    Service,
    Recovery,
    Trigger,
    Test,
    /// A schema or an event: field declarations.
    Fields,
    /// A fixture, a `given … { }` or a `use … { }`: field values.
    Values,
    Tiers,
    Enum,
    /// `{` in an expression: a set.
    Set,
}

pub fn complete(analysis: &Analysis, offset: u32) -> Completion {
    let text = analysis.text.as_str();
    let offset = (offset as usize).min(text.len());
    let offset = floor_char_boundary(text, offset);
    let before = &text[..offset];
    let word_start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let replace = Span::new(word_start as u32, offset as u32);
    let typed = &before[word_start..];
    let tokens = tokens_before(text, word_start);
    let scope = Scope {
        analysis,
        event: counted_event(&tokens),
    };
    let keep = |items: Vec<Candidate>| Completion {
        items: items
            .into_iter()
            .filter(|c| c.label.starts_with(typed))
            .collect(),
        replace,
    };

    // `use std::…`: the whole path typed so far is replaced.
    if let Some(path_start) = use_path_start(before) {
        let path = &before[path_start..];
        return Completion {
            items: crate::stdlib::MODULES
                .iter()
                .filter(|m| m.name.starts_with(path))
                .map(|m| candidate(m.name, CandidateKind::Module, &m.summary()))
                .collect(),
            replace: Span::new(path_start as u32, offset as u32),
        };
    }
    // After a dot: the next segment of a field path (or an enum's members).
    if before[..word_start].ends_with('.') {
        let parent = path_before(&before[..word_start - 1]);
        return keep(next_segments(&scope, &parent));
    }
    let last = tokens.last().map(|(_, t)| t.clone());
    let second = tokens.iter().rev().nth(1).map(|(_, t)| t.clone());
    match (&second, &last) {
        (Some(Tok::Tier), Some(Tok::EqEq | Tok::NotEq)) => return keep(tiers(analysis)),
        (_, Some(Tok::Given)) => return keep(symbols_of(analysis, CandidateKind::Fixture)),
        (_, Some(Tok::Suspend | Tok::Degrade)) => {
            return keep(symbols_of(analysis, CandidateKind::Service));
        }
        (Some(Tok::To | Tok::Comma | Tok::Expect), Some(Tok::Tier)) => {
            return keep(tiers(analysis));
        }
        (Some(Tok::Comma | Tok::Expect), Some(Tok::Duty)) => {
            return keep(symbols_of(analysis, CandidateKind::Duty));
        }
        _ => {}
    }
    if let Some(enum_name) = compared_enum(&scope, text, &tokens) {
        return keep(members(analysis, &enum_name));
    }
    let block = innermost_block(&tokens);
    if matches!(last, Some(Tok::Colon)) && block == Some(Block::Fields) {
        let mut items: Vec<Candidate> = TYPES
            .iter()
            .map(|t| candidate(t, CandidateKind::Keyword, "type"))
            .collect();
        items.extend(
            analysis
                .enum_names()
                .map(|e| candidate(e, CandidateKind::Member, "enum")),
        );
        return keep(items);
    }
    if at_line_start(before, word_start) {
        let items = match block {
            None => Some(DECLARATIONS),
            Some(Block::Duty) => Some(DUTY_ITEMS),
            Some(Block::Service) => Some(SERVICE_ITEMS),
            Some(Block::Recovery) => Some(RECOVERY_ITEMS),
            Some(Block::Trigger) => Some(TRIGGER_ITEMS),
            Some(Block::Test) => Some(TEST_ITEMS),
            _ => None,
        };
        if let Some(items) = items {
            return keep(keywords(items));
        }
        if matches!(block, Some(Block::Values)) {
            return keep(top_segments(&Scope {
                analysis,
                event: None,
            }));
        }
    }
    keep(expression(&scope))
}

/// Whose fields an expression at the cursor reads: the request's, or an event kind's.
struct Scope<'a> {
    analysis: &'a Analysis,
    event: Option<&'a str>,
}

impl Scope<'_> {
    fn fields(&self) -> Vec<(&str, &str)> {
        match self.event {
            Some(kind) => self.analysis.event_fields(kind).collect(),
            None => self.analysis.fields().collect(),
        }
    }

    fn field_type(&self, path: &str) -> Option<&str> {
        match self.event {
            Some(kind) => self
                .analysis
                .event_fields(kind)
                .find(|(p, _)| *p == path)
                .map(|(_, t)| t),
            None => self.analysis.field_type(path),
        }
    }
}

/// The event kind whose `where` the cursor is in: an unclosed `count(` or `rate(`
/// followed by `KIND where`.
fn counted_event<'t>(tokens: &[(Span, Tok<'t>)]) -> Option<&'t str> {
    let mut depth = 0usize;
    for (i, (_, tok)) in tokens.iter().enumerate().rev() {
        match tok {
            Tok::RParen => depth += 1,
            Tok::LParen if depth > 0 => depth -= 1,
            Tok::LParen => {
                let counts = i > 0 && matches!(tokens[i - 1].1, Tok::Count | Tok::Rate);
                return match (counts, tokens.get(i + 1), tokens.get(i + 2)) {
                    (true, Some((_, Tok::Ident(kind))), Some((_, Tok::Where))) => Some(kind),
                    _ => None,
                };
            }
            // A declaration or a block boundary: not inside a trigger's parentheses.
            Tok::LBrace | Tok::RBrace => return None,
            _ => {}
        }
    }
    None
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn candidate(label: &str, kind: CandidateKind, detail: &str) -> Candidate {
    Candidate {
        label: label.to_string(),
        kind,
        detail: detail.to_string(),
    }
}

fn keywords(items: &[(&str, &str)]) -> Vec<Candidate> {
    items
        .iter()
        .map(|(k, d)| candidate(k, CandidateKind::Keyword, d))
        .collect()
}

/// The tokens of the text before `end`, without comments.
fn tokens_before(text: &str, end: usize) -> Vec<(Span, Tok<'_>)> {
    lex(&text[..end], 0)
        .tokens
        .into_iter()
        .filter(|(_, t)| !matches!(t, Tok::Comment(_)))
        .collect()
}

/// Where the module path of a `use` line being typed starts, if the cursor is in one.
fn use_path_start(before: &str) -> Option<usize> {
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = &before[line_start..];
    let rest = line.trim_start().strip_prefix("use ")?;
    let path = rest.trim_start();
    path.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        .then(|| before.len() - path.len())
}

/// The dotted path that ends where `before` ends (`scores` in `… > scores`).
fn path_before(before: &str) -> String {
    let start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .map_or(0, |i| i + 1);
    before[start..].to_string()
}

fn at_line_start(before: &str, word_start: usize) -> bool {
    before[..word_start]
        .rsplit('\n')
        .next()
        .is_some_and(|line| line.trim().is_empty())
}

/// The segments that may follow `parent.`: `toxicity` after `scores.` for a field
/// `scores.toxicity`, `pii` for `scores.pii.name`; an enum's members after `Enum.`.
fn next_segments(scope: &Scope<'_>, parent: &str) -> Vec<Candidate> {
    let analysis = scope.analysis;
    if analysis.enum_names().any(|e| e == parent) {
        return members(analysis, parent);
    }
    let prefix = format!("{parent}.");
    let mut out: Vec<Candidate> = Vec::new();
    for (path, ty) in scope.fields() {
        let Some(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        let (segment, detail) = match rest.split_once('.') {
            Some((segment, _)) => (segment, "object".to_string()),
            None => (rest, ty.to_string()),
        };
        if !out.iter().any(|c| c.label == segment) {
            out.push(candidate(segment, CandidateKind::Field, &detail));
        }
    }
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out
}

/// Every field of the scope, for a fixture's values or an expression.
fn top_segments(scope: &Scope<'_>) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = scope
        .fields()
        .into_iter()
        .map(|(path, ty)| candidate(path, CandidateKind::Field, ty))
        .collect();
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out
}

fn tiers(analysis: &Analysis) -> Vec<Candidate> {
    symbols_of(analysis, CandidateKind::Tier)
}

fn symbols_of(analysis: &Analysis, kind: CandidateKind) -> Vec<Candidate> {
    analysis
        .symbol_candidates()
        .into_iter()
        .filter(|c| c.kind == kind)
        .collect()
}

fn members(analysis: &Analysis, enum_name: &str) -> Vec<Candidate> {
    analysis
        .enum_members(enum_name)
        .iter()
        .map(|m| candidate(m, CandidateKind::Member, &format!("enum {enum_name}")))
        .collect()
}

/// The enum whose members may come next: after `FIELD ==`, `FIELD !=`, `FIELD in`,
/// or inside `FIELD in { A, ` where FIELD's type is an enum (or a set of one, for
/// `in`).
fn compared_enum(scope: &Scope<'_>, text: &str, tokens: &[(Span, Tok<'_>)]) -> Option<String> {
    let mut i = tokens.len();
    // Inside `{ A, B, `: back to the `{`.
    while i > 0 && matches!(tokens[i - 1].1, Tok::Comma | Tok::Ident(_)) {
        i -= 1;
    }
    if i > 0 && tokens[i - 1].1 == Tok::LBrace {
        i -= 1;
    } else {
        i = tokens.len();
    }
    let operator = i.checked_sub(1)?;
    if !matches!(tokens[operator].1, Tok::EqEq | Tok::NotEq | Tok::In) {
        return None;
    }
    let end = tokens[operator].0.start as usize;
    let left = path_before(text[..end].trim_end());
    let ty = scope.field_type(&left)?;
    let name = ty
        .trim_end_matches('?')
        .trim_start_matches("set<")
        .trim_end_matches('>');
    scope
        .analysis
        .enum_names()
        .any(|e| e == name)
        .then(|| name.to_string())
}

/// The block the cursor is in, from the braces before it.
fn innermost_block(tokens: &[(Span, Tok<'_>)]) -> Option<Block> {
    let mut stack: Vec<Block> = Vec::new();
    // The token that began the declaration the cursor is in, kept as the walk goes:
    // looking back for it at every brace would be quadratic.
    let mut declaration = None;
    for (i, (_, tok)) in tokens.iter().enumerate() {
        if tok.starts_declaration() {
            declaration = Some(tok);
        }
        match tok {
            Tok::LBrace => stack.push(opened_by(&tokens[..i], declaration)),
            Tok::RBrace => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.last().copied()
}

/// What a `{` opens, from the tokens before it and the one that began its declaration.
fn opened_by(before: &[(Span, Tok<'_>)], declaration: Option<&Tok<'_>>) -> Block {
    let last = before.last().map(|(_, t)| t);
    let second = before.iter().rev().nth(1).map(|(_, t)| t);
    match (second, last) {
        (_, Some(Tok::Recovery)) => Block::Recovery,
        (_, Some(Tok::Tiers)) => Block::Tiers,
        (Some(Tok::Duty), _) => Block::Duty,
        (Some(Tok::Service), _) => Block::Service,
        (Some(Tok::Trigger), _) => Block::Trigger,
        (Some(Tok::Test | Tok::Assert), _) => Block::Test,
        (Some(Tok::Schema | Tok::Event), _) => Block::Fields,
        (Some(Tok::Enum), _) => Block::Enum,
        (Some(Tok::Fixture | Tok::Given), _) => Block::Values,
        // `use std::minors {`: the module's parameters.
        _ if declaration == Some(&Tok::Use) => Block::Values,
        _ => Block::Set,
    }
}

/// In an expression: fields, `def`s, functions, members, expression keywords.
fn expression(scope: &Scope<'_>) -> Vec<Candidate> {
    let analysis = scope.analysis;
    let mut out = top_segments(scope);
    // One pass over the names for both kinds.
    let (defs, members): (Vec<Candidate>, Vec<Candidate>) = analysis
        .symbol_candidates()
        .into_iter()
        .filter(|c| matches!(c.kind, CandidateKind::Def | CandidateKind::Member))
        .partition(|c| c.kind == CandidateKind::Def);
    out.extend(defs);
    out.extend(
        crate::check::functions::FUNCTIONS
            .iter()
            .map(|f| candidate(f.name, CandidateKind::Function, &f.signatures.join(" | "))),
    );
    out.extend(members);
    out.extend(keywords(EXPRESSION_WORDS));
    out
}
