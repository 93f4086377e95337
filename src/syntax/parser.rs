//! Parser glue: splits the token stream into top-level declarations and parses each
//! with the lalrpop grammar. Parsing never fails: it returns the declarations it could
//! read and a diagnostic for each one it could not, so one run reports many errors.

use lalrpop_util::ParseError;

use super::generated::DeclParser;
use super::lexer::{self, LexError, LexErrorKind, Tok};
use super::span::Span;
use crate::ast;
use crate::diagnostics::{Code, Diagnostic};

/// A comment, kept for the formatter.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub span: Span,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub file: ast::File,
    pub comments: Vec<Comment>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Turns the word `sensitive` into its token where it marks a field: inside a `schema`
/// or `event` block, after what ends the field's type or default (a name, `?`, `>`, a
/// literal), and not starting a field path (not before `:` or `.`). Everywhere else it is a
/// name, as it was before the marker existed.
fn mark_sensitive(tokens: &mut [(Span, Tok<'_>)]) {
    let mut depth = 0usize;
    let mut in_fields = false;
    for i in 0..tokens.len() {
        match tokens[i].1 {
            Tok::LBrace => {
                let opens_fields = i >= 2
                    && matches!(tokens[i - 2].1, Tok::Schema | Tok::Event)
                    && matches!(tokens[i - 1].1, Tok::Ident(_));
                if opens_fields && depth == 0 {
                    in_fields = true;
                }
                depth += 1;
            }
            Tok::RBrace => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    in_fields = false;
                }
            }
            Tok::Ident("sensitive") if in_fields && depth == 1 && i > 0 => {
                // What can end a type (`string`, `string?`, `set<E>`) or a default.
                let after_value = matches!(
                    tokens[i - 1].1,
                    Tok::Ident(_)
                        | Tok::Question
                        | Tok::Gt
                        | Tok::RBrace
                        | Tok::RParen
                        | Tok::Str(_)
                        | Tok::Int(_)
                        | Tok::Float(_)
                        | Tok::Duration(_)
                        | Tok::Percent(_)
                        | Tok::True
                        | Tok::False
                );
                let starts_path =
                    matches!(tokens.get(i + 1).map(|t| &t.1), Some(Tok::Colon | Tok::Dot));
                if after_value && !starts_path {
                    tokens[i].1 = Tok::Sensitive;
                }
            }
            _ => {}
        }
    }
}

/// Parses one source file whose first byte sits at global offset `base`.
pub fn parse(source: &str, base: u32) -> Parsed {
    let lexed = lexer::lex(source, base);
    let mut parsed = Parsed::default();
    parsed
        .diagnostics
        .extend(lexed.errors.iter().map(lex_diagnostic));

    let mut tokens = Vec::with_capacity(lexed.tokens.len());
    for (span, tok) in lexed.tokens {
        match tok {
            Tok::Comment(text) => parsed.comments.push(Comment {
                span,
                text: text.to_string(),
            }),
            tok => tokens.push((span, tok)),
        }
    }

    mark_sensitive(&mut tokens);
    let parser = DeclParser::new();
    let end_of_file = base + source.len() as u32;
    for chunk in split_declarations(source, base, &tokens) {
        let Some(((first_span, first), rest)) = chunk.split_first() else {
            continue;
        };
        if !first.starts_declaration() {
            parsed.diagnostics.push(stray_text(chunk));
            continue;
        }
        if let Some(span) = too_deep(chunk) {
            parsed.diagnostics.push(
                Diagnostic::error(
                    Code::TooDeep,
                    format!("expression nested more than {MAX_NESTING} levels deep"),
                    span,
                    "too deep here",
                )
                .with_help("name parts of the condition with `def`"),
            );
            continue;
        }
        let chunk_end = rest.last().map_or(first_span.end, |(s, _)| s.end);
        match parse_chunk(&parser, chunk) {
            Ok(decl) => parsed.file.decls.push(decl),
            Err(err) => {
                if let Some((decl, stray)) =
                    complete_before_stray_line(&parser, source, base, chunk, &err)
                {
                    parsed.file.decls.push(decl);
                    parsed.diagnostics.push(stray_text(stray));
                } else {
                    parsed
                        .diagnostics
                        .push(parse_diagnostic(err, chunk_end, end_of_file));
                }
            }
        }
    }
    parsed
}

/// Deeper nesting than any policy needs; the limit keeps every later stage's recursion
/// bounded.
const MAX_NESTING: usize = 256;

