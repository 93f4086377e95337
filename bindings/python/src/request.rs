//! A Python request → a record, by the same rules as a JSON request.
//!
//! A dict is walked along the schema's field paths (keys made Python strings once per
//! policy), never converted to JSON; `str` and `bytes` are decoded as JSON. A value is
//! checked exactly as the JSON value it stands for: `None` is `null`, a `bool` is a
//! boolean (never an integer), a list, tuple or set is an array; a `datetime` is its
//! RFC 3339 text.

use std::borrow::Cow;

use bylaw::Guard;
use bylaw::ir::FieldType;
use bylaw::runtime::record::{InputError, Leaf, Record, RecordBuilder};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString,
    PyTuple,
};

/// How a field's value is read when it has the type the schema asks for; any other
/// value takes the general path, which names what is wrong.
enum Fast {
    Bool,
    Int,
    Float,
    /// A `string` field: the policy's literals → their numbers.
    Str,
    /// An enum field: its members' names → their numbers.
    Enum(Py<PyDict>),
    /// Timestamps and sets.
    General,
}

/// What a policy needs to read Python requests fast.
pub struct Reader {
    /// Per field, in slot order: its path's keys.
    keys: Vec<Vec<Py<PyString>>>,
    fast: Vec<Fast>,
    /// The policy's string literals → their numbers (their indexes in `strings`): a
    /// request's string found here is read without copying it.
    literals: Py<PyDict>,
    strings: Vec<String>,
    datetime: Py<PyAny>,
}

impl Reader {
    pub fn new(py: Python<'_>, guard: &Guard) -> PyResult<Reader> {
        let ir = &guard.policy().ir;
        let keys = ir
            .fields
            .iter()
            .map(|f| {
                f.segments
                    .iter()
                    .map(|s| PyString::intern(py, s).unbind())
                    .collect()
            })
            .collect();
        let literals = PyDict::new(py);
        for (i, s) in ir.strings.iter().enumerate() {
            literals.set_item(PyString::intern(py, s), i)?;
        }
        let fast = ir
            .fields
            .iter()
            .map(|f| fast_path(py, ir, &f.ty))
            .collect::<PyResult<Vec<_>>>()?;
        let datetime = py.import("datetime")?.getattr("datetime")?.unbind();
        Ok(Reader {
            keys,
            fast,
            literals: literals.unbind(),
            strings: ir.strings.clone(),
            datetime,
        })
    }

    /// The request as a record, or every reason it is invalid.
    pub fn record(
        &self,
        guard: &Guard,
        request: &Bound<'_, PyAny>,
    ) -> PyResult<Result<Record, Vec<InputError>>> {
        if let Ok(dict) = request.cast::<PyDict>() {
            return self.read_dict(guard, dict);
        }
        if let Ok(text) = request.cast::<PyString>() {
            return Ok(guard.encode_json(text.to_cow()?.as_bytes()));
        }
        if let Ok(bytes) = request.cast::<PyBytes>() {
            return Ok(guard.encode_json(bytes.as_bytes()));
        }
        if let Ok(bytes) = request.cast::<PyByteArray>() {
            return Ok(guard.encode_json(&bytes.to_vec()));
        }
        Ok(Err(vec![InputError {
            field: String::new(),
            message: format!(
                "the request must be a dict, or JSON text as str or bytes, found {}",
                type_name(request)
            ),
        }]))
    }

    fn read_dict(
        &self,
        guard: &Guard,
        root: &Bound<'_, PyDict>,
    ) -> PyResult<Result<Record, Vec<InputError>>> {
        let py = root.py();
        let mut builder = guard.record();
        // The objects along the previous field's path: fields that share a parent
        // (`user.age`, `user.minor_mode`) look it up once.
        // Made only for a schema with nested fields; `along[0]` is the request.
        let mut along: Vec<Bound<'_, PyAny>> = Vec::new();
        let mut along_keys: &[Py<PyString>] = &[];
        for (slot, keys) in self.keys.iter().enumerate() {
            let Some((key, parents)) = keys.split_last() else {
                continue;
            };
            if parents.is_empty() {
                if let Some(value) = root.get_item(key.bind(py))?
                    && !self.put_fast(&mut builder, slot, &value)?
                {
                    self.put(&mut builder, slot, &value)?;
                }
                continue;
            }
            if along.is_empty() {
                along.push(root.clone().into_any());
            }
            let shared = along_keys
                .iter()
                .zip(parents)
                .take_while(|(a, b)| a.is(*b))
                .count()
                .min(along.len() - 1);
            along.truncate(shared + 1);
            along_keys = parents;
            let mut found = true;
            for (depth, key) in keys.iter().enumerate().skip(shared) {
                let Some(current) = along.last() else {
                    found = false;
                    break;
                };
                let Ok(dict) = current.cast::<PyDict>() else {
                    let parent = guard
                        .policy()
                        .ir
                        .fields
                        .get(slot)
                        .map(|f| f.segments.get(..depth).unwrap_or_default().join("."))
                        .unwrap_or_default();
                    builder.put_not_object(slot, &parent);
                    found = false;
                    break;
                };
                match dict.get_item(key.bind(py))? {
                    // `None` for a parent means its fields are left out, as JSON's null.
                    Some(value) if value.is_none() && depth + 1 < keys.len() => {
                        found = false;
                        break;
                    }
                    Some(value) => along.push(value),
                    None => {
                        found = false;
                        break;
                    }
                }
            }
            if found
                && let Some(value) = along.pop()
                && !self.put_fast(&mut builder, slot, &value)?
            {
                self.put(&mut builder, slot, &value)?;
            }
        }
        Ok(builder.build())
    }

