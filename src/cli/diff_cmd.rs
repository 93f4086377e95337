//! `bylaw diff OLD NEW`: the requests two versions of a policy decide differently.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::EXIT_USAGE;
use super::policy_file::{LoadError, check_text};
use crate::guard::{Engine, Guard};
use crate::verify::diff::{Change, Report, Summary};

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The old version: a file, or `REV:PATH` for a file at a git revision
    /// (`main:policy.bylaw`).
    #[arg(value_name = "OLD")]
    old: String,
    /// The new version, as OLD.
    #[arg(value_name = "NEW")]
    new: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit 1 when a request becomes more permissive (`allow-widening`) or when
    /// anything changes (`any`).
    #[arg(long, value_enum, value_name = "WHAT")]
    fail_on: Option<FailOn>,
    /// The most regions to list.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Md,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    AllowWidening,
    Any,
}

pub(crate) fn run(args: &DiffArgs) -> ExitCode {
    let (old, new) = match (load(&args.old), load(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(LoadError::Unreadable), _) | (_, Err(LoadError::Unreadable)) => {
            return ExitCode::from(EXIT_USAGE);
        }
        _ => return ExitCode::from(1),
    };
    let report = match crate::verify::diff::diff(&old, &new, args.limit) {
        Ok(report) => report,
        Err(why) => {
            eprintln!("error: {why}");
            return ExitCode::from(1);
        }
    };
    let out = match args.format {
        Format::Text => text(&args.old, &args.new, &report),
        Format::Md => markdown(&args.old, &args.new, &report),
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
        Format::Sarif => {
            serde_json::to_string_pretty(&sarif(&args.new, &report)).unwrap_or_default() + "\n"
        }
    };
    print!("{out}");
    let failed = match args.fail_on {
        Some(FailOn::AllowWidening) => report.changes.iter().any(Change::widens_allow),
        Some(FailOn::Any) => !report.changes.is_empty() || !report.complete,
        None => false,
    };
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A version from a file, or from `git show REV:PATH` when there is no such file.
fn load(spec: &str) -> Result<Guard, LoadError> {
    let on_disk = Path::new(spec).exists() || !spec.contains(':');
    if on_disk && std::fs::read(spec).is_ok_and(|b| crate::bundle::is_bundle(&b)) {
        let policy = super::policy_file::load_policy(Path::new(spec))?;
        return Guard::new(Arc::new(policy), Engine::Interpreter).map_err(|e| {
            eprintln!("error: {e}");
            LoadError::Rejected
        });
    }
    let file = match spec.split_once(':') {
        Some((_, path)) if !on_disk => path,
        _ => spec,
    };
    let loader = crate::modules::Loader::for_policy(Path::new(file)).map_err(|e| {
        eprintln!("error: {e}");
        LoadError::Unreadable
    })?;
    let (text, loader) = if on_disk {
        let text = std::fs::read_to_string(spec).map_err(|e| {
            eprintln!("error: cannot read `{spec}`: {e}");
            LoadError::Unreadable
        })?;
        (text, loader)
    } else {
        let out = std::process::Command::new("git")
            .args(["show", spec])
            .output()
            .map_err(|e| {
                eprintln!("error: cannot run git for `{spec}`: {e}");
                LoadError::Unreadable
            })?;
        if !out.status.success() {
            eprintln!(
                "error: `git show {spec}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return Err(LoadError::Unreadable);
        }
        let text = String::from_utf8(out.stdout).map_err(|_| {
            eprintln!("error: `{spec}` is not UTF-8");
            LoadError::Unreadable
        })?;
        let revision = spec.split_once(':').map_or("", |(rev, _)| rev);
        (text, loader.at_git_revision(revision))
    };
    let policy = check_text(spec, &text, &loader)?;
    Guard::new(Arc::new(policy), Engine::Interpreter).map_err(|e| {
        eprintln!("error: {e}");
        LoadError::Rejected
    })
}

/// What changed, and only that: `deny → allow, tier high → limited, duty human_oversight
/// no longer applies`.
fn change(old: &Summary, new: &Summary) -> String {
    let mut parts = Vec::new();
    if old.outcome != new.outcome {
        parts.push(format!(
            "{} → {}",
            old.outcome.as_str(),
            new.outcome.as_str()
        ));
    }
    if old.tier != new.tier {
        let tier = |t: &Option<String>| t.clone().unwrap_or_else(|| "none".to_string());
        parts.push(format!("tier {} → {}", tier(&old.tier), tier(&new.tier)));
    }
    for d in &old.duties {
        if !new.duties.contains(d) {
            parts.push(format!("duty {d} no longer applies"));
        }
    }
    for d in &new.duties {
        if !old.duties.contains(d) {
            parts.push(format!("duty {d} now applies"));
        }
    }
    parts.join(", ")
}

fn region(c: &Change) -> String {
    match &c.region {
        Some(parts) if parts.is_empty() => "every request".to_string(),
        Some(parts) => parts.join(" and "),
        None => "this request (and possibly others like it)".to_string(),
    }
}

fn closing(report: &Report) -> String {
    let mut out = listed(report);
    if !report.fallible.is_empty() {
        out.push_str(&format!(
            "requests whose evaluation fails ({} can fail) were compared only where an example failed\n",
            report.fallible.join(", ")
        ));
    }
    out
}

fn listed(report: &Report) -> String {
    if report.exhausted && report.unconfirmed == 0 {
        if !report.changes.is_empty() {
            "every request decided differently is in a region above\n".to_string()
        } else if report.fallible.is_empty() {
            "no request is decided differently: the versions are equivalent\n".to_string()
        } else {
            "no request that evaluates without failing is decided differently\n".to_string()
        }
    } else if report.unconfirmed > 0 {
        format!(
            "more requests may be decided differently: {} candidate(s) rest on conditions diff does not read exactly\n",
            report.unconfirmed
        )
    } else {
        "more regions than the limit: raise --limit to see them\n".to_string()
    }
}

fn text(old: &str, new: &str, report: &Report) -> String {
    let mut out = format!(
        "{old} → {new}: {} region(s) decided differently\n",
        report.changes.len()
    );
    for (i, c) in report.changes.iter().enumerate() {
        out.push_str(&format!(
            "{}. {}: {}{}{}\n   e.g. {}\n",
            i + 1,
            region(c),
            change(&c.old, &c.new),
            if c.widens_allow() {
                "  [more permissive]"
            } else {
                ""
            },
            if c.degraded {
                " (service degraded)"
            } else {
                ""
            },
            c.request
        ));
    }
    out.push_str(&closing(report));
    out
}

fn markdown(old: &str, new: &str, report: &Report) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = format!(
        "### Decision changes: `{old}` → `{new}`\n\n| requests | change | example |\n| --- | --- | --- |\n"
    );
    for c in &report.changes {
        let permissive = if c.widens_allow() {
            " **(more permissive)**"
        } else {
            ""
        };
        out.push_str(&format!(
            "| {} | {}{permissive} | `{}` |\n",
            cell(&region(c)),
            cell(&change(&c.old, &c.new)),
            cell(&c.request.to_string())
        ));
    }
    out.push('\n');
    out.push_str(&closing(report));
    out
}

fn sarif(new: &str, report: &Report) -> serde_json::Value {
    let results: Vec<serde_json::Value> = report
        .changes
        .iter()
        .map(|c| {
            json!({
                "ruleId": if c.widens_allow() { "allow-widening" } else { "decision-change" },
                "level": if c.widens_allow() { "error" } else { "note" },
                "message": { "text": format!("{}: {} (e.g. {})", region(c), change(&c.old, &c.new), c.request) },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": new } } }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "bylaw diff",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": [
                    { "id": "allow-widening", "shortDescription": { "text": "requests the new version decides more permissively" } },
                    { "id": "decision-change", "shortDescription": { "text": "requests the new version decides differently" } }
                ]
            } },
            "results": results,
        }],
    })
}