/// The first token at which brackets and prefix operators nest past the limit.
fn too_deep(chunk: &[(Span, Tok<'_>)]) -> Option<Span> {
    let mut brackets: usize = 0;
    let mut prefix_run: usize = 0;
    for (span, tok) in chunk {
        match tok {
            Tok::LParen | Tok::LBrace => brackets += 1,
            Tok::RParen | Tok::RBrace => brackets = brackets.saturating_sub(1),
            _ => {}
        }
        if matches!(tok, Tok::Not | Tok::Minus) {
            prefix_run += 1;
        } else if !matches!(tok, Tok::LParen) {
            prefix_run = 0;
        }
        if brackets + prefix_run > MAX_NESTING {
            return Some(*span);
        }
    }
    None
}

type ChunkError<'src> = ParseError<u32, Tok<'src>, ()>;

fn parse_chunk<'src>(
    parser: &DeclParser,
    chunk: &[(Span, Tok<'src>)],
) -> Result<ast::Decl, ChunkError<'src>> {
    let input = chunk
        .iter()
        .map(|(span, tok)| Ok::<_, ()>((span.start, tok.clone(), span.end)));
    parser.parse(input)
}

/// A declaration followed by a line that belongs to nothing (`hello world`) fails as a
/// whole; when the part before the offending line parses, keep it and report the line.
fn complete_before_stray_line<'t, 'src>(
    parser: &DeclParser,
    source: &str,
    base: u32,
    chunk: &'t [(Span, Tok<'src>)],
    err: &ChunkError<'src>,
) -> Option<(ast::Decl, &'t [(Span, Tok<'src>)])> {
    let at = match err {
        ParseError::UnrecognizedToken {
            token: (l, _, _), ..
        }
        | ParseError::ExtraToken { token: (l, _, _) } => *l,
        _ => return None,
    };
    let index = chunk.iter().position(|(span, _)| span.start == at)?;
    let (head, tail) = chunk.split_at(index);
    let (first_span, _) = tail.first()?;
    if head.is_empty() || !at_line_start(source, base, *first_span) {
        return None;
    }
    parse_chunk(parser, head).ok().map(|decl| (decl, tail))
}

fn stray_text(tokens: &[(Span, Tok<'_>)]) -> Diagnostic {
    let first = tokens.first().map(|(s, _)| *s).unwrap_or_default();
    let last = tokens.last().map_or(first, |(s, _)| *s);
    let found = tokens
        .first()
        .map(|(_, t)| t.describe())
        .unwrap_or_default();
    Diagnostic::error(
        Code::StrayText,
        format!("expected a declaration, found {found}"),
        first.to(last),
        "this is not part of any declaration",
    )
    .with_help(
        "declarations start with `policy`, `use`, `enum`, `schema`, `def`, `tiers`, \
         `default`, `allow`, `deny`, `escalate`, `duty`, `trigger`, `service`, \
         `fixture`, `test`, `assert`, `clock` or `event`",
    )
}

/// Whether token `i` opens a new declaration, given what surrounds it.
fn opens_declaration(tokens: &[(Span, Tok<'_>)], i: usize) -> bool {
    let Some((_, tok)) = tokens.get(i) else {
        return false;
    };
    let prev = i.checked_sub(1).and_then(|p| tokens.get(p)).map(|(_, t)| t);
    let next = tokens.get(i + 1).map(|(_, t)| t);
    match tok {
        // `deny when …`, or a named rule: `deny toxic_output when …`.
        Tok::Allow | Tok::Deny | Tok::Escalate => {
            let after_name = tokens.get(i + 2).map(|(_, t)| t);
            !matches!(prev, Some(Tok::Default | Tok::Else))
                && (matches!(next, Some(Tok::When))
                    || matches!((next, after_name), (Some(Tok::Ident(_)), Some(Tok::When))))
        }
        Tok::Service | Tok::Event => matches!(next, Some(Tok::Ident(_))),
        Tok::Test | Tok::Assert => matches!(next, Some(Tok::Str(_))),
        other => other.starts_declaration(),
    }
}

fn at_line_start(source: &str, base: u32, span: Span) -> bool {
    let local = (span.start - base) as usize;
    local == 0 || source.as_bytes().get(local - 1) == Some(&b'\n')
}

/// Splits tokens at each declaration start outside brackets. A declaration keyword at
/// the very start of a line always starts a new declaration, so that an unclosed brace
/// swallows at most the declaration it is in.
fn split_declarations<'t, 'src>(
    source: &str,
    base: u32,
    tokens: &'t [(Span, Tok<'src>)],
) -> Vec<&'t [(Span, Tok<'src>)]> {
    let mut chunks = Vec::new();
    let mut depth: i32 = 0;
    let mut start = 0;
    for (i, (span, tok)) in tokens.iter().enumerate() {
        let column_zero = at_line_start(source, base, *span);
        let opens = opens_declaration(tokens, i);
        if i > start && opens && (depth <= 0 || column_zero) {
            if let Some(chunk) = tokens.get(start..i) {
                chunks.push(chunk);
            }
            start = i;
            depth = 0;
        }
        match tok {
            Tok::LBrace | Tok::LParen => depth += 1,
            Tok::RBrace | Tok::RParen => depth -= 1,
            _ => {}
        }
    }
    if let Some(chunk) = tokens.get(start..)
        && !chunk.is_empty()
    {
        chunks.push(chunk);
    }
    chunks
}

