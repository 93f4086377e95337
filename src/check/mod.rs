//! Name resolution and type checking: an `ast::File` becomes a `program::Program`.
//!
//! The checker never stops at the first problem: it reports every diagnostic it can
//! find, giving an expression that failed the type `Ty::Error` so that one mistake is
//! reported once. A `Program` is returned only when there are no errors.

mod assertions;
mod clock;
pub mod events;
mod expr;
mod fixtures;
pub mod functions;
mod items;
pub mod program;
mod rule_id;
mod schema;

use std::collections::HashMap;

pub use items::MAX_DURATION_SECS;

use crate::ast::{self, Decl, Outcome};
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::span::Span;
use program::{DefId, EnumDef, Field, Program, Ty};

/// The result of checking: the program if there were no errors, and every diagnostic.
#[derive(Debug)]
pub struct Checked {
    pub program: Option<Program>,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn check(file: &ast::File) -> Checked {
    let mut checker = Checker::default();
    let program = checker.run(file);
    let has_errors = checker.diagnostics.iter().any(Diagnostic::is_error);
    Checked {
        program: if has_errors { None } else { Some(program) },
        diagnostics: checker.diagnostics,
    }
}

/// Duties name the tiers they apply in as bits of one 64-bit mask.
const MAX_TIERS: usize = 64;

#[derive(Debug, Clone)]
enum DefState<'a> {
    Pending(&'a ast::DefDecl),
    InProgress,
    Done { ty: Ty, reads_tier: bool },
}

#[derive(Default)]
struct Checker<'a> {
    diagnostics: Vec<Diagnostic>,
    enums: Vec<EnumDef>,
    enum_by_name: HashMap<String, usize>,
    fields: Vec<Field>,
    field_by_path: HashMap<String, usize>,
    def_by_name: HashMap<String, DefId>,
    def_states: Vec<DefState<'a>>,
    def_exprs: Vec<Option<program::Expr>>,
    def_decls: Vec<&'a ast::DefDecl>,
    /// Tier names in order; `None` when there is no `tiers` block.
    tier_names: Option<Vec<String>>,
    duty_by_name: HashMap<String, usize>,
    service_by_name: HashMap<String, usize>,
    fixture_by_name: HashMap<String, usize>,
    /// Set while typing an expression that reads `tier`, directly or through a `def`.
    reads_tier: bool,
    /// Set while typing a tier condition, where reading `tier` is a cycle.
    in_tier_condition: bool,
    /// The patterns of `matches` calls, compiled as they are checked.
    patterns: Vec<std::sync::Arc<crate::builtins::pattern::Pattern>>,
    /// The time zones of `hour_of_day` and `weekday` calls, loaded as they are checked.
    zones: Vec<crate::builtins::time::Zone>,
    /// The clock field, once known (`clock PATH`, or `now` at its first use).
    clock: Option<usize>,
    /// Event kinds, in declaration order, and the fields each one's conditions read.
    events: Vec<program::EventKind>,
    event_scopes: Vec<events::Scope>,
    event_by_name: HashMap<String, usize>,
    /// Set while checking an event trigger's condition (the fields are the event's).
    in_event: bool,
}

impl<'a> Checker<'a> {
    fn error(&mut self, diag: Diagnostic) {
        self.diagnostics.push(diag);
    }

    fn type_name(&self, ty: Ty) -> String {
        program::type_name(&self.enums, ty)
    }

    fn run(&mut self, file: &'a ast::File) -> Program {
        let (name, version) = self.policy_header(file);
        self.collect_enums(file);
        self.collect_schema(file);
        self.collect_events(file);
        self.collect_clock(file);
        self.collect_defs(file);
        let tiers_decl = self.collect_tiers(file);
        let default = self.default_outcome(file);
        self.collect_item_names(file);

        let defs = self.type_defs();
        let tiers = tiers_decl.map(|t| self.check_tiers(t)).unwrap_or_default();
        let mut rules = Vec::new();
        let mut duties = Vec::new();
        let mut triggers = Vec::new();
        let mut services = Vec::new();
        for decl in &file.decls {
            match decl {
                Decl::Rule(rule) => rules.push(self.check_rule(rule)),
                Decl::Duty(duty) => duties.push(self.check_duty(duty)),
                Decl::Trigger(trigger) => triggers.push(self.check_trigger(trigger)),
                Decl::Service(service) => services.push(self.check_service(service)),
                _ => {}
            }
        }
        self.unique_rule_ids(&mut rules, file);
        self.check_service_fields(file);
        let fixtures = self.check_fixtures(file);
        let tests = self.check_tests(file, &fixtures);
        let assertions = self.check_assertions(file);

        Program {
            name,
            version,
            enums: self.enums.clone(),
            fields: self.fields.clone(),
            defs,
            tiers,
            default,
            rules,
            duties,
            triggers,
            services,
            events: self.finish_events(),
            fixtures,
            tests,
            assertions,
            patterns: std::mem::take(&mut self.patterns),
            zones: std::mem::take(&mut self.zones),
        }
    }

