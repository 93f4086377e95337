//! Ahead-of-time: the guard as a relocatable object file (Cranelift's object backend).
//! `crate::build` wraps it with the C side (tables, setters, accessors).

use cranelift_module::{Linkage, default_libcall_names};
use cranelift_object::{ObjectBuilder, ObjectModule};

use super::{CodegenError, err};
use crate::ir::Policy;

/// The exported guard function: `void bylaw_guard_eval(const raw_record*, uint64_t* out)`.
pub const ENTRY_SYMBOL: &str = "bylaw_guard_eval";

/// The guard as an object file for the host. `pic` for shared libraries.
pub fn emit_object(policy: &Policy, pic: bool) -> Result<Vec<u8>, CodegenError> {
    if let Some(why) = super::too_large_for_native(policy) {
        return Err(CodegenError(why));
    }
    let isa = super::host_isa(pic)?;
    let builder = ObjectBuilder::new(isa, "bylaw_guard", default_libcall_names())
        .map_err(|e| err("creating the object")(e.to_string()))?;
    let mut module = ObjectModule::new(builder);
    super::define_guard(
        &mut module,
        policy,
        ENTRY_SYMBOL,
        Linkage::Export,
        super::Texts::ByHelper,
        false,
    )?;
    module
        .finish()
        .emit()
        .map_err(|e| err("writing the object")(e.to_string()))
}
