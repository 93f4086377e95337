//! `bylaw audit`: read, verify and purge the hash-chained audit log of a state store.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::EXIT_USAGE;
use super::policy_file::moment;
use crate::governance::store::Store;

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// The state store.
    #[arg(long, env = "BYLAW_STATE", value_name = "FILE", global = true)]
    state: Option<PathBuf>,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check every record's hash and link; exits 1 if a record was changed or is missing.
    Verify,
    /// Print records as JSON lines.
    Log {
        /// The first sequence number.
        #[arg(long, default_value_t = 1)]
        from: u64,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Only records of this kind (`decision`, `service_changed`, `trigger_fired`…).
        #[arg(long)]
        kind: Option<String>,
    },
    /// Remove the bodies of decisions whose retention is over (their hashes stay, so
    /// the chain still verifies).
    Purge {
        /// Purge as of this time (RFC 3339); default now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
}

pub(crate) fn run(args: &AuditArgs) -> ExitCode {
    let Some(path) = &args.state else {
        eprintln!("error: name the state store with --state FILE (or BYLAW_STATE)");
        return ExitCode::from(EXIT_USAGE);
    };
    if !path.exists() {
        eprintln!("error: no state store at `{}`", path.display());
        return ExitCode::from(EXIT_USAGE);
    }
    let store = match Store::open(path) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match &args.command {
        AuditCommand::Verify => match store.verify() {
            Ok(check) => {
                for problem in &check.problems {
                    let _ = writeln!(out, "BROKEN: {problem}");
                }
                let _ = writeln!(
                    out,
                    "{} record(s), {} purged, head {}: {}",
                    check.records,
                    check.purged,
                    check.head,
                    if check.problems.is_empty() {
                        "the chain verifies"
                    } else {
                        "the chain is BROKEN"
                    }
                );
                return if check.problems.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                };
            }
            Err(e) => Err(e.to_string()),
        },
        AuditCommand::Log { from, limit, kind } => store
            .each_record(*from, *limit, |r| {
                if kind.as_ref().is_some_and(|k| *k != r.kind) {
                    return true;
                }
                serde_json::to_writer(&mut out, &r).is_ok() && writeln!(out).is_ok()
            })
            .map_err(|e| e.to_string()),
        AuditCommand::Purge { at } => match moment(at.as_deref()) {
            Ok(now) => store.purge(now).map_err(|e| e.to_string()).map(|n| {
                let _ = writeln!(out, "purged {n} record(s) whose retention ended by {now}");
            }),
            Err(e) => Err(format!("--at: {e}")),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
