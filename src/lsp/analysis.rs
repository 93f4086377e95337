//! What the language server knows about one document: its diagnostics (parse, type,
//! lint), every name it defines and every place it uses one, and the answers to the
//! editor's questions. Pure: text in, answers out; offsets are bytes into the text.

use std::collections::HashMap;

use crate::ast::{self, Decl, DutyItem, ExprKind, TypeKind};
use crate::diagnostics::Diagnostic;
use crate::lint::{self, Config, Fix};
use crate::syntax::span::Span;

/// A name the policy defines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Symbol {
    Field(String),
    Def(String),
    Enum(String),
    Member(String, String),
    Tier(String),
    Service(String),
    Fixture(String),
    Duty(String),
    Trigger(String),
    /// An `event` kind.
    Event(String),
    /// A field of an event kind: (kind, dotted path).
    EventField(String, String),
}

#[derive(Debug, Clone)]
pub struct Occurrence {
    pub span: Span,
    pub symbol: Symbol,
    pub definition: bool,
}

/// A top-level declaration (and its children) for the document outline.
#[derive(Debug, Clone)]
pub struct Outline {
    pub name: String,
    pub detail: String,
    pub kind: OutlineKind,
    pub span: Span,
    pub selection: Span,
    pub children: Vec<Outline>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutlineKind {
    Policy,
    Enum,
    Member,
    Struct,
    Field,
    Function,
    Rule,
    Event,
    Module,
}

/// A completion candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub label: String,
    pub kind: CandidateKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateKind {
    Keyword,
    Field,
    Def,
    Member,
    Tier,
    Service,
    /// A built-in function.
    Function,
    Fixture,
    Duty,
    /// A module path after `use`.
    Module,
}

/// The `//` comment lines just above byte `at` of `text` (at 0: the file's opening
/// comment), joined, as a paragraph to append; empty when there are none.
fn leading_comment(text: &str, at: usize) -> String {
    let before = text.get(..at).unwrap_or_default();
    let lines: Vec<&str> = if at == 0 {
        text.lines().take_while(|l| l.starts_with("//")).collect()
    } else {
        let mut above: Vec<&str> = before
            .lines()
            .rev()
            .take_while(|l| l.trim_start().starts_with("//"))
            .collect();
        above.reverse();
        above
    };
    if lines.is_empty() {
        return String::new();
    }
    let joined: Vec<&str> = lines
        .iter()
        .map(|l| l.trim_start().trim_start_matches("//").trim())
        .collect();
    format!("\n\n{}", joined.join(" "))
}

/// Hover text for a built-in function: its signatures and what it does.
fn describe_function(f: &crate::check::functions::Function) -> String {
    format!("```bylaw\n{}\n```\n\n{}", f.signatures.join("\n"), f.doc)
}

/// Every word completion offers as a keyword (the TextMate grammar colours them all).
pub const KEYWORDS: &[&str] = &[
    "policy",
    "version",
    "use",
    "enum",
    "schema",
    "def",
    "tiers",
    "when",
    "otherwise",
    "cite",
    "default",
    "allow",
    "deny",
    "escalate",
    "because",
    "duty",
    "applies",
    "to",
    "tier",
    "require",
    "else",
    "retain",
    "report",
    "within",
    "notice",
    "trigger",
    "count",
    "rate",
    "by",
    "then",
    "suspend",
    "for",
    "degrade",
    "notify",
    "block",
    "service",
    "fallback",
    "recovery",
    "cooldown",
    "approve",
    "ramp",
    "every",
    "timeout",
    "fixture",
    "test",
    "given",
    "assert",
    "expect",
    "and",
    "or",
    "not",
    "in",
    "has",
    "true",
    "false",
    "null",
    "degraded",
    "set",
    "clock",
    "effective",
    "bool",
    "int",
    "float",
    "string",
    "duration",
    "percent",
    "timestamp",
];

pub struct Analysis {
    pub text: String,
    pub checked: crate::Checked,
    pub lints: Vec<lint::Lint>,
    pub occurrences: Vec<Occurrence>,
    definitions: HashMap<Symbol, Span>,
    cites: Vec<(Span, String)>,
    /// Where built-in functions are called, by name.
    calls: Vec<(Span, String)>,
    field_types: HashMap<String, String>,
    /// Each event kind's fields with their types, as written.
    event_fields: HashMap<String, Vec<(String, String)>>,
    enums: Vec<(String, Vec<String>)>,
}

impl Analysis {
    /// `loader` finds the user modules of the file being edited (its own directory and
    /// workspace `bylaw.toml`).
    pub fn new(
        name: &str,
        text: &str,
        config: &Config,
        loader: &crate::modules::Loader,
    ) -> Analysis {
        let checked = crate::check_source_with(name, text, loader);
        let lints = match (&checked.program, checked.has_errors()) {
            (Some(program), false) => lint::run(program, &checked.file, text, 0, config),
            _ => Vec::new(),
        };
        let mut analysis = Analysis {
            text: text.to_string(),
            checked,
            lints,
            occurrences: Vec::new(),
            definitions: HashMap::new(),
            cites: Vec::new(),
            calls: Vec::new(),
            field_types: HashMap::new(),
            event_fields: HashMap::new(),
            enums: Vec::new(),
        };
        analysis.index();
        analysis
    }

