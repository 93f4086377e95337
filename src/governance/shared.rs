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
}
