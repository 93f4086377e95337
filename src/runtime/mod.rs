//! What runs around the guard: input encoding and decisions.

pub mod decision;
pub mod record;
