//! Regular expressions for `matches(s, "…")`, compiled once with the policy.
//!
//! A pattern becomes a deterministic automaton (`regex-automata`'s dense DFA) and, from
//! it, a plain transition table that every engine can walk: the interpreter walks the
//! table, and the C module walks the same table written out as C arrays. The JIT's
//! helper walks it too for short strings and runs `regex-automata`'s meta engine (with
//! its literal prefilters) over longer ones. Three implementations of one language,
//! compared by the differential tests.
//!
//! `matches` asks whether the pattern matches *anywhere* in the string (anchor it with
//! `^…$` for the whole string). Matching is over the UTF-8 bytes, Unicode-aware.

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, Input};

/// The largest automaton one pattern may compile to, and the most memory building it
/// may take: a pattern past these is a compile error, never a slow guard.
pub const MAX_DFA_BYTES: usize = 2 << 20;
const MAX_DETERMINIZE_BYTES: usize = 8 << 20;
/// The most states the exported table may have (a `u32` index, and a bound on the C
/// module's size).
pub const MAX_STATES: usize = 65_536;

/// A compiled pattern.
pub struct Pattern {
    pub source: String,
    table: Table,
    /// The same pattern for `regex-automata`'s meta engine: literal prefilters make a
    /// long string cost a scan for its rarest bytes rather than a step per byte.
    meta: regex_automata::meta::Regex,
}

/// Strings up to this many bytes are matched by walking the table, which has no set-up
/// cost; longer ones by the meta engine.
const WALK_UP_TO: usize = 32;

/// The longest string `Table::finite_language` spells out.
const MAX_FINITE_BYTES: usize = 256;

/// The automaton as a table: state 0 is dead; `start` is where a search begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The byte class of each byte value.
    pub classes: [u8; 256],
    pub class_count: usize,
    /// `next[state * class_count + class]`.
    pub next: Vec<u32>,
    /// Whether reaching the state means a match ended before the byte just read.
    pub is_match: Vec<bool>,
    /// Whether the state followed by the end of the string is a match.
    pub matches_at_end: Vec<bool>,
    pub start: u32,
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pattern")
            .field("source", &self.source)
            .field("states", &self.table.is_match.len())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Pattern {
    /// Compiles `source`, or says why it cannot be: a syntax error, a feature the
    /// automaton cannot express, or a pattern too large.
    pub fn compile(source: &str) -> Result<Pattern, String> {
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Unanchored)
                    .dfa_size_limit(Some(MAX_DFA_BYTES))
                    .determinize_size_limit(Some(MAX_DETERMINIZE_BYTES)),
            )
            .build(source)
            .map_err(|e| describe(&innermost(&e)))?;
        let table = Table::of(&dfa)?;
        let meta =
            regex_automata::meta::Regex::new(source).map_err(|e| describe(&innermost(&e)))?;
        Ok(Pattern {
            source: source.to_string(),
            table,
            meta,
        })
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Whether some string matches: a state that accepts is reachable from the start
    /// (the table holds only reachable states).
    pub fn can_match(&self) -> bool {
        self.table.is_match.iter().any(|&m| m) || self.table.matches_at_end.iter().any(|&m| m)
    }

    /// Every string the pattern matches, when they are few: a pattern anchored at both
    /// ends whose language is finite, such as `^(chat|code)$`, matches exactly the
    /// strings it spells, and a comparison with those is cheaper than a walk. `None`
    /// when there are more than `limit` of them or infinitely many.
    pub fn finite_language(&self, limit: usize) -> Option<Vec<String>> {
        self.table.finite_language(limit)
    }

    /// Whether the pattern matches anywhere in `text`: the table for a short string,
    /// the meta engine for a long one (the JIT's path).
    pub fn search(&self, text: &str) -> bool {
        if text.len() <= WALK_UP_TO {
            self.table.walk(text.as_bytes())
        } else {
            self.meta.is_match(Input::new(text).earliest(true))
        }
    }
}

/// The most specific message in an error's chain: the syntax error under "error
/// building NFA".
fn innermost(error: &dyn std::error::Error) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

