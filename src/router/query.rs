//! Queries: each loads the current snapshot once.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::{Router, RouterConfig};
use crate::clock::Clock;
use crate::id::{GroupId, ManagerId, TaskId};
use crate::reservation::Reservation;
use crate::ring::Ring;
use crate::route::ReservedSlot;
use crate::stats::Stats;

#[cfg(doc)]
use crate::Counting;

/// Queries: each loads the current snapshot once.
impl<C: Clock> Router<C> {
    /// Generation of the current snapshot; every publish adds one.
    pub fn generation(&self) -> u64 {
        self.snapshot.load().generation
    }

    /// The current ring.
    pub fn ring(&self) -> Arc<Ring> {
        Arc::clone(&self.snapshot.load().ring)
    }

    /// The config in use.
    pub fn config(&self) -> RouterConfig {
        self.snapshot.load().config()
    }

    /// Version of the fleet config last applied or built from ([`Router::apply_config`]), if
    /// any: what a frontend exports to show which config it runs.
    pub fn fleet_version(&self) -> Option<u64> {
        self.snapshot.load().applied.as_ref().map(|c| c.version)
    }

    /// Whether `id` is in the fleet and healthy.
    pub fn is_healthy(&self, id: ManagerId) -> bool {
        let snap = self.snapshot.load();
        snap.health.is_healthy(&snap.ring, id)
    }

    /// `task`'s reservation, if it has one.
    pub fn reservation(&self, task: TaskId) -> Option<Reservation> {
        self.snapshot.load().reservations.get(task)
    }

    /// `task`'s Reserved calls in flight through this router: what a frontend sends to the
    /// host's counting service for [`Counting::Global`]. Does not mark the task used.
    pub fn reserved_in_flight(&self, task: TaskId) -> u32 {
        self.live
            .get(task.get())
            .map_or(0, |live| live.reserved_in_flight())
    }

    /// For the host's provisioning side: the managers of `task`'s reserved arc, in arc order,
    /// and how many reserved environments each should hold (the limit split evenly). Empty
    /// when the task has no reservation or no manager is healthy. O(log P + len).
    pub fn reserved_arc(&self, task: TaskId) -> Vec<ReservedSlot> {
        let snap = self.snapshot.load();
        let Some(res) = snap.reservations.get(task) else {
            return Vec::new();
        };
        let len = snap.reserved_len(res);
        let start = snap.ring.reserved_start(task);
        (0..)
            .zip(snap.ring.arc_with(start, len, &snap.health))
            .map(|(slot, manager)| ReservedSlot {
                manager,
                environments: snap.assigner.environments_at(res.limit, len, slot),
            })
            .collect()
    }

    /// The managers of `group`'s unreserved arc at its current live length (the minimum
    /// length if the group has no live state), in arc order. O(log P + len).
    pub fn unreserved_arc(&self, group: GroupId) -> Vec<ManagerId> {
        let snap = self.snapshot.load();
        let len = self
            .live
            .get(group.get())
            .map_or(snap.fresh().arc_len, |live| live.arc_len.load(Relaxed));
        let start = snap.ring.unreserved_start(group);
        snap.ring.arc_with(start, len, &snap.health).collect()
    }

    /// Counters and gauges, summed over the routing threads' tallies (64 stripes) and the live
    /// map's shards. O(stripes + shards + live entries).
    ///
    /// # Examples
    /// ```
    /// use arcroute::{ManagerId, Router, TaskId};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let router = Router::builder()
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .build()?;
    /// let route = router.route(TaskId::new(1)).expect("a healthy manager");
    /// let stats = router.stats();
    /// assert_eq!(stats.routes_unreserved, 1);
    /// assert_eq!(stats.in_flight_unreserved, 1);
    /// assert_eq!(stats.live_entries, 1);
    /// drop(route);
    /// assert_eq!(router.stats().in_flight_unreserved, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> Stats {
        let snap = self.snapshot.load();
        let mut s = Stats {
            generation: snap.generation,
            reserved_tasks: snap.reservations.len() as u64,
            ..Stats::default()
        };
        self.tallies.sum_into(&mut s);
        let totals = self.live.totals();
        s.evictions = totals.evictions;
        s.in_flight_reserved = totals.reserved;
        s.in_flight_unreserved = totals.unreserved;
        s.live_entries = totals.entries as u64;
        s
    }
}
