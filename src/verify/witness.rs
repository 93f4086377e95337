//! A satisfying assignment as a request: the JSON `bylaw eval --request` reads.

use serde_json::{Map, Value};

use super::encode::{FieldVars, Num, Problem};
use crate::builtins::time::format_timestamp;
use crate::ir::{FieldType, Policy};

/// The request the solver's model describes, for `policy`'s schema: every required
/// field with a value (those the policy never compares get a plain one), optional fields
/// only when the model has them present.
pub(super) fn request(problem: &Problem, policy: &Policy) -> Value {
    let mut root = Map::new();
    let fresh = fresh_string(policy);
    for field in &policy.fields {
        let vars = problem.fields.get(&field.path);
        let present = match vars.and_then(|v| v.has) {
            Some(has) => problem.value(has),
            None => !field.optional,
        };
        if !present {
            continue;
        }
        let value = value(problem, policy, &field.ty, vars, &fresh);
        insert(&mut root, &field.segments, value);
    }
    Value::Object(root)
}

/// Whether the service is degraded in the model.
pub(super) fn degraded(problem: &Problem) -> bool {
    problem.degraded.is_some_and(|l| problem.value(l))
}

fn value(
    problem: &Problem,
    policy: &Policy,
    ty: &FieldType,
    vars: Option<&FieldVars>,
    fresh: &str,
) -> Value {
    let chosen_members = || -> Vec<String> {
        vars.map(|v| {
            v.members
                .iter()
                .filter(|(_, l)| problem.value(*l))
                .map(|(n, _)| n.clone())
                .collect()
        })
        .unwrap_or_default()
    };
    let region = || {
        vars.and_then(|v| v.regions.iter().find(|r| problem.value(r.lit)))
            .map(|r| r.value)
    };
    match ty {
        FieldType::Bool => {
            Value::Bool(vars.and_then(|v| v.value).is_some_and(|l| problem.value(l)))
        }
        FieldType::Int | FieldType::Duration => match region() {
            Some(Num::Int(i)) => Value::from(i),
            _ => Value::from(0),
        },
        FieldType::Timestamp => match region() {
            Some(Num::Int(i)) => Value::String(format_timestamp(i)),
            _ => Value::String(format_timestamp(0)),
        },
        FieldType::Float | FieldType::Percent => {
            let f = match region() {
                Some(Num::Float(f)) => f,
                _ => 0.0,
            };
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        FieldType::Str => match chosen_members().into_iter().next() {
            Some(text) => Value::String(text),
            None => Value::String(fresh.to_string()),
        },
        FieldType::Enum(e) => {
            let members = policy.enums.get(*e).map(|e| e.members.clone());
            let named: Vec<String> = vars
                .map(|v| v.members.iter().map(|(n, _)| n.clone()).collect())
                .unwrap_or_default();
            let chosen = chosen_members().into_iter().next().or_else(|| {
                // None of the members the policy names: any other one.
                members?.into_iter().find(|m| !named.contains(m))
            });
            chosen.map_or(Value::Null, Value::String)
        }
        FieldType::EnumSet(_) | FieldType::StrSet => {
            Value::Array(chosen_members().into_iter().map(Value::String).collect())
        }
    }
}

/// A string equal to none of the policy's literals: what "some other string" is.
fn fresh_string(policy: &Policy) -> String {
    let taken = |s: &str| policy.strings.iter().any(|t| t == s);
    let mut candidate = "other".to_string();
    let mut n = 1;
    while taken(&candidate) {
        candidate = format!("other-{n}");
        n += 1;
    }
    candidate
}

fn insert(object: &mut Map<String, Value>, segments: &[String], value: Value) {
    match segments {
        [] => {}
        [last] => {
            object.insert(last.clone(), value);
        }
        [head, rest @ ..] => {
            let entry = object
                .entry(head.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

/// The literals that fix the request the model describes, for blocking it when the
/// interpreter does not confirm it.
pub(super) fn defining_literals(problem: &Problem) -> Vec<batsat::Lit> {
    let mut lits = Vec::new();
    let mut fix = |l: batsat::Lit| lits.push(if problem.value(l) { l } else { !l });
    for vars in problem.fields.values() {
        vars.has.into_iter().for_each(&mut fix);
        vars.value.into_iter().for_each(&mut fix);
        vars.regions.iter().for_each(|r| fix(r.lit));
        vars.members.iter().for_each(|(_, l)| fix(*l));
    }
    if let Some(d) = problem.degraded {
        fix(d);
    }
    lits
}
