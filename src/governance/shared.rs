//! State shared between replicas of a server: the trait the governor calls, so that
//! window counts add up across replicas and every state change reaches the others.
//! The Redis implementation lives with the server (`server::redis`).

use super::clock::Timestamp;
use super::store::StateWrite;
use super::window::{Buckets, Tally};

/// What a governor shares with other replicas.
pub trait Shared: Send + Sync + std::fmt::Debug {
    /// Counts one judged decision in a trigger's shared window (`hit`: its predicate
    /// held; `total`: a `rate` trigger counts every decision) and returns the window's
    /// counts across all replicas, or `None` when the shared store cannot be reached —
    /// the governor then counts on its own (fail-safe, reported in `/healthz`).
    fn count(
        &self,
        trigger: &str,
        key: Option<&str>,
        buckets: Buckets,
        now: Timestamp,
        hit: bool,
        total: bool,
    ) -> Option<Tally>;

    /// Tells the other replicas about state rows this one changed; true when the
    /// shared store acknowledged them (otherwise they are retried until it does).
    fn publish(&self, writes: &[StateWrite]) -> bool;

    /// A report number no other replica gives out, never below `floor` (the next one
    /// this runtime would give): from the shared store, or — while it cannot be
    /// reached — from this replica's own range, at or above [`REPLICA_RANGE`].
    fn report_id(&self, floor: u64) -> u64;

    /// Claims an event's id for `horizon_secs` on behalf of this replica: false when
    /// another replica took it first (the event is a repeat). True when the shared
    /// store cannot be reached: the event then counts here, since counting one twice
    /// errs toward reporting, and missing one would not.
    fn claim_event(&self, kind: &str, id: &str, horizon_secs: u64) -> bool;

    /// Gives back a claim this replica made for an event it could not keep (its store
    /// refused it), so that the host's retry, wherever it lands, is counted.
    fn release_event(&self, kind: &str, id: &str);
}

/// Report numbers from here up are a replica's own, given while the shared store was
/// unreachable: `REPLICA_RANGE × (replica + 1) + n`. Below it they come from the
/// shared store's counter.
pub const REPLICA_RANGE: u64 = 1 << 40;
