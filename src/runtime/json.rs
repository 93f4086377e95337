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

/// The schema's paths, one level per dot. Every node has a number, so a key given
/// twice in one object is found by a bit per node instead of comparing keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathTrie {
    /// This level's keys in schema order: requests usually list their keys in the
    /// order the schema does, so the key after the last one found is tried first.
    entries: Vec<Entry>,
    /// A key's place in `entries`.
    by_key: HashMap<String, usize>,
    /// How many nodes the whole trie has (kept at the root).
    nodes: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    key: String,
    number: usize,
    node: TrieNode,
}

#[derive(Debug, Clone)]
enum TrieNode {
    Field(usize),
    Object(PathTrie),
}

impl PathTrie {
    pub(crate) fn new(policy: &Policy) -> Self {
        let mut root = PathTrie::default();
        let mut nodes = 0;
        for (slot, field) in policy.fields.iter().enumerate() {
            root.insert(&field.segments, slot, &mut nodes);
        }
        root.nodes = nodes;
        root
    }

    fn insert(&mut self, segments: &[String], slot: usize, nodes: &mut usize) {
        let Some((first, rest)) = segments.split_first() else {
            return;
        };
        let at = match self.by_key.get(first) {
            Some(&at) => at,
            None => {
                let node = if rest.is_empty() {
                    TrieNode::Field(slot)
                } else {
                    TrieNode::Object(PathTrie::default())
                };
                self.entries.push(Entry {
                    key: first.clone(),
                    number: *nodes,
                    node,
                });
                *nodes += 1;
                self.by_key.insert(first.clone(), self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        // A value and an object at once is rejected by the checker (E0107).
        if let Some(Entry {
            node: TrieNode::Object(next),
            ..
        }) = self.entries.get_mut(at)
        {
            next.insert(rest, slot, nodes);
        }
    }

    /// The entry for `key`, trying first the one `*next` points to, and pointing
    /// `*next` past the entry found.
    #[inline]
    fn find(&self, key: &str, next: &mut usize) -> Option<&Entry> {
        if let Some(entry) = self.entries.get(*next)
            && super::record::same_text(&entry.key, key)
        {
            *next += 1;
            return Some(entry);
        }
        let at = *self.by_key.get(key)?;
        *next = at + 1;
        self.entries.get(at)
    }

    /// Every field slot under this node, for reporting a parent that is not an object.
    fn slots(&self, out: &mut Vec<usize>) {
        for entry in &self.entries {
            match &entry.node {
                TrieNode::Field(slot) => out.push(*slot),
                TrieNode::Object(sub) => sub.slots(out),
            }
        }
    }
}

struct Decoding<'p, 'r> {
    policy: &'p Policy,
    encoder: &'p Encoder,
    record: &'r mut Record,
    /// The problem with each bad slot (the last one found, if a value has several).
    /// Empty for a valid request, so decoding one allocates nothing here.
    problems: Vec<(usize, String)>,
    /// Keys given twice in one object, as dotted paths: the request is then invalid,
    /// since consumers that keep the first and the last value would act differently.
    duplicates: Vec<String>,
    /// The trie nodes whose key has been read: a second one is a duplicate (each node
    /// is one key of one object).
    seen: NodeBits,
}

impl Decoding<'_, '_> {
    fn problem(&mut self, slot: usize, message: String) {
        match self.problems.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, m)) => *m = message,
            None => self.problems.push((slot, message)),
        }
    }
}

/// One bit per trie node: on the stack for schemas of up to 256 nodes.
enum NodeBits {
    Inline([u64; 4]),
    Heap(Vec<u64>),
}

impl NodeBits {
    fn new(nodes: usize) -> Self {
        if nodes <= 256 {
            NodeBits::Inline([0; 4])
        } else {
            NodeBits::Heap(vec![0; nodes.div_ceil(64)])
        }
    }

    /// Sets bit `node`; false when it was set already.
    fn insert(&mut self, node: usize) -> bool {
        let words: &mut [u64] = match self {
            NodeBits::Inline(words) => words,
            NodeBits::Heap(words) => words,
        };
        let Some(word) = words.get_mut(node / 64) else {
            return true;
        };
        let bit = 1 << (node % 64);
        let fresh = *word & bit == 0;
        *word |= bit;
        fresh
    }
}

