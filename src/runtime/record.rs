//! Input encoding: a request becomes a flat record whose layout the schema fixes —
//! one 64-bit slot per field, a presence bit per field, strings interned to ids.
//!
//! Validation follows the brief's "JSON input" rules: every bad or missing field is
//! named, and a request with any is invalid (the guard then fails closed).

use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value as Json;

use crate::check::program::Value;
use crate::ir::{FieldType, Policy};

/// A request, encoded for a policy.
///
/// One allocation holds the whole fixed part: `words` is every field's slot, then the
/// presence words. Strings that are not policy literals share one text buffer, so a
/// record reused for the next request (`Encoder::decode_json_into`) allocates nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// `fields` slots, then `fields.div_ceil(64).max(1)` presence words.
    pub(crate) words: Vec<u64>,
    pub(crate) fields: usize,
    /// The items of every `set<string>` field, back to back; a set's slot packs
    /// `offset << 32 | len`.
    pub(crate) set_items: Vec<u32>,
    /// Request strings that are not policy literals, back to back; id = literal count
    /// + index, and `extra_ends[index]` is where the string ends in `extra_text`.
    extra_text: String,
    extra_ends: Vec<u32>,
    /// Whether the clock field was left out and took the time the record was built.
    pub(crate) clock_filled: bool,
}

impl Record {
    pub(crate) fn store_bits(&mut self, slot: usize, bits: u64) {
        if slot < self.fields
            && let Some(s) = self.words.get_mut(slot)
        {
            *s = bits;
        }
        self.mark_present(slot, true);
    }

    pub(crate) fn clear(&mut self, slot: usize) {
        self.mark_present(slot, false);
    }

    pub(crate) fn pack_set(&mut self, ids: Vec<u32>) -> u64 {
        pack_set(self, ids)
    }

    pub(crate) fn new(fields: usize) -> Self {
        let mut record = Record::default();
        record.reset(fields);
        record
    }

    /// Empties the record for a new request of `fields` fields, keeping its buffers.
    pub(crate) fn reset(&mut self, fields: usize) {
        self.words.clear();
        self.words.resize(fields + presence_words(fields), 0);
        self.fields = fields;
        self.set_items.clear();
        self.extra_text.clear();
        self.extra_ends.clear();
        self.clock_filled = false;
    }

