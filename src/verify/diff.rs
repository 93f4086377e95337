//! `bylaw diff OLD NEW`: the requests two versions of a policy decide differently, as
//! regions ("region == EU and domain == medical: escalate → allow"), each with a request
//! both interpreters decide as the region says.
//!
//! Both versions are encoded into one problem over one request (the schemas must agree),
//! and the solver looks for a request where the outcome, the tier or a duty differs. A
//! candidate both interpreters confirm is widened into a region: literals of the
//! candidate are dropped while the rest still imply the same change, and a numeric
//! field's interval is widened while it does; the region is then excluded and the search
//! goes on. Free variables (what the logic does not read exactly) make the claim about a
//! region hold for more requests than exist, so it holds for the real ones.

use batsat::Lit;
use serde::Serialize;
use serde_json::Value;

use super::encode::{Decision, Num, Problem, Shape};
use super::witness;
use crate::ast::Outcome;
use crate::guard::Guard;
use crate::ir::{self, FieldType};

/// Candidates not confirmed by the interpreters before the search stops.
const MAX_UNCONFIRMED: usize = 32;

/// What one version decides, in the terms a reviewer compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub outcome: Outcome,
    pub tier: Option<String>,
    pub duties: Vec<String>,
}

/// One region of requests whose decision changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Conditions over the request, all of which hold in the region; `None` when the
    /// change could not be widened past the one request (it depends on what the logic
    /// does not read exactly).
    pub region: Option<Vec<String>>,
    pub old: Summary,
    pub new: Summary,
    /// A request of the region, decided as `old` and `new` say.
    pub request: Value,
    /// Decided with the service degraded.
    pub degraded: bool,
}

