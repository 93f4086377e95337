//! Native code for guards, with Cranelift. `translate` turns IR into one loop-free
//! function; `jit` compiles it in process and is the only place that calls native code.

pub mod cmodule;
pub mod jit;
pub mod object;
mod translate;

use cranelift_codegen::ir::UserFuncName;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{FuncId, Linkage, Module};

use crate::ir::Policy;
use translate::{
    FunctionTranslator, Helpers, Part, STR_CALL, STR_SET_CONTAINS, STR_SET_REL, TIME_CALL,
    call_signature, part_signature, str_set_signature,
};

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

/// The host's instruction set, optimizing for speed; `pic` for shared libraries.
fn host_isa(pic: bool) -> Result<OwnedTargetIsa, CodegenError> {
    let mut flags = settings::builder();
    let set = |flags: &mut settings::Builder, name: &str, value: &str| {
        flags
            .set(name, value)
            .map_err(|e| CodegenError(e.to_string()))
    };
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", if pic { "true" } else { "false" })?;
    set(&mut flags, "opt_level", "speed")?;
    cranelift_native::builder()
        .map_err(|e| CodegenError(format!("unsupported host: {e}")))?
        .finish(settings::Flags::new(flags))
        .map_err(|e| CodegenError(e.to_string()))
}

/// The most nodes that may branch (short circuits, checked arithmetic, string-set
/// look-ups) in one native function. Register allocation grows faster than linearly in
/// the blocks of one function: 10,000 checked additions in one rule took 1.7 s to
/// compile, 30,000 took 14 s. A policy past this is decided by the interpreter instead,
/// which decides identically (it is the reference) in time linear in its size.
pub const MAX_BRANCHES_PER_FUNCTION: usize = 8192;

/// Why a policy is too large for native code, or `None` when it fits.
pub fn too_large_for_native(policy: &Policy) -> Option<String> {
    Part::plan(policy).iter().find_map(|part| {
        let branches = translate::branches_in(policy, part);
        (branches > MAX_BRANCHES_PER_FUNCTION).then(|| {
            format!(
                "one part of the policy has {branches} branching operations; native code \
                 takes at most {MAX_BRANCHES_PER_FUNCTION} per part (split very long \
                 conditions into several rules)"
            )
        })
    })
}

/// One part of a split guard, compiled to machine code but not yet placed.
struct CompiledPart {
    id: FuncId,
    alignment: u64,
    bytes: Vec<u8>,
    relocs: Vec<cranelift_module::ModuleReloc>,
}

