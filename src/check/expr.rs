//! Typing expressions, bidirectionally: an expected type, where the context gives one,
//! decides bare enum members (`domain in {medical, finance}`).

use super::Checker;
use super::program::{ArithOp, Elem, Expr, ExprKind, Ty, Value};
use crate::ast::{self, BinOp, CmpOp, ExprKind as AstKind, Literal};
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::span::Span;

/// What a path names.
enum Resolved {
    Field(usize),
    Def(usize),
    Degraded,
    Member(Ty, Value),
    /// A bare name that only an expected type could make sense of.
    Bare,
    Unknown,
}

pub(super) fn error_expr(span: Span) -> Expr {
    Expr {
        kind: ExprKind::Const(Value::Bool(false)),
        ty: Ty::Error,
        span,
    }
}

pub(super) fn boxed(e: Expr) -> Box<Expr> {
    Box::new(e)
}

impl Checker<'_> {
    /// Types a condition: a `bool` expression.
    pub(super) fn condition(&mut self, e: &ast::Expr) -> Expr {
        let typed = self.expr(e, Some(Ty::Bool));
        self.expect_type(typed, Ty::Bool)
    }

    fn expect_type(&mut self, e: Expr, want: Ty) -> Expr {
        if e.ty == want || e.ty == Ty::Error {
            return e;
        }
        if want == Ty::Float && e.ty == Ty::Int {
            return promote(e);
        }
        let found = self.type_name(e.ty);
        let wanted = self.type_name(want);
        self.error(Diagnostic::error(
            Code::TypeMismatch,
            format!("expected `{wanted}`, found `{found}`"),
            e.span,
            format!("this is `{found}`"),
        ));
        error_expr(e.span)
    }

    pub(super) fn expr(&mut self, e: &ast::Expr, expected: Option<Ty>) -> Expr {
        // Long `a or b or …` chains make deep trees; grow the stack instead of overflowing.
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.expr_inner(e, expected))
    }

    fn expr_inner(&mut self, e: &ast::Expr, expected: Option<Ty>) -> Expr {
        match &e.kind {
            AstKind::Lit(lit) => self.literal(lit, e.span),
            AstKind::Path(path) => self.path_expr(path, expected),
            AstKind::Tier => self.tier_expr(e.span),
            AstKind::Has(path) => self.has_expr(path, e.span),
            AstKind::Paren(inner) => {
                let mut typed = self.expr(inner, expected);
                typed.span = e.span;
                typed
            }
            AstKind::Not(inner) => {
                let typed = self.expr(inner, Some(Ty::Bool));
                let typed = self.operand(typed, "not", |t| t == Ty::Bool);
                let ty = if typed.ty == Ty::Error {
                    Ty::Error
                } else {
                    Ty::Bool
                };
                Expr {
                    kind: ExprKind::Not(boxed(typed)),
                    ty,
                    span: e.span,
                }
            }
            AstKind::Neg(inner) => {
                let typed = self.expr(inner, expected);
                let typed = self.operand(typed, "-", |t| {
                    matches!(t, Ty::Int | Ty::Float | Ty::Duration)
                });
                Expr {
                    ty: typed.ty,
                    kind: ExprKind::Neg(boxed(typed)),
                    span: e.span,
                }
            }
            AstKind::SetLit(_) => {
                self.error(
                    Diagnostic::error(
                        Code::UntypedSet,
                        "a set literal can only follow `in`",
                        e.span,
                        "not after `in`",
                    )
                    .with_help("test membership with `x in {a, b}`"),
                );
                error_expr(e.span)
            }
            AstKind::Binary(op, a, b) => self.binary(*op, a, b, e.span),
            AstKind::Call(name, args) => self.call(name, args, e.span),
        }
    }

    fn literal(&mut self, lit: &Literal, span: Span) -> Expr {
        let (value, ty) = match lit {
            Literal::Bool(b) => (Value::Bool(*b), Ty::Bool),
            Literal::Int(i) => (Value::Int(*i), Ty::Int),
            Literal::Float(f) => (Value::Float(*f), Ty::Float),
            Literal::Str(s) => (Value::Str(s.clone()), Ty::Str),
            Literal::Duration(d) => match i64::try_from(*d) {
                Ok(secs) => (Value::Duration(secs), Ty::Duration),
                Err(_) => {
                    self.error(Diagnostic::error(
                        Code::NumberTooLarge,
                        "duration is too long",
                        span,
                        "more seconds than fit in 64 bits",
                    ));
                    return error_expr(span);
                }
            },
            Literal::Percent(p) => (Value::Percent(*p), Ty::Percent),
            Literal::Null => {
                self.error(
                    Diagnostic::error(
                        Code::NullOutsideFixture,
                        "`null` in a condition",
                        span,
                        "no value here",
                    )
                    .with_help(
                        "to test whether an optional field is absent, write `not has(field)`",
                    ),
                );
                return error_expr(span);
            }
        };
        Expr {
            kind: ExprKind::Const(value),
            ty,
            span,
        }
    }

    fn tier_expr(&mut self, span: Span) -> Expr {
        if self.in_event {
            self.request_in_event("`tier`", span);
            return error_expr(span);
        }
        if self.tier_names.is_none() {
            self.error(super::no_tiers(span));
            return error_expr(span);
        }
        if self.in_tier_condition {
            self.error(Diagnostic::error(
                Code::TierInTierCondition,
                "a tier condition cannot read `tier`",
                span,
                "the tier is not known until the tier conditions are decided",
            ));
            return error_expr(span);
        }
        self.reads_tier = true;
        Expr {
            kind: ExprKind::Tier,
            ty: Ty::Tier,
            span,
        }
    }

    /// What `path` names, before reporting anything.
    fn resolve(&self, path: &ast::Path) -> (Resolved, Option<(Ty, Value)>) {
        let dotted = path.dotted();
        let field = self.field_by_path.get(&dotted).copied();
        let qualified = match path.parts.as_slice() {
            [enum_name, member] => self.enum_by_name.get(&enum_name.node).map(|&id| {
                let index = self
                    .enums
                    .get(id)
                    .and_then(|e| e.members.iter().position(|m| *m == member.node));
                (id, index)
            }),
            _ => None,
        };
        let member = match qualified {
            Some((id, Some(index))) => Some((Ty::Enum(id), Value::Enum(id, index as u32))),
            _ => None,
        };
        if let Some(id) = field {
            return (Resolved::Field(id), member);
        }
        if let Some((ty, value)) = member {
            return (Resolved::Member(ty, value), None);
        }
        if qualified.is_some() {
            return (Resolved::Unknown, None);
        }
        if let [single] = path.parts.as_slice() {
            if let Some(&id) = self.def_by_name.get(&single.node) {
                return (Resolved::Def(id), None);
            }
            if single.node == "degraded" {
                return (Resolved::Degraded, None);
            }
            return (Resolved::Bare, None);
        }
        (Resolved::Unknown, None)
    }

    /// A bare name that is no field, def or built-in: an enum member or tier name
    /// whose enum the context may decide.
    pub(super) fn is_bare_member(&self, e: &ast::Expr) -> bool {
        match &e.kind {
            AstKind::Path(path) => matches!(self.resolve(path).0, Resolved::Bare),
            AstKind::Paren(inner) => self.is_bare_member(inner),
            _ => false,
        }
    }

    fn path_expr(&mut self, path: &ast::Path, expected: Option<Ty>) -> Expr {
        let span = path.span;
        let (resolved, also_member) = self.resolve(path);
        match resolved {
            Resolved::Field(id) => {
                if let Some((ty, _)) = also_member {
                    let enum_name = self.type_name(ty);
                    self.error(
                        Diagnostic::error(
                            Code::AmbiguousPath,
                            format!(
                                "`{}` is both a field and a member of enum `{enum_name}`",
                                path.dotted()
                            ),
                            span,
                            "ambiguous",
                        )
                        .with_help("rename the field or the enum so that the name means one thing"),
                    );
                    return error_expr(span);
                }
                self.field_expr(id, span)
            }
            Resolved::Def(id) => {
                let (ty, reads_tier) = self.def_type(id, span);
                if self.in_event && self.def_reads_request(id) {
                    let name = path.dotted();
                    self.request_in_event(&format!("`{name}`, a `def` over request fields"), span);
                    return error_expr(span);
                }
                if reads_tier {
                    if self.in_tier_condition {
                        let name = path.dotted();
                        self.error(Diagnostic::error(
                            Code::TierInTierCondition,
                            format!("a tier condition cannot read `tier`, and `{name}` does"),
                            span,
                            format!("`{name}` reads `tier`"),
                        ));
                        return error_expr(span);
                    }
                    self.reads_tier = true;
                }
                Expr {
                    kind: ExprKind::Def(id),
                    ty,
                    span,
                }
            }
            Resolved::Degraded if self.in_event => {
                self.request_in_event("`degraded`", span);
                error_expr(span)
            }
            Resolved::Degraded => Expr {
                kind: ExprKind::Degraded,
                ty: Ty::Bool,
                span,
            },
            Resolved::Member(ty, value) => Expr {
                kind: ExprKind::Const(value),
                ty,
                span,
            },
            Resolved::Bare | Resolved::Unknown if path.dotted() == super::clock::IMPLICIT_CLOCK => {
                self.now_expr(span)
            }
            Resolved::Bare => self.bare_member(path, expected),
            Resolved::Unknown => {
                self.unknown_path(path);
                error_expr(span)
            }
        }
    }

    fn field_expr(&mut self, id: usize, span: Span) -> Expr {
        let Some(field) = self.fields.get(id) else {
            return error_expr(span);
        };
        let ty = field.ty;
        if field.optional {
            let path = field.path.clone();
            let field_span = field.span;
            self.error(
                Diagnostic::error(
                    Code::OptionalRead,
                    format!("optional field `{path}` is read without `has()` or `??`"),
                    span,
                    "may be absent",
                )
                .with_label(field_span, "declared optional here")
                .with_help(format!(
                    "write `has({path})` to test it, or `{path} ?? DEFAULT` to read it"
                )),
            );
            return error_expr(span);
        }
        Expr {
            kind: ExprKind::Field(id),
            ty,
            span,
        }
    }

    fn unknown_path(&mut self, path: &ast::Path) {
        let dotted = path.dotted();
        if let [enum_name, member] = path.parts.as_slice()
            && let Some(&id) = self.enum_by_name.get(&enum_name.node)
        {
            let members = self
                .enums
                .get(id)
                .map(|e| e.members.clone())
                .unwrap_or_default();
            let diag = Diagnostic::error(
                Code::UnknownMember,
                format!("enum `{}` has no member `{}`", enum_name.node, member.node),
                member.span,
                "unknown member",
            );
            let diag =
                super::with_suggestion(diag, &member.node, members.iter().map(String::as_str));
            let diag = if diag.help.is_none() {
                diag.with_help(format!("the members are: {}", backticked(&members)))
            } else {
                diag
            };
            self.error(diag);
            return;
        }
        let kind = if path.parts.len() > 1 {
            "field"
        } else {
            "name"
        };
        let mut candidates: Vec<String> = self.fields.iter().map(|f| f.path.clone()).collect();
        candidates.extend(self.def_by_name.keys().cloned());
        let diag = Diagnostic::error(
            Code::UnknownName,
            format!("unknown {kind} `{dotted}`"),
            path.span,
            "not a schema field, a `def` or an enum member",
        );
        let diag = super::with_suggestion(diag, &dotted, candidates.iter().map(String::as_str));
        self.error(diag);
    }

    /// A bare member such as `medical`: the expected type decides which enum.
    fn bare_member(&mut self, path: &ast::Path, expected: Option<Ty>) -> Expr {
        let span = path.span;
        let name = path.dotted();
        match expected {
            // The other side already failed and was reported.
            Some(Ty::Error) => error_expr(span),
            Some(Ty::Enum(id)) | Some(Ty::Set(Elem::Enum(id))) => {
                let index = self
                    .enums
                    .get(id)
                    .and_then(|e| e.members.iter().position(|m| *m == name));
                if let Some(index) = index {
                    return Expr {
                        kind: ExprKind::Const(Value::Enum(id, index as u32)),
                        ty: Ty::Enum(id),
                        span,
                    };
                }
                let enum_def = self.enums.get(id).cloned();
                let enum_name = enum_def
                    .as_ref()
                    .map(|e| e.name.clone())
                    .unwrap_or_default();
                let members = enum_def.map(|e| e.members).unwrap_or_default();
                let diag = Diagnostic::error(
                    Code::UnknownMember,
                    format!("`{name}` is not a member of enum `{enum_name}`"),
                    span,
                    format!("expected a `{enum_name}` here"),
                );
                let diag = super::with_suggestion(diag, &name, members.iter().map(String::as_str));
                let diag = if diag.help.is_none() {
                    diag.with_help(format!(
                        "the members of `{enum_name}` are: {}",
                        backticked(&members)
                    ))
                } else {
                    diag
                };
                self.error(diag);
                error_expr(span)
            }
            Some(Ty::Tier) => match self.tier_id(&name) {
                Some(id) => Expr {
                    kind: ExprKind::Const(Value::Tier(id)),
                    ty: Ty::Tier,
                    span,
                },
                None => {
                    let name_node = ast::Name::new(name, span);
                    self.resolve_tier(&name_node);
                    error_expr(span)
                }
            },
            _ => self.undecided_member(&name, span),
        }
    }

    /// A bare name with no expected type: unique across enums and tiers, or an error.
    fn undecided_member(&mut self, name: &str, span: Span) -> Expr {
        let mut found: Vec<(Ty, Value, String)> = Vec::new();
        for (id, e) in self.enums.iter().enumerate() {
            if let Some(index) = e.members.iter().position(|m| m == name) {
                found.push((Ty::Enum(id), Value::Enum(id, index as u32), e.name.clone()));
            }
        }
        if let Some(tier) = self.tier_id(name) {
            found.push((Ty::Tier, Value::Tier(tier), "tiers".to_string()));
        }
        match found.as_slice() {
            [(ty, value, _)] => Expr {
                kind: ExprKind::Const(value.clone()),
                ty: *ty,
                span,
            },
            [] => {
                let path = ast::Path {
                    parts: vec![ast::Name::new(name.to_string(), span)],
                    span,
                };
                self.unknown_path(&path);
                error_expr(span)
            }
            many => {
                let owners: Vec<String> = many.iter().map(|(_, _, owner)| owner.clone()).collect();
                let example = owners.first().cloned().unwrap_or_default();
                self.error(
                    Diagnostic::error(
                        Code::AmbiguousMember,
                        format!(
                            "`{name}` is a member of several enums: {}",
                            backticked(&owners)
                        ),
                        span,
                        "nothing here decides which one",
                    )
                    .with_help(format!("write `{example}.{name}`")),
                );
                error_expr(span)
            }
        }
    }

    fn has_expr(&mut self, path: &ast::Path, span: Span) -> Expr {
        let Some(&id) = self.field_by_path.get(&path.dotted()) else {
            let (resolved, _) = self.resolve(path);
            if matches!(resolved, Resolved::Unknown | Resolved::Bare) {
                self.unknown_path(path);
            } else {
                self.error(Diagnostic::error(
                    Code::HasNeedsField,
                    format!(
                        "`has()` needs a schema field, and `{}` is not one",
                        path.dotted()
                    ),
                    path.span,
                    "not a field",
                ));
            }
            return error_expr(span);
        };
        if let Some(field) = self.fields.get(id)
            && !field.optional
        {
            let path = field.path.clone();
            self.error(Diagnostic::warning(
                Code::HasOnRequired,
                format!("`has({path})` is always true: `{path}` is a required field"),
                span,
                "always true",
            ));
        }
        Expr {
            kind: ExprKind::Has(id),
            ty: Ty::Bool,
            span,
        }
    }

    /// Checks an operand's type, reporting `op` applied to the wrong type.
    pub(super) fn operand(&mut self, e: Expr, op: &str, ok: impl Fn(Ty) -> bool) -> Expr {
        if e.ty == Ty::Error || ok(e.ty) {
            return e;
        }
        let found = self.type_name(e.ty);
        self.error(Diagnostic::error(
            Code::InvalidOperand,
            format!("`{op}` cannot be applied to `{found}`"),
            e.span,
            format!("this is `{found}`"),
        ));
        error_expr(e.span)
    }

    fn binary(&mut self, op: BinOp, a: &ast::Expr, b: &ast::Expr, span: Span) -> Expr {
        match op {
            BinOp::And | BinOp::Or => {
                let left = self.expr(a, Some(Ty::Bool));
                let left = self.operand(left, op.as_str(), |t| t == Ty::Bool);
                let right = self.expr(b, Some(Ty::Bool));
                let right = self.operand(right, op.as_str(), |t| t == Ty::Bool);
                let ty = if left.ty == Ty::Error || right.ty == Ty::Error {
                    Ty::Error
                } else {
                    Ty::Bool
                };
                let kind = if op == BinOp::And {
                    ExprKind::And(boxed(left), boxed(right))
                } else {
                    ExprKind::Or(boxed(left), boxed(right))
                };
                Expr { kind, ty, span }
            }
            BinOp::Cmp(cmp) => self.comparison(cmp, a, b, span),
            BinOp::In => self.membership(a, b, span),
            BinOp::Coalesce => self.coalesce(a, b, span),
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                self.arithmetic(op, a, b, span)
            }
        }
    }

    /// Types two operands that must agree, letting a bare member take the other's type.
    fn pair(&mut self, a: &ast::Expr, b: &ast::Expr) -> (Expr, Expr) {
        if self.is_bare_member(a) && !self.is_bare_member(b) {
            let right = self.expr(b, None);
            let left = self.expr(a, Some(right.ty));
            (left, right)
        } else {
            let left = self.expr(a, None);
            let right = self.expr(b, Some(left.ty));
            (left, right)
        }
    }

    fn comparison(&mut self, cmp: CmpOp, a: &ast::Expr, b: &ast::Expr, span: Span) -> Expr {
        let (left, right) = self.pair(a, b);
        if left.ty == Ty::Error || right.ty == Ty::Error {
            return error_expr(span);
        }
        let (left, right) = match unify_numeric(left, right) {
            Ok(pair) => pair,
            Err((left, right)) => {
                let (lt, rt) = (self.type_name(left.ty), self.type_name(right.ty));
                self.error(
                    Diagnostic::error(
                        Code::NotComparable,
                        format!("cannot compare `{lt}` with `{rt}`"),
                        span,
                        format!("`{lt}` {} `{rt}`", cmp.as_str()),
                    )
                    .with_label(left.span, format!("this is `{lt}`"))
                    .with_label(right.span, format!("this is `{rt}`")),
                );
                return error_expr(span);
            }
        };
        let ty = left.ty;
        let ordering = !matches!(cmp, CmpOp::Eq | CmpOp::Ne);
        let comparable = if ordering {
            ty.is_ordered()
        } else {
            !matches!(ty, Ty::Set(_))
        };
        if !comparable {
            let name = self.type_name(ty);
            let help = if ordering {
                "only `int`, `float`, `duration` and `percent` values are ordered".to_string()
            } else {
                "to test membership, write `x in set`".to_string()
            };
            self.error(
                Diagnostic::error(
                    Code::InvalidOperand,
                    format!("`{}` cannot be applied to `{name}`", cmp.as_str()),
                    span,
                    format!("both sides are `{name}`"),
                )
                .with_help(help),
            );
            return error_expr(span);
        }
        Expr {
            kind: ExprKind::Cmp(cmp, boxed(left), boxed(right)),
            ty: Ty::Bool,
            span,
        }
    }

    fn membership(&mut self, a: &ast::Expr, b: &ast::Expr, span: Span) -> Expr {
        if let AstKind::SetLit(items) = &b.kind {
            return self.membership_in_literal(a, items, span);
        }
        let (set, elem) = if self.is_bare_member(a) {
            let set = self.expr(b, None);
            let elem_ty = set_elem(set.ty);
            (set, self.expr(a, elem_ty))
        } else {
            let elem = self.expr(a, None);
            let set = self.expr(b, None);
            (set, elem)
        };
        if set.ty == Ty::Error || elem.ty == Ty::Error {
            return error_expr(span);
        }
        let Some(elem_ty) = set_elem(set.ty) else {
            let found = self.type_name(set.ty);
            self.error(
                Diagnostic::error(
                    Code::NotASet,
                    format!("the right side of `in` must be a set, found `{found}`"),
                    set.span,
                    format!("this is `{found}`"),
                )
                .with_help("write a set literal such as `{a, b}` or use a `set<…>` field"),
            );
            return error_expr(span);
        };
        if elem.ty != elem_ty {
            let (et, st) = (self.type_name(elem.ty), self.type_name(set.ty));
            self.error(
                Diagnostic::error(
                    Code::TypeMismatch,
                    format!("cannot look for `{et}` in `{st}`"),
                    elem.span,
                    format!("this is `{et}`"),
                )
                .with_label(set.span, format!("this is `{st}`")),
            );
            return error_expr(span);
        }
        Expr {
            kind: ExprKind::InSet(boxed(elem), boxed(set)),
            ty: Ty::Bool,
            span,
        }
    }

    fn membership_in_literal(&mut self, a: &ast::Expr, items: &[ast::Expr], span: Span) -> Expr {
        let elem = if self.is_bare_member(a) {
            let hint = items
                .iter()
                .find(|i| !self.is_bare_member(i))
                .map(|i| self.expr_type_silently(i))
                .or_else(|| self.common_enum(a, items));
            self.expr(a, hint)
        } else {
            self.expr(a, None)
        };
        if elem.ty == Ty::Error {
            for item in items {
                self.expr(item, None);
            }
            return error_expr(span);
        }
        if matches!(elem.ty, Ty::Set(_)) {
            let found = self.type_name(elem.ty);
            self.error(Diagnostic::error(
                Code::InvalidOperand,
                format!("`in` cannot look for a `{found}`"),
                elem.span,
                "a set cannot be a member",
            ));
            return error_expr(span);
        }
        let mut typed = Vec::with_capacity(items.len());
        let mut failed = false;
        for item in items {
            let t = self.expr(item, Some(elem.ty));
            if t.ty == Ty::Error {
                failed = true;
                continue;
            }
            match unify_numeric(elem.clone(), t) {
                Ok((_, t)) if t.ty == elem.ty => typed.push(t),
                Ok((_, t)) | Err((_, t)) => {
                    let (et, it) = (self.type_name(elem.ty), self.type_name(t.ty));
                    self.error(
                        Diagnostic::error(
                            Code::TypeMismatch,
                            format!("expected `{et}`, found `{it}`"),
                            t.span,
                            format!("this is `{it}`"),
                        )
                        .with_label(
                            elem.span,
                            format!("the set must hold `{et}` values like this"),
                        ),
                    );
                    failed = true;
                }
            }
        }
        if failed {
            return error_expr(span);
        }
        let elem = if elem.ty == Ty::Int && typed.iter().any(|t| t.ty == Ty::Float) {
            promote(elem)
        } else {
            elem
        };
        Expr {
            kind: ExprKind::InList(boxed(elem), typed),
            ty: Ty::Bool,
            span,
        }
    }

    /// The type of a non-member expression, without reporting anything twice: it will
    /// be typed again, for real, right after.
    fn expr_type_silently(&mut self, e: &ast::Expr) -> Ty {
        let before = self.diagnostics.len();
        let saved = self.reads_tier;
        let ty = self.expr(e, None).ty;
        self.diagnostics.truncate(before);
        self.reads_tier = saved;
        ty
    }

    /// The one enum (or the tiers) that has every bare name in `a in {…}` as a member.
    fn common_enum(&self, a: &ast::Expr, items: &[ast::Expr]) -> Option<Ty> {
        let names: Vec<String> = std::iter::once(a)
            .chain(items.iter())
            .filter_map(|e| match &e.kind {
                AstKind::Path(p) => Some(p.dotted()),
                _ => None,
            })
            .collect();
        let mut candidates: Vec<Ty> = self
            .enums
            .iter()
            .enumerate()
            .filter(|(_, e)| names.iter().all(|n| e.members.contains(n)))
            .map(|(id, _)| Ty::Enum(id))
            .collect();
        if let Some(tiers) = &self.tier_names
            && names.iter().all(|n| tiers.contains(n))
        {
            candidates.push(Ty::Tier);
        }
        match candidates.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    fn coalesce(&mut self, a: &ast::Expr, b: &ast::Expr, span: Span) -> Expr {
        let field = match &a.kind {
            AstKind::Path(path) => self.field_by_path.get(&path.dotted()).copied(),
            _ => None,
        };
        let Some(id) = field else {
            let left = self.expr(a, None);
            self.expr(b, None);
            if left.ty != Ty::Error {
                self.error(
                    Diagnostic::error(
                        Code::InvalidOperand,
                        "the left side of `??` must be an optional field",
                        a.span,
                        "not a field",
                    )
                    .with_help("`??` gives a default for an optional field that is absent"),
                );
            }
            return error_expr(span);
        };
        let Some(field) = self.fields.get(id).cloned() else {
            return error_expr(span);
        };
        let default = self.expr(b, Some(field.ty));
        if !field.optional {
            self.error(Diagnostic::warning(
                Code::CoalesceOnRequired,
                format!(
                    "`{}` is a required field, so `??` never uses its default",
                    field.path
                ),
                b.span,
                "never used",
            ));
            return self.field_expr(id, a.span);
        }
        if default.ty == Ty::Error || field.ty == Ty::Error {
            return error_expr(span);
        }
        if self.is_computed_string(&default) {
            self.error(
                Diagnostic::error(
                    Code::ComputedStringDefault,
                    "the default of `??` cannot be a computed string",
                    default.span,
                    "computed by a function",
                )
                .with_help(format!(
                    "apply the function to the whole `??`, as in `lower({} ?? \"…\")`",
                    field.path
                )),
            );
            return error_expr(span);
        }
        let default = if field.ty == Ty::Float && default.ty == Ty::Int {
            promote(default)
        } else {
            default
        };
        if default.ty != field.ty {
            let (ft, dt) = (self.type_name(field.ty), self.type_name(default.ty));
            self.error(
                Diagnostic::error(
                    Code::TypeMismatch,
                    format!(
                        "the default for `{}` must be `{ft}`, found `{dt}`",
                        field.path
                    ),
                    default.span,
                    format!("this is `{dt}`"),
                )
                .with_label(field.span, format!("declared `{ft}?` here")),
            );
            return error_expr(span);
        }
        Expr {
            kind: ExprKind::Coalesce(id, boxed(default)),
            ty: field.ty,
            span,
        }
    }

    fn arithmetic(&mut self, op: BinOp, a: &ast::Expr, b: &ast::Expr, span: Span) -> Expr {
        let left = self.expr(a, None);
        let right = self.expr(b, None);
        if left.ty == Ty::Error || right.ty == Ty::Error {
            return error_expr(span);
        }
        let arith = match op {
            BinOp::Add => ArithOp::Add,
            BinOp::Sub => ArithOp::Sub,
            BinOp::Mul => ArithOp::Mul,
            BinOp::Rem => ArithOp::Rem,
            _ => ArithOp::Div,
        };
        let additive = matches!(arith, ArithOp::Add | ArithOp::Sub);
        // Time: `t ± d` and `d + t` are timestamps, `t - u` a duration.
        let time = match (left.ty, arith, right.ty) {
            (Ty::Timestamp, ArithOp::Add | ArithOp::Sub, Ty::Duration)
            | (Ty::Duration, ArithOp::Add, Ty::Timestamp) => Some(Ty::Timestamp),
            (Ty::Timestamp, ArithOp::Sub, Ty::Timestamp) => Some(Ty::Duration),
            _ => None,
        };
        if let Some(ty) = time {
            return Expr {
                ty,
                kind: ExprKind::Arith(arith, boxed(left), boxed(right)),
                span,
            };
        }
        let (left, right) = match unify_numeric(left, right) {
            Ok(pair) if pair.0.ty.is_numeric() || (additive && pair.0.ty == Ty::Duration) => pair,
            Ok((left, right)) | Err((left, right)) => {
                let (lt, rt) = (self.type_name(left.ty), self.type_name(right.ty));
                let message = if lt == rt {
                    format!("`{}` cannot be applied to `{lt}`", arith.as_str())
                } else {
                    format!(
                        "`{}` cannot be applied to `{lt}` and `{rt}`",
                        arith.as_str()
                    )
                };
                self.error(
                    Diagnostic::error(Code::InvalidOperand, message, span, "invalid arithmetic")
                        .with_label(left.span, format!("this is `{lt}`"))
                        .with_label(right.span, format!("this is `{rt}`")),
                );
                return error_expr(span);
            }
        };
        if arith == ArithOp::Rem && left.ty != Ty::Int {
            let ty = self.type_name(left.ty);
            self.error(
                Diagnostic::error(
                    Code::InvalidOperand,
                    format!(
                        "`%` is the remainder of whole numbers; it cannot be applied to `{ty}`"
                    ),
                    span,
                    "invalid arithmetic",
                )
                .with_help("both sides of `%` must be `int`"),
            );
            return error_expr(span);
        }
        Expr {
            ty: left.ty,
            kind: ExprKind::Arith(arith, boxed(left), boxed(right)),
            span,
        }
    }
}

