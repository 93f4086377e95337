//! The reference interpreter: decides a request the slow, obvious way, by walking the
//! IR. Every compiled guard must agree with it on every input.

use super::{ArithOp, Compact, Expr, Kind, Layout, NO_TIER, Policy, outcome_code, status};
use crate::ast::CmpOp;
use crate::runtime::record::Record;

/// A run-time failure: which status, and at which site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub status: u64,
    pub site: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum V {
    B(bool),
    I(i64),
    F(f64),
    /// String id, enum member or tier: compared by identity.
    Id(u64),
}

impl V {
    fn bool(self) -> bool {
        matches!(self, V::B(true))
    }
    fn int(self) -> i64 {
        match self {
            V::I(i) => i,
            _ => 0,
        }
    }
    fn float(self) -> f64 {
        match self {
            V::F(f) => f,
            _ => 0.0,
        }
    }
}

struct Ctx<'a> {
    policy: &'a Policy,
    record: &'a Record,
    degraded: bool,
    tier: u64,
}

/// Decides `record` under `policy` into `out` (which must have the policy's layout).
pub fn decide(policy: &Policy, record: &Record, degraded: bool, out: &mut Compact) {
    out.reset();
    if let Err(failure) = run(policy, record, degraded, out) {
        out.fail(failure.status, failure.site);
    }
}

/// Whether `cond` holds for `record`, read as a rule's condition is: after the tier is
/// chosen. `Err` when choosing the tier or evaluating `cond` fails.
pub fn holds(
    policy: &Policy,
    record: &Record,
    degraded: bool,
    cond: &Expr,
) -> Result<bool, Failure> {
    let ctx = Ctx::with_tier(policy, record, degraded)?;
    Ok(eval(&ctx, cond)?.bool())
}

impl<'a> Ctx<'a> {
    /// The context of one decision, with the first tier whose condition holds chosen.
    fn with_tier(policy: &'a Policy, record: &'a Record, degraded: bool) -> Result<Self, Failure> {
        let mut ctx = Ctx {
            policy,
            record,
            degraded,
            tier: NO_TIER,
        };
        for (i, tier) in policy.tiers.iter().enumerate() {
            let matched = match &tier.cond {
                Some(cond) => eval(&ctx, cond)?.bool(),
                None => true,
            };
            if matched {
                ctx.tier = i as u64;
                break;
            }
        }
        Ok(ctx)
    }
}

fn run(policy: &Policy, record: &Record, degraded: bool, out: &mut Compact) -> Result<(), Failure> {
    let layout = policy.layout;
    let ctx = Ctx::with_tier(policy, record, degraded)?;
    let mut severity: i64 = -1;
    for (i, rule) in policy.rules.iter().enumerate() {
        if eval(&ctx, &rule.cond)?.bool() {
            out.set_bit(layout.rules, i);
            severity = severity.max(outcome_code(rule.outcome) as i64);
        }
    }
    for (i, duty) in policy.duties.iter().enumerate() {
        let in_tier = match duty.tier_mask {
            None => true,
            Some(mask) => ctx.tier < 64 && mask & (1 << ctx.tier) != 0,
        };
        if !in_tier {
            continue;
        }
        let applies = match &duty.when {
            None => true,
            Some(when) => eval(&ctx, when)?.bool(),
        };
        if !applies {
            continue;
        }
        out.set_bit(layout.duties, i);
        for (j, require) in duty.requires.iter().enumerate() {
            if !eval(&ctx, &require.cond)?.bool() {
                out.set_bit(layout.requires, duty.first_require + j);
                severity = severity.max(outcome_code(require.outcome) as i64);
            }
        }
    }
    for (i, trigger) in policy.triggers.iter().enumerate() {
        if eval(&ctx, &trigger.cond)?.bool() {
            out.set_bit(layout.triggers, i);
        }
    }
    let outcome = if severity < 0 {
        outcome_code(policy.default)
    } else {
        severity as u64
    };
    if let Some(w) = out.words.get_mut(Layout::TIER) {
        *w = ctx.tier;
    }
    if let Some(w) = out.words.get_mut(Layout::OUTCOME) {
        *w = outcome;
    }
    Ok(())
}

fn load(ctx: &Ctx<'_>, slot: u32, kind: Kind) -> V {
    let bits = ctx.record.slot(slot as usize);
    match kind {
        Kind::Bool => V::B(bits != 0),
        Kind::Int => V::I(bits as i64),
        Kind::Float => V::F(f64::from_bits(bits)),
        Kind::Str | Kind::Enum | Kind::Tier => V::Id(bits),
    }
}