    /// The bytes the record holds on the heap (its buffers' capacity), beside
    /// `size_of::<Record>()` inline.
    pub fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
            + self.set_items.capacity() * 4
            + self.extra_text.capacity()
            + self.extra_ends.capacity() * 4
    }

    /// Every field's slot, in schema order.
    pub(crate) fn slots(&self) -> &[u64] {
        self.words.get(..self.fields).unwrap_or(&[])
    }

    /// The presence bits: bit `slot % 64` of word `slot / 64`.
    pub(crate) fn present(&self) -> &[u64] {
        self.words.get(self.fields..).unwrap_or(&[])
    }

    /// The request's strings that are not policy literals, by index.
    pub(crate) fn extra_strings(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.extra_ends.len()).map(|i| self.extra_string(i).unwrap_or(""))
    }

    fn extra_string(&self, index: usize) -> Option<&str> {
        let end = *self.extra_ends.get(index)? as usize;
        let start = match index.checked_sub(1) {
            Some(before) => *self.extra_ends.get(before)? as usize,
            None => 0,
        };
        self.extra_text.get(start..end)
    }

    /// Adds a request string that is not a literal; its index among them.
    fn push_extra(&mut self, s: &str) -> usize {
        self.extra_text.push_str(s);
        self.extra_ends.push(self.extra_text.len() as u32);
        self.extra_ends.len() - 1
    }

    /// Whether the request left out the clock field (so the time it reads is the
    /// host's).
    pub fn clock_filled(&self) -> bool {
        self.clock_filled
    }

    /// Gives a left-out clock field the time `secs` instead (a governor deciding at its
    /// own time, a replay at the line's); the record then reads as if the host had
    /// given that time.
    pub fn set_filled_clock(&mut self, policy: &Policy, secs: i64) {
        if let (true, Some(slot)) = (self.clock_filled, policy.clock_slot)
            && (slot as usize) < self.fields
            && let Some(s) = self.words.get_mut(slot as usize)
        {
            *s = secs as u64;
            self.clock_filled = false;
        }
    }

    pub fn is_present(&self, slot: usize) -> bool {
        self.present()
            .get(slot / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    /// Every absent field with a schema default takes it. Every way of building a
    /// record calls this once, at the end, before required fields are checked.
    pub(crate) fn fill_defaults(&mut self, policy: &Policy) {
        if let Some(slot) = policy.clock_slot
            && !self.is_present(slot as usize)
        {
            self.store_bits(slot as usize, crate::builtins::time::system_now() as u64);
            self.clock_filled = true;
        }
        for (slot, field) in policy.fields.iter().enumerate() {
            if let Some(bits) = field.default
                && !self.is_present(slot)
            {
                self.store_bits(slot, bits);
            }
        }
    }

    fn mark_present(&mut self, slot: usize, present: bool) {
        if slot >= self.fields {
            return;
        }
        if let Some(w) = self.words.get_mut(self.fields + slot / 64) {
            if present {
                *w |= 1 << (slot % 64);
            } else {
                *w &= !(1 << (slot % 64));
            }
        }
    }

    pub fn slot(&self, slot: usize) -> u64 {
        self.slots().get(slot).copied().unwrap_or(0)
    }

    /// The text of an interned string id: a policy literal or one of this request's.
    pub fn text<'a>(&'a self, policy: &'a Policy, id: u64) -> Option<&'a str> {
        self.text_among(&policy.strings, id)
    }

    /// [`Record::text`] given only the policy's literals (what a compiled guard keeps).
    pub(crate) fn text_among<'a>(&'a self, literals: &'a [String], id: u64) -> Option<&'a str> {
        let id = usize::try_from(id).ok()?;
        match literals.get(id) {
            Some(s) => Some(s),
            None => self.extra_string(id - literals.len()),
        }
    }

    /// A field's value as text — a trigger's `by` key, a block's key — or `None` when
    /// the field is absent or a set.
    pub fn value_text<'a>(&'a self, policy: &'a Policy, slot: usize) -> Option<Cow<'a, str>> {
        if !self.is_present(slot) {
            return None;
        }
        let bits = self.slot(slot);
        Some(match policy.fields.get(slot)?.ty {
            FieldType::Bool => Cow::Borrowed(if bits != 0 { "true" } else { "false" }),
            FieldType::Int | FieldType::Duration => Cow::Owned((bits as i64).to_string()),
            FieldType::Timestamp => {
                Cow::Owned(crate::builtins::time::format_timestamp(bits as i64))
            }
            FieldType::Float | FieldType::Percent => Cow::Owned(f64::from_bits(bits).to_string()),
            FieldType::Str => Cow::Borrowed(self.text(policy, bits)?),
            FieldType::Enum(e) => Cow::Borrowed(
                policy
                    .enums
                    .get(e)?
                    .members
                    .get(usize::try_from(bits).ok()?)?
                    .as_str(),
            ),
            FieldType::EnumSet(_) | FieldType::StrSet => return None,
        })
    }

    /// The ids in a `set<string>` slot.
    pub fn str_set(&self, packed: u64) -> &[u32] {
        let offset = (packed >> 32) as usize;
        let len = (packed & 0xffff_ffff) as usize;
        self.set_items.get(offset..offset + len).unwrap_or(&[])
    }
}

/// Why a request is invalid: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputError {
    pub field: String,
    pub message: String,
}

