//! The command line. With `lsp` and the runtime store, the only place that does IO.

mod audit_cmd;
mod build_cmd;
mod bundle_cmd;
mod check_cmd;
mod completions_cmd;
mod ctl_cmd;
mod diff_cmd;
mod eval_cmd;
mod fmt_cmd;
mod init_cmd;
mod ir_cmd;
mod lint_cmd;
mod logging;
mod lsp_cmd;
mod policy_file;
mod replay_cmd;
mod report_cmd;
mod serve_cmd;
mod stdlib_cmd;
mod test_cmd;
mod verify_cmd;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Bylaw: policy-as-code for governing AI services.
#[derive(Debug, Parser)]
#[command(name = "bylaw", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines (standard error) are written: `text` for people, `json` (one
    /// object per line) for log shippers. `BYLAW_LOG` sets the levels.
    #[arg(long, global = true, value_enum, env = "BYLAW_LOG_FORMAT", default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a new policy project: a policy with schema, tiers, a rule, duties, a
    /// fixture and tests, a `bylaw.toml` and a CI script. Never overwrites a file.
    Init(init_cmd::InitArgs),
    /// Parse and type-check policies, reporting every problem found.
    ///
    /// Exits 0 when there are no errors, 1 when there are (or when there are
    /// warnings and `--deny-warnings` is given), 2 on a usage error or an unreadable path.
    Check(check_cmd::CheckArgs),
    /// Decide requests (JSON) with a policy and print the decisions.
    ///
    /// Invalid requests are denied, naming every bad field. Exits 0 when every request
    /// was decided (whatever the outcomes), 1 when the policy has errors, 2 on usage errors.
    Eval(eval_cmd::EvalArgs),
    /// Run the `test` blocks of policies; exits 1 if any test fails.
    Test(test_cmd::TestArgs),
    /// Prove each `assert` of policies for every valid request, or print a request
    /// (JSON, ready for `bylaw eval --request`) that breaks it.
    ///
    /// Exits 0 when every assertion is proved, 1 when one is refuted (or a policy does
    /// not compile), 3 when none is refuted but some are unknown, 2 on usage errors.
    Verify(verify_cmd::VerifyArgs),
    /// List the requests two versions of a policy decide differently, as regions with
    /// an example request each; OLD and NEW are files or `REV:PATH` at a git revision.
    ///
    /// `--fail-on allow-widening` exits 1 when a request becomes more permissive.
    Diff(diff_cmd::DiffArgs),
    /// Rewrite policies in the one canonical layout (comments kept); `--check` only
    /// reports, with a diff, and exits 1 if a file would change.
    Fmt(fmt_cmd::FmtArgs),
    /// Report policies that check but are probably wrong, unclear or incomplete: 30
    /// rules, semantic ones among them (unreachable tiers, shadowed rules, conditions
    /// that never or always hold). `--list` names them; `--explain RULE` documents one.
    Lint(lint_cmd::LintArgs),
    /// Print the typed IR a policy compiles to.
    Ir(ir_cmd::IrArgs),
    /// Compile a policy to an enforcement module: an object file or shared library and
    /// a C header, with no Bylaw runtime and no JIT at run time.
    Build(build_cmd::BuildArgs),
    /// Package a policy as one file — sources with their user modules, IR, test
    /// results and coverage, and a manifest of fingerprints — optionally signed;
    /// `inspect` and `verify` one.
    Bundle(bundle_cmd::BundleArgs),
    /// Make an ed25519 key pair for signing bundles: NAME.key and NAME.pub (PEM).
    Keygen(bundle_cmd::KeygenArgs),
    /// The language server, over standard input and output: diagnostics, hover,
    /// go to definition, references, completion, outline, formatting, quick fixes.
    Lsp,
    /// Run timestamped traffic through triggers, services and recovery on a simulated
    /// clock, and print the timeline: what the policy would have done.
    Replay(replay_cmd::ReplayArgs),
    /// Operator commands against a state store: status, the kill switch (suspend),
    /// resume, approve, reports, block and unblock. Every change is audited.
    Ctl(ctl_cmd::CtlArgs),
    /// Verify, read and purge the hash-chained audit log of a state store.
    Audit(audit_cmd::AuditArgs),
    /// The decision server: HTTP decide and batch endpoints, the admin API (kill switch,
    /// recovery, reports, blocks), hot reload, health and Prometheus metrics.
    Serve(Box<serve_cmd::ServeArgs>),
    /// The standard library: `list` its modules, `show` one's source, `articles` of one.
    Stdlib(stdlib_cmd::StdlibArgs),
    /// The compliance report: every cited article by regulation, what implements it and
    /// what that does, the tests that exercise it (untested ones flagged), and what the
    /// standard library does not encode.
    Report(report_cmd::ReportArgs),
    /// Print a shell completion script: `bylaw completions bash > /etc/bash_completion.d/bylaw`.
    Completions(completions_cmd::CompletionsArgs),
    /// Print the manual page (roff), or write one per command with `--out-dir`.
    Man(completions_cmd::ManArgs),
}

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Rendered for people, with source excerpts (`human` is accepted too).
    #[value(alias = "human")]
    Text,
    /// One JSON document on standard output, for editors and CI.
    Json,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is not set.
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub(crate) fn enabled(self, stream_is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    crate::governance::store::install_panic_hook();
    match cli.command {
        Command::Init(args) => init_cmd::run(&args),
        Command::Check(args) => check_cmd::run(&args),
        Command::Eval(args) => eval_cmd::run(&args),
        Command::Fmt(args) => fmt_cmd::run(&args),
        Command::Lint(args) => lint_cmd::run(&args),
        Command::Lsp => lsp_cmd::run(),
        Command::Report(args) => report_cmd::run(&args),
        Command::Serve(args) => serve_cmd::run(&args),
        Command::Stdlib(args) => stdlib_cmd::run(&args),
        Command::Test(args) => test_cmd::run(&args),
        Command::Verify(args) => verify_cmd::run(&args),
        Command::Diff(args) => diff_cmd::run(&args),
        Command::Ir(args) => ir_cmd::run(&args),
        Command::Build(args) => build_cmd::run(&args),
        Command::Bundle(args) => bundle_cmd::run(&args),
        Command::Keygen(args) => bundle_cmd::keygen(&args),
        Command::Replay(args) => replay_cmd::run(&args),
        Command::Ctl(args) => ctl_cmd::run(&args),
        Command::Audit(args) => audit_cmd::run(&args),
        Command::Completions(args) => completions_cmd::completions(&args),
        Command::Man(args) => completions_cmd::man(&args),
    }
}

