//! `use`: loading modules and merging their declarations into the policy, before
//! checking. Modules are the standard library's (`use std::…`, embedded in the
//! binary) and the user's: `use acme::safety::jailbreak` from the module roots of the
//! workspace's `bylaw.toml`, `use ./common/x` beside the file that says it
//! ([`loader`]).
//!
//! A module is a policy file of its own — it checks and passes its own tests. What a
//! policy gets from a `use`: its schema fields and enums (unified by name and
//! type with the policy's and other modules'), its `def`s, rules, duties, triggers and
//! services. Not its `policy` line, `default`, fixtures or tests, which are the
//! module's own; a module may not have `tiers` (tiers are the policy's decision). A
//! typed `def` is a parameter: `use std::minors { adult_age: 16 }` sets it. Every
//! module is loaded once, however many times it is used; the first `use` sets its
//! parameters. A module that uses itself, directly or through others, is an error.

pub mod loader;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;

use crate::ast::{self, Decl};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::SourceMap;
use crate::syntax::span::Span;

pub use loader::Loader;
use loader::Read;

/// A module a policy loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// How its rules are qualified: `std::minors`, `acme::safety`, `common::x`.
    pub name: String,
    /// Its file, for a user module; `None` for the standard library's.
    pub path: Option<PathBuf>,
    /// The `use` that loaded it (in the policy's file or another module's).
    pub used_at: Span,
}

impl Loaded {
    /// How the source map names the module's file: its path, or `<std::name>`.
    pub fn source_name(&self) -> String {
        match &self.path {
            Some(path) => path.display().to_string(),
            None => format!("<{}>", self.name),
        }
    }

    /// The module's file among the sources a check read.
    pub fn file<'a>(&self, sources: &'a SourceMap) -> Option<&'a crate::source::SourceFile> {
        let name = self.source_name();
        sources.files().iter().find(|f| f.name == name)
    }
}

/// What `resolve` did.
#[derive(Debug, Default)]
pub struct Resolution {
    /// How many declarations of the merged file are the policy's own.
    pub own: usize,
    /// Every module loaded, in the order loaded.
    pub modules: Vec<Loaded>,
}

/// A `use` waiting to be loaded, with where it was written and the chain of modules
/// that led to it (for cycles).
struct Pending {
    decl: ast::UseDecl,
    /// The directory a relative `use` starts from: its file's.
    dir: Option<PathBuf>,
    /// The name of the module it was written in, `None` in the policy: a relative
    /// module is named beside it (`./toxicity` in `acme::safety::jailbreak` is
    /// `acme::safety::toxicity`).
    within: Option<String>,
    chain: Vec<(String, String)>,
}

