//! The lexer: source text to tokens with byte spans, built on logos.
//!
//! Two decisions live here rather than in the grammar:
//! - a number directly followed by a unit word on the same line (`6 months`) becomes
//!   one duration token, so unit words stay usable as names elsewhere;
//! - comments are kept as tokens (the formatter needs them) and dropped before parsing.

use logos::Logos;

use super::span::Span;

/// Seconds in each duration unit. A month is 30 days and a year 365, as the brief says.
const SECOND: u64 = 1;
const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

#[derive(Debug, Clone, PartialEq, Default)]
pub enum LexErrorKind {
    #[default]
    UnexpectedChar,
    UnterminatedString,
    BadEscape(String),
    IntTooLarge,
    BadDurationUnit(String),
    DurationTooLarge,
    BadNumber,
}

#[derive(Logos, Debug, Clone, PartialEq)]
#[logos(error = LexErrorKind)]
// A UTF-8 byte-order mark (editors on Windows write one) is white space.
#[logos(skip r"[ \t\r\n\f\u{FEFF}]+")]
pub enum Tok<'src> {
    #[regex(r"//[^\n]*", allow_greedy = true)]
    Comment(&'src str),

    #[token("policy")]
    Policy,
    #[token("version")]
    Version,
    #[token("use")]
    Use,
    #[token("enum")]
    Enum,
    #[token("schema")]
    Schema,
    #[token("def")]
    Def,
    #[token("tiers")]
    Tiers,
    #[token("tier")]
    Tier,
    #[token("when")]
    When,
    #[token("otherwise")]
    Otherwise,
    #[token("cite")]
    Cite,
    #[token("default")]
    Default,
    #[token("allow")]
    Allow,
    #[token("deny")]
    Deny,
    #[token("escalate")]
    Escalate,
    #[token("because")]
    Because,
    #[token("duty")]
    Duty,
    #[token("applies")]
    Applies,
    #[token("to")]
    To,
    #[token("require")]
    Require,
    #[token("else")]
    Else,
    #[token("retain")]
    Retain,
    #[token("report")]
    Report,
    #[token("within")]
    Within,
    #[token("notice")]
    Notice,
    #[token("trigger")]
    Trigger,
    #[token("count")]
    Count,
    #[token("rate")]
    Rate,
    #[token("by")]
    By,
    #[token("then")]
    Then,
    #[token("suspend")]
    Suspend,
    #[token("for")]
    For,
    #[token("degrade")]
    Degrade,
    #[token("notify")]
    Notify,
    #[token("block")]
    Block,
    #[token("service")]
    Service,
    #[token("fallback")]
    Fallback,
    #[token("recovery")]
    Recovery,
    #[token("cooldown")]
    Cooldown,
    #[token("approve")]
    Approve,
    #[token("ramp")]
    Ramp,
    #[token("every")]
    Every,
    #[token("timeout")]
    Timeout,
    #[token("fixture")]
    Fixture,
    #[token("test")]
    Test,
    #[token("given")]
    Given,
    #[token("expect")]
    Expect,
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("not")]
    Not,
    #[token("in")]
    In,
    #[token("has")]
    Has,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("null")]
    Null,
    #[token("set")]
    Set,
    #[token("clock")]
    Clock,
    #[token("effective")]
    Effective,
    #[token("event")]
    Event,
    #[token("where")]
    Where,
    #[token("assert")]
    Assert,
    /// `sensitive` after a field's type in a schema: a contextual word, made this
    /// token by the parser only there (`parser::mark_sensitive`), so that it stays a
    /// name everywhere else (`duty sensitive`).
    Sensitive,

    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'src str),

    #[regex(r#""([^"\\\n]|\\[^\n])*""#, unescape)]
    #[regex(r#""([^"\\\n]|\\[^\n])*"#, unterminated)]
    Str(String),

    #[regex(r"[0-9]+", |lex| lex.slice().parse::<i64>().map_err(|_| LexErrorKind::IntTooLarge))]
    Int(i64),

    #[regex(r"[0-9]+\.[0-9]+", |lex| finite(lex.slice()))]
    Float(f64),

    /// A whole number of seconds.
    #[regex(r"[0-9]+[A-Za-z_][A-Za-z0-9_]*", compact_duration)]
    Duration(u64),

    #[regex(r"[0-9]+(\.[0-9]+)?%", |lex| finite(lex.slice().trim_end_matches('%')))]
    Percent(f64),

    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token("::")]
    ColonColon,
    #[token(".")]
    Dot,
    #[token("=")]
    Assign,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    /// `%`, the checked remainder (language v1). Right after digits, `5%` is a
    /// percentage (the longer match), so a remainder of a number is written `7 % 2`.
    #[token("%")]
    PercentSign,
    #[token("?")]
    Question,
    #[token("??")]
    QuestionQuestion,
}

