//! `bylaw._bylaw`: the Python extension module. `bylaw/__init__.py` re-exports it.
//!
//! One file per part of the API: `errors.rs` (PolicyError, diagnostics),
//! `request.rs` (a Python request → a record), `values.rs` (Rust values → Python),
//! `decision.rs` (Decision and its parts), `policy.rs` (compile, load, Policy),
//! `governor.rs` (the stateful runtime).

use pyo3::prelude::*;

mod decision;
mod errors;
mod governor;
mod policy;
mod request;
mod values;

#[pymodule]
fn _bylaw(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("PolicyError", py.get_type::<errors::PolicyError>())?;
    m.add("GovernorError", py.get_type::<errors::GovernorError>())?;
    m.add_class::<errors::Diagnostic>()?;
    m.add_class::<policy::Policy>()?;
    m.add_class::<decision::Decision>()?;
    m.add_class::<decision::Reason>()?;
    m.add_class::<decision::Duty>()?;
    m.add_class::<governor::Governor>()?;
    m.add_function(wrap_pyfunction!(policy::compile, m)?)?;
    m.add_function(wrap_pyfunction!(policy::load, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
