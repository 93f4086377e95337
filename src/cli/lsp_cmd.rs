//! `bylaw lsp`: the language server, over standard input and output.
//!
//! Messages come from `lsp::transport` (which survives malformed frames), the protocol
//! types from `lsp-types`, the answers from `lsp::analysis`. Documents are synced
//! whole. A change is analysed (parse, check, lint) once the editor has been quiet for
//! `DEBOUNCE`, or as soon as a request needs it; a change superseded before then is
//! never analysed, so typing never queues stale runs.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;

use lsp_server::{Connection, Message, Notification, Request, Response};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, CodeLens, CodeLensOptions, CodeLensParams, Command,
    CompletionItem, CompletionItemKind, CompletionOptions, CompletionParams, CompletionResponse,
    CompletionTextEdit, Diagnostic as LspDiagnostic, DiagnosticSeverity, DiagnosticTag,
    DidChangeTextDocumentParams, DidCloseTextDocumentParams, DocumentFormattingParams,
    DocumentHighlight, DocumentHighlightKind, DocumentHighlightParams, DocumentSymbol,
    DocumentSymbolParams, DocumentSymbolResponse, ExecuteCommandOptions, ExecuteCommandParams,
    FoldingRange, FoldingRangeKind, FoldingRangeParams, FoldingRangeProviderCapability,
    GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents, HoverParams,
    HoverProviderCapability, Location, MarkupContent, MarkupKind, NumberOrString, OneOf, Position,
    PrepareRenameResponse, PublishDiagnosticsParams, Range, ReferenceParams, RenameOptions,
    RenameParams, SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokens,
    SemanticTokensDelta, SemanticTokensDeltaParams, SemanticTokensEdit,
    SemanticTokensFullDeltaResult, SemanticTokensFullOptions, SemanticTokensLegend,
    SemanticTokensOptions, SemanticTokensParams, SemanticTokensResult,
    SemanticTokensServerCapabilities, ServerCapabilities, SymbolKind, TextDocumentPositionParams,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri, WorkDoneProgressOptions,
    WorkspaceEdit, WorkspaceSymbol, WorkspaceSymbolParams, WorkspaceSymbolResponse,
};

use crate::lint::Config;
use crate::lsp::analysis::{Analysis, CandidateKind, Outline, OutlineKind};
use crate::lsp::position::LineIndex;
use crate::syntax::span::Span;

struct Document {
    analysis: Analysis,
    lines: LineIndex,
}

impl Document {
    fn new(uri: &Uri, text: &str, config: &Config) -> Document {
        // A document saved as a file finds its user modules as `bylaw check` would:
        // beside it, and through the nearest `bylaw.toml`.
        let path = file_path(uri);
        let loader = match path.as_deref().map(crate::modules::Loader::for_policy) {
            Some(Ok(loader)) => loader,
            Some(Err(e)) => {
                eprintln!("bylaw lsp: {e}");
                crate::modules::Loader::stdlib_only()
            }
            None => crate::modules::Loader::stdlib_only(),
        };
        let name = path.map_or_else(|| uri.as_str().to_string(), |p| p.display().to_string());
        Document {
            analysis: Analysis::new(&name, text, config, &loader),
            lines: LineIndex::new(text),
        }
    }

    fn range(&self, span: Span) -> Range {
        let text = &self.analysis.text;
        let (l1, c1) = self.lines.position(text, span.start as usize);
        let (l2, c2) = self.lines.position(text, span.end as usize);
        Range::new(Position::new(l1, c1), Position::new(l2, c2))
    }

    fn offset(&self, p: Position) -> u32 {
        self.lines.offset(&self.analysis.text, p.line, p.character) as u32
    }
}

/// The most policy files under the workspace root a rename reads.
const WORKSPACE_FILES: usize = 5_000;

/// How long the editor must be quiet after a change before it is analysed.
const DEBOUNCE: Duration = Duration::from_millis(120);

struct Server {
    connection: Connection,
    documents: HashMap<String, Document>,
    /// Texts received and not yet analysed, by URI.
    pending: HashMap<String, (Uri, String)>,
    config: Config,
    /// The `bylaw.toml` the lint levels come from; read again when the editor says it
    /// changed or was saved.
    config_path: std::path::PathBuf,
    /// The last semantic-tokens result id given out.
    next_result_id: std::cell::Cell<u64>,
    /// The semantic tokens last sent for each document, with their result id: what a
    /// delta is counted from (it outlives the document's versions).
    semantic: std::cell::RefCell<HashMap<String, (String, Vec<u32>)>>,
}

