//! `bylaw check`: the front end over files and directories.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{ColorChoice, EXIT_USAGE, Format};
use crate::diagnostics::{self, Severity};

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Policy files, or directories searched for `*.bylaw` files.
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
    /// Output format for diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// When to use colour in human output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

pub(crate) fn run(args: &CheckArgs) -> ExitCode {
    let files = match super::collect_policy_files(&args.paths) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let color = args.color.enabled(std::io::stderr().is_terminal());
    let mut errors = 0usize;
    let mut warnings = 0usize;
    let mut json_items = Vec::new();
    let mut stderr = std::io::stderr().lock();
    for file in &files {
        let checked = match crate::check_file(file) {
            Ok(checked) => checked,
            Err(e) => {
                let _ = writeln!(stderr, "error: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        };
        errors += checked
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        warnings += checked
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count();
        match args.format {
            Format::Text => {
                let _ = stderr.write_all(
                    diagnostics::render(&checked.sources, &checked.diagnostics, color).as_bytes(),
                );
            }
            Format::Json => {
                if let serde_json::Value::Array(items) =
                    diagnostics::to_json(&checked.sources, &checked.diagnostics)
                {
                    json_items.extend(items);
                }
            }
        }
    }
    match args.format {
        Format::Text => {
            let _ = writeln!(
                stderr,
                "checked {} {}: {errors} {}, {warnings} {}",
                files.len(),
                plural(files.len(), "file", "files"),
                plural(errors, "error", "errors"),
                plural(warnings, "warning", "warnings"),
            );
        }
        Format::Json => {
            let doc = serde_json::json!({
                "files": files.len(),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": json_items,
            });
            println!("{doc}");
        }
    }
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}
