//! The checker over invalid programs (one code each, snapshotted) and valid ones.

use bylaw::diagnostics::{self, Severity};

/// `// expect: E0200 line 13` on the first line of each invalid program.
fn expectation(text: &str) -> (String, usize) {
    let header = text.lines().next().unwrap_or_default();
    let rest = header
        .strip_prefix("// expect: ")
        .unwrap_or_else(|| panic!("missing `// expect:` header: {header}"));
    let mut words = rest.split_whitespace();
    let code = words.next().unwrap().to_string();
    assert_eq!(words.next(), Some("line"));
    let line = words.next().unwrap().parse().unwrap();
    (code, line)
}

fn rendered(name: &str, text: &str) -> (bylaw::Checked, String) {
    // Relative to the package, as `cargo test` runs, so that the modules a fixture uses
    // are named the same on every machine.
    let path = std::path::Path::new("tests/data/check/invalid").join(name);
    let loader = bylaw::modules::Loader::for_policy(&path).unwrap();
    let checked = bylaw::check_source_with(name, text, &loader);
    let out = diagnostics::render(&checked.sources, &checked.diagnostics, false);
    (checked, out)
}

#[test]
fn invalid_programs_are_rejected_with_their_code_and_span() {
    let mut count = 0;
    insta::glob!("../data/check/invalid", "*.bylaw", |path| {
        count += 1;
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let (code, line) = expectation(&text);
        let (checked, out) = rendered(&name, &text);
        let found = checked.diagnostics.iter().any(|d| {
            let file = checked.sources.file_of(d.span()).unwrap();
            d.code.code() == code && file.line_col(d.span().start).0 == line
        });
        assert!(found, "{name}: expected {code} at line {line}, got:\n{out}");
        if code.starts_with('E') {
            assert!(
                checked.has_errors() && checked.program.is_none(),
                "{name} must be rejected"
            );
        } else {
            assert!(
                !checked.has_errors(),
                "{name}: a warning file must have no errors:\n{out}"
            );
        }
        insta::assert_snapshot!(format!("----- SOURCE CODE\n{text}----- DIAGNOSTICS\n{out}"));
    });
    assert!(count >= 50, "at least 50 invalid programs, found {count}");
}

#[test]
fn one_run_reports_several_errors() {
    let path = crate::data("check/multi/several_errors.bylaw");
    let text = std::fs::read_to_string(&path).unwrap();
    let (checked, out) = rendered("several_errors.bylaw", &text);
    let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code.code()).collect();
    assert_eq!(
        codes,
        ["E0010", "E0201", "E0205", "E0200", "E0111"],
        "diagnostics:\n{out}"
    );
    insta::assert_snapshot!(format!("----- SOURCE CODE\n{text}----- DIAGNOSTICS\n{out}"));
}

#[test]
fn examples_check_clean() {
    for path in crate::example_policies() {
        let text = std::fs::read_to_string(&path).unwrap();
        let (checked, out) = rendered(&path.display().to_string(), &text);
        assert!(checked.diagnostics.is_empty(), "{}:\n{out}", path.display());
        let program = checked.program.expect("a clean file yields a program");
        assert!(!program.name.is_empty());
    }
}

#[test]
fn the_genai_example_resolves_what_the_brief_describes() {
    let path = crate::example_policies()
        .into_iter()
        .find(|p| p.ends_with("genai_chat.bylaw"))
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let program = bylaw::check_source("genai_chat.bylaw", &text)
        .program
        .unwrap();
    let tiers: Vec<&str> = program.tiers.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tiers, ["prohibited", "high", "limited", "minimal"]);
    assert!(
        program.tiers.last().unwrap().when.is_none(),
        "the last tier is `otherwise`"
    );
    let model = program.field_by_path("model.id").unwrap();
    assert!(program.fields[model].optional);
    let oversight = program
        .duties
        .iter()
        .find(|d| d.name == "human_oversight")
        .unwrap();
    assert_eq!(oversight.tiers, [1]);
    let logs = program
        .duties
        .iter()
        .find(|d| d.name == "keep_logs")
        .unwrap();
    assert_eq!(
        logs.retain_secs,
        Some(180 * 24 * 3600),
        "6 months is 180 days"
    );
    assert_eq!(
        program.services[0].recovery.as_ref().unwrap().ramp,
        [10.0, 50.0, 100.0]
    );
    assert_eq!(program.tests.len(), 6);
}

#[test]
fn every_code_has_a_distinct_identity() {
    let codes = bylaw::diagnostics::Code::ALL;
    let mut seen = std::collections::HashSet::new();
    for code in codes {
        assert!(seen.insert(code.code()), "code {} used twice", code.code());
        assert!(
            !code.summary().ends_with('.'),
            "summaries have no final period"
        );
    }
}

#[test]
fn json_diagnostics_carry_code_position_and_help() {
    let text = "policy p version \"1.0.0\"\nschema request {\n  user.age: int\n}\ndeny when user.agee > 3 because \"x\"\n";
    let checked = bylaw::check_source("p.bylaw", text);
    let json = diagnostics::to_json(&checked.sources, &checked.diagnostics);
    let first = &json[0];
    assert_eq!(first["code"], "E0200");
    assert_eq!(first["name"], "unknown-name");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["message"], "unknown field `user.agee`");
    assert_eq!(first["labels"][0]["file"], "p.bylaw");
    assert_eq!(first["labels"][0]["line"], 5);
    assert_eq!(first["labels"][0]["column"], 11);
    assert_eq!(first["labels"][0]["end_column"], 20);
    assert_eq!(first["help"], "did you mean `user.age`?");
}

#[test]
fn messages_follow_the_style_guide() {
    // Lowercase, no final period, no Rust type names — over every invalid program.
    for entry in std::fs::read_dir(crate::data("check/invalid")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for d in bylaw::check_source("x.bylaw", &text).diagnostics {
            let first = d.message.chars().next().unwrap();
            assert!(
                !first.is_uppercase(),
                "{}: `{}` starts uppercase",
                path.display(),
                d.message
            );
            assert!(
                !d.message.ends_with('.'),
                "{}: `{}` ends with a period",
                path.display(),
                d.message
            );
            for rust in ["String", "Vec<", "Option<", "i64", "f64", "Ty::"] {
                assert!(
                    !d.message.contains(rust),
                    "{}: `{}` names a Rust type",
                    path.display(),
                    d.message
                );
            }
            assert!(d.severity == Severity::Error || d.code.code().starts_with('W'));
        }
    }
}

#[test]
fn docs_list_every_diagnostic_code() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/diagnostics.md"))
        .unwrap();
    for code in bylaw::diagnostics::Code::ALL {
        let row = format!("| {} | `{}` |", code.code(), code.name());
        assert!(docs.contains(&row), "docs/diagnostics.md lacks `{row}`");
    }
}

#[test]
fn every_error_code_has_an_invalid_program() {
    let names: Vec<String> = std::fs::read_dir(crate::data("check/invalid"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    for code in bylaw::diagnostics::Code::ALL {
        // E0407 comes from running tests, not from checking a program.
        if code.code().starts_with("E09") || code.code().starts_with('L') || code.code() == "E0407"
        {
            // Internal failures: no policy provokes them on purpose. Lint rules have
            // their own fixtures under tests/data/lint/ (tests/it/lint.rs).
            continue;
        }
        assert!(
            names.iter().any(|n| n.starts_with(code.code())),
            "no test program for {} ({})",
            code.code(),
            code.name()
        );
    }
}