/// A decimal literal; one too large for a 64-bit float is an error, not infinity.
fn finite(text: &str) -> Result<f64, LexErrorKind> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err(LexErrorKind::BadNumber),
    }
}

fn unterminated<'src>(_: &mut logos::Lexer<'src, Tok<'src>>) -> Result<String, LexErrorKind> {
    Err(LexErrorKind::UnterminatedString)
}

fn unescape<'src>(lex: &mut logos::Lexer<'src, Tok<'src>>) -> Result<String, LexErrorKind> {
    let raw = lex.slice();
    let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some(other) => return Err(LexErrorKind::BadEscape(format!("\\{other}"))),
            None => return Err(LexErrorKind::BadEscape("\\".to_string())),
        }
    }
    Ok(out)
}

fn compact_duration<'src>(lex: &mut logos::Lexer<'src, Tok<'src>>) -> Result<u64, LexErrorKind> {
    let text = lex.slice();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let per_unit = match unit {
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        "d" => DAY,
        "w" => 7 * DAY,
        other => return Err(LexErrorKind::BadDurationUnit(other.to_string())),
    };
    let amount: u64 = digits.parse().map_err(|_| LexErrorKind::DurationTooLarge)?;
    amount
        .checked_mul(per_unit)
        .ok_or(LexErrorKind::DurationTooLarge)
}

