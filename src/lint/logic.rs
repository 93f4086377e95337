//! Reasoning about conditions over the schema's types: whether a condition can hold,
//! whether it always holds, whether one implies another.
//!
//! A condition becomes a disjunction of conjunctions (DNF) of literals over atoms;
//! each conjunction is satisfiable unless some variable's domain becomes empty:
//! intervals for `int`, `float`, `duration` and `percent` fields (integers kept to
//! whole bounds), finite sets for `bool`, enums and the tier, equalities for strings.
//! Anything else (arithmetic, `??`, set fields) is an opaque atom: a free boolean,
//! the same one wherever the same expression appears.
//!
//! The reasoning over-approximates the requests that can exist (the tier is taken
//! as free, opaque atoms as independent), so "cannot hold" and "implies" are only
//! ever claimed when true. When the DNF would grow past [`MAX_TERMS`], the answer is
//! "unknown" and no lint is reported.

use std::collections::HashMap;

use crate::ast::CmpOp;
use crate::check::program::{Expr, ExprKind, Program, Ty, Value};

/// The most conjunctions a condition may expand to before the answer is unknown.
pub const MAX_TERMS: usize = 512;

/// What a literal reads. Names and strings are interned, so literals are small
/// copies and the reasoning allocates little.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Atom {
    /// A free boolean: a `bool` field, `has(f)`, `degraded`, or any other expression
    /// (arithmetic, `??`, set fields), by its interned text.
    Flag(u32),
    /// `x OP c` over a numeric field.
    Num { var: u32, op: CmpOp, value: f64 },
    /// An enum field (or the tier, [`TIER_VAR`]) in a set of members.
    Members { var: u32, mask: u64 },
    /// A string field equal to an (interned) constant.
    StrEq { var: u32, value: u32 },
}

