//! `bylaw test`: run the `test` blocks of policies.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::EXIT_USAGE;
use super::policy_file::{EngineChoice, LoadError, load_guard};

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// Policy files, or directories searched for `*.bylaw` files.
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
    /// Which engine decides.
    #[arg(long, value_enum, default_value_t = EngineChoice::Jit)]
    engine: EngineChoice,
}

pub(crate) fn run(args: &TestArgs) -> ExitCode {
    let files = match super::collect_policy_files(&args.paths) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    for file in &files {
        let guard = match load_guard(file, args.engine) {
            Ok(guard) => guard,
            Err(LoadError::Unreadable) => return ExitCode::from(EXIT_USAGE),
            Err(LoadError::Rejected) => {
                println!("{}: does not compile", file.display());
                broken += 1;
                continue;
            }
        };
        let results = crate::testing::run_tests(&guard);
        println!(
            "{}: {} {}",
            file.display(),
            results.len(),
            if results.len() == 1 { "test" } else { "tests" }
        );
        for result in results {
            if result.passed() {
                passed += 1;
                println!("  ok      {}", result.name);
            } else {
                failed += 1;
                println!("  FAILED  {} (line {})", result.name, result.line);
                for failure in &result.failures {
                    println!("          {failure}");
                }
            }
        }
    }
    if broken > 0 {
        println!(
            "{broken} {} did not compile",
            if broken == 1 { "file" } else { "files" }
        );
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || broken > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
