//! The typed IR: what a guard computes, with `def`s inlined, names replaced by slots
//! and interned ids, and every operation typed by the kind of value it works on.
//!
//! Both engines — the reference interpreter (`interp`) and the Cranelift JIT
//! (`crate::codegen`) — read this and nothing else, and write the same
//! [`Compact`] result. The interpreter is the oracle the JIT is tested against.

mod calls;
pub mod index;
pub mod interp;
mod lower;
mod print;

use crate::ast::{CmpOp, Outcome, WindowKind};
pub use calls::{LITERAL_SET, Texts, str_call, str_set_rel, time_call};
pub use lower::lower;
pub use print::print;

/// The value kind stored in a field's slot, and how operations read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// `int` and `duration` (seconds): i64.
    Int,
    /// `float` and `percent`: f64.
    Float,
    /// An interned string id.
    Str,
    /// An enum member index.
    Enum,
    /// The tier index.
    Tier,
}

/// How a schema field is stored and read from JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Bool,
    Int,
    Float,
    Str,
    /// Whole seconds, written in JSON as an integer.
    Duration,
    /// Seconds since 1970-01-01T00:00:00Z, written in JSON as RFC 3339 text with an
    /// offset.
    Timestamp,
    /// Percent units, written in JSON as a number (`5` is 5%).
    Percent,
    Enum(usize),
    /// Bit `i` set when member `i` is in the set.
    EnumSet(usize),
    /// An index into the record's string sets.
    StrSet,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub path: String,
    /// `path` split at dots, for walking nested JSON.
    pub segments: Vec<String>,
    pub ty: FieldType,
    pub optional: bool,
    /// A schema default, as the slot holds it: an absent field takes it.
    pub default: Option<u64>,
    /// The policy's clock: an absent value is the time of the decision.
    pub clock: bool,
    /// Marked `sensitive` in the schema: masked wherever requests are logged.
    pub sensitive: bool,
}

