//! A policy's decision as propositional logic over the request, for a SAT solver.
//!
//! Each field is a set of variables: a `bool` field one; a numeric field one per
//! interval of its line cut at the constants the policy compares it with (exactly one
//! holds), so that `x < 5` is the disjunction of the intervals below 5 and the answer
//! is exact; an enum field one per member (at most one, and exactly one when every
//! member is named); a string field one per literal it is compared with (at most one:
//! none means some other string); a set one per member named. Everything else —
//! arithmetic, string functions, two fields compared, a set's size — is a free
//! variable per expression. Free variables let the logic describe more requests than
//! exist, so an unsatisfiable question is proved; a satisfiable one only gives a
//! candidate that the interpreter must confirm.

use std::collections::HashMap;

use batsat::{BasicSolver, Lit, SolverInterface, lbool};

use crate::ast::{CmpOp, Outcome};
use crate::ir::{self, ArithOp, Expr, FieldType, Kind, Policy};

/// The least and greatest timestamp a request can carry (jiff's range).
fn timestamp_range() -> (i64, i64) {
    (
        jiff::Timestamp::MIN.as_second(),
        jiff::Timestamp::MAX.as_second(),
    )
}

/// A numeric constant, as the field's slot compares it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Num {
    Int(i64),
    Float(f64),
}

/// One interval of a numeric field's line: every value in it decides every atom over
/// the field alike; `value` is the one a counterexample uses.
#[derive(Debug, Clone, Copy)]
pub(super) struct Region {
    pub value: Num,
    /// One of the cuts (else the gap between the cuts beside it).
    pub point: bool,
    pub lit: Lit,
}

/// What a field's variables range over.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Shape {
    Bool,
    Int { lo: i64, hi: i64 },
    Float,
    Str,
    Enum(Vec<String>),
    EnumSet(Vec<String>),
    StrSet,
}

/// The variables of one field, created as the policy reads it.
#[derive(Debug)]
pub(super) struct FieldVars {
    pub shape: Shape,
    /// Presence, for a field that may be absent.
    pub has: Option<Lit>,
    /// A `bool` field's value.
    pub value: Option<Lit>,
    /// `x OP c` atoms of a numeric field, made exact by `regions` at `finish`.
    atoms: Vec<(CmpOp, Num, Lit)>,
    pub regions: Vec<Region>,
    /// Enum member, string literal or set member → its variable.
    pub members: Vec<(String, Lit)>,
}

impl FieldVars {
    fn member(&self, name: &str) -> Option<Lit> {
        self.members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, l)| *l)
    }
}

/// An expression the logic reads as a free variable, kept to explain an unknown.
#[derive(Debug)]
pub(super) struct Free {
    pub text: String,
}

/// The solver and the variables of every field, shared by the policies encoded into it
/// (two versions of one policy read one request).
pub struct Problem {
    pub(super) sat: BasicSolver,
    truth: Lit,
    pub(super) fields: HashMap<String, FieldVars>,
    pub(super) degraded: Option<Lit>,
    pub(super) free: Vec<Free>,
    free_by_text: HashMap<String, Lit>,
    policies: usize,
}

/// What one policy decides, as literals.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Allow, escalate, deny: exactly one holds.
    pub outcome: [Lit; 3],
    /// `tiers[i]`: tier `i` is chosen.
    pub tiers: Vec<Lit>,
    pub duties: Vec<Lit>,
    /// `rules[i]`: rule `i`'s condition holds.
    pub rules: Vec<Lit>,
    /// `requires[d][j]`: duty `d`'s `require` `j` is met.
    pub requires: Vec<Vec<Lit>>,
    /// Evaluation may fail (overflow, division by zero), which denies with no tier.
    pub fails: Lit,
    /// Where it may fail, as written.
    pub fallible: Vec<String>,
}

impl Decision {
    pub fn outcome(&self, o: Outcome) -> Lit {
        self.outcome[ir::outcome_code(o) as usize]
    }
}

impl Default for Problem {
    fn default() -> Self {
        Self::new()
    }
}

impl Problem {
    pub fn new() -> Self {
        let mut sat = BasicSolver::default();
        let truth = Lit::new(sat.new_var_default(), true);
        sat.add_clause_reuse(&mut vec![truth]);
        Problem {
            sat,
            truth,
            fields: HashMap::new(),
            degraded: None,
            free: Vec::new(),
            free_by_text: HashMap::new(),
            policies: 0,
        }
    }

    pub(super) fn truth(&self) -> Lit {
        self.truth
    }

    pub(super) fn fresh(&mut self) -> Lit {
        Lit::new(self.sat.new_var_default(), true)
    }

    pub(super) fn clause(&mut self, lits: &[Lit]) {
        self.sat.add_clause_reuse(&mut lits.to_vec());
    }

