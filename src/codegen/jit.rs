//! The in-process guard: Cranelift JIT. This module holds the crate's only calls into
//! generated code.

use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, default_libcall_names};

use super::{CodegenError, RawRecord, TextRef, Texts as GuardTexts, err};
use std::ffi::c_void;

use crate::ir::{Calls, Compact, Policy, Texts};
use crate::runtime::record::Record;

type GuardFn = unsafe extern "C" fn(*const RawRecord, *mut u64);

/// A policy compiled to native code.
pub struct JitGuard {
    module: Option<JITModule>,
    function: GuardFn,
    /// The outcome-only function (`translate::Part::Outcome`), for policies not split
    /// into parts.
    outcome: Option<GuardFn>,
    words: usize,
    fields: usize,
    /// What string and set calls read, kept by the guard so it borrows no policy.
    calls: Calls,
    literals: Vec<String>,
    /// The bytes of `literals`, for generated code: each points into a string of
    /// `literals`, which is never changed while the guard lives.
    literal_texts: Vec<TextRef>,
    /// The code reads string bytes in line (`translate::reads_texts_in_line`).
    reads_texts: bool,
    code_bytes: usize,
}

/// Records with up to this many strings of their own have their text table built on
/// the stack.
const EXTRA_TEXTS_ON_STACK: usize = 8;

/// What the call helpers receive: the guard's tables and the record being decided.
pub struct CallEnv<'a> {
    calls: &'a Calls,
    texts: Texts<'a>,
}

