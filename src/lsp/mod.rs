//! The language server's knowledge of documents (`analysis`) and LSP positions
//! (`position`). The stdio loop that speaks the protocol is `cli::lsp_cmd`.

pub mod analysis;
pub mod position;
