//! One file per lint rule, in code order.

mod boolean_literal_comparison;
mod constant_set_relation;
mod degraded_never_set;
mod duplicate_rule;
mod duty_never_applies;
mod empty_duty;
mod empty_message;
mod float_equality;
mod ineffective_rule;
mod missing_cite_duty;
mod missing_cite_rule;
mod missing_default;
mod negated_comparison;
mod no_longer_in_force;
mod no_tests;
mod pattern_never_matches;
mod ramp_not_ending_at_100;
mod recovery_timeout_too_short;
mod recovery_without_approval;
mod require_always_holds;
mod service_without_fallback;
mod shadowed_rule;
mod single_item_in;
mod suspend_without_recovery;
mod tautology;
mod threshold_out_of_range;
mod unreachable_tier;
mod unsatisfiable_condition;
mod unused_def;
mod unused_enum;
mod unused_field;
mod unused_fixture;
mod vague_cite;

use super::{Context, Finding, RuleDoc};

type Check = fn(&Context, &mut Vec<Finding>);

/// Every rule: its documentation and its check.
pub static ALL: &[(&RuleDoc, Check)] = &[
    (&unreachable_tier::DOC, unreachable_tier::check),
    (&duplicate_rule::DOC, duplicate_rule::check),
    (&shadowed_rule::DOC, shadowed_rule::check),
    (
        &unsatisfiable_condition::DOC,
        unsatisfiable_condition::check,
    ),
    (&tautology::DOC, tautology::check),
    (&duty_never_applies::DOC, duty_never_applies::check),
    (&require_always_holds::DOC, require_always_holds::check),
    (&ineffective_rule::DOC, ineffective_rule::check),
    (
        &suspend_without_recovery::DOC,
        suspend_without_recovery::check,
    ),
    (
        &recovery_without_approval::DOC,
        recovery_without_approval::check,
    ),
    (&ramp_not_ending_at_100::DOC, ramp_not_ending_at_100::check),
    (&float_equality::DOC, float_equality::check),
    (&unused_field::DOC, unused_field::check),
    (&unused_def::DOC, unused_def::check),
    (&unused_fixture::DOC, unused_fixture::check),
    (&missing_cite_rule::DOC, missing_cite_rule::check),
    (&missing_cite_duty::DOC, missing_cite_duty::check),
    (&missing_default::DOC, missing_default::check),
    (&threshold_out_of_range::DOC, threshold_out_of_range::check),
    (
        &recovery_timeout_too_short::DOC,
        recovery_timeout_too_short::check,
    ),
    (&no_tests::DOC, no_tests::check),
    (&negated_comparison::DOC, negated_comparison::check),
    (
        &boolean_literal_comparison::DOC,
        boolean_literal_comparison::check,
    ),
    (&single_item_in::DOC, single_item_in::check),
    (&degraded_never_set::DOC, degraded_never_set::check),
    (
        &service_without_fallback::DOC,
        service_without_fallback::check,
    ),
    (&empty_duty::DOC, empty_duty::check),
    (&vague_cite::DOC, vague_cite::check),
    (&empty_message::DOC, empty_message::check),
    (&unused_enum::DOC, unused_enum::check),
    (&pattern_never_matches::DOC, pattern_never_matches::check),
    (&constant_set_relation::DOC, constant_set_relation::check),
    (&no_longer_in_force::DOC, no_longer_in_force::check),
];