pub(crate) fn run() -> ExitCode {
    let (connection, io_threads) = match crate::lsp::transport::stdio() {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("error: cannot start the language server's threads: {e}");
            return ExitCode::from(1);
        }
    };
    let capabilities = ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions::default()),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: WorkDoneProgressOptions::default(),
        })),
        document_highlight_provider: Some(OneOf::Left(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        code_lens_provider: Some(CodeLensOptions {
            resolve_provider: Some(false),
        }),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: vec![crate::lsp::lens::RUN_TESTS.to_string()],
            ..ExecuteCommandOptions::default()
        }),
        folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: SemanticTokensLegend {
                    token_types: crate::lsp::tokens::TYPES
                        .iter()
                        .map(|t| SemanticTokenType::new(t))
                        .collect(),
                    token_modifiers: crate::lsp::tokens::MODIFIERS
                        .iter()
                        .map(|m| SemanticTokenModifier::new(m))
                        .collect(),
                },
                full: Some(SemanticTokensFullOptions::Delta { delta: Some(true) }),
                range: None,
                ..SemanticTokensOptions::default()
            },
        )),
        ..ServerCapabilities::default()
    };
    let init = serde_json::to_value(capabilities)
        .map_err(|e| e.to_string())
        .and_then(|caps| connection.initialize(caps).map_err(|e| e.to_string()));
    let params = match init {
        Ok(params) => params,
        Err(e) => {
            eprintln!("error: the editor did not initialize the language server: {e}");
            return ExitCode::from(1);
        }
    };
    // Lint levels from the workspace root's bylaw.toml, as `bylaw lint` there reads
    // them; the working directory's when the editor names no root.
    let config_path = workspace_root(&params)
        .unwrap_or_else(|| std::path::PathBuf::from("."))
        .join(crate::modules::loader::CONFIG_FILE);
    let config = read_config(&config_path);
    let mut server = Server {
        connection,
        documents: HashMap::new(),
        pending: HashMap::new(),
        config,
        config_path,
        next_result_id: std::cell::Cell::new(0),
        semantic: std::cell::RefCell::new(HashMap::new()),
    };
    let result = server.serve();
    drop(server);
    if let Err(e) = result.and_then(|()| io_threads.join().map_err(|e| e.to_string())) {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

impl Server {
    fn serve(&mut self) -> Result<(), String> {
        loop {
            let message = if self.pending.is_empty() {
                match self.connection.receiver.recv() {
                    Ok(message) => message,
                    Err(_) => return Ok(()),
                }
            } else {
                match self.connection.receiver.recv_timeout(DEBOUNCE) {
                    Ok(message) => message,
                    Err(RecvTimeoutError::Timeout) => {
                        self.analyse_pending()?;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            };
            match message {
                Message::Request(request) => {
                    if self
                        .connection
                        .handle_shutdown(&request)
                        .map_err(|e| e.to_string())?
                    {
                        return Ok(());
                    }
                    self.analyse_before(&request)?;
                    let response = self.answer(request);
                    self.send(Message::Response(response))?;
                }
                Message::Notification(n) => {
                    let method = n.method.clone();
                    if let Err(e) = self.notified(n) {
                        // A notification has no answer: say why it was ignored, go on.
                        tracing::warn!("bylaw lsp: ignored `{method}`: {e}");
                    }
                }
                Message::Response(_) => {}
            }
        }
    }

    /// Analyses every text the editor sent and publishes its diagnostics.
    fn analyse_pending(&mut self) -> Result<(), String> {
        let keys: Vec<String> = self.pending.keys().cloned().collect();
        for key in keys {
            self.analyse(&key)?;
        }
        Ok(())
    }

    fn analyse(&mut self, key: &str) -> Result<(), String> {
        let Some((uri, text)) = self.pending.remove(key) else {
            return Ok(());
        };
        let doc = Document::new(&uri, &text, &self.config);
        let diagnostics = diagnostics(&doc);
        self.documents.insert(key.to_string(), doc);
        self.publish(uri, diagnostics)
    }

    /// A request about a document is answered on its newest text; one about the
    /// workspace on every document's.
    fn analyse_before(&mut self, request: &Request) -> Result<(), String> {
        if request.method.starts_with("workspace/") {
            return self.analyse_pending();
        }
        let uri = request
            .params
            .pointer("/textDocument/uri")
            .and_then(|u| u.as_str());
        match uri {
            Some(uri) if self.pending.contains_key(uri) => self.analyse(uri),
            _ => Ok(()),
        }
    }

    fn send(&self, message: Message) -> Result<(), String> {
        self.connection
            .sender
            .send(message)
            .map_err(|e| format!("the editor went away: {e}"))
    }

    fn notified(&mut self, n: Notification) -> Result<(), String> {
        let (uri, text) = match n.method.as_str() {
            "textDocument/didOpen" => {
                // Only the URI and text are needed: an editor that leaves out
                // `languageId` or `version` still gets its document analysed.
                let p: Opened = parse(n.params)?;
                (p.text_document.uri, p.text_document.text)
            }
            "textDocument/didChange" => {
                let p: DidChangeTextDocumentParams = parse(n.params)?;
                // Full sync: the last change holds the whole text.
                let Some(change) = p.content_changes.into_iter().last() else {
                    return Ok(());
                };
                (p.text_document.uri, change.text)
            }
            "workspace/didChangeWatchedFiles" | "textDocument/didSave"
                if n.params
                    .to_string()
                    .contains(crate::modules::loader::CONFIG_FILE) =>
            {
                return self.reload_config();
            }
            "textDocument/didClose" => {
                let p: DidCloseTextDocumentParams = parse(n.params)?;
                self.documents.remove(p.text_document.uri.as_str());
                self.pending.remove(p.text_document.uri.as_str());
                self.semantic
                    .borrow_mut()
                    .remove(p.text_document.uri.as_str());
                return self.publish(p.text_document.uri, Vec::new());
            }
            _ => return Ok(()),
        };
        // Superseding any text not yet analysed: that run is cancelled before it starts.
        self.pending.insert(uri.as_str().to_string(), (uri, text));
        Ok(())
    }

    /// Reads the lint levels again and re-analyses every open document with them.
    fn reload_config(&mut self) -> Result<(), String> {
        self.config = read_config(&self.config_path);
        let open: Vec<(Uri, String)> = self
            .documents
            .iter()
            .filter_map(|(uri, doc)| Some((uri.parse().ok()?, doc.analysis.text.clone())))
            .collect();
        for (uri, text) in open {
            self.pending
                .entry(uri.as_str().to_string())
                .or_insert((uri, text));
        }
        Ok(())
    }

    fn publish(&self, uri: Uri, diagnostics: Vec<LspDiagnostic>) -> Result<(), String> {
        let params = PublishDiagnosticsParams {
            uri,
            diagnostics,
            version: None,
        };
        self.send(Message::Notification(Notification::new(
            "textDocument/publishDiagnostics".into(),
            params,
        )))
    }

    fn answer(&self, request: Request) -> Response {
        let id = request.id.clone();
        let result = match request.method.as_str() {
            "textDocument/hover" => self.hover(request.params),
            "textDocument/definition" => self.definition(request.params),
            "textDocument/references" => self.references(request.params),
            "textDocument/completion" => self.completion(request.params),
            "textDocument/documentSymbol" => self.symbols(request.params),
            "textDocument/formatting" => self.formatting(request.params),
            "textDocument/codeAction" => self.code_actions(request.params),
            "textDocument/semanticTokens/full" => self.semantic_tokens(request.params),
            "textDocument/prepareRename" => self.prepare_rename(request.params),
            "workspace/symbol" => self.workspace_symbols(request.params),
            "textDocument/codeLens" => self.code_lenses(request.params),
            "workspace/executeCommand" => self.execute(request.params),
            "textDocument/rename" => self.rename(request.params),
            "textDocument/documentHighlight" => self.highlight(request.params),
            "textDocument/foldingRange" => self.folding(request.params),
            "textDocument/semanticTokens/full/delta" => self.semantic_tokens_delta(request.params),
            other => {
                return Response::new_err(
                    id,
                    lsp_server::ErrorCode::MethodNotFound as i32,
                    format!("bylaw lsp does not answer `{other}`"),
                );
            }
        };
        match result {
            Ok(value) => Response::new_ok(id, value),
            Err(message) => {
                Response::new_err(id, lsp_server::ErrorCode::InvalidParams as i32, message)
            }
        }
    }

    fn document(&self, uri: &Uri) -> Result<&Document, String> {
        self.documents
            .get(uri.as_str())
            .ok_or_else(|| format!("`{}` is not open", uri.as_str()))
    }

    fn hover(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: HoverParams = parse(params)?;
        let doc = self.document(&p.text_document_position_params.text_document.uri)?;
        let offset = doc.offset(p.text_document_position_params.position);
        let hover = doc.analysis.hover(offset).map(|(span, markdown)| Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: markdown,
            }),
            range: Some(doc.range(span)),
        });
        to_json(hover)
    }

    fn definition(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: GotoDefinitionParams = parse(params)?;
        let uri = p.text_document_position_params.text_document.uri;
        let doc = self.document(&uri)?;
        let offset = doc.offset(p.text_document_position_params.position);
        if let Some(module) = doc.analysis.stdlib_module_at(offset) {
            let start = Range::new(Position::new(0, 0), Position::new(0, 0));
            let found = stdlib_file(module)
                .and_then(|path| file_uri(&path))
                .map(|u| GotoDefinitionResponse::Scalar(Location::new(u, start)));
            return to_json(found);
        }
        if let Some(module) = doc.analysis.module_at(offset) {
            let start = Range::new(Position::new(0, 0), Position::new(0, 0));
            let found =
                file_uri(module).map(|u| GotoDefinitionResponse::Scalar(Location::new(u, start)));
            return to_json(found);
        }
        let found = doc
            .analysis
            .definition(offset)
            .and_then(|span| location(doc, &uri, span))
            .map(GotoDefinitionResponse::Scalar);
        to_json(found)
    }

    fn references(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: ReferenceParams = parse(params)?;
        let uri = p.text_document_position.text_document.uri;
        let doc = self.document(&uri)?;
        let offset = doc.offset(p.text_document_position.position);
        let locations: Vec<Location> = doc
            .analysis
            .references(offset, p.context.include_declaration)
            .into_iter()
            .map(|span| Location::new(uri.clone(), doc.range(span)))
            .collect();
        to_json(locations)
    }

    fn completion(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: CompletionParams = parse(params)?;
        let doc = self.document(&p.text_document_position.text_document.uri)?;
        let offset = doc.offset(p.text_document_position.position);
        let completion = doc.analysis.completions_at(offset);
        let range = doc.range(completion.replace);
        let items: Vec<CompletionItem> = completion
            .items
            .into_iter()
            .map(|c| CompletionItem {
                text_edit: Some(CompletionTextEdit::Edit(TextEdit::new(
                    range,
                    c.label.clone(),
                ))),
                label: c.label,
                kind: Some(match c.kind {
                    CandidateKind::Keyword => CompletionItemKind::KEYWORD,
                    CandidateKind::Field => CompletionItemKind::FIELD,
                    CandidateKind::Def => CompletionItemKind::CONSTANT,
                    CandidateKind::Member => CompletionItemKind::ENUM_MEMBER,
                    CandidateKind::Tier => CompletionItemKind::CONSTANT,
                    CandidateKind::Service => CompletionItemKind::MODULE,
                    CandidateKind::Function => CompletionItemKind::FUNCTION,
                    CandidateKind::Fixture => CompletionItemKind::VALUE,
                    CandidateKind::Duty => CompletionItemKind::INTERFACE,
                    CandidateKind::Module => CompletionItemKind::MODULE,
                }),
                detail: Some(c.detail),
                ..CompletionItem::default()
            })
            .collect();
        to_json(CompletionResponse::Array(items))
    }

    fn prepare_rename(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: TextDocumentPositionParams = parse(params)?;
        let doc = self.document(&p.text_document.uri)?;
        let offset = doc.offset(p.position);
        let (span, placeholder) = crate::lsp::rename::prepare(&doc.analysis, offset)?;
        to_json(PrepareRenameResponse::RangeWithPlaceholder {
            range: doc.range(span),
            placeholder,
        })
    }

    /// Renames in the file that declares the name — this document, or the user module
    /// it comes from — and in every policy of the workspace (and every open document)
    /// that uses it from that file.
    // `Uri` is the protocol's key type; its cache is not part of its identity.
    #[allow(clippy::mutable_key_type)]
    fn rename(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: RenameParams = parse(params)?;
        let uri = p.text_document_position.text_document.uri;
        let doc = self.document(&uri)?;
        let offset = doc.offset(p.text_document_position.position);
        let new_name = p.new_name.as_str();
        crate::lsp::rename::prepare(&doc.analysis, offset)?;
        let symbol =
            crate::lsp::rename::symbol_at(&doc.analysis, offset).ok_or("no name to rename here")?;
        let definition = doc
            .analysis
            .definition_of(&symbol)
            .ok_or("the name is not declared")?;
        let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
        let to_edits = |d: &Document, edits: Vec<(Span, String)>| -> Vec<TextEdit> {
            edits
                .into_iter()
                .map(|(span, text)| TextEdit::new(d.range(span), text))
                .collect()
        };
        // The declaring file checks the new name and gets its edits first.
        let home = match doc.analysis.user_module_file(definition) {
            Some(module) => {
                let module = module.to_path_buf();
                let module_uri = file_uri(&module).ok_or("the module's file has no URI")?;
                let owned;
                let module_doc = match self.documents.get(module_uri.as_str()) {
                    Some(open) => open,
                    None => {
                        let text = std::fs::read_to_string(&module)
                            .map_err(|e| format!("cannot read {}: {e}", module.display()))?;
                        owned = Document::new(&module_uri, &text, &self.config);
                        &owned
                    }
                };
                let at = module_doc
                    .analysis
                    .definition_of(&symbol)
                    .filter(|span| module_doc.analysis.in_document(*span))
                    .ok_or("the module does not declare the name itself")?;
                let edits = crate::lsp::rename::rename(&module_doc.analysis, at.start, new_name)?;
                changes.insert(module_uri, to_edits(module_doc, edits));
                Some(module)
            }
            None => {
                let edits = crate::lsp::rename::rename(&doc.analysis, offset, new_name)?;
                changes.insert(uri.clone(), to_edits(doc, edits));
                file_path(&uri)
            }
        };
        let Some(home) = home else {
            return to_json(WorkspaceEdit::new(changes));
        };
        self.for_each_workspace_document(|other_uri, other| {
            if changes.contains_key(other_uri) || !other.analysis.loads_module(&home) {
                return;
            }
            // The same name, as that file reads it from the declaring file (not one it
            // declares itself).
            let from_home = other
                .analysis
                .definition_of(&symbol)
                .and_then(|d| other.analysis.user_module_file(d))
                .is_some_and(|f| crate::modules::same_file(f, &home));
            if !from_home {
                return;
            }
            let edits = crate::lsp::rename::uses(&other.analysis, &symbol, new_name);
            if !edits.is_empty() {
                changes.insert(other_uri.clone(), to_edits(other, edits));
            }
        });
        to_json(WorkspaceEdit::new(changes))
    }

    /// Runs `f` on every open document, then on every other policy file under the
    /// workspace root (read from disk; at most [`WORKSPACE_FILES`]).
    fn for_each_workspace_document(&self, mut f: impl FnMut(&Uri, &Document)) {
        let mut seen = std::collections::HashSet::new();
        for (key, doc) in &self.documents {
            if let Ok(uri) = key.parse::<Uri>() {
                seen.insert(key.clone());
                f(&uri, doc);
            }
        }
        let root = self.config_path.parent().map_or_else(
            || std::path::PathBuf::from("."),
            std::path::Path::to_path_buf,
        );
        let files = walkdir::WalkDir::new(&root)
            .into_iter()
            .filter_entry(|e| {
                let name = e.file_name().to_string_lossy();
                e.depth() == 0
                    || !(name.starts_with('.') || name == "target" || name == "node_modules")
            })
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file() && e.path().extension() == Some("bylaw".as_ref()))
            .take(WORKSPACE_FILES);
        for entry in files {
            let Some(uri) = file_uri(entry.path()) else {
                continue;
            };
            if !seen.insert(uri.as_str().to_string()) {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                f(&uri, &Document::new(&uri, &text, &self.config));
            }
        }
    }

    fn highlight(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: DocumentHighlightParams = parse(params)?;
        let doc = self.document(&p.text_document_position_params.text_document.uri)?;
        let offset = doc.offset(p.text_document_position_params.position);
        let highlights: Vec<DocumentHighlight> =
            crate::lsp::rename::highlights(&doc.analysis, offset)
                .into_iter()
                .map(|(span, written)| DocumentHighlight {
                    range: doc.range(span),
                    kind: Some(if written {
                        DocumentHighlightKind::WRITE
                    } else {
                        DocumentHighlightKind::READ
                    }),
                })
                .collect();
        to_json(highlights)
    }

    fn folding(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: FoldingRangeParams = parse(params)?;
        let doc = self.document(&p.text_document.uri)?;
        let ranges: Vec<FoldingRange> = crate::lsp::rename::folds(&doc.analysis)
            .into_iter()
            .map(|(span, comment)| {
                let range = doc.range(span);
                FoldingRange {
                    start_line: range.start.line,
                    end_line: range.end.line,
                    kind: Some(if comment {
                        FoldingRangeKind::Comment
                    } else {
                        FoldingRangeKind::Region
                    }),
                    ..FoldingRange::default()
                }
            })
            .collect();
        to_json(ranges)
    }

    /// The document's tokens, encoded, remembered under a new result id.
    fn encoded_tokens(&self, uri: &Uri, doc: &Document) -> (String, Vec<u32>) {
        let tokens = crate::lsp::tokens::tokens(&doc.analysis);
        let text = &doc.analysis.text;
        let data =
            crate::lsp::tokens::encode(&tokens, |offset| doc.lines.position(text, offset as usize));
        let id = self.next_result_id.get() + 1;
        self.next_result_id.set(id);
        let id = id.to_string();
        self.semantic
            .borrow_mut()
            .insert(uri.as_str().to_string(), (id.clone(), data.clone()));
        (id, data)
    }

    fn semantic_tokens(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: SemanticTokensParams = parse(params)?;
        let doc = self.document(&p.text_document.uri)?;
        let (id, data) = self.encoded_tokens(&p.text_document.uri, doc);
        to_json(SemanticTokensResult::Tokens(SemanticTokens {
            result_id: Some(id),
            data: raw_tokens(&data),
        }))
    }

    /// The change since the tokens last sent, as one edit; all of them when the
    /// client names a result this server no longer has.
    fn semantic_tokens_delta(
        &self,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let p: SemanticTokensDeltaParams = parse(params)?;
        let doc = self.document(&p.text_document.uri)?;
        let previous = self
            .semantic
            .borrow()
            .get(p.text_document.uri.as_str())
            .filter(|(id, _)| *id == p.previous_result_id)
            .map(|(_, data)| data.clone());
        let (id, data) = self.encoded_tokens(&p.text_document.uri, doc);
        let Some(previous) = previous else {
            return to_json(SemanticTokensFullDeltaResult::Tokens(SemanticTokens {
                result_id: Some(id),
                data: raw_tokens(&data),
            }));
        };
        let edits = crate::lsp::tokens::delta(&previous, &data)
            .map(|(start, delete_count, inserted)| SemanticTokensEdit {
                start: start as u32,
                delete_count: delete_count as u32,
                data: Some(raw_tokens(&inserted)),
            })
            .into_iter()
            .collect();
        to_json(SemanticTokensFullDeltaResult::TokensDelta(
            SemanticTokensDelta {
                result_id: Some(id),
                edits,
            },
        ))
    }

    fn code_lenses(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: CodeLensParams = parse(params)?;
        let uri = p.text_document.uri;
        let doc = self.document(&uri)?;
        let lenses: Vec<CodeLens> = crate::lsp::lens::lenses(&doc.analysis)
            .into_iter()
            .map(|lens| {
                let start = doc.range(lens.span).start;
                let mut arguments = vec![serde_json::json!(uri.as_str())];
                arguments.extend(lens.test.map(|name| serde_json::json!(name)));
                CodeLens {
                    range: Range::new(start, start),
                    command: Some(Command::new(
                        lens.title,
                        crate::lsp::lens::RUN_TESTS.to_string(),
                        Some(arguments),
                    )),
                    data: None,
                }
            })
            .collect();
        to_json(lenses)
    }

    /// `bylaw.runTests URI [TEST]`: runs the document's tests (or the one named) and
    /// shows each failure as a diagnostic on its test, until the document changes.
    /// Answers with how many passed and failed.
    fn execute(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: ExecuteCommandParams = parse(params)?;
        if p.command != crate::lsp::lens::RUN_TESTS {
            return Err(format!("bylaw lsp has no command `{}`", p.command));
        }
        let uri: Uri = p
            .arguments
            .first()
            .and_then(|a| a.as_str())
            .and_then(|s| s.parse().ok())
            .ok_or("bylaw.runTests takes the document's URI first")?;
        let only = p.arguments.get(1).and_then(|a| a.as_str());
        let doc = self.document(&uri)?;
        let run = crate::lsp::lens::run(&doc.analysis, only)?;
        let mut published = diagnostics(doc);
        published.extend(run.diagnostics.iter().map(|d| lsp_diagnostic(doc, d)));
        self.publish(uri, published)?;
        to_json(serde_json::json!({ "passed": run.passed, "failed": run.failed }))
    }

    /// `workspace/symbol`: the outline entries of every open document (and their
    /// children) whose name contains the query, ignoring case.
    fn workspace_symbols(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: WorkspaceSymbolParams = parse(params)?;
        let query = p.query.to_lowercase();
        let mut found = Vec::new();
        let mut uris: Vec<&String> = self.documents.keys().collect();
        uris.sort();
        for uri in uris {
            let (Some(doc), Ok(parsed)) = (self.documents.get(uri), uri.parse::<Uri>()) else {
                continue;
            };
            let outline = doc.analysis.outline();
            let mut stack: Vec<(&Outline, Option<&str>)> =
                outline.iter().rev().map(|o| (o, None)).collect();
            while let Some((o, container)) = stack.pop() {
                if o.name.to_lowercase().contains(&query) {
                    found.push(WorkspaceSymbol {
                        name: o.name.clone(),
                        kind: symbol_kind(o.kind),
                        tags: None,
                        container_name: container.map(str::to_string),
                        location: OneOf::Left(Location::new(
                            parsed.clone(),
                            doc.range(o.selection),
                        )),
                        data: None,
                    });
                }
                for child in o.children.iter().rev() {
                    stack.push((child, Some(o.name.as_str())));
                }
            }
        }
        to_json(WorkspaceSymbolResponse::Nested(found))
    }

    fn symbols(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: DocumentSymbolParams = parse(params)?;
        let doc = self.document(&p.text_document.uri)?;
        let symbols: Vec<DocumentSymbol> = doc
            .analysis
            .outline()
            .iter()
            .map(|o| symbol(doc, o))
            .collect();
        to_json(DocumentSymbolResponse::Nested(symbols))
    }

    fn formatting(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: DocumentFormattingParams = parse(params)?;
        let doc = self.document(&p.text_document.uri)?;
        // A document with syntax errors is left alone: null, as the protocol allows.
        let edits = doc.analysis.formatted().map(|text| {
            let whole = Span::new(0, doc.analysis.text.len() as u32);
            vec![TextEdit::new(doc.range(whole), text)]
        });
        to_json(edits)
    }

    fn code_actions(&self, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let p: CodeActionParams = parse(params)?;
        let uri = p.text_document.uri;
        let doc = self.document(&uri)?;
        let range = Span::new(doc.offset(p.range.start), doc.offset(p.range.end));
        let actions: Vec<CodeActionOrCommand> = doc
            .analysis
            .fixes(range)
            .into_iter()
            .map(|(diagnostic, fix)| {
                let edit = TextEdit::new(doc.range(fix.span), fix.replacement.clone());
                // `Uri` is the protocol's key type; its cache is not part of its identity.
                #[allow(clippy::mutable_key_type)]
                let mut changes = HashMap::new();
                changes.insert(uri.clone(), vec![edit]);
                CodeActionOrCommand::CodeAction(CodeAction {
                    title: fix.title.clone(),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![lsp_diagnostic(doc, diagnostic)]),
                    edit: Some(WorkspaceEdit {
                        changes: Some(changes),
                        ..WorkspaceEdit::default()
                    }),
                    is_preferred: Some(true),
                    ..CodeAction::default()
                })
            })
            .collect();
        to_json(actions)
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Opened {
    text_document: OpenedDocument,
}