    pub(super) fn and(&mut self, lits: &[Lit]) -> Lit {
        let lits: Vec<Lit> = lits.iter().copied().filter(|l| *l != self.truth).collect();
        if lits.contains(&!self.truth) {
            return !self.truth;
        }
        match lits.as_slice() {
            [] => self.truth,
            [one] => *one,
            _ => {
                let out = self.fresh();
                let mut back = vec![out];
                for &l in &lits {
                    self.clause(&[!out, l]);
                    back.push(!l);
                }
                self.clause(&back);
                out
            }
        }
    }

    pub(super) fn or(&mut self, lits: &[Lit]) -> Lit {
        let negated: Vec<Lit> = lits.iter().map(|l| !*l).collect();
        !self.and(&negated)
    }

    pub(super) fn xor(&mut self, a: Lit, b: Lit) -> Lit {
        !self.iff(a, b)
    }

    fn iff(&mut self, a: Lit, b: Lit) -> Lit {
        let both = self.and(&[a, b]);
        let neither = self.and(&[!a, !b]);
        self.or(&[both, neither])
    }

    fn ite(&mut self, c: Lit, t: Lit, e: Lit) -> Lit {
        let then = self.and(&[c, t]);
        let other = self.and(&[!c, e]);
        self.or(&[then, other])
    }

    fn field(&mut self, f: &ir::Field, policy: &Policy) -> &mut FieldVars {
        let shape = shape(f, policy);
        self.fields
            .entry(f.path.clone())
            .or_insert_with(|| FieldVars {
                shape,
                has: None,
                value: None,
                atoms: Vec::new(),
                regions: Vec::new(),
                members: Vec::new(),
            })
    }

    /// Encodes `policy`'s decision; its assertions' conditions are then read with
    /// [`Encoder::condition`].
    pub fn encode<'p>(&mut self, policy: &'p Policy) -> (Encoder<'p>, Decision) {
        let index = self.policies;
        self.policies += 1;
        let mut enc = Encoder {
            policy,
            index,
            tiers: Vec::new(),
        };
        let decision = enc.decision(self);
        (enc, decision)
    }

    /// Adds the constraints that make the atoms exact: one interval per numeric field,
    /// at most one member per enum or string field. Call once, after encoding.
    pub fn finish(&mut self) {
        let paths: Vec<String> = self.fields.keys().cloned().collect();
        for path in paths {
            let Some(mut vars) = self.fields.remove(&path) else {
                continue;
            };
            match vars.shape.clone() {
                Shape::Int { lo, hi } => self.cut_ints(&mut vars, lo, hi),
                Shape::Float => self.cut_floats(&mut vars),
                Shape::Enum(members) => {
                    let lits: Vec<Lit> = vars.members.iter().map(|(_, l)| *l).collect();
                    self.at_most_one(&lits);
                    if members.iter().all(|m| vars.member(m).is_some()) {
                        self.clause(&lits);
                    }
                }
                Shape::Str => {
                    let lits: Vec<Lit> = vars.members.iter().map(|(_, l)| *l).collect();
                    self.at_most_one(&lits);
                }
                Shape::Bool | Shape::EnumSet(_) | Shape::StrSet => {}
            }
            self.fields.insert(path, vars);
        }
    }

    fn at_most_one(&mut self, lits: &[Lit]) {
        for (i, &a) in lits.iter().enumerate() {
            for &b in lits.iter().skip(i + 1) {
                self.clause(&[!a, !b]);
            }
        }
    }

    fn cut_ints(&mut self, vars: &mut FieldVars, lo: i64, hi: i64) {
        if vars.atoms.is_empty() {
            return;
        }
        let mut cuts: Vec<i64> = vars
            .atoms
            .iter()
            .filter_map(|(_, c, _)| match c {
                Num::Int(i) if (lo..=hi).contains(i) => Some(*i),
                _ => None,
            })
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        // Points at the cuts, and the gaps between them; a gap is represented by 0
        // when it holds 0, else by the value next to a cut: what reads best in a
        // counterexample.
        let mut values = Vec::new();
        let mut next = Some(lo);
        for &c in &cuts {
            if let Some(start) = next
                && start < c
            {
                let value = if (start..c).contains(&0) {
                    0
                } else if start == lo {
                    c - 1
                } else {
                    start
                };
                values.push((Num::Int(value), false));
            }
            values.push((Num::Int(c), true));
            next = c.checked_add(1).filter(|n| *n <= hi);
        }
        if let Some(start) = next {
            values.push((Num::Int(if start <= 0 { 0 } else { start }), false));
        }
        self.regions(vars, values);
    }

    fn cut_floats(&mut self, vars: &mut FieldVars) {
        if vars.atoms.is_empty() {
            return;
        }
        let mut cuts: Vec<f64> = vars
            .atoms
            .iter()
            .filter_map(|(_, c, _)| match c {
                Num::Float(f) if f.is_finite() => Some(*f),
                _ => None,
            })
            .collect();
        cuts.sort_by(f64::total_cmp);
        cuts.dedup_by(|a, b| a == b);
        let mut values = Vec::new();
        let mut previous: Option<f64> = None;
        for &c in &cuts {
            let gap = match previous {
                None => [0.0, (c - 1.0).floor(), c * 2.0, c.next_down()]
                    .into_iter()
                    .find(|v| v.is_finite() && *v < c),
                Some(p) => simplest_between(p, c),
            };
            values.extend(gap.map(|g| (Num::Float(g), false)));
            values.push((Num::Float(c), true));
            previous = Some(c);
        }
        if let Some(p) = previous {
            values.extend(
                [0.0, (p + 1.0).floor(), p * 2.0, p.next_up()]
                    .into_iter()
                    .find(|v| v.is_finite() && *v > p)
                    .map(|g| (Num::Float(g), false)),
            );
        }
        self.regions(vars, values);
    }

    /// One variable per region value, exactly one true, and each atom the disjunction
    /// of the regions where it holds.
    fn regions(&mut self, vars: &mut FieldVars, values: Vec<(Num, bool)>) {
        vars.regions = values
            .into_iter()
            .map(|(value, point)| Region {
                value,
                point,
                lit: self.fresh(),
            })
            .collect();
        let lits: Vec<Lit> = vars.regions.iter().map(|r| r.lit).collect();
        self.clause(&lits);
        self.at_most_one(&lits);
        for &(op, c, atom) in &vars.atoms {
            let holding: Vec<Lit> = vars
                .regions
                .iter()
                .filter(|r| compare(op, r.value, c))
                .map(|r| r.lit)
                .collect();
            let any = self.or(&holding);
            let same = self.iff(atom, any);
            self.clause(&[same]);
        }
    }

    /// Solves under `assumptions`; `Some(true)` when satisfiable.
    pub(super) fn solve(&mut self, assumptions: &[Lit]) -> Option<bool> {
        let result = self.sat.solve_limited(assumptions);
        if result == lbool::TRUE {
            Some(true)
        } else if result == lbool::FALSE {
            Some(false)
        } else {
            None
        }
    }

    pub(super) fn value(&self, lit: Lit) -> bool {
        self.sat.value_lit(lit) == lbool::TRUE
    }
}

