//! `compile`, `load` and `Policy`: a checked policy with its native guard.

use std::sync::Arc;

use bylaw::runtime::decision::Decision as RustDecision;
use bylaw::runtime::record::{InputError, Record};
use bylaw::{Engine, Guard};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::decision::Decision;
use crate::errors::{diagnostics_of, policy_error};
use crate::request::Reader;
use crate::values::serialized;

/// A compiled policy. Immutable and safe to share between threads; `decide` releases
/// the GIL while the guard runs.
#[pyclass(frozen, skip_from_py_object, module = "bylaw")]
pub struct Policy {
    pub(crate) guard: Guard,
    pub(crate) reader: Reader,
}

/// Compiles policy source text. `name` is how diagnostics name the file
/// (`"policy.bylaw"` when not given). `use std::…` modules are resolved from the
/// standard library built into the package. `engine` is `"jit"` (native code) or
/// `"interpreter"` (the reference interpreter).
///
/// Raises `PolicyError`, carrying every diagnostic, when the policy does not compile.
#[pyfunction]
#[pyo3(signature = (source, *, name = None, engine = "jit"))]
pub fn compile(py: Python<'_>, source: &str, name: Option<&str>, engine: &str) -> PyResult<Policy> {
    Policy::build(
        py,
        name.unwrap_or("policy.bylaw"),
        source,
        engine,
        &bylaw::modules::Loader::stdlib_only(),
    )
}

/// Reads and compiles the policy file at `path`, or opens a bundle (`bylaw bundle`):
/// its fingerprints checked, and its signature too when `verify_key` (an ed25519
/// public key's PEM file) is given.
#[pyfunction]
#[pyo3(signature = (path, *, engine = "jit", verify_key = None))]
pub fn load(
    py: Python<'_>,
    path: std::path::PathBuf,
    engine: &str,
    verify_key: Option<std::path::PathBuf>,
) -> PyResult<Policy> {
    let bytes = std::fs::read(&path).map_err(|e| {
        pyo3::exceptions::PyOSError::new_err(format!("cannot read `{}`: {e}", path.display()))
    })?;
    if bylaw::bundle::is_bundle(&bytes) || verify_key.is_some() {
        return Policy::open_bundle(py, &path, &bytes, engine, verify_key.as_deref());
    }
    let source = String::from_utf8(bytes).map_err(|_| {
        pyo3::exceptions::PyValueError::new_err(format!("`{}` is not UTF-8 text", path.display()))
    })?;
    // A file finds its user modules: beside it, and through the nearest bylaw.toml.
    let loader =
        bylaw::modules::Loader::for_policy(&path).map_err(pyo3::exceptions::PyOSError::new_err)?;
    Policy::build(py, &path.display().to_string(), &source, engine, &loader)
}

fn engine_named(engine: &str) -> PyResult<Engine> {
    match engine {
        "jit" => Ok(Engine::Jit),
        "interpreter" => Ok(Engine::Interpreter),
        other => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "engine must be \"jit\" or \"interpreter\", not {other:?}"
        ))),
    }
}

impl Policy {
    fn build(
        py: Python<'_>,
        name: &str,
        source: &str,
        engine: &str,
        loader: &bylaw::modules::Loader,
    ) -> PyResult<Policy> {
        let engine = engine_named(engine)?;
        let compiled = py.detach(|| {
            bylaw::Policy::check_with(name, source, loader)
                .and_then(|policy| Guard::new(Arc::new(policy), engine))
        });
        let guard = compiled.map_err(|failed| policy_error(py, &failed))?;
        let reader = Reader::new(py, &guard)?;
        Ok(Policy { guard, reader })
    }

