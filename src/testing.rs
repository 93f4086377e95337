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
            let applied = listed(decision.duties.iter().map(|d| d.id.as_str()));
            result.failures.push(format!(
                "duty: expected `{name}` to apply; applying: {applied}"
            ));
        }
    }
    for rule in &test.rules {
        if !decision.reasons.iter().any(|r| &r.id == rule) {
            let given = listed(decision.reasons.iter().map(|r| r.id.as_str()));
            result.failures.push(format!(
                "rule: expected `{rule}` among the reasons; reasons: {given}"
            ));
        }
    }
    result.decision = Some(decision);
    result
}

/// `a, b, c`, or `none`.
fn listed<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// What a file's tests exercised: each rule that fired, tier that was chosen and duty
/// that applied in at least one test.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Coverage {
    pub rules: Vec<Covered>,
    pub tiers: Vec<Covered>,
    pub duties: Vec<Covered>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Covered {
    pub id: String,
    pub line: u32,
    pub exercised: bool,
}

/// Something a test can exercise: a rule (by its decision id, `rule-N`), a tier or a
/// duty (by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    Rule(&'a str),
    Tier(&'a str),
    Duty(&'a str),
}

impl Part<'_> {
    /// Whether this part took part in a decision: the rule fired, the tier was chosen,
    /// the duty applied.
    pub fn in_decision(self, d: &Decision) -> bool {
        match self {
            Part::Rule(id) => d
                .reasons
                .iter()
                .any(|r| r.kind == crate::runtime::decision::ReasonKind::Rule && r.id == id),
            Part::Tier(name) => d.tier.as_deref() == Some(name),
            Part::Duty(name) => d.duties.iter().any(|x| x.id == name),
        }
    }

    /// The tests whose decision it took part in.
    pub fn tests(self, results: &[TestResult]) -> Vec<String> {
        results
            .iter()
            .filter(|r| r.decision.as_ref().is_some_and(|d| self.in_decision(d)))
            .map(|r| r.name.clone())
            .collect()
    }
}

impl Coverage {
    pub fn of(policy: &crate::ir::Policy, results: &[TestResult]) -> Coverage {
        let exercised = |part: Part<'_>| {
            results
                .iter()
                .filter_map(|r| r.decision.as_ref())
                .any(|d| part.in_decision(d))
        };
        let rules = policy
            .rules
            .iter()
            .map(|rule| {
                let id = rule.id.clone();
                Covered {
                    exercised: exercised(Part::Rule(&id)),
                    id,
                    line: rule.loc.line,
                }
            })
            .collect();
        let tiers = policy
            .tiers
            .iter()
            .map(|t| Covered {
                id: t.name.clone(),
                line: t.loc.line,
                exercised: exercised(Part::Tier(&t.name)),
            })
            .collect();
        let duties = policy
            .duties
            .iter()
            .map(|duty| Covered {
                id: duty.name.clone(),
                line: duty.loc.line,
                exercised: exercised(Part::Duty(&duty.name)),
            })
            .collect();
        Coverage {
            rules,
            tiers,
            duties,
        }
    }

    /// (exercised, total) over rules, tiers and duties together.
    pub fn totals(&self) -> (usize, usize) {
        let all = self.rules.iter().chain(&self.tiers).chain(&self.duties);
        let (mut hit, mut total) = (0, 0);
        for c in all {
            total += 1;
            hit += usize::from(c.exercised);
        }
        (hit, total)
    }

    pub fn add(&mut self, other: Coverage) {
        self.rules.extend(other.rules);
        self.tiers.extend(other.tiers);
        self.duties.extend(other.duties);
    }
}
