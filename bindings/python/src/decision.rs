//! A decision as Python sees it: the outcome, tier, duties and reasons, read from the
//! Rust decision only when asked for.

use std::sync::{Arc, OnceLock};

use bylaw::ir::Compact;
use bylaw::runtime::decision::{self as rust, Outcome};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::values::serialized;

/// What the policy decided for one request.
///
/// A guard's decision keeps the engine's compact result and expands it into reasons
/// and duties only when one of those is read: `outcome` and `tier` cost nothing more.
#[pyclass(frozen, skip_from_py_object, module = "bylaw")]
#[derive(Debug)]
pub struct Decision {
    outcome: Outcome,
    compact: Option<(Arc<bylaw::Policy>, Compact)>,
    full: OnceLock<rust::Decision>,
}

impl From<rust::Decision> for Decision {
    fn from(full: rust::Decision) -> Self {
        Decision {
            outcome: full.outcome,
            compact: None,
            full: OnceLock::from(full),
        }
    }
}

impl Decision {
    /// A guard's result, expanded when first needed.
    pub fn compact(policy: Arc<bylaw::Policy>, compact: Compact) -> Decision {
        let (outcome, _) = rust::Decision::summary(&policy.ir, &compact);
        Decision {
            outcome,
            compact: Some((policy, compact)),
            full: OnceLock::new(),
        }
    }

    fn full(&self) -> &rust::Decision {
        self.full.get_or_init(|| match &self.compact {
            Some((policy, compact)) => rust::Decision::expand(&policy.ir, compact),
            // Unreachable: a decision without a compact result is built full.
            None => rust::Decision::invalid(Vec::new()),
        })
    }
}

#[pymethods]
impl Decision {
    /// `"allow"`, `"escalate"`, `"suspended"` or `"deny"`.
    #[getter]
    fn outcome(&self) -> &'static str {
        self.outcome.as_str()
    }

    /// The decision's id (a UUID v7) when a `Governor` made it; `None` for
    /// `Policy.decide`, a pure function.
    #[getter]
    fn decision_id(&self) -> Option<&str> {
        self.full.get().and_then(|d| d.decision_id.as_deref())
    }

    /// When a `Governor` decided it (RFC 3339); `None` for `Policy.decide`.
    #[getter]
    fn at(&self) -> Option<&str> {
        self.full.get().and_then(|d| d.at.as_deref())
    }

    /// Whether the request may go ahead as asked (`outcome == "allow"`).
    #[getter]
    fn allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    /// The risk tier the request falls in, if the policy has tiers.
    #[getter]
    fn tier(&self) -> Option<&str> {
        match (&self.compact, self.full.get()) {
            (_, Some(full)) => full.tier.as_deref(),
            (Some((policy, compact)), None) => rust::Decision::summary(&policy.ir, compact).1,
            (None, None) => None,
        }
    }

    /// The duties that apply, met or not.
    #[getter]
    fn duties(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        let duties: Vec<Duty> = self
            .full()
            .duties
            .iter()
            .map(|d| Duty { inner: d.clone() })
            .collect();
        Ok(PyList::new(py, duties)?.unbind())
    }

    /// Why: the tier, the rules that fired, unmet duties, failures, the service.
    #[getter]
    fn reasons(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        let reasons: Vec<Reason> = self
            .full()
            .reasons
            .iter()
            .map(|r| Reason { inner: r.clone() })
            .collect();
        Ok(PyList::new(py, reasons)?.unbind())
    }

    /// Why the request is invalid, one dict (`field`, `message`) per bad field; empty
    /// when it is valid.
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialized(py, &self.full().errors)
    }

    /// The state of the request's service (`name`, `state`, `fallback`), when a
    /// `Governor` decided it and the policy has services.
    #[getter]
    fn service<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialized(py, &self.full().service)
    }

    /// The decision as plain values: exactly what `bylaw eval` prints, as `json.loads`
    /// reads it.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialized(py, self.full())
    }

    /// The decision as JSON text, as `bylaw eval` prints it.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(self.full())
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))
    }

    /// A readable account of why, as `bylaw eval --explain` prints it.
    fn explain(&self) -> String {
        self.full().explain()
    }

    fn __repr__(&self) -> String {
        match self.tier() {
            Some(tier) => format!("<Decision {} tier={tier}>", self.outcome.as_str()),
            None => format!("<Decision {}>", self.outcome.as_str()),
        }
    }
}

/// Something that contributed to a decision, and where the policy says it.
#[pyclass(frozen, skip_from_py_object, module = "bylaw")]
#[derive(Debug, Clone)]
pub struct Reason {
    inner: rust::Reason,
}

#[pymethods]
impl Reason {
    /// `"tier"`, `"rule"`, `"duty"`, `"failure"`, `"service"` or `"block"`.
    #[getter]
    fn kind<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialized(py, &self.inner.kind)
    }

    /// The rule's name (`rule-N` for an unnamed rule), the tier's, the duty's.
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }

    /// The outcome a rule asks for, if this reason is a rule.
    #[getter]
    fn outcome(&self) -> Option<&'static str> {
        self.inner.outcome.map(Outcome::as_str)
    }

    #[getter]
    fn message(&self) -> &str {
        &self.inner.message
    }

    /// The regulation the policy cites for it, such as `"EU AI Act Art. 50(2)"`.
    #[getter]
    fn cite(&self) -> Option<&str> {
        self.inner.cite.as_deref()
    }

    /// Where in the policy (1-based; 0 when it has no place in the source).
    #[getter]
    fn line(&self) -> u32 {
        self.inner.line
    }

    #[getter]
    fn column(&self) -> u32 {
        self.inner.column
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialized(py, &self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "<Reason {} {}: {}>",
            self.kind_text(),
            self.inner.id,
            self.inner.message
        )
    }
}

impl Reason {
    fn kind_text(&self) -> String {
        serde_json::to_value(self.inner.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// A duty that applies to a request, met or not, with its parameters.
#[pyclass(frozen, skip_from_py_object, module = "bylaw")]
#[derive(Debug, Clone)]
pub struct Duty {
    inner: rust::DutyStatus,
}

#[pymethods]
impl Duty {
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }

    /// Whether the request shows the duty met (its `require` holds).
    #[getter]
    fn met(&self) -> bool {
        self.inner.met
    }

    /// How long the decision's record must be kept, if the duty says `retain`.
    #[getter]
    fn retain_seconds(&self) -> Option<u64> {
        self.inner.retain_seconds
    }

    /// The reports the duty asks for (`recipient`, `within_seconds`, `within`).
    #[getter]
    fn reports<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialized(py, &self.inner.reports)
    }

    #[getter]
    fn notices(&self) -> Vec<String> {
        self.inner.notices.clone()
    }

    #[getter]
    fn cite(&self) -> Vec<String> {
        self.inner.cite.clone()
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialized(py, &self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "<Duty {} {}>",
            self.inner.id,
            if self.inner.met { "met" } else { "not met" }
        )
    }
}
