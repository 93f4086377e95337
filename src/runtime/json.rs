//! Streaming JSON decoding: request bytes straight into a record, without building a
//! JSON tree. Keys are matched against a trie of the schema's paths; values are read by
//! serde visitors that accept any JSON type, so a wrong type becomes a message about
//! that field instead of stopping the parse. Unknown keys are skipped.

use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::record::{Encoder, InputError, Record};
use crate::ir::{FieldType, Policy};

/// The schema's paths, one level per dot.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathTrie {
    children: HashMap<String, TrieNode>,
}

#[derive(Debug, Clone)]
enum TrieNode {
    Field(usize),
    Object(PathTrie),
}

impl PathTrie {
    pub(crate) fn new(policy: &Policy) -> Self {
        let mut root = PathTrie::default();
        for (slot, field) in policy.fields.iter().enumerate() {
            root.insert(&field.segments, slot);
        }
        root
    }

    fn insert(&mut self, segments: &[String], slot: usize) {
        match segments {
            [] => {}
            [last] => {
                self.children.insert(last.clone(), TrieNode::Field(slot));
            }
            [first, rest @ ..] => {
                let entry = self
                    .children
                    .entry(first.clone())
                    .or_insert_with(|| TrieNode::Object(PathTrie::default()));
                // A value and an object at once is rejected by the checker (E0107).
                if let TrieNode::Object(next) = entry {
                    next.insert(rest, slot);
                }
            }
        }
    }

    /// Every field slot under this node, for reporting a parent that is not an object.
    fn slots(&self, out: &mut Vec<usize>) {
        for node in self.children.values() {
            match node {
                TrieNode::Field(slot) => out.push(*slot),
                TrieNode::Object(sub) => sub.slots(out),
            }
        }
    }
}

struct Decoding<'p> {
    policy: &'p Policy,
    encoder: &'p Encoder,
    record: Record,
    /// The first problem with each slot; reported in schema order.
    problems: Vec<Option<String>>,
    /// Keys given twice in one object, as dotted paths: the request is then invalid,
    /// since consumers that keep the first and the last value would act differently.
    duplicates: Vec<String>,
}

impl Decoding<'_> {
    fn problem(&mut self, slot: usize, message: String) {
        if let Some(p) = self.problems.get_mut(slot) {
            *p = Some(message);
        }
    }
}

/// Decodes a JSON request. Errors name every bad field, in schema order.
pub(crate) fn decode(
    policy: &Policy,
    encoder: &Encoder,
    trie: &PathTrie,
    bytes: &[u8],
) -> Result<Record, Vec<InputError>> {
    let mut decoding = Decoding {
        policy,
        encoder,
        record: Record::new(policy.fields.len()),
        problems: vec![None; policy.fields.len()],
        duplicates: Vec::new(),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = TopLevel {
        trie,
        decoding: &mut decoding,
        at: None,
    }
    .deserialize(&mut de)
    .and_then(|top| de.end().map(|()| top));
    let not_json = |e: serde_json::Error| {
        vec![InputError::new(
            "",
            format!("the request is not valid JSON: {e}"),
        )]
    };
    match parsed {
        Err(e) => return Err(not_json(e)),
        Ok(Some(kind)) => {
            return Err(vec![InputError::new(
                "",
                format!("the request must be a JSON object, found {kind}"),
            )]);
        }
        Ok(None) => {}
    }
    let mut errors: Vec<InputError> = decoding
        .duplicates
        .iter()
        .map(|path| InputError::new(path, "the key appears more than once in its object"))
        .collect();
    decoding.record.fill_defaults(policy);
    for (slot, field) in policy.fields.iter().enumerate() {
        match decoding.problems.get(slot).cloned().flatten() {
            Some(message) => errors.push(InputError::new(&field.path, message)),
            None if field.required() && !decoding.record.is_present(slot) => {
                errors.push(InputError::new(&field.path, "required field is missing"));
            }
            None => {}
        }
    }
    if errors.is_empty() {
        Ok(decoding.record)
    } else {
        Err(errors)
    }
}

/// The request itself: an object, or the kind of what it is instead.
struct TopLevel<'t, 'd, 'p> {
    trie: &'t PathTrie,
    decoding: &'d mut Decoding<'p>,
    /// Where this object is, for naming a duplicate key.
    at: Option<&'t ObjectPath<'t>>,
}

/// The keys leading to an object, innermost last, kept on the stack while decoding.
struct ObjectPath<'a> {
    parent: Option<&'a ObjectPath<'a>>,
    key: &'a str,
}

