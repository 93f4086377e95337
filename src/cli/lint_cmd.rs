//! `bylaw lint`: the lint rules over policies that check.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{ColorChoice, EXIT_USAGE};
use crate::diagnostics::{self, Diagnostic, Severity};
use crate::lint::{self, Config, Level};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LintFormat {
    /// Rendered for people, with source excerpts (`human` is accepted too).
    #[value(alias = "human")]
    Text,
    /// One JSON document, as `bylaw check --format json`.
    Json,
    /// SARIF 2.1.0, for code-scanning services.
    Sarif,
}

#[derive(Debug, Args)]
pub(crate) struct LintArgs {
    /// Policy files, or directories searched for `*.bylaw` files.
    #[arg(value_name = "FILE|DIR", required_unless_present_any = ["list", "explain"])]
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = LintFormat::Text)]
    format: LintFormat,
    /// Rule levels from this file's `[lint]` table; default: `./bylaw.toml` if present.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Report RULE as an error (repeatable).
    #[arg(long, value_name = "RULE")]
    deny: Vec<String>,
    /// Report RULE as a warning (repeatable).
    #[arg(long, value_name = "RULE")]
    warn: Vec<String>,
    /// Turn RULE off (repeatable).
    #[arg(long, value_name = "RULE")]
    allow: Vec<String>,
    /// Exit 1 on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// List every rule with its default level.
    #[arg(long)]
    list: bool,
    /// Print a rule's documentation.
    #[arg(long, value_name = "RULE")]
    explain: Option<String>,
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

fn config(args: &LintArgs) -> Result<Config, String> {
    let path = match &args.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from("bylaw.toml")).filter(|p| p.is_file()),
    };
    let mut config = match path {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            Config::from_toml(&text).map_err(|e| format!("`{}`: {e}", path.display()))?
        }
        None => Config::default(),
    };
    for (ids, level) in [
        (&args.allow, Level::Off),
        (&args.warn, Level::Warning),
        (&args.deny, Level::Error),
    ] {
        for id in ids {
            config.set(id, level)?;
        }
    }
    Ok(config)
}

pub(crate) fn run(args: &LintArgs) -> ExitCode {
    let mut out = std::io::stdout().lock();
    if args.list {
        for doc in lint::docs() {
            let level = format!("{:?}", doc.level).to_lowercase();
            let _ = writeln!(
                out,
                "{} {:<28} {:<8} {}",
                doc.code.code(),
                doc.id(),
                level,
                doc.what
            );
        }
        return ExitCode::SUCCESS;
    }
    if let Some(id) = &args.explain {
        return match lint::rule(id) {
            Some(doc) => {
                let _ = writeln!(
                    out,
                    "{} {}\n\n{}\n\nWhy: {}\n\nReported:\n\n{}\n\nBetter:\n\n{}",
                    doc.code.code(),
                    doc.id(),
                    doc.what,
                    doc.why,
                    doc.bad,
                    doc.good
                );
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("error: no lint rule `{id}` (see `bylaw lint --list`)");
                ExitCode::from(EXIT_USAGE)
            }
        };
    }
    let config = match config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let files = match super::collect_policy_files(&args.paths) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let color = args.color.enabled(std::io::stderr().is_terminal());
    let mut sources = crate::source::SourceMap::new();
    let mut all: Vec<Diagnostic> = Vec::new();
    let mut stderr = std::io::stderr().lock();
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", file.display());
                return ExitCode::from(EXIT_USAGE);
            }
        };
        let loader = match crate::modules::Loader::for_policy(file) {
            Ok(loader) => loader,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        };
        let (checked_sources, diags) =
            lint_source(&file.display().to_string(), &text, &config, &loader);
        if args.format == LintFormat::Text {
            let _ =
                stderr.write_all(diagnostics::render(&checked_sources, &diags, color).as_bytes());
        }
        // One source map for the JSON and SARIF positions of every file (and of the
        // modules they use, where a problem may be).
        let moved: Vec<(u32, u32, u32)> = checked_sources
            .files()
            .iter()
            .map(|f| {
                (
                    f.base,
                    f.end(),
                    sources.add(f.name.clone(), f.text.as_str()),
                )
            })
            .collect();
        all.extend(diags.into_iter().map(|mut d| {
            for l in &mut d.labels {
                if let Some((from, _, to)) = moved
                    .iter()
                    .find(|(from, end, _)| *from <= l.span.start && l.span.start <= *end)
                {
                    l.span = crate::syntax::span::Span::new(
                        l.span.start - from + to,
                        l.span.end - from + to,
                    );
                }
            }
            d
        }));
    }
    let errors = all.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = all.len() - errors;
    match args.format {
        LintFormat::Text => {
            let _ = writeln!(
                stderr,
                "linted {} file(s): {errors} error(s), {warnings} warning(s)",
                files.len()
            );
        }
        LintFormat::Json => {
            let doc = serde_json::json!({
                "files": files.len(),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": diagnostics::to_json(&sources, &all),
            });
            let _ = writeln!(out, "{doc}");
        }
        LintFormat::Sarif => {
            let _ = writeln!(out, "{}", diagnostics::to_sarif(&sources, &all));
        }
    }
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Checks and lints one source: the checker's diagnostics, then (when it checks) the
/// lints, all with spans from offset 0 of this file.
pub(crate) fn lint_source(
    name: &str,
    text: &str,
    config: &Config,
    loader: &crate::modules::Loader,
) -> (crate::source::SourceMap, Vec<Diagnostic>) {
    let checked = crate::check_source_with(name, text, loader);
    let mut diags = checked.diagnostics.clone();
    if let (Some(program), false) = (&checked.program, checked.has_errors()) {
        diags.extend(
            lint::run(program, &checked.file, text, 0, config)
                .into_iter()
                .map(|l| l.diagnostic),
        );
    }
    diagnostics::sort(&mut diags);
    (checked.sources, diags)
}
