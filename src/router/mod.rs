//! The concurrent shell: one snapshot, lock-free reads, serialized writers.
//!
//! This file holds the read path of one call; the rest of the router sits beside it:
//! [`snapshot`] (what a route reads and the arc walks on it), [`write`] (the writers),
//! [`feedback`] (throttles, host reports, eviction), [`query`], [`builder`] and [`config`].

use std::fmt;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::admission::{self, Admission, Claim};
use crate::assign::ArcState;
use crate::clock::{Clock, MonotonicClock};
use crate::frontends::Counting;
use crate::id::{GroupId, TaskId};
use crate::live::{AtomicU32, Hashed, Live, LiveMap, ReservedLive};
use crate::local::Recent;
use crate::permit::Permit;
use crate::reservation::Reservation;
use crate::route::{Route, RouteKind};
use crate::stats::{bump, Striped, Tallies};

mod builder;
mod config;
mod feedback;
mod query;
mod snapshot;
mod write;

pub use builder::RouterBuilder;
pub use config::{Pick, RouterConfig};
pub(crate) use snapshot::{OwnShare, Snapshot};

/// Routes calls to managers. `Send + Sync`; share it by reference or in an `Arc`.
///
/// Reads (`route`, `on_throttle`, queries) load one snapshot and never take the writers'
/// lock. Writers are serialized by a mutex and publish whole new snapshots; a write that
/// changes nothing publishes nothing.
pub struct Router<C: Clock = MonotonicClock> {
    pub(crate) snapshot: ArcSwap<Snapshot>,
    writer: Mutex<()>,
    live: LiveMap,
    /// Route events, counted on the routing thread's stripe.
    tallies: Striped,
    clock: C,
    /// The clock's reading when the router was built: host reports keep their time from it,
    /// so a clock counted from any origin (the UNIX epoch, say) fits their 34 years.
    origin: Duration,
}

impl<C: Clock> fmt::Debug for Router<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snap = self.snapshot.load();
        f.debug_struct("Router")
            .field("generation", &snap.generation)
            .field("managers", &snap.ring.len())
            .field("healthy", &snap.healthy())
            .field("reservations", &snap.reservations.len())
            .finish_non_exhaustive()
    }
}

/// The read path.
impl<C: Clock> Router<C> {
    /// Routes one call of `task`, in the task's own group: the manager to send it to, the arc it
    /// was chosen from, and the [`Permit`] that counts the call until the [`Route`] drops.
    ///
    /// Returns `None` only when no manager is healthy. A reserved call is admitted, and placed
    /// on the slots of this frontend's share of the reserved arc (first fit), as
    /// [`docs::frontends`](crate::docs::frontends) describes; a call beyond the reservation
    /// spills over, never refused. A warm task takes no lock on the snapshot and allocates nothing:
    /// O(log P + k) for P points and the k-th slot of its arc. Figures in `BENCHMARKS.md`.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{ManagerId, RouteKind, Router, TaskId};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let router = Router::builder()
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .build()?;
    /// let task = TaskId::from_name("resize");
    /// let route = router.route(task).expect("a healthy manager");
    /// assert_eq!(route.kind(), RouteKind::Unreserved);
    /// assert_eq!(route.manager(), router.unreserved_arc(task.into())[0]);
    /// assert_eq!(router.stats().in_flight_unreserved, 1);
    /// drop(route); // the call ended
    /// assert_eq!(router.stats().in_flight_unreserved, 0);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use = "dropping the route ends the call at once; hold it until the call completes"]
    pub fn route(&self, task: TaskId) -> Option<Route> {
        self.route_in(task, GroupId::from(task))
    }

    /// Routes one call of `task`, whose unreserved and spillover calls share `group`'s arc.
    ///
    /// The reservation and its in-flight count stay the task's own. As [`Router::route`]
    /// otherwise.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{GroupId, ManagerId, Router, TaskId};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let router = Router::builder()
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .build()?;
    /// let account = GroupId::from_name("acct-1");
    /// let (a, b) = (TaskId::from_name("a"), TaskId::from_name("b"));
    /// let first = router.route_in(a, account).expect("a healthy manager");
    /// let second = router.route_in(b, account).expect("a healthy manager");
    /// assert_eq!((first.group(), second.group()), (account, account));
    /// let arc = router.unreserved_arc(account);
    /// assert!(arc.contains(&first.manager()) && arc.contains(&second.manager()));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use = "dropping the route ends the call at once; hold it until the call completes"]
    pub fn route_in(&self, task: TaskId, group: GroupId) -> Option<Route> {
        self.route_on(&self.snapshot.load(), task, group, None)
    }

