//! Native code for guards, with Cranelift. `translate` turns IR into one loop-free
//! function; `jit` compiles it in process and is the only place that calls native code.

pub mod jit;
mod translate;

/// What the native guard reads: a view of a [`crate::runtime::record::Record`].
#[repr(C)]
pub struct RawRecord {
    pub slots: *const u64,
    pub present: *const u64,
    pub set_items: *const u32,
    pub degraded: u64,
}

/// Offsets of [`RawRecord`]'s fields, for the generated loads.
pub(crate) mod raw_offsets {
    pub const SLOTS: i32 = 0;
    pub const PRESENT: i32 = 8;
    pub const SET_ITEMS: i32 = 16;
    pub const DEGRADED: i32 = 24;
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