/// Merges the modules a policy uses into it: the policy's own declarations stay first
/// and as they are (its `use` lines included, which the checker passes over), the
/// modules' follow. Nothing is cloned but the `use` lines: expressions can be deeper
/// than any stack. `policy_key` identifies the policy itself (its normalized path), so
/// that a module using the policy is a cycle.
pub fn resolve(
    merged: &mut ast::File,
    sources: &mut SourceMap,
    diagnostics: &mut Vec<Diagnostic>,
    loader: &Loader,
    policy_key: Option<String>,
) -> Resolution {
    let own = merged.decls.len();
    let root_chain: Vec<(String, String)> = policy_key
        .map(|k| (k, "the policy".to_string()))
        .into_iter()
        .collect();
    let mut queue: VecDeque<Pending> = merged
        .decls
        .iter()
        .filter_map(|d| match d {
            Decl::Use(u) => Some(Pending {
                decl: u.clone(),
                dir: loader.policy_dir().map(Into::into),
                within: None,
                chain: root_chain.clone(),
            }),
            _ => None,
        })
        .collect();
    let mut loaded: HashSet<String> = HashSet::new();
    let mut modules = Vec::new();
    while let Some(pending) = queue.pop_front() {
        let Some(found) = find(&pending, loader, diagnostics) else {
            continue;
        };
        if let Some(at) = pending.chain.iter().position(|(key, _)| *key == found.key) {
            diagnostics.push(cycle(&pending, at));
            continue;
        }
        if !loaded.insert(found.key.clone()) {
            continue;
        }
        let name = found.name.clone();
        let module = Loaded {
            name: name.clone(),
            path: found.path.clone(),
            used_at: pending.decl.path.span,
        };
        let base = sources.add(module.source_name(), found.text.as_str());
        let parsed = crate::syntax::parser::parse(&found.text, base);
        diagnostics.extend(parsed.diagnostics);
        modules.push(module);
        let mut decls = parsed.file.decls;
        apply_overrides(&mut decls, &pending.decl, &name, diagnostics);
        let mut chain = pending.chain.clone();
        chain.push((found.key.clone(), name.clone()));
        for decl in decls {
            match decl {
                Decl::Use(nested) => queue.push_back(Pending {
                    decl: nested,
                    dir: found.path.as_deref().map(loader::parent_dir),
                    within: Some(name.clone()),
                    chain: chain.clone(),
                }),
                Decl::Tiers(t) => diagnostics.push(
                    Diagnostic::error(
                        Code::TiersInModule,
                        format!("module `{name}` has a `tiers` block"),
                        t.span,
                        "tiers belong to the policy",
                    )
                    .with_label(pending.decl.path.span, "used here"),
                ),
                Decl::Policy(_)
                | Decl::Default(_)
                | Decl::Fixture(_)
                | Decl::Test(_)
                | Decl::Assert(_) => {}
                Decl::Schema(schema) => merge_schema(merged, schema, &name, diagnostics),
                Decl::Enum(e) => merge_enum(merged, e, &name, diagnostics),
                Decl::Rule(mut rule) => {
                    rule.module = Some(name.clone());
                    merged.decls.push(Decl::Rule(rule));
                }
                other => merged.decls.push(other),
            }
        }
    }
    Resolution { own, modules }
}

/// A module's text, found.
struct Found {
    /// Identity: `std::x`, or the normalized file path.
    key: String,
    name: String,
    path: Option<PathBuf>,
    text: String,
}

fn find(pending: &Pending, loader: &Loader, diagnostics: &mut Vec<Diagnostic>) -> Option<Found> {
    let decl = &pending.decl;
    let parts: Vec<&str> = decl.path.parts.iter().map(|p| p.node.as_str()).collect();
    let written = decl.written();
    let path = match decl.relative {
        None if parts.first() == Some(&"std") => {
            let Some(module) = crate::stdlib::get(&written) else {
                diagnostics.push(unknown_stdlib_module(&decl.path, &written));
                return None;
            };
            return Some(Found {
                key: written.clone(),
                name: written,
                path: None,
                text: module.text.to_string(),
            });
        }
        None => {
            let Some(path) = loader.find_in_roots(&parts) else {
                diagnostics.push(not_in_roots(decl, &written, loader));
                return None;
            };
            path
        }
        Some(up) => {
            let Some(dir) = &pending.dir else {
                diagnostics.push(relative_without_directory(decl, &written));
                return None;
            };
            let mut dir = dir.clone();
            for _ in 0..up {
                dir.push("..");
            }
            loader::module_file(&dir, &parts)
        }
    };
    let text = match loader.read(&path) {
        Read::Text(text) => text,
        Read::Missing => {
            diagnostics.push(
                Diagnostic::error(
                    Code::UnknownModule,
                    format!("no module file `{}`", path.display()),
                    decl.path.span,
                    "no such file",
                )
                .with_help(format!(
                    "`use {written}` reads `{}`; create it, or correct the path",
                    path.display()
                )),
            );
            return None;
        }
        Read::Unreadable(why) => {
            diagnostics.push(Diagnostic::error(
                Code::UnknownModule,
                format!("cannot read module file `{}`: {why}", path.display()),
                decl.path.span,
                "unreadable",
            ));
            return None;
        }
    };
    let name = match (decl.relative, &pending.within) {
        (None, _) => written,
        (Some(_), None) => {
            loader::relative_name(loader.policy_dir().unwrap_or(".".as_ref()), &path)
        }
        (Some(up), Some(within)) => beside(within, up, &parts),
    };
    Some(Found {
        key: path.display().to_string(),
        name,
        path: Some(path),
        text,
    })
}

