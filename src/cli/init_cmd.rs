//! `bylaw init`: a new policy project, ready to edit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::EXIT_USAGE;

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Where to create the project; made if it does not exist.
    #[arg(value_name = "DIR", default_value = ".")]
    dir: PathBuf,
}

/// The files of a new project, as they are written.
const TEMPLATE: &[(&str, &str)] = &[
    ("policy.bylaw", include_str!("init_template/policy.bylaw")),
    ("bylaw.toml", include_str!("init_template/bylaw.toml")),
    ("ci.sh", include_str!("init_template/ci.sh")),
    ("README.md", include_str!("init_template/README.md")),
];

pub(crate) fn run(args: &InitArgs) -> ExitCode {
    match create(&args.dir) {
        Ok(()) => {
            for (name, _) in TEMPLATE {
                println!("created {}", args.dir.join(name).display());
            }
            println!("next: cd {} && ./ci.sh", args.dir.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Writes every file of the template, or none: existing files are never overwritten.
fn create(dir: &Path) -> Result<(), String> {
    let existing: Vec<String> = TEMPLATE
        .iter()
        .map(|(name, _)| dir.join(name))
        .filter(|path| path.exists())
        .map(|path| format!("`{}`", path.display()))
        .collect();
    if !existing.is_empty() {
        return Err(format!(
            "refusing to overwrite {}; choose an empty folder (`bylaw init DIR`)",
            existing.join(", ")
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let mut written = Vec::new();
    for (name, text) in TEMPLATE {
        let path = dir.join(name);
        if let Err(e) = write_new(&path, text) {
            // Leave nothing half-made behind.
            for path in &written {
                let _ = std::fs::remove_file(path);
            }
            return Err(format!("cannot write `{}`: {e}", path.display()));
        }
        written.push(path);
    }
    make_executable(&dir.join("ci.sh")).map_err(|e| format!("cannot make `ci.sh` executable: {e}"))
}

/// Creates `path` only if it does not exist yet, so a file that appears meanwhile is kept.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> std::io::Result<()> {
    Ok(())
}