impl Atom {
    /// The variable a literal reads, by name: free booleans and fields in one space.
    fn var(&self) -> u64 {
        match *self {
            Atom::Flag(k) => u64::from(k) | 1 << 40,
            Atom::Num { var, .. } | Atom::Members { var, .. } | Atom::StrEq { var, .. } => {
                u64::from(var)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lit {
    atom: Atom,
    positive: bool,
}

type Term = Vec<Lit>;

/// A condition in DNF; `None` when it grew too large.
pub type Dnf = Option<Vec<Term>>;

pub const TIER_VAR: u32 = u32::MAX;

/// The context conditions are read in: the program (for `def`s and types), and the
/// interned names of free booleans and string constants.
pub struct Logic<'p> {
    program: &'p Program,
    names: std::cell::RefCell<HashMap<String, u32>>,
}

impl<'p> Logic<'p> {
    pub fn new(program: &'p Program) -> Self {
        Logic {
            program,
            names: std::cell::RefCell::new(HashMap::new()),
        }
    }

    fn intern(&self, name: String) -> u32 {
        let mut names = self.names.borrow_mut();
        let next = names.len() as u32;
        *names.entry(name).or_insert(next)
    }

    fn opaque(&self, e: &Expr) -> Atom {
        Atom::Flag(self.intern(format!("e:{}", text(self.program, e))))
    }

    pub fn dnf(&self, e: &Expr) -> Dnf {
        self.convert(e, true)
    }

    pub fn not(&self, e: &Expr) -> Dnf {
        self.convert(e, false)
    }

    fn convert(&self, e: &Expr, positive: bool) -> Dnf {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.convert_inner(e, positive))
    }

    fn convert_inner(&self, e: &Expr, positive: bool) -> Dnf {
        match &e.kind {
            ExprKind::Const(Value::Bool(b)) => Some(if *b == positive {
                vec![Vec::new()]
            } else {
                Vec::new()
            }),
            ExprKind::Def(id) => {
                let def = self.program.defs.get(*id)?;
                self.convert(&def.value, positive)
            }
            ExprKind::Not(inner) => self.convert(inner, !positive),
            ExprKind::And(a, b) if positive => and(self.convert(a, true)?, self.convert(b, true)?),
            ExprKind::Or(a, b) if !positive => {
                and(self.convert(a, false)?, self.convert(b, false)?)
            }
            ExprKind::Or(a, b) => or(self.convert(a, true)?, self.convert(b, true)?),
            ExprKind::And(a, b) => or(self.convert(a, false)?, self.convert(b, false)?),
            ExprKind::InList(elem, items) if self.string_field(elem).is_some() => {
                // `s in {"a", "b"}`: one equality per item.
                let var = self.string_field(elem)?;
                let atoms: Vec<Atom> = items
                    .iter()
                    .filter_map(|i| match &i.kind {
                        ExprKind::Const(Value::Str(s)) => Some(Atom::StrEq {
                            var,
                            value: self.intern(format!("s:{s}")),
                        }),
                        _ => None,
                    })
                    .collect();
                if atoms.len() != items.len() {
                    return Some(vec![vec![Lit {
                        atom: self.opaque(e),
                        positive,
                    }]]);
                }
                if positive {
                    Some(
                        atoms
                            .into_iter()
                            .map(|a| {
                                vec![Lit {
                                    atom: a,
                                    positive: true,
                                }]
                            })
                            .collect(),
                    )
                } else {
                    Some(vec![
                        atoms
                            .into_iter()
                            .map(|a| Lit {
                                atom: a,
                                positive: false,
                            })
                            .collect(),
                    ])
                }
            }
            // `has()` of a required field always holds.
            ExprKind::Has(id) if self.program.fields.get(*id).is_some_and(|f| !f.optional) => {
                Some(if positive {
                    vec![Vec::new()]
                } else {
                    Vec::new()
                })
            }
            _ => {
                let (atom, polarity) = self.atom(e);
                Some(vec![vec![Lit {
                    atom,
                    positive: positive == polarity,
                }]])
            }
        }
    }

    fn string_field(&self, e: &Expr) -> Option<u32> {
        match (&e.kind, e.ty) {
            (ExprKind::Field(id), Ty::Str) => Some(*id as u32),
            _ => None,
        }
    }

    fn numeric_var(&self, e: &Expr) -> Option<u32> {
        match &e.kind {
            ExprKind::Field(id)
                if matches!(e.ty, Ty::Int | Ty::Float | Ty::Duration | Ty::Percent) =>
            {
                Some(*id as u32)
            }
            ExprKind::IntToFloat(inner) => self.numeric_var(inner),
            _ => None,
        }
    }

    /// The atom an expression reads, and whether it holds when the atom does (`!=`
    /// is the negation of `==`).
    fn atom(&self, e: &Expr) -> (Atom, bool) {
        let atom = match &e.kind {
            ExprKind::Field(id) if e.ty == Ty::Bool => Atom::Flag(self.intern(format!("f:{id}"))),
            ExprKind::Has(id) => Atom::Flag(self.intern(format!("h:{id}"))),
            ExprKind::Degraded => Atom::Flag(self.intern("degraded".into())),
            ExprKind::Cmp(op, a, b) => match self.comparison(*op, a, b) {
                Some(found) => return found,
                None => self.opaque(e),
            },
            ExprKind::InList(elem, items) => {
                let var = match (&elem.kind, elem.ty) {
                    (ExprKind::Tier, _) => Some(TIER_VAR),
                    (ExprKind::Field(id), Ty::Enum(_)) => Some(*id as u32),
                    _ => None,
                };
                let mask = items.iter().try_fold(0u64, |mask, i| match &i.kind {
                    ExprKind::Const(Value::Enum(_, m)) => Some(mask | 1 << (m % 64)),
                    ExprKind::Const(Value::Tier(t)) => Some(mask | 1 << (t % 64)),
                    _ => None,
                });
                match (var, mask) {
                    (Some(var), Some(mask)) => Atom::Members { var, mask },
                    _ => self.opaque(e),
                }
            }
            _ => self.opaque(e),
        };
        (atom, true)
    }

    fn comparison(&self, op: CmpOp, a: &Expr, b: &Expr) -> Option<(Atom, bool)> {
        let flipped = match op {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        };
        let (var_side, constant, op) = match (&a.kind, &b.kind) {
            (_, ExprKind::Const(c)) => (a, c, op),
            (ExprKind::Const(c), _) => (b, c, flipped),
            _ => return None,
        };
        if let Some(var) = self.numeric_var(var_side) {
            let value = match constant {
                Value::Int(i) | Value::Duration(i) => *i as f64,
                Value::Float(f) | Value::Percent(f) => *f,
                _ => return None,
            };
            return Some((Atom::Num { var, op, value }, true));
        }
        let eq = match op {
            CmpOp::Eq => true,
            CmpOp::Ne => false,
            _ => return None,
        };
        let atom = match (&var_side.kind, constant) {
            (ExprKind::Tier, Value::Tier(t)) => Atom::Members {
                var: TIER_VAR,
                mask: 1 << (t % 64),
            },
            (ExprKind::Field(id), Value::Enum(_, m)) => Atom::Members {
                var: *id as u32,
                mask: 1 << (m % 64),
            },
            (ExprKind::Field(id), Value::Str(s)) => Atom::StrEq {
                var: *id as u32,
                value: self.intern(format!("s:{s}")),
            },
            _ => return None,
        };
        Some((atom, eq))
    }

    /// The variables a condition reads (fields, flags, opaque atoms), by name;
    /// `None` when its DNF is unknown.
    pub fn vars(&self, dnf: &Dnf) -> Option<std::collections::BTreeSet<u64>> {
        let terms = dnf.as_ref()?;
        Some(terms.iter().flatten().map(|lit| lit.atom.var()).collect())
    }

    /// Per term of a DNF: a 64-bit summary of the variables it reads (one bit per
    /// variable, hashed) and whether the term is satisfiable on its own. Two terms
    /// whose summaries share no bit read disjoint variables, so (variables being
    /// independent) both hold together if each holds alone: a quick refutation of an
    /// implication, before the exact check.
    pub fn term_summaries(&self, dnf: &Dnf) -> Option<Vec<(u64, bool)>> {
        let terms = dnf.as_ref()?;
        Some(
            terms
                .iter()
                .map(|t| {
                    let mask = t.iter().fold(0u64, |m, lit| {
                        let var = lit.atom.var();
                        m | 1 << (xxhash_rust::xxh3::xxh3_64(&var.to_le_bytes()) % 64)
                    });
                    (mask, self.term_satisfiable(t))
                })
                .collect(),
        )
    }

    /// `tier == t`.
    pub fn tier_in(&self, t: usize) -> Dnf {
        Some(vec![vec![Lit {
            atom: Atom::Members {
                var: TIER_VAR,
                mask: 1 << (t % 64),
            },
            positive: true,
        }]])
    }

    /// Whether some request satisfies the condition; `None`: unknown.
    pub fn satisfiable(&self, dnf: &Dnf) -> Option<bool> {
        let terms = dnf.as_ref()?;
        Some(terms.iter().any(|t| self.term_satisfiable(t)))
    }

    /// Whether `a` holds for no request.
    pub fn never(&self, e: &Expr) -> bool {
        self.satisfiable(&self.dnf(e)) == Some(false)
    }

    /// Whether `a` holds for every request.
    pub fn always(&self, e: &Expr) -> bool {
        self.satisfiable(&self.not(e)) == Some(false)
    }

    /// Whether every request satisfying all of `given` satisfies `then`.
    pub fn implies(&self, given: &[Dnf], then_not: &Dnf) -> bool {
        let mut all = Some(vec![Vec::new()]);
        for g in given {
            all = match (all, g.clone()) {
                (Some(a), Some(b)) => and(a, b),
                _ => None,
            };
        }
        let combined = match (all, then_not.clone()) {
            (Some(a), Some(b)) => and(a, b),
            _ => None,
        };
        self.satisfiable(&combined) == Some(false)
    }

    /// Whether `a ⇒ b` where `b_not` is the DNF of `not b`: no term of `a` together
    /// with a term of `not b` is satisfiable. Allocates nothing per pair.
    pub fn implies_one(&self, a: &Dnf, b_not: &Dnf) -> bool {
        let (Some(a), Some(b_not)) = (a, b_not) else {
            return false;
        };
        a.iter().all(|t| {
            b_not
                .iter()
                .all(|u| !self.lits_satisfiable(t.iter().chain(u.iter())))
        })
    }

    fn term_satisfiable(&self, term: &Term) -> bool {
        self.lits_satisfiable(term.iter())
    }

    fn lits_satisfiable<'l>(&self, lits: impl Iterator<Item = &'l Lit>) -> bool {
        // Terms are short: small vectors beat maps here.
        let mut flags: Vec<(u32, bool)> = Vec::new();
        let mut domains: Vec<(u32, Domain)> = Vec::new();
        let mut strings: Vec<(u32, StrDomain)> = Vec::new();
        for lit in lits {
            let ok = match lit.atom {
                Atom::Flag(k) => match flags.iter().find(|(f, _)| *f == k) {
                    Some((_, v)) => *v == lit.positive,
                    None => {
                        flags.push((k, lit.positive));
                        true
                    }
                },
                Atom::Num { var, op, value } => {
                    let d = domain(&mut domains, var, || {
                        let integral = matches!(
                            self.program.fields.get(var as usize).map(|f| f.ty),
                            Some(Ty::Int | Ty::Duration)
                        );
                        Domain::full(integral)
                    });
                    d.constrain(if lit.positive { op } else { negate(op) }, value);
                    !d.is_empty()
                }
                Atom::Members { var, mask } => {
                    let universe = self.universe(var);
                    let d = domain(&mut domains, var, || Domain::Members(universe));
                    if let Domain::Members(m) = d {
                        *m &= if lit.positive { mask } else { !mask };
                    }
                    !d.is_empty()
                }
                Atom::StrEq { var, value } => {
                    let i = match strings.iter().position(|(v, _)| *v == var) {
                        Some(i) => i,
                        None => {
                            strings.push((var, StrDomain::default()));
                            strings.len() - 1
                        }
                    };
                    let d = &mut strings[i].1;
                    if lit.positive {
                        match d.eq {
                            Some(v) if v != value => false,
                            _ => {
                                d.eq = Some(value);
                                !d.ne.contains(&value)
                            }
                        }
                    } else {
                        d.ne.push(value);
                        d.eq != Some(value)
                    }
                }
            };
            if !ok {
                return false;
            }
        }
        true
    }

    fn universe(&self, var: u32) -> u64 {
        let count = if var == TIER_VAR {
            self.program.tiers.len()
        } else {
            match self.program.fields.get(var as usize).map(|f| f.ty) {
                Some(Ty::Enum(e)) => self.program.enums.get(e).map_or(64, |e| e.members.len()),
                _ => 64,
            }
        };
        if count >= 64 {
            u64::MAX
        } else {
            (1u64 << count) - 1
        }
    }
}

#[derive(Debug, Default)]
struct StrDomain {
    eq: Option<u32>,
    ne: Vec<u32>,
}

fn domain(domains: &mut Vec<(u32, Domain)>, var: u32, new: impl FnOnce() -> Domain) -> &mut Domain {
    let i = match domains.iter().position(|(v, _)| *v == var) {
        Some(i) => i,
        None => {
            domains.push((var, new()));
            domains.len() - 1
        }
    };
    &mut domains[i].1
}

#[derive(Debug, Clone)]
enum Domain {
    Num {
        lo: f64,
        lo_open: bool,
        hi: f64,
        hi_open: bool,
        integral: bool,
        excluded: Vec<f64>,
    },
    Members(u64),
}

impl Domain {
    fn full(integral: bool) -> Domain {
        let (lo, hi) = if integral {
            (i64::MIN as f64, i64::MAX as f64)
        } else {
            (f64::NEG_INFINITY, f64::INFINITY)
        };
        Domain::Num {
            lo,
            lo_open: false,
            hi,
            hi_open: false,
            integral,
            excluded: Vec::new(),
        }
    }

