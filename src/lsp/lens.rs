//! Code lenses on tests: "run test" above each `test` block and "run all tests" above
//! the `policy` line. Running them compiles the document as it is and decides each
//! test; the failures become diagnostics on their tests.

use crate::ast::Decl;
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::span::Span;

use super::analysis::Analysis;

/// The command a lens runs, with the test's name or none for every test.
pub const RUN_TESTS: &str = "bylaw.runTests";

/// A lens: where it goes, its title, and which test it runs (`None`: all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lens {
    pub span: Span,
    pub title: String,
    pub test: Option<String>,
}

pub fn lenses(analysis: &Analysis) -> Vec<Lens> {
    let decls = &analysis.checked.file.decls;
    let tests: Vec<(Span, String)> = decls
        .iter()
        .filter_map(|d| match d {
            Decl::Test(t) => Some((t.span, t.name.node.clone())),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    if let Some(policy) = decls.iter().find(|d| matches!(d, Decl::Policy(_)))
        && !tests.is_empty()
    {
        out.push(Lens {
            span: policy.span(),
            title: format!("▶ run all tests ({})", tests.len()),
            test: None,
        });
    }
    out.extend(tests.into_iter().map(|(span, name)| Lens {
        span,
        title: "▶ run test".to_string(),
        test: Some(name),
    }));
    out
}

/// What running tests gave: how many passed and failed, and a diagnostic on each
/// failing test (or on the policy line when the document does not compile).
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub passed: usize,
    pub failed: usize,
    pub diagnostics: Vec<Diagnostic>,
}

/// Runs the document's tests — the one named, or all.
pub fn run(analysis: &Analysis, only: Option<&str>) -> Result<Run, String> {
    let checked = &analysis.checked;
    let program = match (&checked.program, checked.has_errors()) {
        (Some(program), false) => program.clone(),
        _ => return Err("the policy has errors: fix them to run its tests".to_string()),
    };
    let policy = crate::guard::Policy::lowered(
        program,
        checked.sources.clone(),
        Vec::new(),
        checked.modules.clone(),
    );
    let guard = crate::guard::Guard::new(
        std::sync::Arc::new(policy),
        crate::guard::Engine::Interpreter,
    )
    .map_err(|e| e.to_string())?;
    let spans: Vec<(String, Span)> = checked
        .file
        .decls
        .iter()
        .filter_map(|d| match d {
            Decl::Test(t) => Some((t.name.node.clone(), t.name.span)),
            _ => None,
        })
        .collect();
    let mut out = Run::default();
    for result in crate::testing::run_tests(&guard) {
        if only.is_some_and(|name| name != result.name) {
            continue;
        }
        if result.passed() {
            out.passed += 1;
            continue;
        }
        out.failed += 1;
        let Some((_, span)) = spans.iter().find(|(name, _)| *name == result.name) else {
            continue;
        };
        out.diagnostics.push(Diagnostic::error(
            Code::TestFailed,
            format!("test failed: {}", result.failures.join("; ")),
            *span,
            "this test",
        ));
    }
    Ok(out)
}