    fn policy_header(&mut self, file: &ast::File) -> (String, String) {
        let mut header: Option<&ast::PolicyDecl> = None;
        for decl in &file.decls {
            let Decl::Policy(policy) = decl else { continue };
            if let Some(first) = header {
                self.error(
                    Diagnostic::error(
                        Code::DuplicatePolicy,
                        "a file has one `policy` line",
                        policy.span,
                        "second `policy` line",
                    )
                    .with_label(first.span, "first declared here"),
                );
                continue;
            }
            if !is_semver(&policy.version.node) {
                self.error(
                    Diagnostic::error(
                        Code::InvalidVersion,
                        format!("invalid version `{}`", policy.version.node),
                        policy.version.span,
                        "not `MAJOR.MINOR.PATCH`",
                    )
                    .with_help("write three numbers separated by dots, such as `\"1.0.0\"`"),
                );
            }
            header = Some(policy);
        }
        header.map_or_else(
            || (String::new(), String::new()),
            |p| (p.name.node.clone(), p.version.node.clone()),
        )
    }

    fn collect_enums(&mut self, file: &ast::File) {
        for decl in &file.decls {
            let Decl::Enum(e) = decl else { continue };
            if let Some(&prev) = self.enum_by_name.get(&e.name.node) {
                let prev_span = self.enums.get(prev).map(|p| p.span).unwrap_or_default();
                self.error(duplicate(
                    &format!("enum `{}`", e.name.node),
                    e.name.span,
                    prev_span,
                ));
                continue;
            }
            if e.members.is_empty() {
                self.error(Diagnostic::error(
                    Code::EmptyEnum,
                    format!("enum `{}` has no members", e.name.node),
                    e.name.span,
                    "an enum needs at least one member",
                ));
            }
            let mut members: Vec<String> = Vec::new();
            let mut spans: Vec<Span> = Vec::new();
            for member in &e.members {
                if let Some(i) = members.iter().position(|m| *m == member.node) {
                    self.error(
                        Diagnostic::error(
                            Code::DuplicateMember,
                            format!(
                                "member `{}` is listed twice in enum `{}`",
                                member.node, e.name.node
                            ),
                            member.span,
                            "listed again here",
                        )
                        .with_label(
                            spans.get(i).copied().unwrap_or_default(),
                            "first listed here",
                        ),
                    );
                    continue;
                }
                members.push(member.node.clone());
                spans.push(member.span);
            }
            self.enum_by_name
                .insert(e.name.node.clone(), self.enums.len());
            self.enums.push(EnumDef {
                name: e.name.node.clone(),
                members,
                span: e.name.span,
            });
        }
    }

    fn collect_defs(&mut self, file: &'a ast::File) {
        for decl in &file.decls {
            let Decl::Def(def) = decl else { continue };
            let name = &def.name.node;
            if let Some(&prev) = self.def_by_name.get(name) {
                let prev_span = self
                    .def_decls
                    .get(prev)
                    .map(|d| d.name.span)
                    .unwrap_or_default();
                self.error(duplicate(
                    &format!("def `{name}`"),
                    def.name.span,
                    prev_span,
                ));
                continue;
            }
            if let Some(&field) = self.field_by_path.get(name) {
                let field_span = self.fields.get(field).map(|f| f.span).unwrap_or_default();
                self.error(
                    duplicate(&format!("name `{name}`"), def.name.span, field_span)
                        .with_help("a `def` cannot share its name with a schema field"),
                );
                continue;
            }
            if name == "degraded" {
                self.error(Diagnostic::error(
                    Code::DuplicateName,
                    "`degraded` is a built-in name",
                    def.name.span,
                    "cannot be redefined",
                ));
                continue;
            }
            self.def_by_name.insert(name.clone(), self.def_decls.len());
            self.def_decls.push(def);
            self.def_states.push(DefState::Pending(def));
            self.def_exprs.push(None);
        }
    }