impl Field {
    /// Whether a request without this field is invalid: neither optional nor given a
    /// default.
    pub fn required(&self) -> bool {
        !self.optional && self.default.is_none() && !self.clock
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Enum {
    pub name: String,
    pub members: Vec<String>,
}

/// A source location, kept so decisions can point at the policy text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Loc {
    pub line: u32,
    pub column: u32,
}

/// An operation that can fail at run time (overflow, division by zero), remembered so
/// a failed request says where.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub loc: Loc,
    /// The operation as written, white space folded, cut after 48 characters.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Debug, PartialEq)]
pub enum Expr {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// An interned literal string.
    Str(u32),
    Enum(u32),
    Tier(u32),
    /// A required field's value, or a present optional one under `Coalesce`.
    Load {
        slot: u32,
        kind: Kind,
    },
    Has {
        slot: u32,
    },
    Coalesce {
        slot: u32,
        kind: Kind,
        default: Box<Expr>,
    },
    Degraded,
    CurrentTier,
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp {
        op: CmpOp,
        kind: Kind,
        a: Box<Expr>,
        b: Box<Expr>,
    },
    Arith {
        op: ArithOp,
        kind: Kind,
        a: Box<Expr>,
        b: Box<Expr>,
        site: u32,
    },
    Neg {
        kind: Kind,
        a: Box<Expr>,
        site: u32,
    },
    IntToFloat(Box<Expr>),
    /// Member of a `set<enum>` field.
    InEnumSet {
        elem: Box<Expr>,
        slot: u32,
    },
    /// Member of a `set<string>` field.
    InStrSet {
        elem: Box<Expr>,
        slot: u32,
    },
    /// Enum member (or tier) in a constant set: bit `value` of `mask`.
    InMask {
        elem: Box<Expr>,
        mask: u64,
    },
    /// Equal to one of the items, tried left to right.
    InList {
        elem: Box<Expr>,
        kind: Kind,
        items: Vec<Expr>,
    },
    /// A string function: `Policy::str_calls[call]` says which, over the texts of the
    /// interned ids `a` and `b` (`b` a packed `set<string>` for `StrFunc::InSet`).
    /// Bool, or int for `StrFunc::Len`. An engine that cannot run it (out of memory)
    /// fails closed at `site`.
    StrCall {
        call: u32,
        a: Box<Expr>,
        b: Option<Box<Expr>>,
        site: u32,
    },
    /// A `set<string>` literal of the policy: `Policy::str_sets[index]`, read only by
    /// `SetRel`.
    StrSet(u32),
    /// `contains_any` (`all: false`) or `contains_all` (`all: true`) of two sets: bit
    /// masks for `set<enum>`, packed `set<string>` slots or `StrSet` literals for
    /// strings.
    SetRel {
        all: bool,
        strings: bool,
        a: Box<Expr>,
        b: Box<Expr>,
    },
    /// The number of members of a `set<enum>` mask or a packed `set<string>` slot.
    SetLen {
        strings: bool,
        a: Box<Expr>,
    },
    /// `abs`: of the smallest int it overflows at `site`.
    Abs {
        kind: Kind,
        a: Box<Expr>,
        site: u32,
    },
    /// `min` (`b` when `b < a`, else `a`) or `max` (`b` when `b > a`, else `a`).
    MinMax {
        max: bool,
        kind: Kind,
        a: Box<Expr>,
        b: Box<Expr>,
    },
    /// `int(f)`: truncation toward zero; NaN or outside the int range overflows at
    /// `site`.
    FloatToInt {
        a: Box<Expr>,
        site: u32,
    },
    /// `hour_of_day(a, zone)` (int) or `weekday(a, zone)` (the member index, Monday 0)
    /// in `Calls::zones[zone]`; a local time past the int range overflows at `site`.
    TimeCall {
        weekday: bool,
        zone: u32,
        a: Box<Expr>,
        site: u32,
    },
}

/// What a string call computes. The case mappings apply to each operand's text first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrCall {
    pub func: StrFunc,
    pub a_cases: Vec<crate::builtins::strings::Case>,
    pub b_cases: Vec<crate::builtins::strings::Case>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrFunc {
    StartsWith,
    EndsWith,
    Contains,
    /// `==` with a case mapping on either side.
    Equals,
    /// Whether the pattern `Policy::patterns[i]` matches anywhere.
    Matches(u32),
    /// The length in characters.
    Len,
    /// Member of the `set<string>` `b`, after `a_cases` (the items are compared as
    /// they are).
    InSet,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub name: String,
    pub cond: Option<Expr>,
    pub cite: Option<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The rule's name, or its content id (`check::program::Rule::id`).
    pub id: String,
    pub outcome: Outcome,
    pub cond: Expr,
    pub because: String,
    pub cite: Option<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Require {
    pub cond: Expr,
    pub outcome: Outcome,
    pub message: String,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub recipient: String,
    pub within_secs: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Duty {
    pub name: String,
    /// Bit `t` set when the duty applies in tier `t`; `None` when any tier will do.
    pub tier_mask: Option<u64>,
    pub when: Option<Expr>,
    pub requires: Vec<Require>,
    /// Index of this duty's first requirement in the result's require bits.
    pub first_require: usize,
    pub retain_secs: Option<u64>,
    pub reports: Vec<Report>,
    pub notices: Vec<String>,
    pub cites: Vec<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Threshold {
    Count(i64),
    Rate(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Suspend {
        service: usize,
        for_secs: Option<u64>,
    },
    Degrade {
        service: usize,
    },
    Notify {
        channel: String,
    },
    Report {
        recipient: String,
        within_secs: u64,
        /// One report per counted event (an event trigger's `per event`).
        per_event: bool,
    },
    /// `key_slot` is the request field blocked (an event trigger reads its key from the
    /// event's `by` field, of the same path).
    Block {
        key_slot: u32,
        for_secs: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub name: String,
    pub kind: WindowKind,
    /// The predicate the guard evaluates for every valid decision.
    pub cond: Expr,
    pub within_secs: u64,
    pub by_slot: Option<u32>,
    pub op: CmpOp,
    pub threshold: Threshold,
    /// The least number of decisions in the window for a rate to hold (0: none).
    pub min_decisions: u64,
    pub actions: Vec<Action>,
    pub cites: Vec<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub fallback: Option<String>,
    pub recovery: Option<crate::check::program::Recovery>,
    pub cites: Vec<String>,
    pub loc: Loc,
}

/// A compiled policy, ready for an engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub version: String,
    pub enums: Vec<Enum>,
    /// One slot per field, in schema order.
    pub fields: Vec<Field>,
    /// Interned string literals; a literal's id is its index. Request strings that are
    /// not literals get ids from `strings.len()` upwards, per request.
    pub strings: Vec<String>,
    pub tiers: Vec<Tier>,
    pub default: Outcome,
    pub rules: Vec<Rule>,
    pub duties: Vec<Duty>,
    pub triggers: Vec<Trigger>,
    pub services: Vec<Service>,
    pub sites: Vec<Site>,
    /// The clock field's slot, when the policy reads time.
    pub clock_slot: Option<u32>,
    pub calls: Calls,
    pub layout: Layout,
    /// The event kinds the policy declares.
    pub events: Vec<EventKind>,
    /// What `bylaw verify` proves; no engine evaluates these.
    pub assertions: Vec<Assertion>,
}

/// `assert "NAME" { when COND expect … }`: every valid request where `when` holds is
/// decided as each expectation says.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub name: String,
    pub when: Expr,
    pub expect: Vec<crate::check::program::Expect>,
    pub loc: Loc,
}

/// An event kind, compiled as a policy of its own: its fields are the event's, and its
/// triggers are the ones that count this kind (their predicates over the event).
#[derive(Debug, Clone, PartialEq)]
pub struct EventKind {
    pub name: String,
    pub policy: Policy,
    /// The event's `id` field.
    pub id_slot: Option<u32>,
    /// The event's `aware_at` field.
    pub aware_slot: Option<u32>,
    pub loc: Loc,
}

/// The tables string functions read at run time, shared by the interpreter and the
/// JIT's helper (which keeps its own copy, so a guard does not borrow its policy).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Calls {
    pub str_calls: Vec<StrCall>,
    pub patterns: Vec<std::sync::Arc<crate::builtins::pattern::Pattern>>,
    /// `set<string>` literals as sorted, distinct literal ids.
    pub str_sets: Vec<Vec<u32>>,
    pub zones: Vec<crate::builtins::time::Zone>,
}

/// Where each part of the compact result lives, in 64-bit words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub rules: usize,
    pub duties: usize,
    pub requires: usize,
    pub triggers: usize,
    pub words: usize,
}

impl Layout {
    pub const STATUS: usize = 0;
    pub const SITE: usize = 1;
    pub const TIER: usize = 2;
    pub const OUTCOME: usize = 3;
    const HEADER: usize = 4;

    pub fn new(rules: usize, duties: usize, requires: usize, triggers: usize) -> Self {
        let words = |n: usize| n.div_ceil(64);
        let rules_at = Self::HEADER;
        let duties_at = rules_at + words(rules);
        let requires_at = duties_at + words(duties);
        let triggers_at = requires_at + words(requires);
        Layout {
            rules: rules_at,
            duties: duties_at,
            requires: requires_at,
            triggers: triggers_at,
            words: triggers_at + words(triggers),
        }
    }
}

/// Status word values of a [`Compact`] result.
pub mod status {
    pub const OK: u64 = 0;
    pub const OVERFLOW: u64 = 1;
    pub const DIVISION_BY_ZERO: u64 = 2;
    /// Reserved for a C module's invalid request (`BYLAW_INVALID`).
    pub const INVALID: u64 = 3;
    /// A string function could not get the memory it needed (the C module only).
    pub const OUT_OF_MEMORY: u64 = 4;
}

/// No tier: the policy has no `tiers` block, or the request was not judged.
pub const NO_TIER: u64 = u64::MAX;

/// Outcome codes in the result, ordered by severity.
pub fn outcome_code(outcome: Outcome) -> u64 {
    match outcome {
        Outcome::Allow => 0,
        Outcome::Escalate => 1,
        Outcome::Deny => 2,
    }
}

pub fn outcome_from_code(code: u64) -> Outcome {
    match code {
        0 => Outcome::Allow,
        1 => Outcome::Escalate,
        _ => Outcome::Deny,
    }
}

/// What an engine writes: a status, the failing site, the tier, the outcome, and bit
/// sets of fired rules, applying duties, fired requirements and trigger predicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compact {
    pub words: Vec<u64>,
}

impl Compact {
    pub fn new(layout: &Layout) -> Self {
        Compact {
            words: vec![0; layout.words],
        }
    }