fn eval(ctx: &Ctx<'_>, e: &Expr) -> Result<V, Failure> {
    stacker::maybe_grow(64 * 1024, 1024 * 1024, || eval_inner(ctx, e))
}

fn eval_inner(ctx: &Ctx<'_>, e: &Expr) -> Result<V, Failure> {
    Ok(match e {
        Expr::Bool(b) => V::B(*b),
        Expr::Int(i) => V::I(*i),
        Expr::Float(f) => V::F(*f),
        Expr::Str(id) | Expr::Enum(id) | Expr::Tier(id) => V::Id(u64::from(*id)),
        Expr::Load { slot, kind } => load(ctx, *slot, *kind),
        Expr::Has { slot } => V::B(ctx.record.is_present(*slot as usize)),
        Expr::Coalesce {
            slot,
            kind,
            default,
        } => {
            if ctx.record.is_present(*slot as usize) {
                load(ctx, *slot, *kind)
            } else {
                eval(ctx, default)?
            }
        }
        Expr::Degraded => V::B(ctx.degraded),
        Expr::CurrentTier => V::Id(ctx.tier),
        Expr::Not(a) => V::B(!eval(ctx, a)?.bool()),
        Expr::And(a, b) => V::B(eval(ctx, a)?.bool() && eval(ctx, b)?.bool()),
        Expr::Or(a, b) => V::B(eval(ctx, a)?.bool() || eval(ctx, b)?.bool()),
        Expr::Cmp { op, kind, a, b } => {
            let (x, y) = (eval(ctx, a)?, eval(ctx, b)?);
            V::B(compare(*op, *kind, x, y))
        }
        Expr::Arith {
            op,
            kind,
            a,
            b,
            site,
        } => {
            let (x, y) = (eval(ctx, a)?, eval(ctx, b)?);
            arith(*op, *kind, x, y, *site)?
        }
        Expr::Neg { kind, a, site } => match (kind, eval(ctx, a)?) {
            (Kind::Float, v) => V::F(-v.float()),
            (_, v) => V::I(v.int().checked_neg().ok_or(Failure {
                status: status::OVERFLOW,
                site: *site,
            })?),
        },
        Expr::IntToFloat(a) => V::F(eval(ctx, a)?.int() as f64),
        Expr::InEnumSet { elem, slot } => {
            let member = id(eval(ctx, elem)?);
            let mask = ctx.record.slot(*slot as usize);
            V::B(member < 64 && mask & (1 << member) != 0)
        }
        Expr::InStrSet { elem, slot } => {
            let wanted = id(eval(ctx, elem)?);
            let set = ctx.record.str_set(ctx.record.slot(*slot as usize));
            V::B(set.iter().any(|&s| u64::from(s) == wanted))
        }
        Expr::InMask { elem, mask } => {
            let member = id(eval(ctx, elem)?);
            V::B(member < 64 && mask & (1 << member) != 0)
        }
        Expr::InList { elem, kind, items } => {
            let x = eval(ctx, elem)?;
            let mut found = false;
            for item in items {
                if compare(CmpOp::Eq, *kind, x, eval(ctx, item)?) {
                    found = true;
                    break;
                }
            }
            V::B(found)
        }
        Expr::StrCall { call, a, b, .. } => {
            let x = id(eval(ctx, a)?);
            let y = match b {
                Some(b) => bits(eval(ctx, b)?),
                None => 0,
            };
            let Some(spec) = ctx.policy.calls.str_calls.get(*call as usize) else {
                return Ok(V::B(false));
            };
            let result = super::str_call(&ctx.policy.calls, ctx.texts(), spec, x, y);
            if spec.func == super::StrFunc::Len {
                V::I(result)
            } else {
                V::B(result != 0)
            }
        }
        Expr::StrSet(i) => V::I((super::LITERAL_SET | u64::from(*i)) as i64),
        Expr::SetRel { all, strings, a, b } => {
            let (x, y) = (bits(eval(ctx, a)?), bits(eval(ctx, b)?));
            V::B(if *strings {
                super::str_set_rel(&ctx.policy.calls, ctx.texts(), *all, x, y)
            } else if *all {
                x & y == y
            } else {
                x & y != 0
            })
        }
        Expr::SetLen { strings, a } => {
            let x = bits(eval(ctx, a)?);
            V::I(if *strings {
                (x & 0xffff_ffff) as i64
            } else {
                i64::from(x.count_ones())
            })
        }
        Expr::Abs { kind, a, site } => match (kind, eval(ctx, a)?) {
            (Kind::Float, v) => V::F(v.float().abs()),
            (_, v) => V::I(v.int().checked_abs().ok_or(Failure {
                status: status::OVERFLOW,
                site: *site,
            })?),
        },
        Expr::MinMax { max, kind, a, b } => {
            let (x, y) = (eval(ctx, a)?, eval(ctx, b)?);
            let op = if *max { CmpOp::Gt } else { CmpOp::Lt };
            if compare(op, *kind, y, x) { y } else { x }
        }
        Expr::TimeCall {
            weekday,
            zone,
            a,
            site,
        } => {
            let t = eval(ctx, a)?.int();
            let local = super::time_call(&ctx.policy.calls, *weekday, *zone, t).ok_or(Failure {
                status: status::OVERFLOW,
                site: *site,
            })?;
            if *weekday {
                V::Id(local as u64)
            } else {
                V::I(local)
            }
        }
        Expr::FloatToInt { a, site } => {
            V::I(float_to_int(eval(ctx, a)?.float()).ok_or(Failure {
                status: status::OVERFLOW,
                site: *site,
            })?)
        }
    })
}

