//! What the language's built-in types and functions mean, in one place for every stage
//! that needs it — the checker (literals, zones, patterns), the IR and both engines, the
//! JSON decoder and the C module's generator: `pattern` (regular expressions for
//! `matches`), `strings` (case mapping, length), `time` (timestamps, dates, zones).

pub mod pattern;
pub mod strings;
pub mod time;
