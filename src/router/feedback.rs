//! Host feedback: throttles, reported counts, fractions and loads, and idle eviction.

use super::{OwnShare, Router, Snapshot};
use crate::admission;
use crate::clock::Clock;
use crate::id::{ManagerId, TaskId};
use crate::live::RESERVED_TRACKED;
use crate::route::{Route, RouteKind};
use crate::stats::bump;
use crate::Error;

#[cfg(doc)]
use crate::{Counting, Pick, RouterConfig};

/// Throttles after which a Reserved call that no longer refits its own range spills over at
/// the next: with the retry budget most hosts give a call (3), its last try is then a spill,
/// which an unreserved arc with room takes, rather than another reserved manager that may be
/// as busy. Refits within the range are not bounded by it: each goes to a slot where this
/// frontend's counts say one of its environments is free.
const RESERVED_RETRIES: u32 = 2;

impl<C: Clock> Router<C> {
    /// Reports that the manager of `route` had no capacity for it, and moves the route to the
    /// next manager to try. Returns `false`, leaving the route as it was, once a route has
    /// been moved as many times as one less than the number of healthy managers (so at most
    /// as many attempts as healthy managers in all), or when none is healthy. Pass a route
    /// this router made: another router's route moves by this router's snapshot and share of
    /// the reserved environments, while its counts stay with the router that made it (and
    /// come back when it drops), so with routers that are different frontends it may land
    /// outside its own share.
    ///
    /// A reserved call counted on a slot of this frontend's share moves, with its count, to
    /// the next slot of the share with a place free by this frontend's counts; with none (or
    /// for a call counted on no slot) it walks on to the next slot of the reserved arc that
    /// holds environments, uncounted, while it has been throttled fewer than twice, and the
    /// next throttle spills it over to its group's unreserved arc (never back onto the
    /// manager that just throttled it: that call probes the next manager instead). A call
    /// that walks rather than refits thus spends at most two of the usual three retries on
    /// reserved managers, and its last try is a spill (see
    /// [`docs::frontends`](crate::docs::frontends)). A reserved call whose next slot is the
    /// manager that threw it back (the slots moved under it with a health or membership
    /// change) spills at once. A walk that wraps round a short reserved arc after a refit
    /// may come back to a manager it tried before (an arc of 4 slots of one environment
    /// each, slots 1 and 2 busy: slot 0, refit to 3, walk to 0); the two-throttle bound
    /// ends it.
    ///
    /// An unreserved or spillover call placed by [`Pick::Pack`](crate::Pick::Pack) moves to
    /// the next of the arc's first 8 members that Pack would fill, and marks the one it left
    /// full (passed over by the group's next calls until a call there ends). With none, it
    /// goes to the first manager past the arc if that manager's load, as last reported by
    /// [`Router::report_load`], is below the load of the manager that threw the call back: a
    /// group's burst fills the members that hold its calls together, and past the arc are
    /// none of them, but a manager there as busy as the full one (a fleet short of memory
    /// everywhere, or no load reported) is likely as full. Else, and from past the arc, the
    /// arc's last member or on an arc of every healthy manager, it probes the manager after
    /// its slot, wrapping after the last healthy manager to the arc's start and on through
    /// the arc without jumping past it again. Under the other picks a call probes the
    /// manager after its slot, past the arc's end if need be. An unreserved or spillover
    /// call never moves to the manager that threw it back either (a slot that names it since
    /// a health or membership change probes the manager after it), but a run that wraps may
    /// come back to one it tried before: with 4 healthy managers, an arc of 3 whose other
    /// members hold this frontend's quota and the fourth manager reporting less load than
    /// the first, a call thrown back by the first member tries the fourth, then the first
    /// again. The bound above still ends it. A throttle never widens the arc: it says one
    /// manager is full now, not that the group needs more managers for good, and arcs that
    /// widened on throttles spread hot groups over nearly every manager; the arc's length
    /// follows the load alone. O(log P + k) as [`Router::route`], k the slot probed.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{ManagerId, Router, TaskId};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let router = Router::builder()
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .build()?;
    /// let mut route = router.route(TaskId::new(1)).expect("a healthy manager");
    /// let full = route.manager();
    /// assert!(router.on_throttle(&mut route));
    /// assert_ne!(route.manager(), full);
    /// assert_eq!(route.retries(), 1);
    /// assert_eq!(router.stats().throttles, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_throttle(&self, route: &mut Route) -> bool {
        self.throttle_on(&self.snapshot.load(), route)
    }

    pub(crate) fn throttle_on(&self, snap: &Snapshot, route: &mut Route) -> bool {
        let tallies = self.tallies.here();
        bump(&tallies.throttles);
        let healthy = snap.healthy();
        if route.tries.saturating_add(1) >= healthy {
            bump(&tallies.throttles_exhausted);
            return false;
        }
        let now = || self.clock.now();
        // The manager that threw the call back, by its ring index under this snapshot: the
        // route's slot may name another one since a health or membership change.
        let thrower = snap.ring.index_of(route.manager);
        if route.kind == RouteKind::Reserved {
            // Never back onto the thrower (a slot that names it since a health or membership
            // change): such a call spills instead, its reserved count dropped with the permit.
            let retry = self.reserved_retry(snap, route);
            if let Some(next) = retry.filter(|&(_, index)| Some(index) != thrower) {
                route.advance(snap.seat(next));
                return true;
            }
            let live = self.live_of(route.group.get(), snap, &now);
            let Some((permit, at)) = self.place_unreserved(snap, live, &now, tallies, thrower)
            else {
                return false;
            };
            route.permit = permit; // drops the reserved count
            route.kind = RouteKind::Spillover;
            bump(&tallies.spilled_on_throttle);
            route.advance(snap.seat(at));
            return true;
        }
        let start = route.permit.live().unreserved_arc_start();
        let next = if route.permit.is_tracked() || snap.settings.pick == super::Pick::Pack {
            snap.probe_pack(route.permit.live(), route.slot, route.tries, thrower)
        } else {
            snap.probe(start, route.slot)
        };
        match next.and_then(|at| snap.other_than(start, at, thrower)) {
            Some(next) => {
                if route.permit.is_tracked() {
                    let full = route.slot;
                    route.permit.track(next.0);
                    // After the move: its leaving the slot is no call ending there.
                    route.permit.live().mark_full(full, snap.full_window());
                }
                route.advance(snap.seat(next));
                true
            }
            None => false,
        }
    }

    /// Where a throttled Reserved call tries next on its reserved arc, its count moved there,
    /// or `None` to spill it over. A call within this frontend's share (counted on a slot of
    /// its range) takes the next slot of the range with one of this frontend's environments
    /// free by its counts: the throttling manager's were all busy, so another frontend's
    /// call took one, and the slots after it may still hold free ones. Past its range, or
    /// admitted past the share (the sibling rule, or a global count's room), a call walks on
    /// to the next slot that holds environments, uncounted, until it has been throttled
    /// [`RESERVED_RETRIES`] times; the next throttle spills it.
    fn reserved_retry(&self, snap: &Snapshot, route: &mut Route) -> Option<(u32, u32)> {
        let res = snap.reservations.get(route.task)?;
        let len = snap.reserved_len(res);
        // Only the first `min(len, environments)` slots hold reserved environments.
        let usable = len.min(res.environments());
        let live = std::sync::Arc::clone(route.permit.live());
        let reserved = snap.reserved_of(&live, route.task);
        let start = reserved.arc_start();
        if route.permit.is_tracked() {
            let own = OwnShare::new(snap.settings.frontends, res, route.task, len);
            let refit = own.and_then(|own| {
                let first = own.first_slot();
                let end = own.last_slot().min(first + RESERVED_TRACKED - 1);
                ((route.slot + 1).max(first)..=end).find(|&slot| {
                    route
                        .permit
                        .try_track_reserved(slot - first, own.own_on(slot))
                })
            });
            if let Some(slot) = refit {
                return snap.pick_slot(start, len, slot);
            }
            route.permit.untrack();
        }
        if route.tries >= RESERVED_RETRIES || route.tries + 1 >= usable {
            return None;
        }
        snap.pick_slot(start, len, (route.slot + 1) % usable)
    }

    /// Reports the fleet-wide number of `task`'s Reserved calls in flight, this router's
    /// included, from the host's counting service, for [`Counting::Global`]. Not published,
    /// O(1): kept with the task's live state and trusted for the mode's `ttl` (judged to the
    /// millisecond). What is not this router's own counts as the other frontends' (saturating
    /// at 2^24 - 1) until the next report.
    ///
    /// # Errors
    /// [`Error::NoReservation`] if `task` has none.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{Counting, Error, ManagerId, RouteKind, Router, RouterConfig, TaskId};
    /// use std::time::Duration;
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let mut config = RouterConfig::default();
    /// config.counting = Counting::Global { ttl: Duration::from_secs(60) };
    /// let router = Router::builder()
    ///     .config(config)
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .build()?;
    /// let task = TaskId::new(1);
    /// router.set_reservation(task, 2);
    /// router.set_ready(task, 2)?;
    /// // Both ready environments are busy with other frontends' calls.
    /// router.report_reserved_in_flight(task, 2)?;
    /// assert_eq!(router.route(task).unwrap().kind(), RouteKind::Spillover);
    /// assert_eq!(
    ///     router.report_reserved_in_flight(TaskId::new(2), 0),
    ///     Err(Error::NoReservation { task: TaskId::new(2) })
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub fn report_reserved_in_flight(&self, task: TaskId, in_flight: u32) -> Result<(), Error> {
        let snap = self.snapshot.load();
        if snap.reservations.get(task).is_none() {
            return Err(Error::NoReservation { task });
        }
        let now = self.clock.now();
        let live = self.live_of(task.get(), &snap, &|| self.clock.now());
        snap.reserved_of(&live, task)
            .report_global(in_flight, self.since_origin(now));
        Ok(())
    }

    /// Reports the fraction of `task`'s reserved environments that are busy, across all
    /// frontends, for the sibling rule (see [`RouterConfig::busy_threshold`]). Not published,
    /// O(1): kept with the task's live state and ignored once older than
    /// [`RouterConfig::busy_ttl`].
    ///
    /// A task without a reservation may be reported too: the fraction is kept (until it goes
    /// stale or the task's live state is evicted) for when the task gets one.
    ///
    /// # Errors
    /// [`Error::InvalidFraction`] unless `0.0 <= fraction <= 1.0`: NaN and the infinities are
    /// rejected, `-0.0` counts as 0.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{Error, Frontends, ManagerId, RouteKind, Router, TaskId};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let router = Router::builder()
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .build()?;
    /// let task = TaskId::new(1);
    /// router.set_frontends(Frontends::new(0, 2)?); // one of two frontends: a share of 1
    /// router.set_reservation(task, 2);
    /// router.set_ready(task, 2)?;
    /// let held = router.route(task).unwrap();
    /// assert_eq!(held.kind(), RouteKind::Reserved);
    /// assert_eq!(router.route(task).unwrap().kind(), RouteKind::Spillover);
    /// // The host sees a quarter of the reserved environments busy: the sibling rule admits.
    /// router.report_reserved_busy(task, 0.25)?;
    /// assert_eq!(router.route(task).unwrap().kind(), RouteKind::Reserved);
    /// assert_eq!(
    ///     router.report_reserved_busy(task, 1.5),
    ///     Err(Error::InvalidFraction { value: 1.5 })
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub fn report_reserved_busy(&self, task: TaskId, fraction: f32) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(Error::InvalidFraction { value: fraction });
        }
        let snap = self.snapshot.load();
        let now = self.clock.now();
        let live = self.live_of(task.get(), &snap, &|| self.clock.now());
        snap.reserved_of(&live, task)
            .report_busy(admission::permille(fraction), self.since_origin(now));
        Ok(())
    }

    /// Reports a manager's current load (any unit, lower is better) for
    /// [`Pick::LeastLoadedOfTwo`] and the load bound of [`Pick::Pack`]
    /// ([`RouterConfig::load_bound`]). Not published, O(1). A report that races a membership
    /// change may land on the outgoing ring and be lost; report periodically.
    ///
    /// What to report: the calls the manager runs now, plus its idle reserved environments.
    /// Those are capacity held for Reserved calls, which go to them whatever the load; a
    /// manager packed to its cores with unreserved calls would be overloaded by the first
    /// few reserved ones. In the same unit as [`RouterConfig::load_floor`].
    ///
    /// # Errors
    /// [`Error::UnknownManager`] if `id` is not in the fleet.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{Error, ManagerId, Router};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let router = Router::builder()
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .build()?;
    /// router.report_load(ManagerId::new(0), 12)?;
    /// let unknown = ManagerId::new(99);
    /// assert_eq!(router.report_load(unknown, 1), Err(Error::UnknownManager { id: unknown }));
    /// # Ok(())
    /// # }
    /// ```
    pub fn report_load(&self, id: ManagerId, load: u32) -> Result<(), Error> {
        let snap = self.snapshot.load();
        let index = snap.ring.index_of(id).ok_or(Error::UnknownManager { id })?;
        snap.loads.report(index, load);
        Ok(())
    }

    /// Evicts the live state of every task and group with no permit out that has gone unused
    /// for more than [`RouterConfig::idle_ttl`]; returns how many entries went.
    ///
    /// State is never evicted while a call holds it, nor before `idle_ttl` has passed since
    /// its last route (a call's end is not a use: see [`RouterConfig::idle_ttl`]); with
    /// sweeps every `I` it goes by `idle_ttl + 2·I` at the latest (routes mark a use without
    /// reading the clock, and a sweep dates the uses it finds). State last used later than
    /// the clock's `now` (a clock set back) is not idle. Memory follows the live tasks down:
    /// a shard left under a quarter full gives its spare room back. New tasks also sweep
    /// their shard now and then, so memory stays bounded even if this is never called.
    ///
    /// O(live entries), holding one shard's write lock for at most 256 buckets of its table at
    /// a time (routes of that shard wait that long, never for the whole shard); see
    /// [`docs::operations`](crate::docs::operations). New tasks that rehash a shard's table
    /// while it is swept make that shard's walk start over, at most 4 times; past that, an
    /// entry the rehash moved behind the walk waits for the next sweep.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{ManagerId, ManualClock, Router, TaskId};
    /// use std::time::Duration;
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let clock = ManualClock::new();
    /// let router = Router::builder()
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// drop(router.route(TaskId::new(1)));
    /// assert_eq!(router.evict_idle(), 0, "just used");
    /// clock.advance(Duration::from_secs(3600));
    /// assert_eq!(router.evict_idle(), 1);
    /// assert_eq!(router.stats().live_entries, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn evict_idle(&self) -> usize {
        let ttl = self.snapshot.load().settings.idle_ttl;
        self.live.evict_idle(ttl, &|| self.clock.now())
    }
}