    fn type_defs(&mut self) -> Vec<program::Def> {
        for id in 0..self.def_decls.len() {
            self.def_type(id, Span::default());
        }
        self.def_decls
            .iter()
            .zip(self.def_exprs.iter())
            .map(|(decl, expr)| program::Def {
                name: decl.name.node.clone(),
                value: expr.clone().unwrap_or(program::Expr {
                    kind: program::ExprKind::Const(program::Value::Bool(false)),
                    ty: Ty::Error,
                    span: decl.span,
                }),
                span: decl.span,
            })
            .collect()
    }

    /// The type of a `def`, typing it on first use. `use_span` is where it is read.
    fn def_type(&mut self, id: DefId, use_span: Span) -> (Ty, bool) {
        match self.def_states.get(id).cloned() {
            Some(DefState::Done { ty, reads_tier }) => (ty, reads_tier),
            Some(DefState::InProgress) => {
                let def = self.def_decls.get(id);
                let name = def.map(|d| d.name.node.clone()).unwrap_or_default();
                let def_span = def.map(|d| d.name.span).unwrap_or_default();
                self.error(
                    Diagnostic::error(
                        Code::DefCycle,
                        format!("`{name}` is defined in terms of itself"),
                        use_span,
                        format!("`{name}` is read here"),
                    )
                    .with_label(def_span, "while defining it here"),
                );
                (Ty::Error, false)
            }
            Some(DefState::Pending(def)) => {
                if let Some(state) = self.def_states.get_mut(id) {
                    *state = DefState::InProgress;
                }
                let saved = (
                    std::mem::take(&mut self.reads_tier),
                    std::mem::take(&mut self.in_tier_condition),
                );
                let typed = self.expr(&def.value, None);
                if let Some(declared) = &def.ty {
                    self.check_parameter(def, declared, &typed);
                }
                let reads_tier = self.reads_tier;
                (self.reads_tier, self.in_tier_condition) = saved;
                let ty = typed.ty;
                if let Some(slot) = self.def_exprs.get_mut(id) {
                    *slot = Some(typed);
                }
                if let Some(state) = self.def_states.get_mut(id) {
                    *state = DefState::Done { ty, reads_tier };
                }
                (ty, reads_tier)
            }
            None => (Ty::Error, false),
        }
    }

    /// A typed `def` is a parameter: a constant of its declared type.
    fn check_parameter(
        &mut self,
        def: &ast::DefDecl,
        declared: &ast::TypeExpr,
        typed: &program::Expr,
    ) {
        let want = self.resolve_type(declared);
        let constant = matches!(typed.kind, program::ExprKind::Const(_))
            || matches!(&typed.kind, program::ExprKind::Neg(inner) if matches!(inner.kind, program::ExprKind::Const(_)));
        if !constant {
            self.error(
                Diagnostic::error(
                    Code::ParameterNotConstant,
                    format!("parameter `{}` must be a constant", def.name.node),
                    def.value.span,
                    "not a literal",
                )
                .with_help("a typed `def` is a parameter a policy may override; its value is a literal such as `14`, `0.8`, `6 months` or `5%`"),
            );
        } else if typed.ty != want && typed.ty != Ty::Error && want != Ty::Error {
            let (got, want) = (self.type_name(typed.ty), self.type_name(want));
            self.error(Diagnostic::error(
                Code::ParameterNotConstant,
                format!(
                    "parameter `{}` is declared `{want}` but its value is a `{got}`",
                    def.name.node
                ),
                def.value.span,
                format!("a `{got}`"),
            ));
        }
    }

