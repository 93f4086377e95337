//! `bylaw fmt`: rewrite policies in the canonical layout, or check that they are.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::EXIT_USAGE;
use crate::diagnostics::{self, Diagnostic};
use crate::source::SourceMap;

#[derive(Debug, Args)]
pub(crate) struct FmtArgs {
    /// Policy files, or directories searched for `*.bylaw` files; `-` formats standard
    /// input to standard output.
    #[arg(required = true, value_name = "FILE|DIR|-")]
    paths: Vec<PathBuf>,
    /// Change nothing; print a diff of what would change and exit 1 if anything would.
    #[arg(long)]
    check: bool,
}

/// Formats `text`, or returns the syntax errors that prevent it.
pub(crate) fn format_source(name: &str, text: &str) -> Result<String, String> {
    let parsed = crate::syntax::parser::parse(text, 0);
    if parsed.diagnostics.iter().any(Diagnostic::is_error) {
        let mut sources = SourceMap::new();
        sources.add(name, text);
        let color = super::ColorChoice::Auto.enabled(std::io::stderr().is_terminal());
        return Err(diagnostics::render(&sources, &parsed.diagnostics, color));
    }
    let formatted = crate::format::format(&parsed.file, &parsed.comments, text, 0);
    // Never write what does not parse back: that would lose the author's work.
    let again = crate::syntax::parser::parse(&formatted, 0);
    if again.diagnostics.iter().any(Diagnostic::is_error)
        || again.comments.len() != parsed.comments.len()
    {
        return Err(format!(
            "error: internal formatter error on `{name}`: the result would not parse the same; the file is left as it is\n"
        ));
    }
    Ok(formatted)
}

pub(crate) fn run(args: &FmtArgs) -> ExitCode {
    if args.paths.len() == 1 && args.paths[0].as_os_str() == "-" {
        return stdin_to_stdout();
    }
    let files = match super::collect_policy_files(&args.paths) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let (mut changed, mut failed) = (0usize, 0usize);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in &files {
        match format_file(file, args.check, &mut out) {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(message) => {
                eprint!("{message}");
                failed += 1;
            }
        }
    }
    let verb = if args.check {
        "would change"
    } else {
        "changed"
    };
    eprintln!(
        "{} file(s): {changed} {verb}{}",
        files.len(),
        if failed > 0 {
            format!(", {failed} not formatted")
        } else {
            String::new()
        }
    );
    if failed > 0 || (args.check && changed > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Formats one file; `Ok(true)` when it changed (or would).
fn format_file(path: &Path, check: bool, out: &mut impl Write) -> Result<bool, String> {
    let name = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("error: cannot read `{name}`: {e}\n"))?;
    let formatted = format_source(&name, &text)?;
    if formatted == text {
        return Ok(false);
    }
    if check {
        let diff = similar::TextDiff::from_lines(&text, &formatted);
        let _ = write!(
            out,
            "{}",
            diff.unified_diff()
                .context_radius(2)
                .header(&name, &format!("{name} (formatted)"))
        );
        return Ok(true);
    }
    super::write_atomically(path, formatted.as_bytes())
        .map_err(|e| format!("error: cannot write `{name}`: {e}\n"))?;
    Ok(true)
}

fn stdin_to_stdout() -> ExitCode {
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("error: cannot read standard input: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    match format_source("<stdin>", &text) {
        Ok(formatted) => {
            print!("{formatted}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprint!("{message}");
            ExitCode::from(1)
        }
    }
}