/// The name of a module `up` levels above `within`'s directory: `beside("a::b::c", 0,
/// ["d"])` is `a::b::d`, one level up `a::d`.
fn beside(within: &str, up: u32, parts: &[&str]) -> String {
    let mut names: Vec<&str> = within.split("::").collect();
    names.pop();
    for _ in 0..up {
        match names.last() {
            Some(&last) if last != "super" => {
                names.pop();
            }
            _ => names.push("super"),
        }
    }
    names.extend(parts);
    names.join("::")
}

fn cycle(pending: &Pending, at: usize) -> Diagnostic {
    let mut names: Vec<&str> = pending.chain[at..]
        .iter()
        .map(|(_, n)| n.as_str())
        .collect();
    // Closed by the name it has in the chain: "the policy" for the policy itself.
    let name = pending.chain[at].1.as_str();
    names.push(name);
    Diagnostic::error(
        Code::ModuleCycle,
        format!("module cycle: {}", names.join(" → ")),
        pending.decl.path.span,
        format!("`{name}` is already being loaded"),
    )
    .with_help("a module cannot use itself, directly or through other modules: move what they share into a module both use")
}

fn not_in_roots(decl: &ast::UseDecl, written: &str, loader: &Loader) -> Diagnostic {
    let diag = Diagnostic::error(
        Code::UnknownModule,
        format!("unknown module `{written}`"),
        decl.path.span,
        "no such module",
    );
    let in_std = format!("std::{written}");
    if crate::stdlib::get(&in_std).is_some() {
        return diag.with_help(format!(
            "the standard library's module is `{in_std}`: write `use {in_std}`"
        ));
    }
    if loader.roots().is_empty() {
        let config = match loader.config() {
            Some(path) => format!("`{}`", path.display()),
            None => format!("a `{}` beside the policy", loader::CONFIG_FILE),
        };
        return diag.with_help(format!(
            "user modules are found in module roots, and none is configured: list them in \
             {config} as `[modules] paths = [\"lib\"]`; standard-library modules start with `std::`"
        ));
    }
    let file: PathBuf = decl.path.parts.iter().map(|p| p.node.as_str()).collect();
    let roots: Vec<String> = loader
        .roots()
        .iter()
        .map(|r| format!("`{}`", r.display()))
        .collect();
    diag.with_help(format!(
        "looked for `{}.bylaw` in the module roots {}",
        file.display(),
        roots.join(", ")
    ))
}

fn relative_without_directory(decl: &ast::UseDecl, written: &str) -> Diagnostic {
    Diagnostic::error(
        Code::UnknownModule,
        format!("`use {written}` needs the policy's directory, and this policy was not read from a file"),
        decl.path.span,
        "relative to what?",
    )
    .with_help("load the policy from its file (a path on the command line, `bylaw.load`), or use the module by name from a module root")
}

fn unknown_stdlib_module(path: &ast::Path, name: &str) -> Diagnostic {
    if let Some((_, new)) = crate::stdlib::RENAMED.iter().find(|(old, _)| *old == name) {
        return Diagnostic::error(
            Code::UnknownModule,
            format!("module `{name}` is now `{new}`"),
            path.span,
            "renamed",
        )
        .with_help(format!("write `use {new}` (see the changelog)"));
    }
    let known: Vec<&str> = crate::stdlib::MODULES.iter().map(|m| m.name).collect();
    let closest = known
        .iter()
        .min_by_key(|k| strsim::levenshtein(k, name))
        .filter(|k| strsim::levenshtein(k, name) <= name.len() / 3 + 2);
    let diag = Diagnostic::error(
        Code::UnknownModule,
        format!("unknown module `{name}`"),
        path.span,
        "no such module",
    );
    match closest {
        Some(k) => diag.with_help(format!(
            "did you mean `{k}`? (`bylaw stdlib list` shows them all)"
        )),
        None => diag.with_help("`bylaw stdlib list` shows the modules there are"),
    }
}

