//! Loading a policy file for the commands that run it, with diagnostics on failure.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use clap::ValueEnum;

use crate::guard::{Engine, Guard, Policy};

/// Which engine decides, on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EngineChoice {
    /// Native code from the Cranelift JIT.
    Jit,
    /// The reference interpreter.
    Interp,
}

impl From<EngineChoice> for Engine {
    fn from(e: EngineChoice) -> Self {
        match e {
            EngineChoice::Jit => Engine::Jit,
            EngineChoice::Interp => Engine::Interpreter,
        }
    }
}

/// Why a policy could not be loaded; the message is already printed.
pub(crate) enum LoadError {
    /// The file could not be read (a usage problem).
    Unreadable,
    /// The policy has errors.
    Rejected,
}

/// A policy file, or a bundle (`bylaw bundle`): its fingerprints checked and its
/// sources compiled among themselves.
pub(crate) fn load_policy(path: &Path) -> Result<Policy, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| {
        eprintln!("error: cannot read `{}`: {e}", path.display());
        LoadError::Unreadable
    })?;
    if crate::bundle::is_bundle(&bytes) {
        return crate::bundle::open(&bytes, None)
            .map(|opened| opened.policy)
            .map_err(|e| {
                eprintln!("error: `{}`: {e}", path.display());
                LoadError::Rejected
            });
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        eprintln!("error: `{}` is not UTF-8 text", path.display());
        LoadError::Unreadable
    })?;
    let loader = crate::modules::Loader::for_policy(path).map_err(|e| {
        eprintln!("error: {e}");
        LoadError::Unreadable
    })?;
    check_text(&path.display().to_string(), &text, &loader)
}

/// A policy from source text; `name` is how diagnostics name it.
pub(crate) fn check_text(
    name: &str,
    text: &str,
    loader: &crate::modules::Loader,
) -> Result<Policy, LoadError> {
    Policy::check_with(name, text, loader).map_err(|diags| {
        let color = super::ColorChoice::Auto.enabled(std::io::stderr().is_terminal());
        eprint!(
            "{}",
            crate::diagnostics::render(&diags.sources, &diags.diagnostics, color)
        );
        LoadError::Rejected
    })
}

pub(crate) fn load_guard(path: &Path, engine: EngineChoice) -> Result<Guard, LoadError> {
    let policy = load_policy(path)?;
    let guard = Guard::new(Arc::new(policy), engine.into()).map_err(|e| {
        eprintln!("error: {e}");
        LoadError::Rejected
    })?;
    if let Some(why) = guard.interpreted_because() {
        eprintln!(
            "note: `{}` is decided by the interpreter: {why}",
            path.display()
        );
    }
    Ok(guard)
}

/// A governor for a policy, with its state in the store at `state` when given. Its
/// decision ids come from a fixed seed: a replay of the same traffic names its
/// decisions the same way every time.
pub(crate) fn load_governor(
    path: &Path,
    engine: EngineChoice,
    state: Option<&Path>,
) -> Result<crate::governance::Governor, LoadError> {
    use crate::governance::{Governor, Options, store::Store};
    let guard = load_guard(path, engine)?;
    let store = match state {
        Some(state) => Some(Arc::new(Store::open(state).map_err(|e| {
            eprintln!("error: {e}");
            LoadError::Unreadable
        })?)),
        None => None,
    };
    let options = Options {
        id_seed: Some(0),
        ..Options::default()
    };
    Governor::new(guard, store, options).map_err(|e| {
        eprintln!("error: {e}");
        LoadError::Unreadable
    })
}

/// `--at TIME` for the commands that act at a moment: RFC 3339, or now.
pub(crate) fn moment(at: Option<&str>) -> Result<crate::governance::clock::Timestamp, String> {
    use crate::governance::clock::{Clock, SystemClock, Timestamp};
    match at {
        Some(text) => Timestamp::parse_rfc3339(text),
        None => Ok(SystemClock.now()),
    }
}
