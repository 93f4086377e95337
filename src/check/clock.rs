//! Time as a policy reads it: the clock field (`clock PATH`, or an implicit `now`),
//! `now` in conditions, and `effective from … until …` on rules, duties and triggers.
//!
//! The clock field is a `timestamp` the host fills: a request may leave it out, and
//! then the server (or `bylaw eval`, or the C module) gives it the time of the decision.

use super::Checker;
use super::expr::{boxed, error_expr};
use super::program::{Expr, ExprKind, Field, Ty, Value};
use crate::ast::{self, CmpOp, Decl};
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::span::Span;

/// The path of the clock field when the policy names none.
pub const IMPLICIT_CLOCK: &str = "now";

impl Checker<'_> {
    /// Reads `clock PATH`: at most one, naming a required `timestamp` field.
    pub(super) fn collect_clock(&mut self, file: &ast::File) {
        for decl in &file.decls {
            let Decl::Clock(clock) = decl else { continue };
            let path = clock.path.dotted();
            if self.clock.is_some() {
                self.error(Diagnostic::error(
                    Code::InvalidClock,
                    "a policy has one clock",
                    clock.span,
                    "a second `clock`",
                ));
                continue;
            }
            let Some(&id) = self.field_by_path.get(&path) else {
                self.error(
                    Diagnostic::error(
                        Code::InvalidClock,
                        format!("`clock {path}` names no schema field"),
                        clock.path.span,
                        "not a field",
                    )
                    .with_help(format!("declare it in the schema: `{path}: timestamp`")),
                );
                continue;
            };
            if self.make_clock(id, clock.path.span) {
                self.clock = Some(id);
            }
        }
    }

    /// Marks field `id` as the clock, if it can be one.
    fn make_clock(&mut self, id: usize, span: Span) -> bool {
        let Some(field) = self.fields.get(id) else {
            return false;
        };
        if field.ty != Ty::Timestamp || field.optional || field.default.is_some() {
            let found = self.type_name(field.ty);
            let (path, field_span) = (field.path.clone(), field.span);
            self.error(
                Diagnostic::error(
                    Code::InvalidClock,
                    format!("the clock `{path}` must be a plain `timestamp` field"),
                    span,
                    "not a plain timestamp",
                )
                .with_label(field_span, format!("declared `{found}` here"))
                .with_help(
                    "the host fills the clock when a request leaves it out: declare it \
                     `timestamp`, without `?` or a default",
                ),
            );
            return false;
        }
        if let Some(field) = self.fields.get_mut(id) {
            field.clock = true;
        }
        true
    }

    /// The clock field: the declared one, else a schema field `now`, else an implicit
    /// `now: timestamp` added to the schema at its first use.
    fn clock_field(&mut self, span: Span) -> Option<usize> {
        if let Some(id) = self.clock {
            return Some(id);
        }
        if let Some(&id) = self.field_by_path.get(IMPLICIT_CLOCK) {
            let made = self.make_clock(id, span);
            self.clock = made.then_some(id);
            return self.clock;
        }
        let id = self.fields.len();
        self.fields.push(Field {
            path: IMPLICIT_CLOCK.to_string(),
            ty: Ty::Timestamp,
            optional: false,
            default: None,
            clock: true,
            sensitive: false,
            span,
        });
        self.field_by_path.insert(IMPLICIT_CLOCK.to_string(), id);
        self.clock = Some(id);
        Some(id)
    }

    /// `now`: the clock field's value.
    pub(super) fn now_expr(&mut self, span: Span) -> Expr {
        match self.clock_field(span) {
            Some(id) => Expr {
                kind: ExprKind::Field(id),
                ty: Ty::Timestamp,
                span,
            },
            None => error_expr(span),
        }
    }

    /// `effective from A [until B]` as the condition `now >= A [and now < B]`, which
    /// the item's own condition is joined to.
    pub(super) fn effective(&mut self, effective: Option<&ast::Effective>) -> Option<Expr> {
        let e = effective?;
        let mut ok = self.contextual_word(&e.from_word, "from");
        let from = self.date_constant(&e.from);
        let mut until = None;
        if let Some((word, bound)) = &e.until {
            ok &= self.contextual_word(word, "until");
            until = self.date_constant(bound);
            ok &= until.is_some();
        }
        let (Some(from), true) = (from, ok) else {
            return Some(error_expr(e.span));
        };
        let mut cond = self.clock_compare(CmpOp::Ge, from, e.from.span);
        if let Some(until) = until {
            if until <= from {
                self.error(Diagnostic::error(
                    Code::InvalidEffective,
                    "this effective period is empty",
                    e.span,
                    "`until` is not after `from`",
                ));
                return Some(error_expr(e.span));
            }
            let before = self.clock_compare(CmpOp::Lt, until, e.span);
            cond = and(cond, before);
        }
        Some(cond)
    }

    fn contextual_word(&mut self, word: &ast::Name, wanted: &str) -> bool {
        if word.node == wanted {
            return true;
        }
        self.error(
            Diagnostic::error(
                Code::InvalidEffective,
                format!("`{}` where `{wanted}` was expected", word.node),
                word.span,
                format!("not `{wanted}`"),
            )
            .with_help("write `effective from date(\"2026-08-02\") until date(\"2027-08-02\")`"),
        );
        false
    }

    /// A date or timestamp constant (`date("…")`), for an effective period.
    fn date_constant(&mut self, e: &ast::Expr) -> Option<i64> {
        let typed = self.expr(e, Some(Ty::Timestamp));
        match (&typed.kind, typed.ty) {
            (ExprKind::Const(Value::Timestamp(t)), Ty::Timestamp) => Some(*t),
            (_, Ty::Error) => None,
            _ => {
                self.error(
                    Diagnostic::error(
                        Code::InvalidEffective,
                        "an effective period is bounded by dates",
                        e.span,
                        "not a `date(\"…\")`",
                    )
                    .with_help("write `date(\"2026-08-02\")`"),
                );
                None
            }
        }
    }

    fn clock_compare(&mut self, op: CmpOp, at: i64, span: Span) -> Expr {
        let now = self.now_expr(span);
        Expr {
            kind: ExprKind::Cmp(
                op,
                boxed(now),
                boxed(Expr {
                    kind: ExprKind::Const(Value::Timestamp(at)),
                    ty: Ty::Timestamp,
                    span,
                }),
            ),
            ty: Ty::Bool,
            span,
        }
    }
}

/// `a and b`, spanning `b` (what a failure there points at).
pub(super) fn and(a: Expr, b: Expr) -> Expr {
    let span = b.span;
    if a.ty == Ty::Error || b.ty == Ty::Error {
        return error_expr(span);
    }
    Expr {
        kind: ExprKind::And(boxed(a), boxed(b)),
        ty: Ty::Bool,
        span,
    }
}
