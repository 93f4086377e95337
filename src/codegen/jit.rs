//! The in-process guard: Cranelift JIT. This module holds the crate's only calls into
//! generated code.

use cranelift_codegen::ir::UserFuncName;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};

use super::RawRecord;
use super::translate::{FunctionTranslator, Part, part_signature, str_set_signature};
use crate::ir::{Compact, Policy};
use crate::runtime::record::Record;

type GuardFn = unsafe extern "C" fn(*const RawRecord, *mut u64);

/// Why native code could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodegenError(pub String);

impl std::fmt::Display for CodegenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "code generation failed: {}", self.0)
    }
}

impl std::error::Error for CodegenError {}

fn err(what: &str) -> impl Fn(String) -> CodegenError + '_ {
    move |e| CodegenError(format!("{what}: {e}"))
}

/// A policy compiled to native code.
pub struct JitGuard {
    module: Option<JITModule>,
    function: GuardFn,
    words: usize,
    fields: usize,
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
        let mut flag_builder = settings::builder();
        flag_builder
            .set("use_colocated_libcalls", "false")
            .map_err(|e| CodegenError(e.to_string()))?;
        flag_builder
            .set("is_pic", "false")
            .map_err(|e| CodegenError(e.to_string()))?;
        flag_builder
            .set("opt_level", "speed")
            .map_err(|e| CodegenError(e.to_string()))?;
        let isa = cranelift_native::builder()
            .map_err(|e| CodegenError(format!("unsupported host: {e}")))?
            .finish(settings::Flags::new(flag_builder))
            .map_err(|e| CodegenError(e.to_string()))?;
        let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
        builder.symbol(
            "bylaw_str_set_contains",
            super::str_set_contains as *const u8,
        );
        let mut module = JITModule::new(builder);
        let pointer = module.target_config().pointer_type();

        let mut helper_sig = module.make_signature();
        str_set_signature(&mut helper_sig, pointer);
        let helper = module
            .declare_function("bylaw_str_set_contains", Linkage::Import, &helper_sig)
            .map_err(|e| err("declaring the set helper")(e.to_string()))?;

        let plan = Part::plan(policy);
        let mut ids = Vec::with_capacity(plan.len());
        for (k, part) in plan.iter().enumerate() {
            let mut sig = module.make_signature();
            part_signature(&mut sig, pointer, part);
            let id = module
                .declare_function(&format!("bylaw_guard_{k}"), Linkage::Local, &sig)
                .map_err(|e| err("declaring the guard")(e.to_string()))?;
            ids.push((id, sig));
        }
        let mut ctx = module.make_context();
        let mut func_ctx = FunctionBuilderContext::new();
        for (k, part) in plan.iter().enumerate() {
            let Some((id, sig)) = ids.get(k) else {
                continue;
            };
            ctx.func.signature = sig.clone();
            ctx.func.name = UserFuncName::user(0, id.as_u32());
            {
                let mut fb = FunctionBuilder::new(&mut ctx.func, &mut func_ctx);
                let helper_ref = module.declare_func_in_func(helper, fb.func);
                let callees: Vec<_> = if *part == Part::Main {
                    ids.iter()
                        .skip(1)
                        .map(|(callee, _)| module.declare_func_in_func(*callee, fb.func))
                        .collect()
                } else {
                    Vec::new()
                };
                FunctionTranslator::translate(&mut fb, policy, helper_ref, part.clone(), &callees);
                fb.finalize(module.target_config());
            }
            module
                .define_function(*id, &mut ctx)
                .map_err(|e| err("compiling the guard")(format!("{e:?}")))?;
            module.clear_context(&mut ctx);
        }
        let Some((id, _)) = ids.first() else {
            return Err(CodegenError("no guard function".to_string()));
        };
        let id = *id;
        module
            .finalize_definitions()
            .map_err(|e| err("linking the guard")(e.to_string()))?;
        let code = module.get_finalized_function(id);
        // SAFETY: `code` is the finalized body of a function declared with
        // `guard_signature`, which is exactly `GuardFn`'s C ABI.
        let function = unsafe { std::mem::transmute::<*const u8, GuardFn>(code) };
        Ok(JitGuard {
            module: Some(module),
            function,
            words: policy.layout.words,
            fields: policy.fields.len(),
        })
    }

    /// Decides `record` into `out`.
    #[inline]
    pub fn decide(&self, record: &Record, degraded: bool, out: &mut Compact) {
        if out.words.len() != self.words {
            out.words.clear();
            out.words.resize(self.words, 0);
        }
        if record.slots.len() < self.fields
            || record.present.len() < self.fields.div_ceil(64).max(1)
        {
            // A record made for another policy: refuse rather than read out of bounds.
            out.fail(crate::ir::status::OVERFLOW, u32::MAX);
            return;
        }
        let raw = RawRecord {
            slots: record.slots.as_ptr(),
            present: record.present.as_ptr(),
            set_items: record.set_items.as_ptr(),
            degraded: u64::from(degraded),
        };
        // SAFETY: the generated code reads `fields` slots and their presence words (the
        // lengths were checked above), set items only through packed slots the record
        // built, and writes `words` words into `out`, which was sized to that above.
        unsafe { (self.function)(&raw, out.words.as_mut_ptr()) };
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