impl InputError {
    pub(crate) fn new(field: &str, message: impl Into<String>) -> Self {
        InputError {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Knows a policy's layout and literal strings; turns requests into records.
#[derive(Debug, Clone)]
pub struct Encoder {
    literal_ids: HashMap<String, u32>,
    slot_by_path: HashMap<String, usize>,
    trie: super::json::PathTrie,
    /// The required fields' presence bits, word by word.
    required: Vec<u64>,
}

impl Encoder {
    pub fn new(policy: &Policy) -> Self {
        Encoder {
            literal_ids: policy
                .strings
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), i as u32))
                .collect(),
            slot_by_path: policy
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.path.clone(), i))
                .collect(),
            trie: super::json::PathTrie::new(policy),
            required: required_bits(policy),
        }
    }

    pub fn slot(&self, path: &str) -> Option<usize> {
        self.slot_by_path.get(path).copied()
    }

    pub(crate) fn intern(&self, record: &mut Record, s: &str) -> u32 {
        if let Some(&id) = self.literal_ids.get(s) {
            return id;
        }
        let base = self.literal_ids.len() as u32;
        let known = record.extra_strings().position(|e| e == s);
        let index = match known {
            Some(i) => i,
            None => record.push_extra(s),
        };
        base + index as u32
    }

    /// Decodes a JSON request. Errors name every bad field.
    pub fn decode_json(&self, policy: &Policy, bytes: &[u8]) -> Result<Record, Vec<InputError>> {
        let mut record = Record::default();
        self.decode_json_into(policy, bytes, &mut record)
            .map(|()| record)
    }

    /// [`Encoder::decode_json`] into a record the caller keeps: its buffers are reused,
    /// so decoding a request of numbers, booleans, enums and literals allocates nothing.
    /// On an error the record holds no request.
    pub fn decode_json_into(
        &self,
        policy: &Policy,
        bytes: &[u8],
        record: &mut Record,
    ) -> Result<(), Vec<InputError>> {
        let decoded = super::json::decode_into(policy, self, &self.trie, bytes, record);
        if decoded.is_err() {
            record.reset(policy.fields.len());
        }
        decoded
    }

    /// Whether every required field of the policy is present in `record`.
    pub(crate) fn has_every_required(&self, record: &Record) -> bool {
        let present = record.present();
        self.required
            .iter()
            .enumerate()
            .all(|(i, required)| present.get(i).is_some_and(|p| p & required == *required))
    }

    pub fn decode_value(&self, policy: &Policy, json: &Json) -> Result<Record, Vec<InputError>> {
        let Json::Object(_) = json else {
            return Err(vec![InputError::new(
                "",
                format!(
                    "the request must be a JSON object, found {}",
                    Leaf::from_json(json).kind()
                ),
            )]);
        };
        let mut record = Record::new(policy.fields.len());
        let mut errors = Vec::new();
        for (slot, field) in policy.fields.iter().enumerate() {
            match lookup(json, &field.segments) {
                Lookup::Found(value) => {
                    if let Err(message) = self.store_leaf(
                        policy,
                        &mut record,
                        slot,
                        &field.ty,
                        &Leaf::from_json(value),
                    ) {
                        errors.push(InputError::new(&field.path, message));
                    }
                }
                Lookup::Absent => {
                    if field.required() {
                        errors.push(InputError::new(&field.path, "required field is missing"));
                    }
                }
                Lookup::Null => {
                    if field.required() {
                        errors.push(InputError::new(&field.path, "required field is null"));
                    }
                }
                Lookup::NotObject(parent) => errors.push(InputError::new(
                    &field.path,
                    format!("`{parent}` must be an object to hold this field"),
                )),
            }
        }
        record.fill_defaults(policy);
        if errors.is_empty() {
            Ok(record)
        } else {
            Err(errors)
        }
    }

    /// Checks `value` against the field's type and stores it: the one validation every
    /// way into a record shares (JSON values, the builder, host languages' values).
    pub(crate) fn store_leaf(
        &self,
        policy: &Policy,
        record: &mut Record,
        slot: usize,
        ty: &FieldType,
        value: &Leaf<'_>,
    ) -> Result<(), String> {
        let bits = match ty {
            FieldType::Bool => match value {
                Leaf::Bool(b) => u64::from(*b),
                other => return Err(expected("a boolean", other)),
            },
            FieldType::Int | FieldType::Duration => match value {
                Leaf::Int(i) => *i as u64,
                Leaf::UInt(_) => return Err("integer is out of range".to_string()),
                Leaf::Float(f) => return Err(format!("expected an integer, found the number {f}")),
                other => return Err(expected("an integer", other)),
            },
            FieldType::Float | FieldType::Percent => match value {
                Leaf::Int(i) => (*i as f64).to_bits(),
                Leaf::UInt(u) => (*u as f64).to_bits(),
                // No JSON number is one; a host's NaN must not reach a comparison.
                Leaf::Float(f) if !f.is_finite() => {
                    return Err(format!("expected a finite number, found {f}"));
                }
                Leaf::Float(f) => f.to_bits(),
                other => return Err(expected("a number", other)),
            },
            FieldType::Str => match value {
                Leaf::Str(s) => u64::from(self.intern(record, s)),
                other => return Err(expected("a string", other)),
            },
            FieldType::Timestamp => match value {
                Leaf::Str(s) => crate::builtins::time::parse_timestamp(s)? as u64,
                other => return Err(expected("an RFC 3339 timestamp", other)),
            },
            FieldType::Enum(id) => match value {
                Leaf::Str(s) => u64::from(member(policy, *id, s)?),
                other => return Err(expected("a string naming a member", other)),
            },
            FieldType::EnumSet(id) => match value {
                Leaf::List(items) => {
                    let mut mask = 0u64;
                    for item in items {
                        match item {
                            Leaf::Str(s) => mask |= 1 << (member(policy, *id, s)? % 64),
                            other => return Err(expected("an array of strings", other)),
                        }
                    }
                    mask
                }
                other => return Err(expected("an array", other)),
            },
            FieldType::StrSet => match value {
                Leaf::List(items) => {
                    let mut ids = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            Leaf::Str(s) => ids.push(self.intern(record, s)),
                            other => return Err(expected("an array of strings", other)),
                        }
                    }
                    pack_set(record, ids)
                }
                other => return Err(expected("an array", other)),
            },
        };
        record.store_bits(slot, bits);
        Ok(())
    }

    /// Encodes a fixture value (already checked against the schema).
    pub(crate) fn store_value(&self, record: &mut Record, slot: usize, value: Option<&Value>) {
        let Some(value) = value else {
            record.mark_present(slot, false);
            return;
        };
        let bits = match value {
            Value::Set(items) => {
                if items.iter().all(|i| matches!(i, Value::Str(_)))
                    && items.iter().any(|i| matches!(i, Value::Str(_)))
                {
                    let ids = items
                        .iter()
                        .filter_map(|i| match i {
                            Value::Str(s) => Some(self.intern(record, s)),
                            _ => None,
                        })
                        .collect();
                    pack_set(record, ids)
                } else if items.is_empty() {
                    // An empty set is 0 as a mask and as a packed string set alike.
                    0
                } else {
                    items.iter().fold(0u64, |mask, i| match i {
                        Value::Enum(_, m) => mask | (1 << (m % 64)),
                        _ => mask,
                    })
                }
            }
            scalar => scalar
                .scalar_bits(|s| self.intern(record, s))
                .unwrap_or_default(),
        };
        record.store_bits(slot, bits);
    }

    /// A record from fixture values; every required field must be among them.
    pub(crate) fn encode_values<'v>(
        &self,
        policy: &Policy,
        values: impl Iterator<Item = (usize, Option<&'v Value>)>,
    ) -> Result<Record, Vec<InputError>> {
        let mut record = Record::new(policy.fields.len());
        for (slot, value) in values {
            self.store_value(&mut record, slot, value);
        }
        record.fill_defaults(policy);
        self.missing_required(policy, &record)?;
        Ok(record)
    }

    /// Every required field `record` lacks, named in schema order.
    fn missing_required(&self, policy: &Policy, record: &Record) -> Result<(), Vec<InputError>> {
        if self.has_every_required(record) {
            return Ok(());
        }
        missing_fields(policy, record)
    }
}

