//! Fixtures and tests: constant requests, checked against the schema.

use super::Checker;
use super::program::{self, Elem, FieldValue, Ty, Value};
use crate::ast::{self, Decl, Expectation, ExprKind, Literal};
use crate::diagnostics::{Code, Diagnostic};

impl Checker<'_> {
    pub(super) fn check_fixtures(&mut self, file: &ast::File) -> Vec<program::Fixture> {
        let mut fixtures = Vec::new();
        for decl in &file.decls {
            let Decl::Fixture(fixture) = decl else {
                continue;
            };
            let values = self.field_values(&fixture.values);
            let missing: Vec<String> = self
                .fields
                .iter()
                .enumerate()
                .filter(|(id, f)| {
                    !f.optional && f.default.is_none() && !values.iter().any(|v| v.field == *id)
                })
                .map(|(_, f)| format!("`{}`", f.path))
                .collect();
            if !missing.is_empty() {
                let noun = if missing.len() == 1 {
                    "field"
                } else {
                    "fields"
                };
                self.error(
                    Diagnostic::error(
                        Code::MissingFixtureField,
                        format!(
                            "fixture `{}` lacks required {noun} {}",
                            fixture.name.node,
                            missing.join(", ")
                        ),
                        fixture.name.span,
                        "a fixture is a complete request",
                    )
                    .with_help(
                        "give every required schema field a value; optional fields may be left out",
                    ),
                );
            }
            fixtures.push(program::Fixture {
                name: fixture.name.node.clone(),
                values,
                span: fixture.span,
            });
        }
        fixtures
    }

    pub(super) fn check_tests(
        &mut self,
        file: &ast::File,
        fixtures: &[program::Fixture],
    ) -> Vec<program::Test> {
        let mut tests = Vec::new();
        for decl in &file.decls {
            let Decl::Test(test) = decl else { continue };
            let fixture = self.fixture_by_name.get(&test.given.node).copied();
            if fixture.is_none() {
                let names: Vec<String> = fixtures.iter().map(|f| f.name.clone()).collect();
                let diag = Diagnostic::error(
                    Code::UnknownFixture,
                    format!("unknown fixture `{}`", test.given.node),
                    test.given.span,
                    "no `fixture` has this name",
                );
                self.error(super::with_suggestion(
                    diag,
                    &test.given.node,
                    names.iter().map(String::as_str),
                ));
            }
            let overrides = self.field_values(&test.overrides);
            let mut tier = None;
            let mut duties = Vec::new();
            let mut rules = Vec::new();
            for expectation in &test.expectations {
                match expectation {
                    Expectation::Rule(word, name) => {
                        if let Some(id) = self.expected_rule(file, word, name) {
                            rules.push(id);
                        }
                    }
                    Expectation::Tier(name) => tier = self.resolve_tier(name),
                    Expectation::Duty(name) => duties.extend(self.resolve_duty(name)),
                }
            }
            tests.push(program::Test {
                name: test.name.node.clone(),
                fixture: fixture.unwrap_or(0),
                overrides,
                outcome: test.outcome.node,
                tier,
                duties,
                rules,
                span: test.span,
            });
        }
        tests
    }

    /// `expect …, rule NAME`: the id the named rule has in decisions (a module's rule
    /// is qualified by its module).
    fn expected_rule(
        &mut self,
        file: &ast::File,
        word: &ast::Name,
        name: &ast::Name,
    ) -> Option<String> {
        if word.node != "rule" {
            self.error(
                Diagnostic::error(
                    Code::UnknownRule,
                    format!(
                        "`expect` takes `tier`, `duty` or `rule`, not `{}`",
                        word.node
                    ),
                    word.span,
                    "not an expectation",
                )
                .with_help(format!("write `rule {}`", name.node)),
            );
            return None;
        }
        let rules = file.decls.iter().filter_map(|d| match d {
            Decl::Rule(rule) => rule.name.as_ref().map(|n| (n, &rule.module)),
            _ => None,
        });
        let mut names = Vec::new();
        for (rule_name, module) in rules {
            if rule_name.node == name.node {
                return Some(match module {
                    Some(module) => format!("{module}::{}", rule_name.node),
                    None => rule_name.node.clone(),
                });
            }
            names.push(rule_name.node.clone());
        }
        let diag = Diagnostic::error(
            Code::UnknownRule,
            format!("no rule is named `{}`", name.node),
            name.span,
            "no named rule has this name",
        );
        self.error(super::with_suggestion(
            diag,
            &name.node,
            names.iter().map(String::as_str),
        ));
        None
    }

    fn field_values(&mut self, values: &[ast::FieldValue]) -> Vec<FieldValue> {
        let mut out: Vec<FieldValue> = Vec::new();
        for fv in values {
            let path = fv.path.dotted();
            let Some(&id) = self.field_by_path.get(&path) else {
                let candidates: Vec<String> = self.fields.iter().map(|f| f.path.clone()).collect();
                let diag = Diagnostic::error(
                    Code::UnknownFixtureField,
                    format!("the schema has no field `{path}`"),
                    fv.path.span,
                    "unknown field",
                );
                self.error(super::with_suggestion(
                    diag,
                    &path,
                    candidates.iter().map(String::as_str),
                ));
                continue;
            };
            if let Some(prev) = out.iter().find(|v| v.field == id) {
                let prev_span = prev.span;
                self.error(
                    Diagnostic::error(
                        Code::DuplicateFixtureField,
                        format!("field `{path}` is given twice"),
                        fv.path.span,
                        "given again here",
                    )
                    .with_label(prev_span, "first given here"),
                );
                continue;
            }
            let Some(field) = self.fields.get(id).cloned() else {
                continue;
            };
            if let Some(value) = self.constant(&fv.value, &field) {
                out.push(FieldValue {
                    field: id,
                    value,
                    span: fv.span,
                });
            }
        }
        out
    }

    /// A fixture value of the field's type; `Some(None)` is `null`.
    pub(super) fn constant(
        &mut self,
        e: &ast::Expr,
        field: &program::Field,
    ) -> Option<Option<Value>> {
        if let ExprKind::Lit(Literal::Null) = e.kind {
            if field.optional {
                return Some(None);
            }
            self.error(
                Diagnostic::error(
                    Code::TypeMismatch,
                    format!("required field `{}` cannot be `null`", field.path),
                    e.span,
                    "null",
                )
                .with_label(field.span, "declared required here"),
            );
            return None;
        }
        let value = match field.ty {
            Ty::Set(elem) => self.set_constant(e, elem, field),
            ty => self.scalar_constant(e, ty),
        }?;
        Some(Some(value))
    }

    fn set_constant(&mut self, e: &ast::Expr, elem: Elem, field: &program::Field) -> Option<Value> {
        let ExprKind::SetLit(items) = &e.kind else {
            let ty = self.type_name(field.ty);
            self.error(
                Diagnostic::error(
                    Code::TypeMismatch,
                    format!(
                        "field `{}` is a `{ty}`; write a set such as `{{a, b}}`",
                        field.path
                    ),
                    e.span,
                    "not a set",
                )
                .with_label(field.span, format!("declared `{ty}` here")),
            );
            return None;
        };
        let elem_ty = match elem {
            Elem::Enum(id) => Ty::Enum(id),
            Elem::Str => Ty::Str,
        };
        let mut values = Vec::new();
        for item in items {
            values.push(self.scalar_constant(item, elem_ty)?);
        }
        Some(Value::Set(values))
    }

    fn scalar_constant(&mut self, e: &ast::Expr, ty: Ty) -> Option<Value> {
        if let (ExprKind::Lit(Literal::Str(text)), Ty::Timestamp) = (&e.kind, ty) {
            // A timestamp is written as in JSON: RFC 3339 text with an offset.
            return match crate::builtins::time::parse_timestamp(text) {
                Ok(secs) => Some(Value::Timestamp(secs)),
                Err(reason) => {
                    self.error(Diagnostic::error(
                        Code::InvalidTimestamp,
                        "invalid timestamp",
                        e.span,
                        reason,
                    ));
                    None
                }
            };
        }
        let is_constant = match &e.kind {
            ExprKind::Lit(_) | ExprKind::Path(_) => true,
            ExprKind::Call(name, _) => name.node == "date",
            ExprKind::Neg(inner) => matches!(
                inner.kind,
                ExprKind::Lit(Literal::Int(_) | Literal::Float(_))
            ),
            _ => false,
        };
        if !is_constant {
            self.error(
                Diagnostic::error(
                    Code::InvalidFixtureValue,
                    "a fixture value must be a constant",
                    e.span,
                    "not a literal or enum member",
                )
                .with_help(
                    "write a literal such as `42`, `0.5`, `\"text\"`, `true`, or an enum member",
                ),
            );
            return None;
        }
        if let ExprKind::Path(path) = &e.kind
            && self.field_by_path.contains_key(&path.dotted())
        {
            self.error(Diagnostic::error(
                Code::InvalidFixtureValue,
                "a fixture value must be a constant",
                e.span,
                "this is a field, not a value",
            ));
            return None;
        }
        let typed = self.expr(e, Some(ty));
        if typed.ty == Ty::Error {
            return None;
        }
        let value = match (&typed.kind, ty) {
            (program::ExprKind::Const(Value::Int(i)), Ty::Float) => Value::Float(*i as f64),
            (program::ExprKind::Const(v), t) if typed.ty == t => v.clone(),
            (program::ExprKind::Neg(inner), t) if typed.ty == t || t == Ty::Float => {
                match (&inner.kind, t) {
                    (program::ExprKind::Const(Value::Int(i)), Ty::Float) => {
                        Value::Float(-(*i as f64))
                    }
                    (program::ExprKind::Const(Value::Int(i)), _) => Value::Int(i.checked_neg()?),
                    (program::ExprKind::Const(Value::Float(f)), _) => Value::Float(-f),
                    _ => return None,
                }
            }
            _ => {
                let (want, found) = (self.type_name(ty), self.type_name(typed.ty));
                self.error(Diagnostic::error(
                    Code::TypeMismatch,
                    format!("expected `{want}`, found `{found}`"),
                    e.span,
                    format!("this is `{found}`"),
                ));
                return None;
            }
        };
        Some(value)
    }
}
