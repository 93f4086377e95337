//! The rich decision, expanded from an engine's compact result only when asked.

use serde::Serialize;

use super::record::InputError;
use crate::ir::{Compact, Loc, Policy, status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allow,
    Escalate,
    Suspended,
    Deny,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Escalate => "escalate",
            Outcome::Suspended => "suspended",
            Outcome::Deny => "deny",
        }
    }
}

impl From<crate::ast::Outcome> for Outcome {
    fn from(o: crate::ast::Outcome) -> Self {
        match o {
            crate::ast::Outcome::Allow => Outcome::Allow,
            crate::ast::Outcome::Escalate => Outcome::Escalate,
            crate::ast::Outcome::Deny => Outcome::Deny,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportDue {
    pub recipient: String,
    pub within_seconds: u64,
    pub within: String,
}

/// A duty that applies to the request, met or not, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DutyStatus {
    pub id: String,
    pub met: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retain_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retain: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<ReportDue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cite: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasonKind {
    Tier,
    Rule,
    Duty,
    /// The request could not be judged (overflow, division by zero, no audit log).
    Failure,
    /// The request's service is suspended or not yet admitted by its recovery ramp.
    Service,
    /// The request's key is blocked.
    Block,
}

/// Something that contributed to the decision, and where the policy says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub kind: ReasonKind,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cite: Option<String>,
    pub line: u32,
    pub column: u32,
}

/// The state of the service a request targets, when the runtime governs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceStatus {
    pub name: String,
    /// `active`, `degraded`, `suspended` or `recovering`.
    pub state: String,
    /// Set when the request gets the fallback instead of the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// Which policy decided: what a decision log or an audit record needs to find the
/// exact text again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRef {
    pub name: String,
    pub version: String,
    /// SHA-256 of the policy file's text, hex.
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// A UUID v7, set by the runtime (`governance::Governor`) on every decision it
    /// makes; a bare guard's decision (`bylaw eval`) is a pure function and has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// The policy that decided, with the id: shared by all of a governor's decisions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<std::sync::Arc<PolicyRef>>,
    /// When it was decided (RFC 3339), with the id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    pub outcome: Outcome,
    pub tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceStatus>,
    pub duties: Vec<DutyStatus>,
    pub reasons: Vec<Reason>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<InputError>,
}

impl Decision {
    /// An invalid request: denied, no tier, no duties, every bad field named.
    pub fn invalid(errors: Vec<InputError>) -> Decision {
        Decision {
            decision_id: None,
            policy: None,
            at: None,
            outcome: Outcome::Deny,
            tier: None,
            service: None,
            duties: Vec::new(),
            reasons: Vec::new(),
            errors,
        }
    }

    /// The outcome and tier of an engine's compact result, without expanding the rest
    /// (a failure is a deny without a tier, as [`Decision::expand`] makes it).
    pub fn summary<'p>(policy: &'p Policy, compact: &Compact) -> (Outcome, Option<&'p str>) {
        if compact.status() != status::OK {
            return (Outcome::Deny, None);
        }
        let tier = compact
            .tier()
            .and_then(|t| policy.tiers.get(t))
            .map(|t| t.name.as_str());
        (compact.outcome().into(), tier)
    }

