//! The untyped syntax tree, as written, with a span on everything a diagnostic may
//! point at. Produced by `syntax`, consumed by `check`.

use crate::syntax::span::{Span, Spanned};

pub type Name = Spanned<String>;

/// A field path or a qualified name: `user.age`, `Plan.free`, `std::eu::ai_act`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub parts: Vec<Name>,
    pub span: Span,
}

impl UseDecl {
    /// The module as the `use` line writes it: `std::minors`, `./common/x`, `../lib/x`.
    pub fn written(&self) -> String {
        let parts: Vec<&str> = self.path.parts.iter().map(|p| p.node.as_str()).collect();
        match self.relative {
            None => parts.join("::"),
            Some(0) => format!("./{}", parts.join("/")),
            Some(up) => format!("{}{}", "../".repeat(up as usize), parts.join("/")),
        }
    }
}

impl Path {
    pub fn dotted(&self) -> String {
        let mut out = String::new();
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push_str(&part.node);
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    pub decls: Vec<Decl>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decl {
    Policy(PolicyDecl),
    Use(UseDecl),
    Enum(EnumDecl),
    Schema(SchemaDecl),
    Def(DefDecl),
    Tiers(TiersDecl),
    Default(DefaultDecl),
    Rule(RuleDecl),
    Duty(DutyDecl),
    Trigger(TriggerDecl),
    Service(ServiceDecl),
    Fixture(FixtureDecl),
    Test(TestDecl),
    /// `clock request.time` (language v1): the timestamp field `now` and `effective`
    /// read.
    Clock(ClockDecl),
    /// `event incident { … }` (language v1): a kind of event the host posts.
    Event(EventDecl),
    /// `assert "NAME" { when COND expect deny }` (language v1): a property of every
    /// valid request, proved by `bylaw verify`.
    Assert(AssertDecl),
}

/// `assert "NAME" { when COND expect E, … }`: for every valid request where `when`
/// holds, each expectation holds.
#[derive(Debug, Clone, PartialEq)]
pub struct AssertDecl {
    pub name: Spanned<String>,
    pub when: Expr,
    pub expect: Vec<AssertExpect>,
    pub span: Span,
}

/// One expectation of an assertion: `deny`, `not allow`, `tier high`, `duty log`.
#[derive(Debug, Clone, PartialEq)]
pub struct AssertExpect {
    pub negated: bool,
    pub target: AssertTarget,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AssertTarget {
    /// The decision's outcome is this one.
    Outcome(Outcome),
    /// The decision's tier is this one.
    Tier(Name),
    /// This duty applies.
    Duty(Name),
}

/// `event NAME { fields }`: the schema of one kind of event, written like the request
/// schema's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDecl {
    pub name: Name,
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClockDecl {
    pub path: Path,
    pub span: Span,
}

/// `effective from date("…") [until date("…")]` (language v1), with the contextual
/// words as written: the checker insists on `from` and `until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub from_word: Name,
    pub from: Expr,
    pub until: Option<(Name, Expr)>,
    pub span: Span,
}

impl Decl {
    pub fn span(&self) -> Span {
        match self {
            Decl::Policy(d) => d.span,
            Decl::Use(d) => d.span,
            Decl::Enum(d) => d.span,
            Decl::Schema(d) => d.span,
            Decl::Def(d) => d.span,
            Decl::Tiers(d) => d.span,
            Decl::Default(d) => d.span,
            Decl::Rule(d) => d.span,
            Decl::Duty(d) => d.span,
            Decl::Trigger(d) => d.span,
            Decl::Service(d) => d.span,
            Decl::Clock(d) => d.span,
            Decl::Event(d) => d.span,
            Decl::Fixture(d) => d.span,
            Decl::Test(d) => d.span,
            Decl::Assert(d) => d.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDecl {
    pub name: Name,
    pub version: Spanned<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UseDecl {
    /// `std::minors`, `acme::safety`; for a relative `use ./common/x`, the parts after
    /// the `./` or `../`s (`common`, `x`).
    pub path: Path,
    /// `Some(n)` for a relative `use`: `./` is 0, each `../` one more.
    pub relative: Option<u32>,
    /// `use std::minors { adult_age: 16 }`: values for the module's typed `def`s.
    pub overrides: Vec<FieldValue>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumDecl {
    pub name: Name,
    pub members: Vec<Name>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SchemaDecl {
    pub name: Name,
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    pub path: Path,
    pub ty: TypeExpr,
    /// `output.deepfake: bool = false` (language v1): the value of an absent field.
    pub default: Option<Expr>,
    /// `user.name: string sensitive`: masked wherever requests are logged.
    pub sensitive: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    Named(String),
    Set(Name),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub optional: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DefDecl {
    pub name: Name,
    /// `def name: TYPE = VALUE` — a parameter: its value must be a constant of that type,
    /// and a policy that `use`s the module may override it.
    pub ty: Option<TypeExpr>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TiersDecl {
    pub entries: Vec<TierEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TierEntry {
    pub name: Name,
    /// `None` for `otherwise`.
    pub when: Option<Expr>,
    pub cite: Option<Spanned<String>>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allow,
    Escalate,
    Deny,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Escalate => "escalate",
            Outcome::Deny => "deny",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DefaultDecl {
    pub outcome: Spanned<Outcome>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleDecl {
    pub outcome: Spanned<Outcome>,
    /// `deny toxic_output when …`: the rule's id (language v1).
    pub name: Option<Name>,
    pub when: Expr,
    pub because: Spanned<String>,
    pub cite: Option<Spanned<String>>,
    pub effective: Option<Effective>,
    /// The module the rule comes from (`eu::ai_act::prohibited`), set when modules are
    /// merged: its id is qualified by it.
    pub module: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DutyDecl {
    pub name: Name,
    pub items: Vec<DutyItem>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DutyItem {
    AppliesToTier(Vec<Name>, Span),
    AppliesWhen(Expr, Span),
    Require {
        cond: Expr,
        outcome: Spanned<Outcome>,
        message: Spanned<String>,
        span: Span,
    },
    Retain(Spanned<u64>, Span),
    /// `retain NAME`: the retention period is a duration `def` (a module parameter).
    RetainDef(Name, Span),
    Report {
        recipient: Spanned<String>,
        within: Spanned<u64>,
        span: Span,
    },
    Notice(Spanned<String>, Span),
    Cite(Spanned<String>, Span),
    Effective(Effective),
}

impl DutyItem {
    pub fn span(&self) -> Span {
        match self {
            DutyItem::AppliesToTier(_, span)
            | DutyItem::AppliesWhen(_, span)
            | DutyItem::Retain(_, span)
            | DutyItem::RetainDef(_, span)
            | DutyItem::Notice(_, span)
            | DutyItem::Cite(_, span) => *span,
            DutyItem::Require { span, .. } | DutyItem::Report { span, .. } => *span,
            DutyItem::Effective(e) => e.span,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    Count,
    Rate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A number a trigger is written with — its window, threshold, deadlines and block
/// and suspension lengths: written out, or the name of a constant `def`, so that a
/// module's policy choices are named parameters a `use` can set.
#[derive(Debug, Clone, PartialEq)]
pub enum Amount<T> {
    Literal(T),
    Param(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TriggerDecl {
    pub name: Name,
    pub kind: Spanned<WindowKind>,
    /// The predicate over requests — or, with `where` or when it names an event kind,
    /// the event kind counted (`count(incident where severity == serious)`).
    pub cond: Expr,
    /// `where COND` after an event kind.
    pub filter: Option<Expr>,
    pub within: Spanned<Amount<u64>>,
    pub by: Option<Path>,
    /// `min N` on a rate: the word as written (the checker insists on `min`) and N.
    pub min: Option<(Name, Spanned<i64>)>,
    pub op: Spanned<CmpOp>,
    pub threshold: Spanned<Amount<Literal>>,
    pub actions: Vec<Action>,
    pub cite: Option<Spanned<String>>,
    pub effective: Option<Effective>,
    pub span: Span,
}

impl TriggerDecl {
    /// The parameters it names in place of a number (`within NAME`, `>= NAME`, `for NAME`),
    /// with where.
    pub fn params(&self) -> impl Iterator<Item = (&str, Span)> {
        let durations = self.actions.iter().filter_map(|a| match &a.kind {
            ActionKind::Suspend { for_, .. } => for_.as_ref(),
            ActionKind::Report { within, .. } => Some(within),
            ActionKind::Block { for_, .. } => Some(for_),
            ActionKind::Degrade { .. } | ActionKind::Notify { .. } => None,
        });
        let durations = std::iter::once(&self.within)
            .chain(durations)
            .filter_map(|d| match &d.node {
                Amount::Param(name) => Some((name.as_str(), d.span)),
                Amount::Literal(_) => None,
            });
        let threshold = match &self.threshold.node {
            Amount::Param(name) => Some((name.as_str(), self.threshold.span)),
            Amount::Literal(_) => None,
        };
        durations.chain(threshold)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    Suspend {
        service: Name,
        for_: Option<Spanned<Amount<u64>>>,
    },
    Degrade {
        service: Name,
    },
    Notify {
        channel: Spanned<String>,
    },
    Report {
        recipient: Spanned<String>,
        within: Spanned<Amount<u64>>,
        /// `per event`: the word as written (the checker insists on `per`).
        per: Option<Name>,
    },
    Block {
        key: Path,
        for_: Spanned<Amount<u64>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub kind: ActionKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDecl {
    pub name: Name,
    pub items: Vec<ServiceItem>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServiceItem {
    Fallback(Spanned<String>, Span),
    Recovery(Vec<RecoveryItem>, Span),
    Cite(Spanned<String>, Span),
}

#[derive(Debug, Clone, PartialEq)]
pub enum RecoveryItem {
    Cooldown(Spanned<u64>, Span),
    Approve(Spanned<String>, Span),
    Ramp {
        stages: Vec<Spanned<f64>>,
        every: Spanned<u64>,
        span: Span,
    },
    Timeout(Spanned<u64>, Span),
    /// `require report filed`: the word as written (the checker insists on `filed`).
    RequireReport(Name, Span),
}

impl RecoveryItem {
    pub fn span(&self) -> Span {
        match self {
            RecoveryItem::Cooldown(_, span)
            | RecoveryItem::Approve(_, span)
            | RecoveryItem::Timeout(_, span)
            | RecoveryItem::RequireReport(_, span) => *span,
            RecoveryItem::Ramp { span, .. } => *span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldValue {
    pub path: Path,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FixtureDecl {
    pub name: Name,
    pub values: Vec<FieldValue>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    Tier(Name),
    Duty(Name),
    /// `rule NAME`: the word as written (the checker insists on `rule`) and the name of
    /// a rule among the decision's reasons.
    Rule(Name, Name),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestDecl {
    pub name: Spanned<String>,
    pub given: Name,
    pub overrides: Vec<FieldValue>,
    pub outcome: Spanned<Outcome>,
    pub expectations: Vec<Expectation>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Whole seconds.
    Duration(u64),
    /// As written: `5%` is 5.0.
    Percent(f64),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Cmp(CmpOp),
    In,
    Coalesce,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Cmp(op) => op.as_str(),
            BinOp::In => "in",
            BinOp::Coalesce => "??",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Lit(Literal),
    /// A name or dotted path; the checker decides whether it is a field, a `def`, an
    /// enum member, `Enum.member` or `degraded`.
    Path(Path),
    /// The request's tier.
    Tier,
    Has(Path),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    SetLit(Vec<Expr>),
    Paren(Box<Expr>),
    /// A built-in function applied to its arguments: `starts_with(model.id, "gpt-4")`.
    Call(Name, Vec<Expr>),
}

#[derive(Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

// By hand, so that cloning or comparing a tree thousands deep cannot overflow the stack.
impl Clone for Expr {
    fn clone(&self) -> Self {
        crate::tree_drop::with_stack(|| Expr {
            kind: self.kind.clone(),
            span: self.span,
        })
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        crate::tree_drop::with_stack(|| self.span == other.span && self.kind == other.kind)
    }
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Self {
        Expr { kind, span }
    }
}

impl crate::tree_drop::Tree for Expr {
    fn is_leaf(&self) -> bool {
        matches!(
            self.kind,
            ExprKind::Lit(_) | ExprKind::Path(_) | ExprKind::Tier | ExprKind::Has(_)
        )
    }

    fn take_children(&mut self, out: &mut Vec<Expr>) {
        match std::mem::replace(&mut self.kind, ExprKind::Tier) {
            ExprKind::Not(e) | ExprKind::Neg(e) | ExprKind::Paren(e) => out.push(*e),
            ExprKind::Binary(_, a, b) => {
                out.push(*a);
                out.push(*b);
            }
            ExprKind::SetLit(items) | ExprKind::Call(_, items) => out.extend(items),
            ExprKind::Lit(_) | ExprKind::Path(_) | ExprKind::Tier | ExprKind::Has(_) => {}
        }
    }
}

impl Drop for Expr {
    fn drop(&mut self) {
        crate::tree_drop::drop_iteratively(self);
    }
}
