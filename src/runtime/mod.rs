//! What runs around the guard: input encoding and decisions.

pub mod decision;
mod json;
pub mod record;
