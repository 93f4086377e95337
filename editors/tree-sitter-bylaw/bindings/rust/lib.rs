//! The Bylaw grammar for [tree-sitter](https://tree-sitter.github.io/), with its
//! queries (highlights, locals, folds, indents).
//!
//! ```ignore
//! let mut parser = tree_sitter::Parser::new();
//! parser.set_language(&tree_sitter_bylaw::LANGUAGE.into())?;
//! let tree = parser.parse("policy p version \"1.0.0\"\n", None);
//! ```

use tree_sitter_language::LanguageFn;

unsafe extern "C" {
    fn tree_sitter_bylaw() -> *const ();
}

/// The tree-sitter [`LanguageFn`] of Bylaw.
pub const LANGUAGE: LanguageFn = unsafe { LanguageFn::from_raw(tree_sitter_bylaw) };

/// The node types (`src/node-types.json`).
pub const NODE_TYPES: &str = include_str!("../../src/node-types.json");

/// Highlighting, with the capture names of nvim-treesitter and Helix.
pub const HIGHLIGHTS_QUERY: &str = include_str!("../../queries/highlights.scm");
/// Definitions and references in one file's scope.
pub const LOCALS_QUERY: &str = include_str!("../../queries/locals.scm");
/// Foldable blocks.
pub const FOLDS_QUERY: &str = include_str!("../../queries/folds.scm");
/// Indentation.
pub const INDENTS_QUERY: &str = include_str!("../../queries/indents.scm");