#[derive(serde::Deserialize)]
struct OpenedDocument {
    uri: Uri,
    text: String,
}

fn parse<T: serde::de::DeserializeOwned>(params: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(params).map_err(|e| format!("bad parameters: {e}"))
}

fn to_json(value: impl serde::Serialize) -> Result<serde_json::Value, String> {
    serde_json::to_value(value).map_err(|e| e.to_string())
}

fn diagnostics(doc: &Document) -> Vec<LspDiagnostic> {
    doc.analysis
        .diagnostics()
        .iter()
        .map(|d| lsp_diagnostic(doc, d))
        .collect()
}

/// The encoding's numbers, five to a token, as `lsp-types` holds them.
fn raw_tokens(data: &[u32]) -> Vec<SemanticToken> {
    data.chunks_exact(5)
        .map(|t| SemanticToken {
            delta_line: t[0],
            delta_start: t[1],
            length: t[2],
            token_type: t[3],
            token_modifiers_bitset: t[4],
        })
        .collect()
}

/// The workspace's root directory from `initialize`: its first folder, else `rootUri`.
fn workspace_root(params: &serde_json::Value) -> Option<std::path::PathBuf> {
    let uri = params["workspaceFolders"][0]["uri"]
        .as_str()
        .or_else(|| params["rootUri"].as_str())?;
    url::Url::parse(uri).ok()?.to_file_path().ok()
}