    /// Sets one field from a value of the type its schema asks for, without copying
    /// it; `false` when the value is of another type.
    fn put_fast(
        &self,
        builder: &mut RecordBuilder<'_>,
        slot: usize,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let py = value.py();
        match self.fast.get(slot) {
            Some(Fast::Bool) if value.is_exact_instance_of::<PyBool>() => {
                builder.put(slot, Leaf::Bool(value.is(PyBool::new(py, true).as_any())));
            }
            Some(Fast::Int) if value.is_exact_instance_of::<PyInt>() => {
                match value.extract::<i64>() {
                    Ok(i) => builder.put(slot, Leaf::Int(i)),
                    Err(_) => return Ok(false),
                }
            }
            Some(Fast::Float) if value.is_exact_instance_of::<PyFloat>() => {
                let f = value
                    .cast::<PyFloat>()
                    .map(|f| f.value())
                    .unwrap_or(f64::NAN);
                builder.put(slot, Leaf::Float(f));
            }
            Some(Fast::Float) if value.is_exact_instance_of::<PyInt>() => {
                match value.extract::<i64>() {
                    Ok(i) => builder.put(slot, Leaf::Int(i)),
                    Err(_) => return Ok(false),
                }
            }
            Some(Fast::Str) if value.is_exact_instance_of::<PyString>() => {
                match self.literals.bind(py).get_item(value)? {
                    Some(id) => builder.put_literal(slot, id.extract()?),
                    None => {
                        let text = value.cast::<PyString>()?.to_cow()?;
                        builder.put(slot, Leaf::Str(&text));
                    }
                }
            }
            Some(Fast::Enum(members)) if value.is_exact_instance_of::<PyString>() => {
                match members.bind(py).get_item(value)? {
                    Some(member) => builder.put_member(slot, member.extract()?),
                    None => return Ok(false),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Sets one field from its Python value.
    fn put(
        &self,
        builder: &mut RecordBuilder<'_>,
        slot: usize,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if let Ok(list) = value.cast::<PyList>() {
            return self.put_items(builder, slot, list.iter());
        }
        if let Ok(tuple) = value.cast::<PyTuple>() {
            return self.put_items(builder, slot, tuple.iter());
        }
        if let Ok(set) = value.cast::<PySet>() {
            return self.put_items(builder, slot, set.iter());
        }
        if let Ok(set) = value.cast::<PyFrozenSet>() {
            return self.put_items(builder, slot, set.iter());
        }
        let text = self.text(value)?;
        builder.put(slot, scalar(value, text.as_deref())?);
        Ok(())
    }

    fn put_items<'py>(
        &self,
        builder: &mut RecordBuilder<'_>,
        slot: usize,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
    ) -> PyResult<()> {
        let items: Vec<Bound<'py, PyAny>> = items.collect();
        let texts = items
            .iter()
            .map(|item| self.text(item))
            .collect::<PyResult<Vec<_>>>()?;
        let leaves = items
            .iter()
            .zip(&texts)
            .map(|(item, text)| match item.cast::<PyList>() {
                Ok(_) => Ok(Leaf::List(Vec::new())),
                Err(_) => scalar(item, text.as_deref()),
            })
            .collect::<PyResult<Vec<_>>>()?;
        builder.put(slot, Leaf::List(leaves));
        Ok(())
    }

    /// The text a string value (or a `datetime`) stands for; `None` for other values.
    fn text<'a>(&'a self, value: &'a Bound<'_, PyAny>) -> PyResult<Option<Cow<'a, str>>> {
        if let Ok(s) = value.cast::<PyString>() {
            if let Some(index) = self.literals.bind(value.py()).get_item(s)? {
                let index: usize = index.extract()?;
                if let Some(literal) = self.strings.get(index) {
                    return Ok(Some(Cow::Borrowed(literal.as_str())));
                }
            }
            return Ok(Some(s.to_cow()?));
        }
        if value.is_instance(self.datetime.bind(value.py()))? {
            let iso: String = value.call_method0("isoformat")?.extract()?;
            return Ok(Some(Cow::Owned(iso)));
        }
        Ok(None)
    }
}

fn fast_path(py: Python<'_>, ir: &bylaw::ir::Policy, ty: &FieldType) -> PyResult<Fast> {
    Ok(match ty {
        FieldType::Bool => Fast::Bool,
        FieldType::Int | FieldType::Duration => Fast::Int,
        FieldType::Float | FieldType::Percent => Fast::Float,
        FieldType::Str => Fast::Str,
        FieldType::Enum(id) => {
            let members = PyDict::new(py);
            if let Some(e) = ir.enums.get(*id) {
                for (i, m) in e.members.iter().enumerate() {
                    members.set_item(PyString::intern(py, m), i)?;
                }
            }
            Fast::Enum(members.unbind())
        }
        FieldType::Timestamp | FieldType::EnumSet(_) | FieldType::StrSet => Fast::General,
    })
}

/// One value that is not a collection, as the JSON value it stands for.
fn scalar<'a>(value: &Bound<'_, PyAny>, text: Option<&'a str>) -> PyResult<Leaf<'a>> {
    if let Some(text) = text {
        return Ok(Leaf::Str(text));
    }
    if value.is_none() {
        return Ok(Leaf::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Leaf::Bool(b.is_true()));
    }
    if value.cast::<PyInt>().is_ok() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Leaf::Int(i));
        }
        if let Ok(u) = value.extract::<u64>() {
            return Ok(Leaf::UInt(u));
        }
        // Beyond 64 bits, as a JSON parser reads such a number: a float.
        return Ok(Leaf::Float(value.extract::<f64>()?));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return Ok(Leaf::Float(f.value()));
    }
    Ok(Leaf::Object)
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| format!("a `{n}`"))
        .unwrap_or_else(|_| "another type".to_string())
}