    pub fn reset(&mut self) {
        self.words.fill(0);
    }

    #[inline]
    pub fn word(&self, index: usize) -> u64 {
        self.words.get(index).copied().unwrap_or(0)
    }

    pub fn set_bit(&mut self, base: usize, bit: usize) {
        if let Some(word) = self.words.get_mut(base + bit / 64) {
            *word |= 1 << (bit % 64);
        }
    }

    #[inline]
    pub fn bit(&self, base: usize, bit: usize) -> bool {
        self.word(base + bit / 64) & (1 << (bit % 64)) != 0
    }

    #[inline]
    pub fn status(&self) -> u64 {
        self.word(Layout::STATUS)
    }

    #[inline]
    pub fn tier(&self) -> Option<usize> {
        let t = self.word(Layout::TIER);
        (t != NO_TIER).then_some(t as usize)
    }

    #[inline]
    pub fn outcome(&self) -> Outcome {
        outcome_from_code(self.word(Layout::OUTCOME))
    }
}

impl Expr {
    /// Constants and single reads: nodes without children.
    pub(crate) fn is_leaf(&self) -> bool {
        matches!(
            self,
            Expr::Bool(_)
                | Expr::Int(_)
                | Expr::Float(_)
                | Expr::Str(_)
                | Expr::Enum(_)
                | Expr::Tier(_)
                | Expr::Load { .. }
                | Expr::Has { .. }
                | Expr::Degraded
                | Expr::CurrentTier
                | Expr::StrSet(_)
        )
    }
}

impl Expr {
    /// The direct sub-expressions, in evaluation order.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Coalesce { default: a, .. }
            | Expr::Not(a)
            | Expr::Neg { a, .. }
            | Expr::IntToFloat(a)
            | Expr::InEnumSet { elem: a, .. }
            | Expr::InStrSet { elem: a, .. }
            | Expr::InMask { elem: a, .. }
            | Expr::SetLen { a, .. }
            | Expr::Abs { a, .. }
            | Expr::FloatToInt { a, .. }
            | Expr::TimeCall { a, .. }
            | Expr::StrCall { a, b: None, .. } => vec![a],
            Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Cmp { a, b, .. }
            | Expr::Arith { a, b, .. }
            | Expr::SetRel { a, b, .. }
            | Expr::MinMax { a, b, .. }
            | Expr::StrCall { a, b: Some(b), .. } => vec![a, b],
            Expr::InList { elem, items, .. } => {
                std::iter::once(&**elem).chain(items.iter()).collect()
            }
            _ => Vec::new(),
        }
    }
}