/// Compiles the parts of a split guard on every core: the parts are independent until
/// they are linked, and Cranelift's time is nearly all register allocation per function.
fn compile_in_parallel(
    isa: &dyn cranelift_codegen::isa::TargetIsa,
    functions: Vec<(FuncId, cranelift_codegen::ir::Function)>,
) -> Result<Vec<CompiledPart>, CodegenError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(functions.len().max(1));
    let mut buckets: Vec<Vec<(FuncId, cranelift_codegen::ir::Function)>> =
        (0..threads).map(|_| Vec::new()).collect();
    for (k, f) in functions.into_iter().enumerate() {
        if let Some(bucket) = buckets.get_mut(k % threads) {
            bucket.push(f);
        }
    }
    let align_floor = (isa.function_alignment().minimum as u64).max(isa.symbol_alignment());
    let results: Vec<Result<Vec<CompiledPart>, CodegenError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = buckets
            .into_iter()
            .map(|bucket| {
                scope.spawn(move || {
                    bucket
                        .into_iter()
                        .map(|(id, func)| {
                            let mut ctx = cranelift_codegen::Context::for_function(func);
                            let mut ctrl = cranelift_codegen::control::ControlPlane::default();
                            ctx.compile(isa, &mut ctrl).map_err(|e| {
                                err("compiling the guard")(format!("{:?}", e.inner))
                            })?;
                            let code = ctx
                                .compiled_code()
                                .ok_or_else(|| CodegenError("no compiled code".to_string()))?;
                            let alignment = u64::from(code.buffer.alignment).max(align_floor);
                            let bytes = code.code_buffer().to_vec();
                            let relocs = code
                                .buffer
                                .relocs()
                                .iter()
                                .map(|r| {
                                    cranelift_module::ModuleReloc::from_mach_reloc(r, &ctx.func, id)
                                })
                                .collect();
                            Ok(CompiledPart {
                                id,
                                alignment,
                                bytes,
                                relocs,
                            })
                        })
                        .collect::<Result<Vec<_>, CodegenError>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(CodegenError("a compiler thread failed".to_string())))
            })
            .collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// What [`define_guard`] defined.
struct Defined {
    /// The entry function.
    entry: FuncId,
    /// The outcome-only function ([`Part::Outcome`]), when asked for and not split.
    outcome: Option<FuncId>,
    /// The machine code of every function, in bytes.
    code_bytes: usize,
}

/// Declares and defines every function of a policy's guard in `module`; returns the
/// entry function, named `entry` with `linkage`, and with `with_outcome` the
/// outcome-only function ([`Part::Outcome`]) when the policy is not split. The set
/// helper is imported by name. `texts` says whether the record view carries the strings' bytes
/// ([`RawRecord::literal_texts`] and the rest), so that string tests can run in line.
fn define_guard<M: Module>(
    module: &mut M,
    policy: &Policy,
    entry: &str,
    linkage: Linkage,
    texts: Texts,
    with_outcome: bool,
) -> Result<Defined, CodegenError> {
    let pointer = module.target_config().pointer_type();
    let mut helper_sig = module.make_signature();
    str_set_signature(&mut helper_sig, pointer);
    let helper = module
        .declare_function(STR_SET_CONTAINS, Linkage::Import, &helper_sig)
        .map_err(|e| err("declaring the set helper")(e.to_string()))?;
    let mut call_sig = module.make_signature();
    call_signature(&mut call_sig, pointer);
    let str_call = module
        .declare_function(STR_CALL, Linkage::Import, &call_sig)
        .map_err(|e| err("declaring the string helper")(e.to_string()))?;
    let str_set_rel = module
        .declare_function(STR_SET_REL, Linkage::Import, &call_sig)
        .map_err(|e| err("declaring the set helper")(e.to_string()))?;
    let time_call = module
        .declare_function(TIME_CALL, Linkage::Import, &call_sig)
        .map_err(|e| err("declaring the time helper")(e.to_string()))?;

    let mut plan = Part::plan(policy);
    if with_outcome && plan == [Part::Whole] {
        plan.push(Part::Outcome);
    }
    let mut ids = Vec::with_capacity(plan.len());
    for (k, part) in plan.iter().enumerate() {
        let mut sig = module.make_signature();
        part_signature(&mut sig, pointer, part);
        let (name, link) = if k == 0 {
            (entry.to_string(), linkage)
        } else {
            (format!("{entry}_part{k}"), Linkage::Local)
        };
        let id = module
            .declare_function(&name, link, &sig)
            .map_err(|e| err("declaring the guard")(e.to_string()))?;
        ids.push((id, sig));
    }
    let mut ctx = module.make_context();
    let mut func_ctx = FunctionBuilderContext::new();
    let mut functions = Vec::with_capacity(plan.len());
    let mut code_bytes = 0;
    for (part, (id, sig)) in plan.iter().zip(&ids) {
        ctx.func.signature = sig.clone();
        ctx.func.name = UserFuncName::user(0, id.as_u32());
        {
            let mut fb = FunctionBuilder::new(&mut ctx.func, &mut func_ctx);
            let helpers = Helpers {
                str_set_contains: module.declare_func_in_func(helper, fb.func),
                str_call: module.declare_func_in_func(str_call, fb.func),
                str_set_rel: module.declare_func_in_func(str_set_rel, fb.func),
                time_call: module.declare_func_in_func(time_call, fb.func),
            };
            let callees: Vec<_> = if *part == Part::Main {
                plan.iter()
                    .zip(&ids)
                    .skip(1)
                    .map(|(p, (callee, _))| (p, module.declare_func_in_func(*callee, fb.func)))
                    .collect()
            } else {
                Vec::new()
            };
            FunctionTranslator::translate(&mut fb, policy, helpers, texts, part.clone(), &callees);
            fb.finalize(module.target_config());
        }
        if plan.len() == 1 {
            module
                .define_function(*id, &mut ctx)
                .map_err(|e| err("compiling the guard")(format!("{e:?}")))?;
            code_bytes += ctx.compiled_code().map_or(0, |c| c.code_buffer().len());
        } else {
            functions.push((
                *id,
                std::mem::replace(&mut ctx.func, cranelift_codegen::ir::Function::new()),
            ));
        }
        module.clear_context(&mut ctx);
    }
    for compiled in compile_in_parallel(module.isa(), functions)? {
        code_bytes += compiled.bytes.len();
        module
            .define_function_bytes(
                compiled.id,
                compiled.alignment,
                &compiled.bytes,
                &compiled.relocs,
            )
            .map_err(|e| err("linking the guard")(format!("{e:?}")))?;
    }
    let outcome = plan
        .iter()
        .position(|p| *p == Part::Outcome)
        .and_then(|k| ids.get(k))
        .map(|(id, _)| *id);
    ids.first()
        .map(|(id, _)| Defined {
            entry: *id,
            outcome,
            code_bytes,
        })
        .ok_or_else(|| CodegenError("no guard function".to_string()))
}

/// Whether generated code may read the strings' bytes through the record view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Texts {
    /// The JIT fills [`RawRecord`]'s text tables: `starts_with`/`ends_with` of a
    /// literal compare bytes in line.
    InLine,
    /// The C module's record view ends at `env`: every string test calls its helper.
    ByHelper,
}

