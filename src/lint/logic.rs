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

#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    /// A `bool` field, `has(f)`, `degraded`.
    Flag(String),
    /// `x OP c` over a numeric field.
    Num { var: usize, op: CmpOp, value: f64 },
    /// An enum field (or the tier, `var == usize::MAX`) in a set of members.
    Members { var: usize, mask: u64 },
    /// A string field equal to a constant.
    StrEq { var: usize, value: String },
    /// Anything else, by its text.
    Opaque(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lit {
    atom: Atom,
    positive: bool,
}

type Term = Vec<Lit>;

/// A condition in DNF; `None` when it grew too large.
pub type Dnf = Option<Vec<Term>>;

pub const TIER_VAR: usize = usize::MAX;

/// The context conditions are read in: the program (for `def`s and types).
pub struct Logic<'p> {
    program: &'p Program,
}

impl<'p> Logic<'p> {
    pub fn new(program: &'p Program) -> Self {
        Logic { program }
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
                            value: s.clone(),
                        }),
                        _ => None,
                    })
                    .collect();
                if atoms.len() != items.len() {
                    return Some(vec![vec![Lit {
                        atom: Atom::Opaque(text(self.program, e)),
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
            _ => {
                let (atom, polarity) = self.atom(e);
                Some(vec![vec![Lit {
                    atom,
                    positive: positive == polarity,
                }]])
            }
        }
    }

    fn string_field(&self, e: &Expr) -> Option<usize> {
        match (&e.kind, e.ty) {
            (ExprKind::Field(id), Ty::Str) => Some(*id),
            _ => None,
        }
    }

    fn numeric_var(&self, e: &Expr) -> Option<usize> {
        match &e.kind {
            ExprKind::Field(id)
                if matches!(e.ty, Ty::Int | Ty::Float | Ty::Duration | Ty::Percent) =>
            {
                Some(*id)
            }
            ExprKind::IntToFloat(inner) => self.numeric_var(inner),
            _ => None,
        }
    }

    /// The atom an expression reads, and whether it holds when the atom does (`!=`
    /// is the negation of `==`).
    fn atom(&self, e: &Expr) -> (Atom, bool) {
        let atom = match &e.kind {
            ExprKind::Field(id) if e.ty == Ty::Bool => Atom::Flag(format!("field {id}")),
            ExprKind::Has(id) => match self.program.fields.get(*id) {
                Some(f) if !f.optional => Atom::Opaque("true".into()),
                _ => Atom::Flag(format!("has {id}")),
            },
            ExprKind::Degraded => Atom::Flag("degraded".into()),
            ExprKind::Cmp(op, a, b) => match self.comparison(*op, a, b) {
                Some(found) => return found,
                None => Atom::Opaque(text(self.program, e)),
            },
            ExprKind::InList(elem, items) => {
                let var = match (&elem.kind, elem.ty) {
                    (ExprKind::Tier, _) => Some(TIER_VAR),
                    (ExprKind::Field(id), Ty::Enum(_)) => Some(*id),
                    _ => None,
                };
                let mask = items.iter().try_fold(0u64, |mask, i| match &i.kind {
                    ExprKind::Const(Value::Enum(_, m)) => Some(mask | 1 << (m % 64)),
                    ExprKind::Const(Value::Tier(t)) => Some(mask | 1 << (t % 64)),
                    _ => None,
                });
                match (var, mask) {
                    (Some(var), Some(mask)) => Atom::Members { var, mask },
                    _ => Atom::Opaque(text(self.program, e)),
                }
            }
            _ => Atom::Opaque(text(self.program, e)),
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
                var: *id,
                mask: 1 << (m % 64),
            },
            (ExprKind::Field(id), Value::Str(s)) => Atom::StrEq {
                var: *id,
                value: s.clone(),
            },
            _ => return None,
        };
        Some((atom, eq))
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

    fn term_satisfiable(&self, term: &Term) -> bool {
        let mut domains: HashMap<usize, Domain> = HashMap::new();
        let mut flags: HashMap<String, bool> = HashMap::new();
        let mut strings: HashMap<usize, StrDomain> = HashMap::new();
        for lit in term {
            let ok = match &lit.atom {
                Atom::Flag(k) | Atom::Opaque(k) => {
                    if k == "true" {
                        lit.positive
                    } else {
                        *flags.entry(k.clone()).or_insert(lit.positive) == lit.positive
                    }
                }
                Atom::Num { var, op, value } => {
                    let integral = matches!(
                        self.program.fields.get(*var).map(|f| f.ty),
                        Some(Ty::Int | Ty::Duration)
                    );
                    let d = domains
                        .entry(*var)
                        .or_insert_with(|| Domain::full(integral));
                    let op = if lit.positive { *op } else { negate(*op) };
                    d.constrain(op, *value);
                    !d.is_empty()
                }
                Atom::Members { var, mask } => {
                    let universe = self.universe(*var);
                    let d = domains.entry(*var).or_insert(Domain::Members(universe));
                    if let Domain::Members(m) = d {
                        *m &= if lit.positive { *mask } else { !*mask };
                    }
                    !d.is_empty()
                }
                Atom::StrEq { var, value } => {
                    let d = strings.entry(*var).or_default();
                    if lit.positive {
                        match &d.eq {
                            Some(v) if v != value => false,
                            _ => {
                                d.eq = Some(value.clone());
                                !d.ne.contains(value)
                            }
                        }
                    } else {
                        d.ne.push(value.clone());
                        d.eq.as_ref() != Some(value)
                    }
                }
            };
            if !ok {
                return false;
            }
        }
        true
    }

    fn universe(&self, var: usize) -> u64 {
        let count = if var == TIER_VAR {
            self.program.tiers.len()
        } else {
            match self.program.fields.get(var).map(|f| f.ty) {
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
    eq: Option<String>,
    ne: Vec<String>,
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

fn and(a: Vec<Term>, b: Vec<Term>) -> Dnf {
    if a.len().saturating_mul(b.len()) > MAX_TERMS {
        return None;
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
    }
}

fn value_text(program: &Program, v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Str(s) => format!("{s:?}"),
        Value::Duration(d) => format!("{d}s"),
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
