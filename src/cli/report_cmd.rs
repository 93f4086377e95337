//! `bylaw report`: the compliance matrix of a policy, as Markdown or one HTML file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};

use super::EXIT_USAGE;
use super::policy_file::{LoadError, load_policy};
use crate::guard::{Engine, Guard};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    Md,
    Html,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The policy file, or a bundle (`bylaw bundle`).
    policy: PathBuf,
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    format: ReportFormat,
    /// Write the report here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(crate) fn run(args: &ReportArgs) -> ExitCode {
    let policy = match load_policy(&args.policy) {
        Ok(p) => p,
        Err(LoadError::Unreadable) => return ExitCode::from(EXIT_USAGE),
        Err(LoadError::Rejected) => return ExitCode::from(1),
    };
    // The interpreter: the report needs no native code, only the tests' decisions.
    let guard = match Guard::new(Arc::new(policy), Engine::Interpreter) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let results = crate::testing::run_tests(&guard);
    let mut matrix = crate::report::matrix(guard.policy(), &results)
        .with_assertions(&crate::verify::verify(&guard));
    matrix.generated_at = Some(
        jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now())
            .to_string(),
    );
    let text = match args.format {
        ReportFormat::Md => crate::report::markdown(&matrix),
        ReportFormat::Html => crate::report::html(&matrix),
        ReportFormat::Json => serde_json::to_string_pretty(&matrix).unwrap_or_default() + "\n",
    };
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("error: cannot write `{}`: {e}", path.display());
                return ExitCode::from(EXIT_USAGE);
            }
            eprintln!(
                "{}: {} of {} articles exercised by tests",
                path.display(),
                matrix.tested(),
                matrix.article_count()
            );
        }
        None => print!("{text}"),
    }
    ExitCode::SUCCESS
}
