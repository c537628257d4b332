//! What a platform exports: [`Stats`], summed from per-shard event tallies.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

#[cfg(doc)]
use crate::{RouteKind, Router};

/// Counters a platform exports, summed when read.
///
/// Route counts only grow. In-flight gauges and `live_entries` describe the moment of the
/// read; with no permit out, both in-flight gauges are zero.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Generation of the current snapshot.
    pub generation: u64,
    /// Routes of kind [`RouteKind::Reserved`].
    pub routes_reserved: u64,
    /// Routes of kind [`RouteKind::Unreserved`].
    pub routes_unreserved: u64,
    /// Routes of kind [`RouteKind::Spillover`].
    pub routes_spillover: u64,
    /// Calls that left the reserved arc for the unreserved one: spillover routes plus reserved
    /// calls that [`Router::on_throttle`] moved off the reserved arc (every slot holding
    /// environments tried, or the reservation lowered or removed meanwhile).
    pub spillovers: u64,
    /// Throttle reports ([`Router::on_throttle`] calls).
    pub throttles: u64,
    /// Throttle reports that found no further manager to try.
    pub throttles_exhausted: u64,
    /// Times an unreserved arc gained a manager.
    pub arc_grows: u64,
    /// Times an unreserved arc lost a manager.
    pub arc_shrinks: u64,
    /// Live entries evicted as idle.
    pub evictions: u64,
    /// Routes refused because no manager was healthy.
    pub no_manager: u64,
    /// Calls in flight on reserved arcs.
    pub in_flight_reserved: u64,
    /// Calls in flight on unreserved arcs.
    pub in_flight_unreserved: u64,
    /// Tasks and groups with live state.
    pub live_entries: u64,
    /// Tasks with a reservation.
    pub reserved_tasks: u64,
}

impl Stats {
    /// Adds one shard's tallies.
    pub(crate) fn add(&mut self, t: &Tallies) {
        self.routes_reserved += t.reserved.load(Relaxed);
        self.routes_unreserved += t.unreserved.load(Relaxed);
        self.routes_spillover += t.spillover.load(Relaxed);
        self.spillovers += t.spillover.load(Relaxed) + t.spilled_on_throttle.load(Relaxed);
        self.throttles += t.throttles.load(Relaxed);
        self.throttles_exhausted += t.throttles_exhausted.load(Relaxed);
        self.arc_grows += t.grows.load(Relaxed);
        self.arc_shrinks += t.shrinks.load(Relaxed);
        self.evictions += t.evictions.load(Relaxed);
        self.no_manager += t.no_manager.load(Relaxed);
    }
}

/// Monotonic event tallies of one live-map shard; summed into [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Tallies {
    pub(crate) reserved: AtomicU64,
    pub(crate) unreserved: AtomicU64,
    pub(crate) spillover: AtomicU64,
    pub(crate) spilled_on_throttle: AtomicU64,
    pub(crate) throttles: AtomicU64,
    pub(crate) throttles_exhausted: AtomicU64,
    pub(crate) grows: AtomicU64,
    pub(crate) shrinks: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) no_manager: AtomicU64,
}

/// Counts one event.
pub(crate) fn bump(tally: &AtomicU64) {
    tally.fetch_add(1, Relaxed);
}
