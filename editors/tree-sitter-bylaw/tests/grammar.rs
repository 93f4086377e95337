//! The editors' grammar against the compiler's: every `.bylaw` file of the repository
//! that the compiler parses, this grammar parses without an error node; the corpus
//! (`test/corpus/*.txt`, the `tree-sitter test` format) gives the trees it records;
//! the queries compile; and the highlight tests (`test/highlight/*.bylaw`, with
//! `// ^ capture` assertions as `tree-sitter test` reads them) hold, through
//! `tree-sitter-highlight`, the library editors highlight with.

use std::path::{Path, PathBuf};

use tree_sitter::{Language, Parser, Query};
use tree_sitter_highlight::{HighlightConfiguration, HighlightEvent, Highlighter};

fn language() -> Language {
    tree_sitter_bylaw::LANGUAGE.into()
}

fn parse(text: &str) -> tree_sitter::Tree {
    let mut parser = Parser::new();
    parser.set_language(&language()).unwrap();
    parser.parse(text, None).unwrap()
}

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn repository() -> PathBuf {
    here().join("../..")
}

/// Every `.bylaw` file in the repository (not under `target/`), in a stable order.
fn bylaw_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(repository())
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            !(e.file_type().is_dir() && (name == "target" || name.starts_with('.')))
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "bylaw"))
        .collect();
    files.sort();
    files
}

/// The first error or missing node, as `line:column kind`.
fn first_error(node: tree_sitter::Node) -> Option<String> {
    if node.is_error() || node.is_missing() {
        let at = node.start_position();
        return Some(format!(
            "{}:{} {}",
            at.row + 1,
            at.column + 1,
            node.to_sexp()
        ));
    }
    if !node.has_error() {
        return None;
    }
    let mut cursor = node.walk();
    node.children(&mut cursor).find_map(first_error)
}

#[test]
fn every_file_the_compiler_parses_parses_without_an_error_node() {
    let mut parsed = 0;
    let mut refused_by_both = 0;
    for path in bylaw_files() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let compiler = bylaw::syntax::parser::parse(&text, 0);
        let compiler_parses = !compiler.diagnostics.iter().any(|d| d.is_error());
        let tree = parse(&text);
        match (compiler_parses, first_error(tree.root_node())) {
            (true, Some(error)) => panic!(
                "{}: the compiler parses it, tree-sitter does not: {error}",
                path.display()
            ),
            (true, None) => parsed += 1,
            (false, Some(_)) => refused_by_both += 1,
            (false, None) => {}
        }
    }
    // The examples, the standard library and the test fixtures.
    assert!(parsed >= 200, "only {parsed} files parsed");
    // The syntax-error fixtures are errors here too: the test can fail.
    assert!(refused_by_both >= 5, "{refused_by_both}");
}

#[test]
fn the_corpus_gives_the_recorded_trees() {
    let mut cases = 0;
    for entry in std::fs::read_dir(here().join("test/corpus")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (name, source, expected) in corpus_cases(&text) {
            let tree = parse(&source);
            assert_eq!(
                squash(&tree.root_node().to_sexp()),
                squash(&expected),
                "{}: {name}",
                path.display()
            );
            cases += 1;
        }
    }
    assert!(cases >= 10, "{cases} corpus cases");
}

/// `(name, source, expected tree)` of each case of a corpus file: a `===` header with
/// the name, the source, a `---` line, the tree.
fn corpus_cases(text: &str) -> Vec<(String, String, String)> {
    let mut cases = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if !is_rule(lines[i], '=') {
            i += 1;
            continue;
        }
        let name = lines[i + 1].trim().to_string();
        i += 3;
        let start = i;
        while !is_rule(lines[i], '-') {
            i += 1;
        }
        let source = lines[start..i].join("\n").trim_end().to_string() + "\n";
        i += 1;
        let tree_start = i;
        while i < lines.len() && !is_rule(lines[i], '=') {
            i += 1;
        }
        cases.push((name, source, lines[tree_start..i].join("\n")));
    }
    cases
}