    fn collect_tiers(&mut self, file: &'a ast::File) -> Option<&'a ast::TiersDecl> {
        let mut found: Option<&ast::TiersDecl> = None;
        for decl in &file.decls {
            let Decl::Tiers(tiers) = decl else { continue };
            if let Some(first) = found {
                self.error(
                    Diagnostic::error(
                        Code::DuplicateTiers,
                        "a policy has at most one `tiers` block",
                        Span::new(tiers.span.start, tiers.span.start + 5),
                        "second `tiers` block",
                    )
                    .with_label(
                        Span::new(first.span.start, first.span.start + 5),
                        "first one here",
                    ),
                );
                continue;
            }
            found = Some(tiers);
        }
        let tiers = found?;
        let mut names: Vec<String> = Vec::new();
        let mut spans: Vec<Span> = Vec::new();
        for entry in &tiers.entries {
            if let Some(i) = names.iter().position(|n| *n == entry.name.node) {
                self.error(duplicate(
                    &format!("tier `{}`", entry.name.node),
                    entry.name.span,
                    spans.get(i).copied().unwrap_or_default(),
                ));
            }
            names.push(entry.name.node.clone());
            spans.push(entry.name.span);
        }
        let count = tiers.entries.len();
        if count > MAX_TIERS {
            let extra = tiers
                .entries
                .get(MAX_TIERS)
                .map_or(tiers.span, |e| e.name.span);
            self.error(
                Diagnostic::error(
                    Code::TooManyTiers,
                    format!("a `tiers` block has at most {MAX_TIERS} tiers; this one has {count}"),
                    extra,
                    "tier 65",
                )
                .with_help("merge tiers that carry the same duties, or use a `def` per group"),
            );
        }
        for (i, entry) in tiers.entries.iter().enumerate() {
            if entry.when.is_none() && i + 1 < count {
                self.error(
                    Diagnostic::error(
                        Code::OtherwiseNotLast,
                        format!(
                            "tier `{}` is `otherwise` but is not the last tier",
                            entry.name.node
                        ),
                        entry.span,
                        "tiers after this one can never be chosen",
                    )
                    .with_help("move the `otherwise` tier to the end of the block"),
                );
            }
        }
        match tiers.entries.last() {
            Some(last) if last.when.is_some() => self.error(
                Diagnostic::error(
                    Code::MissingOtherwise,
                    "the last tier must be `otherwise`",
                    last.span,
                    "a request matching no condition would have no tier",
                )
                .with_help(format!(
                    "add a final tier such as `minimal otherwise` after `{}`",
                    last.name.node
                )),
            ),
            None => self.error(
                Diagnostic::error(
                    Code::MissingOtherwise,
                    "the `tiers` block is empty",
                    tiers.span,
                    "every request must land in a tier",
                )
                .with_help("add at least one tier: `minimal otherwise`"),
            ),
            Some(_) => {}
        }
        self.tier_names = Some(names);
        Some(tiers)
    }

    fn default_outcome(&mut self, file: &ast::File) -> Outcome {
        let mut found: Option<&ast::DefaultDecl> = None;
        for decl in &file.decls {
            let Decl::Default(d) = decl else { continue };
            if let Some(first) = found {
                self.error(
                    Diagnostic::error(
                        Code::DuplicateDefault,
                        "a policy has at most one `default`",
                        d.span,
                        "second `default`",
                    )
                    .with_label(first.span, "first one here"),
                );
                continue;
            }
            found = Some(d);
        }
        found.map_or(Outcome::Allow, |d| d.outcome.node)
    }

    fn collect_item_names(&mut self, file: &ast::File) {
        let mut duty_spans = Vec::new();
        let mut trigger_names: HashMap<String, Span> = HashMap::new();
        let mut service_spans = Vec::new();
        let mut fixture_spans = Vec::new();
        let mut test_names: HashMap<String, Span> = HashMap::new();
        for decl in &file.decls {
            match decl {
                Decl::Duty(d) => register(
                    &mut self.duty_by_name,
                    &mut duty_spans,
                    &d.name,
                    "duty",
                    &mut self.diagnostics,
                ),
                Decl::Service(s) => register(
                    &mut self.service_by_name,
                    &mut service_spans,
                    &s.name,
                    "service",
                    &mut self.diagnostics,
                ),
                Decl::Fixture(f) => register(
                    &mut self.fixture_by_name,
                    &mut fixture_spans,
                    &f.name,
                    "fixture",
                    &mut self.diagnostics,
                ),
                Decl::Trigger(t) => {
                    if let Some(prev) = trigger_names.get(&t.name.node) {
                        self.diagnostics.push(duplicate(
                            &format!("trigger `{}`", t.name.node),
                            t.name.span,
                            *prev,
                        ));
                    } else {
                        trigger_names.insert(t.name.node.clone(), t.name.span);
                    }
                }
                Decl::Test(t) => {
                    if let Some(prev) = test_names.get(&t.name.node) {
                        self.diagnostics.push(duplicate(
                            &format!("test \"{}\"", t.name.node),
                            t.name.span,
                            *prev,
                        ));
                    } else {
                        test_names.insert(t.name.node.clone(), t.name.span);
                    }
                }
                _ => {}
            }
        }
    }

    fn tier_id(&self, name: &str) -> Option<usize> {
        self.tier_names.as_ref()?.iter().position(|t| t == name)
    }

    /// The tier named at `name`, or a diagnostic saying why there is none.
    fn resolve_tier(&mut self, name: &ast::Name) -> Option<usize> {
        match &self.tier_names {
            None => {
                self.error(no_tiers(name.span));
                None
            }
            Some(names) => match names.iter().position(|t| *t == name.node) {
                Some(id) => Some(id),
                None => {
                    let candidates: Vec<String> = names.clone();
                    let mut diag = Diagnostic::error(
                        Code::UnknownTier,
                        format!("unknown tier `{}`", name.node),
                        name.span,
                        "not declared in the `tiers` block",
                    );
                    diag = with_suggestion(diag, &name.node, candidates.iter().map(String::as_str));
                    self.error(diag);
                    None
                }
            },
        }
    }
}

fn register(
    table: &mut HashMap<String, usize>,
    spans: &mut Vec<Span>,
    name: &ast::Name,
    what: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if let Some(&prev) = table.get(&name.node) {
        diagnostics.push(duplicate(
            &format!("{what} `{}`", name.node),
            name.span,
            spans.get(prev).copied().unwrap_or_default(),
        ));
        return;
    }
    table.insert(name.node.clone(), spans.len());
    spans.push(name.span);
}

impl Checker<'_> {
    /// Rule names are unique (E0101). Unnamed rules that say exactly the same thing
    /// (which `duplicate-rule` flags) share a content id: the later ones get `-2`,
    /// `-3`, … after it.
    fn unique_rule_ids(&mut self, rules: &mut [program::Rule], file: &ast::File) {
        let names = file.decls.iter().filter_map(|d| match d {
            Decl::Rule(r) => Some(r.name.as_ref()),
            _ => None,
        });
        let mut named: HashMap<String, Span> = HashMap::new();
        let mut repeats: HashMap<String, usize> = HashMap::new();
        for (rule, name) in rules.iter_mut().zip(names) {
            match name {
                Some(name) => match named.get(&name.node) {
                    Some(&first) => self.error(duplicate(
                        &format!("rule `{}`", name.node),
                        name.span,
                        first,
                    )),
                    None => {
                        named.insert(name.node.clone(), name.span);
                    }
                },
                None => {
                    let seen = repeats.entry(rule.id.clone()).or_insert(0);
                    *seen += 1;
                    if *seen > 1 {
                        rule.id = format!("{}-{seen}", rule.id);
                    }
                }
            }
        }
    }
}

fn duplicate(what: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::error(
        Code::DuplicateName,
        format!("{what} is declared twice"),
        span,
        "declared again here",
    )
    .with_label(first, "first declared here")
}

fn no_tiers(span: Span) -> Diagnostic {
    Diagnostic::error(
        Code::NoTiers,
        "this policy has no `tiers` block",
        span,
        "there are no tiers to name",
    )
    .with_help("declare tiers with `tiers { … }`, the last one `NAME otherwise`")
}

fn is_semver(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Adds "did you mean" help when a candidate is close to `wanted`.
pub(super) fn with_suggestion<'c>(
    diag: Diagnostic,
    wanted: &str,
    candidates: impl Iterator<Item = &'c str>,
) -> Diagnostic {
    let best = candidates
        .map(|c| (strsim::damerau_levenshtein(wanted, c), c))
        .filter(|(distance, c)| *distance <= (wanted.len().max(c.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance);
    match best {
        Some((_, name)) => diag.with_help(format!("did you mean `{name}`?")),
        None => diag,
    }
}
