//! The request schema: fields, their types, and the fields services need.

use super::Checker;
use super::program::{Elem, Field, Ty, Value};
use crate::ast::{self, Decl, TypeKind};
use crate::diagnostics::{Code, Diagnostic};

/// A `set<Enum>` is one 64-bit mask in the record, a bit per member.
pub(crate) const MAX_ENUM_SET_MEMBERS: usize = 64;

/// The built-in scalar types' names, as a schema writes them.
pub const SCALAR_TYPES: &[&str] = &[
    "bool",
    "int",
    "float",
    "string",
    "duration",
    "percent",
    "timestamp",
];

impl Checker<'_> {
    pub(super) fn collect_schema(&mut self, file: &ast::File) {
        for decl in &file.decls {
            let Decl::Schema(schema) = decl else { continue };
            if schema.name.node != "request" {
                self.error(
                    Diagnostic::error(
                        Code::InvalidSchemaName,
                        format!("unknown schema `{}`", schema.name.node),
                        schema.name.span,
                        "only `schema request` is supported",
                    )
                    .with_help("write `schema request { … }`"),
                );
                continue;
            }
            for field in &schema.fields {
                self.declare_field(field);
            }
        }
        self.check_field_prefixes();
    }

    pub(super) fn declare_field(&mut self, field: &ast::FieldDecl) {
        let path = field.path.dotted();
        if let Some(&prev) = self.field_by_path.get(&path) {
            let prev_span = self.fields.get(prev).map(|f| f.span).unwrap_or_default();
            self.error(super::duplicate(
                &format!("field `{path}`"),
                field.path.span,
                prev_span,
            ));
            return;
        }
        let ty = self.resolve_type(&field.ty);
        let mut declared = Field {
            path,
            ty,
            optional: field.ty.optional,
            default: None,
            clock: false,
            sensitive: field.sensitive,
            span: field.path.span,
        };
        if let Some(default) = &field.default {
            declared.default = self.field_default(default, &declared);
        }
        self.field_by_path
            .insert(declared.path.clone(), self.fields.len());
        self.fields.push(declared);
    }

    /// A default is a constant of the field's type, on a required field: an optional
    /// field's absence is already its own value (`has(f)` is false).
    fn field_default(&mut self, default: &ast::Expr, field: &Field) -> Option<Value> {
        if field.optional {
            self.error(
                Diagnostic::error(
                    Code::DefaultOnOptional,
                    format!("optional field `{}` cannot have a default", field.path),
                    default.span,
                    "a default here",
                )
                .with_help("drop the `?` (absent then means the default), or the default (absent then means absent)"),
            );
            return None;
        }
        if let Ty::Set(_) = field.ty
            && !matches!(&default.kind, ast::ExprKind::SetLit(items) if items.is_empty())
        {
            self.error(Diagnostic::error(
                Code::DefaultOnOptional,
                format!(
                    "the default of set field `{}` can only be `{{}}`",
                    field.path
                ),
                default.span,
                "not the empty set",
            ));
            return None;
        }
        self.constant(default, field).flatten()
    }

    pub(super) fn resolve_type(&mut self, ty: &ast::TypeExpr) -> Ty {
        match &ty.kind {
            TypeKind::Named(name) => match name.as_str() {
                "bool" => Ty::Bool,
                "int" => Ty::Int,
                "float" => Ty::Float,
                "string" => Ty::Str,
                "duration" => Ty::Duration,
                "percent" => Ty::Percent,
                "timestamp" => Ty::Timestamp,
                other => match self.enum_by_name.get(other) {
                    Some(&id) => Ty::Enum(id),
                    None => {
                        let mut candidates: Vec<String> =
                            SCALAR_TYPES.iter().map(|s| s.to_string()).collect();
                        candidates.extend(self.enums.iter().map(|e| e.name.clone()));
                        let diag = Diagnostic::error(
                            Code::UnknownType,
                            format!("unknown type `{other}`"),
                            ty.span,
                            "not a built-in type or an enum",
                        );
                        self.error(super::with_suggestion(
                            diag,
                            other,
                            candidates.iter().map(String::as_str),
                        ));
                        Ty::Error
                    }
                },
            },
            TypeKind::Set(elem) => match elem.node.as_str() {
                "string" => Ty::Set(Elem::Str),
                other => match self.enum_by_name.get(other) {
                    Some(&id) => {
                        let members = self.enums.get(id).map_or(0, |e| e.members.len());
                        if members > MAX_ENUM_SET_MEMBERS {
                            self.error(
                                Diagnostic::error(
                                    Code::EnumSetTooLarge,
                                    format!(
                                        "`set<{other}>` cannot be a field type: `{other}` has \
                                         {members} members"
                                    ),
                                    elem.span,
                                    "a set of enum members holds at most 64 members",
                                )
                                .with_help("use `set<string>`, which holds any strings"),
                            );
                            Ty::Error
                        } else {
                            Ty::Set(Elem::Enum(id))
                        }
                    }
                    None => {
                        self.error(
                            Diagnostic::error(
                                Code::InvalidSetElement,
                                format!("`set<{other}>` is not a supported type"),
                                elem.span,
                                "sets hold enum members or strings",
                            )
                            .with_help("use `set<string>` or `set<SomeEnum>`"),
                        );
                        Ty::Error
                    }
                },
            },
        }
    }

    /// `user` and `user.age` cannot both be fields: a JSON value is an object or not.
    pub(super) fn check_field_prefixes(&mut self) {
        let mut problems = Vec::new();
        for field in &self.fields {
            let mut prefix = String::new();
            for part in field.path.split('.') {
                if !prefix.is_empty() {
                    if let Some(&parent) = self.field_by_path.get(&prefix) {
                        problems.push((field.span, parent, prefix.clone(), field.path.clone()));
                    }
                    prefix.push('.');
                }
                prefix.push_str(part);
            }
        }
        for (child_span, parent, prefix, path) in problems {
            let parent_span = self.fields.get(parent).map(|f| f.span).unwrap_or_default();
            let child_label = format!("this makes `{prefix}` an object");
            let parent_label = format!("this makes `{prefix}` a value");
            // Point first at whichever was written later: that is where the conflict arises.
            let ((first, first_label), (second, second_label)) =
                if child_span.start > parent_span.start {
                    ((child_span, child_label), (parent_span, parent_label))
                } else {
                    ((parent_span, parent_label), (child_span, child_label))
                };
            self.error(
                Diagnostic::error(
                    Code::FieldPrefixConflict,
                    format!("field `{prefix}` cannot also hold field `{path}`"),
                    first,
                    first_label,
                )
                .with_label(second, second_label),
            );
        }
    }

    /// Services route by the `service` field and ramp by the `id` field.
    pub(super) fn check_service_fields(&mut self, file: &ast::File) {
        let services: Vec<&ast::ServiceDecl> = file
            .decls
            .iter()
            .filter_map(|d| match d {
                Decl::Service(s) => Some(s),
                _ => None,
            })
            .collect();
        let Some(first) = services.first() else {
            return;
        };
        self.require_string_field(
            "service",
            first.name.span,
            Code::MissingServiceField,
            "services are declared",
        );
        let ramp = services.iter().find_map(|s| {
            s.items.iter().find_map(|item| match item {
                ast::ServiceItem::Recovery(items, _) => items.iter().find_map(|r| match r {
                    ast::RecoveryItem::Ramp { span, .. } => Some(*span),
                    _ => None,
                }),
                _ => None,
            })
        });
        if let Some(span) = ramp {
            self.require_string_field(
                "id",
                span,
                Code::MissingIdField,
                "a ramp decides by the request id",
            );
        }
    }

    fn require_string_field(
        &mut self,
        name: &str,
        span: crate::syntax::span::Span,
        code: Code,
        why: &str,
    ) {
        match self
            .field_by_path
            .get(name)
            .and_then(|&id| self.fields.get(id))
        {
            Some(field) if field.ty == Ty::Str && !field.optional => {}
            Some(field) => {
                let found = self.type_name(field.ty);
                let optional = if field.optional { "?" } else { "" };
                let field_span = field.span;
                self.error(
                    Diagnostic::error(
                        code,
                        format!("field `{name}` must be `string`, found `{found}{optional}`"),
                        field_span,
                        format!("{why}, so this field must be a required string"),
                    )
                    .with_label(span, "needed because of this"),
                );
            }
            None => self.error(
                Diagnostic::error(
                    code,
                    format!("the schema needs a field `{name}: string`"),
                    span,
                    format!("{why} here"),
                )
                .with_help(format!("add `{name}: string` to `schema request`")),
            ),
        }
    }
}