    /// A bundle's policy; a refused bundle raises `ValueError` saying why.
    fn open_bundle(
        py: Python<'_>,
        path: &std::path::Path,
        bytes: &[u8],
        engine: &str,
        verify_key: Option<&std::path::Path>,
    ) -> PyResult<Policy> {
        let engine = engine_named(engine)?;
        let key = verify_key
            .map(bylaw::bundle::keys::read_verifying_key)
            .transpose()
            .map_err(pyo3::exceptions::PyOSError::new_err)?;
        let opened = py
            .detach(|| bylaw::bundle::open(bytes, key.as_ref()))
            .map_err(|e| {
                pyo3::exceptions::PyValueError::new_err(format!("`{}`: {e}", path.display()))
            })?;
        let guard = Guard::new(Arc::new(opened.policy), engine)
            .map_err(|failed| policy_error(py, &failed))?;
        let reader = Reader::new(py, &guard)?;
        Ok(Policy { guard, reader })
    }

    /// The guard's compact result for one record (the caller has released the GIL).
    fn decide_record(&self, record: &Record, degraded: bool) -> bylaw::ir::Compact {
        let mut out = self.guard.compact();
        self.guard.decide_compact(record, degraded, &mut out);
        out
    }

    /// The request as a record, or the reasons it is invalid.
    pub(crate) fn encode(
        &self,
        request: &Bound<'_, PyAny>,
    ) -> PyResult<Result<Record, Vec<InputError>>> {
        self.reader.record(&self.guard, request)
    }
}

#[pymethods]
impl Policy {
    /// The name on the policy's `policy` line.
    #[getter]
    fn name(&self) -> &str {
        &self.guard.policy().ir.name
    }

    #[getter]
    fn version(&self) -> &str {
        &self.guard.policy().ir.version
    }

    /// `"jit"` or `"interpreter"` (a policy too large for native code is interpreted).
    #[getter]
    fn engine(&self) -> &'static str {
        match self.guard.engine() {
            Engine::Jit => "jit",
            Engine::Interpreter => "interpreter",
        }
    }

    /// Warnings from checking the policy (it has no errors, or it would not exist).
    #[getter]
    fn warnings(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        let policy = self.guard.policy();
        diagnostics_of(py, &policy.sources, &policy.warnings)
    }

    /// The request schema's field paths, in schema order.
    #[getter]
    fn fields(&self) -> Vec<String> {
        self.guard
            .policy()
            .ir
            .fields
            .iter()
            .map(|f| f.path.clone())
            .collect()
    }

    /// Decides one request: a dict, or JSON text as `str` or `bytes`. An invalid
    /// request is denied, with every bad field in `Decision.errors`; this never raises
    /// for a bad request. `degraded` decides as if the request's service were degraded.
    #[pyo3(signature = (request, *, degraded = false))]
    fn decide(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        degraded: bool,
    ) -> PyResult<Decision> {
        Ok(match self.encode(request)? {
            Ok(record) => {
                let compact = py.detach(|| self.decide_record(&record, degraded));
                Decision::compact(self.guard.policy_arc().clone(), compact)
            }
            Err(errors) => RustDecision::invalid(errors).into(),
        })
    }

    /// Decides every request of an iterable, in order, with the GIL released while
    /// the guard runs over the whole batch.
    #[pyo3(signature = (requests, *, degraded = false))]
    fn decide_many(
        &self,
        py: Python<'_>,
        requests: &Bound<'_, PyAny>,
        degraded: bool,
    ) -> PyResult<Vec<Decision>> {
        let mut encoded = Vec::new();
        for request in requests.try_iter()? {
            encoded.push(self.encode(&request?)?);
        }
        let decided = py.detach(|| {
            encoded
                .into_iter()
                .map(|encoded| encoded.map(|record| self.decide_record(&record, degraded)))
                .collect::<Vec<_>>()
        });
        let policy = self.guard.policy_arc();
        Ok(decided
            .into_iter()
            .map(|d| match d {
                Ok(compact) => Decision::compact(policy.clone(), compact),
                Err(errors) => RustDecision::invalid(errors).into(),
            })
            .collect())
    }

    /// Every reason `request` is invalid for this policy's schema, one dict (`field`,
    /// `message`) per bad field; an empty list when it is valid.
    fn check_request<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let errors = match self.encode(request)? {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        };
        serialized(py, &errors)
    }

    fn __repr__(&self) -> String {
        let ir = &self.guard.policy().ir;
        format!("<Policy {} version {}>", ir.name, ir.version)
    }
}
