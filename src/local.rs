//! A per-thread routing handle that caches the snapshot.

use std::fmt;
use std::sync::Arc;

use arc_swap::{ArcSwap, Cache};

use crate::clock::Clock;
use crate::id::{GroupId, TaskId};
use crate::live::{Hashed, Live};
use crate::route::Route;
use crate::router::{Router, Snapshot};

/// A routing handle for one thread (or one worker task), made by [`Router::local`].
///
/// It routes exactly as its [`Router`] does, on the same live state, but keeps two things
/// between calls: the snapshot it last used, instead of taking arc-swap's shared protection on
/// every call (each call checks one pointer and reloads only when a writer has published), and
/// the live state of tasks it routes often (16 slots, by the task id's hash under the router's
/// secret key, so names chosen offline cannot pile into one), instead of a read lock and
/// a lookup in the shared map. A task takes a free slot when it misses there twice in a row
/// (no other task missed there in between) and gives it up after four misses there that did
/// not find it: a hot task is cached by its second call and found from its third,
/// while many tasks called in turn, which would only evict each other, are not cached at all
/// and cost what they cost through the [`Router`], less the snapshot load and plus a look
/// at the cache. The methods take `&mut self` because of those caches.
///
/// The costs: the last snapshot it used (ring, health, reservation shards) stays alive until
/// its next call or its drop; and up to 16 tasks' live state counts as in use while the
/// handle holds it, so idle eviction skips it until the handle gives the slot up (after four
/// misses there that did not find it) or is dropped. Keep one per thread, not one per call;
/// it is `Send`, so it can move to the thread that uses it.
///
/// On an async runtime whose tasks move between worker threads, do not hold a handle across
/// `.await`: keep one per worker thread in a `thread_local!` over a `'static` router, and
/// borrow it only for the `route` call ([`docs::asynchronous`](crate::docs::asynchronous)
/// shows the pattern on tokio). The [`Route`] it returns is owned and may cross `.await`.
pub struct LocalRouter<'r, C: Clock> {
    router: &'r Router<C>,
    snapshot: Cache<&'r ArcSwap<Snapshot>, Arc<Snapshot>>,
    recent: Box<Recent>,
}

/// A handle's small direct-mapped cache of live state, for routes that skip the shared map.
///
/// An entry held here counts as held (like a permit), so the map never evicts it meanwhile;
/// a handle pins at most [`Recent::SLOTS`] entries, and none for long that its routes stop
/// finding there. See [`Recent::missed`] for what takes a slot and what gives it up.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    slots: [Option<(u128, Arc<Live>)>; Recent::SLOTS],
    /// Misses at each slot since its key was last found there.
    strikes: [u8; Recent::SLOTS],
    /// The key that last missed at each slot.
    missed: [Option<u128>; Recent::SLOTS],
}

impl Recent {
    pub(crate) const SLOTS: usize = 16;
    /// Misses at a slot, none of them finding its key, after which the key gives it up: a
    /// few, so that a hot task of a skewed mix (Zipf) is not given up for one unlucky
    /// stretch, and few, so that a task that went quiet is not pinned for long.
    const STRIKES: u8 = 4;

    /// The cached state of `key` (hashed `h`), marked used.
    #[inline]
    pub(crate) fn get(&mut self, key: u128, h: Hashed) -> Option<Arc<Live>> {
        let slot = Self::slot(h);
        match &self.slots[slot] {
            Some((k, live)) if *k == key => {
                live.touch();
                self.strikes[slot] = 0;
                Some(Arc::clone(live))
            }
            _ => None,
        }
    }

    /// After [`Recent::get`] missed `key`, whose state is `live`. A key that holds the slot
    /// gives it up (and its pin) at the [`Recent::STRIKES`]th miss there since it was last
    /// found; an empty slot takes `key` if `key` was also the last key to miss there. So a
    /// task routed again before another misses at its slot is cached and stays while it is
    /// found about as often as others miss there, while many tasks routed in turn (each back
    /// only after others missed) take no slot and do not evict the hot ones: caching them
    /// would cost two reference counts a call for no hit.
    #[inline]
    pub(crate) fn missed(&mut self, key: u128, h: Hashed, live: &Arc<Live>) {
        let slot = Self::slot(h);
        if self.slots[slot].is_some() {
            self.strikes[slot] += 1;
            if self.strikes[slot] >= Self::STRIKES {
                self.slots[slot] = None;
            }
        }
        if self.missed[slot].replace(key) == Some(key) && self.slots[slot].is_none() {
            self.slots[slot] = Some((key, Arc::clone(live)));
            self.strikes[slot] = 0;
        }
    }

