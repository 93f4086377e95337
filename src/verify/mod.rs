//! `bylaw verify`: whether every valid request where an assertion's condition holds is
//! decided as the assertion expects — proved, refuted by a request the interpreter
//! decides otherwise, or unknown, with the reason.
//!
//! The policy's decision and each assertion become propositional logic over the request
//! (`encode`), which a SAT solver (batsat) decides. The logic reads comparisons of a
//! field with a constant exactly and anything else as a free variable; a free variable
//! lets the logic describe more requests than exist, so "proved" is always true, and a
//! satisfying assignment is only a candidate: it is turned into a request (`witness`)
//! and kept only when the interpreter decides that request against the assertion. When
//! candidates are not confirmed, the answer is unknown and names what the logic could
//! not read.

mod describe;
pub mod diff;
mod encode;
pub mod questions;
mod witness;

use batsat::Lit;

use crate::check::program::{Expect, ExpectTarget};
use crate::guard::Guard;
use crate::ir::{self, Compact, interp};
use crate::runtime::decision::Decision;

use encode::Problem;

/// Candidates tried before an assertion is unknown.
const MAX_CANDIDATES: usize = 32;

/// What `bylaw verify` found for one assertion.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub name: String,
    /// The assertion's line in the policy source (1-based).
    pub line: u32,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every valid request where the condition holds is decided as expected.
    Proved,
    /// A request, confirmed by the interpreter, that is decided otherwise.
    Refuted(Box<Counterexample>),
    /// Neither proved nor refuted, and why.
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Counterexample {
    /// The request, as `bylaw eval --request` reads it.
    pub request: serde_json::Value,
    /// Decided with the service degraded (`degraded` in a condition).
    pub degraded: bool,
    /// How the policy decides it.
    pub decision: Decision,
    /// Which expectation it breaks, as written (`deny`, `not tier high`).
    pub broken: String,
}

impl Counterexample {
    /// `expected deny; refuted by {"user": …}`.
    pub fn refutation(&self) -> String {
        format!(
            "expected {}; refuted by {}",
            self.broken,
            serde_json::to_string(&self.request).unwrap_or_default()
        )
    }
}

/// Proves or refutes each of the policy's assertions.
pub fn verify(guard: &Guard) -> Vec<Checked> {
    let policy = &guard.policy().ir;
    if policy.assertions.is_empty() {
        return Vec::new();
    }
    let mut problem = Problem::new();
    let (mut encoder, decision) = problem.encode(policy);
    let questions: Vec<(Lit, Lit)> = policy
        .assertions
        .iter()
        .map(|a| {
            let when = encoder.condition(&mut problem, &a.when);
            let broken: Vec<Lit> = a
                .expect
                .iter()
                .map(|e| !expectation(&problem, &decision, e))
                .collect();
            (when, problem.or(&broken))
        })
        .collect();
    problem.finish();
    policy
        .assertions
        .iter()
        .zip(questions)
        .map(|(a, (when, broken))| Checked {
            name: a.name.clone(),
            line: a.loc.line,
            verdict: decide(guard, &mut problem, &decision, a, when, broken),
        })
        .collect()
}

fn expectation(problem: &Problem, decision: &encode::Decision, e: &Expect) -> Lit {
    let lit = match e.target {
        ExpectTarget::Outcome(o) => decision.outcome(o),
        ExpectTarget::Tier(t) => decision.tiers.get(t).copied().unwrap_or(!problem.truth()),
        ExpectTarget::Duty(d) => decision.duties.get(d).copied().unwrap_or(!problem.truth()),
    };
    if e.negated { !lit } else { lit }
}

fn decide(
    guard: &Guard,
    problem: &mut Problem,
    decision: &encode::Decision,
    assertion: &ir::Assertion,
    when: Lit,
    broken: Lit,
) -> Verdict {
    let found = search(
        guard,
        problem,
        &[when, broken, !decision.fails],
        |request, degraded| confirm(guard, assertion, request, degraded),
    );
    match found {
        Found::Request(counterexample) => Verdict::Refuted(Box::new(counterexample)),
        Found::Unknown(why) => Verdict::Unknown(why),
        Found::None => {
            if !decision.fallible.is_empty() && problem.solve(&[when, broken]) == Some(true) {
                return Verdict::Unknown(format!(
                    "holds unless evaluation fails: {} can fail (overflow or division by \
                     zero), and a request that fails is denied with no tier and no duties",
                    decision.fallible.join(", ")
                ));
            }
            Verdict::Proved
        }
    }
}

