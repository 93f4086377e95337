//! `bylaw build`: a policy as an enforcement module — an object file or a shared
//! library with a C header, for services in any language. No JIT at run time.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Args;

use super::EXIT_USAGE;
use super::policy_file::{LoadError, load_policy};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("output").required(true).args(["object", "shared"])))]
pub(crate) struct BuildArgs {
    /// The policy file.
    policy: PathBuf,
    /// Write a relocatable object file to link into a program.
    #[arg(short = 'o', long = "output", value_name = "guard.o")]
    object: Option<PathBuf>,
    /// Write a shared library, linked with the system C compiler (`$CC`, else `cc`).
    #[arg(long, value_name = "guard.so")]
    shared: Option<PathBuf>,
    /// Where to write the C header (default: `guard.h` beside the output).
    #[arg(long, value_name = "guard.h")]
    header: Option<PathBuf>,
}

pub(crate) fn run(args: &BuildArgs) -> ExitCode {
    let policy = match load_policy(&args.policy) {
        Ok(policy) => policy,
        Err(LoadError::Unreadable) => return ExitCode::from(EXIT_USAGE),
        Err(LoadError::Rejected) => return ExitCode::from(1),
    };
    let output = args
        .object
        .as_ref()
        .or(args.shared.as_ref())
        .cloned()
        .unwrap_or_default();
    let header = args
        .header
        .clone()
        .unwrap_or_else(|| output.parent().unwrap_or(Path::new(".")).join("guard.h"));
    match build(&policy.ir, &output, &header, args.shared.is_some()) {
        Ok(()) => {
            eprintln!("wrote {} and {}", output.display(), header.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

fn build(
    policy: &crate::ir::Policy,
    output: &Path,
    header: &Path,
    shared: bool,
) -> Result<(), String> {
    let object = crate::codegen::object::emit_object(policy, true).map_err(|e| e.to_string())?;
    let work = tempdir()?;
    let result = (|| {
        let header_text = crate::cmodule::header(policy);
        write(&work.join("guard.h"), header_text.as_bytes())?;
        write(
            &work.join("guard.c"),
            crate::cmodule::source(policy).as_bytes(),
        )?;
        write(&work.join("guard_code.o"), &object)?;
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
        run_tool(
            Command::new(&cc)
                .args([
                    "-O2",
                    "-fPIC",
                    "-std=c99",
                    "-c",
                    "guard.c",
                    "-o",
                    "guard_c.o",
                ])
                .current_dir(&work),
        )?;
        let linked = work.join("linked");
        if shared {
            run_tool(
                Command::new(&cc)
                    .args(["-shared", "guard_code.o", "guard_c.o", "-o"])
                    .arg(&linked)
                    .current_dir(&work),
            )?;
        } else {
            run_tool(
                Command::new("ld")
                    .args(["-r", "guard_code.o", "guard_c.o", "-o"])
                    .arg(&linked)
                    .current_dir(&work),
            )?;
        }
        std::fs::copy(&linked, output)
            .map_err(|e| format!("cannot write `{}`: {e}", output.display()))?;
        write(header, header_text.as_bytes())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

fn run_tool(command: &mut Command) -> Result<(), String> {
    let program = command.get_program().to_string_lossy().to_string();
    let out = command
        .output()
        .map_err(|e| format!("cannot run `{program}`: {e} (is a C toolchain installed?)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program}` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn tempdir() -> Result<PathBuf, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("bylaw-build-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    Ok(dir)
}
