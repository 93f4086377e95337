//! Lint rule `suspend-without-recovery`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::SuspendWithoutRecovery,
    level: Level::Warning,
    what: "A trigger that suspends a service that has no `recovery` block.",
    why: "Suspension is meant to be followed by a controlled return. Without `recovery`, a service suspended `for D` comes back at full traffic with no cooldown, approval or ramp — and one suspended without `for` stays down until an operator notices.",
    bad: "trigger wave {\n  when count(jailbreak > 0.8) within 10m >= 50\n  then suspend chat\n}\nservice chat { fallback \"faq\" }",
    good: "service chat {\n  fallback \"faq\"\n  recovery {\n    cooldown 30m\n    approve by \"safety-officer\"\n    ramp 10%, 50%, 100% every 10m\n  }\n}",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::check::program::Action;
    for trigger in &cx.program.triggers {
        for action in &trigger.actions {
            let Action::Suspend { service, for_secs } = action else {
                continue;
            };
            let Some(s) = cx.program.services.get(*service) else {
                continue;
            };
            if s.recovery.is_none() {
                let what = match for_secs {
                    Some(_) => {
                        "comes back at full traffic when the suspension ends, with no cooldown, approval or ramp"
                    }
                    None => "stays suspended until an operator resumes it",
                };
                out.push(
                    Finding::new(trigger.span, format!("trigger `{}` suspends `{}`, which has no `recovery` block: it {what}", trigger.name, s.name), "suspends a service without recovery")
                        .help(format!("give `service {}` a `recovery {{ cooldown …  approve by \"…\"  ramp … }}` block", s.name)),
                );
            }
        }
    }
}
