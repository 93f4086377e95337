//! Lint rule `recovery-timeout-too-short`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::RecoveryTimeoutTooShort,
    level: Level::Warning,
    what: "A recovery whose `timeout` is shorter than its own ramp, so it can never complete.",
    why: "The timeout counts from the start of recovery; if the ramp alone takes longer, every recovery times out and falls back to suspended — the service can never come back.",
    bad: "recovery {\n  approve by \"on-call\"\n  ramp 10%, 50%, 100% every 1h\n  timeout 2h\n}",
    good: "recovery {\n  approve by \"on-call\"\n  ramp 10%, 50%, 100% every 1h\n  timeout 4h\n}",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    use crate::runtime::decision::human_duration;
    for service in &cx.program.services {
        let Some(r) = &service.recovery else { continue };
        let (Some(timeout), Some(every)) = (r.timeout_secs, r.ramp_every_secs) else {
            continue;
        };
        let ramp = every.saturating_mul(r.ramp.len() as u64);
        if timeout < ramp {
            out.push(
                Finding::new(
                    service.span,
                    format!(
                        "service `{}` can never recover: its ramp takes {}, its timeout is {}",
                        service.name,
                        human_duration(ramp),
                        human_duration(timeout)
                    ),
                    "timeout shorter than the ramp",
                )
                .help(format!(
                    "make the timeout longer than {} plus the time approvals take",
                    human_duration(ramp)
                )),
            );
        }
    }
}
