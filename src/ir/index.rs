//! Rule indexing: which rules a compiled guard need evaluate for a request.
//!
//! A rule whose condition is a conjunction with one conjunct testing a field against
//! constants — `model.id == "x"`, `tenant in {"a", "b"}`, `region in {EU, UK}` — can
//! fire only when that field holds one of those constants. Rules sharing such a field
//! form a group; the guard reads the field once and jumps straight to the rules keyed
//! by its value (string literals and enum members are small dense ids, so the value
//! itself indexes the jump table: a perfect hash). Every other rule is scanned, as
//! before.
//!
//! Only rules that cannot fail are indexed: skipping a rule is then invisible, because
//! a rule that is not evaluated could only have fired or not, never failed the
//! decision at its site. The interpreter ignores all of this and evaluates every rule;
//! the differential tests hold the two to the same answers.

use std::collections::BTreeMap;

use super::{Expr, Kind, Policy};
use crate::ast::CmpOp;

/// Below this many rules the guard scans them all: a dispatch costs more than the few
/// rules it would skip.
pub const MIN_RULES: usize = 64;

/// The fewest rules a field must key for its group to be worth a dispatch.
pub const MIN_GROUP: usize = 8;

/// A rule keyed by more constants than this is scanned: each constant copies the
/// rule's code into one more bucket.
pub const MAX_KEYS: usize = 16;

/// How a policy's rules are reached.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleIndex {
    pub groups: Vec<Group>,
    /// Rules evaluated for every request, in policy order, and why.
    pub scanned: Vec<(usize, Scanned)>,
}

/// Rules keyed by one field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub slot: u32,
    pub kind: Kind,
    /// Value → the rules (by number, ascending) that can fire when the field holds it.
    pub buckets: BTreeMap<u64, Vec<usize>>,
}

impl Group {
    /// The distinct rules the group holds (a rule keyed by several values is in
    /// several buckets).
    pub fn rules(&self) -> std::collections::BTreeSet<usize> {
        self.buckets.values().flatten().copied().collect()
    }
}

/// Why a rule is scanned rather than indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanned {
    /// The policy is too small to index.
    SmallPolicy,
    /// An operation in the condition can fail at run time.
    MayFail,
    /// No conjunct of the condition tests a field against constants.
    NoKey,
    /// Keyed by more than [`MAX_KEYS`] constants.
    TooManyKeys,
    /// Its field keys fewer than [`MIN_GROUP`] rules.
    SmallGroup,
}

impl Scanned {
    pub fn describe(self) -> String {
        match self {
            Scanned::SmallPolicy => format!("the policy has fewer than {MIN_RULES} rules"),
            Scanned::MayFail => "an operation in its condition can fail at run time".into(),
            Scanned::NoKey => {
                "no conjunct tests a string or enum field with `==` or `in` against constants"
                    .into()
            }
            Scanned::TooManyKeys => format!("its key has more than {MAX_KEYS} constants"),
            Scanned::SmallGroup => format!("its field keys fewer than {MIN_GROUP} rules"),
        }
    }
}

/// A conjunct's key: the field and the values for which it can hold.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    slot: u32,
    kind: Kind,
    values: Vec<u64>,
}