    /// Routes on `snap`; live state comes from `recent` when it holds it.
    pub(crate) fn route_on(
        &self,
        snap: &Snapshot,
        task: TaskId,
        group: GroupId,
        mut recent: Option<&mut Recent>,
    ) -> Option<Route> {
        // One hash of the task, under the router's key, finds it in every table.
        let hashed = self.live.keyed().hash(task.get());
        let tallies = self.tallies.here();
        if snap.healthy() == 0 {
            bump(&tallies.no_manager);
            return None;
        }
        // Read only where a rule needs the time; a warm route usually does not.
        let now = || self.clock.now();
        let reservation = snap.reservations.get_hashed(task, hashed);
        let own_group = group.get() == task.get();
        // An unreserved task routed in another group needs no state of its own.
        let task_live = (reservation.is_some() || own_group)
            .then(|| self.live_in(task.get(), hashed, snap, &now, recent.as_deref_mut()));
        let (admission, within_share) = match (reservation, &task_live) {
            (Some(res), Some(live)) => {
                let reserved = snap.reserved_of(live, task);
                self.admit(snap, task, reserved, res, &now)
            }
            _ => (admission::decide(None, || None), None),
        };
        let ids = (task, group);
        if admission.kind() == RouteKind::Reserved {
            let (Some(live), Some(res)) = (task_live, reservation) else {
                return None; // admitted only with both
            };
            let len = snap.reserved_len(res);
            let mut permit = Permit::adopt(live, true);
            let own = within_share.and_then(|share| {
                OwnShare::with_share(snap.settings.frontends, res, task, len, share)
            });
            let (slot, counted) = {
                let reserved = permit.live().reserved_if_made()?; // made by `admit`
                match own {
                    // Where this frontend's own environments are free, first fit.
                    Some(own) => snap.fit_reserved(reserved, own),
                    // Past the own share, in proportion to every slot's environments.
                    None => {
                        let cursor = reserved.cursor.fetch_add(1, Relaxed);
                        let slot = snap.assigner.reserved_slot(res.environments(), len, cursor);
                        (slot, None)
                    }
                }
            };
            // The permit owns the slot's count from here on, whatever happens next.
            permit.counted_on(counted);
            let start = permit.live().reserved_if_made()?.arc_start();
            let at = snap.pick_slot(start, len, slot)?;
            bump(&tallies.reserved);
            return Some(Route::new(admission.kind(), ids, snap.seat(at), permit));
        }
        let group_live = match task_live {
            Some(live) if own_group => live,
            _ => {
                let key = group.get();
                self.live_in(key, self.live.keyed().hash(key), snap, &now, recent)
            }
        };
        let (permit, at) = self.place_unreserved(snap, group_live, &now, tallies, None)?;
        bump(match admission {
            Admission::Spillover => &tallies.spillover,
            _ => &tallies.unreserved,
        });
        Some(Route::new(admission.kind(), ids, snap.seat(at), permit))
    }

    /// Counts a call of reserved `task` on `live`, decides it by [`admission::decide`], and
    /// undoes the count unless the call is admitted to the reserved arc. Also gives this
    /// frontend's share of `ready` if the call is within it (this router's Reserved calls
    /// before it were fewer), so that the caller need not work the share out again.
    fn admit(
        &self,
        snap: &Snapshot,
        task: TaskId,
        live: &ReservedLive,
        res: Reservation,
        now: &impl Fn() -> Duration,
    ) -> (Admission, Option<u32>) {
        let settings = &snap.settings;
        let held = live.count.fetch_add(1, Relaxed);
        // Owns the count until the call is admitted: the host's clock, read below, may panic.
        let count = Uncount(&live.count);
        let others = match settings.counting {
            Counting::Global { ttl } => live.others(self.since_origin(now()), ttl),
            Counting::Local => None,
        };
        let claim = Claim {
            held,
            ready: res.ready,
            share: settings.frontends.share_of(res.ready, task),
            others,
            threshold: settings.busy_permille,
        };
        let busy = || live.busy(self.since_origin(now()), settings.busy_ttl);
        let admission = admission::decide(Some(claim), busy);
        if admission.kind() == RouteKind::Reserved {
            std::mem::forget(count); // the caller's permit takes the count over
        }
        (admission, (held < claim.share).then_some(claim.share))
    }