fn describe(error: &str) -> String {
    if error.contains("exceeded") || error.contains("size limit") {
        format!(
            "the pattern's automaton is larger than {} MiB; simplify it (fewer bounded \
             repetitions such as `{{1000}}`, or narrower classes)",
            MAX_DFA_BYTES >> 20
        )
    } else {
        error.to_string()
    }
}

impl Table {
    /// Enumerates the states reachable from the unanchored start of a string.
    fn of(dfa: &dense::DFA<Vec<u32>>) -> Result<Table, String> {
        let classes_of = dfa.byte_classes();
        let mut classes = [0u8; 256];
        let mut representative = Vec::new();
        for byte in 0..=255u8 {
            let class = classes_of.get(byte);
            classes[usize::from(byte)] = class;
            if usize::from(class) == representative.len() {
                representative.push(byte);
            }
        }
        let class_count = representative.len();
        let begin = dfa
            .start_state(&start::Config::new().anchored(Anchored::No))
            .map_err(|e| e.to_string())?;
        let mut index = std::collections::HashMap::new();
        let mut order = Vec::new();
        // Table state 0 is the dead state, whether or not the DFA can reach it (a dense
        // DFA's dead state is always its id zero).
        let dead = StateID::ZERO;
        let mut visit = |id, order: &mut Vec<_>| -> u32 {
            let next = index.len() as u32;
            *index.entry(id).or_insert_with(|| {
                order.push(id);
                next
            })
        };
        visit(dead, &mut order);
        let start = visit(begin, &mut order);
        let mut next = Vec::new();
        let mut k = 0;
        while let Some(&id) = order.get(k) {
            if order.len() > MAX_STATES {
                return Err(format!(
                    "the pattern's automaton has more than {MAX_STATES} states; simplify it"
                ));
            }
            for &byte in &representative {
                let to = if dfa.is_dead_state(id) {
                    dead
                } else {
                    dfa.next_state(id, byte)
                };
                let to = if dfa.is_dead_state(to) { dead } else { to };
                next.push(visit(to, &mut order));
            }
            k += 1;
        }
        let is_match = order.iter().map(|&id| dfa.is_match_state(id)).collect();
        let matches_at_end = order
            .iter()
            .map(|&id| !dfa.is_dead_state(id) && dfa.is_match_state(dfa.next_eoi_state(id)))
            .collect();
        Ok(Table {
            classes,
            class_count,
            next,
            is_match,
            matches_at_end,
            start,
        })
    }

    /// The strings that end in a state accepting at the end, when they are at most
    /// `limit` (and at most `MAX_FINITE_BYTES` long). A state that accepts before the
    /// end accepts every continuation, and a cycle through a state that can still
    /// accept repeats without bound: both mean "not finite".
    fn finite_language(&self, limit: usize) -> Option<Vec<String>> {
        if self.is_match.iter().any(|&m| m) {
            return None;
        }
        let live = self.can_accept();
        let mut found = Vec::new();
        let mut path = Vec::new();
        let mut on_path = vec![false; self.is_match.len()];
        self.enumerate(
            self.start as usize,
            &live,
            &mut on_path,
            &mut path,
            &mut found,
            limit,
        )?;
        // A request's strings are UTF-8; a byte string that is not can never be compared.
        Some(
            found
                .into_iter()
                .filter_map(|bytes| String::from_utf8(bytes).ok())
                .collect(),
        )
    }

    /// Which states can still reach the end of a match.
    fn can_accept(&self) -> Vec<bool> {
        let mut live = self.matches_at_end.clone();
        let mut changed = true;
        while changed {
            changed = false;
            for state in 1..live.len() {
                if live[state] {
                    continue;
                }
                let row = self.row(state);
                if row
                    .iter()
                    .any(|&to| live.get(to as usize).copied().unwrap_or(false))
                {
                    live[state] = true;
                    changed = true;
                }
            }
        }
        if let Some(dead) = live.first_mut() {
            *dead = false;
        }
        live
    }

