//! Lowering: a checked program becomes IR. `def`s are inlined, fields become slots,
//! string literals are interned, and each operation gets the kind it works on.

use std::collections::HashMap;

use super::{
    Action, ArithOp, Assertion, Calls, Duty, Enum, EventKind, Expr, Field, FieldType, Kind, Layout,
    Loc, Policy, Report, Require, Rule, Service, Site, StrCall, StrFunc, Threshold, Tier, Trigger,
};
use crate::ast::CmpOp;
use crate::builtins::strings::Case;
use crate::check::program::{self as cp, Builtin, Elem, Program, Ty, Value};
use crate::source::SourceMap;
use crate::syntax::span::Span;

/// The most strings a `matches` pattern may spell out to become a membership test: a
/// comparison per string, still cheaper than a walk over the text.
const MATCHES_AS_MEMBERSHIP_UP_TO: usize = 32;

/// Lowers a checked program. `sources` turns spans into line and column numbers.
pub fn lower(program: &Program, sources: &SourceMap) -> Policy {
    let mut policy = Lowerer::new(program, sources, None).policy();
    policy.events = program
        .events
        .iter()
        .enumerate()
        .map(|(index, event)| lower_event(program, index, event, sources))
        .collect();
    policy
}

/// An event kind as a policy of its own: its fields, and the triggers that count it as
/// trigger predicates (no tiers, rules or duties), so that the same engines judge it.
fn lower_event(
    program: &Program,
    index: usize,
    event: &cp::EventKind,
    sources: &SourceMap,
) -> EventKind {
    let part = Program {
        name: program.name.clone(),
        version: program.version.clone(),
        enums: program.enums.clone(),
        fields: event.fields.clone(),
        defs: program.defs.clone(),
        tiers: Vec::new(),
        default: crate::ast::Outcome::Allow,
        rules: Vec::new(),
        duties: Vec::new(),
        triggers: program
            .triggers
            .iter()
            .filter(|t| t.event == Some(index))
            .cloned()
            .collect(),
        services: Vec::new(),
        events: Vec::new(),
        fixtures: Vec::new(),
        tests: Vec::new(),
        assertions: Vec::new(),
        patterns: program.patterns.clone(),
        zones: program.zones.clone(),
    };
    let mut lowerer = Lowerer::new(&part, sources, Some(index));
    EventKind {
        name: event.name.clone(),
        id_slot: event.id_field.map(|f| f as u32),
        aware_slot: event.aware_field.map(|f| f as u32),
        loc: lowerer.loc(event.span),
        policy: lowerer.policy(),
    }
}

impl<'p> Lowerer<'p> {
    /// A lowerer of `program`'s request part (`event` `None`) or of the part that
    /// judges event kind `event`: each takes the triggers that count what it judges.
    fn new(program: &'p Program, sources: &'p SourceMap, event: Option<usize>) -> Self {
        Lowerer {
            program,
            sources,
            event,
            strings: Vec::new(),
            string_ids: HashMap::new(),
            sites: Vec::new(),
            defs: vec![None; program.defs.len()],
            calls: Calls {
                patterns: program.patterns.clone(),
                zones: program.zones.clone(),
                ..Calls::default()
            },
        }
    }
}

struct Lowerer<'p> {
    program: &'p Program,
    sources: &'p SourceMap,
    event: Option<usize>,
    strings: Vec<String>,
    string_ids: HashMap<String, u32>,
    sites: Vec<Site>,
    defs: Vec<Option<Expr>>,
    calls: Calls,
}

fn kind_of(ty: Ty) -> Kind {
    match ty {
        Ty::Bool => Kind::Bool,
        Ty::Int | Ty::Duration | Ty::Timestamp => Kind::Int,
        Ty::Float | Ty::Percent => Kind::Float,
        Ty::Str => Kind::Str,
        Ty::Enum(_) => Kind::Enum,
        Ty::Tier => Kind::Tier,
        // Sets are only read through membership; a checked program has no errors.
        Ty::Set(_) | Ty::Error => Kind::Int,
    }
}

