//! One integration-test binary; each module covers one surface.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod build;
mod cli;
mod crash;
pub(crate) mod differential;
mod format;
mod frontend;
mod governance;
mod guard;
mod lint;
mod lsp;
mod no_panic;
mod replay;
mod server;
mod stdlib;
mod syntax;

use std::path::{Path, PathBuf};

/// `tests/data/…`
pub fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// The shared examples: `../shared/examples` beside the repository.
pub fn shared_examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the shared examples must be at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bylaw"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 4,
        "expected the four shared examples, found {files:?}"
    );
    files
}