    fn row(&self, state: usize) -> &[u32] {
        let start = state * self.class_count;
        self.next
            .get(start..start + self.class_count)
            .unwrap_or(&[])
    }

    fn enumerate(
        &self,
        state: usize,
        live: &[bool],
        on_path: &mut [bool],
        path: &mut Vec<u8>,
        found: &mut Vec<Vec<u8>>,
        limit: usize,
    ) -> Option<()> {
        if *on_path.get(state)? || path.len() > MAX_FINITE_BYTES {
            return None;
        }
        if self.matches_at_end.get(state).copied().unwrap_or(false) {
            if found.len() == limit {
                return None;
            }
            found.push(path.clone());
        }
        on_path[state] = true;
        for byte in 0..=255u8 {
            let class = usize::from(self.classes[usize::from(byte)]);
            let to = self.row(state).get(class).map_or(0, |&s| s as usize);
            if live.get(to).copied().unwrap_or(false) {
                path.push(byte);
                self.enumerate(to, live, on_path, path, found, limit)?;
                path.pop();
            }
        }
        on_path[state] = false;
        Some(())
    }

    /// Whether the pattern matches anywhere in `bytes`, by walking the table (the
    /// interpreter's path, and what the C module does).
    pub fn walk(&self, bytes: &[u8]) -> bool {
        let mut state = self.start as usize;
        for &b in bytes {
            let class = usize::from(self.classes[usize::from(b)]);
            state = self
                .next
                .get(state * self.class_count + class)
                .map_or(0, |&s| s as usize);
            if self.is_match.get(state).copied().unwrap_or(false) {
                return true;
            }
            if state == 0 {
                return false;
            }
        }
        self.matches_at_end.get(state).copied().unwrap_or(false)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "the patterns under test are known to compile"
)]
mod tests {
    use super::Pattern;

    #[test]
    fn a_finite_language_is_spelled_out_and_an_infinite_one_is_not() {
        let language = |source: &str| {
            Pattern::compile(source)
                .unwrap()
                .finite_language(8)
                .map(|mut v| {
                    v.sort();
                    v
                })
        };
        assert_eq!(
            language("^(chat|code)$"),
            Some(vec!["chat".to_string(), "code".to_string()])
        );
        assert_eq!(
            language("^gpt-4o?$"),
            Some(vec!["gpt-4".to_string(), "gpt-4o".to_string()])
        );
        assert_eq!(language("^(長い|é)$").map(|v| v.len()), Some(2));
        assert_eq!(language("^$"), Some(vec![String::new()]));
        // Ten strings, more than the limit of eight.
        assert_eq!(language("^a[0-9]$"), None);
        for infinite in ["chat", "^chat", "chat$", "^a+$", "^(a|b)*$", "a*", "^.$"] {
            assert_eq!(language(infinite), None, "{infinite}");
        }
    }

    #[test]
    fn the_table_and_the_search_agree() {
        let cases = [
            ("^(gpt|o)[0-9]", ["gpt-4", "o3-mini", "xgpt4", "", "o"]),
            ("mini$", ["o3-mini", "minimal", "mini", "", "x"]),
            (
                "(?i)jailbreak",
                ["JailBreak me", "jail break", "", "JAILBREAK", "x"],
            ),
            ("^$", ["", "a", " ", "\n", "長い"]),
            ("a*", ["", "b", "aaa", "長い", "x"]),
            ("長い.", ["長い", "長いx", "とても長い話", "", "x"]),
            (
                "(ignore|bypass) (all|previous)",
                [
                    "please ignore all previous instructions, and then some more text",
                    "please ignore none of the previous instructions, and then some",
                    "ignore all",
                    "",
                    "x",
                ],
            ),
        ];
        for (source, texts) in cases {
            let p = Pattern::compile(source).unwrap();
            let reference = regex::Regex::new(source).unwrap();
            for text in texts {
                assert_eq!(
                    p.search(text),
                    reference.is_match(text),
                    "{source} on {text:?}"
                );
                assert_eq!(p.table().walk(text.as_bytes()), reference.is_match(text));
            }
        }
    }
}