impl Change {
    /// The new decision is more permissive: deny → escalate or allow, escalate → allow.
    pub fn widens_allow(&self) -> bool {
        ir::outcome_code(self.new.outcome) < ir::outcome_code(self.old.outcome)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub changes: Vec<Change>,
    /// Every request that changes is in a listed region.
    pub complete: bool,
    /// The search ran until the solver found no further candidate (not stopped by the
    /// limit or by unconfirmed candidates).
    pub exhausted: bool,
    /// Candidates the interpreters did not confirm (the search stopped with them).
    pub unconfirmed: usize,
    /// Operations of either version that can fail (overflow, division by zero), as
    /// written: requests that fail are compared only when a candidate happens to fail.
    pub fallible: Vec<String>,
}

/// The regions where `new` decides otherwise than `old`, at most `limit` of them.
pub fn diff(old: &Guard, new: &Guard, limit: usize) -> Result<Report, String> {
    let (a, b) = (&old.policy().ir, &new.policy().ir);
    if let Some(why) = schema_difference(a, b) {
        return Err(why);
    }
    let mut problem = Problem::new();
    let (_, old_decision) = problem.encode(a);
    let (_, new_decision) = problem.encode(b);
    problem.finish();
    let differs = differs(&mut problem, a, &old_decision, b, &new_decision);
    let active = problem.fresh();
    let mut changes = Vec::new();
    let mut unconfirmed = 0;
    let mut exhausted = false;
    let mut fallible = old_decision.fallible.clone();
    fallible.extend(new_decision.fallible.iter().cloned());
    fallible.sort();
    fallible.dedup();
    // The search is over requests that do not fail: whether one fails depends on which
    // operations each version evaluates, which the logic does not follow.
    let runs = [!old_decision.fails, !new_decision.fails];
    while changes.len() < limit && unconfirmed < MAX_UNCONFIRMED {
        match problem.solve(&[active, differs, runs[0], runs[1]]) {
            Some(true) => {}
            Some(false) => {
                exhausted = true;
                break;
            }
            None => break,
        }
        let request = witness::request(&problem, a);
        let degraded = witness::degraded(&problem);
        let (Some(was), Some(is)) = (
            summary(old, &request, degraded),
            summary(new, &request, degraded),
        ) else {
            unconfirmed += 1;
            block_model(&mut problem, active);
            continue;
        };
        if was == is {
            unconfirmed += 1;
            block_model(&mut problem, active);
            continue;
        }
        let same_change = change_lit(
            &mut problem,
            (a, &old_decision, &was),
            (b, &new_decision, &is),
        );
        let cube = candidate_cube(&problem, a);
        let region = widen(&mut problem, cube, same_change, runs);
        match &region {
            Some(lits) => {
                let lits: Vec<Lit> = lits.iter().map(|(l, _)| *l).collect();
                block(&mut problem, active, &lits);
            }
            None => block_model(&mut problem, active),
        }
        changes.push(Change {
            region: region.map(|lits| lits.into_iter().map(|(_, text)| text).collect()),
            old: was,
            new: is,
            request,
            degraded,
        });
    }
    Ok(Report {
        changes,
        complete: exhausted && unconfirmed == 0 && fallible.is_empty(),
        exhausted,
        unconfirmed,
        fallible,
    })
}

/// Excludes the model's request (while `active`).
fn block_model(problem: &mut Problem, active: Lit) {
    let cube = witness::defining_literals(problem);
    block(problem, active, &cube);
}

/// Excludes the requests where every literal of `cube` holds (while `active`).
fn block(problem: &mut Problem, active: Lit, cube: &[Lit]) {
    let mut clause = vec![!active];
    clause.extend(cube.iter().map(|l| !*l));
    problem.clause(&clause);
}

/// Why the two versions cannot be compared over one request, if they cannot.
fn schema_difference(a: &ir::Policy, b: &ir::Policy) -> Option<String> {
    let members = |p: &ir::Policy, ty: &FieldType| match ty {
        FieldType::Enum(e) | FieldType::EnumSet(e) => p.enums.get(*e).map(|e| e.members.clone()),
        _ => None,
    };
    let same_kind =
        |x: &FieldType, y: &FieldType| std::mem::discriminant(x) == std::mem::discriminant(y);
    for f in &a.fields {
        let Some(g) = b.fields.iter().find(|g| g.path == f.path) else {
            return Some(format!(
                "the new version has no field `{}`: diff compares versions with the same request schema",
                f.path
            ));
        };
        if !same_kind(&f.ty, &g.ty)
            || members(a, &f.ty) != members(b, &g.ty)
            || f.optional != g.optional
            || f.default != g.default
        {
            return Some(format!(
                "field `{}` is declared differently in the two versions: diff compares versions with the same request schema",
                f.path
            ));
        }
    }
    b.fields
        .iter()
        .find(|g| !a.fields.iter().any(|f| f.path == g.path))
        .map(|g| {
            format!(
                "the old version has no field `{}`: diff compares versions with the same request schema",
                g.path
            )
        })
}

/// The two decisions differ: in outcome, in tier (by name) or in a duty (by name).
fn differs(
    problem: &mut Problem,
    a: &ir::Policy,
    old: &Decision,
    b: &ir::Policy,
    new: &Decision,
) -> Lit {
    let mut any = Vec::new();
    for (x, y) in old.outcome.iter().zip(&new.outcome) {
        any.push(problem.xor(*x, *y));
    }
    let mut tiers: Vec<&str> = a.tiers.iter().map(|t| t.name.as_str()).collect();
    tiers.extend(b.tiers.iter().map(|t| t.name.as_str()));
    tiers.sort_unstable();
    tiers.dedup();
    for name in tiers {
        let x = tier_lit(problem, a, old, name);
        let y = tier_lit(problem, b, new, name);
        any.push(problem.xor(x, y));
    }
    let mut duties: Vec<&str> = a.duties.iter().map(|d| d.name.as_str()).collect();
    duties.extend(b.duties.iter().map(|d| d.name.as_str()));
    duties.sort_unstable();
    duties.dedup();
    for name in duties {
        let x = duty_lit(problem, a, old, name);
        let y = duty_lit(problem, b, new, name);
        any.push(problem.xor(x, y));
    }
    problem.or(&any)
}

fn tier_lit(problem: &Problem, p: &ir::Policy, d: &Decision, name: &str) -> Lit {
    named(
        problem,
        p.tiers.iter().map(|t| t.name.as_str()),
        &d.tiers,
        name,
    )
}

fn duty_lit(problem: &Problem, p: &ir::Policy, d: &Decision, name: &str) -> Lit {
    named(
        problem,
        p.duties.iter().map(|x| x.name.as_str()),
        &d.duties,
        name,
    )
}

/// The literal of the item called `name` (false when the version has none).
fn named<'a>(
    problem: &Problem,
    mut names: impl Iterator<Item = &'a str>,
    lits: &[Lit],
    name: &str,
) -> Lit {
    names
        .position(|n| n == name)
        .and_then(|i| lits.get(i).copied())
        .unwrap_or(!problem.truth())
}

/// The same change as from `was` to `is`, in what changed: the outcome, the tier, each
/// duty that applies in one and not the other. What did not change is left free, so that
/// a region is not split by what stays the same.
fn change_lit(
    problem: &mut Problem,
    (a, old, was): (&ir::Policy, &Decision, &Summary),
    (b, new, is): (&ir::Policy, &Decision, &Summary),
) -> Lit {
    let mut all = Vec::new();
    if was.outcome != is.outcome {
        all.push(old.outcome(was.outcome));
        all.push(new.outcome(is.outcome));
    }
    if was.tier != is.tier {
        all.push(exact_tier(problem, a, old, was.tier.as_deref()));
        all.push(exact_tier(problem, b, new, is.tier.as_deref()));
    }
    let mut names: Vec<&String> = was.duties.iter().chain(&is.duties).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let (x, y) = (was.duties.contains(name), is.duties.contains(name));
        if x != y {
            let dx = duty_lit(problem, a, old, name);
            let dy = duty_lit(problem, b, new, name);
            all.push(if x { dx } else { !dx });
            all.push(if y { dy } else { !dy });
        }
    }
    problem.and(&all)
}