/// A string function, for generated code.
///
/// # Safety
/// `env` must point to a live [`CallEnv`].
unsafe extern "C" fn str_call(env: *const c_void, call: i64, a: i64, b: i64) -> i64 {
    // SAFETY: generated code passes the `env` its `RawRecord` carries, which `decide`
    // points at a `CallEnv` that outlives the call.
    let env = unsafe { &*env.cast::<CallEnv<'_>>() };
    match env.calls.str_calls.get(call as usize) {
        Some(spec) => crate::ir::str_call(env.calls, env.texts, spec, a as u64, b as u64),
        None => 0,
    }
}

/// `hour_of_day` or `weekday`, for generated code: -1 when it cannot be computed.
///
/// # Safety
/// `env` must point to a live [`CallEnv`].
unsafe extern "C" fn time_call(env: *const c_void, arg: i64, t: i64, _: i64) -> i64 {
    // SAFETY: as for `str_call`.
    let env = unsafe { &*env.cast::<CallEnv<'_>>() };
    crate::ir::time_call(env.calls, arg & 1 != 0, (arg >> 1) as u32, t).unwrap_or(-1)
}

/// `contains_all`/`contains_any` of two `set<string>` values, for generated code.
///
/// # Safety
/// `env` must point to a live [`CallEnv`].
unsafe extern "C" fn str_set_rel(env: *const c_void, all: i64, a: i64, b: i64) -> i64 {
    // SAFETY: as for `str_call`.
    let env = unsafe { &*env.cast::<CallEnv<'_>>() };
    i64::from(crate::ir::str_set_rel(
        env.calls,
        env.texts,
        all != 0,
        a as u64,
        b as u64,
    ))
}

// SAFETY: after `finalize_definitions` the module's code is immutable and never freed
// while `JitGuard` lives; the generated function is reentrant (it reads only its
// arguments and writes only `out`), so sharing and sending the guard between threads is
// sound.
unsafe impl Send for JitGuard {}
// SAFETY: as above — `decide` takes `&self` and touches no shared mutable state.
unsafe impl Sync for JitGuard {}

impl std::fmt::Debug for JitGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitGuard")
            .field("words", &self.words)
            .finish_non_exhaustive()
    }
}

impl JitGuard {
    pub fn compile(policy: &Policy) -> Result<JitGuard, CodegenError> {
        let isa = super::host_isa(false)?;
        let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
        builder.symbol(
            super::translate::STR_SET_CONTAINS,
            super::str_set_contains as *const u8,
        );
        builder.symbol(super::translate::STR_CALL, str_call as *const u8);
        builder.symbol(super::translate::STR_SET_REL, str_set_rel as *const u8);
        builder.symbol(super::translate::TIME_CALL, time_call as *const u8);
        let mut module = JITModule::new(builder);
        let defined = super::define_guard(
            &mut module,
            policy,
            "bylaw_guard",
            Linkage::Local,
            GuardTexts::InLine,
            true,
        )?;
        module
            .finalize_definitions()
            .map_err(|e| err("linking the guard")(e.to_string()))?;
        let code = module.get_finalized_function(defined.entry);
        // SAFETY: `code` is the finalized body of a function declared with
        // `guard_signature`, which is exactly `GuardFn`'s C ABI.
        let function = unsafe { std::mem::transmute::<*const u8, GuardFn>(code) };
        let outcome = defined.outcome.map(|id| {
            let code = module.get_finalized_function(id);
            // SAFETY: as above: `Part::Outcome` has the same signature as the guard.
            unsafe { std::mem::transmute::<*const u8, GuardFn>(code) }
        });
        let literals = policy.strings.clone();
        let literal_texts = literals.iter().map(|s| TextRef::of(s)).collect();
        Ok(JitGuard {
            module: Some(module),
            function,
            outcome,
            words: policy.layout.words,
            fields: policy.fields.len(),
            calls: policy.calls.clone(),
            literals,
            literal_texts,
            reads_texts: super::translate::reads_texts_in_line(policy),
            code_bytes: defined.code_bytes,
        })
    }

    /// The size of the guard's machine code, in bytes.
    pub fn code_bytes(&self) -> usize {
        self.code_bytes
    }

    /// Decides `record` into `out`.
    #[inline]
    pub fn decide(&self, record: &Record, degraded: bool, out: &mut Compact) {
        self.run(self.function, record, degraded, out);
    }

    /// The outcome of `record`'s decision, stopping at the first deny rule that fires
    /// where the policy allows it; `out` is scratch space.
    #[inline]
    pub fn decide_outcome(
        &self,
        record: &Record,
        degraded: bool,
        out: &mut Compact,
    ) -> crate::ast::Outcome {
        self.run(self.outcome.unwrap_or(self.function), record, degraded, out);
        out.outcome()
    }

    #[inline]
    fn run(&self, function: GuardFn, record: &Record, degraded: bool, out: &mut Compact) {
        if out.words.len() != self.words {
            out.words.clear();
            out.words.resize(self.words, 0);
        }
        if record.slots().len() < self.fields
            || record.present().len() < crate::runtime::record::presence_words(self.fields)
        {
            // A record made for another policy: refuse rather than read out of bounds.
            out.fail(crate::ir::status::OVERFLOW, u32::MAX);
            return;
        }
        let env = CallEnv {
            calls: &self.calls,
            texts: Texts {
                literals: &self.literals,
                record,
            },
        };
        // Only code that tests strings in line reads the request's strings' bytes.
        let extra = record.extra_strings();
        let count = if self.reads_texts { extra.len() } else { 0 };
        let mut on_stack = [TextRef::of(""); EXTRA_TEXTS_ON_STACK];
        let on_heap: Vec<TextRef>;
        let extra_texts: &[TextRef] = if count <= EXTRA_TEXTS_ON_STACK {
            for (slot, text) in on_stack.iter_mut().zip(extra.take(count)) {
                *slot = TextRef::of(text);
            }
            on_stack.get(..count).unwrap_or(&[])
        } else {
            on_heap = extra.map(TextRef::of).collect();
            &on_heap
        };
        let raw = RawRecord {
            slots: record.slots().as_ptr(),
            present: record.present().as_ptr(),
            set_items: record.set_items.as_ptr(),
            degraded: u64::from(degraded),
            env: (&raw const env).cast(),
            literal_texts: self.literal_texts.as_ptr(),
            extra_texts: extra_texts.as_ptr(),
            extra_count: extra_texts.len() as u64,
        };
        // SAFETY: the generated code reads `fields` slots and their presence words (the
        // lengths were checked above), set items only through packed slots the record
        // built, string bytes only through the two text tables at ids it checks against
        // their lengths (both tables and the strings they point into outlive the call),
        // and writes `words` words into `out`, which was sized to that above.
        unsafe { function(&raw, out.words.as_mut_ptr()) };
        let status = out.status();
        if status != crate::ir::status::OK {
            let site = out.word(crate::ir::Layout::SITE) as u32;
            out.fail(status, site);
        }
    }
}

impl Drop for JitGuard {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: `function` points into this module's memory; it is dropped with
            // the guard and no copy of the pointer escapes `JitGuard`.
            unsafe { module.free_memory() };
        }
    }
}