    fn constrain(&mut self, op: CmpOp, v: f64) {
        let Domain::Num {
            lo,
            lo_open,
            hi,
            hi_open,
            integral,
            excluded,
        } = self
        else {
            return;
        };
        let (mut new_lo, mut new_lo_open, mut new_hi, mut new_hi_open) = (None, false, None, false);
        match op {
            CmpOp::Gt => (new_lo, new_lo_open) = (Some(v), true),
            CmpOp::Ge => new_lo = Some(v),
            CmpOp::Lt => (new_hi, new_hi_open) = (Some(v), true),
            CmpOp::Le => new_hi = Some(v),
            CmpOp::Eq => (new_lo, new_hi) = (Some(v), Some(v)),
            CmpOp::Ne => excluded.push(v),
        }
        if let Some(mut l) = new_lo {
            if *integral {
                l = if new_lo_open {
                    l.floor() + 1.0
                } else {
                    l.ceil()
                };
                new_lo_open = false;
            }
            if l > *lo || (l == *lo && new_lo_open) {
                *lo = l;
                *lo_open = new_lo_open;
            }
        }
        if let Some(mut h) = new_hi {
            if *integral {
                h = if new_hi_open {
                    h.ceil() - 1.0
                } else {
                    h.floor()
                };
                new_hi_open = false;
            }
            if h < *hi || (h == *hi && new_hi_open) {
                *hi = h;
                *hi_open = new_hi_open;
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Domain::Members(m) => *m == 0,
            Domain::Num {
                lo,
                lo_open,
                hi,
                hi_open,
                excluded,
                ..
            } => {
                if lo > hi || (lo == hi && (*lo_open || *hi_open)) {
                    return true;
                }
                lo == hi && excluded.contains(lo)
            }
        }
    }
}

fn negate(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
    }
}

fn and(mut a: Vec<Term>, b: Vec<Term>) -> Dnf {
    if a.len().saturating_mul(b.len()) > MAX_TERMS {
        return None;
    }
    // One conjunction on the right (the shape of a long `a and b and …`): extend the
    // left terms in place instead of copying them, which made long chains quadratic.
    if let [y] = b.as_slice() {
        for x in &mut a {
            x.extend(y.iter().cloned());
        }
        return Some(a);
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in &a {
        for y in &b {
            let mut t = x.clone();
            t.extend(y.iter().cloned());
            out.push(t);
        }
    }
    Some(out)
}

fn or(mut a: Vec<Term>, b: Vec<Term>) -> Dnf {
    if a.len() + b.len() > MAX_TERMS {
        return None;
    }
    a.extend(b);
    Some(a)
}

/// An expression as text without spans: the identity of an opaque atom, and how
/// lints quote conditions.
pub fn text(program: &Program, e: &Expr) -> String {
    stacker::maybe_grow(64 * 1024, 1024 * 1024, || text_inner(program, e))
}

fn text_inner(program: &Program, e: &Expr) -> String {
    let field = |id: &usize| {
        program
            .fields
            .get(*id)
            .map_or_else(|| format!("#{id}"), |f| f.path.clone())
    };
    match &e.kind {
        ExprKind::Const(v) => value_text(program, v),
        ExprKind::Field(id) => field(id),
        ExprKind::Def(id) => program.defs.get(*id).map_or("?".into(), |d| d.name.clone()),
        ExprKind::Tier => "tier".into(),
        ExprKind::Degraded => "degraded".into(),
        ExprKind::Has(id) => format!("has({})", field(id)),
        ExprKind::Coalesce(id, d) => format!("{} ?? {}", field(id), text(program, d)),
        ExprKind::Not(a) => format!("not {}", text(program, a)),
        ExprKind::Neg(a) => format!("-{}", text(program, a)),
        ExprKind::And(a, b) => format!("({} and {})", text(program, a), text(program, b)),
        ExprKind::Or(a, b) => format!("({} or {})", text(program, a), text(program, b)),
        ExprKind::Cmp(op, a, b) => {
            format!("{} {} {}", text(program, a), op.as_str(), text(program, b))
        }
        ExprKind::Arith(op, a, b) => format!(
            "({} {} {})",
            text(program, a),
            op.as_str(),
            text(program, b)
        ),
        ExprKind::IntToFloat(a) => text(program, a),
        ExprKind::InSet(a, b) => format!("{} in {}", text(program, a), text(program, b)),
        ExprKind::InList(a, items) => {
            let items: Vec<String> = items.iter().map(|i| text(program, i)).collect();
            format!("{} in {{{}}}", text(program, a), items.join(", "))
        }
        ExprKind::Call(f, args) => {
            let mut parts: Vec<String> = args.iter().map(|a| text(program, a)).collect();
            if let crate::check::program::Builtin::Matches(i) = f {
                let source = program.patterns.get(*i).map_or("", |p| p.source.as_str());
                parts.push(format!("{source:?}"));
            }
            format!("{}({})", f.name(), parts.join(", "))
        }
    }
}

fn value_text(program: &Program, v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Str(s) => format!("{s:?}"),
        Value::Duration(d) => format!("{d}s"),
        Value::Timestamp(t) => format!("date({:?})", crate::builtins::time::format_timestamp(*t)),
        Value::Percent(p) => format!("{p}%"),
        Value::Enum(e, m) => program
            .enums
            .get(*e)
            .and_then(|e| e.members.get(*m as usize))
            .cloned()
            .unwrap_or_default(),
        Value::Tier(t) => program.tiers.get(*t).map_or("?".into(), |t| t.name.clone()),
        Value::Set(items) => {
            let items: Vec<String> = items.iter().map(|i| value_text(program, i)).collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}
