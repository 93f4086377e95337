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
    /// The reports triggers opened: open ones (not yet filed) unless `--all`; only
    /// those past their deadline with `--overdue`.
    Reports {
        #[arg(long, conflicts_with = "overdue")]
        all: bool,
        #[arg(long)]
        overdue: bool,
    },
    /// Acknowledge a report: someone is on it.
    Acknowledge {
        report: u64,
        #[arg(long)]
        by: Option<String>,
    },
    /// Mark a report filed (sent to its recipient); acknowledges it too if nobody had.
    File {
        report: u64,
        #[arg(long)]
        by: Option<String>,
    },
    /// Close a filed report.
    Close {
        report: u64,
        #[arg(long)]
        by: Option<String>,
    },
    /// Post an event of KIND, its fields as `--PATH VALUE` pairs typed by the policy's
    /// `event KIND { … }`: `bylaw ctl event incident --id inc-7 --severity serious
    /// --aware_at 2026-12-01T09:00:00Z`. A set's members are separated by commas.
    Event {
        kind: String,
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "--PATH VALUE"
        )]
        fields: Vec<String>,
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
            CtlCommand::Status | CtlCommand::Reports { .. } | CtlCommand::Event { .. } => {
                return None;
            }
            CtlCommand::Acknowledge { report, by } => Command::Acknowledge {
                report: *report,
                by: who(by),
            },
            CtlCommand::Close { report, by } => Command::Close {
                report: *report,
                by: who(by),
            },
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
    if let CtlCommand::Event { kind, fields } = &args.command {
        return post_event(&governor, kind, fields, now, args.format, &mut out);
    }
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
                CtlCommand::Reports { all, overdue } => {
                    let which = match (all, overdue) {
                        (true, _) => Which::All,
                        (_, true) => Which::Overdue,
                        _ => Which::Open,
                    };
                    print_reports(&mut out, args.format, &status, which)
                }
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

/// Which reports `bylaw ctl reports` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Open,
    Overdue,
    All,
}

fn print_reports(
    out: &mut impl Write,
    format: OutputFormat,
    status: &Status,
    which: Which,
) -> std::io::Result<()> {
    let reports: Vec<_> = status
        .reports
        .iter()
        .filter(|r| match which {
            Which::Open => r.is_open(),
            Which::Overdue => r.is_overdue(status.at),
            Which::All => true,
        })
        .collect();
    if format == OutputFormat::Json {
        return json_line(out, &reports);
    }
    if reports.is_empty() {
        let what = match which {
            Which::Open => "open ",
            Which::Overdue => "overdue ",
            Which::All => "",
        };
        return writeln!(out, "no {what}reports");
    }
    for r in reports {
        let state = match (&r.closed, &r.filed, &r.acknowledged) {
            (Some(c), _, _) => format!("closed by {} at {}", c.by, c.at),
            (None, Some(f), _) => format!("filed by {} at {}", f.by, f.at),
            _ if r.is_overdue(status.at) => format!("OVERDUE since {}", r.due),
            (None, None, Some(a)) => format!("acknowledged by {}, due {}", a.by, r.due),
            (None, None, None) => format!("open, due {}", r.due),
        };
        let key = r
            .key
            .as_ref()
            .map(|k| format!(" for \"{k}\""))
            .unwrap_or_default();
        let about = r
            .event
            .as_ref()
            .map(|e| format!(" about {} \"{}\"", e.kind, e.id))
            .unwrap_or_default();
        writeln!(
            out,
            "report {}: to \"{}\"{about} (trigger {}{key}), opened {}: {state}",
            r.id, r.recipient, r.trigger, r.opened
        )?;
    }
    Ok(())
}