    /// The live state of `key` (hashed `h`), made under `snap` if it has none, through a
    /// handle's cache where there is one.
    fn live_in(
        &self,
        key: u128,
        h: Hashed,
        snap: &Snapshot,
        now: &impl Fn() -> Duration,
        mut recent: Option<&mut Recent>,
    ) -> Arc<Live> {
        if let Some(live) = recent.as_deref_mut().and_then(|r| r.get(key, h)) {
            return live;
        }
        let shard = self.live.shard_at(h);
        let make = || (snap.fresh(), snap.settings.idle_ttl);
        let live = shard.get_or_insert(key, h, make, now);
        if let Some(recent) = recent {
            recent.missed(key, h, &live);
        }
        live
    }

    /// The slot of a handle's cache that `key` files under, for tests that pick keys sharing
    /// one.
    #[cfg(test)]
    pub(crate) fn recent_slot(&self, key: u128) -> usize {
        crate::local::Recent::slot(self.live.keyed().hash(key))
    }

    /// The live state of `key`, made under `snap` if it has none.
    fn live_of(&self, key: u128, snap: &Snapshot, now: &impl Fn() -> Duration) -> Arc<Live> {
        self.live_in(key, self.live.keyed().hash(key), snap, now, None)
    }

    /// `now` as host reports store it: since the router was built.
    fn since_origin(&self, now: Duration) -> Duration {
        now.saturating_sub(self.origin)
    }

    /// Counts one more call on `live`'s unreserved arc, resizes the arc for the new load and
    /// picks a member: `(permit, (slot, ring index))`. A pick of ring index `avoid` probes the
    /// next manager past it instead, without widening the arc.
    fn place_unreserved(
        &self,
        snap: &Snapshot,
        live: Arc<Live>,
        now: &impl Fn() -> Duration,
        tallies: &Tallies,
        avoid: Option<u32>,
    ) -> Option<(Permit, (u32, u32))> {
        let (load, cursor) = live.enter_unreserved();
        // Each of F frontends sees about 1/F of a group's calls; the arc is the group's.
        let load = load.saturating_mul(snap.settings.frontends.count());
        let mut permit = Permit::adopt(live, false);
        let (slot, index) = {
            let live = permit.live();
            let current = live.arc_state();
            let next = snap
                .assigner
                .unreserved_with(current, load, snap.healthy(), now);
            let len = commit_arc(live, current, next, tallies);
            let start = live.unreserved_arc_start();
            let at = match snap.settings.pick {
                Pick::Pack => snap.pack(live, len, cursor)?,
                _ => snap.pick(start, len, cursor)?,
            };
            snap.other_than(start, at, avoid)?
        };
        if snap.settings.pick == Pick::Pack {
            permit.track(slot);
        }
        Some((permit, (slot, index)))
    }
}

/// Takes back one reserved count when dropped, on every path out, unwinding included.
struct Uncount<'a>(&'a AtomicU32);

impl Drop for Uncount<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Release);
    }
}

/// Publishes `next` as `live`'s arc state; counts a grow or a shrink if this caller moved the
/// length. Returns the length to route on.
#[inline]
fn commit_arc(live: &Live, current: ArcState, next: ArcState, tallies: &Tallies) -> u32 {
    if next != current {
        store_arc(live, current, next, tallies);
    }
    next.len
}

/// [`commit_arc`] of a state that changed: out of line, as most routes change nothing.
#[inline(never)]
fn store_arc(live: &Live, current: ArcState, next: ArcState, tallies: &Tallies) {
    if live.store_arc_state(current.len, next) {
        #[cfg(feature = "tracing")]
        crate::trace::arc_resized(current.len, next.len);
        bump(if next.len > current.len {
            &tallies.grows
        } else {
            &tallies.shrinks
        });
    }
}

#[cfg(test)]
mod tests;
