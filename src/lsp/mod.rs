//! The language server's knowledge of documents (`analysis`), LSP positions
//! (`position`) and its stdio transport (`transport`). The loop that speaks the
//! protocol is `cli::lsp_cmd`.

pub mod analysis;
pub mod complete;
pub mod lens;
pub mod position;
pub mod rename;
pub mod tokens;
pub mod transport;