fn field_type(ty: Ty) -> FieldType {
    match ty {
        Ty::Bool => FieldType::Bool,
        Ty::Int => FieldType::Int,
        Ty::Float => FieldType::Float,
        Ty::Str => FieldType::Str,
        Ty::Duration => FieldType::Duration,
        Ty::Timestamp => FieldType::Timestamp,
        Ty::Percent => FieldType::Percent,
        Ty::Enum(id) => FieldType::Enum(id),
        Ty::Set(Elem::Enum(id)) => FieldType::EnumSet(id),
        Ty::Set(Elem::Str) => FieldType::StrSet,
        Ty::Tier | Ty::Error => FieldType::Int,
    }
}

impl Lowerer<'_> {
    fn loc(&self, span: Span) -> Loc {
        match self.sources.file_of(span) {
            Some(file) => {
                let (line, column) = file.line_col(span.start);
                Loc {
                    line: line as u32,
                    column: column as u32,
                }
            }
            None => Loc::default(),
        }
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.string_ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.string_ids.insert(s.to_string(), id);
        id
    }

    fn site(&mut self, span: Span) -> u32 {
        let id = self.sites.len() as u32;
        let site = Site {
            loc: self.loc(span),
            text: excerpt(self.sources.text(span)),
        };
        self.sites.push(site);
        id
    }

    /// A schema default as the slot holds it. Strings are interned like literals, so
    /// every engine (and the C module) gives them the same id; a set default is the
    /// empty set, 0 as a mask and as a packed string set alike.
    fn default_bits(&mut self, value: &cp::Value) -> u64 {
        value.scalar_bits(|s| self.intern(s)).unwrap_or(0)
    }

    fn policy(&mut self) -> Policy {
        let p = self.program;
        let fields = p
            .fields
            .iter()
            .map(|f| Field {
                path: f.path.clone(),
                segments: f.path.split('.').map(str::to_string).collect(),
                ty: field_type(f.ty),
                optional: f.optional,
                default: f.default.as_ref().map(|v| self.default_bits(v)),
                clock: f.clock,
                sensitive: f.sensitive,
            })
            .collect();
        let enums = p
            .enums
            .iter()
            .map(|e| Enum {
                name: e.name.clone(),
                members: e.members.clone(),
            })
            .collect();
        let tiers = p
            .tiers
            .iter()
            .map(|t| Tier {
                name: t.name.clone(),
                cond: t.when.as_ref().map(|c| self.expr(c)),
                cite: t.cite.clone(),
                loc: self.loc(t.span),
            })
            .collect();
        let rules: Vec<Rule> = p
            .rules
            .iter()
            .map(|r| Rule {
                id: r.id.clone(),
                outcome: r.outcome,
                cond: self.expr(&r.when),
                because: r.because.clone(),
                cite: r.cite.clone(),
                loc: self.loc(r.span),
            })
            .collect();
        let mut first_require = 0;
        let mut duties = Vec::with_capacity(p.duties.len());
        for d in &p.duties {
            let duty = self.duty(d, first_require);
            first_require += duty.requires.len();
            duties.push(duty);
        }
        let event = self.event;
        let triggers: Vec<Trigger> = p
            .triggers
            .iter()
            .filter(|t| t.event == event)
            .map(|t| self.trigger(t))
            .collect();
        let services = p
            .services
            .iter()
            .map(|s| Service {
                name: s.name.clone(),
                fallback: s.fallback.clone(),
                recovery: s.recovery.clone(),
                cites: s.cites.clone(),
                loc: self.loc(s.span),
            })
            .collect();
        let assertions = p
            .assertions
            .iter()
            .filter(|_| event.is_none())
            .map(|a| Assertion {
                name: a.name.clone(),
                when: self.expr(&a.when),
                expect: a.expect.clone(),
                loc: self.loc(a.span),
            })
            .collect();
        let layout = Layout::new(rules.len(), duties.len(), first_require, triggers.len());
        Policy {
            name: p.name.clone(),
            version: p.version.clone(),
            enums,
            fields,
            strings: std::mem::take(&mut self.strings),
            tiers,
            default: p.default,
            rules,
            duties,
            triggers,
            services,
            sites: std::mem::take(&mut self.sites),
            calls: std::mem::take(&mut self.calls),
            clock_slot: p.fields.iter().position(|f| f.clock).map(|s| s as u32),
            layout,
            events: Vec::new(),
            assertions,
        }
    }

    fn duty(&mut self, d: &cp::Duty, first_require: usize) -> Duty {
        let tier_mask = (!d.tiers.is_empty())
            .then(|| d.tiers.iter().fold(0u64, |m, &t| m | (1u64 << (t % 64))));
        Duty {
            name: d.name.clone(),
            tier_mask,
            when: d.when.as_ref().map(|w| self.expr(w)),
            requires: d
                .requires
                .iter()
                .map(|r| Require {
                    cond: self.expr(&r.cond),
                    outcome: r.outcome,
                    message: r.message.clone(),
                    loc: self.loc(r.span),
                })
                .collect(),
            first_require,
            retain_secs: d.retain_secs,
            reports: d
                .reports
                .iter()
                .map(|r| Report {
                    recipient: r.recipient.clone(),
                    within_secs: r.within_secs,
                })
                .collect(),
            notices: d.notices.clone(),
            cites: d.cites.clone(),
            loc: self.loc(d.span),
        }
    }

    fn trigger(&mut self, t: &cp::Trigger) -> Trigger {
        Trigger {
            name: t.name.clone(),
            kind: t.kind,
            cond: self.expr(&t.cond),
            within_secs: t.within_secs,
            by_slot: t.by.map(|f| f as u32),
            op: t.op,
            threshold: match t.threshold {
                cp::Threshold::Count(n) => Threshold::Count(n),
                cp::Threshold::Rate(r) => Threshold::Rate(r),
            },
            min_decisions: t.min_decisions.unwrap_or(0),
            cites: t.cites.clone(),
            actions: t
                .actions
                .iter()
                .map(|a| match a {
                    cp::Action::Suspend { service, for_secs } => Action::Suspend {
                        service: *service,
                        for_secs: *for_secs,
                    },
                    cp::Action::Degrade { service } => Action::Degrade { service: *service },
                    cp::Action::Notify { channel } => Action::Notify {
                        channel: channel.clone(),
                    },
                    cp::Action::Report {
                        recipient,
                        within_secs,
                        per_event,
                    } => Action::Report {
                        recipient: recipient.clone(),
                        within_secs: *within_secs,
                        per_event: *per_event,
                    },
                    cp::Action::Block { key, for_secs } => Action::Block {
                        key_slot: *key as u32,
                        for_secs: *for_secs,
                    },
                })
                .collect(),
            loc: self.loc(t.span),
        }
    }

    fn constant(&mut self, value: &Value) -> Expr {
        match value {
            Value::Bool(b) => Expr::Bool(*b),
            Value::Int(i) | Value::Duration(i) | Value::Timestamp(i) => Expr::Int(*i),
            Value::Float(f) | Value::Percent(f) => Expr::Float(*f),
            Value::Str(s) => Expr::Str(self.intern(s)),
            Value::Enum(_, member) => Expr::Enum(*member),
            Value::Tier(t) => Expr::Tier(*t as u32),
            // Set constants only appear in fixtures, never in conditions.
            Value::Set(_) => Expr::Bool(false),
        }
    }

    fn expr(&mut self, e: &cp::Expr) -> Expr {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.expr_inner(e))
    }

    fn boxed(&mut self, e: &cp::Expr) -> Box<Expr> {
        Box::new(self.expr(e))
    }

    fn expr_inner(&mut self, e: &cp::Expr) -> Expr {
        use cp::ExprKind as K;
        match &e.kind {
            K::Const(v) => self.constant(v),
            K::Field(id) => Expr::Load {
                slot: *id as u32,
                kind: kind_of(e.ty),
            },
            K::Def(id) => {
                if let Some(Some(done)) = self.defs.get(*id) {
                    return done.clone();
                }
                let Some(def) = self.program.defs.get(*id) else {
                    return Expr::Bool(false);
                };
                let lowered = self.expr(&def.value);
                if let Some(slot) = self.defs.get_mut(*id) {
                    *slot = Some(lowered.clone());
                }
                lowered
            }
            K::Tier => Expr::CurrentTier,
            K::Degraded => Expr::Degraded,
            K::Has(id) => Expr::Has { slot: *id as u32 },
            K::Coalesce(id, default) => Expr::Coalesce {
                slot: *id as u32,
                kind: kind_of(e.ty),
                default: self.boxed(default),
            },
            K::Not(a) => Expr::Not(self.boxed(a)),
            K::Neg(a) => {
                let site = self.site(e.span);
                Expr::Neg {
                    kind: kind_of(e.ty),
                    a: self.boxed(a),
                    site,
                }
            }
            K::And(a, b) => Expr::And(self.boxed(a), self.boxed(b)),
            K::Or(a, b) => Expr::Or(self.boxed(a), self.boxed(b)),
            K::Cmp(op, a, b) if self.is_cased(a) || self.is_cased(b) => {
                let equal = self.str_call(StrFunc::Equals, a, Some(b), e.span);
                match op {
                    CmpOp::Ne => Expr::Not(Box::new(equal)),
                    _ => equal,
                }
            }
            K::Cmp(op, a, b) => Expr::Cmp {
                op: *op,
                kind: kind_of(a.ty),
                a: self.boxed(a),
                b: self.boxed(b),
            },
            K::Arith(op, a, b) => {
                let site = self.site(e.span);
                let op = match op {
                    cp::ArithOp::Add => ArithOp::Add,
                    cp::ArithOp::Sub => ArithOp::Sub,
                    cp::ArithOp::Mul => ArithOp::Mul,
                    cp::ArithOp::Div => ArithOp::Div,
                    cp::ArithOp::Rem => ArithOp::Rem,
                };
                Expr::Arith {
                    op,
                    kind: kind_of(e.ty),
                    a: self.boxed(a),
                    b: self.boxed(b),
                    site,
                }
            }
            K::IntToFloat(a) => Expr::IntToFloat(self.boxed(a)),
            K::InSet(elem, set) if self.is_cased(elem) => {
                self.str_call(StrFunc::InSet, elem, Some(set), e.span)
            }
            K::InList(elem, items) if self.is_cased(elem) => {
                let texts: Vec<Value> = items
                    .iter()
                    .filter_map(|i| match &i.kind {
                        K::Const(v @ Value::Str(_)) => Some(v.clone()),
                        _ => None,
                    })
                    .collect();
                let set = self.literal_str_set(&texts);
                self.string_call(StrFunc::InSet, elem, Some((set, Vec::new())), e.span)
            }
            K::Call(builtin, args) => self.call(*builtin, args, e),
            K::InSet(elem, set) => {
                let slot = self.set_slot(set);
                match set.ty {
                    Ty::Set(Elem::Enum(_)) => Expr::InEnumSet {
                        elem: self.boxed(elem),
                        slot,
                    },
                    _ => Expr::InStrSet {
                        elem: self.boxed(elem),
                        slot,
                    },
                }
            }
            K::InList(elem, items) => {
                let kind = kind_of(elem.ty);
                let constant_members: Option<u64> = if matches!(kind, Kind::Enum | Kind::Tier) {
                    items.iter().try_fold(0u64, |mask, item| match &item.kind {
                        K::Const(Value::Enum(_, m)) if *m < 64 => Some(mask | (1 << m)),
                        K::Const(Value::Tier(t)) if *t < 64 => Some(mask | (1 << t)),
                        _ => None,
                    })
                } else {
                    None
                };
                match constant_members {
                    Some(mask) => Expr::InMask {
                        elem: self.boxed(elem),
                        mask,
                    },
                    None => Expr::InList {
                        elem: self.boxed(elem),
                        kind,
                        items: items.iter().map(|i| self.expr(i)).collect(),
                    },
                }
            }
        }
    }
}