// By hand, so that cloning a tree thousands deep (defs are inlined by cloning) cannot
// overflow the stack.
impl Clone for Expr {
    fn clone(&self) -> Self {
        let b = |e: &Expr| Box::new(e.clone());
        crate::tree_drop::with_stack(|| match self {
            Expr::Bool(v) => Expr::Bool(*v),
            Expr::Int(v) => Expr::Int(*v),
            Expr::Float(v) => Expr::Float(*v),
            Expr::Str(v) => Expr::Str(*v),
            Expr::Enum(v) => Expr::Enum(*v),
            Expr::Tier(v) => Expr::Tier(*v),
            Expr::Load { slot, kind } => Expr::Load {
                slot: *slot,
                kind: *kind,
            },
            Expr::Has { slot } => Expr::Has { slot: *slot },
            Expr::Coalesce {
                slot,
                kind,
                default,
            } => Expr::Coalesce {
                slot: *slot,
                kind: *kind,
                default: b(default),
            },
            Expr::Degraded => Expr::Degraded,
            Expr::CurrentTier => Expr::CurrentTier,
            Expr::Not(a) => Expr::Not(b(a)),
            Expr::And(x, y) => Expr::And(b(x), b(y)),
            Expr::Or(x, y) => Expr::Or(b(x), b(y)),
            Expr::Cmp { op, kind, a, b: y } => Expr::Cmp {
                op: *op,
                kind: *kind,
                a: b(a),
                b: b(y),
            },
            Expr::Arith {
                op,
                kind,
                a,
                b: y,
                site,
            } => Expr::Arith {
                op: *op,
                kind: *kind,
                a: b(a),
                b: b(y),
                site: *site,
            },
            Expr::Neg { kind, a, site } => Expr::Neg {
                kind: *kind,
                a: b(a),
                site: *site,
            },
            Expr::IntToFloat(a) => Expr::IntToFloat(b(a)),
            Expr::InEnumSet { elem, slot } => Expr::InEnumSet {
                elem: b(elem),
                slot: *slot,
            },
            Expr::InStrSet { elem, slot } => Expr::InStrSet {
                elem: b(elem),
                slot: *slot,
            },
            Expr::InMask { elem, mask } => Expr::InMask {
                elem: b(elem),
                mask: *mask,
            },
            Expr::InList { elem, kind, items } => Expr::InList {
                elem: b(elem),
                kind: *kind,
                items: items.clone(),
            },
            Expr::StrCall {
                call,
                a,
                b: y,
                site,
            } => Expr::StrCall {
                call: *call,
                a: b(a),
                b: y.as_deref().map(b),
                site: *site,
            },
            Expr::StrSet(i) => Expr::StrSet(*i),
            Expr::SetRel {
                all,
                strings,
                a,
                b: y,
            } => Expr::SetRel {
                all: *all,
                strings: *strings,
                a: b(a),
                b: b(y),
            },
            Expr::SetLen { strings, a } => Expr::SetLen {
                strings: *strings,
                a: b(a),
            },
            Expr::Abs { kind, a, site } => Expr::Abs {
                kind: *kind,
                a: b(a),
                site: *site,
            },
            Expr::MinMax { max, kind, a, b: y } => Expr::MinMax {
                max: *max,
                kind: *kind,
                a: b(a),
                b: b(y),
            },
            Expr::FloatToInt { a, site } => Expr::FloatToInt {
                a: b(a),
                site: *site,
            },
            Expr::TimeCall {
                weekday,
                zone,
                a,
                site,
            } => Expr::TimeCall {
                weekday: *weekday,
                zone: *zone,
                a: b(a),
                site: *site,
            },
        })
    }
}

