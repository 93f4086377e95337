//! The string, set and time functions of an enforcement module: the tables generated
//! from the policy (calls, literal sets, automata, zones, case mappings) and the C that
//! reads them — the module's own implementation, held to the interpreter's answers by
//! the tests.

use std::fmt::Write;

use super::c_string;
use crate::ir::Policy;

/// The tables the string functions read: each call's function and case mappings, the
/// literal string sets, each pattern's automaton, and — only when a call maps case —
/// Unicode's case mappings, generated from Rust's so both sides map alike.
pub(super) fn tables(policy: &Policy) -> String {
    use crate::ir::StrFunc;
    let calls = &policy.calls;
    let mut c = String::from("\n/* String functions. */\n");
    let cases = |cs: &[crate::builtins::strings::Case]| -> String {
        let text: String = cs
            .iter()
            .map(|c| match c {
                crate::builtins::strings::Case::Lower => 'l',
                crate::builtins::strings::Case::Upper => 'u',
            })
            .collect();
        c_string(&text)
    };
    let rows: Vec<String> = calls
        .str_calls
        .iter()
        .map(|call| {
            let (func, pattern) = match call.func {
                StrFunc::StartsWith => (0, 0),
                StrFunc::EndsWith => (1, 0),
                StrFunc::Contains => (2, 0),
                StrFunc::Equals => (3, 0),
                StrFunc::Matches(p) => (4, p),
                StrFunc::Len => (5, 0),
                StrFunc::InSet => (6, 0),
            };
            format!(
                "{{{func}, {pattern}, {}, {}}}",
                cases(&call.a_cases),
                cases(&call.b_cases)
            )
        })
        .collect();
    let _ = writeln!(
        c,
        "static const str_call_spec STR_CALLS[] = {{\n    {}\n}};",
        or_placeholder(rows, "{0, 0, \"\", \"\"}")
    );
    let mut items = Vec::new();
    let mut sets = Vec::new();
    for set in &calls.str_sets {
        sets.push(format!("{{{}, {}}}", items.len(), set.len()));
        items.extend(set.iter().map(u32::to_string));
    }
    let _ = writeln!(
        c,
        "static const uint32_t STR_SET_ITEMS[] = {{ {} }};",
        or_placeholder(items, "0")
    );
    let _ = writeln!(
        c,
        "static const uint32_t STR_SETS[][2] = {{ {} }};",
        or_placeholder(sets, "{0, 0}")
    );
    let mut patterns = Vec::new();
    for (i, pattern) in calls.patterns.iter().enumerate() {
        let t = pattern.table();
        let join = |v: Vec<String>| v.join(",");
        let _ = writeln!(
            c,
            "static const uint8_t P{i}_CLASSES[256] = {{{}}};",
            join(t.classes.iter().map(u8::to_string).collect())
        );
        let _ = writeln!(
            c,
            "static const uint32_t P{i}_NEXT[] = {{{}}};",
            join(t.next.iter().map(u32::to_string).collect())
        );
        let flags = |v: &[bool]| join(v.iter().map(|&b| u8::from(b).to_string()).collect());
        let _ = writeln!(
            c,
            "static const uint8_t P{i}_MATCH[] = {{{}}};",
            flags(&t.is_match)
        );
        let _ = writeln!(
            c,
            "static const uint8_t P{i}_EOI[] = {{{}}};",
            flags(&t.matches_at_end)
        );
        patterns.push(format!(
            "{{P{i}_CLASSES, P{i}_NEXT, P{i}_MATCH, P{i}_EOI, {}, {}}}",
            t.class_count, t.start
        ));
    }
    let _ = writeln!(
        c,
        "static const pattern_table PATTERNS[] = {{\n    {}\n}};",
        or_placeholder(patterns, "{NULL, NULL, NULL, NULL, 0, 0}")
    );
    let mut zones = Vec::new();
    for (i, zone) in calls.zones.iter().enumerate() {
        let starts: Vec<String> = zone
            .starts
            .iter()
            .map(|&s| {
                if s == i64::MIN {
                    "INT64_MIN".to_string()
                } else {
                    format!("{s}LL")
                }
            })
            .collect();
        let offsets: Vec<String> = zone.offsets.iter().map(i32::to_string).collect();
        let _ = writeln!(
            c,
            "/* {} */\nstatic const int64_t Z{i}_STARTS[] = {{{}}};\nstatic const int32_t Z{i}_OFFSETS[] = {{{}}};",
            zone.name.replace("*/", ""),
            starts.join(","),
            offsets.join(",")
        );
        zones.push(format!(
            "{{Z{i}_STARTS, Z{i}_OFFSETS, {}}}",
            zone.starts.len()
        ));
    }
    let _ = writeln!(
        c,
        "static const zone_table ZONES[] = {{\n    {}\n}};",
        or_placeholder(zones, "{NULL, NULL, 0}")
    );
    let maps_case = calls
        .str_calls
        .iter()
        .any(|call| !call.a_cases.is_empty() || !call.b_cases.is_empty());
    for (name, case) in [
        ("LOWER", crate::builtins::strings::Case::Lower),
        ("UPPER", crate::builtins::strings::Case::Upper),
    ] {
        let rows: Vec<String> = if maps_case {
            case_rows(|ch| {
                crate::builtins::strings::apply(ch.encode_utf8(&mut [0; 4]), &[case])
                    .chars()
                    .collect()
            })
        } else {
            Vec::new()
        };
        let _ = writeln!(c, "enum {{ {name}_COUNT = {} }};", rows.len());
        let _ = writeln!(
            c,
            "static const uint32_t {name}_MAP[][4] = {{\n    {}\n}};",
            or_placeholder(rows, "{0, 0, 0, 0}")
        );
    }
    c
}

