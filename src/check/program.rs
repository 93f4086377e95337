//! The checked program: every name resolved, every expression typed. A `Program`
//! that exists has no errors; later stages may rely on that.

use crate::ast::{CmpOp, Outcome, WindowKind};
use crate::syntax::span::Span;

pub type EnumId = usize;
pub type FieldId = usize;
pub type DefId = usize;
pub type TierId = usize;
pub type DutyId = usize;
pub type ServiceId = usize;
pub type EventId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Elem {
    Enum(EnumId),
    Str,
}

/// The type of a value. `Error` stands for an expression that already has a
/// diagnostic, so that one mistake is reported once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ty {
    Bool,
    Int,
    Float,
    Str,
    Duration,
    Percent,
    /// Whole seconds since 1970-01-01T00:00:00Z.
    Timestamp,
    Enum(EnumId),
    Tier,
    Set(Elem),
    Error,
}

impl Ty {
    pub fn is_numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Float)
    }

    pub fn is_ordered(self) -> bool {
        matches!(
            self,
            Ty::Int | Ty::Float | Ty::Duration | Ty::Percent | Ty::Timestamp
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumDef {
    pub name: String,
    pub members: Vec<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub path: String,
    pub ty: Ty,
    pub optional: bool,
    /// The value an absent (or `null`) field takes; only required fields have one.
    pub default: Option<Value>,
    /// The policy's clock: a timestamp the host fills when a request leaves it out.
    pub clock: bool,
    /// Marked `sensitive`: masked wherever requests are logged.
    pub sensitive: bool,
    pub span: Span,
}

/// A constant: a literal, an enum member, a tier name, or a set of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Whole seconds.
    Duration(i64),
    /// As written: `5%` is 5.0.
    Percent(f64),
    /// Seconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    Enum(EnumId, u32),
    Tier(TierId),
    Set(Vec<Value>),
}

impl Value {
    /// The 64 bits a record slot holds for a scalar value (`None` for a set, whose
    /// encoding depends on the record). `intern` gives a string its id.
    pub fn scalar_bits(&self, intern: impl FnOnce(&str) -> u32) -> Option<u64> {
        Some(match self {
            Value::Bool(b) => u64::from(*b),
            Value::Int(i) | Value::Duration(i) | Value::Timestamp(i) => *i as u64,
            Value::Float(f) | Value::Percent(f) => f.to_bits(),
            Value::Str(s) => u64::from(intern(s)),
            Value::Enum(_, m) => u64::from(*m),
            Value::Tier(t) => *t as u64,
            Value::Set(_) => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    /// The remainder of integer division (sign of the dividend), checked.
    Rem,
}

impl ArithOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Rem => "%",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Const(Value),
    /// A required field, or an optional one under `Has`/`Coalesce` only.
    Field(FieldId),
    Def(DefId),
    Tier,
    Degraded,
    Has(FieldId),
    /// `field ?? default` for an optional field.
    Coalesce(FieldId, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// Both operands have the same type (ints are promoted to floats explicitly).
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    IntToFloat(Box<Expr>),
    /// Membership in a set-typed expression (a `set<…>` field).
    InSet(Box<Expr>, Box<Expr>),
    /// Membership in a set literal.
    InList(Box<Expr>, Vec<Expr>),
    /// A built-in function, its arguments checked against its signature.
    Call(Builtin, Vec<Expr>),
}

/// A built-in function with its overload resolved (`len` of a string or of a set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    StartsWith,
    EndsWith,
    /// `contains(s, x)` on strings; on a set it is checked as `x in set`.
    Contains,
    /// `matches(s, "…")`: the index of the compiled pattern in `Program::patterns`.
    Matches(usize),
    Lower,
    Upper,
    /// The length of a string, in Unicode scalar values.
    StrLen,
    /// The number of (distinct) members of a set.
    SetLen,
    ContainsAny,
    ContainsAll,
    IsSubset,
    Intersects,
    Abs,
    Min,
    Max,
    /// `hour_of_day(t, "zone")`: the index of the zone in `Program::zones`.
    HourOfDay(usize),
    /// `weekday(t, "zone")`.
    Weekday(usize),
    /// `int(f)`: truncation toward zero; out of range fails closed.
    FloatToInt,
}

impl Builtin {
    pub fn name(self) -> &'static str {
        match self {
            Builtin::StartsWith => "starts_with",
            Builtin::EndsWith => "ends_with",
            Builtin::Contains => "contains",
            Builtin::Matches(_) => "matches",
            Builtin::Lower => "lower",
            Builtin::Upper => "upper",
            Builtin::StrLen | Builtin::SetLen => "len",
            Builtin::ContainsAny => "contains_any",
            Builtin::ContainsAll => "contains_all",
            Builtin::IsSubset => "is_subset",
            Builtin::Intersects => "intersects",
            Builtin::Abs => "abs",
            Builtin::Min => "min",
            Builtin::Max => "max",
            Builtin::FloatToInt => "int",
            Builtin::HourOfDay(_) => "hour_of_day",
            Builtin::Weekday(_) => "weekday",
        }
    }
}

#[derive(Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Ty,
    pub span: Span,
}

// By hand, so that cloning or comparing a tree thousands deep cannot overflow the stack.
impl Clone for Expr {
    fn clone(&self) -> Self {
        crate::tree_drop::with_stack(|| Expr {
            kind: self.kind.clone(),
            ty: self.ty,
            span: self.span,
        })
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        crate::tree_drop::with_stack(|| {
            self.ty == other.ty && self.span == other.span && self.kind == other.kind
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Def {
    pub name: String,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub name: String,
    /// `None` for `otherwise`.
    pub when: Option<Expr>,
    pub cite: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Its name, or an id derived from its content (`rule-` and 8 hex digits): stable
    /// when other rules are added, moved or removed.
    pub id: String,
    /// Whether `id` is a name the author gave.
    pub named: bool,
    pub outcome: Outcome,
    pub when: Expr,
    pub because: String,
    pub cite: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Require {
    pub cond: Expr,
    pub outcome: Outcome,
    pub message: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReportDuty {
    pub recipient: String,
    pub within_secs: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Duty {
    pub name: String,
    /// Empty: no tier restriction.
    pub tiers: Vec<TierId>,
    pub when: Option<Expr>,
    pub requires: Vec<Require>,
    pub retain_secs: Option<u64>,
    pub reports: Vec<ReportDuty>,
    pub notices: Vec<String>,
    pub cites: Vec<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Threshold {
    Count(i64),
    /// Percent, 0–100.
    Rate(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Suspend {
        service: ServiceId,
        for_secs: Option<u64>,
    },
    Degrade {
        service: ServiceId,
    },
    Notify {
        channel: String,
    },
    Report {
        recipient: String,
        within_secs: u64,
        /// `per event`: one report per counted event, due from its awareness time.
        per_event: bool,
    },
    /// `key` is the request field blocked (for an event trigger, the request field of
    /// the same path as the event's `by` key).
    Block {
        key: FieldId,
        for_secs: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub name: String,
    pub kind: WindowKind,
    pub cond: Expr,
    pub within_secs: u64,
    /// A field of the request, or of the event for an event trigger.
    pub by: Option<FieldId>,
    /// The event kind counted; `None` for a trigger over decisions.
    pub event: Option<EventId>,
    pub op: CmpOp,
    pub threshold: Threshold,
    /// `rate … min N`: the condition holds only with at least N decisions in the window.
    pub min_decisions: Option<u64>,
    pub actions: Vec<Action>,
    pub cites: Vec<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Recovery {
    pub cooldown_secs: Option<u64>,
    pub approvers: Vec<String>,
    /// Percent per stage, rising.
    pub ramp: Vec<f64>,
    pub ramp_every_secs: Option<u64>,
    pub timeout_secs: Option<u64>,
    /// `require report filed`: approvals count only once every report the suspending
    /// trigger opened is filed.
    pub require_report_filed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub fallback: Option<String>,
    pub recovery: Option<Recovery>,
    pub cites: Vec<String>,
    pub span: Span,
}

/// `event NAME { … }`: a kind of event the host posts, with its own fields (ids are
/// indexes into `fields` here, not into the request's).
#[derive(Debug, Clone, PartialEq)]
pub struct EventKind {
    pub name: String,
    pub fields: Vec<Field>,
    /// `id: string`: the event's own id (reports carry it; a repeat is not counted).
    pub id_field: Option<FieldId>,
    /// `aware_at: timestamp`: when the provider became aware; `per event` report
    /// deadlines count from it.
    pub aware_field: Option<FieldId>,
    pub span: Span,
}

/// A field's value in a fixture or override; `None` is `null` (absent).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldValue {
    pub field: FieldId,
    pub value: Option<Value>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    pub name: String,
    pub values: Vec<FieldValue>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub name: String,
    pub fixture: usize,
    pub overrides: Vec<FieldValue>,
    pub outcome: Outcome,
    pub tier: Option<TierId>,
    pub duties: Vec<DutyId>,
    /// Ids of rules expected among the decision's reasons (`expect …, rule NAME`).
    pub rules: Vec<String>,
    pub span: Span,
}

/// `assert "NAME" { when COND expect … }`: for every valid request where `when`
/// holds, every expectation holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub name: String,
    pub when: Expr,
    pub expect: Vec<Expect>,
    pub span: Span,
}

/// One expectation of an assertion; `negated` for `expect not …`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expect {
    pub negated: bool,
    pub target: ExpectTarget,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExpectTarget {
    Outcome(Outcome),
    Tier(TierId),
    Duty(DutyId),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub name: String,
    pub version: String,
    pub enums: Vec<EnumDef>,
    pub fields: Vec<Field>,
    pub defs: Vec<Def>,
    /// Empty when the policy has no `tiers` block.
    pub tiers: Vec<Tier>,
    pub default: Outcome,
    pub rules: Vec<Rule>,
    pub duties: Vec<Duty>,
    pub triggers: Vec<Trigger>,
    pub services: Vec<Service>,
    pub events: Vec<EventKind>,
    pub fixtures: Vec<Fixture>,
    pub tests: Vec<Test>,
    pub assertions: Vec<Assertion>,
    /// The patterns of `matches` calls, compiled once (`Builtin::Matches` indexes it).
    pub patterns: Vec<std::sync::Arc<crate::builtins::pattern::Pattern>>,
    /// The time zones of `hour_of_day` and `weekday` (`Builtin::HourOfDay` indexes it).
    pub zones: Vec<crate::builtins::time::Zone>,
}

impl Program {
    pub fn field_by_path(&self, path: &str) -> Option<FieldId> {
        self.fields.iter().position(|f| f.path == path)
    }

    /// How a type reads in messages.
    pub fn type_name(&self, ty: Ty) -> String {
        type_name(&self.enums, ty)
    }
}

pub fn type_name(enums: &[EnumDef], ty: Ty) -> String {
    let enum_name = |id: EnumId| enums.get(id).map_or("?".to_string(), |e| e.name.clone());
    match ty {
        Ty::Bool => "bool".into(),
        Ty::Int => "int".into(),
        Ty::Float => "float".into(),
        Ty::Str => "string".into(),
        Ty::Duration => "duration".into(),
        Ty::Percent => "percent".into(),
        Ty::Timestamp => "timestamp".into(),
        Ty::Enum(id) => enum_name(id),
        Ty::Tier => "tier".into(),
        Ty::Set(Elem::Enum(id)) => format!("set<{}>", enum_name(id)),
        Ty::Set(Elem::Str) => "set<string>".into(),
        Ty::Error => "{unknown}".into(),
    }
}

impl Expr {
    /// Pushes this expression's operands onto `out` (a `def`'s body is not one).
    pub fn children<'e>(&'e self, out: &mut Vec<&'e Expr>) {
        match &self.kind {
            ExprKind::Coalesce(_, a)
            | ExprKind::Not(a)
            | ExprKind::Neg(a)
            | ExprKind::IntToFloat(a) => out.push(a),
            ExprKind::And(a, b)
            | ExprKind::Or(a, b)
            | ExprKind::Cmp(_, a, b)
            | ExprKind::Arith(_, a, b)
            | ExprKind::InSet(a, b) => {
                out.push(a);
                out.push(b);
            }
            ExprKind::InList(a, items) => {
                out.push(a);
                out.extend(items);
            }
            ExprKind::Call(_, args) => out.extend(args),
            ExprKind::Const(_)
            | ExprKind::Field(_)
            | ExprKind::Def(_)
            | ExprKind::Tier
            | ExprKind::Degraded
            | ExprKind::Has(_) => {}
        }
    }
}

impl crate::tree_drop::Tree for Expr {
    fn is_leaf(&self) -> bool {
        matches!(
            self.kind,
            ExprKind::Const(_)
                | ExprKind::Field(_)
                | ExprKind::Def(_)
                | ExprKind::Tier
                | ExprKind::Degraded
                | ExprKind::Has(_)
        )
    }

    fn take_children(&mut self, out: &mut Vec<Expr>) {
        match std::mem::replace(&mut self.kind, ExprKind::Tier) {
            ExprKind::Coalesce(_, e)
            | ExprKind::Not(e)
            | ExprKind::Neg(e)
            | ExprKind::IntToFloat(e) => out.push(*e),
            ExprKind::And(a, b)
            | ExprKind::Or(a, b)
            | ExprKind::Cmp(_, a, b)
            | ExprKind::Arith(_, a, b)
            | ExprKind::InSet(a, b) => {
                out.push(*a);
                out.push(*b);
            }
            ExprKind::InList(e, items) => {
                out.push(*e);
                out.extend(items);
            }
            ExprKind::Call(_, args) => out.extend(args),
            _ => {}
        }
    }
}

impl Drop for Expr {
    fn drop(&mut self) {
        crate::tree_drop::drop_iteratively(self);
    }
}
