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
}

pub(crate) fn run(args: &IrArgs) -> ExitCode {
    match load_policy(&args.policy) {
        Ok(policy) => {
            print!("{}", crate::ir::print(&policy.ir));
            ExitCode::SUCCESS
        }
        Err(LoadError::Unreadable) => ExitCode::from(EXIT_USAGE),
        Err(LoadError::Rejected) => ExitCode::from(1),
    }
}