fn is_rule(line: &str, c: char) -> bool {
    line.len() >= 3 && line.chars().all(|x| x == c)
}

/// The tree with one space between tokens and none inside brackets, as `to_sexp`
/// writes it (the corpus indents it).
fn squash(tree: &str) -> String {
    let spaced = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    spaced.replace("( ", "(").replace(" )", ")")
}

#[test]
fn every_query_compiles_against_the_grammar() {
    for (name, query) in [
        ("highlights", tree_sitter_bylaw::HIGHLIGHTS_QUERY),
        ("locals", tree_sitter_bylaw::LOCALS_QUERY),
        ("folds", tree_sitter_bylaw::FOLDS_QUERY),
        ("indents", tree_sitter_bylaw::INDENTS_QUERY),
    ] {
        if let Err(e) = Query::new(&language(), query) {
            panic!("queries/{name}.scm: {e}");
        }
    }
}

#[test]
fn highlight_assertions_hold() {
    let mut assertions = 0;
    for entry in std::fs::read_dir(here().join("test/highlight")).unwrap() {
        let path = entry.unwrap().path();
        assertions += check_highlights(&path);
    }
    assert!(assertions >= 20, "{assertions} assertions");
}

/// Checks `// ^ capture` lines (a caret under the column of the line above that is not
/// an assertion) and `// <- capture` (the column where the comment starts); returns how
/// many there were.
fn check_highlights(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let names = capture_names();
    let mut config = HighlightConfiguration::new(
        language(),
        "bylaw",
        tree_sitter_bylaw::HIGHLIGHTS_QUERY,
        "",
        tree_sitter_bylaw::LOCALS_QUERY,
    )
    .unwrap();
    config.configure(&names);
    let mut highlighter = Highlighter::new();
    // The innermost highlight at each byte.
    let mut at_byte: Vec<Option<usize>> = vec![None; text.len()];
    let mut stack = Vec::new();
    for event in highlighter
        .highlight(&config, text.as_bytes(), None, |_| None)
        .unwrap()
    {
        match event.unwrap() {
            HighlightEvent::HighlightStart(h) => stack.push(h.0),
            HighlightEvent::HighlightEnd => {
                stack.pop();
            }
            HighlightEvent::Source { start, end } => {
                for slot in &mut at_byte[start..end] {
                    *slot = stack.last().copied();
                }
            }
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut offsets = Vec::new();
    let mut offset = 0;
    for line in &lines {
        offsets.push(offset);
        offset += line.len() + 1;
    }
    let mut count = 0;
    let mut source_line = 0;
    for (row, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed.strip_prefix("//") else {
            source_line = row;
            continue;
        };
        let comment_at = line.len() - trimmed.len();
        let (column, expected) = if let Some(name) = rest.trim_start().strip_prefix("<-") {
            (comment_at, name.trim())
        } else if let Some(caret) = line.find('^') {
            if !rest.trim_start().starts_with('^') {
                source_line = row;
                continue;
            }
            (caret, line[caret + 1..].trim())
        } else {
            source_line = row;
            continue;
        };
        let byte = offsets[source_line] + column;
        let actual = at_byte
            .get(byte)
            .copied()
            .flatten()
            .map(|h| names[h].as_str());
        assert_eq!(
            actual,
            Some(expected),
            "{}:{}: column {} of line {}",
            path.display(),
            row + 1,
            column + 1,
            source_line + 1
        );
        count += 1;
    }
    count
}

/// Every capture name of the highlights query.
fn capture_names() -> Vec<String> {
    let query = Query::new(&language(), tree_sitter_bylaw::HIGHLIGHTS_QUERY).unwrap();
    query
        .capture_names()
        .iter()
        .map(|s| s.to_string())
        .collect()
}