/// Lint levels from a `bylaw.toml`; the defaults when there is none or it is invalid
/// (said on standard error, which editors show in the server's log).
fn read_config(path: &std::path::Path) -> Config {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Config::default();
    };
    match Config::from_toml(&text) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("bylaw lsp: ignoring {}: {e}", path.display());
            Config::default()
        }
    }
}

/// The file a `file://` URI names.
fn file_path(uri: &Uri) -> Option<std::path::PathBuf> {
    url::Url::parse(uri.as_str()).ok()?.to_file_path().ok()
}

fn file_uri(path: &std::path::Path) -> Option<Uri> {
    let absolute = std::path::absolute(path).ok()?;
    let url = url::Url::from_file_path(absolute).ok()?;
    url.as_str().parse().ok()
}

/// Where a span is: in the document, or in a user module's file.
fn location(doc: &Document, uri: &Uri, span: Span) -> Option<Location> {
    if crate::modules::in_file(span, 0, doc.analysis.text.len()) {
        return Some(Location::new(uri.clone(), doc.range(span)));
    }
    let file = doc.analysis.checked.sources.file_of(span)?;
    let lines = LineIndex::new(&file.text);
    let local = |offset: u32| {
        let (line, character) = lines.position(&file.text, (offset - file.base) as usize);
        Position::new(line, character)
    };
    let range = Range::new(local(span.start), local(span.end));
    // A standard-library module is written out (read-only) for the editor to open.
    let path = match file
        .name
        .strip_prefix('<')
        .and_then(|n| n.strip_suffix('>'))
    {
        Some(module) => stdlib_file(module)?,
        None => std::path::PathBuf::from(&file.name),
    };
    Some(Location::new(file_uri(&path)?, range))
}