impl<'p> Lowerer<'p> {
    fn resolve<'e>(&self, e: &'e cp::Expr) -> &'e cp::Expr
    where
        'p: 'e,
    {
        let mut e = e;
        while let cp::ExprKind::Def(id) = &e.kind {
            match self.program.defs.get(*id) {
                Some(def) => e = &def.value,
                None => break,
            }
        }
        e
    }

    /// Whether `e` is a string with a case mapping applied (`lower(…)`, `upper(…)`):
    /// such a string has no interned id, so comparing it is a string call.
    fn is_cased(&self, e: &cp::Expr) -> bool {
        matches!(
            self.resolve(e).kind,
            cp::ExprKind::Call(Builtin::Lower | Builtin::Upper, _)
        )
    }

    /// A string operand as an id expression and the case mappings on it, innermost
    /// first. A literal under case mappings is mapped here, at compile time.
    fn str_operand(&mut self, e: &cp::Expr) -> (Expr, Vec<Case>) {
        let mut cases = Vec::new();
        let mut inner = self.resolve(e);
        while let cp::ExprKind::Call(b @ (Builtin::Lower | Builtin::Upper), args) = &inner.kind {
            let Some(arg) = args.first() else { break };
            cases.push(if *b == Builtin::Lower {
                Case::Lower
            } else {
                Case::Upper
            });
            inner = self.resolve(arg);
        }
        cases.reverse();
        if let cp::ExprKind::Const(Value::Str(text)) = &inner.kind {
            let mapped = crate::builtins::strings::apply(text, &cases).into_owned();
            return (Expr::Str(self.intern(&mapped)), Vec::new());
        }
        (self.expr(inner), cases)
    }

    /// `matches(a, pattern)`. A pattern that matches only a few strings, such as
    /// `^(chat|code)$`, is the membership test `a in {"chat", "code"}`: the strings
    /// become literals a request's strings are interned against, and the test compares
    /// ids instead of walking an automaton. Under a case mapping `a` has no id, so the
    /// walk stays.
    fn matches(&mut self, pattern: usize, a: &cp::Expr, span: Span) -> Expr {
        let language = if self.is_cased(a) {
            None
        } else {
            self.program
                .patterns
                .get(pattern)
                .and_then(|p| p.finite_language(MATCHES_AS_MEMBERSHIP_UP_TO))
        };
        let Some(strings) = language else {
            return self.str_call(StrFunc::Matches(pattern as u32), a, None, span);
        };
        let items = strings.iter().map(|s| Expr::Str(self.intern(s))).collect();
        Expr::InList {
            elem: self.boxed(a),
            kind: Kind::Str,
            items,
        }
    }

    /// A string call of `a` and `b`: the second string, or for `InSet` the set.
    fn str_call(&mut self, func: StrFunc, a: &cp::Expr, b: Option<&cp::Expr>, span: Span) -> Expr {
        let b = match (func, b) {
            (StrFunc::InSet, Some(set)) => Some((self.set_value(set), Vec::new())),
            (_, Some(b)) => Some(self.str_operand(b)),
            (_, None) => None,
        };
        self.string_call(func, a, b, span)
    }

    fn string_call(
        &mut self,
        func: StrFunc,
        a: &cp::Expr,
        b: Option<(Expr, Vec<Case>)>,
        span: Span,
    ) -> Expr {
        let (a_id, a_cases) = self.str_operand(a);
        let (b_id, b_cases) = match b {
            Some((id, cases)) => (Some(Box::new(id)), cases),
            None => (None, Vec::new()),
        };
        let call = self.calls.str_calls.len() as u32;
        self.calls.str_calls.push(StrCall {
            func,
            a_cases,
            b_cases,
        });
        let site = self.site(span);
        Expr::StrCall {
            call,
            a: Box::new(a_id),
            b: b_id,
            site,
        }
    }

    fn literal_str_set(&mut self, items: &[Value]) -> Expr {
        let mut ids: Vec<u32> = items
            .iter()
            .filter_map(|v| match v {
                Value::Str(s) => Some(self.intern(s)),
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let index = self.calls.str_sets.len() as u32;
        self.calls.str_sets.push(ids);
        Expr::StrSet(index)
    }

    /// A set operand: a literal becomes a mask (`set<enum>`) or a `StrSet`; a field its
    /// slot's value.
    fn set_value(&mut self, e: &cp::Expr) -> Expr {
        let e = self.resolve(e);
        match (&e.kind, e.ty) {
            (cp::ExprKind::Const(Value::Set(items)), Ty::Set(Elem::Enum(_))) => {
                Expr::Int(enum_mask(items) as i64)
            }
            (cp::ExprKind::Const(Value::Set(items)), _) => self.literal_str_set(items),
            _ => Expr::Load {
                slot: self.set_slot(e),
                kind: Kind::Int,
            },
        }
    }

    fn call(&mut self, builtin: Builtin, args: &[cp::Expr], e: &cp::Expr) -> Expr {
        let strings = |arg: Option<&cp::Expr>| arg.is_some_and(|a| a.ty == Ty::Set(Elem::Str));
        match (builtin, args) {
            (Builtin::StartsWith, [a, b]) => self.str_call(StrFunc::StartsWith, a, Some(b), e.span),
            (Builtin::EndsWith, [a, b]) => self.str_call(StrFunc::EndsWith, a, Some(b), e.span),
            (Builtin::Contains, [a, b]) => self.str_call(StrFunc::Contains, a, Some(b), e.span),
            (Builtin::Matches(p), [a]) => self.matches(p, a, e.span),
            (Builtin::StrLen, [a]) => self.str_call(StrFunc::Len, a, None, e.span),
            (Builtin::SetLen, [a]) => match &self.resolve(a).kind {
                cp::ExprKind::Const(Value::Set(items)) => Expr::Int(items.len() as i64),
                _ => Expr::SetLen {
                    strings: strings(Some(a)),
                    a: Box::new(self.set_value(a)),
                },
            },
            (Builtin::ContainsAny | Builtin::Intersects | Builtin::ContainsAll, [a, b]) => {
                Expr::SetRel {
                    all: builtin == Builtin::ContainsAll,
                    strings: strings(Some(a)),
                    a: Box::new(self.set_value(a)),
                    b: Box::new(self.set_value(b)),
                }
            }
            // `is_subset(a, b)` is `contains_all(b, a)`.
            (Builtin::IsSubset, [a, b]) => Expr::SetRel {
                all: true,
                strings: strings(Some(a)),
                a: Box::new(self.set_value(b)),
                b: Box::new(self.set_value(a)),
            },
            (Builtin::Abs, [a]) => {
                let site = self.site(e.span);
                Expr::Abs {
                    kind: kind_of(e.ty),
                    a: self.boxed(a),
                    site,
                }
            }
            (Builtin::Min | Builtin::Max, [a, b]) => Expr::MinMax {
                max: builtin == Builtin::Max,
                kind: kind_of(e.ty),
                a: self.boxed(a),
                b: self.boxed(b),
            },
            (Builtin::HourOfDay(zone) | Builtin::Weekday(zone), [t]) => {
                let site = self.site(e.span);
                Expr::TimeCall {
                    weekday: matches!(builtin, Builtin::Weekday(_)),
                    zone: zone as u32,
                    a: self.boxed(t),
                    site,
                }
            }
            (Builtin::FloatToInt, [a]) => {
                let site = self.site(e.span);
                Expr::FloatToInt {
                    a: self.boxed(a),
                    site,
                }
            }
            // A computed string outside a string function or comparison: the checker
            // lets none through (every string context is one of those).
            _ => Expr::Bool(false),
        }
    }

    /// The slot of a set-typed expression: sets are only ever fields, perhaps named by
    /// a `def`.
    fn set_slot(&self, set: &cp::Expr) -> u32 {
        match &self.resolve(set).kind {
            cp::ExprKind::Field(id) => *id as u32,
            _ => u32::MAX,
        }
    }
}

fn enum_mask(items: &[Value]) -> u64 {
    items.iter().fold(0u64, |mask, v| match v {
        Value::Enum(_, m) if *m < 64 => mask | (1 << m),
        _ => mask,
    })
}

/// The longest excerpt of source a failure message quotes.
const EXCERPT_CHARS: usize = 48;

/// A site's source text for its failure message, cut short: the text of nested sites
/// overlaps, so keeping it whole would make a long sum quadratic in memory.
fn excerpt(text: &str) -> String {
    let mut flat = text.split_whitespace();
    let mut out = String::new();
    if let Some(first) = flat.next() {
        out.push_str(first);
    }
    for word in flat {
        if out.chars().count() > EXCERPT_CHARS {
            break;
        }
        out.push(' ');
        out.push_str(word);
    }
    match out.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => {
            out.truncate(cut);
            out.push('…');
            out
        }
        None => out,
    }
}
