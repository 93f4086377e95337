//! `bylaw build`: a policy as an enforcement module — an object file or a shared
//! library with a C header, for services in any language. No JIT at run time.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::EXIT_USAGE;
use super::policy_file::{LoadError, load_policy};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("output").required(true).args(["object", "shared"])))]
pub(crate) struct BuildArgs {
    /// The policy file, or a bundle (`bylaw bundle`).
    policy: PathBuf,
    /// Write a relocatable object file to link into a program.
    #[arg(short = 'o', long = "output", value_name = "guard.o")]
    object: Option<PathBuf>,
    /// Write a shared library, linked with the system C compiler (`$CC`, else `cc`).
    #[arg(long, value_name = "guard.so")]
    shared: Option<PathBuf>,
    /// Where to write the C header (default: `guard.h` beside the output).
    #[arg(long, value_name = "guard.h")]
    header: Option<PathBuf>,
}

pub(crate) fn run(args: &BuildArgs) -> ExitCode {
    let policy = match load_policy(&args.policy) {
        Ok(policy) => policy,
        Err(LoadError::Unreadable) => return ExitCode::from(EXIT_USAGE),
        Err(LoadError::Rejected) => return ExitCode::from(1),
    };
    let output = args
        .object
        .as_ref()
        .or(args.shared.as_ref())
        .cloned()
        .unwrap_or_default();
    let header = args
        .header
        .clone()
        .unwrap_or_else(|| output.parent().unwrap_or(Path::new(".")).join("guard.h"));
    match crate::cmodule::write_module(&policy.ir, &output, &header, args.shared.is_some()) {
        Ok(()) => {
            eprintln!("wrote {} and {}", output.display(), header.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}
