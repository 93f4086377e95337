//! Bylaw: policy-as-code for governing AI services.
//!
//! The pipeline, one module per stage: [`syntax`] (source → [`ast`]) → [`check`]
//! (names and types → a checked program). Every stage reports [`diagnostics`].

pub mod ast;
pub mod builtins;
pub mod bundle;
pub mod check;
pub mod cli;
pub use codegen::cmodule;
pub mod diagnostics;
pub mod format;
pub mod source;
pub mod syntax;

use check::program::Program;
use diagnostics::Diagnostic;
use source::SourceMap;

/// A source file taken through the front end: parsed and checked.
#[derive(Debug)]
pub struct Checked {
    pub sources: SourceMap,
    pub file: ast::File,
    pub comments: Vec<syntax::parser::Comment>,
    /// Present only when there are no errors.
    pub program: Option<Program>,
    /// Sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// The modules its `use` lines loaded, in the order loaded.
    pub modules: Vec<modules::Loaded>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and checks one policy source that was not read from a file: it may use
/// standard-library modules only. Never panics; problems are diagnostics.
pub fn check_source(name: &str, text: &str) -> Checked {
    check_source_with(name, text, &modules::Loader::stdlib_only())
}

/// Reads and checks the policy file at `path`, with its user modules: relative
/// `use ./x` from its directory, module roots from the nearest `bylaw.toml`. Errors
/// are a file that cannot be read and a `bylaw.toml` that is not valid.
pub fn check_file(path: &std::path::Path) -> Result<Checked, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let loader = modules::Loader::for_policy(path)?;
    Ok(check_source_with(
        &path.display().to_string(),
        &text,
        &loader,
    ))
}

/// Parses and checks one policy source, loading its modules through `loader`. `name`
/// is how diagnostics name it and, for a loader with a policy directory, its path.
pub fn check_source_with(name: &str, text: &str, loader: &modules::Loader) -> Checked {
    let mut sources = SourceMap::new();
    let base = sources.add(name, text);
    let mut parsed = syntax::parser::parse(text, base);
    let mut diagnostics = parsed.diagnostics;
    require_policy_line(&parsed.file, base, &mut diagnostics);
    // `use`: the modules' declarations join the policy's for checking; afterwards the
    // file holds only what was written in it again.
    let policy_key = loader.policy_dir().map(|_| {
        modules::loader::normalize(std::path::Path::new(name))
            .display()
            .to_string()
    });
    let resolution = modules::resolve(
        &mut parsed.file,
        &mut sources,
        &mut diagnostics,
        loader,
        policy_key,
    );
    let mut checked = check::check(&parsed.file);
    parsed.file.decls.truncate(resolution.own);
    let parse_failed = diagnostics.iter().any(Diagnostic::is_error);
    diagnostics.append(&mut checked.diagnostics);
    diagnostics::sort(&mut diagnostics);
    cap_problems(&mut diagnostics);
    Checked {
        sources,
        file: parsed.file,
        comments: parsed.comments,
        program: if parse_failed { None } else { checked.program },
        diagnostics,
        modules: resolution.modules,
    }
}
/// A policy file names itself. An empty file, or the tail of one whose head is not
/// written yet, would otherwise be a valid policy that allows everything.
fn require_policy_line(file: &ast::File, base: u32, diagnostics: &mut Vec<Diagnostic>) {
    let has_policy = file.decls.iter().any(|d| matches!(d, ast::Decl::Policy(_)));
    let parse_failed = diagnostics.iter().any(Diagnostic::is_error);
    if has_policy || parse_failed {
        return;
    }
    diagnostics.push(
        Diagnostic::error(
            diagnostics::Code::MissingPolicy,
            "the file has no `policy` line",
            syntax::span::Span::new(base, base),
            "a policy file starts with `policy NAME version \"x.y.z\"`",
        )
        .with_help(
            "an empty or half-written file is not a policy: write the `policy` line, \
             such as `policy my_service version \"1.0.0\"`",
        ),
    );
}

/// The most problems listed for one file; a file that is not a policy at all (a binary,
/// a policy pasted 5,000 times) would otherwise produce megabytes of diagnostics.
pub const MAX_PROBLEMS: usize = 100;

fn cap_problems(diagnostics: &mut Vec<Diagnostic>) {
    if diagnostics.len() <= MAX_PROBLEMS {
        return;
    }
    let dropped = diagnostics.split_off(MAX_PROBLEMS);
    let errors = dropped.iter().filter(|d| d.is_error()).count();
    let at = dropped.first().map(|d| d.span()).unwrap_or_default();
    diagnostics.push(
        Diagnostic::error(
            diagnostics::Code::TooManyProblems,
            format!(
                "{} more problems ({errors} errors) in this file are not listed",
                dropped.len()
            ),
            syntax::span::Span::new(at.start, at.start),
            "the first one not listed",
        )
        .with_help(format!(
            "fix the first {MAX_PROBLEMS} and check again; is this file a Bylaw policy?"
        )),
    );
}

pub mod codegen;
pub mod governance;
pub mod guard;
pub mod ir;
pub mod lint;
pub mod lsp;
pub mod modules;
pub mod report;
pub mod runtime;
pub mod server;
pub mod stdlib;
pub mod testing;
mod tree_drop;
pub mod verify;

pub use guard::{Diagnostics, Engine, Guard, Policy};
pub use runtime::decision::Decision;
pub use runtime::record::Record;