    /// The slot of a key hashed `h`: under the router's secret key, as the map's shards,
    /// and from bits the map does not use, so one shard's keys spread here too.
    pub(crate) fn slot(h: Hashed) -> usize {
        (h.spare() % Self::SLOTS as u64) as usize
    }
}

impl<C: Clock> Router<C> {
    /// A per-thread handle that caches the current snapshot; see [`LocalRouter`].
    pub fn local(&self) -> LocalRouter<'_, C> {
        LocalRouter {
            router: self,
            snapshot: Cache::new(&self.snapshot),
            recent: Box::default(),
        }
    }
}

impl<C: Clock> LocalRouter<'_, C> {
    /// As [`Router::route`].
    #[must_use = "dropping the route ends the call at once; hold it until the call completes"]
    #[inline]
    pub fn route(&mut self, task: TaskId) -> Option<Route> {
        self.route_in(task, GroupId::from(task))
    }

    /// As [`Router::route_in`].
    #[must_use = "dropping the route ends the call at once; hold it until the call completes"]
    #[inline]
    pub fn route_in(&mut self, task: TaskId, group: GroupId) -> Option<Route> {
        let snap = self.snapshot.load();
        self.router
            .route_on(snap, task, group, Some(&mut self.recent))
    }

    /// As [`Router::on_throttle`].
    pub fn on_throttle(&mut self, route: &mut Route) -> bool {
        self.router.throttle_on(self.snapshot.load(), route)
    }

    /// The router this handle routes for.
    pub fn router(&self) -> &Router<C> {
        self.router
    }
}

impl<C: Clock> fmt::Debug for LocalRouter<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRouter")
            .field("router", self.router)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use crate::{ManagerId, RouteKind, Router, TaskId};

    #[test]
    fn a_local_handle_routes_as_its_router_and_sees_every_publish() {
        let router = Router::builder()
            .managers((0..20).map(|i| (ManagerId::new(i), 1)))
            .build()
            .unwrap();
        let task = TaskId::new(7);
        let mut local = router.local();
        let first = local.route(task).unwrap();
        assert_eq!(first.kind(), RouteKind::Unreserved);
        assert_eq!(first.manager(), router.unreserved_arc(task.into())[0]);
        // Same live state: the router sees the handle's call in flight.
        assert_eq!(router.stats().in_flight_unreserved, 1);
        drop(first);

        // A publish after the handle cached its snapshot: the next call routes on the new one.
        let home = router.unreserved_arc(task.into())[0];
        assert!(router.set_health(home, false).unwrap());
        let moved = local.route(task).unwrap();
        assert_eq!(moved.generation(), router.generation());
        assert_ne!(moved.manager(), home);
        assert_eq!(moved.manager(), router.unreserved_arc(task.into())[0]);

        // The handle holds the task's live state: eviction skips it until the handle goes.
        let mut moved = moved;
        assert!(local.on_throttle(&mut moved));
        assert_eq!(router.stats().throttles, 1);
        drop(moved);
        assert_eq!(router.stats().in_flight_unreserved, 0);
    }
}

#[cfg(test)]
mod eviction {
    use std::time::Duration;

    use super::Recent;
    use crate::{ManagerId, ManualClock, Router, TaskId};

    /// A router of 4 managers on a manual clock.
    fn router() -> (Router<ManualClock>, ManualClock) {
        let clock = ManualClock::new();
        let router = Router::builder()
            .managers((0..4).map(|i| (ManagerId::new(i), 1)))
            .clock(clock.clone())
            .build()
            .unwrap();
        (router, clock)
    }

