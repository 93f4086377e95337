//! What string and set functions compute over a record, in one place: the interpreter
//! calls these directly, and the JIT's helpers call them from native code, so both
//! engines give one answer (the C module has its own implementation, held to the same
//! answers by the differential tests).

use super::{Calls, StrCall, StrFunc};
use crate::builtins::strings::{self, Case};
use crate::runtime::record::Record;

/// A `set<string>` value with this bit set is the policy's literal `str_sets[low
/// bits]`; without it, a record's packed `offset << 32 | len` (offsets stay below
/// 2^31, so the two never meet).
pub const LITERAL_SET: u64 = 1 << 63;

/// The texts a call reads: the policy's literals and the record's own strings.
#[derive(Clone, Copy)]
pub struct Texts<'a> {
    pub literals: &'a [String],
    pub record: &'a Record,
}

impl<'a> Texts<'a> {
    /// The text of an interned id; an id no engine can produce reads as `""`.
    fn text(&self, id: u64) -> &'a str {
        self.record.text_among(self.literals, id).unwrap_or("")
    }

    /// The literal ids of a `set<string>` value, sorted and distinct.
    fn set(&self, calls: &'a Calls, value: u64) -> &'a [u32] {
        if value & LITERAL_SET != 0 {
            let index = (value & !LITERAL_SET) as usize;
            calls.str_sets.get(index).map_or(&[], Vec::as_slice)
        } else {
            self.record.str_set(value)
        }
    }
}

/// Runs the string call `spec` (one of `calls.str_calls`) on the operands `a` (a string
/// id) and `b` (a string id, or a `set<string>` value for `StrFunc::InSet`): 0 or 1 for
/// a test, or a length.
#[inline]
pub fn str_call(calls: &Calls, texts: Texts<'_>, spec: &StrCall, a: u64, b: u64) -> i64 {
    let text = |id: u64, cases: &[Case]| strings::apply(texts.text(id), cases);
    let x = text(a, &spec.a_cases);
    let test = match spec.func {
        StrFunc::Len => return strings::length(&x),
        StrFunc::Matches(p) => calls
            .patterns
            .get(p as usize)
            .is_some_and(|pattern| pattern.search(&x)),
        StrFunc::InSet => texts
            .set(calls, b)
            .iter()
            .any(|&id| texts.text(u64::from(id)) == x),
        StrFunc::StartsWith => x.starts_with(&*text(b, &spec.b_cases)),
        StrFunc::EndsWith => x.ends_with(&*text(b, &spec.b_cases)),
        StrFunc::Contains => x.contains(&*text(b, &spec.b_cases)),
        StrFunc::Equals => x == text(b, &spec.b_cases),
    };
    i64::from(test)
}

/// `hour_of_day` or `weekday` of `t` in `calls.zones[zone]`, or `None` when the local
/// time is past the int range.
pub fn time_call(calls: &Calls, weekday: bool, zone: u32, t: i64) -> Option<i64> {
    let offset = calls.zones.get(zone as usize).map_or(0, |z| z.offset(t));
    crate::builtins::time::local(t, offset, weekday)
}

/// `contains_all(a, b)` (`all`) or `contains_any(a, b)` of two `set<string>` values.
pub fn str_set_rel(calls: &Calls, texts: Texts<'_>, all: bool, a: u64, b: u64) -> bool {
    let (a, b) = (texts.set(calls, a), texts.set(calls, b));
    // Equal strings have equal ids (a request's strings are interned against the
    // policy's literals first), and both sides are sorted: one merge answers either.
    if all {
        b.iter().all(|x| a.binary_search(x).is_ok())
    } else {
        b.iter().any(|x| a.binary_search(x).is_ok())
    }
}