fn dotted(at: Option<&ObjectPath<'_>>, key: &str) -> String {
    let mut parts = vec![key];
    let mut node = at;
    while let Some(n) = node {
        parts.push(n.key);
        node = n.parent;
    }
    parts.reverse();
    parts.join(".")
}

/// The keys of one object seen so far: the first [`INLINE_KEYS`] on the stack (no
/// allocation for the objects of an ordinary request), the rest in a set, so a hostile
/// object with many keys stays linear.
struct SeenKeys<'de> {
    few: [Option<Cow<'de, str>>; INLINE_KEYS],
    len: usize,
    many: std::collections::HashSet<Cow<'de, str>>,
}

const INLINE_KEYS: usize = 16;

impl<'de> SeenKeys<'de> {
    fn new() -> Self {
        SeenKeys {
            few: [const { None }; INLINE_KEYS],
            len: 0,
            many: std::collections::HashSet::new(),
        }
    }

    /// False when `key` was seen before.
    fn insert(&mut self, key: Cow<'de, str>) -> bool {
        let inline = self.few.get(..self.len).unwrap_or_default();
        if inline.iter().flatten().any(|k| *k == key)
            || (!self.many.is_empty() && self.many.contains(&key))
        {
            return false;
        }
        match self.few.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(key);
                self.len += 1;
            }
            None => {
                self.many.insert(key);
            }
        }
        true
    }
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_, '_, '_> {
    type Value = Option<&'static str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_, '_, '_> {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        read_object(self.trie, self.decoding, map, self.at).map(|()| None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Some("an array"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Some("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Some("an integer"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Some("an integer"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Some("a number with a fraction"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Some("a string"))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Some("null"))
    }
}