    /// Moves `clock` on by the default idle TTL (an hour), then sweeps: how many went.
    fn sweep_an_hour_on(router: &Router<ManualClock>, clock: &ManualClock) -> usize {
        clock.advance(Duration::from_secs(3600));
        router.evict_idle()
    }

    #[test]
    fn a_handle_pins_what_it_caches_until_dropped() {
        let (router, clock) = router();
        let mut local = router.local();
        // Twice in a row at its slot: the second miss caches it.
        drop(local.route(TaskId::new(1)));
        drop(local.route(TaskId::new(1)));
        drop(router.route(TaskId::new(2)));
        assert_eq!(
            sweep_an_hour_on(&router, &clock),
            1,
            "task 2 goes, the handle holds task 1"
        );
        drop(local);
        // Its second use is dated by the sweep that first saw it: one TTL after that one.
        assert_eq!(sweep_an_hour_on(&router, &clock), 1);
        assert_eq!(router.stats().live_entries, 0);
    }

    #[test]
    fn names_piled_into_one_unkeyed_slot_spread_over_the_keyed_ones() {
        // Names a tenant could choose offline so that their ids share low bits.
        let piled: Vec<u128> = (0u32..)
            .map(|i| TaskId::from_name(&format!("tenant/fn-{i}")).get())
            .filter(|&k| (k as usize >> 8) % Recent::SLOTS == 0)
            .take(4096)
            .collect();
        let (a, _) = router();
        let (b, _) = router();
        let mut per = [0usize; Recent::SLOTS];
        for &k in &piled {
            per[a.recent_slot(k)] += 1;
        }
        // 256 a slot on average; far from 4096 in one.
        assert!(per.iter().all(|&n| (128..=400).contains(&n)), "{per:?}");
        let agree = piled
            .iter()
            .filter(|&&k| a.recent_slot(k) == b.recent_slot(k))
            .count();
        assert!(agree < piled.len() / 8, "two routers keyed alike: {agree}");
    }

    #[test]
    fn a_held_task_gives_its_slot_up_at_the_fourth_miss_there_without_it() {
        let (router, clock) = router();
        let mut local = router.local();
        // Five tasks that share a slot under this router's key. The first is held after its
        // second route, whose use the first sweep dates (at 0 s); then three others miss there.
        let slot = router.recent_slot(1);
        let same: Vec<TaskId> = (1..)
            .filter(|&t| router.recent_slot(t) == slot)
            .take(5)
            .map(TaskId::new)
            .collect();
        for _ in 0..2 {
            drop(local.route(same[0]));
        }
        assert_eq!(router.evict_idle(), 0);
        for &t in &same[1..4] {
            drop(local.route(t));
        }
        assert_eq!(
            sweep_an_hour_on(&router, &clock),
            3,
            "three misses: the first still held"
        );
        drop(local.route(same[4]));
        assert_eq!(
            sweep_an_hour_on(&router, &clock),
            2,
            "the fourth gave it up: the first goes with the fifth"
        );
        drop(local);
    }

    #[test]
    fn tasks_routed_in_turn_take_no_slot_and_are_not_pinned() {
        let (router, clock) = router();
        let mut local = router.local();
        // A task routed twice is cached (in the slot of some 60 of the tasks below)...
        let hot = TaskId::new(5_000);
        for _ in 0..2 {
            drop(local.route(hot));
        }
        // ... and given up once tasks miss there and it is not routed in between. Each of
        // them misses once, and another task misses at its slot before it comes back: none
        // of them is cached.
        for round in 0..3 {
            for t in 0..1_000 {
                let route = local.route(TaskId::new(t)).unwrap();
                assert_eq!(
                    route.manager(),
                    router.unreserved_arc(TaskId::new(t).into())[0]
                );
                assert_eq!(router.stats().in_flight_unreserved, 1, "round {round}");
            }
        }
        // The first sweep dates their last uses, the next one, a TTL later, evicts them all.
        assert_eq!(sweep_an_hour_on(&router, &clock), 0);
        assert_eq!(
            sweep_an_hour_on(&router, &clock),
            1_001,
            "the handle pins none of them"
        );
        drop(local);
    }
}