/// The standard-library module `name` as a file the editor can open: written once per
/// `bylaw` version under the user's cache directory, read-only.
fn stdlib_file(name: &str) -> Option<std::path::PathBuf> {
    let module = crate::stdlib::get(name)?;
    let mut relative = std::path::PathBuf::from(format!("stdlib-{}", env!("CARGO_PKG_VERSION")));
    for part in name.split("::") {
        relative.push(part);
    }
    relative.set_extension("bylaw");
    cached_file(&relative, module.text)
}

/// `text` as a read-only file at `relative` under `$XDG_CACHE_HOME/bylaw` (or
/// `~/.cache/bylaw`), written again only when it differs.
fn cached_file(relative: &std::path::Path, text: &str) -> Option<std::path::PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let path = cache.join("bylaw").join(relative);
    let current = std::fs::read_to_string(&path).ok();
    if current.as_deref() != Some(text) {
        std::fs::create_dir_all(path.parent()?).ok()?;
        if path.exists() {
            let mut permissions = std::fs::metadata(&path).ok()?.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            permissions.set_readonly(false);
            std::fs::set_permissions(&path, permissions).ok()?;
        }
        std::fs::write(&path, text).ok()?;
        let mut permissions = std::fs::metadata(&path).ok()?.permissions();
        permissions.set_readonly(true);
        std::fs::set_permissions(&path, permissions).ok()?;
    }
    Some(path)
}

