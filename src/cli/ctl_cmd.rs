//! `bylaw ctl`: the operator's commands — the kill switch, recovery approvals, blocks
//! and reports — against a state store.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use super::EXIT_USAGE;
use super::policy_file::{EngineChoice, LoadError, load_governor, moment};
use crate::governance::clock::Timestamp;
use crate::governance::replay::Command;
use crate::governance::{Event, GovernError, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct CtlArgs {
    /// The policy whose services the store governs.
    #[arg(long, env = "BYLAW_POLICY", value_name = "FILE")]
    policy: PathBuf,
    /// The state store (created if missing).
    #[arg(long, env = "BYLAW_STATE", value_name = "FILE")]
    state: PathBuf,
    /// Act as if it were this time (RFC 3339), for drills and simulations; default now.
    #[arg(long, value_name = "TIME", global = true)]
    at: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, global = true)]
    format: OutputFormat,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// Every service's state, the active blocks and the reports.
    Status,
    /// The kill switch: suspend a service until an operator resumes it.
    Suspend {
        service: String,
        /// Why; recorded in the audit log.
        #[arg(long)]
        reason: String,
        /// Who; default: $USER.
        #[arg(long)]
        by: Option<String>,
    },
    /// Restore a degraded service, or release a held suspension into its recovery
    /// (cooldown, approvals, ramp).
    Resume {
        service: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Approve a service's recovery. Each `approve by` of the policy needs a different
    /// person.
    Approve {
        service: String,
        /// The approver's name.
        #[arg(long)]
        by: String,
        /// The role approved for; default: the first one still pending.
        #[arg(long)]
        role: Option<String>,
    },
    /// The reports triggers opened; open ones only unless `--all`.
    Reports {
        #[arg(long)]
        all: bool,
    },
    /// Mark a report filed.
    File {
        report: u64,
        #[arg(long)]
        by: Option<String>,
    },
    /// Deny every request whose FIELD is KEY, for a while.
    Block {
        field: String,
        key: String,
        /// How long: `30m`, `24h`, `7d`.
        #[arg(long = "for", value_name = "DURATION")]
        for_: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        by: Option<String>,
    },
    /// Lift a block.
    Unblock {
        field: String,
        key: String,
        #[arg(long)]
        by: Option<String>,
    },
}

fn who(by: &Option<String>) -> String {
    by.clone()
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "operator".into())
}

impl CtlCommand {
    /// The command as the runtime takes it; `None` for the read-only ones.
    fn to_command(&self) -> Option<Command> {
        Some(match self {
            CtlCommand::Status | CtlCommand::Reports { .. } => return None,
            CtlCommand::Suspend {
                service,
                reason,
                by,
            } => Command::Suspend {
                service: service.clone(),
                by: who(by),
                reason: reason.clone(),
            },
            CtlCommand::Resume { service, by } => Command::Resume {
                service: service.clone(),
                by: who(by),
            },
            CtlCommand::Approve { service, by, role } => Command::Approve {
                service: service.clone(),
                by: by.clone(),
                role: role.clone(),
            },
            CtlCommand::File { report, by } => Command::File {
                report: *report,
                by: who(by),
            },
            CtlCommand::Block {
                field,
                key,
                for_,
                reason,
                by,
            } => Command::Block {
                field: field.clone(),
                key: key.clone(),
                for_: for_.clone(),
                by: who(by),
                reason: reason.clone(),
            },
            CtlCommand::Unblock { field, key, by } => Command::Unblock {
                field: field.clone(),
                key: key.clone(),
                by: who(by),
            },
        })
    }
}

/// A command at a time before the newest audit record would write history out of
/// order: refused.
fn not_before_the_log(
    governor: &crate::governance::Governor,
    now: Timestamp,
) -> Result<(), GovernError> {
    let Some(store) = governor.store() else {
        return Ok(());
    };
    match store.latest_at().map_err(GovernError::Store)? {
        Some(latest) if now < latest => Err(GovernError::Refused(format!(
            "--at {now} is before the newest audit record ({latest}): the log's times never go back"
        ))),
        _ => Ok(()),
    }
}

pub(crate) fn run(args: &CtlArgs) -> ExitCode {
    let now = match moment(args.at.as_deref()) {
        Ok(now) => now,
        Err(e) => {
            eprintln!("error: --at: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let governor = match load_governor(&args.policy, EngineChoice::Interp, Some(&args.state)) {
        Ok(g) => g,
        Err(LoadError::Unreadable) => return ExitCode::from(EXIT_USAGE),
        Err(LoadError::Rejected) => return ExitCode::from(1),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match args.command.to_command() {
        Some(command) => not_before_the_log(&governor, now).and_then(|()| {
            command
                .apply(&governor, now)
                .map(|events| print_events(&mut out, args.format, &events))
        }),
        // Queries read; they never write the store.
        None => {
            let status = governor.view(now);
            Ok(match &args.command {
                CtlCommand::Reports { all } => print_reports(&mut out, args.format, &status, *all),
                _ => match args.format {
                    OutputFormat::Text => print_status(&mut out, &status),
                    OutputFormat::Json => json_line(&mut out, &status),
                },
            })
        }
    };
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(e @ GovernError::Store(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: refused: {e}");
            ExitCode::from(1)
        }
    }
}

fn json_line(out: &mut impl Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(std::io::Error::other)?;
    writeln!(out)
}

fn print_events(
    out: &mut impl Write,
    format: OutputFormat,
    events: &[Event],
) -> std::io::Result<()> {
    for event in events {
        match format {
            OutputFormat::Text => writeln!(out, "{}  {}", event.at, event.what.describe())?,
            OutputFormat::Json => json_line(out, event)?,
        }
    }
    Ok(())
}

fn print_reports(
    out: &mut impl Write,
    format: OutputFormat,
    status: &Status,
    all: bool,
) -> std::io::Result<()> {
    let reports: Vec<_> = status
        .reports
        .iter()
        .filter(|r| all || r.filed.is_none())
        .collect();
    if format == OutputFormat::Json {
        return json_line(out, &reports);
    }
    if reports.is_empty() {
        return writeln!(out, "no {}reports", if all { "" } else { "open " });
    }
    for r in reports {
        let state = match &r.filed {
            Some(f) => format!("filed by {} at {}", f.by, f.at),
            None if r.due <= status.at => format!("OVERDUE since {}", r.due),
            None => format!("open, due {}", r.due),
        };
        let key = r
            .key
            .as_ref()
            .map(|k| format!(" for \"{k}\""))
            .unwrap_or_default();
        writeln!(
            out,
            "report {}: to \"{}\" (trigger {}{key}), opened {}: {state}",
            r.id, r.recipient, r.trigger, r.opened
        )?;
    }
    Ok(())
}

/// The state for people: services, blocks, open reports.
pub(crate) fn print_status(out: &mut impl Write, status: &Status) -> std::io::Result<()> {
    writeln!(out, "at {}", status.at)?;
    for s in &status.services {
        writeln!(out, "service {}: {}", s.name, s.label)?;
    }
    for b in &status.blocks {
        writeln!(
            out,
            "blocked {} \"{}\" until {} ({})",
            b.field, b.key, b.until, b.cause
        )?;
    }
    let open = status.reports.iter().filter(|r| r.filed.is_none()).count();
    writeln!(out, "{open} open report(s)")
}
