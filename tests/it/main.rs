//! One integration-test binary; each module covers one surface.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bounds;
mod build;
mod bundle;
mod cli;
mod clock;
mod corrupt;

mod crash;
mod decision_log;
mod diff;
pub(crate) mod differential;
mod durable;
mod events;
mod fail_closed;
mod format;
mod frontend;
mod functions;
mod governance;
mod guard;
mod lint;
mod lsp;
mod modules;
mod no_panic;
mod regulations;
pub(crate) mod replay;
pub(crate) mod server;
mod stdlib;
mod syntax;
mod tools;
mod tracing;
mod verify;

use std::path::{Path, PathBuf};

/// `tests/data/…`
pub fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// The repository's example policies, `examples/*.bylaw`: the four from the product brief
/// and the ones added beside them. Nothing in the suite reads outside the repository.
pub fn example_policies() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the examples must be at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bylaw"))
        .collect();
    files.sort();
    for name in BRIEF_EXAMPLES {
        assert!(
            files
                .iter()
                .any(|f| f.file_name().is_some_and(|n| n == *name)),
            "examples/{name} is missing; found {files:?}"
        );
    }
    files
}

/// The examples the product brief names; they must always check and pass their tests.
pub const BRIEF_EXAMPLES: &[&str] = &[
    "api_gateway.bylaw",
    "eu_hiring.bylaw",
    "genai_chat.bylaw",
    "minimal.bylaw",
];

/// `examples/NAME`
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}
