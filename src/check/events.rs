//! Events (language v1): `event NAME { fields }` declares a kind of event the host
//! posts, with a schema of its own, and triggers count events of a kind —
//! `count(incident where severity == serious) within 30d >= 1`.
//!
//! An event trigger's condition, `by` key and `effective` period are checked against
//! the event's fields, not the request's: the checker swaps its field scope while it
//! reads them. `now` there is the time the event was posted.

use std::collections::HashMap;

use super::Checker;
use super::program::{EventKind, Expr, ExprKind, Field, Ty};
use crate::ast::{self, Decl};
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::span::Span;

/// The field names an event kind gives a meaning to.
pub const EVENT_ID: &str = "id";
pub const EVENT_AWARE_AT: &str = "aware_at";

/// The fields paths resolve in: the request's, or one event kind's.
#[derive(Debug, Default)]
pub(super) struct Scope {
    fields: Vec<Field>,
    field_by_path: HashMap<String, usize>,
    clock: Option<usize>,
}

impl Checker<'_> {
    pub(super) fn collect_events(&mut self, file: &ast::File) {
        for decl in &file.decls {
            let Decl::Event(event) = decl else { continue };
            if let Some(&prev) = self.event_by_name.get(&event.name.node) {
                let prev_span = self.events.get(prev).map(|e| e.span).unwrap_or_default();
                self.error(super::duplicate(
                    &format!("event `{}`", event.name.node),
                    event.name.span,
                    prev_span,
                ));
                continue;
            }
            let request = self.swap_scope(Scope::default());
            for field in &event.fields {
                self.declare_field(field);
            }
            self.check_field_prefixes();
            let scope = self.swap_scope(request);
            let id_field = self.special_field(&scope, EVENT_ID, Ty::Str, false);
            let aware_field = self.special_field(&scope, EVENT_AWARE_AT, Ty::Timestamp, true);
            self.event_by_name
                .insert(event.name.node.clone(), self.events.len());
            // The fields stay in their scope while triggers are checked
            // ([`Checker::finish_events`] hands them over).
            self.event_scopes.push(scope);
            self.events.push(EventKind {
                name: event.name.node.clone(),
                fields: Vec::new(),
                id_field,
                aware_field,
                span: event.name.span,
            });
        }
    }

    /// `id` must be a required string, `aware_at` a timestamp (optional allowed: an
    /// event without it counts from when it was posted).
    fn special_field(
        &mut self,
        scope: &Scope,
        name: &str,
        ty: Ty,
        optional_ok: bool,
    ) -> Option<usize> {
        let &id = scope.field_by_path.get(name)?;
        let field = scope.fields.get(id)?;
        if field.ty == ty && (optional_ok || !field.optional) {
            return Some(id);
        }
        let want = self.type_name(ty);
        let found = self.type_name(field.ty);
        let q = if field.optional { "?" } else { "" };
        let meaning = if name == EVENT_ID {
            "an event's `id` names it on its reports, and a repeat of it is not counted again"
        } else {
            "`per event` report deadlines count from an event's `aware_at`"
        };
        self.error(
            Diagnostic::error(
                Code::InvalidEventField,
                format!("event field `{name}` must be `{want}`, found `{found}{q}`"),
                field.span,
                format!("not `{want}`"),
            )
            .with_help(meaning),
        );
        None
    }

    /// Makes `scope` the fields paths resolve in, and returns the previous one.
    pub(super) fn swap_scope(&mut self, scope: Scope) -> Scope {
        Scope {
            fields: std::mem::replace(&mut self.fields, scope.fields),
            field_by_path: std::mem::replace(&mut self.field_by_path, scope.field_by_path),
            clock: std::mem::replace(&mut self.clock, scope.clock),
        }
    }

    /// Enters event kind `id`'s scope; [`Checker::leave_event`] goes back (and keeps
    /// what reading the event's fields added to it, such as an implicit `now`).
    pub(super) fn enter_event(&mut self, id: usize) -> Option<Scope> {
        let scope = std::mem::take(self.event_scopes.get_mut(id)?);
        self.in_event = true;
        Some(self.swap_scope(scope))
    }

    pub(super) fn leave_event(&mut self, id: usize, request: Scope) {
        self.in_event = false;
        let scope = self.swap_scope(request);
        if let Some(slot) = self.event_scopes.get_mut(id) {
            *slot = scope;
        }
    }

    /// The type of event kind `event`'s field `path`.
    pub(super) fn event_field_type(&self, event: usize, path: &str) -> Option<Ty> {
        let scope = self.event_scopes.get(event)?;
        let &id = scope.field_by_path.get(path)?;
        scope.fields.get(id).map(|f| f.ty)
    }

    /// The event kinds, each with its fields as the triggers left them.
    pub(super) fn finish_events(&mut self) -> Vec<EventKind> {
        let mut events = std::mem::take(&mut self.events);
        for (event, scope) in events.iter_mut().zip(self.event_scopes.drain(..)) {
            event.fields = scope.fields;
        }
        events
    }

    /// The event kind a trigger counts: its condition is a bare event name, alone or
    /// before `where`. `Err` after a reported error.
    pub(super) fn trigger_event(
        &mut self,
        trigger: &ast::TriggerDecl,
    ) -> Result<Option<usize>, ()> {
        let name = match &trigger.cond.kind {
            ast::ExprKind::Path(path) => match path.parts.as_slice() {
                [single] => Some(single),
                _ => None,
            },
            _ => None,
        };
        if let Some(name) = name
            && let Some(&id) = self.event_by_name.get(&name.node)
        {
            return Ok(Some(id));
        }
        let Some(_) = trigger.filter else {
            return Ok(None);
        };
        let written = name.map_or_else(|| "this".to_string(), |n| format!("`{}`", n.node));
        let diag = Diagnostic::error(
            Code::UnknownEvent,
            format!("{written} is not an event kind, so it cannot be followed by `where`"),
            trigger.cond.span,
            "not a declared `event`",
        );
        let diag = match name {
            Some(name) => super::with_suggestion(
                diag,
                &name.node,
                self.events.iter().map(|e| e.name.as_str()),
            ),
            None => diag,
        };
        let diag = if diag.help.is_none() {
            diag.with_help(
                "declare the kind (`event incident { severity: Severity }`), or count requests \
                 with a condition alone: `count(COND)`",
            )
        } else {
            diag
        };
        self.error(diag);
        Err(())
    }

    /// An event trigger's condition reads the event only: a `def` over request fields,
    /// `tier` or `degraded` would read a request that is not there.
    pub(super) fn request_in_event(&mut self, what: &str, span: Span) {
        self.error(
            Diagnostic::error(
                Code::RequestInEventCondition,
                format!("an event trigger's condition cannot read {what}"),
                span,
                "reads the request",
            )
            .with_help(
                "an event is judged on its own fields: write the condition over the event's \
                 fields (or use a `def` that is a constant)",
            ),
        );
    }

    /// Whether a typed `def` reads a request: a field, `tier` or `degraded`, directly
    /// or through another `def`.
    pub(super) fn def_reads_request(&self, id: usize) -> bool {
        let mut pending: Vec<&Expr> = match self.def_exprs.get(id) {
            Some(Some(e)) => vec![e],
            _ => return false,
        };
        let mut seen = vec![id];
        while let Some(e) = pending.pop() {
            match &e.kind {
                ExprKind::Field(_)
                | ExprKind::Has(_)
                | ExprKind::Coalesce(..)
                | ExprKind::Tier
                | ExprKind::Degraded => return true,
                ExprKind::Def(d) => {
                    if !seen.contains(d) {
                        seen.push(*d);
                        if let Some(Some(e)) = self.def_exprs.get(*d) {
                            pending.push(e);
                        }
                    }
                }
                _ => e.children(&mut pending),
            }
        }
        false
    }
}
