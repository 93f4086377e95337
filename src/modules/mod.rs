//! `use`: loading modules and merging their declarations into the policy, before
//! checking. The only modules today are the standard library's (`stdlib`), embedded
//! in the binary.
//!
//! A module is a policy file of its own — it checks and passes its own tests. What a
//! policy gets from `use std::a::b`: its schema fields and enums (unified by name and
//! type with the policy's and other modules'), its `def`s, rules, duties, triggers and
//! services. Not its `policy` line, `default`, fixtures or tests, which are the
//! module's own; a module may not have `tiers` (tiers are the policy's decision). A
//! typed `def` is a parameter: `use std::minors { adult_age: 16 }` sets it. Every
//! module is loaded once, however many times it is used; the first `use` sets its
//! parameters.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::ast::{self, Decl};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::SourceMap;
use crate::syntax::span::Span;

/// Merges the modules a policy uses into it: the policy's own declarations stay first
/// and as they are (its `use` lines included, which the checker passes over), the
/// modules' follow. Returns how many declarations are the policy's. Nothing is
/// cloned but the `use` lines: expressions can be deeper than any stack.
pub fn resolve(
    merged: &mut ast::File,
    sources: &mut SourceMap,
    diagnostics: &mut Vec<Diagnostic>,
) -> usize {
    let own = merged.decls.len();
    let mut queue: VecDeque<ast::UseDecl> = merged
        .decls
        .iter()
        .filter_map(|d| match d {
            Decl::Use(u) => Some(u.clone()),
            _ => None,
        })
        .collect();
    let mut loaded: HashSet<String> = HashSet::new();
    while let Some(use_decl) = queue.pop_front() {
        let name = module_name(&use_decl.path);
        if !loaded.insert(name.clone()) {
            continue;
        }
        let Some(module) = crate::stdlib::get(&name) else {
            diagnostics.push(unknown_module(&use_decl.path, &name));
            continue;
        };
        let base = sources.add(format!("<{}>", module.name), module.text);
        let parsed = crate::syntax::parser::parse(module.text, base);
        diagnostics.extend(parsed.diagnostics);
        let mut decls = parsed.file.decls;
        apply_overrides(&mut decls, &use_decl, &name, diagnostics);
        for decl in decls {
            match decl {
                Decl::Use(nested) => queue.push_back(nested),
                Decl::Tiers(t) => diagnostics.push(
                    Diagnostic::error(
                        Code::TiersInModule,
                        format!("module `{name}` has a `tiers` block"),
                        t.span,
                        "tiers belong to the policy",
                    )
                    .with_label(use_decl.path.span, "used here"),
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
    own
}

fn module_name(path: &ast::Path) -> String {
    path.parts
        .iter()
        .map(|p| p.node.as_str())
        .collect::<Vec<_>>()
        .join("::")
}

fn unknown_module(path: &ast::Path, name: &str) -> Diagnostic {
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
        match target.fields.iter().find(|f| f.path.dotted() == path) {
            Some(existing) if type_key(&existing.ty) == type_key(&field.ty) => {}
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

/// Whether a span lies in the file that starts at `base` and is `len` bytes long.
pub fn in_file(span: Span, base: u32, len: usize) -> bool {
    span.start >= base && (span.end as usize) <= base as usize + len
}
