//! `test` blocks: build each test's request from its fixture and overrides, decide it,
//! and compare what the test expects.

use crate::check::program::Test;
use crate::guard::Guard;
use crate::runtime::decision::{Decision, Outcome};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    pub name: String,
    pub line: usize,
    /// Empty when the test passed: one line per expectation that did not hold.
    pub failures: Vec<String>,
    pub decision: Option<Decision>,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

pub fn run_tests(guard: &Guard) -> Vec<TestResult> {
    let policy = guard.policy();
    policy
        .program
        .tests
        .iter()
        .map(|test| run_one(guard, test))
        .collect()
}

fn run_one(guard: &Guard, test: &Test) -> TestResult {
    let policy = guard.policy();
    let line = policy
        .sources
        .file_of(test.span)
        .map_or(0, |f| f.line_col(test.span.start).0);
    let mut result = TestResult {
        name: test.name.clone(),
        line,
        failures: Vec::new(),
        decision: None,
    };
    let Some(fixture) = policy.program.fixtures.get(test.fixture) else {
        result.failures.push("the fixture is missing".to_string());
        return result;
    };
    let mut values: Vec<(usize, Option<&crate::check::program::Value>)> = fixture
        .values
        .iter()
        .map(|v| (v.field, v.value.as_ref()))
        .collect();
    for o in &test.overrides {
        values.retain(|(field, _)| *field != o.field);
        values.push((o.field, o.value.as_ref()));
    }
    let decision = match guard
        .encoder()
        .encode_values(&policy.ir, values.into_iter())
    {
        Ok(record) => guard.decide(&record),
        Err(errors) => Decision::invalid(errors),
    };
    let expected: Outcome = test.outcome.into();
    if decision.outcome != expected {
        result.failures.push(format!(
            "outcome: expected {}, got {}",
            expected.as_str(),
            decision.outcome.as_str()
        ));
    }
    if let Some(tier) = test.tier {
        let want = policy.ir.tiers.get(tier).map(|t| t.name.clone());
        if decision.tier != want {
            result.failures.push(format!(
                "tier: expected {}, got {}",
                want.unwrap_or_default(),
                decision.tier.clone().unwrap_or_else(|| "none".to_string())
            ));
        }
    }
    for &duty in &test.duties {
        let name = policy
            .ir
            .duties
            .get(duty)
            .map(|d| d.name.clone())
            .unwrap_or_default();
        if !decision.duties.iter().any(|d| d.id == name) {
            let applied: Vec<&str> = decision.duties.iter().map(|d| d.id.as_str()).collect();
            result.failures.push(format!(
                "duty: expected `{name}` to apply; applying: {}",
                if applied.is_empty() {
                    "none".to_string()
                } else {
                    applied.join(", ")
                }
            ));
        }
    }
    result.decision = Some(decision);
    result
}