/// Puts the `use`'s values in place of the module's parameter defaults.
fn apply_overrides(
    decls: &mut [Decl],
    use_decl: &ast::UseDecl,
    name: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut params: HashMap<String, &mut ast::DefDecl> = decls
        .iter_mut()
        .filter_map(|d| match d {
            Decl::Def(def) if def.ty.is_some() => Some((def.name.node.clone(), def)),
            _ => None,
        })
        .collect();
    for value in &use_decl.overrides {
        let key = value.path.dotted();
        match params.get_mut(&key) {
            Some(def) => def.value = value.value.clone(),
            None => {
                let mut known: Vec<&String> = params.keys().collect();
                known.sort();
                let list = if known.is_empty() {
                    "it has none".to_string()
                } else {
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                diagnostics.push(
                    Diagnostic::error(
                        Code::UnknownParameter,
                        format!("module `{name}` has no parameter `{key}`"),
                        value.path.span,
                        "not a parameter of this module",
                    )
                    .with_help(format!("its parameters: {list}")),
                );
            }
        }
    }
}

fn type_key(ty: &ast::TypeExpr) -> String {
    let base = match &ty.kind {
        ast::TypeKind::Named(n) => n.clone(),
        ast::TypeKind::Set(e) => format!("set<{}>", e.node),
    };
    if ty.optional {
        format!("{base}?")
    } else {
        base
    }
}

fn merge_schema(
    merged: &mut ast::File,
    schema: ast::SchemaDecl,
    module: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let target = merged.decls.iter_mut().find_map(|d| match d {
        Decl::Schema(s) => Some(s),
        _ => None,
    });
    let Some(target) = target else {
        merged.decls.push(Decl::Schema(schema));
        return;
    };
    for field in schema.fields {
        let path = field.path.dotted();
        match target.fields.iter_mut().find(|f| f.path.dotted() == path) {
            // Sensitive where any declaration says so: masking more is the safe side.
            Some(existing) if type_key(&existing.ty) == type_key(&field.ty) => {
                existing.sensitive |= field.sensitive;
            }
            Some(existing) => diagnostics.push(
                Diagnostic::error(
                    Code::ModuleConflict,
                    format!(
                        "field `{path}` is `{}` here but `{}` in module `{module}`",
                        type_key(&existing.ty),
                        type_key(&field.ty)
                    ),
                    existing.ty.span,
                    "declared here",
                )
                .with_label(field.ty.span, format!("module `{module}` needs this type")),
            ),
            None => target.fields.push(field),
        }
    }
}

fn merge_enum(
    merged: &mut ast::File,
    e: ast::EnumDecl,
    module: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let existing = merged.decls.iter().find_map(|d| match d {
        Decl::Enum(x) if x.name.node == e.name.node => Some(x),
        _ => None,
    });
    let members = |e: &ast::EnumDecl| e.members.iter().map(|m| m.node.clone()).collect::<Vec<_>>();
    match existing {
        Some(x) if members(x) == members(&e) => {}
        Some(x) => diagnostics.push(
            Diagnostic::error(
                Code::ModuleConflict,
                format!(
                    "enum `{}` is {{{}}} here but {{{}}} in module `{module}`",
                    e.name.node,
                    members(x).join(", "),
                    members(&e).join(", ")
                ),
                x.name.span,
                "declared here",
            )
            .with_label(e.name.span, format!("module `{module}` declares it so"))
            .with_help("declare the enum exactly as the module does, members in the same order"),
        ),
        None => merged.decls.push(Decl::Enum(e)),
    }
}

/// Whether two paths name one file (as written, when either cannot be resolved).
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Whether a span lies in the file that starts at `base` and is `len` bytes long.
pub fn in_file(span: Span, base: u32, len: usize) -> bool {
    span.start >= base && (span.end as usize) <= base as usize + len
}