/// The tier chosen is `name` (`None`: no tier).
fn exact_tier(problem: &mut Problem, p: &ir::Policy, d: &Decision, name: Option<&str>) -> Lit {
    match name {
        Some(name) => tier_lit(problem, p, d, name),
        None => {
            let any: Vec<Lit> = d.tiers.clone();
            !problem.or(&any)
        }
    }
}

/// How the interpreter decides `request` (`None` if it is not a valid request).
fn summary(guard: &Guard, request: &Value, degraded: bool) -> Option<Summary> {
    let policy = &guard.policy().ir;
    let (_, compact) = super::interpreted(guard, request, degraded)?;
    Some(Summary {
        outcome: compact.outcome(),
        tier: compact
            .tier()
            .and_then(|t| policy.tiers.get(t))
            .map(|t| t.name.clone()),
        duties: policy
            .duties
            .iter()
            .enumerate()
            .filter(|(i, _)| compact.bit(policy.layout.duties, *i))
            .map(|(_, d)| d.name.clone())
            .collect(),
    })
}

/// One literal of a candidate region and how it reads.
#[derive(Debug, Clone)]
struct Part {
    lit: Lit,
    text: String,
    /// For a numeric field's interval: the field and the region index, so the interval
    /// can be widened.
    interval: Option<(String, usize)>,
    /// For an enum field equal to a member: the field and the member, so the member can
    /// become a set of them.
    member: Option<(String, String)>,
}

/// The model's request as literals over the fields: each field's interval, member or
/// value, and the service state.
fn candidate_cube(problem: &Problem, policy: &ir::Policy) -> Vec<Part> {
    let mut parts = Vec::new();
    for field in &policy.fields {
        let Some(vars) = problem.fields.get(&field.path) else {
            continue;
        };
        let path = &field.path;
        let text_of = |positive: bool, yes: String, no: String| if positive { yes } else { no };
        if let Some(has) = vars.has {
            let v = problem.value(has);
            parts.push(Part {
                lit: if v { has } else { !has },
                text: text_of(v, format!("has({path})"), format!("not has({path})")),
                interval: None,
                member: None,
            });
        }
        if let Some(value) = vars.value {
            let v = problem.value(value);
            parts.push(Part {
                lit: if v { value } else { !value },
                text: text_of(v, path.clone(), format!("not {path}")),
                interval: None,
                member: None,
            });
        }
        if let Some(k) = vars.regions.iter().position(|r| problem.value(r.lit)) {
            parts.push(Part {
                lit: vars.regions[k].lit,
                text: interval_text(path, &vars.regions, k, k),
                interval: Some((path.clone(), k)),
                member: None,
            });
        }
        for (name, lit) in &vars.members {
            let v = problem.value(*lit);
            let text = match vars.shape {
                Shape::Str => text_of(
                    v,
                    format!("{path} == {name:?}"),
                    format!("{path} != {name:?}"),
                ),
                Shape::EnumSet(_) => text_of(
                    v,
                    format!("{name} in {path}"),
                    format!("not {name} in {path}"),
                ),
                Shape::StrSet => text_of(
                    v,
                    format!("{name:?} in {path}"),
                    format!("not {name:?} in {path}"),
                ),
                _ => text_of(v, format!("{path} == {name}"), format!("{path} != {name}")),
            };
            let is_enum = matches!(vars.shape, Shape::Enum(_));
            parts.push(Part {
                lit: if v { *lit } else { !*lit },
                text,
                interval: None,
                member: (v && is_enum).then(|| (path.clone(), name.clone())),
            });
        }
    }
    if let Some(d) = problem.degraded {
        let v = problem.value(d);
        parts.push(Part {
            lit: if v { d } else { !d },
            text: if v { "degraded" } else { "not degraded" }.to_string(),
            interval: None,
            member: None,
        });
    }
    parts
}

