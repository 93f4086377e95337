//! `bylaw replay`: run timestamped traffic through the whole stateful pipeline on a
//! simulated clock and print the timeline of triggers, actions and state changes.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::EXIT_USAGE;
use super::policy_file::{EngineChoice, LoadError, load_governor};
use crate::governance::replay::{Replay, Step};
use crate::governance::{Event, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TimelineFormat {
    /// One line per event, for people, then a summary.
    Text,
    /// One JSON object per line: events (with their audit sequence numbers when a
    /// state store is used), then a summary line.
    Jsonl,
}

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// The policy file.
    policy: PathBuf,
    /// Traffic as JSON lines: `{"at": TIME, "request": {…}}`, or an operator command
    /// such as `{"at": TIME, "ctl": "approve", "service": "chat", "by": "alice"}`.
    #[arg(long, value_name = "FILE.jsonl")]
    requests: PathBuf,
    /// Keep the state and audit log in this store (created if missing) instead of in
    /// memory; a later replay or `bylaw ctl` continues from it.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = TimelineFormat::Text)]
    format: TimelineFormat,
    /// Print every decision too, not only the events.
    #[arg(long)]
    decisions: bool,
    /// Which engine decides.
    #[arg(long, value_enum, default_value_t = EngineChoice::Jit)]
    engine: EngineChoice,
}

pub(crate) fn run(args: &ReplayArgs) -> ExitCode {
    let governor = match load_governor(&args.policy, args.engine, args.state.as_deref()) {
        Ok(g) => g,
        Err(LoadError::Unreadable) => return ExitCode::from(EXIT_USAGE),
        Err(LoadError::Rejected) => return ExitCode::from(1),
    };
    let reader = match std::fs::File::open(&args.requests) {
        Ok(f) => std::io::BufReader::new(f),
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", args.requests.display());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut replay = Replay::new(&governor);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut bad_lines = 0;
    let name = args.requests.display();
    for (number, line) in reader.lines().enumerate() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("error: {name}:{}: cannot read: {e}", number + 1);
                return ExitCode::from(EXIT_USAGE);
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let printed = match replay.step(&line) {
            Ok(step) => print_step(&mut out, args, &step),
            Err(message) => {
                eprintln!("error: {name}:{}: {message}", number + 1);
                bad_lines += 1;
                Ok(())
            }
        };
        // Flushed line by line: a printed event is durable (acknowledged).
        if let Err(e) = printed.and_then(|()| out.flush()) {
            return write_failed(&e);
        }
    }
    let finished = match replay.finish() {
        Ok(finished) => finished,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let result = print_events(&mut out, args.format, &finished.1)
        .and_then(|()| print_summary(&mut out, args.format, &replay, &finished.0))
        .and_then(|()| out.flush());
    if let Err(e) = result {
        return write_failed(&e);
    }
    if bad_lines > 0 {
        eprintln!("error: {bad_lines} line(s) of `{name}` could not be replayed");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn write_failed(e: &std::io::Error) -> ExitCode {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {e}");
    ExitCode::from(1)
}

fn print_step(out: &mut impl Write, args: &ReplayArgs, step: &Step) -> std::io::Result<()> {
    match step {
        Step::Decided {
            at,
            decision,
            events,
        } => {
            if args.decisions {
                match args.format {
                    TimelineFormat::Text => {
                        let service = decision
                            .service
                            .as_ref()
                            .map(|s| format!(" [{} {}]", s.name, s.state))
                            .unwrap_or_default();
                        writeln!(out, "{at}  decision {}{service}", decision.outcome.as_str())?;
                    }
                    TimelineFormat::Jsonl => {
                        let line = serde_json::json!({ "at": at, "decision": decision });
                        writeln!(out, "{line}")?;
                    }
                }
            }
            print_events(out, args.format, events)
        }
        Step::Operated {
            at,
            command,
            result,
        } => {
            match (args.format, result) {
                (TimelineFormat::Text, Err(message)) => {
                    writeln!(out, "{at}  refused: {}: {message}", command.describe())?;
                }
                (TimelineFormat::Jsonl, Err(message)) => {
                    let line = serde_json::json!({
                        "at": at,
                        "event": "refused",
                        "command": command.describe(),
                        "message": message,
                    });
                    writeln!(out, "{line}")?;
                }
                (_, Ok(events)) => print_events(out, args.format, events)?,
            }
            Ok(())
        }
        Step::Posted { at, kind, result } => match (args.format, result) {
            (TimelineFormat::Text, Err(message)) => {
                writeln!(out, "{at}  refused: event {kind}: {message}")
            }
            (TimelineFormat::Jsonl, Err(message)) => {
                let line = serde_json::json!({
                    "at": at,
                    "event": "refused",
                    "command": format!("event {kind}"),
                    "message": message,
                });
                writeln!(out, "{line}")
            }
            (TimelineFormat::Text, Ok(posted)) if posted.duplicate => {
                writeln!(
                    out,
                    "{at}  event {kind} \"{}\" again: already counted",
                    posted.id
                )
            }
            (_, Ok(posted)) => {
                if let (TimelineFormat::Text, Some(why)) = (args.format, &posted.unjudged) {
                    writeln!(out, "{at}  event {kind} \"{}\" unjudged: {why}", posted.id)?;
                }
                print_events(out, args.format, &posted.events)
            }
        },
    }
}

fn print_events(
    out: &mut impl Write,
    format: TimelineFormat,
    events: &[Event],
) -> std::io::Result<()> {
    for event in events {
        match format {
            TimelineFormat::Text => writeln!(out, "{}  {}", event.at, event.what.describe())?,
            TimelineFormat::Jsonl => {
                serde_json::to_writer(&mut *out, event).map_err(std::io::Error::other)?;
                writeln!(out)?;
            }
        }
    }
    Ok(())
}

fn print_summary(
    out: &mut impl Write,
    format: TimelineFormat,
    replay: &Replay<'_>,
    status: &Status,
) -> std::io::Result<()> {
    let summary = &replay.summary;
    match format {
        TimelineFormat::Jsonl => {
            let line = serde_json::json!({ "summary": summary, "status": status });
            writeln!(out, "{line}")
        }
        TimelineFormat::Text => {
            writeln!(out)?;
            let outcomes: Vec<String> = summary
                .outcomes
                .iter()
                .map(|(o, n)| format!("{o} {n}"))
                .collect();
            writeln!(
                out,
                "{} requests: {}",
                summary.requests,
                if outcomes.is_empty() {
                    "none".to_string()
                } else {
                    outcomes.join(", ")
                }
            )?;
            for (trigger, n) in &summary.triggers {
                writeln!(out, "trigger {trigger}: fired {n} time(s)")?;
            }
            if summary.commands > 0 {
                writeln!(
                    out,
                    "{} operator command(s), {} refused",
                    summary.commands, summary.refused
                )?;
            }
            if summary.events + summary.refused_events > 0 {
                writeln!(
                    out,
                    "{} event(s), {} refused",
                    summary.events, summary.refused_events
                )?;
            }
            super::ctl_cmd::print_status(out, status)
        }
    }
}