/// Decodes a JSON request into `record` (emptied first; its buffers are reused).
/// Errors name every bad field, in schema order.
pub(crate) fn decode_into(
    policy: &Policy,
    encoder: &Encoder,
    trie: &PathTrie,
    bytes: &[u8],
    record: &mut Record,
) -> Result<(), Vec<InputError>> {
    record.reset(policy.fields.len());
    let mut decoding = Decoding {
        policy,
        encoder,
        record,
        problems: Vec::new(),
        duplicates: Vec::new(),
        seen: NodeBits::new(trie.nodes),
    };
    let top = TopLevel {
        trie,
        decoding: &mut decoding,
        at: None,
    };
    // Checking the whole request's UTF-8 once is cheaper than serde_json checking each
    // string; bytes that are not UTF-8 go the checking way, for its error's position.
    let parsed = match std::str::from_utf8(bytes) {
        Ok(text) => read_whole(top, serde_json::Deserializer::from_str(text)),
        Err(_) => read_whole(top, serde_json::Deserializer::from_slice(bytes)),
    };
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
    decoding.record.fill_defaults(policy);
    if decoding.problems.is_empty()
        && decoding.duplicates.is_empty()
        && encoder.has_every_required(decoding.record)
    {
        return Ok(());
    }
    let mut errors: Vec<InputError> = decoding
        .duplicates
        .iter()
        .map(|path| InputError::new(path, "the key appears more than once in its object"))
        .collect();
    decoding.problems.sort_by_key(|(slot, _)| *slot);
    let mut problems = decoding.problems.into_iter().peekable();
    for (slot, field) in policy.fields.iter().enumerate() {
        match problems.next_if(|(s, _)| *s == slot) {
            Some((_, message)) => errors.push(InputError::new(&field.path, message)),
            None if field.required() && !decoding.record.is_present(slot) => {
                errors.push(InputError::new(&field.path, "required field is missing"));
            }
            None => {}
        }
    }
    Err(errors)
}

/// Reads the request with `de`, which must then be at the end of its input.
fn read_whole<'de, R: serde_json::de::Read<'de>>(
    top: TopLevel<'_, '_, '_, '_>,
    mut de: serde_json::Deserializer<R>,
) -> Result<Option<&'static str>, serde_json::Error> {
    let kind = top.deserialize(&mut de)?;
    de.end().map(|()| kind)
}

/// The request itself: an object, or the kind of what it is instead.
struct TopLevel<'t, 'd, 'p, 'r> {
    trie: &'t PathTrie,
    decoding: &'d mut Decoding<'p, 'r>,
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

/// The keys of one object seen so far that the schema does not have (its own keys are
/// told apart by their trie node): the first [`INLINE_KEYS`] on the stack (no
/// allocation for the few extra keys of an ordinary request), the rest in a set, so a
/// hostile object with many keys stays linear.
struct SeenKeys<'de> {
    few: [Option<Cow<'de, str>>; INLINE_KEYS],
    len: usize,
    many: std::collections::HashSet<Cow<'de, str>>,
}

const INLINE_KEYS: usize = 4;

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

impl<'de> DeserializeSeed<'de> for TopLevel<'_, '_, '_, '_> {
    type Value = Option<&'static str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_, '_, '_, '_> {
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
    decoding: &mut Decoding<'_, '_>,
    mut map: A,
    at: Option<&ObjectPath<'_>>,
) -> Result<(), A::Error> {
    // Keys the schema does not have are compared among themselves; the schema's own
    // keys are told apart by their trie node.
    let mut unknown: Option<SeenKeys> = None;
    let mut next = 0;
    while let Some(key) = map.next_key::<Key<'de>>()? {
        let entry = trie.find(&key.0, &mut next);
        let fresh = match entry {
            Some(entry) => decoding.seen.insert(entry.number),
            None => unknown
                .get_or_insert_with(SeenKeys::new)
                .insert(key.0.clone()),
        };
        if !fresh {
            decoding.duplicates.push(dotted(at, &key.0));
            map.next_value::<IgnoredAny>()?;
            continue;
        }
        match entry.map(|e| &e.node) {
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
struct FieldSeed<'d, 'p, 'r> {
    slot: usize,
    decoding: &'d mut Decoding<'p, 'r>,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl FieldSeed<'_, '_, '_> {
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

impl<'de> Visitor<'de> for FieldSeed<'_, '_, '_> {
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
                let id = self.decoding.encoder.intern(self.decoding.record, v);
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
                            ids.push(self.decoding.encoder.intern(self.decoding.record, &s))
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