impl<'a> Ctx<'a> {
    fn texts(&self) -> super::Texts<'a> {
        super::Texts {
            literals: &self.policy.strings,
            record: self.record,
        }
    }
}

/// The bits a value has in a slot: how string ids and set values reach a call.
fn bits(v: V) -> u64 {
    match v {
        V::B(b) => u64::from(b),
        V::I(i) => i as u64,
        V::F(f) => f.to_bits(),
        V::Id(i) => i,
    }
}

/// `int(f)`: truncation toward zero, or `None` for NaN and values outside the int
/// range (−2^63 ≤ f < 2^63).
pub(crate) fn float_to_int(f: f64) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    (-LIMIT..LIMIT).contains(&f).then_some(f as i64)
}

fn id(v: V) -> u64 {
    match v {
        V::Id(i) => i,
        _ => u64::MAX,
    }
}

/// An ordered comparison; for floats, IEEE 754 (`!=` holds for NaN, the rest do not).
pub(crate) fn ordered<T: PartialOrd>(op: CmpOp, a: T, b: T) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

fn compare(op: CmpOp, kind: Kind, x: V, y: V) -> bool {
    match kind {
        Kind::Float => ordered(op, x.float(), y.float()),
        Kind::Int => ordered(op, x.int(), y.int()),
        Kind::Bool | Kind::Str | Kind::Enum | Kind::Tier => {
            let equal = match (x, y) {
                (V::B(a), V::B(b)) => a == b,
                (V::Id(a), V::Id(b)) => a == b,
                _ => false,
            };
            match op {
                CmpOp::Ne => !equal,
                _ => equal,
            }
        }
    }
}

fn arith(op: ArithOp, kind: Kind, x: V, y: V, site: u32) -> Result<V, Failure> {
    let overflow = Failure {
        status: status::OVERFLOW,
        site,
    };
    let by_zero = Failure {
        status: status::DIVISION_BY_ZERO,
        site,
    };
    if kind == Kind::Float {
        let (a, b) = (x.float(), y.float());
        return Ok(V::F(match op {
            ArithOp::Add => a + b,
            ArithOp::Sub => a - b,
            ArithOp::Mul => a * b,
            ArithOp::Div => {
                if b == 0.0 {
                    return Err(by_zero);
                }
                a / b
            }
            // The checker allows `%` on integers only; like the JIT, which has no float
            // remainder, a float here fails closed.
            ArithOp::Rem => return Err(overflow),
        }));
    }
    let (a, b) = (x.int(), y.int());
    let result = match op {
        ArithOp::Add => a.checked_add(b),
        ArithOp::Sub => a.checked_sub(b),
        ArithOp::Mul => a.checked_mul(b),
        ArithOp::Div => {
            if b == 0 {
                return Err(by_zero);
            }
            a.checked_div(b)
        }
        ArithOp::Rem => {
            if b == 0 {
                return Err(by_zero);
            }
            // `i64::MIN % -1` overflows the division it comes from: fail closed, as `/`.
            a.checked_rem(b)
        }
    };
    result.map(V::I).ok_or(overflow)
}