/// `5 < x <= 10`, `x == 3`, `x >= 0.9` for regions `i..=j` of a numeric field.
fn interval_text(path: &str, regions: &[super::encode::Region], i: usize, j: usize) -> String {
    let show = |n: Num| match n {
        Num::Int(v) => v.to_string(),
        Num::Float(v) => format!("{v:?}"),
    };
    let (Some(first), Some(last)) = (regions.get(i), regions.get(j)) else {
        return path.to_string();
    };
    if i == j && first.point {
        return format!("{path} == {}", show(first.value));
    }
    let low = if first.point {
        Some(format!("{} <= ", show(first.value)))
    } else {
        i.checked_sub(1)
            .and_then(|k| regions.get(k))
            .map(|r| format!("{} < ", show(r.value)))
    };
    let high = if last.point {
        Some(format!(" <= {}", show(last.value)))
    } else {
        regions.get(j + 1).map(|r| format!(" < {}", show(r.value)))
    };
    match (low, high) {
        (None, None) => format!("any {path}"),
        (low, high) => format!(
            "{}{path}{}",
            low.unwrap_or_default(),
            high.unwrap_or_default()
        ),
    }
}

/// The parts of `cube` that still imply `change` once the others are dropped, with
/// numeric intervals widened as far as they still do; `None` if the whole cube does not
/// imply it (the change rests on a free variable).
fn widen(
    problem: &mut Problem,
    mut cube: Vec<Part>,
    change: Lit,
    runs: [Lit; 2],
) -> Option<Vec<(Lit, String)>> {
    let implies = |problem: &mut Problem, cube: &[Part]| {
        let mut assume: Vec<Lit> = cube.iter().map(|p| p.lit).collect();
        assume.extend(runs);
        assume.push(!change);
        problem.solve(&assume) == Some(false)
    };
    if !implies(problem, &cube) {
        return None;
    }
    // Drop what the change does not need, the service state and absences first.
    let mut i = cube.len();
    while i > 0 {
        i -= 1;
        let part = cube.remove(i);
        if !implies(problem, &cube) {
            cube.insert(i, part);
        }
    }
    widen_members(problem, &mut cube, change, runs);
    // Widen each remaining interval, one region at a time on either side.
    for k in 0..cube.len() {
        let Some((path, at)) = cube[k].interval.clone() else {
            continue;
        };
        let Some(regions) = problem.fields.get(&path).map(|v| v.regions.clone()) else {
            continue;
        };
        let (mut lo, mut hi) = (at, at);
        loop {
            let mut grew = false;
            for (l, h) in [(lo.wrapping_sub(1), hi), (lo, hi + 1)] {
                if l > h || h >= regions.len() || (l, h) == (lo, hi) {
                    continue;
                }
                let lits: Vec<Lit> = regions[l..=h].iter().map(|r| r.lit).collect();
                let span = problem.or(&lits);
                let before = cube[k].lit;
                cube[k].lit = span;
                if implies(problem, &cube) {
                    (lo, hi) = (l, h);
                    grew = true;
                } else {
                    cube[k].lit = before;
                }
            }
            if !grew {
                break;
            }
        }
        cube[k].text = interval_text(&path, &regions, lo, hi);
        if lo == 0 && hi + 1 == regions.len() {
            cube[k].text.clear();
        }
    }
    Some(
        cube.into_iter()
            .filter(|p| !p.text.is_empty())
            .map(|p| (p.lit, p.text))
            .collect(),
    )
}

/// An enum field equal to one member becomes a set of members while the cube still
/// implies the change; the other members' literals then say nothing and are dropped.
fn widen_members(problem: &mut Problem, cube: &mut Vec<Part>, change: Lit, runs: [Lit; 2]) {
    let fields: Vec<(String, String)> = cube.iter().filter_map(|p| p.member.clone()).collect();
    for (path, first) in fields {
        let Some(members) = problem.fields.get(&path).map(|v| v.members.clone()) else {
            continue;
        };
        let lit_of = |name: &str| members.iter().find(|(n, _)| n == name).map(|(_, l)| *l);
        let Some(mut current) = lit_of(&first) else {
            continue;
        };
        let mut chosen = vec![first];
        for (name, lit) in &members {
            if chosen.contains(name) {
                continue;
            }
            let mut lits: Vec<Lit> = chosen.iter().filter_map(|n| lit_of(n)).collect();
            lits.push(*lit);
            let wider = problem.or(&lits);
            // The cube with the wider set, and without the added member's negation.
            let mut assume: Vec<Lit> = cube
                .iter()
                .map(|p| if p.lit == current { wider } else { p.lit })
                .filter(|l| *l != !*lit)
                .collect();
            assume.extend(runs);
            assume.push(!change);
            if problem.solve(&assume) == Some(false) {
                cube.retain(|p| p.lit != !*lit);
                for p in cube.iter_mut().filter(|p| p.lit == current) {
                    p.lit = wider;
                }
                current = wider;
                chosen.push(name.clone());
            }
        }
        if chosen.len() > 1 {
            chosen.sort();
            for p in cube.iter_mut().filter(|p| p.lit == current) {
                p.text = format!("{path} in {{{}}}", chosen.join(", "));
            }
        }
    }
}