impl crate::tree_drop::Tree for Expr {
    fn is_leaf(&self) -> bool {
        Expr::is_leaf(self)
    }

    fn take_children(&mut self, out: &mut Vec<Expr>) {
        // Leaf children stay where they are: dropping them cannot recurse.
        let mut take = |child: &mut Expr| {
            if !child.is_leaf() {
                out.push(std::mem::replace(child, Expr::Degraded));
            }
        };
        match self {
            Expr::Coalesce { default: a, .. }
            | Expr::Not(a)
            | Expr::Neg { a, .. }
            | Expr::IntToFloat(a)
            | Expr::InEnumSet { elem: a, .. }
            | Expr::InStrSet { elem: a, .. }
            | Expr::InMask { elem: a, .. }
            | Expr::SetLen { a, .. }
            | Expr::Abs { a, .. }
            | Expr::FloatToInt { a, .. }
            | Expr::TimeCall { a, .. }
            | Expr::StrCall { a, b: None, .. } => take(a),
            Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Cmp { a, b, .. }
            | Expr::Arith { a, b, .. }
            | Expr::SetRel { a, b, .. }
            | Expr::MinMax { a, b, .. }
            | Expr::StrCall { a, b: Some(b), .. } => {
                take(a);
                take(b);
            }
            Expr::InList { elem, items, .. } => {
                take(elem);
                items.iter_mut().for_each(take);
            }
            _ => {}
        }
    }
}

impl Drop for Expr {
    fn drop(&mut self) {
        crate::tree_drop::drop_iteratively(self);
    }
}

impl Compact {
    /// A request that could not be judged: fail closed, keeping only why.
    pub fn fail(&mut self, status: u64, site: u32) {
        self.words.fill(0);
        if let Some(w) = self.words.get_mut(Layout::STATUS) {
            *w = status;
        }
        if let Some(w) = self.words.get_mut(Layout::SITE) {
            *w = u64::from(site);
        }
        if let Some(w) = self.words.get_mut(Layout::TIER) {
            *w = NO_TIER;
        }
        if let Some(w) = self.words.get_mut(Layout::OUTCOME) {
            *w = outcome_code(crate::ast::Outcome::Deny);
        }
    }
}