fn missing_fields(policy: &Policy, record: &Record) -> Result<(), Vec<InputError>> {
    let errors: Vec<InputError> = policy
        .fields
        .iter()
        .enumerate()
        .filter(|(slot, f)| f.required() && !record.is_present(*slot))
        .map(|(_, f)| InputError::new(&f.path, "required field is missing"))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The presence words of a record holding exactly the required fields.
fn required_bits(policy: &Policy) -> Vec<u64> {
    let mut mask = Record::new(policy.fields.len());
    for (slot, field) in policy.fields.iter().enumerate() {
        if field.required() {
            mask.mark_present(slot, true);
        }
    }
    mask.present().to_vec()
}

/// How many presence words a record of `fields` fields has.
pub(crate) fn presence_words(fields: usize) -> usize {
    fields.div_ceil(64).max(1)
}

fn pack_set(record: &mut Record, mut ids: Vec<u32>) -> u64 {
    ids.sort_unstable();
    ids.dedup();
    let offset = record.set_items.len() as u64;
    let len = ids.len() as u64;
    record.set_items.extend(ids);
    (offset << 32) | len
}

pub(crate) fn member(policy: &Policy, enum_id: usize, name: &str) -> Result<u32, String> {
    let Some(e) = policy.enums.get(enum_id) else {
        return Err("unknown enum".to_string());
    };
    e.members
        .iter()
        .position(|m| same_text(m, name))
        .map(|i| i as u32)
        .ok_or_else(|| {
            format!(
                "`{name}` is not a member of `{}` ({})",
                e.name,
                e.members.join(", ")
            )
        })
}

/// `a == b`, comparing keys and member names of up to 32 bytes in two overlapping
/// word loads instead of a call into `memcmp` (a request has a dozen keys and names
/// to match, and the call was a tenth of decoding one).
#[inline]
pub(crate) fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    fn ends<const N: usize>(s: &[u8]) -> Option<(&[u8; N], &[u8; N])> {
        Some((s.first_chunk::<N>()?, s.last_chunk::<N>()?))
    }
    match a.len() {
        16..=32 => ends::<16>(a) == ends::<16>(b),
        8..16 => ends::<8>(a) == ends::<8>(b),
        4..8 => ends::<4>(a) == ends::<4>(b),
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        _ => a == b,
    }
}