    /// Every diagnostic: the checker's, then the lints'. A problem inside a user
    /// module is shown on the `use` line that loaded it, naming the module's file.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for d in self
            .checked
            .diagnostics
            .iter()
            .chain(self.lints.iter().map(|l| &l.diagnostic))
        {
            if crate::modules::in_file(d.span(), 0, self.text.len()) {
                out.push(d.clone());
            } else if d.is_error()
                && let Some(moved) = self.in_module(d)
            {
                out.push(moved);
            }
        }
        out
    }

    /// An error inside a user module, put on this document's `use` line that led to it.
    fn in_module(&self, d: &Diagnostic) -> Option<Diagnostic> {
        let sources = &self.checked.sources;
        let file = sources.file_of(d.span())?;
        let module = self
            .checked
            .modules
            .iter()
            .find(|m| m.path.is_some() && m.source_name() == file.name)?;
        // The `use` in this document: the module's own, or the one that led to the module
        // that used it.
        let mut at = module.used_at;
        while !crate::modules::in_file(at, 0, self.text.len()) {
            let outer = sources.file_of(at)?;
            at = self
                .checked
                .modules
                .iter()
                .find(|m| m.path.is_some() && m.source_name() == outer.name)?
                .used_at;
        }
        let (line, column) = file.line_col(d.span().start);
        Some(Diagnostic::error(
            d.code,
            format!("module `{}` has an error: {}", module.name, d.message),
            at,
            format!("at {}:{line}:{column}", file.name),
        ))
    }

    /// The declarations of the user modules this file uses, parsed again where the
    /// check put them (their spans point into their own files).
    fn user_module_decls(&self) -> Vec<Decl> {
        let sources = &self.checked.sources;
        self.checked
            .modules
            .iter()
            .filter(|m| m.path.is_some())
            .filter_map(|m| m.file(sources))
            .flat_map(|f| crate::syntax::parser::parse(&f.text, f.base).file.decls)
            .collect()
    }

    /// The declarations of the standard-library modules this file uses, parsed where
    /// the check put them (`<std::minors>` in the source map).
    fn stdlib_module_decls(&self) -> Vec<Decl> {
        let sources = &self.checked.sources;
        self.checked
            .modules
            .iter()
            .filter(|m| m.path.is_none())
            .filter_map(|m| m.file(sources))
            .flat_map(|f| crate::syntax::parser::parse(&f.text, f.base).file.decls)
            .collect()
    }

    /// The standard-library module a `use` line at `offset` names.
    pub fn stdlib_module_at(&self, offset: u32) -> Option<&str> {
        self.checked
            .modules
            .iter()
            .filter(|m| m.path.is_none())
            .find(|m| m.used_at.start <= offset && offset <= m.used_at.end)
            .map(|m| m.name.as_str())
    }

    /// A module's field types and enums, without defining anything.
    fn index_types(&mut self, decl: &Decl) {
        match decl {
            Decl::Schema(s) => {
                for f in &s.fields {
                    let ty = match &f.ty.kind {
                        TypeKind::Named(n) => n.clone(),
                        TypeKind::Set(e) => format!("set<{}>", e.node),
                    };
                    let ty = if f.ty.optional { format!("{ty}?") } else { ty };
                    self.field_types.entry(f.path.dotted()).or_insert(ty);
                }
            }
            Decl::Enum(e) if !self.enums.iter().any(|(n, _)| *n == e.name.node) => {
                self.enums.push((
                    e.name.node.clone(),
                    e.members.iter().map(|m| m.node.clone()).collect(),
                ));
            }
            _ => {}
        }
    }

    /// Where a name is declared, if this document or one of its user modules does.
    pub fn definition_of(&self, symbol: &Symbol) -> Option<Span> {
        self.definitions.get(symbol).copied()
    }

    /// Whether a span lies in this document (not in a module it uses).
    pub fn in_document(&self, span: Span) -> bool {
        crate::modules::in_file(span, 0, self.text.len())
    }

    /// Whether a span lies in a standard-library module's text.
    pub fn in_stdlib(&self, span: Span) -> bool {
        self.checked
            .sources
            .file_of(span)
            .is_some_and(|f| f.name.starts_with("<std::"))
    }

    pub fn text_of(&self, span: Span) -> &str {
        self.slice(span)
    }

    /// The span of every declaration of this document, and of the blocks in its
    /// services (`recovery { … }`).
    pub fn declaration_spans(&self) -> Vec<Span> {
        let mut out = Vec::new();
        for decl in &self.checked.file.decls {
            out.push(decl.span());
            if let Decl::Service(s) = decl {
                out.extend(s.items.iter().filter_map(|item| match item {
                    ast::ServiceItem::Recovery(_, span) => Some(*span),
                    _ => None,
                }));
            }
        }
        out
    }

