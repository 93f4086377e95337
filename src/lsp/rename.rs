//! Rename, document highlights and folding ranges: what the editor asks about the
//! names and the blocks of one document.

use crate::syntax::span::Span;

use super::analysis::{Analysis, Symbol};

/// What a rename at `offset` would rename: the span of the name under the cursor (the
/// member alone in `Region.EU`) and the text there. An error says why it cannot be
/// renamed here.
pub fn prepare(analysis: &Analysis, offset: u32) -> Result<(Span, String), String> {
    let occurrence = analysis
        .occurrence_at(offset)
        .ok_or("no name to rename here")?;
    let Some(definition) = analysis.definition_of(&occurrence.symbol) else {
        return Err(format!(
            "`{}` comes from a standard-library module: it cannot be renamed here",
            name_of(&occurrence.symbol)
        ));
    };
    if analysis.in_stdlib(definition) {
        return Err(format!(
            "`{}` comes from a standard-library module: it cannot be renamed here",
            name_of(&occurrence.symbol)
        ));
    }
    // A name from a user module is renamed there and in every file using it.
    if !analysis.in_document(definition) && analysis.user_module_file(definition).is_none() {
        return Err(format!(
            "`{}` is declared in a module this file uses: rename it there",
            name_of(&occurrence.symbol)
        ));
    }
    let span = renamed_part(analysis, occurrence.span, &occurrence.symbol);
    Ok((span, analysis.text_of(span).to_string()))
}

/// The edits that rename the name at `offset` to `new_name` everywhere in the
/// document: its definition and every use.
pub fn rename(
    analysis: &Analysis,
    offset: u32,
    new_name: &str,
) -> Result<Vec<(Span, String)>, String> {
    prepare(analysis, offset)?;
    let symbol = analysis
        .occurrence_at(offset)
        .map(|o| o.symbol.clone())
        .ok_or("no name to rename here")?;
    let valid = match symbol {
        Symbol::Field(_) | Symbol::EventField(..) => new_name.split('.').all(is_word),
        _ => is_word(new_name),
    };
    if !valid {
        return Err(format!("`{new_name}` is not a valid name here"));
    }
    // `id` and `aware_at` mean something to the runtime: renaming to or from them
    // would change what the policy does, not only what it says.
    if let Symbol::EventField(_, path) = &symbol
        && [path.as_str(), new_name]
            .iter()
            .any(|p| matches!(*p, "id" | "aware_at"))
    {
        return Err("an event's `id` and `aware_at` have a meaning: rename another field".into());
    }
    if crate::lsp::analysis::KEYWORDS.contains(&new_name) {
        return Err(format!("`{new_name}` is a keyword"));
    }
    let renamed = with_name(&symbol, new_name);
    if analysis.definition_of(&renamed).is_some() {
        return Err(format!("`{new_name}` is already declared"));
    }
    Ok(uses(analysis, &symbol, new_name))
}

/// The edits that rename `symbol` to `new_name` where this document writes it: in the
/// file that declares it, or in another file that uses it from there.
pub fn uses(analysis: &Analysis, symbol: &Symbol, new_name: &str) -> Vec<(Span, String)> {
    let mut edits: Vec<(Span, String)> = analysis
        .occurrences
        .iter()
        .filter(|o| o.symbol == *symbol && analysis.in_document(o.span))
        .map(|o| (renamed_part(analysis, o.span, symbol), new_name.to_string()))
        .collect();
    edits.sort_by_key(|(span, _)| span.start);
    edits.dedup_by_key(|(span, _)| *span);
    edits
}

/// The symbol a rename at `offset` is about.
pub fn symbol_at(analysis: &Analysis, offset: u32) -> Option<Symbol> {
    analysis.occurrence_at(offset).map(|o| o.symbol.clone())
}

/// Every occurrence in the document of the name at `offset`, and whether it is where
/// the name is declared (a write) rather than used.
pub fn highlights(analysis: &Analysis, offset: u32) -> Vec<(Span, bool)> {
    let Some(symbol) = analysis.occurrence_at(offset).map(|o| &o.symbol) else {
        return Vec::new();
    };
    analysis
        .occurrences
        .iter()
        .filter(|o| &o.symbol == symbol && analysis.in_document(o.span))
        .map(|o| (o.span, o.definition))
        .collect()
}

/// Foldable regions: every declaration over more than one line, the blocks inside
/// duties and services, and runs of two or more comment lines (`true`).
pub fn folds(analysis: &Analysis) -> Vec<(Span, bool)> {
    let mut out: Vec<(Span, bool)> = analysis
        .declaration_spans()
        .into_iter()
        .filter(|s| analysis.text_of(*s).contains('\n'))
        .map(|s| (s, false))
        .collect();
    let mut run: Option<(usize, usize)> = None;
    let mut offset = 0;
    for line in analysis.text.split_inclusive('\n') {
        let is_comment = line.trim_start().starts_with("//");
        let end = offset + line.trim_end_matches('\n').len();
        run = match (run, is_comment) {
            (Some((start, _)), true) => Some((start, end)),
            (None, true) => Some((offset, end)),
            (Some((start, last)), false) => {
                if analysis.text[start..last].contains('\n') {
                    out.push((Span::new(start as u32, last as u32), true));
                }
                None
            }
            (None, false) => None,
        };
        offset += line.len();
    }
    if let Some((start, last)) = run
        && analysis.text[start..last].contains('\n')
    {
        out.push((Span::new(start as u32, last as u32), true));
    }
    out.sort_by_key(|(s, _)| s.start);
    out
}

fn is_word(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn name_of(symbol: &Symbol) -> String {
    match symbol {
        Symbol::Member(e, m) => format!("{e}.{m}"),
        Symbol::EventField(_, n)
        | Symbol::Event(n)
        | Symbol::Field(n)
        | Symbol::Def(n)
        | Symbol::Enum(n)
        | Symbol::Tier(n)
        | Symbol::Service(n)
        | Symbol::Fixture(n)
        | Symbol::Duty(n)
        | Symbol::Trigger(n) => n.clone(),
    }
}

fn with_name(symbol: &Symbol, name: &str) -> Symbol {
    let name = name.to_string();
    match symbol {
        Symbol::Field(_) => Symbol::Field(name),
        Symbol::Def(_) => Symbol::Def(name),
        Symbol::Enum(_) => Symbol::Enum(name),
        Symbol::Member(e, _) => Symbol::Member(e.clone(), name),
        Symbol::Tier(_) => Symbol::Tier(name),
        Symbol::Service(_) => Symbol::Service(name),
        Symbol::Fixture(_) => Symbol::Fixture(name),
        Symbol::Duty(_) => Symbol::Duty(name),
        Symbol::Trigger(_) => Symbol::Trigger(name),
        Symbol::Event(_) => Symbol::Event(name),
        Symbol::EventField(kind, _) => Symbol::EventField(kind.clone(), name),
    }
}

/// The part of an occurrence a rename replaces: the member alone in `Region.EU`.
fn renamed_part(analysis: &Analysis, span: Span, symbol: &Symbol) -> Span {
    if let Symbol::Member(..) = symbol
        && let Some(dot) = analysis.text_of(span).rfind('.')
    {
        return Span::new(span.start + dot as u32 + 1, span.end);
    }
    span
}