/// The number of seconds in one of a spelled-out unit (`days`, `month`…), if it is one.
pub fn unit_word_seconds(word: &str) -> Option<u64> {
    Some(match word {
        "second" | "seconds" => SECOND,
        "minute" | "minutes" => MINUTE,
        "hour" | "hours" => HOUR,
        "day" | "days" => DAY,
        "week" | "weeks" => 7 * DAY,
        "month" | "months" => 30 * DAY,
        "year" | "years" => 365 * DAY,
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct LexError {
    pub kind: LexErrorKind,
    pub span: Span,
}

/// Every token of a source, comments included, and the lexing errors.
#[derive(Debug, Default)]
pub struct Lexed<'src> {
    pub tokens: Vec<(Span, Tok<'src>)>,
    pub errors: Vec<LexError>,
}

/// Lex `source`, whose first byte sits at global offset `base`.
pub fn lex(source: &str, base: u32) -> Lexed<'_> {
    let mut out = Lexed::default();
    let mut lexer = Tok::lexer(source);
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        let span = Span::new(base + range.start as u32, base + range.end as u32);
        match result {
            Ok(tok) => out.tokens.push((span, tok)),
            Err(kind) => out.errors.push(LexError { kind, span }),
        }
    }
    merge_unit_words(source, base, &mut out.tokens, &mut out.errors);
    out
}

/// `6 months` → one duration token, when the unit word follows on the same line.
fn merge_unit_words<'src>(
    source: &str,
    base: u32,
    tokens: &mut Vec<(Span, Tok<'src>)>,
    errors: &mut Vec<LexError>,
) {
    let mut merged = Vec::with_capacity(tokens.len());
    let mut iter = std::mem::take(tokens).into_iter().peekable();
    while let Some((span, tok)) = iter.next() {
        if let Tok::Int(amount) = tok
            && let Some((next_span, Tok::Ident(word))) = iter.peek()
            && let Some(per_unit) = unit_word_seconds(word)
            && same_line(source, base, span, *next_span)
        {
            let whole = Span::new(span.start, next_span.end);
            iter.next();
            match u64::try_from(amount)
                .ok()
                .and_then(|a| a.checked_mul(per_unit))
            {
                Some(seconds) => merged.push((whole, Tok::Duration(seconds))),
                None => errors.push(LexError {
                    kind: LexErrorKind::DurationTooLarge,
                    span: whole,
                }),
            }
            continue;
        }
        merged.push((span, tok));
    }
    *tokens = merged;
}

fn same_line(source: &str, base: u32, a: Span, b: Span) -> bool {
    let from = (a.end - base) as usize;
    let to = (b.start - base) as usize;
    source.get(from..to).is_some_and(|gap| !gap.contains('\n'))
}

impl Tok<'_> {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Comment(_) => "a comment".to_string(),
            Tok::Ident(name) => format!("`{name}`"),
            Tok::Str(_) => "a string".to_string(),
            Tok::Int(_) => "an integer".to_string(),
            Tok::Float(_) => "a number".to_string(),
            Tok::Duration(_) => "a duration".to_string(),
            Tok::Percent(_) => "a percentage".to_string(),
            other => format!("`{}`", other.keyword_text().unwrap_or("?")),
        }
    }

    /// The fixed text of keywords and punctuation.
    pub fn keyword_text(&self) -> Option<&'static str> {
        Some(match self {
            Tok::Policy => "policy",
            Tok::Version => "version",
            Tok::Use => "use",
            Tok::Enum => "enum",
            Tok::Schema => "schema",
            Tok::Def => "def",
            Tok::Tiers => "tiers",
            Tok::Tier => "tier",
            Tok::When => "when",
            Tok::Otherwise => "otherwise",
            Tok::Cite => "cite",
            Tok::Default => "default",
            Tok::Allow => "allow",
            Tok::Deny => "deny",
            Tok::Escalate => "escalate",
            Tok::Because => "because",
            Tok::Duty => "duty",
            Tok::Applies => "applies",
            Tok::To => "to",
            Tok::Require => "require",
            Tok::Else => "else",
            Tok::Retain => "retain",
            Tok::Report => "report",
            Tok::Within => "within",
            Tok::Notice => "notice",
            Tok::Trigger => "trigger",
            Tok::Count => "count",
            Tok::Rate => "rate",
            Tok::By => "by",
            Tok::Then => "then",
            Tok::Suspend => "suspend",
            Tok::For => "for",
            Tok::Degrade => "degrade",
            Tok::Notify => "notify",
            Tok::Block => "block",
            Tok::Service => "service",
            Tok::Fallback => "fallback",
            Tok::Recovery => "recovery",
            Tok::Cooldown => "cooldown",
            Tok::Approve => "approve",
            Tok::Ramp => "ramp",
            Tok::Every => "every",
            Tok::Timeout => "timeout",
            Tok::Fixture => "fixture",
            Tok::Test => "test",
            Tok::Given => "given",
            Tok::Expect => "expect",
            Tok::And => "and",
            Tok::Or => "or",
            Tok::Not => "not",
            Tok::In => "in",
            Tok::Has => "has",
            Tok::True => "true",
            Tok::False => "false",
            Tok::Null => "null",
            Tok::Set => "set",
            Tok::Clock => "clock",
            Tok::Effective => "effective",
            Tok::Event => "event",
            Tok::Where => "where",
            Tok::Assert => "assert",
            Tok::Sensitive => "sensitive",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Comma => ",",
            Tok::Colon => ":",
            Tok::ColonColon => "::",
            Tok::Dot => ".",
            Tok::Assign => "=",
            Tok::EqEq => "==",
            Tok::NotEq => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::PercentSign => "%",
            Tok::Question => "?",
            Tok::QuestionQuestion => "??",
            Tok::Comment(_)
            | Tok::Ident(_)
            | Tok::Str(_)
            | Tok::Int(_)
            | Tok::Float(_)
            | Tok::Duration(_)
            | Tok::Percent(_) => return None,
        })
    }

    /// Whether the token begins a top-level declaration.
    pub fn starts_declaration(&self) -> bool {
        matches!(
            self,
            Tok::Policy
                | Tok::Use
                | Tok::Enum
                | Tok::Schema
                | Tok::Def
                | Tok::Tiers
                | Tok::Default
                | Tok::Allow
                | Tok::Deny
                | Tok::Escalate
                | Tok::Duty
                | Tok::Trigger
                | Tok::Service
                | Tok::Fixture
                | Tok::Test
                | Tok::Clock
                | Tok::Event
                | Tok::Assert
        )
    }

    /// Keywords may still name things after a `.` in a field path (`usage.count`).
    pub fn is_keyword(&self) -> bool {
        self.keyword_text()
            .is_some_and(|text| text.starts_with(|c: char| c.is_ascii_alphabetic()))
    }
}
