//! A stable text form of the IR, for `bylaw ir` and snapshot tests.

use std::fmt::Write;

use super::{Action, ArithOp, Expr, FieldType, Kind, Policy, StrFunc, Threshold};

pub fn print(policy: &Policy) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "policy {} version {:?}", policy.name, policy.version);
    let _ = writeln!(out, "default {}", policy.default.as_str());
    for (i, e) in policy.enums.iter().enumerate() {
        let _ = writeln!(out, "enum #{i} {} {{ {} }}", e.name, e.members.join(", "));
    }
    for (slot, f) in policy.fields.iter().enumerate() {
        let ty = match &f.ty {
            FieldType::Bool => "bool".to_string(),
            FieldType::Int => "int".to_string(),
            FieldType::Float => "float".to_string(),
            FieldType::Str => "string".to_string(),
            FieldType::Duration => "duration".to_string(),
            FieldType::Percent => "percent".to_string(),
            FieldType::Timestamp => "timestamp".to_string(),
            FieldType::Enum(id) => format!("enum #{id}"),
            FieldType::EnumSet(id) => format!("set<enum #{id}>"),
            FieldType::StrSet => "set<string>".to_string(),
        };
        let opt = if f.optional { "?" } else { "" };
        let default = f
            .default
            .map(|bits| format!(" = bits {bits:#x}"))
            .unwrap_or_default();
        let clock = if f.clock { " clock" } else { "" };
        let sensitive = if f.sensitive { " sensitive" } else { "" };
        let _ = writeln!(
            out,
            "slot {slot} {}: {ty}{opt}{default}{clock}{sensitive}",
            f.path
        );
    }
    for (i, s) in policy.strings.iter().enumerate() {
        let _ = writeln!(out, "string #{i} {s:?}");
    }
    for (i, p) in policy.calls.patterns.iter().enumerate() {
        let _ = writeln!(
            out,
            "pattern #{i} {:?} ({} states)",
            p.source,
            p.table().is_match.len()
        );
    }
    for (i, zone) in policy.calls.zones.iter().enumerate() {
        let _ = writeln!(
            out,
            "zone #{i} {:?} ({} offsets)",
            zone.name,
            zone.offsets.len()
        );
    }
    for (i, set) in policy.calls.str_sets.iter().enumerate() {
        let items: Vec<String> = set.iter().map(|id| format!("str#{id}")).collect();
        let _ = writeln!(out, "strset #{i} {{{}}}", items.join(" "));
    }
    for (i, t) in policy.tiers.iter().enumerate() {
        match &t.cond {
            Some(c) => {
                let _ = writeln!(out, "tier {i} {} when {}", t.name, expr(policy, c));
            }
            None => {
                let _ = writeln!(out, "tier {i} {} otherwise", t.name);
            }
        }
    }
    for (i, r) in policy.rules.iter().enumerate() {
        let _ = writeln!(
            out,
            "rule {i} {} when {}",
            r.outcome.as_str(),
            expr(policy, &r.cond)
        );
    }
    for (i, d) in policy.duties.iter().enumerate() {
        let _ = write!(out, "duty {i} {}", d.name);
        if let Some(mask) = d.tier_mask {
            let tiers: Vec<String> = (0..64)
                .filter(|t| mask & (1 << t) != 0)
                .map(|t| t.to_string())
                .collect();
            let _ = write!(out, " tiers [{}]", tiers.join(", "));
        }
        if let Some(w) = &d.when {
            let _ = write!(out, " when {}", expr(policy, w));
        }
        let _ = writeln!(out);
        for (j, r) in d.requires.iter().enumerate() {
            let _ = writeln!(
                out,
                "  require {} {} else {}",
                d.first_require + j,
                expr(policy, &r.cond),
                r.outcome.as_str()
            );
        }
        if let Some(secs) = d.retain_secs {
            let _ = writeln!(out, "  retain {secs}s");
        }
        for r in &d.reports {
            let _ = writeln!(out, "  report {:?} within {}s", r.recipient, r.within_secs);
        }
    }
    for (i, t) in policy.triggers.iter().enumerate() {
        let threshold = match t.threshold {
            Threshold::Count(n) => n.to_string(),
            Threshold::Rate(r) => format!("{r}%"),
        };
        let mut by = t
            .by_slot
            .map(|s| format!(" by slot {s}"))
            .unwrap_or_default();
        if t.min_decisions > 0 {
            by.push_str(&format!(" min {}", t.min_decisions));
        }
        let _ = writeln!(
            out,
            "trigger {i} {} {:?}({}) within {}s{by} {} {threshold}",
            t.name,
            t.kind,
            expr(policy, &t.cond),
            t.within_secs,
            t.op.as_str()
        );
        for a in &t.actions {
            let text = match a {
                Action::Suspend { service, for_secs } => match for_secs {
                    Some(s) => format!("suspend service {service} for {s}s"),
                    None => format!("suspend service {service}"),
                },
                Action::Degrade { service } => format!("degrade service {service}"),
                Action::Notify { channel } => format!("notify {channel:?}"),
                Action::Report {
                    recipient,
                    within_secs,
                    per_event,
                } => format!(
                    "report {recipient:?} within {within_secs}s{}",
                    if *per_event { " per event" } else { "" }
                ),
                Action::Block { key_slot, for_secs } => {
                    format!("block slot {key_slot} for {for_secs}s")
                }
            };
            let _ = writeln!(out, "  then {text}");
        }
    }
    for (i, s) in policy.services.iter().enumerate() {
        let _ = writeln!(out, "service {i} {} fallback {:?}", s.name, s.fallback);
    }
    for (i, kind) in policy.events.iter().enumerate() {
        let slot = |s: Option<u32>| s.map_or("none".to_string(), |s| format!("slot {s}"));
        let _ = writeln!(
            out,
            "event {i} {} id {} aware_at {} {{",
            kind.name,
            slot(kind.id_slot),
            slot(kind.aware_slot)
        );
        // The kind's own fields, literals and triggers, indented; not its header.
        for line in print(&kind.policy)
            .lines()
            .skip(2)
            .filter(|l| !l.starts_with("enum "))
        {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "}}");
    }
    out
}