    /// The file of the user module whose text holds `span` (a name it declares).
    pub fn user_module_file(&self, span: Span) -> Option<&std::path::Path> {
        let file = self.checked.sources.file_of(span)?;
        self.checked
            .modules
            .iter()
            .find(|m| m.source_name() == file.name)
            .and_then(|m| m.path.as_deref())
    }

    /// Whether this document loads the user module at `path`.
    pub fn loads_module(&self, path: &std::path::Path) -> bool {
        self.checked.modules.iter().any(|m| {
            m.path
                .as_deref()
                .is_some_and(|p| crate::modules::same_file(p, path))
        })
    }

    /// The user module whose `use` line is at `offset`: its file.
    pub fn module_at(&self, offset: u32) -> Option<&std::path::Path> {
        self.checked
            .modules
            .iter()
            .find(|m| m.used_at.start <= offset && offset <= m.used_at.end)
            .and_then(|m| m.path.as_deref())
    }

    fn slice(&self, span: Span) -> &str {
        self.text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    /// The outline entries of a schema's or an event's fields: the ones written in
    /// this file (the check merges a module's fields into the policy's schema).
    fn field_outlines(&self, fields: &[ast::FieldDecl]) -> Vec<Outline> {
        fields
            .iter()
            .filter(|f| self.in_document(f.span))
            .map(|f| Outline {
                name: f.path.dotted(),
                detail: self.slice(f.ty.span).to_string(),
                kind: OutlineKind::Field,
                span: f.span,
                selection: f.path.span,
                children: vec![],
            })
            .collect()
    }

    fn define(&mut self, span: Span, symbol: Symbol) {
        self.definitions.entry(symbol.clone()).or_insert(span);
        self.occurrences.push(Occurrence {
            span,
            symbol,
            definition: true,
        });
    }

    fn refer(&mut self, span: Span, symbol: Symbol) {
        self.occurrences.push(Occurrence {
            span,
            symbol,
            definition: false,
        });
    }

    fn index(&mut self) {
        let file = std::mem::take(&mut self.checked.file);
        // Definitions first: references resolve against them. The policy's own before
        // its user modules': a name defined in both goes to the policy's.
        for decl in &file.decls {
            self.index_definitions(decl);
        }
        for decl in self.user_module_decls() {
            self.index_definitions(&decl);
        }
        // The standard library's fields and enums, for completion (their definitions
        // are not in a file the editor has).
        // The standard library's declarations last: a name the policy or a user module
        // declares goes there first.
        for decl in self.stdlib_module_decls() {
            self.index_types(&decl);
            self.index_definitions(&decl);
        }
        for decl in &file.decls {
            self.index_references(decl);
        }
        self.checked.file = file;
        self.occurrences.sort_by_key(|o| (o.span.start, o.span.end));
    }

    fn index_definitions(&mut self, decl: &Decl) {
        match decl {
            Decl::Enum(e) => {
                self.define(e.name.span, Symbol::Enum(e.name.node.clone()));
                for m in &e.members {
                    self.define(m.span, Symbol::Member(e.name.node.clone(), m.node.clone()));
                }
                self.enums.push((
                    e.name.node.clone(),
                    e.members.iter().map(|m| m.node.clone()).collect(),
                ));
            }
            Decl::Schema(s) => {
                for f in &s.fields {
                    let path = f.path.dotted();
                    // A module's field: its type is in the module's text.
                    let ty = self.checked.sources.text(f.ty.span).to_string();
                    self.field_types.insert(path.clone(), ty);
                    self.define(f.path.span, Symbol::Field(path));
                }
            }
            Decl::Def(d) => self.define(d.name.span, Symbol::Def(d.name.node.clone())),
            Decl::Tiers(t) => {
                for entry in &t.entries {
                    self.define(entry.name.span, Symbol::Tier(entry.name.node.clone()));
                    if let Some(c) = &entry.cite {
                        self.cites.push((c.span, c.node.clone()));
                    }
                }
            }
            Decl::Rule(r) => {
                if let Some(c) = &r.cite {
                    self.cites.push((c.span, c.node.clone()));
                }
            }
            Decl::Duty(d) => {
                self.define(d.name.span, Symbol::Duty(d.name.node.clone()));
                for item in &d.items {
                    if let DutyItem::Cite(c, _) = item {
                        self.cites.push((c.span, c.node.clone()));
                    }
                }
            }
            Decl::Trigger(t) => self.define(t.name.span, Symbol::Trigger(t.name.node.clone())),
            Decl::Service(s) => self.define(s.name.span, Symbol::Service(s.name.node.clone())),
            Decl::Fixture(f) => self.define(f.name.span, Symbol::Fixture(f.name.node.clone())),
            Decl::Event(e) => {
                let kind = e.name.node.clone();
                self.define(e.name.span, Symbol::Event(kind.clone()));
                let mut fields = Vec::new();
                for f in &e.fields {
                    let path = f.path.dotted();
                    let ty = self.checked.sources.text(f.ty.span).to_string();
                    fields.push((path.clone(), ty));
                    self.define(f.path.span, Symbol::EventField(kind.clone(), path));
                }
                self.event_fields.entry(kind).or_insert(fields);
            }
            Decl::Policy(_)
            | Decl::Use(_)
            | Decl::Default(_)
            | Decl::Test(_)
            | Decl::Assert(_)
            | Decl::Clock(_) => {}
        }
    }

    fn index_references(&mut self, decl: &Decl) {
        match decl {
            Decl::Schema(ast::SchemaDecl { fields, .. })
            | Decl::Event(ast::EventDecl { fields, .. }) => {
                for f in fields {
                    match &f.ty.kind {
                        TypeKind::Named(n)
                            if self.definitions.contains_key(&Symbol::Enum(n.clone())) =>
                        {
                            let span = Span::new(f.ty.span.start, f.ty.span.start + n.len() as u32);
                            self.refer(span, Symbol::Enum(n.clone()));
                        }
                        TypeKind::Set(elem) => {
                            self.refer(elem.span, Symbol::Enum(elem.node.clone()))
                        }
                        TypeKind::Named(_) => {}
                    }
                }
            }
            Decl::Def(d) => self.expr(&d.value),
            Decl::Tiers(t) => {
                for entry in &t.entries {
                    if let Some(w) = &entry.when {
                        self.expr(w);
                    }
                }
            }
            Decl::Rule(r) => {
                self.expr(&r.when);
                self.effective(r.effective.as_ref());
            }
            Decl::Clock(c) => self.refer(c.path.span, Symbol::Field(c.path.dotted())),
            Decl::Duty(d) => {
                for item in &d.items {
                    match item {
                        DutyItem::AppliesToTier(tiers, _) => {
                            for t in tiers {
                                self.refer(t.span, Symbol::Tier(t.node.clone()));
                            }
                        }
                        DutyItem::AppliesWhen(e, _) => self.expr(e),
                        DutyItem::Require { cond, .. } => self.expr(cond),
                        DutyItem::Effective(e) => self.effective(Some(e)),
                        DutyItem::RetainDef(name, _) => {
                            self.refer(name.span, Symbol::Def(name.node.clone()))
                        }
                        _ => {}
                    }
                }
            }
            Decl::Trigger(t) => {
                let event = self.counted_event(t);
                match (&event, &t.cond.kind) {
                    (Some(kind), ExprKind::Path(p)) => {
                        self.refer(p.span, Symbol::Event(kind.clone()))
                    }
                    _ => self.expr(&t.cond),
                }
                if let Some(filter) = &t.filter {
                    self.expr_in(filter, event.as_deref());
                }
                self.effective(t.effective.as_ref());
                if let Some(by) = &t.by {
                    let symbol = match &event {
                        Some(kind) => Symbol::EventField(kind.clone(), by.dotted()),
                        None => Symbol::Field(by.dotted()),
                    };
                    self.refer(by.span, symbol);
                }
                for (name, span) in t.params() {
                    self.refer(span, Symbol::Def(name.to_string()));
                }
                for a in &t.actions {
                    match &a.kind {
                        ast::ActionKind::Suspend { service, .. }
                        | ast::ActionKind::Degrade { service } => {
                            self.refer(service.span, Symbol::Service(service.node.clone()))
                        }
                        ast::ActionKind::Block { key, .. } => {
                            self.refer(key.span, Symbol::Field(key.dotted()))
                        }
                        _ => {}
                    }
                }
            }
            Decl::Fixture(f) => self.field_values(&f.values),
            Decl::Test(t) => {
                self.refer(t.given.span, Symbol::Fixture(t.given.node.clone()));
                self.field_values(&t.overrides);
                for e in &t.expectations {
                    match e {
                        ast::Expectation::Tier(n) => {
                            self.refer(n.span, Symbol::Tier(n.node.clone()))
                        }
                        ast::Expectation::Duty(n) => {
                            self.refer(n.span, Symbol::Duty(n.node.clone()))
                        }
                        ast::Expectation::Rule(..) => {}
                    }
                }
            }
            Decl::Assert(a) => {
                self.expr(&a.when);
                for e in &a.expect {
                    match &e.target {
                        ast::AssertTarget::Tier(n) => {
                            self.refer(n.span, Symbol::Tier(n.node.clone()))
                        }
                        ast::AssertTarget::Duty(n) => {
                            self.refer(n.span, Symbol::Duty(n.node.clone()))
                        }
                        ast::AssertTarget::Outcome(_) => {}
                    }
                }
            }
            // `use m { threshold: 0.9 }`: the parameter is the module's `def`.
            Decl::Use(u) => {
                for value in &u.overrides {
                    let def = Symbol::Def(value.path.dotted());
                    if self.definitions.contains_key(&def) {
                        self.refer(value.path.span, def);
                    }
                    self.expr(&value.value);
                }
            }
            _ => {}
        }
    }

    fn field_values(&mut self, values: &[ast::FieldValue]) {
        for v in values {
            self.refer(v.path.span, Symbol::Field(v.path.dotted()));
            self.expr(&v.value);
        }
    }

    /// The event kind a trigger counts (`count(incident where …)`), as the checker
    /// reads it: a bare name that is a declared kind.
    fn counted_event(&self, trigger: &ast::TriggerDecl) -> Option<String> {
        let ExprKind::Path(p) = &trigger.cond.kind else {
            return None;
        };
        let [name] = p.parts.as_slice() else {
            return None;
        };
        let kind = Symbol::Event(name.node.clone());
        self.definitions
            .contains_key(&kind)
            .then(|| name.node.clone())
    }

    /// What a dotted name in an expression names, as the checker resolves it; inside an
    /// event trigger's `where`, the event's fields come first.
    fn resolve(&self, path: &ast::Path, event: Option<&str>) -> Option<Symbol> {
        let dotted = path.dotted();
        if let Some(kind) = event {
            let field = Symbol::EventField(kind.to_string(), dotted.clone());
            if self.definitions.contains_key(&field) {
                return Some(field);
            }
        }
        let candidates = [Symbol::Field(dotted.clone()), Symbol::Def(dotted.clone())];
        if let Some(found) = candidates
            .into_iter()
            .find(|s| self.definitions.contains_key(s))
        {
            return Some(found);
        }
        // A field or `def` a `use`d module brings: known to the checked program only.
        if let Some(program) = &self.checked.program {
            if program.fields.iter().any(|f| f.path == dotted) {
                return Some(Symbol::Field(dotted));
            }
            if program.defs.iter().any(|d| d.name == dotted) {
                return Some(Symbol::Def(dotted));
            }
        }
        match path.parts.as_slice() {
            [e, m] => {
                let member = Symbol::Member(e.node.clone(), m.node.clone());
                self.definitions.contains_key(&member).then_some(member)
            }
            [one] => {
                let name = &one.node;
                if self.definitions.contains_key(&Symbol::Tier(name.clone())) {
                    return Some(Symbol::Tier(name.clone()));
                }
                self.enums
                    .iter()
                    .find(|(_, members)| members.contains(name))
                    .map(|(e, _)| Symbol::Member(e.clone(), name.clone()))
            }
            _ => None,
        }
    }

    fn effective(&mut self, effective: Option<&ast::Effective>) {
        if let Some(e) = effective {
            self.expr(&e.from);
            if let Some((_, until)) = &e.until {
                self.expr(until);
            }
        }
    }

    fn expr(&mut self, root: &ast::Expr) {
        self.expr_in(root, None);
    }

    /// The names in an expression over a request, or over an event of kind `event`.
    fn expr_in(&mut self, root: &ast::Expr, event: Option<&str>) {
        let mut stack = vec![root];
        while let Some(e) = stack.pop() {
            match &e.kind {
                ExprKind::Path(p) => {
                    if let Some(symbol) = self.resolve(p, event) {
                        self.refer(p.span, symbol);
                    }
                }
                ExprKind::Has(p) => {
                    let symbol = match event {
                        Some(kind) => Symbol::EventField(kind.to_string(), p.dotted()),
                        None => Symbol::Field(p.dotted()),
                    };
                    self.refer(p.span, symbol);
                }
                ExprKind::Not(a) | ExprKind::Neg(a) | ExprKind::Paren(a) => stack.push(a),
                ExprKind::Binary(_, a, b) => {
                    stack.push(a);
                    stack.push(b);
                }
                ExprKind::SetLit(items) => stack.extend(items),
                ExprKind::Call(name, args) => {
                    self.calls.push((name.span, name.node.clone()));
                    stack.extend(args);
                }
                ExprKind::Lit(_) | ExprKind::Tier => {}
            }
        }
    }

    /// The name at a byte offset, if any.
    pub fn occurrence_at(&self, offset: u32) -> Option<&Occurrence> {
        self.occurrences
            .iter()
            .find(|o| o.span.start <= offset && offset <= o.span.end)
    }

    pub fn definition(&self, offset: u32) -> Option<Span> {
        let o = self.occurrence_at(offset)?;
        self.definitions.get(&o.symbol).copied()
    }

    pub fn references(&self, offset: u32, include_declaration: bool) -> Vec<Span> {
        let Some(o) = self.occurrence_at(offset) else {
            return Vec::new();
        };
        self.occurrences
            .iter()
            .filter(|r| r.symbol == o.symbol && (include_declaration || !r.definition))
            .filter(|r| crate::modules::in_file(r.span, 0, self.text.len()))
            .map(|r| r.span)
            .collect()
    }

    /// Markdown for the name, `cite` or rule under the cursor.
    pub fn hover(&self, offset: u32) -> Option<(Span, String)> {
        if let Some(found) = self.use_hover(offset) {
            return Some(found);
        }
        if let Some((span, cite)) = self
            .cites
            .iter()
            .find(|(s, _)| s.start <= offset && offset <= s.end)
        {
            return Some((*span, format!("**Cites:** {cite}")));
        }
        if let Some(o) = self.occurrence_at(offset) {
            return Some((o.span, self.describe(&o.symbol)));
        }
        if let Some((span, name)) = self
            .calls
            .iter()
            .find(|(s, _)| s.start <= offset && offset <= s.end)
            && let Some(function) = crate::check::functions::function(name)
        {
            return Some((*span, describe_function(function)));
        }
        self.rule_at(offset)
    }

    fn describe(&self, symbol: &Symbol) -> String {
        let code = |text: String| format!("```bylaw\n{text}\n```");
        match symbol {
            Symbol::Field(path) => {
                let ty = self
                    .field_types
                    .get(path)
                    .cloned()
                    .or_else(|| {
                        let program = self.checked.program.as_ref()?;
                        let f = program.fields.iter().find(|f| f.path == *path)?;
                        let q = if f.optional { "?" } else { "" };
                        Some(format!("{}{q}", program.type_name(f.ty)))
                    })
                    .unwrap_or_default();
                let default = self.checked.file.decls.iter().find_map(|d| match d {
                    Decl::Schema(schema) => schema
                        .fields
                        .iter()
                        .find(|f| f.path.dotted() == *path)
                        .and_then(|f| f.default.as_ref())
                        .map(|e| self.slice(e.span).to_string()),
                    _ => None,
                });
                let mut out = match &default {
                    Some(value) => code(format!("{path}: {ty} = {value}")),
                    None => code(format!("{path}: {ty}")),
                };
                if ty.ends_with('?') {
                    out.push_str("\n\nOptional: read it with `has(…)` or `… ?? default`.");
                }
                if let Some(value) = default {
                    out.push_str(&format!(
                        "\n\nHas a default: absent or `null` in a request or fixture, it is `{value}`."
                    ));
                }
                let sensitive = self
                    .checked
                    .program
                    .as_ref()
                    .is_some_and(|p| p.fields.iter().any(|f| f.path == *path && f.sensitive));
                if sensitive {
                    out.push_str("\n\nSensitive: `bylaw serve` masks it in decision logs.");
                }
                out
            }
            Symbol::Def(name) => {
                let value = self.checked.file.decls.iter().find_map(|d| match d {
                    Decl::Def(def) if def.name.node == *name => {
                        Some(self.slice(def.value.span).to_string())
                    }
                    _ => None,
                });
                match value {
                    Some(value) => code(format!("def {name} = {value}")),
                    None => self.module_def(name),
                }
            }
            Symbol::Enum(name) => {
                let members = self
                    .enums
                    .iter()
                    .find(|(e, _)| e == name)
                    .map(|(_, m)| m.join(", "))
                    .unwrap_or_default();
                code(format!("enum {name} {{ {members} }}"))
            }
            Symbol::Member(e, m) => format!("{}\n\nmember of `enum {e}`", code(format!("{e}.{m}"))),
            Symbol::Tier(name) => {
                let entry = self.checked.file.decls.iter().find_map(|d| match d {
                    Decl::Tiers(t) => t.entries.iter().find(|e| e.name.node == *name),
                    _ => None,
                });
                match entry {
                    Some(e) => code(
                        self.slice(e.span)
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    None => format!("tier `{name}`"),
                }
            }
            Symbol::EventField(kind, path) => {
                let ty = self
                    .event_fields
                    .get(kind)
                    .and_then(|fields| fields.iter().find(|(p, _)| p == path))
                    .map_or("", |(_, ty)| ty.as_str());
                let mut out = format!(
                    "{}\n\nfield of `event {kind}`",
                    code(format!("{path}: {ty}"))
                );
                match path.as_str() {
                    "id" => out.push_str(
                        ": the event's id; a second post with the same id is a repeat, not \
                         counted again.",
                    ),
                    "aware_at" => out.push_str(
                        ": when the provider became aware of it; `report … per event` \
                         deadlines count from it.",
                    ),
                    _ => {}
                }
                out
            }
            Symbol::Service(name)
            | Symbol::Fixture(name)
            | Symbol::Duty(name)
            | Symbol::Trigger(name)
            | Symbol::Event(name) => {
                let span = self.definitions.get(symbol).copied();
                let decl = self
                    .checked
                    .file
                    .decls
                    .iter()
                    .map(Decl::span)
                    .find(|s| span.is_some_and(|d| s.start <= d.start && d.end <= s.end));
                match decl {
                    Some(s) => code(self.slice(s).to_string()),
                    None => format!("`{name}`"),
                }
            }
        }
    }

    /// On a `use` line: the module's opening comment and its parameters; on a
    /// parameter it sets, that parameter's declaration and comment.
    fn use_hover(&self, offset: u32) -> Option<(Span, String)> {
        let decl = self.checked.file.decls.iter().find_map(|d| match d {
            Decl::Use(u) if u.span.start <= offset && offset <= u.span.end => Some(u),
            _ => None,
        })?;
        let module = self
            .checked
            .modules
            .iter()
            .find(|m| m.used_at == decl.path.span)?;
        let file = module.file(&self.checked.sources)?;
        let parameters: Vec<ast::DefDecl> = crate::syntax::parser::parse(&file.text, 0)
            .file
            .decls
            .into_iter()
            .filter_map(|d| match d {
                Decl::Def(def) if def.ty.is_some() => Some(def),
                _ => None,
            })
            .collect();
        let declaration = |def: &ast::DefDecl| {
            let text = file
                .text
                .get(def.span.start as usize..def.span.end as usize)
                .unwrap_or_default();
            let comment = leading_comment(&file.text, def.span.start as usize);
            format!("```bylaw\n{text}\n```{comment}")
        };
        if let Some(value) = decl
            .overrides
            .iter()
            .find(|v| v.path.span.start <= offset && offset <= v.path.span.end)
        {
            let name = value.path.dotted();
            let def = parameters.iter().find(|d| d.name.node == name)?;
            return Some((
                value.path.span,
                format!("{}\n\nparameter of `{}`", declaration(def), module.name),
            ));
        }
        if !(decl.path.span.start <= offset && offset <= decl.path.span.end) {
            return None;
        }
        let summary = leading_comment(&file.text, 0);
        let mut text = format!("**{}**{summary}", module.name);
        if !parameters.is_empty() {
            text.push_str("\n\n**Parameters:**");
            for def in &parameters {
                let written = file
                    .text
                    .get(def.span.start as usize..def.span.end as usize)
                    .unwrap_or_default()
                    .trim_start_matches("def ");
                text.push_str(&format!("\n- `{written}`"));
            }
        }
        Some((decl.path.span, text))
    }

    /// A `def` from a `use`d module: its text as the checker read it, and where from.
    fn module_def(&self, name: &str) -> String {
        let Some(program) = &self.checked.program else {
            return format!("`{name}`");
        };
        let Some(def) = program.defs.iter().find(|d| d.name == name) else {
            return format!("`{name}`");
        };
        let module = self
            .checked
            .sources
            .file_of(def.span)
            .map(|f| f.name.clone())
            .unwrap_or_default();
        format!(
            "```bylaw\ndef {name} = {}\n```\n\nfrom `{}`",
            crate::lint::logic::text(program, &def.value),
            module.trim_start_matches('<').trim_end_matches('>')
        )
    }

    fn rule_at(&self, offset: u32) -> Option<(Span, String)> {
        let (index, rule) = self
            .checked
            .file
            .decls
            .iter()
            .filter_map(|d| match d {
                Decl::Rule(r) => Some(r),
                _ => None,
            })
            .enumerate()
            .find(|(_, r)| r.span.start <= offset && offset <= r.span.end)?;
        let mut text = format!(
            "**rule {}** — {} because \"{}\"",
            index + 1,
            rule.outcome.node.as_str(),
            rule.because.node
        );
        if let Some(c) = &rule.cite {
            text.push_str(&format!("\n\n**Cites:** {}", c.node));
        }
        Some((rule.span, text))
    }

    /// What may be written at `offset` ([`super::complete`]).
    pub fn completions_at(&self, offset: u32) -> super::complete::Completion {
        super::complete::complete(self, offset)
    }

    /// Every field this policy can read (its own, its modules'), with its type.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.field_types
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
    }

    pub fn field_type(&self, path: &str) -> Option<&str> {
        self.field_types.get(path).map(String::as_str)
    }

    /// The fields of an event kind, with their types (empty for an unknown kind).
    pub fn event_fields(&self, kind: &str) -> impl Iterator<Item = (&str, &str)> {
        self.event_fields
            .get(kind)
            .into_iter()
            .flatten()
            .map(|(p, t)| (p.as_str(), t.as_str()))
    }

    pub fn enum_names(&self) -> impl Iterator<Item = &str> {
        self.enums.iter().map(|(name, _)| name.as_str())
    }

    pub fn enum_members(&self, name: &str) -> &[String] {
        self.enums
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[], |(_, members)| members.as_slice())
    }