pub(super) fn set_elem(ty: Ty) -> Option<Ty> {
    match ty {
        Ty::Set(Elem::Enum(id)) => Some(Ty::Enum(id)),
        Ty::Set(Elem::Str) => Some(Ty::Str),
        _ => None,
    }
}

pub(super) fn promote(e: Expr) -> Expr {
    let span = e.span;
    if let ExprKind::Const(Value::Int(i)) = e.kind {
        return Expr {
            kind: ExprKind::Const(Value::Float(i as f64)),
            ty: Ty::Float,
            span,
        };
    }
    Expr {
        kind: ExprKind::IntToFloat(boxed(e)),
        ty: Ty::Float,
        span,
    }
}

/// Same types stay; `int` with `float` promotes the `int`; anything else is an `Err`.
#[expect(
    clippy::result_large_err,
    reason = "both arms hand the two operands back; boxing them would only add allocations"
)]
pub(super) fn unify_numeric(a: Expr, b: Expr) -> Result<(Expr, Expr), (Expr, Expr)> {
    match (a.ty, b.ty) {
        (x, y) if x == y => Ok((a, b)),
        (Ty::Int, Ty::Float) => Ok((promote(a), b)),
        (Ty::Float, Ty::Int) => Ok((a, promote(b))),
        _ => Err((a, b)),
    }
}

fn backticked(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