/// `bylaw ctl event KIND --PATH VALUE…`: the body built from the pairs, typed by the
/// kind's schema, then posted as the server would post it.
fn post_event(
    governor: &crate::governance::Governor,
    kind: &str,
    fields: &[String],
    now: Timestamp,
    format: OutputFormat,
    out: &mut impl Write,
) -> ExitCode {
    let body = governor
        .event_schema(kind)
        .ok_or_else(|| {
            let known = governor.event_kinds().join(", ");
            let known = if known.is_empty() {
                "none".into()
            } else {
                known
            };
            format!("the policy declares no event `{kind}` (events: {known})")
        })
        .and_then(|schema| event_body(schema, fields));
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Err(e) = not_before_the_log(governor, now) {
        eprintln!("error: refused: {e}");
        return ExitCode::from(1);
    }
    match governor.post_event(kind, body.to_string().as_bytes(), now) {
        Ok(posted) => {
            let written = match format {
                OutputFormat::Json => json_line(out, &posted),
                OutputFormat::Text if posted.duplicate => writeln!(
                    out,
                    "event {kind} \"{}\" was already posted: not counted again",
                    posted.id
                ),
                OutputFormat::Text => print_events(out, format, &posted.events),
            };
            match written {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// `["--id", "inc-7", "--user.id", "u-1"]` → `{"id": "inc-7", "user": {"id": "u-1"}}`,
/// each value typed by its field (numbers and booleans as JSON's, sets split at commas).
fn event_body(schema: &[crate::ir::Field], pairs: &[String]) -> Result<serde_json::Value, String> {
    use crate::ir::FieldType;
    let mut body = serde_json::Map::new();
    let mut rest = pairs.iter();
    while let Some(flag) = rest.next() {
        let Some(path) = flag.strip_prefix("--") else {
            return Err(format!("`{flag}`: fields are given as `--PATH VALUE`"));
        };
        let Some(field) = schema.iter().find(|f| f.path == path) else {
            let known: Vec<&str> = schema.iter().map(|f| f.path.as_str()).collect();
            return Err(format!(
                "the event has no field `{path}` (fields: {})",
                known.join(", ")
            ));
        };
        let Some(text) = rest.next() else {
            return Err(format!("`--{path}` needs a value"));
        };
        let number = |text: &str| {
            serde_json::from_str::<serde_json::Number>(text)
                .map(serde_json::Value::Number)
                .map_err(|_| format!("`--{path}`: `{text}` is not a number"))
        };
        let value = match field.ty {
            FieldType::Bool => match text.as_str() {
                "true" => serde_json::Value::Bool(true),
                "false" => serde_json::Value::Bool(false),
                _ => return Err(format!("`--{path}`: `{text}` is not true or false")),
            },
            FieldType::Int | FieldType::Float | FieldType::Duration | FieldType::Percent => {
                number(text)?
            }
            FieldType::EnumSet(_) | FieldType::StrSet => serde_json::Value::Array(
                text.split(',')
                    .filter(|m| !m.is_empty())
                    .map(|m| serde_json::Value::String(m.trim().to_string()))
                    .collect(),
            ),
            FieldType::Str | FieldType::Timestamp | FieldType::Enum(_) => {
                serde_json::Value::String(text.clone())
            }
        };
        insert_path(&mut body, &field.segments, value)?;
    }
    Ok(serde_json::Value::Object(body))
}

fn insert_path(
    object: &mut serde_json::Map<String, serde_json::Value>,
    segments: &[String],
    value: serde_json::Value,
) -> Result<(), String> {
    match segments {
        [] => Ok(()),
        [last] => {
            if object.insert(last.clone(), value).is_some() {
                return Err(format!("`{last}` is given twice"));
            }
            Ok(())
        }
        [head, tail @ ..] => {
            let inner = object
                .entry(head.clone())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            match inner {
                serde_json::Value::Object(inner) => insert_path(inner, tail, value),
                _ => Err(format!("`{head}` is both a value and an object")),
            }
        }
    }
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
    let (open, overdue) = crate::governance::reports::open_and_overdue(&status.reports, status.at);
    match overdue {
        0 => writeln!(out, "{open} open report(s)"),
        n => writeln!(out, "{open} open report(s), {n} overdue"),
    }
}