/// A float strictly between `p` and `c` with the fewest decimals (up to six), else the
/// midpoint, else the next float after `p`; `None` when they are adjacent.
fn simplest_between(p: f64, c: f64) -> Option<f64> {
    let mut scale = 1.0;
    for _ in 0..=6 {
        let v = ((p * scale).floor() + 1.0) / scale;
        if v > p && v < c {
            return Some(v);
        }
        scale *= 10.0;
    }
    [p + (c - p) / 2.0, p / 2.0 + c / 2.0, p.next_up()]
        .into_iter()
        .find(|v| *v > p && *v < c)
}

fn compare(op: CmpOp, x: Num, c: Num) -> bool {
    match (x, c) {
        (Num::Int(a), Num::Int(b)) => ir::interp::ordered(op, a, b),
        (Num::Float(a), Num::Float(b)) => ir::interp::ordered(op, a, b),
        _ => false,
    }
}

fn shape(f: &ir::Field, policy: &Policy) -> Shape {
    let members = |e: usize| {
        policy
            .enums
            .get(e)
            .map(|e| e.members.clone())
            .unwrap_or_default()
    };
    match f.ty {
        FieldType::Bool => Shape::Bool,
        FieldType::Int | FieldType::Duration => Shape::Int {
            lo: i64::MIN,
            hi: i64::MAX,
        },
        FieldType::Timestamp => {
            let (lo, hi) = timestamp_range();
            Shape::Int { lo, hi }
        }
        FieldType::Float | FieldType::Percent => Shape::Float,
        FieldType::Str => Shape::Str,
        FieldType::Enum(e) => Shape::Enum(members(e)),
        FieldType::EnumSet(e) => Shape::EnumSet(members(e)),
        FieldType::StrSet => Shape::StrSet,
    }
}

/// Reads one policy's expressions into a [`Problem`].
pub struct Encoder<'p> {
    pub(super) policy: &'p Policy,
    index: usize,
    tiers: Vec<Lit>,
}