/// What the native guard reads: a view of a [`crate::runtime::record::Record`].
#[repr(C)]
pub struct RawRecord {
    pub slots: *const u64,
    pub present: *const u64,
    pub set_items: *const u32,
    pub degraded: u64,
    /// What the call helpers read: for the JIT a [`jit::CallEnv`], for the C module
    /// the request.
    pub env: *const std::ffi::c_void,
    /// The text of each policy literal, by string id (read only with `Texts::InLine`).
    pub literal_texts: *const TextRef,
    /// The text of each of the record's own strings, by string id less the literals'
    /// count.
    pub extra_texts: *const TextRef,
    pub extra_count: u64,
}

/// A string's bytes, as generated code reads them.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TextRef {
    pub ptr: *const u8,
    pub len: u64,
}

impl TextRef {
    pub(crate) fn of(text: &str) -> TextRef {
        TextRef {
            ptr: text.as_ptr(),
            len: text.len() as u64,
        }
    }
}

/// Offsets of [`RawRecord`]'s and [`TextRef`]'s fields, for the generated loads.
pub(crate) mod raw_offsets {
    pub const SLOTS: i32 = 0;
    pub const PRESENT: i32 = 8;
    pub const SET_ITEMS: i32 = 16;
    pub const DEGRADED: i32 = 24;
    pub const ENV: i32 = 32;
    pub const LITERAL_TEXTS: i32 = 40;
    pub const EXTRA_TEXTS: i32 = 48;
    pub const EXTRA_COUNT: i32 = 56;
    pub const TEXT_PTR: i32 = 0;
    pub const TEXT_LEN: i32 = 8;
    pub const TEXT_SIZE: i64 = 16;
}

/// Membership in a `set<string>`: called by generated code, since the set's length is
/// only known at run time and the guard itself has no loops.
///
/// # Safety
/// `items` must point to the record's set items and `packed` be a set slot of that
/// record (`offset << 32 | len`, in bounds).
pub(crate) unsafe extern "C" fn str_set_contains(items: *const u32, packed: u64, id: u64) -> u8 {
    let offset = (packed >> 32) as usize;
    let len = (packed & 0xffff_ffff) as usize;
    if items.is_null() || len == 0 {
        return 0;
    }
    // SAFETY: the caller passes a record's own items pointer and one of its packed set
    // slots, which `Record` builds in bounds.
    let set = unsafe { std::slice::from_raw_parts(items.add(offset), len) };
    u8::from(set.iter().any(|&s| u64::from(s) == id))
}
