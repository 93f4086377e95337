"""Bylaw: policy-as-code for governing AI services.

Compile a policy once, then decide requests in well under a microsecond::

    import bylaw

    policy = bylaw.load("policy.bylaw")
    decision = policy.decide({"region": "EU", "user": {"age": 15}, ...})
    if decision.outcome != "allow":
        print(decision.reasons)

``bylaw.Governor`` adds the stateful runtime: rolling windows and triggers,
services that are suspended and recover, blocks, reports, events and the audit log.
"""

from ._bylaw import (
    Decision,
    Diagnostic,
    Duty,
    Governor,
    GovernorError,
    Policy,
    PolicyError,
    Reason,
    __version__,
    compile,
    load,
)

__all__ = [
    "Decision",
    "Diagnostic",
    "Duty",
    "Governor",
    "GovernorError",
    "Policy",
    "PolicyError",
    "Reason",
    "__version__",
    "compile",
    "load",
]