    /// Expands an engine's compact result.
    pub fn expand(policy: &Policy, compact: &Compact) -> Decision {
        let layout = policy.layout;
        if compact.status() != status::OK {
            return failure(policy, compact);
        }
        let tier = compact.tier().and_then(|t| policy.tiers.get(t));
        let mut reasons = Vec::new();
        if let Some(t) = tier {
            reasons.push(Reason {
                kind: ReasonKind::Tier,
                id: t.name.clone(),
                outcome: None,
                message: match t.cond {
                    Some(_) => format!("tier `{}`: its condition holds", t.name),
                    None => format!("tier `{}`: no earlier tier matched", t.name),
                },
                cite: t.cite.clone(),
                line: t.loc.line,
                column: t.loc.column,
            });
        }
        for (i, rule) in policy.rules.iter().enumerate() {
            if compact.bit(layout.rules, i) {
                reasons.push(Reason {
                    kind: ReasonKind::Rule,
                    id: rule.id.clone(),
                    outcome: Some(rule.outcome.into()),
                    message: rule.because.clone(),
                    cite: rule.cite.clone(),
                    line: rule.loc.line,
                    column: rule.loc.column,
                });
            }
        }
        let mut duties = Vec::new();
        for (i, duty) in policy.duties.iter().enumerate() {
            if !compact.bit(layout.duties, i) {
                continue;
            }
            let mut met = true;
            for (j, require) in duty.requires.iter().enumerate() {
                if compact.bit(layout.requires, duty.first_require + j) {
                    met = false;
                    reasons.push(Reason {
                        kind: ReasonKind::Duty,
                        id: duty.name.clone(),
                        outcome: Some(require.outcome.into()),
                        message: require.message.clone(),
                        cite: duty.cites.first().cloned(),
                        line: require.loc.line,
                        column: require.loc.column,
                    });
                }
            }
            duties.push(DutyStatus {
                id: duty.name.clone(),
                met,
                retain_seconds: duty.retain_secs,
                retain: duty.retain_secs.map(human_duration),
                reports: duty
                    .reports
                    .iter()
                    .map(|r| ReportDue {
                        recipient: r.recipient.clone(),
                        within_seconds: r.within_secs,
                        within: human_duration(r.within_secs),
                    })
                    .collect(),
                notices: duty.notices.clone(),
                cite: duty.cites.clone(),
            });
        }
        Decision {
            decision_id: None,
            policy: None,
            at: None,
            outcome: compact.outcome().into(),
            tier: tier.map(|t| t.name.clone()),
            service: None,
            duties,
            reasons,
            errors: Vec::new(),
        }
    }

    /// A short account of why, for people.
    pub fn explain(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "outcome: {}", self.outcome.as_str());
        if let Some(tier) = &self.tier {
            let _ = writeln!(out, "tier: {tier}");
        }
        if let Some(service) = &self.service {
            let _ = write!(out, "service: {} ({})", service.name, service.state);
            if let Some(fallback) = &service.fallback {
                let _ = write!(out, ", fallback \"{fallback}\"");
            }
            let _ = writeln!(out);
        }
        for e in &self.errors {
            let _ = writeln!(out, "invalid: `{}`: {}", e.field, e.message);
        }
        for r in &self.reasons {
            let outcome = r
                .outcome
                .map(|o| format!("{} ", o.as_str()))
                .unwrap_or_default();
            let cite = r
                .cite
                .as_ref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            let kind = match r.kind {
                ReasonKind::Tier => "tier",
                ReasonKind::Rule => "rule",
                ReasonKind::Duty => "duty",
                ReasonKind::Failure => "failure",
                ReasonKind::Service => "service",
                ReasonKind::Block => "block",
            };
            let _ = writeln!(
                out,
                "  {outcome}{kind} {} (line {}): {}{cite}",
                r.id, r.line, r.message
            );
        }
        for d in &self.duties {
            let state = if d.met { "met" } else { "NOT met" };
            let _ = writeln!(out, "  duty {} applies: {state}", d.id);
        }
        if self.reasons.is_empty() && self.errors.is_empty() {
            let _ = writeln!(out, "  nothing fired: the policy's default applies");
        }
        out
    }
}

/// A failed evaluation's status as a reason id and a phrase: `("overflow", "integer
/// overflow")`.
pub fn failure_kind(status: u64) -> (&'static str, &'static str) {
    match status {
        status::OVERFLOW => ("overflow", "integer overflow"),
        status::DIVISION_BY_ZERO => ("division-by-zero", "division by zero"),
        _ => ("failure", "evaluation failure"),
    }
}

fn failure(policy: &Policy, compact: &Compact) -> Decision {
    let site = compact.word(crate::ir::Layout::SITE) as usize;
    let (id, what) = failure_kind(compact.status());
    let (message, loc) = match policy.sites.get(site) {
        Some(s) => (
            format!("{what} in `{}`: the request cannot be judged", s.text),
            s.loc,
        ),
        None => (
            format!("{what}: the request cannot be judged"),
            Loc::default(),
        ),
    };
    Decision {
        decision_id: None,
        policy: None,
        at: None,
        outcome: Outcome::Deny,
        tier: None,
        service: None,
        duties: Vec::new(),
        reasons: vec![Reason {
            kind: ReasonKind::Failure,
            id: id.to_string(),
            outcome: Some(Outcome::Deny),
            message,
            cite: None,
            line: loc.line,
            column: loc.column,
        }],
        errors: Vec::new(),
    }
}

/// `15552000` → `180d`; the largest unit that divides evenly.
pub fn human_duration(secs: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    for (size, unit) in UNITS {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}