/// What a search for a request found.
#[derive(Debug)]
pub(crate) enum Found<T> {
    /// What the interpreter made of the request it confirmed.
    Request(T),
    /// None exists: the logic proves it.
    None,
    /// Neither, and why.
    Unknown(String),
}

/// Looks for a request where every literal of `assumptions` holds that `accept` (the
/// interpreter's judgement, given the request and whether the service is degraded)
/// confirms, and returns what `accept` made of it; candidates it rejects are blocked
/// for this search only, up to [`MAX_CANDIDATES`].
pub(crate) fn search<T>(
    guard: &Guard,
    problem: &mut Problem,
    assumptions: &[Lit],
    accept: impl Fn(serde_json::Value, bool) -> Option<T>,
) -> Found<T> {
    let policy = &guard.policy().ir;
    let active = problem.fresh();
    let mut asked = vec![active];
    asked.extend_from_slice(assumptions);
    let mut rejected = 0;
    while rejected < MAX_CANDIDATES {
        match problem.solve(&asked) {
            None => return Found::Unknown("the solver gave up".to_string()),
            Some(false) => break,
            Some(true) => {}
        }
        let request = witness::request(problem, policy);
        let degraded = witness::degraded(problem);
        if let Some(accepted) = accept(request, degraded) {
            return Found::Request(accepted);
        }
        let mut block: Vec<Lit> = vec![!active];
        block.extend(witness::defining_literals(problem).into_iter().map(|l| !l));
        problem.clause(&block);
        rejected += 1;
    }
    if rejected > 0 {
        return Found::Unknown(unread(problem, rejected));
    }
    Found::None
}

/// Why candidates were not confirmed: the expressions the logic read as free.
fn unread(problem: &Problem, rejected: usize) -> String {
    let mut free: Vec<&str> = Vec::new();
    for f in &problem.free {
        if !free.contains(&f.text.as_str()) {
            free.push(&f.text);
        }
    }
    let shown: Vec<&str> = free.iter().take(5).copied().collect();
    let more = free.len().saturating_sub(shown.len());
    let mut reason = format!(
        "{rejected} candidate request{} did not hold when decided; \
         the logic does not read {} exactly",
        if rejected == 1 { "" } else { "s" },
        if shown.is_empty() {
            "the policy".to_string()
        } else {
            shown.join("; ")
        }
    );
    if more > 0 {
        reason.push_str(&format!(" (and {more} more)"));
    }
    reason
}

/// The candidate as a counterexample, when the interpreter decides it against the
/// assertion.
fn confirm(
    guard: &Guard,
    assertion: &ir::Assertion,
    request: serde_json::Value,
    degraded: bool,
) -> Option<Counterexample> {
    let policy = &guard.policy().ir;
    let (record, compact) = interpreted(guard, &request, degraded)?;
    if interp::holds(policy, &record, degraded, &assertion.when) != Ok(true) {
        return None;
    }
    let broken = assertion
        .expect
        .iter()
        .find(|e| !holds_in(policy, &compact, e))?;
    Some(Counterexample {
        request,
        degraded,
        decision: guard.decide_with(&record, degraded),
        broken: expect_text(policy, broken),
    })
}

/// A candidate request as the reference interpreter decides it (`None` if the request
/// is not valid for the policy).
pub(crate) fn interpreted(
    guard: &Guard,
    request: &serde_json::Value,
    degraded: bool,
) -> Option<(crate::runtime::record::Record, Compact)> {
    let policy = &guard.policy().ir;
    let record = guard.encode_value(request).ok()?;
    let mut compact = Compact::new(&policy.layout);
    interp::decide(policy, &record, degraded, &mut compact);
    Some((record, compact))
}

fn holds_in(policy: &ir::Policy, compact: &Compact, e: &Expect) -> bool {
    let holds = match e.target {
        ExpectTarget::Outcome(o) => compact.outcome() == o,
        ExpectTarget::Tier(t) => compact.tier() == Some(t),
        ExpectTarget::Duty(d) => compact.bit(policy.layout.duties, d),
    };
    holds != e.negated
}

/// An expectation as written: `deny`, `not tier high`, `duty keep_logs`.
pub fn expect_text(policy: &ir::Policy, e: &Expect) -> String {
    let target = match e.target {
        ExpectTarget::Outcome(o) => o.as_str().to_string(),
        ExpectTarget::Tier(t) => format!(
            "tier {}",
            policy.tiers.get(t).map_or("?", |t| t.name.as_str())
        ),
        ExpectTarget::Duty(d) => format!(
            "duty {}",
            policy.duties.get(d).map_or("?", |d| d.name.as_str())
        ),
    };
    if e.negated {
        format!("not {target}")
    } else {
        target
    }
}
