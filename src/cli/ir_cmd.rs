//! `bylaw ir`: print a policy's IR.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::EXIT_USAGE;
use super::policy_file::{LoadError, load_policy};

#[derive(Debug, Args)]
pub(crate) struct IrArgs {
    /// The policy file, or a bundle (`bylaw bundle`).
    policy: PathBuf,
    /// Instead of the IR, say which rules the compiled guard reaches through an index
    /// (the field it reads and the rules under each of its values) and why each other
    /// rule is evaluated for every request.
    #[arg(long)]
    explain_index: bool,
}

pub(crate) fn run(args: &IrArgs) -> ExitCode {
    match load_policy(&args.policy) {
        Ok(policy) => {
            if args.explain_index {
                let index = crate::ir::index::RuleIndex::plan(&policy.ir);
                print!("{}", crate::ir::index::explain(&policy.ir, &index));
            } else {
                print!("{}", crate::ir::print(&policy.ir));
            }
            ExitCode::SUCCESS
        }
        Err(LoadError::Unreadable) => ExitCode::from(EXIT_USAGE),
        Err(LoadError::Rejected) => ExitCode::from(1),
    }
}