    /// The names this document (and its user modules) define, as candidates.
    pub fn symbol_candidates(&self) -> Vec<Candidate> {
        let mut out = Vec::new();
        let mut symbols: Vec<&Symbol> = self.definitions.keys().collect();
        symbols.sort();
        for symbol in symbols {
            let candidate = match symbol {
                Symbol::Def(d) => Candidate {
                    label: d.clone(),
                    kind: CandidateKind::Def,
                    detail: "def".into(),
                },
                Symbol::Member(e, m) => Candidate {
                    label: m.clone(),
                    kind: CandidateKind::Member,
                    detail: format!("enum {e}"),
                },
                Symbol::Tier(t) => Candidate {
                    label: t.clone(),
                    kind: CandidateKind::Tier,
                    detail: "tier".into(),
                },
                Symbol::Service(s) => Candidate {
                    label: s.clone(),
                    kind: CandidateKind::Service,
                    detail: "service".into(),
                },
                Symbol::Fixture(f) => Candidate {
                    label: f.clone(),
                    kind: CandidateKind::Fixture,
                    detail: "fixture".into(),
                },
                Symbol::Duty(d) => Candidate {
                    label: d.clone(),
                    kind: CandidateKind::Duty,
                    detail: "duty".into(),
                },
                Symbol::Field(_)
                | Symbol::Enum(_)
                | Symbol::Trigger(_)
                | Symbol::Event(_)
                | Symbol::EventField(..) => continue,
            };
            out.push(candidate);
        }
        out
    }