fn lex_diagnostic(err: &LexError) -> Diagnostic {
    let span = err.span;
    match &err.kind {
        LexErrorKind::UnexpectedChar => Diagnostic::error(
            Code::UnexpectedChar,
            "unexpected character",
            span,
            "no token starts with this",
        ),
        LexErrorKind::UnterminatedString => Diagnostic::error(
            Code::UnterminatedString,
            "unterminated string",
            span,
            "this string has no closing `\"` on its line",
        ),
        LexErrorKind::BadEscape(esc) => Diagnostic::error(
            Code::InvalidEscape,
            format!("invalid escape `{esc}` in string"),
            span,
            "in this string",
        )
        .with_help("the escapes are `\\n`, `\\t`, `\\\\` and `\\\"`"),
        LexErrorKind::IntTooLarge => Diagnostic::error(
            Code::NumberTooLarge,
            "integer literal does not fit in 64 bits",
            span,
            "larger than 9223372036854775807",
        ),
        LexErrorKind::DurationTooLarge => Diagnostic::error(
            Code::NumberTooLarge,
            "duration is too long",
            span,
            "more seconds than fit in 64 bits",
        ),
        LexErrorKind::BadDurationUnit(unit) => Diagnostic::error(
            Code::UnknownDurationUnit,
            format!("unknown duration unit `{unit}`"),
            span,
            "not a duration unit",
        )
        .with_help(
            "write `30s`, `10m`, `24h`, `7d`, `2w`, or a number and a unit word: `6 months`",
        ),
        LexErrorKind::BadNumber => Diagnostic::error(
            Code::InvalidNumber,
            "invalid number",
            span,
            "cannot be read as a number",
        ),
    }
}

fn wants_expression(expected: &[String]) -> bool {
    ["Ident", "Int", "\"(\""]
        .iter()
        .all(|t| expected.iter().any(|e| e == t))
}

fn describe_expected(expected: &[String]) -> String {
    if wants_expression(expected) {
        return "expected an expression".to_string();
    }
    let mut names: Vec<String> = expected.iter().map(|e| terminal_name(e)).collect();
    names.sort();
    names.dedup();
    match names.len() {
        0 => String::new(),
        1 => format!("expected {}", names.join("")),
        n if n <= 8 => format!("expected one of {}", names.join(", ")),
        _ => String::new(),
    }
}

fn terminal_name(terminal: &str) -> String {
    match terminal {
        "Ident" => "a name".to_string(),
        "Str" => "a string".to_string(),
        "Int" => "an integer".to_string(),
        "Float" => "a number".to_string(),
        "Duration" => "a duration".to_string(),
        "Percent" => "a percentage".to_string(),
        quoted => format!("`{}`", quoted.trim_matches('"')),
    }
}

fn parse_diagnostic(
    err: ParseError<u32, Tok<'_>, ()>,
    chunk_end: u32,
    file_end: u32,
) -> Diagnostic {
    match err {
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => {
            let expectation = describe_expected(&expected);
            let mut diag = Diagnostic::error(
                Code::SyntaxError,
                format!("unexpected {}", tok.describe()),
                Span::new(l, r),
                if expectation.is_empty() {
                    "not expected here".to_string()
                } else {
                    expectation
                },
            );
            if matches!(
                tok,
                Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::EqEq | Tok::NotEq | Tok::In
            ) {
                diag = diag.with_help("comparisons do not chain: write `a < b and b < c`");
            } else if tok.is_keyword()
                && expected.iter().any(|e| e == "Ident")
                && !wants_expression(&expected)
            {
                diag = diag.with_help(format!(
                    "`{}` is a keyword; keywords cannot be used as names",
                    tok.keyword_text().unwrap_or("")
                ));
            }
            diag
        }
        ParseError::UnrecognizedEof { location, expected } => {
            let expectation = describe_expected(&expected);
            let at = location.max(chunk_end).min(file_end);
            Diagnostic::error(
                Code::UnexpectedEnd,
                "declaration ends too early",
                Span::new(at, at),
                if expectation.is_empty() {
                    "the declaration is incomplete here".to_string()
                } else {
                    expectation
                },
            )
        }
        ParseError::ExtraToken { token: (l, tok, r) } => Diagnostic::error(
            Code::SyntaxError,
            format!("unexpected {}", tok.describe()),
            Span::new(l, r),
            "the declaration is already complete",
        ),
        ParseError::InvalidToken { location } => Diagnostic::error(
            Code::UnexpectedChar,
            "unexpected character",
            Span::new(location, location + 1),
            "no token starts with this",
        ),
        ParseError::User { error: () } => Diagnostic::error(
            Code::SyntaxError,
            "cannot parse this declaration",
            Span::new(chunk_end, chunk_end),
            "here",
        ),
    }
}
