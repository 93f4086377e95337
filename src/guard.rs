//! The façade: compile a policy, get a `Guard`, decide requests.

use std::sync::Arc;

use crate::check::program::Program;
use crate::codegen::CodegenError;
use crate::codegen::jit::JitGuard;
use crate::diagnostics::{self, Diagnostic};
use crate::ir::{self, Compact};
use crate::runtime::decision::Decision;
use crate::runtime::record::{Encoder, InputError, Record, RecordBuilder};
use crate::source::SourceMap;

/// Diagnostics that stopped a compilation, with the sources they point into.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
}

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&diagnostics::render(
            &self.sources,
            &self.diagnostics,
            false,
        ))
    }
}

impl std::error::Error for Diagnostics {}

impl From<CodegenError> for Diagnostics {
    fn from(e: CodegenError) -> Self {
        Diagnostics {
            sources: SourceMap::new(),
            diagnostics: vec![Diagnostic {
                code: diagnostics::Code::CodegenFailed,
                severity: diagnostics::Severity::Error,
                message: e.to_string(),
                labels: Vec::new(),
                help: None,
            }],
        }
    }
}

/// A checked, lowered policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub program: Program,
    pub ir: ir::Policy,
    pub sources: SourceMap,
    /// Warnings from checking (a policy with errors never gets this far).
    pub warnings: Vec<Diagnostic>,
    /// The modules it uses, in the order loaded.
    pub modules: Vec<crate::modules::Loaded>,
}

impl Policy {
    /// What `bylaw serve` reports on `/v1/policy` and every runtime decision names,
    /// hex SHA-256: of the policy file's text, or, when it uses user modules, of the
    /// policy's and each module's text and path from the policy's directory, so that
    /// changing a module changes it and moving the workspace (or bundling it) does not.
    /// (Standard-library modules are the binary's: its version names them.)
    pub fn fingerprint(&self) -> String {
        let text = self.sources.files().first().map_or("", |f| f.text.as_str());
        let user = self.user_module_files();
        if user.is_empty() {
            return fingerprint(text.as_bytes());
        }
        let mut bytes = Vec::new();
        for (name, text) in std::iter::once((String::new(), text)).chain(
            user.iter()
                .map(|(path, f)| (path.display().to_string(), f.text.as_str())),
        ) {
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(0);
            bytes.extend_from_slice(text.len().to_string().as_bytes());
            bytes.push(0);
            bytes.extend_from_slice(text.as_bytes());
        }
        fingerprint(&bytes)
    }

    /// The files of the user modules this policy loaded, each with its path from the
    /// policy file's directory (`lib/acme/x.bylaw`, `../common/y.bylaw`).
    pub fn user_module_files(&self) -> Vec<(std::path::PathBuf, &crate::source::SourceFile)> {
        let files = self.sources.files();
        let dir = files
            .first()
            .map(|f| crate::modules::loader::parent_dir(std::path::Path::new(&f.name)))
            .unwrap_or_else(|| ".".into());
        self.modules
            .iter()
            .filter_map(|m| {
                let path = m.path.as_ref()?;
                let file = m.file(&self.sources)?;
                Some((crate::modules::loader::relative_path(&dir, path), file))
            })
            .collect()
    }

    /// Compiles source text into a guard with native code.
    ///
    /// ```text
    /// let guard = bylaw::Policy::compile(source)?;
    /// let decision = guard.decide_json(br#"{"scores": {"toxicity": 0.9}}"#);
    /// ```
    pub fn compile(source: &str) -> Result<Guard, Diagnostics> {
        Guard::new(
            Arc::new(Policy::check("policy.bylaw", source)?),
            Engine::Jit,
        )
    }

    /// Parses, checks and lowers a policy that may use standard-library modules only;
    /// `name` is how diagnostics name the file.
    pub fn check(name: &str, source: &str) -> Result<Policy, Diagnostics> {
        Policy::check_with(name, source, &crate::modules::Loader::stdlib_only())
    }

    /// Parses, checks and lowers, loading user modules through `loader`
    /// ([`crate::modules::Loader::for_policy`] for a policy file).
    pub fn check_with(
        name: &str,
        source: &str,
        loader: &crate::modules::Loader,
    ) -> Result<Policy, Diagnostics> {
        let checked = crate::check_source_with(name, source, loader);
        match checked.program {
            Some(program) if !checked.has_errors() => Ok(Policy::lowered(
                program,
                checked.sources,
                checked.diagnostics,
                checked.modules,
            )),
            _ => Err(Diagnostics {
                sources: checked.sources,
                diagnostics: checked.diagnostics,
            }),
        }
    }

    /// A checked program lowered to its IR: the policy a guard runs.
    pub fn lowered(
        program: Program,
        sources: SourceMap,
        warnings: Vec<Diagnostic>,
        modules: Vec<crate::modules::Loaded>,
    ) -> Policy {
        let ir = ir::lower(&program, &sources);
        Policy {
            program,
            ir,
            sources,
            warnings,
            modules,
        }
    }
}

/// A policy file's fingerprint: SHA-256 of its bytes, hex.
pub fn fingerprint(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Which engine decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// Native code from the Cranelift JIT.
    #[default]
    Jit,
    /// The reference interpreter over the IR.
    Interpreter,
}