fn kind(k: Kind) -> &'static str {
    match k {
        Kind::Bool => "bool",
        Kind::Int => "int",
        Kind::Float => "float",
        Kind::Str => "str",
        Kind::Enum => "enum",
        Kind::Tier => "tier",
    }
}

fn expr(policy: &Policy, e: &Expr) -> String {
    stacker::maybe_grow(64 * 1024, 1024 * 1024, || expr_inner(policy, e))
}

fn expr_inner(policy: &Policy, e: &Expr) -> String {
    match e {
        Expr::Bool(b) => b.to_string(),
        Expr::Int(i) => i.to_string(),
        Expr::Float(f) => format!("{f:?}"),
        Expr::Str(id) => format!("str#{id}"),
        Expr::Enum(m) => format!("member#{m}"),
        Expr::Tier(t) => format!("tier#{t}"),
        Expr::Load { slot, kind: k } => format!("(load.{} {slot})", kind(*k)),
        Expr::Has { slot } => format!("(has {slot})"),
        Expr::Coalesce {
            slot,
            kind: k,
            default,
        } => {
            format!("(coalesce.{} {slot} {})", kind(*k), expr(policy, default))
        }
        Expr::Degraded => "degraded".to_string(),
        Expr::CurrentTier => "tier".to_string(),
        Expr::Not(a) => format!("(not {})", expr(policy, a)),
        Expr::And(a, b) => format!("(and {} {})", expr(policy, a), expr(policy, b)),
        Expr::Or(a, b) => format!("(or {} {})", expr(policy, a), expr(policy, b)),
        Expr::Cmp { op, kind: k, a, b } => {
            format!(
                "({}.{} {} {})",
                op.as_str(),
                kind(*k),
                expr(policy, a),
                expr(policy, b)
            )
        }
        Expr::Arith {
            op,
            kind: k,
            a,
            b,
            site,
        } => {
            let op = match op {
                ArithOp::Add => "+",
                ArithOp::Sub => "-",
                ArithOp::Mul => "*",
                ArithOp::Div => "/",
                ArithOp::Rem => "%",
            };
            format!(
                "({op}.{} {} {} @{site})",
                kind(*k),
                expr(policy, a),
                expr(policy, b)
            )
        }
        Expr::Neg { kind: k, a, site } => format!("(neg.{} {} @{site})", kind(*k), expr(policy, a)),
        Expr::IntToFloat(a) => format!("(float {})", expr(policy, a)),
        Expr::InEnumSet { elem, slot } => format!("(in.enumset {} {slot})", expr(policy, elem)),
        Expr::InStrSet { elem, slot } => format!("(in.strset {} {slot})", expr(policy, elem)),
        Expr::InMask { elem, mask } => format!("(in.mask {} {mask:#x})", expr(policy, elem)),
        Expr::InList {
            elem,
            kind: k,
            items,
        } => {
            let items: Vec<String> = items.iter().map(|i| expr(policy, i)).collect();
            format!(
                "(in.{} {} [{}])",
                kind(*k),
                expr(policy, elem),
                items.join(" ")
            )
        }
        Expr::StrCall { call, a, b, site } => str_call(policy, *call, a, b.as_deref(), *site),
        Expr::StrSet(i) => format!("strset#{i}"),
        Expr::SetRel { all, strings, a, b } => format!(
            "({}.{} {} {})",
            if *all { "contains_all" } else { "contains_any" },
            if *strings { "strset" } else { "enumset" },
            expr(policy, a),
            expr(policy, b)
        ),
        Expr::SetLen { strings, a } => format!(
            "(len.{} {})",
            if *strings { "strset" } else { "enumset" },
            expr(policy, a)
        ),
        Expr::Abs { kind: k, a, site } => format!("(abs.{} {} @{site})", kind(*k), expr(policy, a)),
        Expr::MinMax { max, kind: k, a, b } => format!(
            "({}.{} {} {})",
            if *max { "max" } else { "min" },
            kind(*k),
            expr(policy, a),
            expr(policy, b)
        ),
        Expr::FloatToInt { a, site } => format!("(int {} @{site})", expr(policy, a)),
        Expr::TimeCall {
            weekday,
            zone,
            a,
            site,
        } => format!(
            "({} {} zone#{zone} @{site})",
            if *weekday { "weekday" } else { "hour_of_day" },
            expr(policy, a)
        ),
    }
}

/// `(starts_with lower(str#1) str#2 @3)`: the function, each operand under its case
/// mappings, the failure site.
fn str_call(policy: &Policy, call: u32, a: &Expr, b: Option<&Expr>, site: u32) -> String {
    let Some(spec) = policy.calls.str_calls.get(call as usize) else {
        return format!("(call#{call}?)");
    };
    let operand = |e: &Expr, cases: &[crate::builtins::strings::Case]| {
        cases
            .iter()
            .fold(expr(policy, e), |inner, c| format!("{}({inner})", c.name()))
    };
    let name = match spec.func {
        StrFunc::StartsWith => "starts_with".to_string(),
        StrFunc::EndsWith => "ends_with".to_string(),
        StrFunc::Contains => "contains".to_string(),
        StrFunc::Equals => "equals".to_string(),
        StrFunc::Matches(p) => format!("matches pattern#{p}"),
        StrFunc::Len => "len".to_string(),
        StrFunc::InSet => "in".to_string(),
    };
    let mut text = format!("({name} {}", operand(a, &spec.a_cases));
    if let Some(b) = b {
        text.push(' ');
        text.push_str(&operand(b, &spec.b_cases));
    }
    let _ = write!(text, " @{site})");
    text
}
