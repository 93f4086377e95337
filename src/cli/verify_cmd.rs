//! `bylaw verify`: prove each `assert` of policies for every valid request, or print a
//! request that breaks it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::EXIT_USAGE;
use super::policy_file::{EngineChoice, LoadError, load_guard};
use crate::verify::questions::{Answer, Question, Subject};
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
    /// Also answer the static questions: does the policy always decide one outcome,
    /// can each rule fire, each tier be chosen, each duty apply, each `require` be met
    /// where its duty applies — each "never" proved, each "yes" with a request. A
    /// finding (always one outcome, or something that can never happen) exits 1.
    #[arg(long)]
    questions: bool,
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
    findings: usize,
    questions_unknown: usize,
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
        if args.questions {
            let asked = crate::verify::questions::ask(&guard);
            let questions = asked.questions;
            let always = crate::verify::questions::always(&questions);
            totals.findings +=
                questions.iter().filter(|q| q.is_finding()).count() + usize::from(always.is_some());
            totals.questions_unknown += questions
                .iter()
                .filter(|q| matches!(q.answer, Answer::Unknown(_)))
                .count();
            match args.format {
                Format::Text => print_questions(&questions, always, &asked.fallible),
                Format::Json => {
                    json_results.extend(always.map(|o| always_json(file, o)));
                    json_results.extend(questions.iter().map(|q| question_json(file, q)));
                }
            }
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
            if args.questions {
                println!(
                    "static questions: {} finding{}, {} unknown",
                    totals.findings,
                    if totals.findings == 1 { "" } else { "s" },
                    totals.questions_unknown
                );
            }
        }
        Format::Json => {
            let out = serde_json::to_string_pretty(&json_results).unwrap_or_default();
            println!("{out}");
        }
    }
    if totals.refuted > 0 || totals.broken > 0 || totals.findings > 0 {
        ExitCode::from(1)
    } else if totals.unknown > 0 || totals.questions_unknown > 0 {
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

/// The findings, then the unknowns; a question answered "yes" is not printed (its
/// witness is in the JSON).
fn print_questions(
    questions: &[Question],
    always: Option<crate::ast::Outcome>,
    fallible: &[String],
) {
    let asked = questions
        .iter()
        .filter(|q| !matches!(q.subject, Subject::Outcome(_)))
        .count();
    println!("  static questions: {asked} asked of rules, tiers, duties and requires");
    if let Some(o) = always {
        println!(
            "  ALWAYS   the policy decides {} for every valid request (the others: proved never)",
            o.as_str()
        );
        if !fallible.is_empty() {
            println!(
                "           of those it can judge: {} can fail, and a request that fails is denied",
                fallible.join(", ")
            );
        }
    }
    for q in questions.iter().filter(|q| q.is_finding()) {
        match q.line {
            Some(line) => println!("  NEVER    {} (line {line})", q.never_text()),
            None => println!("  NEVER    {}", q.never_text()),
        }
    }
    for q in questions {
        if let Answer::Unknown(why) = &q.answer {
            println!("  unknown  whether {}", q.text());
            println!("           {why}");
        }
    }
}

fn always_json(file: &Path, outcome: crate::ast::Outcome) -> serde_json::Value {
    json!({
        "file": file.display().to_string(),
        "question": "the policy always decides one outcome",
        "answer": "always",
        "outcome": outcome.as_str(),
        "finding": true,
    })
}

fn question_json(file: &Path, q: &Question) -> serde_json::Value {
    let (kind, name) = match &q.subject {
        Subject::Outcome(o) => ("outcome", o.as_str().to_string()),
        Subject::Rule { id } => ("rule", id.clone()),
        Subject::Tier { name } => ("tier", name.clone()),
        Subject::Duty { name } => ("duty", name.clone()),
        Subject::Require { duty, .. } => ("require", duty.clone()),
    };
    let mut v = json!({
        "file": file.display().to_string(),
        "question": q.text(),
        "kind": kind,
        "name": name,
        "line": q.line,
        "finding": q.is_finding(),
    });
    match &q.answer {
        Answer::Witness(w) => {
            v["answer"] = json!("yes");
            v["request"] = w.request.clone();
            v["degraded"] = json!(w.degraded);
            v["decision"] = serde_json::to_value(&w.decision).unwrap_or_default();
        }
        Answer::Never => v["answer"] = json!("never"),
        Answer::Unknown(why) => {
            v["answer"] = json!("unknown");
            v["reason"] = json!(why);
        }
    }
    v
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