/// A policy ready to decide requests. `Send + Sync`: share it between threads.
#[derive(Debug, Clone)]
pub struct Guard {
    policy: Arc<Policy>,
    encoder: Arc<Encoder>,
    jit: Option<Arc<JitGuard>>,
    /// Why the JIT was asked for and the interpreter decides instead.
    interpreted_because: Option<String>,
}

impl Guard {
    /// A guard deciding with `engine`. A policy too large for native code
    /// ([`crate::codegen::too_large_for_native`]) is decided by the interpreter even
    /// when the JIT is asked for: [`Guard::interpreted_because`] says why.
    pub fn new(policy: Arc<Policy>, engine: Engine) -> Result<Guard, Diagnostics> {
        let mut interpreted_because = None;
        let jit = match engine {
            Engine::Jit => match crate::codegen::too_large_for_native(&policy.ir) {
                Some(why) => {
                    interpreted_because = Some(why);
                    None
                }
                None => Some(Arc::new(JitGuard::compile(&policy.ir)?)),
            },
            Engine::Interpreter => None,
        };
        Ok(Guard {
            encoder: Arc::new(Encoder::new(&policy.ir)),
            policy,
            jit,
            interpreted_because,
        })
    }

    /// Set when the JIT was asked for but the policy is decided by the interpreter.
    pub fn interpreted_because(&self) -> Option<&str> {
        self.interpreted_because.as_deref()
    }

    /// The policy, shared.
    pub fn policy_arc(&self) -> &Arc<Policy> {
        &self.policy
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn engine(&self) -> Engine {
        if self.jit.is_some() {
            Engine::Jit
        } else {
            Engine::Interpreter
        }
    }

    /// The size of the compiled guard's machine code in bytes; `None` when the
    /// interpreter decides.
    pub fn native_code_bytes(&self) -> Option<usize> {
        self.jit.as_ref().map(|jit| jit.code_bytes())
    }

    /// A builder for a request record, by field path, without JSON.
    pub fn record(&self) -> RecordBuilder<'_> {
        RecordBuilder::new(&self.policy.ir, &self.encoder)
    }

    /// Encodes a JSON request; errors name every bad field.
    pub fn encode_json(&self, bytes: &[u8]) -> Result<Record, Vec<InputError>> {
        self.encoder.decode_json(&self.policy.ir, bytes)
    }

    /// [`Guard::encode_json`] into a record the caller keeps for the next request: its
    /// buffers are reused, so a request of numbers, booleans, enums and policy literals
    /// is decoded without allocating. On an error the record holds no request.
    pub fn encode_json_into(
        &self,
        bytes: &[u8],
        record: &mut Record,
    ) -> Result<(), Vec<InputError>> {
        self.encoder
            .decode_json_into(&self.policy.ir, bytes, record)
    }

    pub fn encode_value(&self, json: &serde_json::Value) -> Result<Record, Vec<InputError>> {
        self.encoder.decode_value(&self.policy.ir, json)
    }

    /// An empty result buffer of this policy's layout, for [`Guard::decide_compact`].
    pub fn compact(&self) -> Compact {
        Compact::new(&self.policy.ir.layout)
    }

    /// The fast path: decide into a reused buffer, with no allocation.
    #[inline]
    pub fn decide_compact(&self, record: &Record, degraded: bool, out: &mut Compact) {
        match &self.jit {
            Some(jit) => jit.decide(record, degraded, out),
            None => ir::interp::decide(&self.policy.ir, record, degraded, out),
        }
    }

    /// Decides every record in turn, handing each result to `each` with its index:
    /// one scratch result for the whole batch, so a host deciding a batch pays no
    /// per-call set-up. `each` sees exactly what [`Guard::decide_compact`] writes for
    /// that record.
    pub fn decide_many(
        &self,
        records: &[Record],
        degraded: bool,
        mut each: impl FnMut(usize, &Compact),
    ) {
        let mut out = self.compact();
        for (i, record) in records.iter().enumerate() {
            self.decide_compact(record, degraded, &mut out);
            each(i, &out);
        }
    }

    /// The outcome alone, for hosts that need no reasons: the compiled guard returns
    /// at the first deny rule that fires (a policy split into parts, and the
    /// interpreter, compute the whole decision). Always the outcome
    /// [`Guard::decide_compact`] gives; `scratch` holds nothing else of use after.
    #[inline]
    pub fn decide_outcome(
        &self,
        record: &Record,
        degraded: bool,
        scratch: &mut Compact,
    ) -> crate::ast::Outcome {
        match &self.jit {
            Some(jit) => jit.decide_outcome(record, degraded, scratch),
            None => {
                ir::interp::decide(&self.policy.ir, record, degraded, scratch);
                scratch.outcome()
            }
        }
    }

    pub fn decide(&self, record: &Record) -> Decision {
        self.decide_with(record, false)
    }

    /// Decides with the request's service marked degraded or not.
    pub fn decide_with(&self, record: &Record, degraded: bool) -> Decision {
        let mut out = self.compact();
        self.decide_compact(record, degraded, &mut out);
        Decision::expand(&self.policy.ir, &out)
    }

    /// JSON bytes in, decision out. An invalid request is denied, naming each bad field.
    pub fn decide_json(&self, bytes: &[u8]) -> Decision {
        match self.encode_json(bytes) {
            Ok(record) => self.decide(&record),
            Err(errors) => Decision::invalid(errors),
        }
    }

    pub(crate) fn encoder(&self) -> &Encoder {
        &self.encoder
    }
}
