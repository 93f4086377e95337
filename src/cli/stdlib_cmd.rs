//! `bylaw stdlib`: the standard library's modules, embedded in the binary.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::EXIT_USAGE;

#[derive(Debug, Args)]
pub(crate) struct StdlibArgs {
    #[command(subcommand)]
    command: StdlibCommand,
}

#[derive(Debug, Subcommand)]
enum StdlibCommand {
    /// Every module, with what it encodes.
    List,
    /// Print a module's source: its schema, parameters, rules, duties, triggers, tests.
    Show {
        /// A module name, such as `std::eu::ai_act::transparency`.
        name: String,
    },
    /// The articles a module encodes: each regulation's title, issuer, document, text
    /// and link, and per article the date it applies from, a summary and (for Chinese
    /// texts) the original.
    Articles {
        /// A module name, such as `std::minors`.
        name: String,
    },
}

pub(crate) fn run(args: &StdlibArgs) -> ExitCode {
    match &args.command {
        StdlibCommand::List => {
            for module in crate::stdlib::MODULES {
                println!("{}\n    {}", module.name, module.summary());
            }
            ExitCode::SUCCESS
        }
        StdlibCommand::Show { name } => match module(name) {
            Some(module) => {
                print!("{}", module.text);
                ExitCode::SUCCESS
            }
            None => ExitCode::from(EXIT_USAGE),
        },
        StdlibCommand::Articles { name } => match module(name) {
            Some(module) => {
                print!("{}", articles(module));
                ExitCode::SUCCESS
            }
            None => ExitCode::from(EXIT_USAGE),
        },
    }
}

fn module(name: &str) -> Option<&'static crate::stdlib::Module> {
    let wanted = if name.starts_with("std::") {
        name.to_string()
    } else {
        format!("std::{name}")
    };
    let found = crate::stdlib::get(&wanted);
    if found.is_none() {
        eprintln!("error: no module `{name}` (`bylaw stdlib list` shows them all)");
    }
    found
}

/// The catalogue's entries for the articles `module` cites, by regulation.
fn articles(module: &crate::stdlib::Module) -> String {
    use std::fmt::Write;
    let catalogue = crate::stdlib::catalogue::catalogue();
    let cites = module.cites();
    let mut out = String::new();
    for regulation in &catalogue.regulations {
        let encoded: Vec<_> = regulation
            .articles
            .iter()
            .filter(|a| cites.contains(&a.cite))
            .collect();
        if encoded.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{} — {}", regulation.name, regulation.title);
        if let Some(original) = &regulation.original_title {
            let _ = writeln!(out, "  {original}");
        }
        let _ = writeln!(
            out,
            "  {}; {}; {}",
            regulation.issuer, regulation.jurisdiction, regulation.document
        );
        let _ = writeln!(
            out,
            "  in force {}; text: {}",
            regulation.in_force, regulation.text_version
        );
        match &regulation.reviewed {
            Some(day) => {
                let _ = writeln!(out, "  articles read against the text on {day}");
            }
            None => {
                let _ = writeln!(out, "  NOT YET REVIEWED article by article");
            }
        }
        let _ = writeln!(out, "  {}", regulation.url);
        for article in encoded {
            let _ = writeln!(
                out,
                "\n  {} (applies from {})",
                article.cite, article.applies_from
            );
            let _ = writeln!(out, "    {}", article.summary);
            if let Some(original) = &article.original {
                let _ = writeln!(out, "    {original}");
                let _ = writeln!(out, "    (the English above is an unofficial summary)");
            }
        }
        out.push('\n');
    }
    out
}