    /// The whole document in the canonical layout, when it parses.
    pub fn formatted(&self) -> Option<String> {
        let parsed = crate::syntax::parser::parse(&self.text, 0);
        if parsed.diagnostics.iter().any(Diagnostic::is_error) {
            return None;
        }
        Some(crate::format::format(
            &parsed.file,
            &parsed.comments,
            &self.text,
            0,
        ))
    }

    /// Fixes of lints whose span meets `range`.
    pub fn fixes(&self, range: Span) -> Vec<(&Diagnostic, &Fix)> {
        self.lints
            .iter()
            .filter_map(|l| l.fix.as_ref().map(|f| (&l.diagnostic, f)))
            .filter(|(d, _)| {
                let s = d.span();
                s.start <= range.end && range.start <= s.end
            })
            .collect()
    }

    pub fn outline(&self) -> Vec<Outline> {
        let mut rule_number = 0;
        self.checked
            .file
            .decls
            .iter()
            .map(|decl| {
                let span = decl.span();
                let item = |name: &str, detail: &str, kind, selection: Span, children| Outline {
                    name: name.to_string(),
                    detail: detail.to_string(),
                    kind,
                    span,
                    selection,
                    children,
                };
                match decl {
                    Decl::Policy(p) => item(
                        &p.name.node,
                        &p.version.node,
                        OutlineKind::Policy,
                        p.name.span,
                        vec![],
                    ),
                    Decl::Use(u) => item(
                        &u.path.dotted(),
                        "use",
                        OutlineKind::Module,
                        u.path.span,
                        vec![],
                    ),
                    Decl::Clock(c) => item(
                        &c.path.dotted(),
                        "clock",
                        OutlineKind::Field,
                        c.path.span,
                        vec![],
                    ),
                    Decl::Enum(e) => {
                        let members = e
                            .members
                            .iter()
                            .map(|m| Outline {
                                name: m.node.clone(),
                                detail: String::new(),
                                kind: OutlineKind::Member,
                                span: m.span,
                                selection: m.span,
                                children: vec![],
                            })
                            .collect();
                        item(
                            &e.name.node,
                            "enum",
                            OutlineKind::Enum,
                            e.name.span,
                            members,
                        )
                    }
                    Decl::Event(e) => {
                        let fields = self.field_outlines(&e.fields);
                        item(
                            &format!("event {}", e.name.node),
                            "",
                            OutlineKind::Struct,
                            e.name.span,
                            fields,
                        )
                    }
                    Decl::Schema(s) => {
                        let fields = self.field_outlines(&s.fields);
                        item(
                            &format!("schema {}", s.name.node),
                            "",
                            OutlineKind::Struct,
                            s.name.span,
                            fields,
                        )
                    }
                    Decl::Def(d) => item(
                        &d.name.node,
                        "def",
                        OutlineKind::Function,
                        d.name.span,
                        vec![],
                    ),
                    Decl::Tiers(t) => {
                        let tiers = t
                            .entries
                            .iter()
                            .map(|e| Outline {
                                name: e.name.node.clone(),
                                detail: "tier".into(),
                                kind: OutlineKind::Member,
                                span: e.span,
                                selection: e.name.span,
                                children: vec![],
                            })
                            .collect();
                        item("tiers", "", OutlineKind::Enum, span, tiers)
                    }
                    Decl::Default(d) => item(
                        &format!("default {}", d.outcome.node.as_str()),
                        "",
                        OutlineKind::Rule,
                        span,
                        vec![],
                    ),
                    Decl::Rule(r) => {
                        rule_number += 1;
                        let label = match &r.name {
                            Some(name) => format!("{} {}", r.outcome.node.as_str(), name.node),
                            None => format!("{} rule {rule_number}", r.outcome.node.as_str()),
                        };
                        item(
                            &label,
                            &r.because.node,
                            OutlineKind::Rule,
                            r.outcome.span,
                            vec![],
                        )
                    }
                    Decl::Duty(d) => item(
                        &d.name.node,
                        "duty",
                        OutlineKind::Struct,
                        d.name.span,
                        vec![],
                    ),
                    Decl::Trigger(t) => item(
                        &t.name.node,
                        "trigger",
                        OutlineKind::Event,
                        t.name.span,
                        vec![],
                    ),
                    Decl::Service(s) => item(
                        &s.name.node,
                        "service",
                        OutlineKind::Module,
                        s.name.span,
                        vec![],
                    ),
                    Decl::Fixture(f) => item(
                        &f.name.node,
                        "fixture",
                        OutlineKind::Struct,
                        f.name.span,
                        vec![],
                    ),
                    Decl::Test(t) => item(
                        &t.name.node,
                        "test",
                        OutlineKind::Function,
                        t.name.span,
                        vec![],
                    ),
                    Decl::Assert(a) => item(
                        &a.name.node,
                        "assert",
                        OutlineKind::Function,
                        a.name.span,
                        vec![],
                    ),
                }
            })
            .collect()
    }
}