impl<'p> Encoder<'p> {
    fn decision(&mut self, p: &mut Problem) -> Decision {
        let policy = self.policy;
        // The first tier whose condition holds.
        let mut none_before = p.truth();
        for tier in &policy.tiers {
            let holds = match &tier.cond {
                Some(c) => self.condition(p, c),
                None => p.truth(),
            };
            let chosen = p.and(&[none_before, holds]);
            self.tiers.push(chosen);
            none_before = p.and(&[none_before, !holds]);
        }
        // What fired, by outcome.
        let mut asks: [Vec<Lit>; 3] = Default::default();
        let mut rules = Vec::with_capacity(policy.rules.len());
        for rule in &policy.rules {
            let fired = self.condition(p, &rule.cond);
            asks[ir::outcome_code(rule.outcome) as usize].push(fired);
            rules.push(fired);
        }
        let mut duties = Vec::new();
        let mut requires = Vec::with_capacity(policy.duties.len());
        for duty in &policy.duties {
            let in_tier = match duty.tier_mask {
                None => p.truth(),
                Some(mask) => {
                    let tiers: Vec<Lit> = (0..self.tiers.len().min(64))
                        .filter(|t| mask & (1 << t) != 0)
                        .filter_map(|t| self.tiers.get(t).copied())
                        .collect();
                    p.or(&tiers)
                }
            };
            let when = match &duty.when {
                Some(w) => self.condition(p, w),
                None => p.truth(),
            };
            let applies = p.and(&[in_tier, when]);
            let mut met_each = Vec::with_capacity(duty.requires.len());
            for require in &duty.requires {
                let met = self.condition(p, &require.cond);
                let unmet = p.and(&[applies, !met]);
                asks[ir::outcome_code(require.outcome) as usize].push(unmet);
                met_each.push(met);
            }
            requires.push(met_each);
            duties.push(applies);
        }
        let [allow, escalate, deny] = asks.map(|lits| p.or(&lits));
        let any = p.or(&[allow, escalate, deny]);
        let by_default = |o: Outcome, p: &mut Problem| {
            if policy.default == o {
                !any
            } else {
                !p.truth()
            }
        };
        let default_deny = by_default(Outcome::Deny, p);
        let default_escalate = by_default(Outcome::Escalate, p);
        let default_allow = by_default(Outcome::Allow, p);
        let denied = p.or(&[deny, default_deny]);
        let escalated_or_default = p.or(&[escalate, default_escalate]);
        let escalated = p.and(&[!deny, escalated_or_default]);
        let allowed_or_default = p.or(&[allow, default_allow]);
        let allowed = p.and(&[!deny, !escalate, allowed_or_default]);

        let fallible = fallible_sites(policy);
        let fails = if fallible.is_empty() {
            !p.truth()
        } else {
            p.fresh()
        };
        let outcome = [
            p.and(&[!fails, allowed]),
            p.and(&[!fails, escalated]),
            p.or(&[fails, denied]),
        ];
        let tiers = self
            .tiers
            .clone()
            .into_iter()
            .map(|t| p.and(&[!fails, t]))
            .collect();
        let duties = duties.into_iter().map(|d| p.and(&[!fails, d])).collect();
        Decision {
            outcome,
            tiers,
            duties,
            rules,
            requires,
            fails,
            fallible,
        }
    }

