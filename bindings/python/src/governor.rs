//! `Governor`: the stateful runtime — windows and triggers, services with their
//! recovery, blocks, reports, events and the audit log — around a policy.

use std::sync::Arc;

use bylaw::governance::clock::{Clock, SystemClock, Timestamp};
use bylaw::governance::reports::ReportStep;
use bylaw::governance::store::Store;
use bylaw::governance::{self, Event, Options};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::decision::Decision;
use crate::errors::governor_error;
use crate::policy::Policy;
use crate::values::serialized;

/// The stateful runtime for one policy. With `state`, a path, its state (windows,
/// services, blocks, reports, events, the hash-chained audit log) is kept in that
/// file and survives a restart; without it, it lives in memory. Every method takes
/// `now` (a timezone-aware `datetime` or RFC 3339 text; the system clock when left
/// out), so that tests and replays decide at the times they choose.
#[pyclass(frozen, skip_from_py_object, module = "bylaw")]
pub struct Governor {
    inner: governance::Governor,
    policy: Py<Policy>,
}

#[pymethods]
impl Governor {
    #[new]
    #[pyo3(signature = (policy, state = None))]
    fn new(
        py: Python<'_>,
        policy: Py<Policy>,
        state: Option<std::path::PathBuf>,
    ) -> PyResult<Governor> {
        let guard = policy.get().guard.clone();
        let inner = py
            .detach(|| {
                let store = match &state {
                    Some(path) => Some(Arc::new(Store::open(path)?)),
                    None => None,
                };
                governance::Governor::new(guard, store, Options::default())
            })
            .map_err(governor_error)?;
        Ok(Governor { inner, policy })
    }

    /// The policy this runtime governs.
    #[getter]
    fn policy(&self, py: Python<'_>) -> Py<Policy> {
        self.policy.clone_ref(py)
    }

    /// Decides a request with everything the runtime adds: its service's state (a
    /// suspended service's fallback), blocks, the triggers it counts in. A decision a
    /// `retain` duty applies to returns once its audit record is durable.
    #[pyo3(signature = (request, *, now = None))]
    fn decide(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Decision> {
        let now = moment(now)?;
        let decision = match self.policy.get().encode(request)? {
            Ok(record) => py.detach(|| self.inner.decide(&record, now).decision),
            Err(errors) => self.inner.invalid(errors, now),
        };
        Ok(decision.into())
    }

    /// Posts an event the policy declares (`event incident { … }`): a dict or JSON
    /// text. Returns what was accepted (`kind`, `id`, `aware_at`, `duplicate`, and
    /// the `events` it caused — reports opened, services suspended). Raises
    /// `GovernorError` for an unknown kind or an invalid event.
    #[pyo3(signature = (kind, event, *, now = None))]
    fn post_event<'py>(
        &self,
        py: Python<'py>,
        kind: &str,
        event: &Bound<'py, PyAny>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = moment(now)?;
        let body = json_bytes(event)?;
        let posted = py
            .detach(|| self.inner.post_event(kind, &body, now))
            .map_err(governor_error)?;
        serialized(py, &posted)
    }