/// The reference pages a diagnostic links to, as shipped with this `bylaw`.
const DIAGNOSTICS_DOC: &str = include_str!("../../docs/diagnostics.md");
const LINT_RULES_DOC: &str = include_str!("../../docs/lint-rules.md");

/// Where a diagnostic's code is documented: the lint rule's section or the code's row,
/// in the reference pages written beside the cached standard library (there is no
/// public site to link to, and a file the editor opens works offline). `#L12` is the
/// line, as editors read it.
fn doc_link(code: &str, name: &str) -> Option<Uri> {
    /// The pages: (file name, text).
    const PAGES: [(&str, &str); 2] = [
        ("diagnostics.md", DIAGNOSTICS_DOC),
        ("lint-rules.md", LINT_RULES_DOC),
    ];
    // Written once per process: every diagnostic of every change links here.
    static WRITTEN: std::sync::OnceLock<[Option<std::path::PathBuf>; 2]> =
        std::sync::OnceLock::new();
    let (page, needle) = if code.starts_with('L') {
        (1, format!("## {name}"))
    } else {
        (0, format!("| {code} |"))
    };
    let line = PAGES[page].1.lines().position(|l| l.starts_with(&needle))?;
    let written = WRITTEN.get_or_init(|| {
        PAGES.map(|(file, text)| {
            let version = format!("docs-{}", env!("CARGO_PKG_VERSION"));
            cached_file(&std::path::Path::new(&version).join(file), text)
        })
    });
    let mut url = url::Url::from_file_path(written[page].as_ref()?).ok()?;
    url.set_fragment(Some(&format!("L{}", line + 1)));
    url.as_str().parse().ok()
}