fn expected(what: &str, found: &Leaf<'_>) -> String {
    format!("expected {what}, found {}", found.kind())
}

/// One value of a request as its host holds it — a JSON value, a Python object — read
/// just far enough to check it against the field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    Float(f64),
    Str(&'a str),
    List(Vec<Leaf<'a>>),
    /// A map or any other value no field type takes.
    Object,
}

impl<'a> Leaf<'a> {
    /// Reads a JSON value (an array's items too; an object's members are not needed).
    pub fn from_json(value: &'a Json) -> Leaf<'a> {
        match value {
            Json::Null => Leaf::Null,
            Json::Bool(b) => Leaf::Bool(*b),
            Json::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Leaf::Int(i),
                (None, Some(u)) => Leaf::UInt(u),
                (None, None) => Leaf::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => Leaf::Str(s),
            Json::Array(items) => Leaf::List(items.iter().map(Leaf::from_json).collect()),
            Json::Object(_) => Leaf::Object,
        }
    }

    /// What it is, in the words of the JSON input rules' messages.
    fn kind(&self) -> &'static str {
        match self {
            Leaf::Null => "null",
            Leaf::Bool(_) => "a boolean",
            Leaf::Int(_) | Leaf::UInt(_) => "an integer",
            Leaf::Float(_) => "a number with a fraction",
            Leaf::Str(_) => "a string",
            Leaf::List(_) => "an array",
            Leaf::Object => "an object",
        }
    }
}

enum Lookup<'j> {
    Found(&'j Json),
    Absent,
    Null,
    /// A parent on the path is present but not an object; carries its dotted path.
    NotObject(String),
}

fn lookup<'j>(root: &'j Json, segments: &[String]) -> Lookup<'j> {
    let mut current = root;
    for (depth, segment) in segments.iter().enumerate() {
        match current {
            Json::Object(map) => match map.get(segment) {
                // `null` for a parent object means its fields are absent.
                Some(Json::Null) if depth + 1 < segments.len() => return Lookup::Absent,
                Some(Json::Null) => return Lookup::Null,
                Some(next) => current = next,
                None => return Lookup::Absent,
            },
            _ => {
                return Lookup::NotObject(
                    segments
                        .get(..depth)
                        .map(|s| s.join("."))
                        .unwrap_or_default(),
                );
            }
        }
    }
    Lookup::Found(current)
}

/// Builds a record without JSON, by field path, with the same validation.
#[derive(Debug)]
pub struct RecordBuilder<'g> {
    policy: &'g Policy,
    encoder: &'g Encoder,
    record: Record,
    errors: Vec<InputError>,
}

impl<'g> RecordBuilder<'g> {
    pub(crate) fn new(policy: &'g Policy, encoder: &'g Encoder) -> Self {
        RecordBuilder {
            policy,
            encoder,
            record: Record::new(policy.fields.len()),
            errors: Vec::new(),
        }
    }

    fn set(mut self, path: &str, value: Leaf<'_>) -> Self {
        match self.encoder.slot(path) {
            Some(slot) => self.put(slot, value),
            None => self
                .errors
                .push(InputError::new(path, "the schema has no such field")),
        }
        self
    }

    pub fn bool(self, path: &str, value: bool) -> Self {
        self.set(path, Leaf::Bool(value))
    }

    pub fn int(self, path: &str, value: i64) -> Self {
        self.set(path, Leaf::Int(value))
    }

    pub fn float(self, path: &str, value: f64) -> Self {
        self.set(path, Leaf::Float(value))
    }

    /// A `string` field, or an enum field by member name.
    pub fn string(self, path: &str, value: &str) -> Self {
        self.set(path, Leaf::Str(value))
    }

    /// A `set<string>` field, or a `set<enum>` field by member names.
    pub fn strings(self, path: &str, values: &[&str]) -> Self {
        self.set(
            path,
            Leaf::List(values.iter().map(|v| Leaf::Str(v)).collect()),
        )
    }

