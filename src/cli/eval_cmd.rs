//! `bylaw eval`: decide requests from JSON files.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::EXIT_USAGE;
use super::policy_file::{EngineChoice, LoadError, load_guard};
use crate::runtime::decision::Decision;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["request", "requests"])))]
pub(crate) struct EvalArgs {
    /// The policy file, or a bundle (`bylaw bundle`).
    policy: PathBuf,
    /// One JSON request (`-` for standard input); prints one decision.
    #[arg(long, value_name = "FILE.json")]
    request: Option<PathBuf>,
    /// JSON lines, one request per line (`-` for standard input); prints one decision
    /// per line, in order.
    #[arg(long, value_name = "FILE.jsonl")]
    requests: Option<PathBuf>,
    /// Which engine decides.
    #[arg(long, value_enum, default_value_t = EngineChoice::Jit)]
    engine: EngineChoice,
    /// Print a readable account of why, instead of JSON.
    #[arg(long)]
    explain: bool,
    /// Decide as if the request's service were degraded.
    #[arg(long)]
    degraded: bool,
}

pub(crate) fn run(args: &EvalArgs) -> ExitCode {
    let guard = match load_guard(&args.policy, args.engine) {
        Ok(guard) => guard,
        Err(LoadError::Unreadable) => return ExitCode::from(EXIT_USAGE),
        Err(LoadError::Rejected) => return ExitCode::from(1),
    };
    let decide = |bytes: &[u8]| -> Decision {
        match guard.encode_json(bytes) {
            Ok(record) => guard.decide_with(&record, args.degraded),
            Err(errors) => Decision::invalid(errors),
        }
    };
    // In a stream, a line that is not a JSON object says which line it is.
    let decide_line = |number: usize, bytes: &[u8]| -> Decision {
        let mut decision = decide(bytes);
        for error in decision.errors.iter_mut().filter(|e| e.field.is_empty()) {
            error.message = format!("line {number}: {}", error.message);
        }
        decision
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let emit = |out: &mut BufWriter<std::io::StdoutLock<'_>>,
                decision: &Decision|
     -> std::io::Result<()> {
        if args.explain {
            out.write_all(decision.explain().as_bytes())
        } else {
            serde_json::to_writer(&mut *out, decision).map_err(std::io::Error::other)?;
            out.write_all(b"\n")
        }
    };
    let result = if let Some(path) = &args.request {
        let bytes = if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes).map(|_| bytes)
        } else {
            std::fs::read(path)
        };
        match bytes {
            Ok(bytes) => emit(&mut out, &decide(&bytes)),
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", path.display());
                return ExitCode::from(EXIT_USAGE);
            }
        }
    } else if let Some(path) = &args.requests {
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            match std::fs::File::open(path) {
                Ok(f) => Box::new(std::io::BufReader::new(f)),
                Err(e) => {
                    eprintln!("error: cannot read `{}`: {e}", path.display());
                    return ExitCode::from(EXIT_USAGE);
                }
            }
        };
        stream(reader, &mut out, decide_line, emit)
    } else {
        Ok(())
    };
    if let Err(e) = result.and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn stream<'o, R: BufRead>(
    mut reader: R,
    out: &mut BufWriter<std::io::StdoutLock<'o>>,
    decide: impl Fn(usize, &[u8]) -> Decision,
    emit: impl Fn(&mut BufWriter<std::io::StdoutLock<'o>>, &Decision) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        number += 1;
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        emit(out, &decide(number, &line))?;
    }
}
