//! `bylaw stdlib`: the standard library's modules, embedded in the binary.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::EXIT_USAGE;

#[derive(Debug, Args)]
pub(crate) struct StdlibArgs {
    #[command(subcommand)]
    command: StdlibCommand,
}

#[derive(Debug, Subcommand)]
enum StdlibCommand {
    /// Every module, with what it encodes.
    List,
    /// Print a module's source: its schema, parameters, rules, duties, triggers, tests.
    Show {
        /// A module name, such as `std::eu::ai_act::transparency`.
        name: String,
    },
}

pub(crate) fn run(args: &StdlibArgs) -> ExitCode {
    match &args.command {
        StdlibCommand::List => {
            for module in crate::stdlib::MODULES {
                println!("{}\n    {}", module.name, module.summary());
            }
            ExitCode::SUCCESS
        }
        StdlibCommand::Show { name } => {
            let wanted = if name.starts_with("std::") {
                name.clone()
            } else {
                format!("std::{name}")
            };
            match crate::stdlib::get(&wanted) {
                Some(module) => {
                    print!("{}", module.text);
                    ExitCode::SUCCESS
                }
                None => {
                    eprintln!("error: no module `{name}` (`bylaw stdlib list` shows them all)");
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
    }
}
