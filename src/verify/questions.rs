//! The static questions a reviewer asks of a policy, answered by the same logic as
//! `bylaw verify`'s assertions: can each outcome happen (or does the policy always
//! allow, always deny…), can each rule fire, can each tier be chosen, can each duty
//! apply, and can each `require` be met where its duty applies. "Never" is a proof (the
//! question is unsatisfiable); "yes" comes with a request the interpreter decides so;
//! anything else is unknown, with the reason.

use batsat::Lit;

use super::encode::Problem;
use super::{Found, search};
use crate::ast::Outcome;
use crate::guard::Guard;
use crate::ir::{self, Compact, interp};
use crate::runtime::decision::Decision;

/// What a question is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The policy decides this outcome for some request.
    Outcome(Outcome),
    /// Rule `id`'s condition holds for some request.
    Rule {
        id: String,
    },
    Tier {
        name: String,
    },
    Duty {
        name: String,
    },
    /// Duty `duty`'s `require` number `index` (from 0, as written) holds for some
    /// request the duty applies to.
    Require {
        duty: String,
        index: usize,
    },
}

/// One question and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub subject: Subject,
    /// Where it is written in the policy (1-based); none for the policy's outcomes and
    /// for what a module declares.
    pub line: Option<u32>,
    pub answer: Answer,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Yes: a request, confirmed by the interpreter.
    Witness(Box<Witness>),
    /// No request at all: proved.
    Never,
    /// Neither, and why.
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Witness {
    /// As `bylaw eval --request` reads it.
    pub request: serde_json::Value,
    pub degraded: bool,
    pub decision: Decision,
}

impl Question {
    /// A problem a reviewer should look at: a rule that never fires, a tier never
    /// chosen, a duty never applying or a `require` never met. (That the policy never
    /// decides one outcome is no problem by itself — a policy without `escalate` rules
    /// never escalates; [`always`] tells when only one is left.)
    pub fn is_finding(&self) -> bool {
        !matches!(self.subject, Subject::Outcome(_)) && matches!(self.answer, Answer::Never)
    }

    /// The question in words: `rule \`toxic\` fires`.
    pub fn text(&self) -> String {
        match &self.subject {
            Subject::Outcome(o) => format!("the policy decides {}", o.as_str()),
            Subject::Rule { id } => format!("rule `{id}` fires"),
            Subject::Tier { name } => format!("tier `{name}` is chosen"),
            Subject::Duty { name } => format!("duty `{name}` applies"),
            Subject::Require { duty, index } => format!(
                "`require` {} of duty `{duty}` is met where the duty applies",
                index + 1
            ),
        }
    }

    /// The finding in words, for an answer of [`Answer::Never`].
    pub fn never_text(&self) -> String {
        match &self.subject {
            Subject::Outcome(o) => format!("the policy never decides {}", o.as_str()),
            Subject::Rule { id } => format!("rule `{id}` can never fire"),
            Subject::Tier { name } => format!("tier `{name}` can never be chosen"),
            Subject::Duty { name } => format!("duty `{name}` can never apply"),
            Subject::Require { duty, index } => format!(
                "`require` {} of duty `{duty}` can never be met where the duty applies",
                index + 1
            ),
        }
    }
}

/// The policy's outcomes the questions prove it never decides, and the one it always
/// decides when only one is left.
pub fn always(questions: &[Question]) -> Option<Outcome> {
    let possible: Vec<Outcome> = questions
        .iter()
        .filter_map(|q| match (&q.subject, &q.answer) {
            (Subject::Outcome(_), Answer::Never) => None,
            (Subject::Outcome(o), _) => Some(*o),
            _ => None,
        })
        .collect();
    match possible.as_slice() {
        [only] => Some(*only),
        _ => None,
    }
}

/// Every question asked of a policy, and where its evaluation can fail.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    pub questions: Vec<Question>,
    /// Where the policy's evaluation can fail, as written (`tokens * 2`): a request
    /// that fails there is denied, whatever [`always`] says of the requests it can
    /// judge.
    pub fallible: Vec<String>,
}