fn lsp_diagnostic(doc: &Document, d: &crate::diagnostics::Diagnostic) -> LspDiagnostic {
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    LspDiagnostic {
        range: doc.range(d.span()),
        severity: Some(if d.is_error() {
            DiagnosticSeverity::ERROR
        } else {
            DiagnosticSeverity::WARNING
        }),
        code: Some(NumberOrString::String(format!(
            "{} {}",
            d.code.code(),
            d.code.name()
        ))),
        code_description: doc_link(d.code.code(), d.code.name())
            .map(|href| lsp_types::CodeDescription { href }),
        source: Some("bylaw".into()),
        message,
        // Editors grey out what nothing uses.
        tags: matches!(
            d.code.name(),
            "unused-field" | "unused-def" | "unused-fixture" | "unused-enum"
        )
        .then(|| vec![DiagnosticTag::UNNECESSARY]),
        ..LspDiagnostic::default()
    }
}

fn symbol_kind(kind: OutlineKind) -> SymbolKind {
    match kind {
        OutlineKind::Policy => SymbolKind::PACKAGE,
        OutlineKind::Enum => SymbolKind::ENUM,
        OutlineKind::Member => SymbolKind::ENUM_MEMBER,
        OutlineKind::Struct => SymbolKind::STRUCT,
        OutlineKind::Field => SymbolKind::FIELD,
        OutlineKind::Function => SymbolKind::FUNCTION,
        OutlineKind::Rule => SymbolKind::OPERATOR,
        OutlineKind::Event => SymbolKind::EVENT,
        OutlineKind::Module => SymbolKind::MODULE,
    }
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must still be written.
fn symbol(doc: &Document, o: &Outline) -> DocumentSymbol {
    DocumentSymbol {
        name: o.name.clone(),
        detail: (!o.detail.is_empty()).then(|| o.detail.clone()),
        kind: symbol_kind(o.kind),
        tags: None,
        deprecated: None,
        range: doc.range(o.span),
        selection_range: doc.range(o.selection),
        children: (!o.children.is_empty())
            .then(|| o.children.iter().map(|c| symbol(doc, c)).collect()),
    }
}