    /// A boolean expression of the policy as a literal (the tier it reads is the one
    /// the policy chooses).
    pub fn condition(&mut self, p: &mut Problem, e: &Expr) -> Lit {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.condition_inner(p, e))
    }

    fn condition_inner(&mut self, p: &mut Problem, e: &Expr) -> Lit {
        match e {
            Expr::Bool(b) => self.constant(p, *b),
            Expr::Load {
                slot,
                kind: Kind::Bool,
            } => self.bool_value(p, *slot).unwrap_or_else(|| self.free(p, e)),
            Expr::Has { slot } => self.has(p, *slot),
            Expr::Coalesce {
                slot,
                kind: Kind::Bool,
                default,
            } => match self.bool_value(p, *slot) {
                Some(value) => {
                    let has = self.has(p, *slot);
                    let default = self.condition(p, default);
                    p.ite(has, value, default)
                }
                None => self.free(p, e),
            },
            Expr::Degraded => match p.degraded {
                Some(l) => l,
                None => {
                    let l = p.fresh();
                    p.degraded = Some(l);
                    l
                }
            },
            Expr::Not(a) => !self.condition(p, a),
            Expr::And(a, b) => {
                let (a, b) = (self.condition(p, a), self.condition(p, b));
                p.and(&[a, b])
            }
            Expr::Or(a, b) => {
                let (a, b) = (self.condition(p, a), self.condition(p, b));
                p.or(&[a, b])
            }
            Expr::Cmp { op, kind, a, b } => self
                .comparison(p, *op, *kind, a, b)
                .unwrap_or_else(|| self.free(p, e)),
            Expr::InMask { elem, mask } => self
                .in_mask(p, elem, *mask)
                .unwrap_or_else(|| self.free(p, e)),
            Expr::InList { elem, kind, items } => {
                let mut any = Vec::new();
                for item in items {
                    match self.comparison(p, CmpOp::Eq, *kind, elem, item) {
                        Some(l) => any.push(l),
                        None => return self.free(p, e),
                    }
                }
                p.or(&any)
            }
            Expr::InEnumSet { elem, slot } => match elem.as_ref() {
                Expr::Enum(m) => self.enum_set_member(p, *slot, *m),
                _ => self.free(p, e),
            },
            Expr::InStrSet { elem, slot } => match elem.as_ref() {
                Expr::Str(id) => match self.policy.strings.get(*id as usize) {
                    Some(text) => self.member(p, *slot, text),
                    None => self.free(p, e),
                },
                _ => self.free(p, e),
            },
            Expr::SetRel {
                all,
                strings: false,
                a,
                b,
            } => match (a.as_ref(), b.as_ref()) {
                (Expr::Load { slot, .. }, Expr::Int(mask)) => {
                    let members: Vec<Lit> = (0..64)
                        .filter(|m| (*mask as u64) & (1 << m) != 0)
                        .map(|m| self.enum_set_member(p, *slot, m))
                        .collect();
                    if *all {
                        p.and(&members)
                    } else {
                        p.or(&members)
                    }
                }
                _ => self.free(p, e),
            },
            Expr::SetRel {
                all,
                strings: true,
                a,
                b,
            } => match (a.as_ref(), b.as_ref()) {
                (Expr::Load { slot, .. }, Expr::StrSet(set)) => {
                    let texts: Vec<String> = self
                        .policy
                        .calls
                        .str_sets
                        .get(*set as usize)
                        .map(|ids| {
                            ids.iter()
                                .filter_map(|id| self.policy.strings.get(*id as usize).cloned())
                                .collect()
                        })
                        .unwrap_or_default();
                    let members: Vec<Lit> =
                        texts.iter().map(|t| self.member(p, *slot, t)).collect();
                    if *all {
                        p.and(&members)
                    } else {
                        p.or(&members)
                    }
                }
                _ => self.free(p, e),
            },
            _ => self.free(p, e),
        }
    }

    fn constant(&self, p: &Problem, b: bool) -> Lit {
        if b { p.truth() } else { !p.truth() }
    }

    /// A free variable for `e`: the same one wherever the same expression appears.
    fn free(&mut self, p: &mut Problem, e: &Expr) -> Lit {
        // Keyed by the expression's meaning, so that two versions of a policy share it
        // — unless it reads the tier, which each version chooses its own way.
        let mut key = super::describe::canonical(self.policy, e);
        if reads_tier(e) {
            key = format!("{}:{key}", self.index);
        }
        if let Some(&lit) = p.free_by_text.get(&key) {
            return lit;
        }
        let lit = p.fresh();
        p.free.push(Free {
            text: super::describe::expr(self.policy, e),
        });
        p.free_by_text.insert(key, lit);
        lit
    }

    fn field_of(&self, slot: u32) -> Option<&'p ir::Field> {
        self.policy.fields.get(slot as usize)
    }

    fn has(&mut self, p: &mut Problem, slot: u32) -> Lit {
        let Some(field) = self.field_of(slot) else {
            return !p.truth();
        };
        if !field.optional {
            return p.truth();
        }
        if let Some(l) = p.field(field, self.policy).has {
            return l;
        }
        let l = p.fresh();
        p.field(field, self.policy).has = Some(l);
        l
    }

    fn bool_value(&mut self, p: &mut Problem, slot: u32) -> Option<Lit> {
        let field = self.field_of(slot)?;
        if field.ty != FieldType::Bool {
            return None;
        }
        if let Some(l) = p.field(field, self.policy).value {
            return Some(l);
        }
        let l = p.fresh();
        p.field(field, self.policy).value = Some(l);
        Some(l)
    }

    /// The variable of `name` among a field's members (enum member, string literal,
    /// set member).
    fn member(&mut self, p: &mut Problem, slot: u32, name: &str) -> Lit {
        let Some(field) = self.field_of(slot) else {
            return !p.truth();
        };
        if let Some(l) = p.field(field, self.policy).member(name) {
            return l;
        }
        let l = p.fresh();
        p.field(field, self.policy)
            .members
            .push((name.to_string(), l));
        l
    }

    fn enum_member_name(&self, slot: u32, m: u32) -> Option<String> {
        let field = self.field_of(slot)?;
        let (FieldType::Enum(e) | FieldType::EnumSet(e)) = field.ty else {
            return None;
        };
        self.policy.enums.get(e)?.members.get(m as usize).cloned()
    }

    fn enum_set_member(&mut self, p: &mut Problem, slot: u32, m: u32) -> Lit {
        match self.enum_member_name(slot, m) {
            Some(name) => self.member(p, slot, &name),
            None => !p.truth(),
        }
    }

    fn numeric_atom(&mut self, p: &mut Problem, slot: u32, op: CmpOp, c: Num) -> Option<Lit> {
        let field = self.field_of(slot)?;
        let fits = matches!(
            (shape(field, self.policy), c),
            (Shape::Int { .. }, Num::Int(_)) | (Shape::Float, Num::Float(_))
        );
        if !fits {
            return None;
        }
        let vars = p.field(field, self.policy);
        if let Some((_, _, l)) = vars.atoms.iter().find(|(o, n, _)| *o == op && *n == c) {
            return Some(*l);
        }
        let l = p.fresh();
        p.field(field, self.policy).atoms.push((op, c, l));
        Some(l)
    }

    /// `a OP b` when the logic can read it exactly.
    fn comparison(
        &mut self,
        p: &mut Problem,
        op: CmpOp,
        kind: Kind,
        a: &Expr,
        b: &Expr,
    ) -> Option<Lit> {
        if let (Some(x), Some(y)) = (constant(a), constant(b)) {
            return Some(self.constant(p, constant_compare(op, x, y)?));
        }
        if kind == Kind::Int
            && let Some(lit) = self.linear_comparison(p, op, a, b)
        {
            return Some(lit);
        }
        // The field on the left.
        let (op, a, b) = if constant(a).is_some() {
            (flip(op), b, a)
        } else {
            (op, a, b)
        };
        let c = constant(b)?;
        match (kind, a) {
            (Kind::Bool, _) => {
                let x = self.condition(p, a);
                let y = self.condition(p, b);
                let same = p.iff(x, y);
                match op {
                    CmpOp::Eq => Some(same),
                    CmpOp::Ne => Some(!same),
                    _ => None,
                }
            }
            (_, Expr::Coalesce { slot, default, .. }) => {
                let d = constant(default)?;
                let when_absent = constant_compare(op, d, c)?;
                let when_present = self.read_compare(p, *slot, kind, op, c)?;
                let has = self.has(p, *slot);
                let absent = self.constant(p, when_absent);
                Some(p.ite(has, when_present, absent))
            }
            (_, Expr::Load { slot, .. }) => self.read_compare(p, *slot, kind, op, c),
            (Kind::Float, Expr::IntToFloat(inner)) => match (inner.as_ref(), c) {
                (Expr::Load { slot, .. }, Const::Float(f)) => {
                    let (op, i) = int_threshold(op, f)?;
                    match i {
                        Threshold::Int(i) => self.numeric_atom(p, *slot, op, Num::Int(i)),
                        Threshold::Always(b) => Some(self.constant(p, b)),
                    }
                }
                _ => None,
            },
            (Kind::Tier, Expr::CurrentTier) => {
                let Const::Id(t) = c else { return None };
                let chosen = self.tiers.get(t as usize).copied().unwrap_or(!p.truth());
                match op {
                    CmpOp::Eq => Some(chosen),
                    CmpOp::Ne => Some(!chosen),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// `a OP b` over integers where both sides are linear in one required field
    /// (`tokens * 2 > 100000`, `limit - used <= 10`): the comparison of the field with
    /// the constant it amounts to, exact in the integers. (Where the arithmetic would
    /// overflow the request fails and is denied; the logic's `fails` covers that.)
    fn linear_comparison(&mut self, p: &mut Problem, op: CmpOp, a: &Expr, b: &Expr) -> Option<Lit> {
        // Only arithmetic is rewritten: a plain `field OP constant` is read as it was.
        if !matches!(a, Expr::Arith { .. } | Expr::Neg { .. })
            && !matches!(b, Expr::Arith { .. } | Expr::Neg { .. })
        {
            return None;
        }
        let left = Linear::of(a)?;
        let right = Linear::of(b)?;
        // k·x + c OP 0, with k ≠ 0.
        let diff = left.minus(&right)?;
        let (slot, k) = match diff.terms.as_slice() {
            [(slot, k)] if *k != 0 => (*slot, *k),
            _ => return None,
        };
        let field = self.field_of(slot)?;
        if field.optional {
            return None;
        }
        let d = diff.constant.checked_neg()?;
        // k·x OP d, turned into x OP' t.
        let (op, k, d) = if k < 0 {
            (flip(op), k.checked_neg()?, d.checked_neg()?)
        } else {
            (op, k, d)
        };
        let floor = d.div_euclid(k);
        let ceil = floor + i128::from(d.rem_euclid(k) != 0);
        let exact = d.rem_euclid(k) == 0;
        let (op, t) = match op {
            CmpOp::Gt => (CmpOp::Gt, floor),
            CmpOp::Ge => (CmpOp::Ge, ceil),
            CmpOp::Lt => (CmpOp::Lt, ceil),
            CmpOp::Le => (CmpOp::Le, floor),
            CmpOp::Eq if exact => (CmpOp::Eq, floor),
            CmpOp::Ne if exact => (CmpOp::Ne, floor),
            CmpOp::Eq => return Some(self.constant(p, false)),
            CmpOp::Ne => return Some(self.constant(p, true)),
        };
        match i64::try_from(t) {
            Ok(t) => self.numeric_atom(p, slot, op, Num::Int(t)),
            // Beyond i64: no value is equal, and every value is on one side.
            Err(_) => {
                let holds = match op {
                    CmpOp::Eq => false,
                    CmpOp::Ne => true,
                    _ => matches!(op, CmpOp::Lt | CmpOp::Le) == (t > 0),
                };
                Some(self.constant(p, holds))
            }
        }
    }

    /// A present field's value compared with a constant.
    fn read_compare(
        &mut self,
        p: &mut Problem,
        slot: u32,
        kind: Kind,
        op: CmpOp,
        c: Const,
    ) -> Option<Lit> {
        let eq = |lit: Lit| match op {
            CmpOp::Eq => Some(lit),
            CmpOp::Ne => Some(!lit),
            _ => None,
        };
        match (kind, c) {
            (Kind::Int, Const::Int(i)) => self.numeric_atom(p, slot, op, Num::Int(i)),
            (Kind::Float, Const::Float(f)) => self.numeric_atom(p, slot, op, Num::Float(f)),
            (Kind::Str, Const::Id(id)) => {
                let text = self.policy.strings.get(id as usize)?.clone();
                let lit = self.member(p, slot, &text);
                eq(lit)
            }
            (Kind::Enum, Const::Id(m)) => {
                let name = self.enum_member_name(slot, m as u32)?;
                let lit = self.member(p, slot, &name);
                eq(lit)
            }
            (Kind::Bool, Const::Bool(b)) => {
                let value = self.bool_value(p, slot)?;
                let lit = if b { value } else { !value };
                eq(lit)
            }
            _ => None,
        }
    }

    fn in_mask(&mut self, p: &mut Problem, elem: &Expr, mask: u64) -> Option<Lit> {
        let bits = (0..64u32).filter(|m| mask & (1 << m) != 0);
        match elem {
            Expr::CurrentTier => {
                let chosen: Vec<Lit> = bits
                    .filter_map(|t| self.tiers.get(t as usize).copied())
                    .collect();
                Some(p.or(&chosen))
            }
            Expr::Load {
                slot,
                kind: Kind::Enum,
            } => {
                let members: Vec<Lit> = bits
                    .filter_map(|m| self.enum_member_name(*slot, m))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(|name| self.member(p, *slot, name))
                    .collect();
                Some(p.or(&members))
            }
            Expr::Enum(m) | Expr::Tier(m) => Some(self.constant(p, mask & (1 << m) != 0)),
            _ => None,
        }
    }
}

/// An integer expression as Σ kᵢ·fieldᵢ + c, exactly (in i128, so the sums of i64
/// values never wrap here).
#[derive(Debug, Clone, PartialEq)]
struct Linear {
    terms: Vec<(u32, i128)>,
    constant: i128,
}

impl Linear {
    /// At most this many nested operations are read (deeper is read as free).
    const DEPTH: usize = 32;

    fn of(e: &Expr) -> Option<Linear> {
        Self::read(e, Self::DEPTH)
    }

    fn read(e: &Expr, depth: usize) -> Option<Linear> {
        let depth = depth.checked_sub(1)?;
        match e {
            Expr::Int(i) => Some(Linear {
                terms: Vec::new(),
                constant: i128::from(*i),
            }),
            Expr::Load {
                slot,
                kind: Kind::Int,
            } => Some(Linear {
                terms: vec![(*slot, 1)],
                constant: 0,
            }),
            Expr::Neg {
                kind: Kind::Int, a, ..
            } => Self::read(a, depth)?.scaled(-1),
            Expr::Arith {
                op,
                kind: Kind::Int,
                a,
                b,
                ..
            } => {
                let (a, b) = (Self::read(a, depth)?, Self::read(b, depth)?);
                match op {
                    ArithOp::Add => a.plus(&b),
                    ArithOp::Sub => a.minus(&b),
                    ArithOp::Mul => match (a.terms.is_empty(), b.terms.is_empty()) {
                        (true, _) => b.scaled(a.constant),
                        (_, true) => a.scaled(b.constant),
                        _ => None,
                    },
                    ArithOp::Div | ArithOp::Rem => None,
                }
            }
            _ => None,
        }
    }

    fn scaled(&self, k: i128) -> Option<Linear> {
        let mut terms = Vec::with_capacity(self.terms.len());
        for (slot, c) in &self.terms {
            terms.push((*slot, c.checked_mul(k)?));
        }
        Some(Linear {
            terms,
            constant: self.constant.checked_mul(k)?,
        })
    }

    fn plus(&self, other: &Linear) -> Option<Linear> {
        let mut out = self.clone();
        for (slot, k) in &other.terms {
            match out.terms.iter_mut().find(|(s, _)| s == slot) {
                Some((_, c)) => *c = c.checked_add(*k)?,
                None => out.terms.push((*slot, *k)),
            }
        }
        out.terms.retain(|(_, k)| *k != 0);
        out.constant = out.constant.checked_add(other.constant)?;
        Some(out)
    }

    fn minus(&self, other: &Linear) -> Option<Linear> {
        self.plus(&other.scaled(-1)?)
    }
}

/// A constant operand.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Const {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string id, enum member or tier.
    Id(u64),
}

fn constant(e: &Expr) -> Option<Const> {
    Some(match e {
        Expr::Bool(b) => Const::Bool(*b),
        Expr::Int(i) => Const::Int(*i),
        Expr::Float(f) => Const::Float(*f),
        Expr::Str(id) | Expr::Enum(id) | Expr::Tier(id) => Const::Id(u64::from(*id)),
        _ => return None,
    })
}

fn constant_compare(op: CmpOp, x: Const, y: Const) -> Option<bool> {
    use ir::interp::ordered;
    Some(match (x, y) {
        (Const::Int(a), Const::Int(b)) => ordered(op, a, b),
        (Const::Float(a), Const::Float(b)) => ordered(op, a, b),
        (Const::Bool(a), Const::Bool(b)) => match op {
            CmpOp::Ne => a != b,
            _ => a == b,
        },
        (Const::Id(a), Const::Id(b)) => match op {
            CmpOp::Ne => a != b,
            _ => a == b,
        },
        _ => return None,
    })
}

/// `c OP x` as `x OP' c`.
fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

enum Threshold {
    Int(i64),
    Always(bool),
}

/// `float(x) OP f` over an int `x` as a comparison of `x` with an integer. Exact while
/// `f` is within ±2^53, where every integer converts exactly and conversion is
/// monotone.
fn int_threshold(op: CmpOp, f: f64) -> Option<(CmpOp, Threshold)> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if !f.is_finite() || f.abs() >= EXACT {
        return None;
    }
    let whole = f.fract() == 0.0;
    let (floor, ceil) = (f.floor() as i64, f.ceil() as i64);
    Some(match op {
        CmpOp::Lt => (CmpOp::Lt, Threshold::Int(ceil)),
        CmpOp::Le => (CmpOp::Le, Threshold::Int(floor)),
        CmpOp::Gt => (CmpOp::Gt, Threshold::Int(floor)),
        CmpOp::Ge => (CmpOp::Ge, Threshold::Int(ceil)),
        CmpOp::Eq if whole => (CmpOp::Eq, Threshold::Int(floor)),
        CmpOp::Ne if whole => (CmpOp::Ne, Threshold::Int(floor)),
        CmpOp::Eq => (CmpOp::Eq, Threshold::Always(false)),
        CmpOp::Ne => (CmpOp::Ne, Threshold::Always(true)),
    })
}

/// The operations of `policy` that can fail at run time, as written: every site of
/// the expressions an engine evaluates.
fn fallible_sites(policy: &Policy) -> Vec<String> {
    let mut sites = Vec::new();
    let roots = policy
        .tiers
        .iter()
        .filter_map(|t| t.cond.as_ref())
        .chain(policy.rules.iter().map(|r| &r.cond))
        .chain(
            policy
                .duties
                .iter()
                .flat_map(|d| d.when.iter().chain(d.requires.iter().map(|r| &r.cond))),
        )
        .chain(policy.triggers.iter().map(|t| &t.cond));
    let mut stack: Vec<&Expr> = roots.collect();
    while let Some(e) = stack.pop() {
        let site = match e {
            Expr::Arith {
                kind: Kind::Int,
                site,
                ..
            }
            | Expr::Arith {
                op: ArithOp::Div,
                site,
                ..
            }
            | Expr::Neg {
                kind: Kind::Int,
                site,
                ..
            }
            | Expr::Abs {
                kind: Kind::Int,
                site,
                ..
            }
            | Expr::FloatToInt { site, .. }
            | Expr::TimeCall { site, .. } => Some(*site),
            _ => None,
        };
        if let Some(site) = site
            .filter(|_| !never_fails(e))
            .and_then(|s| policy.sites.get(s as usize))
        {
            let text = format!("`{}` (line {})", site.text, site.loc.line);
            if !sites.contains(&text) {
                sites.push(text);
            }
        }
        stack.extend(e.children());
    }
    sites
}

fn reads_tier(e: &Expr) -> bool {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        if matches!(e, Expr::CurrentTier) {
            return true;
        }
        stack.extend(e.children());
    }
    false
}

/// An operation over constants that evaluates without failing, or a float division by a
/// constant other than zero: no request makes it fail.
fn never_fails(e: &Expr) -> bool {
    match e {
        Expr::Arith {
            op: ArithOp::Div,
            kind: Kind::Float,
            b,
            ..
        } => matches!(b.as_ref(), Expr::Float(c) if *c != 0.0),
        _ => constant_int(e).is_some(),
    }
}

/// The value of an integer expression of constants, when it evaluates without failing.
fn constant_int(e: &Expr) -> Option<i64> {
    match e {
        Expr::Int(i) => Some(*i),
        Expr::Neg { a, .. } => constant_int(a)?.checked_neg(),
        Expr::Arith {
            op,
            kind: Kind::Int,
            a,
            b,
            ..
        } => {
            let (x, y) = (constant_int(a)?, constant_int(b)?);
            match op {
                ArithOp::Add => x.checked_add(y),
                ArithOp::Sub => x.checked_sub(y),
                ArithOp::Mul => x.checked_mul(y),
                ArithOp::Div => x.checked_div(y),
                ArithOp::Rem => x.checked_rem(y),
            }
        }
        _ => None,
    }
}
