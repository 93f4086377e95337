//! `bylaw verify`: prove each `assert` of policies for every valid request, or print a
//! request that breaks it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::EXIT_USAGE;
use super::policy_file::{EngineChoice, LoadError, load_guard};
use crate::verify::{Checked, Verdict};

/// Exit code when no assertion is refuted but some are neither proved nor refuted.
const EXIT_UNKNOWN: u8 = 3;

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Policy files, or directories searched for `*.bylaw` files.
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
    /// How to print the results.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Default)]
struct Totals {
    proved: usize,
    refuted: usize,
    unknown: usize,
    broken: usize,
}

pub(crate) fn run(args: &VerifyArgs) -> ExitCode {
    let files = match super::collect_policy_files(&args.paths) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut totals = Totals::default();
    let mut json_results = Vec::new();
    for file in &files {
        let guard = match load_guard(file, EngineChoice::Interp) {
            Ok(guard) => guard,
            Err(LoadError::Unreadable) => return ExitCode::from(EXIT_USAGE),
            Err(LoadError::Rejected) => {
                if args.format == Format::Text {
                    println!("{}: does not compile", file.display());
                }
                totals.broken += 1;
                continue;
            }
        };
        let results = crate::verify::verify(&guard);
        for r in &results {
            match r.verdict {
                Verdict::Proved => totals.proved += 1,
                Verdict::Refuted(_) => totals.refuted += 1,
                Verdict::Unknown(_) => totals.unknown += 1,
            }
        }
        match args.format {
            Format::Text => print_text(file, &results),
            Format::Json => json_results.extend(results.iter().map(|r| as_json(file, r))),
        }
    }
    match args.format {
        Format::Text => {
            let n = totals.proved + totals.refuted + totals.unknown;
            println!(
                "{n} {}: {} proved, {} refuted, {} unknown",
                if n == 1 { "assertion" } else { "assertions" },
                totals.proved,
                totals.refuted,
                totals.unknown
            );
        }
        Format::Json => {
            let out = serde_json::to_string_pretty(&json_results).unwrap_or_default();
            println!("{out}");
        }
    }
    if totals.refuted > 0 || totals.broken > 0 {
        ExitCode::from(1)
    } else if totals.unknown > 0 {
        ExitCode::from(EXIT_UNKNOWN)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_text(file: &Path, results: &[Checked]) {
    println!(
        "{}: {} {}",
        file.display(),
        results.len(),
        if results.len() == 1 {
            "assertion"
        } else {
            "assertions"
        }
    );
    for r in results {
        match &r.verdict {
            Verdict::Proved => println!("  proved   {}", r.name),
            Verdict::Unknown(why) => {
                println!("  unknown  {} (line {})", r.name, r.line);
                println!("           {why}");
            }
            Verdict::Refuted(c) => {
                println!("  REFUTED  {} (line {})", r.name, r.line);
                println!(
                    "           expected {}, but this request is decided {}{}:",
                    c.broken,
                    describe_decision(&c.decision),
                    if c.degraded {
                        " (with the service degraded)"
                    } else {
                        ""
                    }
                );
                let request = serde_json::to_string(&c.request).unwrap_or_default();
                println!("           {request}");
                for reason in &c.decision.reasons {
                    println!("           - {} (line {})", reason.message, reason.line);
                }
            }
        }
    }
}

/// `deny, tier high, duties keep_logs, human_oversight`.
fn describe_decision(d: &crate::runtime::decision::Decision) -> String {
    let mut text = d.outcome.as_str().to_string();
    if let Some(tier) = &d.tier {
        text.push_str(&format!(", tier {tier}"));
    }
    if !d.duties.is_empty() {
        let ids: Vec<&str> = d.duties.iter().map(|d| d.id.as_str()).collect();
        text.push_str(&format!(", duties {}", ids.join(", ")));
    }
    text
}

fn as_json(file: &Path, r: &Checked) -> serde_json::Value {
    let mut v = json!({
        "file": file.display().to_string(),
        "assertion": r.name,
        "line": r.line,
    });
    match &r.verdict {
        Verdict::Proved => v["verdict"] = json!("proved"),
        Verdict::Unknown(why) => {
            v["verdict"] = json!("unknown");
            v["reason"] = json!(why);
        }
        Verdict::Refuted(c) => {
            v["verdict"] = json!("refuted");
            v["expected"] = json!(c.broken);
            v["request"] = c.request.clone();
            v["degraded"] = json!(c.degraded);
            v["decision"] = serde_json::to_value(&c.decision).unwrap_or_default();
        }
    }
    v
}
