//! `bylaw test`: run the `test` blocks of policies.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::EXIT_USAGE;
use super::policy_file::{EngineChoice, LoadError, load_guard};

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// Policy files or bundles, or directories searched for `*.bylaw` files.
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
    /// Which engine decides.
    #[arg(long, value_enum, default_value_t = EngineChoice::Jit)]
    engine: EngineChoice,
    /// Report which rules, tiers and duties the tests exercised, per file and in total.
    #[arg(long)]
    coverage: bool,
    /// Also write the results as JUnit XML, for CI.
    #[arg(long, value_name = "FILE.xml")]
    junit: Option<PathBuf>,
}

pub(crate) fn run(args: &TestArgs) -> ExitCode {
    let files = match super::collect_policy_files(&args.paths) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    let mut total_coverage = crate::testing::Coverage::default();
    let mut junit = Vec::new();
    for file in &files {
        let guard = match load_guard(file, args.engine) {
            Ok(guard) => guard,
            Err(LoadError::Unreadable) => return ExitCode::from(EXIT_USAGE),
            Err(LoadError::Rejected) => {
                println!("{}: does not compile", file.display());
                broken += 1;
                let mut suite = quick_junit::TestSuite::new(file.display().to_string());
                let mut case = quick_junit::TestCase::new(
                    "compile",
                    quick_junit::TestCaseStatus::non_success(quick_junit::NonSuccessKind::Error),
                );
                case.set_system_err("the policy does not compile: run `bylaw check`");
                suite.add_test_case(case);
                junit.push(suite);
                continue;
            }
        };
        let results = crate::testing::run_tests(&guard);
        let coverage = crate::testing::Coverage::of(&guard.policy().ir, &results);
        junit.push(junit_suite(file, &results));
        let assertions = guard.policy().ir.assertions.len();
        let also = match assertions {
            0 => String::new(),
            1 => ", 1 assertion".to_string(),
            n => format!(", {n} assertions"),
        };
        println!(
            "{}: {} {}{also}",
            file.display(),
            results.len(),
            if results.len() == 1 { "test" } else { "tests" }
        );
        for result in results {
            if result.passed() {
                passed += 1;
                println!("  ok      {}", result.name);
            } else {
                failed += 1;
                println!("  FAILED  {} (line {})", result.name, result.line);
                for failure in &result.failures {
                    println!("          {failure}");
                }
            }
        }
        let (proved, refuted) = print_assertions(&guard);
        passed += proved;
        failed += refuted;
        if args.coverage {
            print_coverage(&coverage);
            total_coverage.add(coverage);
        }
    }
    if args.coverage && files.len() > 1 {
        let (hit, total) = total_coverage.totals();
        println!(
            "coverage, all files: {hit}/{total} rules, tiers and duties exercised ({})",
            percent(hit, total)
        );
    }
    if let Some(path) = &args.junit {
        let mut report = quick_junit::Report::new("bylaw test");
        report.add_test_suites(junit);
        let written = report
            .to_string()
            .map_err(|e| e.to_string())
            .and_then(|xml| std::fs::write(path, xml).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return ExitCode::from(EXIT_USAGE);
        }
    }
    if broken > 0 {
        println!(
            "{broken} {} did not compile",
            if broken == 1 { "file" } else { "files" }
        );
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || broken > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Proves the policy's assertions (as `bylaw verify` does); a refuted one fails, an
/// unknown one is reported and neither passes nor fails. Returns (proved, refuted).
fn print_assertions(guard: &crate::guard::Guard) -> (usize, usize) {
    use crate::verify::Verdict;
    let (mut proved, mut refuted) = (0, 0);
    for checked in crate::verify::verify(guard) {
        match &checked.verdict {
            Verdict::Proved => {
                proved += 1;
                println!("  proved  assert {}", checked.name);
            }
            Verdict::Unknown(why) => {
                println!("  unknown assert {} (line {})", checked.name, checked.line);
                println!("          {why}");
            }
            Verdict::Refuted(c) => {
                refuted += 1;
                println!("  FAILED  assert {} (line {})", checked.name, checked.line);
                println!("          {}", c.refutation());
            }
        }
    }
    (proved, refuted)
}

fn percent(hit: usize, total: usize) -> String {
    if total == 0 {
        "nothing to cover".to_string()
    } else {
        format!("{:.0}%", hit as f64 * 100.0 / total as f64)
    }
}

fn print_coverage(coverage: &crate::testing::Coverage) {
    let count = |items: &[crate::testing::Covered]| {
        format!(
            "{}/{}",
            items.iter().filter(|c| c.exercised).count(),
            items.len()
        )
    };
    let (hit, total) = coverage.totals();
    println!(
        "  coverage: rules {}, tiers {}, duties {} ({})",
        count(&coverage.rules),
        count(&coverage.tiers),
        count(&coverage.duties),
        percent(hit, total)
    );
    for (kind, items) in [
        ("", &coverage.rules),
        ("tier ", &coverage.tiers),
        ("duty ", &coverage.duties),
    ] {
        for c in items.iter().filter(|c| !c.exercised) {
            println!("    not exercised: {kind}{} (line {})", c.id, c.line);
        }
    }
}

fn junit_suite(
    file: &std::path::Path,
    results: &[crate::testing::TestResult],
) -> quick_junit::TestSuite {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(file.display().to_string());
    for result in results {
        let status = if result.passed() {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(result.failures.join("; "));
            status
        };
        let mut case = TestCase::new(result.name.clone(), status);
        case.set_classname(format!("{}:{}", file.display(), result.line));
        suite.add_test_case(case);
    }
    suite
}
