//! Tiers, rules, duties, triggers and services.

use super::Checker;
use super::program::{self, Action, Recovery, Require, Threshold, Ty};
use crate::ast::{self, ActionKind, DutyItem, Literal, RecoveryItem, ServiceItem, WindowKind};
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::span::{Span, Spanned};

/// The longest window, retention, deadline, block or suspension: 100 years of 365 days.
pub const MAX_DURATION_SECS: u64 = 100 * 365 * 24 * 3600;

impl Checker<'_> {
    pub(super) fn check_tiers(&mut self, tiers: &ast::TiersDecl) -> Vec<program::Tier> {
        tiers
            .entries
            .iter()
            .map(|entry| {
                let when = entry.when.as_ref().map(|cond| {
                    self.in_tier_condition = true;
                    let typed = self.condition(cond);
                    self.in_tier_condition = false;
                    typed
                });
                program::Tier {
                    name: entry.name.node.clone(),
                    when,
                    cite: entry.cite.as_ref().map(|c| c.node.clone()),
                    span: entry.span,
                }
            })
            .collect()
    }

    pub(super) fn check_rule(&mut self, rule: &ast::RuleDecl) -> program::Rule {
        let (id, named) = match &rule.name {
            Some(name) => (name.node.clone(), true),
            None => (super::rule_id::content_id(rule), false),
        };
        // A module's rules are named within the module: `eu::ai_act::prohibited::x`.
        let id = match &rule.module {
            Some(module) => format!("{module}::{id}"),
            None => id,
        };
        program::Rule {
            id,
            named,
            outcome: rule.outcome.node,
            when: self.in_effect(rule.effective.as_ref(), &rule.when),
            because: rule.because.node.clone(),
            cite: rule.cite.as_ref().map(|c| c.node.clone()),
            span: rule.span,
        }
    }

    /// A condition that holds only within its effective period (checked first, so that
    /// a rule out of force cannot fail a request).
    fn in_effect(&mut self, effective: Option<&ast::Effective>, cond: &ast::Expr) -> program::Expr {
        let period = self.effective(effective);
        let cond = self.condition(cond);
        match period {
            Some(period) => super::clock::and(period, cond),
            None => cond,
        }
    }

    fn once<T>(
        &mut self,
        slot: &mut Option<(T, Span)>,
        value: T,
        span: Span,
        what: &str,
        code: Code,
    ) {
        if let Some((_, first)) = slot {
            let first = *first;
            self.error(
                Diagnostic::error(
                    code,
                    format!("`{what}` may appear only once here"),
                    span,
                    "given again here",
                )
                .with_label(first, "first given here"),
            );
            return;
        }
        *slot = Some((value, span));
    }

    pub(super) fn check_duty(&mut self, duty: &ast::DutyDecl) -> program::Duty {
        let mut tiers: Option<(Vec<usize>, Span)> = None;
        let mut when: Option<(program::Expr, Span)> = None;
        let mut effective: Option<(program::Expr, Span)> = None;
        let mut retain: Option<(u64, Span)> = None;
        let mut requires = Vec::new();
        let mut reports = Vec::new();
        let mut notices = Vec::new();
        let mut cites = Vec::new();
        for item in &duty.items {
            match item {
                DutyItem::AppliesToTier(names, span) => {
                    let ids: Vec<usize> =
                        names.iter().filter_map(|n| self.resolve_tier(n)).collect();
                    self.once(
                        &mut tiers,
                        ids,
                        *span,
                        "applies to tier",
                        Code::DuplicateDutyItem,
                    );
                }
                DutyItem::AppliesWhen(cond, span) => {
                    let typed = self.condition(cond);
                    self.once(
                        &mut when,
                        typed,
                        *span,
                        "applies when",
                        Code::DuplicateDutyItem,
                    );
                }
                DutyItem::Require {
                    cond,
                    outcome,
                    message,
                    span,
                } => requires.push(Require {
                    cond: self.condition(cond),
                    outcome: outcome.node,
                    message: message.node.clone(),
                    span: *span,
                }),
                DutyItem::Retain(d, span) => {
                    let secs = self.positive_duration(d, "a retention period");
                    self.once(&mut retain, secs, *span, "retain", Code::DuplicateDutyItem);
                }
                DutyItem::RetainDef(name, span) => {
                    if let Some(secs) = self.duration_def(name) {
                        self.once(&mut retain, secs, *span, "retain", Code::DuplicateDutyItem);
                    }
                }
                DutyItem::Report {
                    recipient, within, ..
                } => reports.push(program::ReportDuty {
                    recipient: recipient.node.clone(),
                    within_secs: self.positive_duration(within, "a report deadline"),
                }),
                DutyItem::Notice(text, _) => notices.push(text.node.clone()),
                DutyItem::Cite(text, _) => cites.push(text.node.clone()),
                DutyItem::Effective(e) => {
                    if let Some(cond) = self.effective(Some(e)) {
                        self.once(
                            &mut effective,
                            cond,
                            e.span,
                            "effective",
                            Code::DuplicateDutyItem,
                        );
                    }
                }
            }
        }
        // A duty out of its period does not apply: its period comes first.
        let when = match (effective, when) {
            (Some((period, _)), Some((w, span))) => Some((super::clock::and(period, w), span)),
            (Some((period, span)), None) => Some((period, span)),
            (None, when) => when,
        };
        program::Duty {
            name: duty.name.node.clone(),
            tiers: tiers.map(|(t, _)| t).unwrap_or_default(),
            when: when.map(|(w, _)| w),
            requires,
            retain_secs: retain.map(|(r, _)| r),
            reports,
            notices,
            cites,
            span: duty.span,
        }
    }

    /// The value of a constant duration `def`, for `retain NAME`.
    fn duration_def(&mut self, name: &ast::Name) -> Option<u64> {
        match self.constant_def(&name.node, name.span) {
            Some(program::Value::Duration(secs)) if secs > 0 => {
                let secs = secs as u64;
                self.bounded_duration(secs, name.span, "a retention period");
                Some(secs.min(MAX_DURATION_SECS))
            }
            _ => {
                self.error(
                    Diagnostic::error(
                        Code::RetainNeedsDuration,
                        format!(
                            "`retain {}` needs a `def` whose value is a duration",
                            name.node
                        ),
                        name.span,
                        "not a constant duration",
                    )
                    .with_help(format!(
                        "declare it: `def {}: duration = 6 months`",
                        name.node
                    )),
                );
                None
            }
        }
    }

    /// A trigger's window, deadline or block length: written out, or a constant
    /// duration `def` (a module parameter).
    fn amount_duration(&mut self, d: &Spanned<ast::Amount<u64>>, what: &str) -> u64 {
        match &d.node {
            ast::Amount::Literal(secs) => {
                self.positive_duration(&Spanned::new(*secs, d.span), what)
            }
            ast::Amount::Param(name) => match self.constant_def(name, d.span) {
                Some(program::Value::Duration(secs)) if secs > 0 => {
                    let secs = secs as u64;
                    self.bounded_duration(secs, d.span, what);
                    secs.min(MAX_DURATION_SECS)
                }
                _ => {
                    self.amount_needs_constant(name, d.span, what, "duration", "30 days");
                    1
                }
            },
        }
    }

    /// The constant value of the `def` called `name`, if it has one.
    fn constant_def(&mut self, name: &str, span: Span) -> Option<program::Value> {
        let id = self.def_by_name.get(name).copied()?;
        self.def_type(id, span);
        match self
            .def_exprs
            .get(id)
            .and_then(|e| e.as_ref())
            .map(|e| &e.kind)
        {
            Some(program::ExprKind::Const(value)) => Some(value.clone()),
            _ => None,
        }
    }

    fn amount_needs_constant(
        &mut self,
        name: &str,
        span: Span,
        what: &str,
        ty: &str,
        example: &str,
    ) {
        self.error(
            Diagnostic::error(
                Code::AmountNeedsConstant,
                format!("{what} names `{name}`, which is not a constant {ty} `def`"),
                span,
                format!("not a constant {ty}"),
            )
            .with_help(format!(
                "declare it: `def {name}: {ty} = {example}`, or write the {ty} out"
            )),
        );
    }

    fn positive_duration(&mut self, d: &Spanned<u64>, what: &str) -> u64 {
        if d.node == 0 {
            self.error(Diagnostic::error(
                Code::ZeroDuration,
                format!("{what} cannot be zero"),
                d.span,
                "zero length",
            ));
        }
        self.bounded_duration(d.node, d.span, what);
        d.node.min(MAX_DURATION_SECS)
    }

    /// Every time the runtime computes is a moment before the year 10000; durations of
    /// at most a century keep `now + duration` there for the next eight thousand years.
    fn bounded_duration(&mut self, secs: u64, span: Span, what: &str) {
        if secs > MAX_DURATION_SECS {
            self.error(
                Diagnostic::error(
                    Code::DurationTooLong,
                    format!("{what} of more than 100 years"),
                    span,
                    "longer than 100 years",
                )
                .with_help("windows, retention, deadlines, blocks and suspensions last at most `100 years`"),
            );
        }
    }

    pub(super) fn check_trigger(&mut self, trigger: &ast::TriggerDecl) -> program::Trigger {
        let event = self.trigger_event(trigger);
        let (cond, by) = match event {
            Ok(Some(id)) => self.event_condition(id, trigger),
            Ok(None) => (
                self.in_effect(trigger.effective.as_ref(), &trigger.cond),
                trigger.by.as_ref().and_then(|path| self.by_key(path)),
            ),
            Err(()) => (super::expr::error_expr(trigger.cond.span), None),
        };
        let event = event.ok().flatten();
        let within_secs = self.amount_duration(&trigger.within, "a trigger window");
        let threshold = self.threshold(trigger);
        let min_decisions = self.min_decisions(trigger);
        let actions = trigger
            .actions
            .iter()
            .filter_map(|action| self.action(action, trigger, event))
            .collect();
        program::Trigger {
            name: trigger.name.node.clone(),
            kind: trigger.kind.node,
            cond,
            within_secs,
            by,
            event,
            op: trigger.op.node,
            threshold,
            min_decisions,
            actions,
            cites: trigger.cite.iter().map(|c| c.node.clone()).collect(),
            span: trigger.span,
        }
    }

    /// An event trigger's condition (`where COND`, else every event of the kind) and
    /// `by` key, read in the event's scope.
    fn event_condition(
        &mut self,
        event: usize,
        trigger: &ast::TriggerDecl,
    ) -> (program::Expr, Option<usize>) {
        let Some(request) = self.enter_event(event) else {
            return (super::expr::error_expr(trigger.cond.span), None);
        };
        let every = ast::Expr::new(ast::ExprKind::Lit(Literal::Bool(true)), trigger.cond.span);
        let filter = trigger.filter.as_ref().unwrap_or(&every);
        let cond = self.in_effect(trigger.effective.as_ref(), filter);
        let by = trigger.by.as_ref().and_then(|path| self.by_key(path));
        self.leave_event(event, request);
        (cond, by)
    }

    /// `count(…) within W >= NAME`: a whole-number parameter. A rate's percentage is
    /// written out (a `def` has no percent type).
    fn threshold_param(&mut self, kind: WindowKind, name: &str, span: Span) -> Threshold {
        match (kind, self.constant_def(name, span)) {
            (WindowKind::Count, Some(program::Value::Int(n))) => Threshold::Count(n),
            (WindowKind::Count, _) => {
                self.amount_needs_constant(name, span, "a count threshold", "int", "3");
                Threshold::Count(0)
            }
            (WindowKind::Rate, _) => {
                self.error(
                    Diagnostic::error(
                        Code::AmountNeedsConstant,
                        format!("a `rate` threshold names `{name}`"),
                        span,
                        "not a percentage",
                    )
                    .with_help("write the share out, such as `> 5%`; only a `count` threshold can be a parameter"),
                );
                Threshold::Rate(0.0)
            }
        }
    }

    /// `min N` of `rate(P) within W min N > X%`: at least N decisions in the window.
    fn min_decisions(&mut self, trigger: &ast::TriggerDecl) -> Option<u64> {
        let (word, n) = trigger.min.as_ref()?;
        if word.node != "min" {
            self.error(
                Diagnostic::error(
                    Code::InvalidMinimum,
                    format!("`{}` where a trigger's comparison was expected", word.node),
                    word.span,
                    "not `min`",
                )
                .with_help(
                    "a rate trigger may name its least volume: `rate(P) within 1h min 100 > 5%`",
                ),
            );
            return None;
        }
        if trigger.kind.node != WindowKind::Rate {
            self.error(
                Diagnostic::error(
                    Code::InvalidMinimum,
                    "`min` applies to `rate` triggers",
                    Span::new(word.span.start, n.span.end),
                    "on a `count` trigger",
                )
                .with_help(
                    "a count is its own volume: compare it directly (`count(P) within W >= N`)",
                ),
            );
            return None;
        }
        match u64::try_from(n.node) {
            Ok(m) if m >= 1 => Some(m),
            _ => {
                self.error(Diagnostic::error(
                    Code::InvalidMinimum,
                    "a rate's minimum number of decisions is at least 1",
                    n.span,
                    "below 1",
                ));
                None
            }
        }
    }

    fn by_key(&mut self, path: &ast::Path) -> Option<usize> {
        let dotted = path.dotted();
        let Some(&id) = self.field_by_path.get(&dotted) else {
            let diag = Diagnostic::error(
                Code::UnknownByField,
                format!("`by` key `{dotted}` is not a schema field"),
                path.span,
                "unknown field",
            );
            let candidates: Vec<String> = self.fields.iter().map(|f| f.path.clone()).collect();
            self.error(super::with_suggestion(
                diag,
                &dotted,
                candidates.iter().map(String::as_str),
            ));
            return None;
        };
        if let Some(field) = self.fields.get(id)
            && matches!(field.ty, Ty::Set(_))
        {
            let ty = self.type_name(field.ty);
            self.error(Diagnostic::error(
                Code::InvalidByType,
                format!("`by` key `{dotted}` is a `{ty}`, which cannot be a key"),
                path.span,
                "a key is one value per request",
            ));
            return None;
        }
        Some(id)
    }

    fn threshold(&mut self, trigger: &ast::TriggerDecl) -> Threshold {
        let span = trigger.threshold.span;
        let literal = match &trigger.threshold.node {
            ast::Amount::Literal(literal) => literal,
            ast::Amount::Param(name) => return self.threshold_param(trigger.kind.node, name, span),
        };
        match (trigger.kind.node, literal) {
            (WindowKind::Count, Literal::Int(n)) => Threshold::Count(*n),
            (WindowKind::Rate, Literal::Percent(p)) if (0.0..=100.0).contains(p) => {
                Threshold::Rate(*p)
            }
            (WindowKind::Rate, Literal::Percent(_)) => {
                self.error(Diagnostic::error(
                    Code::InvalidThreshold,
                    "a rate threshold must be between 0% and 100%",
                    span,
                    "out of range",
                ));
                Threshold::Rate(0.0)
            }
            (WindowKind::Count, _) => {
                self.error(
                    Diagnostic::error(
                        Code::InvalidThreshold,
                        "a `count` trigger compares with a whole number",
                        span,
                        "not a whole number",
                    )
                    .with_help(
                        "write a count such as `>= 50`; use `rate(…)` for a share such as `> 5%`",
                    ),
                );
                Threshold::Count(0)
            }
            (WindowKind::Rate, _) => {
                self.error(
                    Diagnostic::error(
                        Code::InvalidThreshold,
                        "a `rate` trigger compares with a percentage",
                        span,
                        "not a percentage",
                    )
                    .with_help(
                        "write a share such as `> 5%`; use `count(…)` for a number of requests",
                    ),
                );
                Threshold::Rate(0.0)
            }
        }
    }

    fn service_id(&mut self, name: &ast::Name) -> Option<usize> {
        if let Some(&id) = self.service_by_name.get(&name.node) {
            return Some(id);
        }
        let candidates: Vec<String> = self.service_by_name.keys().cloned().collect();
        let diag = Diagnostic::error(
            Code::UnknownService,
            format!("unknown service `{}`", name.node),
            name.span,
            "no `service` block has this name",
        );
        let diag = super::with_suggestion(diag, &name.node, candidates.iter().map(String::as_str));
        let diag = if diag.help.is_none() {
            diag.with_help(format!(
                "declare it: `service {} {{ fallback \"…\" }}`",
                name.node
            ))
        } else {
            diag
        };
        self.error(diag);
        None
    }

    fn action(
        &mut self,
        action: &ast::Action,
        trigger: &ast::TriggerDecl,
        event: Option<usize>,
    ) -> Option<Action> {
        match &action.kind {
            ActionKind::Suspend { service, for_ } => {
                let id = self.service_id(service);
                let for_secs = for_
                    .as_ref()
                    .map(|d| self.amount_duration(d, "a suspension"));
                Some(Action::Suspend {
                    service: id?,
                    for_secs,
                })
            }
            ActionKind::Degrade { service } => Some(Action::Degrade {
                service: self.service_id(service)?,
            }),
            ActionKind::Notify { channel } => Some(Action::Notify {
                channel: channel.node.clone(),
            }),
            ActionKind::Report {
                recipient,
                within,
                per,
            } => Some(Action::Report {
                recipient: recipient.node.clone(),
                within_secs: self.amount_duration(within, "a report deadline"),
                per_event: match per {
                    Some(word) => self.per_event(word, event)?,
                    None => false,
                },
            }),
            ActionKind::Block { key, for_ } => {
                let for_secs = self.amount_duration(for_, "a block");
                match &trigger.by {
                    Some(by) if by.dotted() == key.dotted() => {
                        let id = match event {
                            Some(event) => self.blocked_request_field(key, event)?,
                            None => self.field_by_path.get(&key.dotted()).copied()?,
                        };
                        Some(Action::Block { key: id, for_secs })
                    }
                    Some(by) => {
                        self.error(
                            Diagnostic::error(
                                Code::BlockKeyMismatch,
                                format!(
                                    "`block {}` must block the trigger's key `{}`",
                                    key.dotted(),
                                    by.dotted()
                                ),
                                key.span,
                                "not the `by` key",
                            )
                            .with_label(by.span, "the trigger counts by this key"),
                        );
                        None
                    }
                    None => {
                        self.error(
                            Diagnostic::error(
                                Code::BlockKeyMismatch,
                                format!(
                                    "`block {}` needs a trigger that counts `by {}`",
                                    key.dotted(),
                                    key.dotted()
                                ),
                                key.span,
                                "this trigger has no `by` key",
                            )
                            .with_help(format!(
                                "add `by {}` after the trigger's window",
                                key.dotted()
                            )),
                        );
                        None
                    }
                }
            }
        }
    }

    /// `per event` (only on a trigger that counts events).
    fn per_event(&mut self, word: &ast::Name, event: Option<usize>) -> Option<bool> {
        if word.node != "per" {
            self.error(
                Diagnostic::error(
                    Code::InvalidPerEvent,
                    format!("`{} event` after a report's deadline", word.node),
                    word.span,
                    "not `per`",
                )
                .with_help("write `report \"recipient\" within D per event`"),
            );
            return None;
        }
        if event.is_none() {
            self.error(
                Diagnostic::error(
                    Code::InvalidPerEvent,
                    "`per event` on a trigger that counts requests",
                    word.span,
                    "this trigger counts no events",
                )
                .with_help(
                    "count an event kind (`count(incident where …)`) to open one report per \
                     event; a request trigger opens one report per episode",
                ),
            );
            return None;
        }
        Some(true)
    }

    /// An event trigger blocks requests: by the request field of the `by` key's path,
    /// of the same type.
    fn blocked_request_field(&mut self, key: &ast::Path, event: usize) -> Option<usize> {
        let path = key.dotted();
        let event_ty = self.event_field_type(event, &path)?;
        match self.field_by_path.get(&path).copied() {
            Some(id) if self.fields.get(id).is_some_and(|f| f.ty == event_ty) => Some(id),
            found => {
                let what = match found.and_then(|id| self.fields.get(id)) {
                    Some(f) => format!("is a `{}` in the request", self.type_name(f.ty)),
                    None => "is not a request field".to_string(),
                };
                let event_name = self.events.get(event).map_or("", |e| e.name.as_str());
                let ty = self.type_name(event_ty);
                self.error(
                    Diagnostic::error(
                        Code::BlockKeyMismatch,
                        format!("`block {path}` blocks requests, but `{path}` {what}"),
                        key.span,
                        "no request field to block",
                    )
                    .with_help(format!(
                        "an event trigger blocks the requests whose `{path}` is the event's: \
                         declare `{path}: {ty}` in `schema request` as in `event {event_name}`"
                    )),
                );
                None
            }
        }
    }

    pub(super) fn check_service(&mut self, service: &ast::ServiceDecl) -> program::Service {
        let mut fallback: Option<(String, Span)> = None;
        let mut recovery: Option<(Recovery, Span)> = None;
        let mut cites = Vec::new();
        for item in &service.items {
            match item {
                ServiceItem::Fallback(text, span) => self.once(
                    &mut fallback,
                    text.node.clone(),
                    *span,
                    "fallback",
                    Code::DuplicateServiceItem,
                ),
                ServiceItem::Recovery(items, span) => {
                    let checked = self.recovery(items);
                    self.once(
                        &mut recovery,
                        checked,
                        *span,
                        "recovery",
                        Code::DuplicateServiceItem,
                    );
                }
                ServiceItem::Cite(text, _) => cites.push(text.node.clone()),
            }
        }
        program::Service {
            name: service.name.node.clone(),
            fallback: fallback.map(|(f, _)| f),
            recovery: recovery.map(|(r, _)| r),
            cites,
            span: service.span,
        }
    }

    fn recovery(&mut self, items: &[RecoveryItem]) -> Recovery {
        let mut cooldown: Option<(u64, Span)> = None;
        let mut ramp: Option<((Vec<f64>, u64), Span)> = None;
        let mut timeout: Option<(u64, Span)> = None;
        let mut approvers = Vec::new();
        let mut require_report_filed = false;
        for item in items {
            match item {
                RecoveryItem::Cooldown(d, span) => {
                    let secs = self.positive_duration(d, "a cooldown");
                    self.once(
                        &mut cooldown,
                        secs,
                        *span,
                        "cooldown",
                        Code::DuplicateServiceItem,
                    );
                }
                RecoveryItem::Approve(role, _) => approvers.push(role.node.clone()),
                RecoveryItem::Ramp {
                    stages,
                    every,
                    span,
                } => {
                    self.check_ramp(stages);
                    let every = self.positive_duration(every, "a ramp stage");
                    let percents = stages.iter().map(|s| s.node).collect();
                    self.once(
                        &mut ramp,
                        (percents, every),
                        *span,
                        "ramp",
                        Code::DuplicateServiceItem,
                    );
                }
                RecoveryItem::RequireReport(word, _) => {
                    if word.node == "filed" {
                        require_report_filed = true;
                    } else {
                        self.error(
                            Diagnostic::error(
                                Code::InvalidRecoveryRequirement,
                                format!("`require report {}` in a recovery", word.node),
                                word.span,
                                "not `filed`",
                            )
                            .with_help(
                                "write `require report filed`: approvals then count once the \
                                 suspending trigger's reports are filed",
                            ),
                        );
                    }
                }
                RecoveryItem::Timeout(d, span) => {
                    let secs = self.positive_duration(d, "a recovery timeout");
                    self.once(
                        &mut timeout,
                        secs,
                        *span,
                        "timeout",
                        Code::DuplicateServiceItem,
                    );
                }
            }
        }
        let (stages, every) = match ramp {
            Some(((stages, every), _)) => (stages, Some(every)),
            None => (Vec::new(), None),
        };
        Recovery {
            cooldown_secs: cooldown.map(|(c, _)| c),
            approvers,
            ramp: stages,
            ramp_every_secs: every,
            timeout_secs: timeout.map(|(t, _)| t),
            require_report_filed,
        }
    }

    fn check_ramp(&mut self, stages: &[Spanned<f64>]) {
        let mut previous: Option<&Spanned<f64>> = None;
        for stage in stages {
            if stage.node <= 0.0 || stage.node > 100.0 {
                self.error(Diagnostic::error(
                    Code::InvalidRamp,
                    "a ramp stage must be above 0% and at most 100%",
                    stage.span,
                    "out of range",
                ));
            } else if let Some(prev) = previous
                && stage.node <= prev.node
            {
                self.error(
                    Diagnostic::error(
                        Code::InvalidRamp,
                        "ramp stages must rise",
                        stage.span,
                        "not above the stage before",
                    )
                    .with_label(prev.span, "previous stage"),
                );
            }
            previous = Some(stage);
        }
    }
}