/// Asks every question of the policy.
pub fn ask(guard: &Guard) -> Asked {
    let policy = &guard.policy().ir;
    let mut problem = Problem::new();
    let (_, decision) = problem.encode(policy);
    problem.finish();
    let mut out = Vec::new();
    // Outcomes of the requests that can be judged: one whose evaluation fails
    // (overflow, division by zero) is denied whatever the policy says, and the logic
    // cannot build one.
    for outcome in [Outcome::Allow, Outcome::Escalate, Outcome::Deny] {
        let judged = [decision.outcome(outcome), !decision.fails];
        let answer = answer_of(guard, &mut problem, &judged, |c, _, _| {
            c.status() == ir::status::OK && c.outcome() == outcome
        });
        out.push(Question {
            subject: Subject::Outcome(outcome),
            line: None,
            answer,
        });
    }
    for (rule, &fired) in policy.rules.iter().zip(&decision.rules) {
        let answer = answer_of(guard, &mut problem, &[fired], |_, record, degraded| {
            interp::holds(policy, record, degraded, &rule.cond) == Ok(true)
        });
        out.push(Question {
            subject: Subject::Rule {
                id: rule.id.clone(),
            },
            line: own_line(&rule.id, rule.loc),
            answer,
        });
    }
    for (index, (tier, &chosen)) in policy.tiers.iter().zip(&decision.tiers).enumerate() {
        let answer = answer_of(guard, &mut problem, &[chosen], |c, _, _| {
            c.tier() == Some(index)
        });
        out.push(Question {
            subject: Subject::Tier {
                name: tier.name.clone(),
            },
            line: Some(tier.loc.line),
            answer,
        });
    }
    for (index, duty) in policy.duties.iter().enumerate() {
        let Some(&applies) = decision.duties.get(index) else {
            continue;
        };
        let applies_at = |c: &Compact| c.bit(policy.layout.duties, index);
        let line = own_line(&duty.name, duty.loc);
        let answer = answer_of(guard, &mut problem, &[applies], |c, _, _| applies_at(c));
        let never_applies = answer == Answer::Never;
        out.push(Question {
            subject: Subject::Duty {
                name: duty.name.clone(),
            },
            line,
            answer,
        });
        // A duty that never applies asks nothing of its requires.
        if never_applies {
            continue;
        }
        let mets = decision.requires.get(index).map_or(&[][..], Vec::as_slice);
        for (number, (require, &met)) in duty.requires.iter().zip(mets).enumerate() {
            let answer = answer_of(
                guard,
                &mut problem,
                &[applies, met],
                |c, record, degraded| {
                    applies_at(c)
                        && interp::holds(policy, record, degraded, &require.cond) == Ok(true)
                },
            );
            out.push(Question {
                subject: Subject::Require {
                    duty: duty.name.clone(),
                    index: number,
                },
                line: line.map(|_| require.loc.line),
                answer,
            });
        }
    }
    Asked {
        questions: out,
        fallible: decision.fallible,
    }
}

/// The answer to one question: the literals that must hold, and what the interpreter
/// must see in a request for it to count.
fn answer_of(
    guard: &Guard,
    problem: &mut Problem,
    holds: &[Lit],
    seen: impl Fn(&Compact, &crate::runtime::record::Record, bool) -> bool,
) -> Answer {
    let found = search(guard, problem, holds, |request, degraded| {
        let (record, compact) = super::interpreted(guard, &request, degraded)?;
        seen(&compact, &record, degraded).then(|| {
            Box::new(Witness {
                decision: guard.decide_with(&record, degraded),
                request,
                degraded,
            })
        })
    });
    match found {
        Found::Request(witness) => Answer::Witness(witness),
        Found::None => Answer::Never,
        Found::Unknown(why) => Answer::Unknown(why),
    }
}

/// The line of an item the policy itself writes; a module's items (their names
/// qualified by the module, `std::minors::…`) have lines in another file.
fn own_line(name: &str, loc: ir::Loc) -> Option<u32> {
    (!name.contains("::")).then_some(loc.line)
}
