//! Lint rule `ramp-not-ending-at-100`: see `DOC` below (and docs/lint-rules.md).

use crate::diagnostics::Code;
use crate::lint::{Context, Finding, Level, RuleDoc};

pub static DOC: RuleDoc = RuleDoc {
    code: Code::RampNotComplete,
    level: Level::Warning,
    what: "A recovery ramp whose last stage admits less than 100% of requests.",
    why: "After the last stage the service is fully active; a ramp that stops at 50% jumps from half to all traffic in one step, which is exactly what a ramp exists to avoid.",
    bad: "ramp 10%, 50% every 10m",
    good: "ramp 10%, 50%, 100% every 10m",
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for service in &cx.program.services {
        let Some(r) = &service.recovery else { continue };
        if let Some(last) = r.ramp.last()
            && *last < 100.0
        {
            out.push(Finding::new(service.span, format!("the ramp of service `{}` ends at {last}%: after it the service jumps to 100%", service.name), "ramp does not reach 100%").help("end the ramp with `100%`"));
        }
    }
}