    /// The kill switch: suspends `service` until an operator resumes it.
    #[pyo3(signature = (service, *, by, reason, now = None))]
    fn suspend<'py>(
        &self,
        py: Python<'py>,
        service: &str,
        by: &str,
        reason: &str,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = moment(now)?;
        events(
            py,
            py.detach(|| self.inner.suspend(service, by, reason, now)),
        )
    }

    /// Restores a degraded service, or releases a suspension into its recovery.
    #[pyo3(signature = (service, *, by, now = None))]
    fn resume<'py>(
        &self,
        py: Python<'py>,
        service: &str,
        by: &str,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = moment(now)?;
        events(py, py.detach(|| self.inner.resume(service, by, now)))
    }

    /// Records an approval of `service`'s recovery, by a person in `role`.
    #[pyo3(signature = (service, *, by, role = None, now = None))]
    fn approve<'py>(
        &self,
        py: Python<'py>,
        service: &str,
        by: &str,
        role: Option<&str>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = moment(now)?;
        events(py, py.detach(|| self.inner.approve(service, by, role, now)))
    }

    /// Refuses requests whose `field` is `key` for `seconds`.
    #[pyo3(signature = (field, key, *, seconds, cause, now = None))]
    fn block<'py>(
        &self,
        py: Python<'py>,
        field: &str,
        key: &str,
        seconds: u64,
        cause: &str,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = moment(now)?;
        events(
            py,
            py.detach(|| self.inner.block(field, key, seconds, cause, now)),
        )
    }

    /// Lifts a block before it runs out.
    #[pyo3(signature = (field, key, *, by, now = None))]
    fn unblock<'py>(
        &self,
        py: Python<'py>,
        field: &str,
        key: &str,
        by: &str,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = moment(now)?;
        events(py, py.detach(|| self.inner.unblock(field, key, by, now)))
    }

    /// Takes a step of report `id`'s life: `"acknowledge"`, `"file"` or `"close"`.
    #[pyo3(signature = (id, step, *, by, now = None))]
    fn report_step<'py>(
        &self,
        py: Python<'py>,
        id: u64,
        step: &str,
        by: &str,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = moment(now)?;
        let step = match step {
            "acknowledge" => ReportStep::Acknowledge,
            "file" => ReportStep::File,
            "close" => ReportStep::Close,
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "a report step is \"acknowledge\", \"file\" or \"close\", not {other:?}"
                )));
            }
        };
        events(py, py.detach(|| self.inner.report_step(id, step, by, now)))
    }

    /// The reports triggers opened (only the overdue ones with `overdue=True`).
    #[pyo3(signature = (*, overdue = false, now = None))]
    fn reports<'py>(
        &self,
        py: Python<'py>,
        overdue: bool,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = moment(now)?;
        serialized(py, &self.inner.reports(now, overdue))
    }

    /// The whole state at `now`: services (state, label, fallback), blocks, reports —
    /// what `bylaw ctl status` prints.
    #[pyo3(signature = (*, now = None))]
    fn status<'py>(
        &self,
        py: Python<'py>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = moment(now)?;
        let (status, _) = py
            .detach(|| self.inner.status(now))
            .map_err(governor_error)?;
        serialized(py, &status)
    }

    fn __repr__(&self) -> String {
        let ir = &self.inner.guard().policy().ir;
        match self.inner.store() {
            Some(store) => format!("<Governor {} state={}>", ir.name, store.path().display()),
            None => format!("<Governor {} in memory>", ir.name),
        }
    }
}

/// The events an operator command caused, or the reason it was refused.
fn events<'py>(
    py: Python<'py>,
    result: Result<Vec<Event>, governance::GovernError>,
) -> PyResult<Bound<'py, PyAny>> {
    serialized(py, &result.map_err(governor_error)?)
}

/// `now` as the runtime's time: a timezone-aware `datetime`, RFC 3339 text, or the
/// system clock when `None`.
fn moment(now: Option<&Bound<'_, PyAny>>) -> PyResult<Timestamp> {
    let Some(now) = now.filter(|n| !n.is_none()) else {
        return Ok(SystemClock.now());
    };
    let text: String = if let Ok(s) = now.cast::<PyString>() {
        s.to_cow()?.into_owned()
    } else if now.hasattr("isoformat")? && now.hasattr("tzinfo")? {
        if now.getattr("tzinfo")?.is_none() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "`now` must be a timezone-aware datetime (a naive one names no moment)",
            ));
        }
        now.call_method0("isoformat")?.extract()?
    } else {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "`now` must be a timezone-aware datetime, RFC 3339 text, or None",
        ));
    };
    Timestamp::parse_rfc3339(&text).map_err(pyo3::exceptions::PyValueError::new_err)
}

/// An event as JSON bytes: text and bytes as they are, a dict through `json.dumps`.
fn json_bytes(event: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = event.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    if let Ok(b) = event.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if event.cast::<PyDict>().is_ok() {
        let dumps = event.py().import("json")?.getattr("dumps")?;
        let kwargs = PyDict::new(event.py());
        kwargs.set_item("default", event.py().import("builtins")?.getattr("str")?)?;
        let text: String = dumps.call((event,), Some(&kwargs))?.extract()?;
        return Ok(text.into_bytes());
    }
    Err(pyo3::exceptions::PyTypeError::new_err(
        "an event is a dict, or JSON text as str or bytes",
    ))
}
