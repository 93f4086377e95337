//! Source text to an untyped syntax tree: lexing, splitting into declarations, parsing.

pub mod lexer;
pub mod parser;
pub mod span;

#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unused_qualifications,
    dead_code
)]
mod grammar {
    lalrpop_util::lalrpop_mod!(pub bylaw);
}

pub(crate) use grammar::bylaw as generated;