/// Writes beside the file, then renames over it: a failed write leaves the original,
/// and a reader (a server watching the file) never sees half of it.
pub(crate) fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut temp, bytes)?;
    temp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(temp.path(), meta.permissions());
    }
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Exit code for bad usage, such as a path that does not exist.
pub(crate) const EXIT_USAGE: u8 = 2;

/// Every `.bylaw` file named, directories searched recursively, in a stable order.
///
/// Symbolic links are followed, but a link that leads back to a folder being walked is
/// skipped, so every file is found once. Finding no policy file at all is an error: a
/// mistyped path in CI must not pass as "0 files, 0 problems".
pub(crate) fn collect_policy_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut files)?;
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!("no such file or directory: `{}`", path.display()));
        }
    }
    if files.is_empty() {
        let named: Vec<String> = paths.iter().map(|p| format!("`{}`", p.display())).collect();
        return Err(format!("no policy files found in {}", named.join(", ")));
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walker {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                if entry.file_type().is_file() && path.extension().is_some_and(|e| e == "bylaw") {
                    files.push(path.to_path_buf());
                }
            }
            // A link back to an ancestor: its files are already being walked.
            Err(e) if e.loop_ancestor().is_some() => {}
            Err(e) => {
                let at = e.path().unwrap_or(dir);
                return Err(format!("cannot read `{}`: {e}", at.display()));
            }
        }
    }
    Ok(())
}
