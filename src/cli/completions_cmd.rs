//! `bylaw completions SHELL` and `bylaw man`: generated from the command line's own
//! definition, so they never fall out of step with it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory};

use super::{Cli, EXIT_USAGE};

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write one page per command (`bylaw.1`, `bylaw-check.1`, …) into this folder
    /// instead of printing `bylaw.1`.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub(crate) fn completions(args: &CompletionsArgs) -> ExitCode {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "bylaw", &mut std::io::stdout());
    ExitCode::SUCCESS
}

pub(crate) fn man(args: &ManArgs) -> ExitCode {
    let command = Cli::command();
    let result = match &args.out_dir {
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(command, dir))
            .map_err(|e| format!("cannot write man pages to `{}`: {e}", dir.display())),
        None => clap_mangen::Man::new(command)
            .render(&mut std::io::stdout())
            .map_err(|e| format!("cannot print the man page: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
