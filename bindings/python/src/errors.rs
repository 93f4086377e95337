//! The exceptions, and diagnostics as Python objects.

use bylaw::diagnostics::{self, Severity};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

create_exception!(
    _bylaw,
    PolicyError,
    PyValueError,
    "A policy that does not compile. `diagnostics` lists every problem; `rendered` is the \
     text `bylaw check` prints."
);
create_exception!(
    _bylaw,
    GovernorError,
    PyException,
    "The runtime refused an operation or could not make it durable."
);

/// One problem found in a policy: its stable code, where it is and what to do.
#[pyclass(frozen, get_all, skip_from_py_object, module = "bylaw")]
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// A stable code such as `E0101` (`docs/diagnostics.md`).
    code: String,
    /// `error` or `warning`.
    severity: String,
    message: String,
    /// The file the problem is in (the policy's name, or a stdlib module).
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    help: Option<String>,
}

#[pymethods]
impl Diagnostic {
    fn __repr__(&self) -> String {
        format!(
            "<Diagnostic {} {}:{}:{}: {}>",
            self.code, self.file, self.line, self.column, self.message
        )
    }
}

fn diagnostic(sources: &bylaw::source::SourceMap, d: &diagnostics::Diagnostic) -> Diagnostic {
    let at = diagnostics::position(sources, d.span());
    Diagnostic {
        code: d.code.code().to_string(),
        severity: match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
        .to_string(),
        message: d.message.clone(),
        file: at.file,
        line: at.line,
        column: at.column,
        end_line: at.end_line,
        end_column: at.end_column,
        help: d.help.clone(),
    }
}

/// The diagnostics of `sources`, as Python objects.
pub fn diagnostics_of(
    py: Python<'_>,
    sources: &bylaw::source::SourceMap,
    list: &[diagnostics::Diagnostic],
) -> PyResult<Py<PyList>> {
    let items: Vec<Diagnostic> = list.iter().map(|d| diagnostic(sources, d)).collect();
    Ok(PyList::new(py, items)?.unbind())
}

/// A `PolicyError` carrying every diagnostic and the rendered text.
pub fn policy_error(py: Python<'_>, failed: &bylaw::Diagnostics) -> PyErr {
    let rendered = diagnostics::render(&failed.sources, &failed.diagnostics, false);
    let errors = failed.diagnostics.iter().filter(|d| d.is_error()).count();
    let first = failed
        .diagnostics
        .iter()
        .find(|d| d.is_error())
        .map(|d| diagnostic(&failed.sources, d));
    let summary = match &first {
        Some(d) if errors == 1 => format!(
            "{}:{}:{}: {} {}",
            d.file, d.line, d.column, d.code, d.message
        ),
        Some(d) => format!(
            "{}:{}:{}: {} {} (and {} more errors)",
            d.file,
            d.line,
            d.column,
            d.code,
            d.message,
            errors - 1
        ),
        None => "the policy does not compile".to_string(),
    };
    let err = PolicyError::new_err(summary);
    let attach = || -> PyResult<()> {
        let value = err.value(py);
        value.setattr(
            "diagnostics",
            diagnostics_of(py, &failed.sources, &failed.diagnostics)?,
        )?;
        value.setattr("rendered", rendered)?;
        Ok(())
    };
    match attach() {
        Ok(()) => err,
        Err(e) => e,
    }
}

pub fn governor_error(e: impl std::fmt::Display) -> PyErr {
    GovernorError::new_err(e.to_string())
}