fn read_object<'de, A: MapAccess<'de>>(
    trie: &PathTrie,
    decoding: &mut Decoding<'_>,
    mut map: A,
    at: Option<&ObjectPath<'_>>,
) -> Result<(), A::Error> {
    let mut seen = SeenKeys::new();
    while let Some(key) = map.next_key::<Key<'de>>()? {
        if !seen.insert(key.0.clone()) {
            decoding.duplicates.push(dotted(at, &key.0));
            map.next_value::<IgnoredAny>()?;
            continue;
        }
        match trie.children.get(key.0.as_ref()) {
            None => {
                map.next_value::<IgnoredAny>()?;
            }
            Some(TrieNode::Field(slot)) => map.next_value_seed(FieldSeed {
                slot: *slot,
                decoding: &mut *decoding,
            })?,
            Some(TrieNode::Object(sub)) => {
                let here = ObjectPath {
                    parent: at,
                    key: key.0.as_ref(),
                };
                let kind = map.next_value_seed(TopLevel {
                    trie: sub,
                    decoding: &mut *decoding,
                    at: Some(&here),
                })?;
                match kind {
                    // `null` for an object of optional fields means they are absent.
                    None | Some("null") => {}
                    Some(_) => {
                        let mut slots = Vec::new();
                        sub.slots(&mut slots);
                        let parent = key.0.to_string();
                        for slot in slots {
                            let path = decoding
                                .policy
                                .fields
                                .get(slot)
                                .map(|f| f.path.clone())
                                .unwrap_or_default();
                            let parent_path = path
                                .match_indices('.')
                                .map(|(i, _)| &path[..i])
                                .find(|p| p.ends_with(parent.as_str()))
                                .unwrap_or(&parent)
                                .to_string();
                            decoding.problem(
                                slot,
                                format!("`{parent_path}` must be an object to hold this field"),
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// A key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// One field's value, checked against its type.
struct FieldSeed<'d, 'p> {
    slot: usize,
    decoding: &'d mut Decoding<'p>,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl FieldSeed<'_, '_> {
    fn ty(&self) -> FieldType {
        self.decoding
            .policy
            .fields
            .get(self.slot)
            .map_or(FieldType::Bool, |f| f.ty.clone())
    }

    fn store(self, bits: u64) {
        self.decoding.record.store_bits(self.slot, bits);
    }

    fn wrong(self, found: &str) {
        let what = match self.ty() {
            FieldType::Bool => "a boolean",
            FieldType::Int | FieldType::Duration => "an integer",
            FieldType::Float | FieldType::Percent => "a number",
            FieldType::Str => "a string",
            FieldType::Timestamp => "an RFC 3339 timestamp",
            FieldType::Enum(_) => "a string naming a member",
            FieldType::EnumSet(_) | FieldType::StrSet => "an array",
        };
        self.decoding
            .problem(self.slot, format!("expected {what}, found {found}"));
    }

    fn fail(self, message: String) {
        self.decoding.problem(self.slot, message);
    }

    fn number(
        self,
        as_int: Option<i64>,
        as_float: f64,
        text: impl FnOnce() -> String,
        unsigned_overflow: bool,
    ) {
        match self.ty() {
            FieldType::Int | FieldType::Duration => match as_int {
                Some(i) => self.store(i as u64),
                None if unsigned_overflow => self.fail("integer is out of range".to_string()),
                None => self.fail(format!("expected an integer, found the number {}", text())),
            },
            FieldType::Float | FieldType::Percent => self.store(as_float.to_bits()),
            _ => {
                let found = if as_int.is_some() || unsigned_overflow {
                    "an integer"
                } else {
                    "a number with a fraction"
                };
                self.wrong(found);
            }
        }
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        match self.ty() {
            FieldType::Bool => self.store(u64::from(v)),
            _ => self.wrong("a boolean"),
        }
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.number(Some(v), v as f64, || v.to_string(), false);
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.number(
            i64::try_from(v).ok(),
            v as f64,
            || v.to_string(),
            v > i64::MAX as u64,
        );
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.number(
            None,
            v,
            || serde_json::Number::from_f64(v).map_or(v.to_string(), |n| n.to_string()),
            false,
        );
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        match self.ty() {
            FieldType::Str => {
                let id = self.decoding.encoder.intern(&mut self.decoding.record, v);
                self.store(u64::from(id));
            }
            FieldType::Enum(id) => match super::record::member(self.decoding.policy, id, v) {
                Ok(m) => self.store(u64::from(m)),
                Err(message) => self.fail(message),
            },
            FieldType::Timestamp => match crate::builtins::time::parse_timestamp(v) {
                Ok(secs) => self.store(secs as u64),
                Err(message) => self.fail(message),
            },
            _ => self.wrong("a string"),
        }
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        // `null` is absence for an optional field, and for one with a default (which
        // it then takes).
        let absent_ok = self
            .decoding
            .policy
            .fields
            .get(self.slot)
            .is_some_and(|f| !f.required());
        if absent_ok {
            self.decoding.record.clear(self.slot);
        } else {
            self.fail("required field is null".to_string());
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.wrong("an object");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ty = self.ty();
        let mut problem: Option<String> = None;
        match ty {
            FieldType::EnumSet(enum_id) => {
                let mut mask = 0u64;
                while let Some(item) = seq.next_element::<Item<'de>>()? {
                    if problem.is_some() {
                        continue;
                    }
                    match item {
                        Item::Str(s) => {
                            match super::record::member(self.decoding.policy, enum_id, &s) {
                                Ok(m) => mask |= 1 << (m % 64),
                                Err(message) => problem = Some(message),
                            }
                        }
                        Item::Other(found) => {
                            problem = Some(format!("expected an array of strings, found {found}"))
                        }
                    }
                }
                match problem {
                    Some(message) => self.fail(message),
                    None => self.store(mask),
                }
            }
            FieldType::StrSet => {
                let mut ids = Vec::new();
                while let Some(item) = seq.next_element::<Item<'de>>()? {
                    if problem.is_some() {
                        continue;
                    }
                    match item {
                        Item::Str(s) => {
                            ids.push(self.decoding.encoder.intern(&mut self.decoding.record, &s))
                        }
                        Item::Other(found) => {
                            problem = Some(format!("expected an array of strings, found {found}"))
                        }
                    }
                }
                match problem {
                    Some(message) => self.fail(message),
                    None => {
                        let packed = self.decoding.record.pack_set(ids);
                        self.store(packed);
                    }
                }
            }
            _ => {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                self.wrong("an array");
            }
        }
        Ok(())
    }
}

/// An element of a set: a string, or the kind of what it is instead.
enum Item<'de> {
    Str(Cow<'de, str>),
    Other(&'static str),
}

impl<'de> de::Deserialize<'de> for Item<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = Item<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a set element")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Item::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Item::Str(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Item::Other("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Item::Other("an integer"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Item::Other("an integer"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Item::Other("a number with a fraction"))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Item::Other("null"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Item::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Item::Other("an object"))
            }
        }
        deserializer.deserialize_any(ItemVisitor)
    }
}