impl RuleIndex {
    /// Plans the index of `policy`'s rules.
    pub fn plan(policy: &Policy) -> RuleIndex {
        let rules = &policy.rules;
        if rules.len() < MIN_RULES {
            return RuleIndex {
                groups: Vec::new(),
                scanned: (0..rules.len())
                    .map(|i| (i, Scanned::SmallPolicy))
                    .collect(),
            };
        }
        let keys: Vec<Result<Vec<Key>, Scanned>> = rules.iter().map(|r| keys_of(&r.cond)).collect();
        // The key that leaves the fewest candidates wins: a field keyed by many
        // distinct values (a model id) over one keyed by few (a region), and a rule's
        // single value over a set of several.
        let mut spread: BTreeMap<u32, std::collections::BTreeSet<u64>> = BTreeMap::new();
        for key in keys.iter().flatten().flatten() {
            spread.entry(key.slot).or_default().extend(&key.values);
        }
        let selectivity = |k: &Key| {
            let distinct = spread.get(&k.slot).map_or(0, |s| s.len());
            // Compared as distinct / values, cross-multiplied to stay in integers.
            (distinct, k.values.len().max(1))
        };
        let mut chosen: Vec<Result<Key, Scanned>> = keys
            .into_iter()
            .map(|k| {
                k.and_then(|candidates| {
                    candidates
                        .into_iter()
                        .reduce(|best, k| {
                            let ((d1, n1), (d2, n2)) = (selectivity(&best), selectivity(&k));
                            if d2 * n1 > d1 * n2 { k } else { best }
                        })
                        .ok_or(Scanned::NoKey)
                })
            })
            .collect();
        let mut sizes: BTreeMap<u32, usize> = BTreeMap::new();
        for key in chosen.iter().flatten() {
            *sizes.entry(key.slot).or_default() += 1;
        }
        for key in &mut chosen {
            if let Ok(k) = key
                && sizes.get(&k.slot).is_none_or(|&n| n < MIN_GROUP)
            {
                *key = Err(Scanned::SmallGroup);
            }
        }
        let mut groups: BTreeMap<u32, Group> = BTreeMap::new();
        let mut scanned = Vec::new();
        for (i, key) in chosen.into_iter().enumerate() {
            match key {
                Err(why) => scanned.push((i, why)),
                Ok(key) => {
                    let group = groups.entry(key.slot).or_insert_with(|| Group {
                        slot: key.slot,
                        kind: key.kind,
                        buckets: BTreeMap::new(),
                    });
                    for v in key.values {
                        group.buckets.entry(v).or_default().push(i);
                    }
                }
            }
        }
        RuleIndex {
            groups: groups.into_values().collect(),
            scanned,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// The keys a rule could be indexed by, one per keyable conjunct.
fn keys_of(cond: &Expr) -> Result<Vec<Key>, Scanned> {
    if may_fail(cond) {
        return Err(Scanned::MayFail);
    }
    let mut keys = Vec::new();
    let mut too_many = false;
    for conjunct in conjuncts(cond) {
        if let Some(key) = key_of(conjunct) {
            if key.values.len() > MAX_KEYS {
                too_many = true;
            } else {
                keys.push(key);
            }
        }
    }
    match (keys.is_empty(), too_many) {
        (false, _) => Ok(keys),
        (true, true) => Err(Scanned::TooManyKeys),
        (true, false) => Err(Scanned::NoKey),
    }
}

/// The operands of a chain of `and`s, left to right.
fn conjuncts(e: &Expr) -> Vec<&Expr> {
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            Expr::And(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            other => out.push(other),
        }
    }
    out
}

/// Whether evaluating `e` can fail the decision (the operations that carry a site).
fn may_fail(e: &Expr) -> bool {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        if matches!(
            e,
            Expr::Arith { .. }
                | Expr::Neg { .. }
                | Expr::StrCall { .. }
                | Expr::Abs { .. }
                | Expr::FloatToInt { .. }
                | Expr::TimeCall { .. }
        ) {
            return true;
        }
        stack.extend(e.children());
    }
    false
}

/// `field == constant`, `field in {constants}` over a string or enum field: the slot
/// and the values (interned ids, member indices) for which the conjunct can hold.
fn key_of(e: &Expr) -> Option<Key> {
    let field = |e: &Expr| match e {
        Expr::Load {
            slot,
            kind: kind @ (Kind::Str | Kind::Enum),
        } => Some((*slot, *kind)),
        _ => None,
    };
    let constant = |e: &Expr| match e {
        Expr::Str(v) | Expr::Enum(v) => Some(u64::from(*v)),
        _ => None,
    };
    match e {
        Expr::Cmp {
            op: CmpOp::Eq,
            a,
            b,
            ..
        } => {
            let ((slot, kind), value) = field(a)
                .zip(constant(b))
                .or_else(|| field(b).zip(constant(a)))?;
            Some(Key {
                slot,
                kind,
                values: vec![value],
            })
        }
        Expr::InMask { elem, mask } => {
            let (slot, kind) = field(elem)?;
            let values = (0..64u64).filter(|bit| mask & (1 << bit) != 0).collect();
            Some(Key { slot, kind, values })
        }
        Expr::InList { elem, items, .. } => {
            let (slot, kind) = field(elem)?;
            let mut values = items.iter().map(constant).collect::<Option<Vec<u64>>>()?;
            values.sort_unstable();
            values.dedup();
            Some(Key { slot, kind, values })
        }
        _ => None,
    }
}

/// `bylaw ir --explain-index`: what the compiled guard indexes, and why each other rule
/// is scanned.
pub fn explain(policy: &Policy, index: &RuleIndex) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let rule_at = |i: usize| {
        policy.rules.get(i).map_or_else(
            || format!("rule {i}"),
            |r| format!("line {} ({})", r.loc.line, r.id),
        )
    };
    let indexed: usize = index.groups.iter().map(|g| g.rules().len()).sum();
    let _ = writeln!(
        out,
        "{} rules: {indexed} indexed in {} group(s), {} scanned",
        policy.rules.len(),
        index.groups.len(),
        index.scanned.len()
    );
    for group in &index.groups {
        let field = policy
            .fields
            .get(group.slot as usize)
            .map_or("?", |f| f.path.as_str());
        let largest = group.buckets.values().map(Vec::len).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "\ngroup `{field}`: {} rules under {} values; a request evaluates at most {largest} of them",
            group.rules().len(),
            group.buckets.len()
        );
        for (value, rules) in &group.buckets {
            let shown = value_text(policy, group, *value);
            let lines: Vec<String> = rules.iter().map(|&i| rule_at(i)).collect();
            let _ = writeln!(out, "  {shown} → {}", lines.join(", "));
        }
    }
    if !index.scanned.is_empty() {
        let _ = writeln!(out, "\nscanned for every request:");
        for (i, why) in &index.scanned {
            let _ = writeln!(out, "  {}: {}", rule_at(*i), why.describe());
        }
    }
    out
}

fn value_text(policy: &Policy, group: &Group, value: u64) -> String {
    match group.kind {
        Kind::Str => policy
            .strings
            .get(value as usize)
            .map_or_else(|| format!("#{value}"), |s| format!("{s:?}")),
        _ => {
            let member = policy
                .fields
                .get(group.slot as usize)
                .and_then(|f| match f.ty {
                    super::FieldType::Enum(e) => policy.enums.get(e),
                    _ => None,
                })
                .and_then(|e| e.members.get(value as usize));
            member.map_or_else(|| format!("#{value}"), Clone::clone)
        }
    }
}
