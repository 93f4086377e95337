//! Expressions the logic does not read exactly, described for a reader of `bylaw
//! verify`'s answer: what the expression is and which fields it reads.

use crate::ir::{Expr, Policy, StrFunc};

/// "`starts_with` over `model.id`", "arithmetic over `a`, `b`".
pub(super) fn expr(policy: &Policy, e: &Expr) -> String {
    let mut fields = Vec::new();
    let mut what = None;
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            Expr::Load { slot, .. } | Expr::Has { slot } | Expr::Coalesce { slot, .. } => {
                if let Some(f) = policy.fields.get(*slot as usize)
                    && !fields.contains(&f.path)
                {
                    fields.push(f.path.clone());
                }
            }
            Expr::InEnumSet { slot, .. } | Expr::InStrSet { slot, .. } => {
                if let Some(f) = policy.fields.get(*slot as usize)
                    && !fields.contains(&f.path)
                {
                    fields.push(f.path.clone());
                }
            }
            _ => {}
        }
        if what.is_none() {
            what = construct(policy, e);
        }
        stack.extend(e.children());
    }
    let what = what.unwrap_or_else(|| "a comparison of two values".to_string());
    if fields.is_empty() {
        return what;
    }
    let fields: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    format!("{what} over {}", fields.join(", "))
}

fn construct(policy: &Policy, e: &Expr) -> Option<String> {
    let name = match e {
        Expr::StrCall { call, .. } => {
            let func = policy.calls.str_calls.get(*call as usize)?.func;
            match func {
                StrFunc::StartsWith => "`starts_with`",
                StrFunc::EndsWith => "`ends_with`",
                StrFunc::Contains => "`contains`",
                StrFunc::Equals => "a comparison under `lower`/`upper`",
                StrFunc::Matches(_) => "`matches`",
                StrFunc::Len => "`len` of a string",
                StrFunc::InSet => "membership under `lower`/`upper`",
            }
        }
        Expr::Arith { .. } | Expr::Neg { .. } => "arithmetic",
        Expr::SetLen { .. } => "`len` of a set",
        Expr::SetRel { .. } => "a relation of two sets",
        Expr::Abs { .. } => "`abs`",
        Expr::MinMax { max: true, .. } => "`max`",
        Expr::MinMax { max: false, .. } => "`min`",
        Expr::FloatToInt { .. } => "`int`",
        Expr::TimeCall { weekday: true, .. } => "`weekday`",
        Expr::TimeCall { weekday: false, .. } => "`hour_of_day`",
        _ => return None,
    };
    Some(name.to_string())
}

/// The expression in a form that is the same in two versions of a policy whenever the
/// expression is: fields by path, strings by text, tiers by name, patterns by source —
/// not by slots and ids, which each version numbers its own way.
pub(super) fn canonical(policy: &Policy, e: &Expr) -> String {
    let path = |slot: &u32| {
        policy
            .fields
            .get(*slot as usize)
            .map_or_else(|| format!("slot{slot}"), |f| f.path.clone())
    };
    let text = |id: &u32| {
        policy
            .strings
            .get(*id as usize)
            .map_or_else(|| format!("str{id}"), |s| format!("{s:?}"))
    };
    let head = match e {
        Expr::Bool(b) => return b.to_string(),
        Expr::Int(i) => return i.to_string(),
        Expr::Float(f) => return format!("{f:?}"),
        Expr::Str(id) => return text(id),
        Expr::Enum(m) => return format!("member{m}"),
        Expr::Tier(t) => {
            return policy
                .tiers
                .get(*t as usize)
                .map_or_else(|| format!("tier{t}"), |t| format!("tier:{}", t.name));
        }
        Expr::Load { slot, kind } => return format!("{}:{kind:?}", path(slot)),
        Expr::Has { slot } => return format!("has:{}", path(slot)),
        Expr::Degraded => return "degraded".to_string(),
        Expr::CurrentTier => return "tier".to_string(),
        Expr::StrSet(i) => {
            let items: Vec<String> = policy
                .calls
                .str_sets
                .get(*i as usize)
                .map(|ids| ids.iter().map(&text).collect())
                .unwrap_or_default();
            return format!("{{{}}}", items.join(","));
        }
        Expr::Coalesce { slot, kind, .. } => format!("coalesce:{}:{kind:?}", path(slot)),
        Expr::Not(_) => "not".to_string(),
        Expr::And(..) => "and".to_string(),
        Expr::Or(..) => "or".to_string(),
        Expr::Cmp { op, kind, .. } => format!("cmp:{op:?}:{kind:?}"),
        Expr::Arith { op, kind, .. } => format!("arith:{op:?}:{kind:?}"),
        Expr::Neg { kind, .. } => format!("neg:{kind:?}"),
        Expr::IntToFloat(_) => "float".to_string(),
        Expr::InEnumSet { slot, .. } => format!("in:{}", path(slot)),
        Expr::InStrSet { slot, .. } => format!("in:{}", path(slot)),
        Expr::InMask { mask, .. } => format!("mask:{mask}"),
        Expr::InList { kind, .. } => format!("list:{kind:?}"),
        Expr::StrCall { call, .. } => match policy.calls.str_calls.get(*call as usize) {
            Some(spec) => {
                let func = match spec.func {
                    StrFunc::Matches(p) => policy.calls.patterns.get(p as usize).map_or_else(
                        || format!("matches{p}"),
                        |p| format!("matches:{:?}", p.source),
                    ),
                    other => format!("{other:?}"),
                };
                format!("call:{func}:{:?}:{:?}", spec.a_cases, spec.b_cases)
            }
            None => format!("call{call}"),
        },
        Expr::SetRel { all, strings, .. } => format!("setrel:{all}:{strings}"),
        Expr::SetLen { strings, .. } => format!("setlen:{strings}"),
        Expr::Abs { kind, .. } => format!("abs:{kind:?}"),
        Expr::MinMax { max, kind, .. } => format!("minmax:{max}:{kind:?}"),
        Expr::FloatToInt { .. } => "int".to_string(),
        Expr::TimeCall { weekday, zone, .. } => {
            let zone = policy
                .calls
                .zones
                .get(*zone as usize)
                .map_or_else(|| format!("zone{zone}"), |z| z.name.clone());
            format!("time:{weekday}:{zone}")
        }
    };
    let children: Vec<String> = e
        .children()
        .into_iter()
        .map(|c| canonical(policy, c))
        .collect();
    format!("({head} {})", children.join(" "))
}