/// `{char, mapped…}` for every character a mapping changes, in order (0 pads a mapping
/// shorter than three characters; no mapping yields U+0000).
fn case_rows(map: impl Fn(char) -> Vec<char>) -> Vec<String> {
    (0..=0x10_ffffu32)
        .filter_map(char::from_u32)
        .filter_map(|ch| {
            let mapped = map(ch);
            if mapped == [ch] {
                return None;
            }
            let mut row = vec![ch as u32];
            row.extend(mapped.iter().map(|&m| m as u32));
            row.resize(4, 0);
            let row: Vec<String> = row.iter().map(u32::to_string).collect();
            Some(format!("{{{}}}", row.join(",")))
        })
        .collect()
}

/// C has no empty arrays: an unused table holds one row nothing reads.
fn or_placeholder(rows: Vec<String>, placeholder: &str) -> String {
    if rows.is_empty() {
        placeholder.to_string()
    } else {
        rows.join(",\n    ")
    }
}

/// The policy-independent part of the string functions: the helpers generated code
/// calls (`bylaw_str_call`, `bylaw_str_set_rel`), over the tables above.
pub(super) const C_CALLS: &str = r#"
static const char *text_of(const bylaw_request *r, uint64_t id) {
    if (id < STRING_COUNT) return STRINGS[id];
    if (id - STRING_COUNT < r->extra_len) return r->extra_strings[id - STRING_COUNT];
    return "";
}

/* A set<string> value: the policy's literal set (bit 63) or a packed record set. */
static const uint32_t *set_of(const bylaw_request *r, uint64_t v, uint64_t *len) {
    if (v >> 63) {
        uint64_t i = v & ~((uint64_t)1 << 63);
        *len = STR_SETS[i][1];
        return STR_SET_ITEMS + STR_SETS[i][0];
    }
    *len = v & 0xffffffffu;
    return r->set_items + ((v >> 32) & 0x7fffffffu);
}

static const uint32_t *case_of(uint32_t cp, char which) {
    const uint32_t (*map)[4] = which == 'l' ? LOWER_MAP : UPPER_MAP;
    size_t lo = 0, hi = which == 'l' ? LOWER_COUNT : UPPER_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (map[mid][0] == cp) return map[mid] + 1;
        if (map[mid][0] < cp) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

static size_t put_char(uint32_t cp, char *out) {
    if (cp < 0x80) { if (out) out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        if (out) { out[0] = (char)(0xc0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3f)); }
        return 2;
    }
    if (cp < 0x10000) {
        if (out) {
            out[0] = (char)(0xe0 | (cp >> 12));
            out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[2] = (char)(0x80 | (cp & 0x3f));
        }
        return 3;
    }
    if (out) {
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
    }
    return 4;
}

/* `text` under one case mapping, each character on its own; writes to `out` when it is
   not NULL and returns the length in bytes either way. */
