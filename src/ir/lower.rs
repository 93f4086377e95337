//! Lowering: a checked program becomes IR. `def`s are inlined, fields become slots,
//! string literals are interned, and each operation gets the kind it works on.

use std::collections::HashMap;

use super::{
    Action, ArithOp, Duty, Enum, Expr, Field, FieldType, Kind, Layout, Loc, Policy, Report,
    Require, Rule, Service, Site, Threshold, Tier, Trigger,
};
use crate::check::program::{self as cp, Elem, Program, Ty, Value};
use crate::source::SourceMap;
use crate::syntax::span::Span;

/// Lowers a checked program. `sources` turns spans into line and column numbers.
pub fn lower(program: &Program, sources: &SourceMap) -> Policy {
    let mut lowerer = Lowerer {
        program,
        sources,
        strings: Vec::new(),
        string_ids: HashMap::new(),
        sites: Vec::new(),
        defs: vec![None; program.defs.len()],
    };
    lowerer.policy()
}

struct Lowerer<'p> {
    program: &'p Program,
    sources: &'p SourceMap,
    strings: Vec<String>,
    string_ids: HashMap<String, u32>,
    sites: Vec<Site>,
    defs: Vec<Option<Expr>>,
}

fn kind_of(ty: Ty) -> Kind {
    match ty {
        Ty::Bool => Kind::Bool,
        Ty::Int | Ty::Duration => Kind::Int,
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
        let triggers: Vec<Trigger> = p.triggers.iter().map(|t| self.trigger(t)).collect();
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
            layout,
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
                    } => Action::Report {
                        recipient: recipient.clone(),
                        within_secs: *within_secs,
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
            Value::Int(i) | Value::Duration(i) => Expr::Int(*i),
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

impl Lowerer<'_> {
    /// The slot of a set-typed expression: sets are only ever fields, perhaps named by
    /// a `def`.
    fn set_slot(&self, set: &cp::Expr) -> u32 {
        match &set.kind {
            cp::ExprKind::Field(id) => *id as u32,
            cp::ExprKind::Def(id) => self
                .program
                .defs
                .get(*id)
                .map_or(u32::MAX, |d| self.set_slot(&d.value)),
            _ => u32::MAX,
        }
    }
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