    /// The schema's fields, in slot order: what a host walks to fill a record by slot.
    pub fn fields(&self) -> &'g [crate::ir::Field] {
        &self.policy.fields
    }

    /// Sets the field in `slot` from a host's value, checked as a JSON value would be;
    /// `Leaf::Null` is a left-out value (an error when the field is required).
    pub fn put(&mut self, slot: usize, value: Leaf<'_>) {
        let Some(field) = self.policy.fields.get(slot) else {
            return;
        };
        if matches!(value, Leaf::Null) {
            if field.required() {
                self.errors
                    .push(InputError::new(&field.path, "required field is null"));
            }
            return;
        }
        if let Err(message) =
            self.encoder
                .store_leaf(self.policy, &mut self.record, slot, &field.ty, &value)
        {
            self.errors.push(InputError::new(&field.path, message));
        }
    }

    /// Sets an enum field to its member number `member` (its index in
    /// `ir::Enum::members`): for hosts that looked the name up once per policy.
    pub fn put_member(&mut self, slot: usize, member: u32) {
        let Some(field) = self.policy.fields.get(slot) else {
            return;
        };
        let known = match field.ty {
            FieldType::Enum(id) => self
                .policy
                .enums
                .get(id)
                .is_some_and(|e| (member as usize) < e.members.len()),
            _ => false,
        };
        if known {
            self.record.store_bits(slot, u64::from(member));
        } else {
            self.errors.push(InputError::new(
                &field.path,
                format!("member number {member} is not a member of this field's enum"),
            ));
        }
    }

    /// Sets a `string` field to the policy's literal number `literal` (its index in
    /// `ir::Policy::strings`): for hosts that looked the text up once per policy.
    pub fn put_literal(&mut self, slot: usize, literal: u32) {
        let Some(field) = self.policy.fields.get(slot) else {
            return;
        };
        if field.ty == FieldType::Str && (literal as usize) < self.policy.strings.len() {
            self.record.store_bits(slot, u64::from(literal));
        } else {
            self.errors.push(InputError::new(
                &field.path,
                format!("literal number {literal} is not a string of this policy"),
            ));
        }
    }

    /// Refuses the field in `slot` for a reason of the host's (a header given twice).
    pub fn refuse(&mut self, slot: usize, message: impl Into<String>) {
        if let Some(field) = self.policy.fields.get(slot) {
            self.errors.push(InputError::new(&field.path, message));
        }
    }

    /// Records that the field in `slot` cannot be read: `parent`, on its path, holds
    /// something other than an object.
    pub fn put_not_object(&mut self, slot: usize, parent: &str) {
        if let Some(field) = self.policy.fields.get(slot) {
            self.errors.push(InputError::new(
                &field.path,
                format!("`{parent}` must be an object to hold this field"),
            ));
        }
    }

    /// The record, or every bad field in schema order (as a JSON request lists them;
    /// paths the schema does not have first).
    pub fn build(mut self) -> Result<Record, Vec<InputError>> {
        self.record.fill_defaults(self.policy);
        let mut errors = self.errors;
        if let Err(missing) = self.encoder.missing_required(self.policy, &self.record) {
            // A field whose value was refused is already named once.
            let named: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
            errors.extend(missing.into_iter().filter(|m| !named.contains(&m.field)));
        }
        if errors.is_empty() {
            Ok(self.record)
        } else {
            let encoder = self.encoder;
            errors.sort_by_key(|e| encoder.slot(&e.field).map_or(0, |slot| slot + 1));
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_text;
    use proptest::prelude::*;

    proptest! {
        /// Few letters, so equal lengths and near-equal texts are common; lengths cross
        /// every width the comparison switches at (4, 8, 16, 32).
        #[test]
        fn same_text_is_equality(a in "[ab]{0,40}", b in "[ab]{0,40}") {
            prop_assert_eq!(same_text(&a, &b), a == b);
        }

        #[test]
        fn same_text_sees_one_changed_byte(a in "[a-z_]{0,40}", at in any::<prop::sample::Index>()) {
            prop_assert!(same_text(&a, &a));
            if !a.is_empty() {
                let i = at.index(a.len());
                let mut b = a.clone().into_bytes();
                b[i] = if b[i] == b'x' { b'y' } else { b'x' };
                let b = String::from_utf8(b).unwrap_or_default();
                prop_assert!(!same_text(&a, &b), "{} vs {}", a, b);
            }
        }
    }
}