static size_t map_case(const char *text, char which, char *out) {
    const unsigned char *p = (const unsigned char *)text;
    uint32_t cp;
    size_t n = 0;
    int k;
    while (next_char(&p, &cp)) {
        const uint32_t *mapped = case_of(cp, which);
        if (!mapped) { n += put_char(cp, out ? out + n : NULL); continue; }
        for (k = 0; k < 3 && (k == 0 || mapped[k] != 0); k++) n += put_char(mapped[k], out ? out + n : NULL);
    }
    return n;
}

/* `text` under `cases` (innermost first): `text` itself when there are none, else a
   copy in *owned for the caller to free; NULL when memory ran out. */
static const char *apply_cases(const char *text, const char *cases, char **owned) {
    const char *current = text;
    *owned = NULL;
    for (; *cases; cases++) {
        size_t n = map_case(current, *cases, NULL);
        char *next = malloc(n + 1);
        if (!next) { free(*owned); *owned = NULL; return NULL; }
        map_case(current, *cases, next);
        next[n] = '\0';
        free(*owned);
        *owned = next;
        current = next;
    }
    return current;
}

static int walk(const pattern_table *t, const char *text) {
    const unsigned char *p = (const unsigned char *)text;
    uint32_t state = t->start;
    for (; *p; p++) {
        state = t->next[state * t->class_count + t->classes[*p]];
        if (t->is_match[state]) return 1;
        if (state == 0) return 0;
    }
    return t->matches_at_end[state];
}

int64_t bylaw_str_call(const void *env, int64_t call, int64_t a, int64_t b) {
    const bylaw_request *r = env;
    const str_call_spec *spec = &STR_CALLS[call];
    char *owned_x, *owned_y = NULL;
    const char *x = apply_cases(text_of(r, (uint64_t)a), spec->a_cases, &owned_x), *y;
    int64_t result = 0;
    size_t lx, ly;
    if (!x) return -1;
    switch (spec->func) {
    case 5: {
        const unsigned char *p = (const unsigned char *)x;
        uint32_t cp;
        while (next_char(&p, &cp)) result++;
        break;
    }
    case 4:
        result = walk(&PATTERNS[spec->pattern], x);
        break;
    case 6: {
        uint64_t len, i;
        const uint32_t *items = set_of(r, (uint64_t)b, &len);
        for (i = 0; i < len && !result; i++) result = strcmp(text_of(r, items[i]), x) == 0;
        break;
    }
    default:
        y = apply_cases(text_of(r, (uint64_t)b), spec->b_cases, &owned_y);
        if (!y) { free(owned_x); return -1; }
        lx = strlen(x);
        ly = strlen(y);
        switch (spec->func) {
        case 0: result = lx >= ly && memcmp(x, y, ly) == 0; break;
        case 1: result = lx >= ly && memcmp(x + lx - ly, y, ly) == 0; break;
        case 2: result = strstr(x, y) != NULL; break;
        default: result = strcmp(x, y) == 0; break;
        }
    }
    free(owned_x);
    free(owned_y);
    return result;
}

/* hour_of_day (arg bit 0 clear) or weekday (set) of t in zone arg >> 1; -1 when the
   local time is past the int range. */
int64_t bylaw_time_call(const void *env, int64_t arg, int64_t t, int64_t unused) {
    const zone_table *z = &ZONES[arg >> 1];
    size_t lo = 0, hi = z->count;
    int64_t local, days;
    (void)env;
    (void)unused;
    /* The last start at or before t: the first is INT64_MIN. */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->starts[mid] <= t) lo = mid; else hi = mid;
    }
    if ((z->offsets[lo] > 0 && t > INT64_MAX - z->offsets[lo]) ||
        (z->offsets[lo] < 0 && t < INT64_MIN - z->offsets[lo])) return -1;
    local = t + z->offsets[lo];
    days = local / 86400 - (local % 86400 < 0);
    if (arg & 1) return ((days + 3) % 7 + 7) % 7;
    return (local - days * 86400) / 3600;
}

int64_t bylaw_str_set_rel(const void *env, int64_t all, int64_t a, int64_t b) {
    const bylaw_request *r = env;
    uint64_t la, lb, i, j;
    const uint32_t *xs = set_of(r, (uint64_t)a, &la), *ys = set_of(r, (uint64_t)b, &lb);
    for (j = 0; j < lb; j++) {
        int found = 0;
        for (i = 0; i < la && !found; i++) found = xs[i] == ys[j];
        if (found && !all) return 1;
        if (!found && all) return 0;
    }
    return all ? 1 : 0;
}
"#;
