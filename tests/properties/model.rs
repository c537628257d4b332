//! The router against a model of its per-task state, driven by the public `ArcAssigner`:
//! random op sequences after which route kinds, slots, managers, gauges, counters,
//! reservations, health and generation all match, and blind sequences after which every
//! counter adds up.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use arcroute::{
    ArcAssigner, ArcState, Error, GroupId, HealthMask, ManagerId, ManualClock, Reservation, Ring,
    Route, RouteKind, Router, RouterConfig, TaskId,
};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::support::{mask_of, nz, proptest_config, spread};

// ---------------------------------------------------------------------------------------------
// 6-7: router op sequences against a model
// ---------------------------------------------------------------------------------------------

const TASKS: usize = 4;
const POOL: u64 = 8;
const TTL: Duration = Duration::from_secs(100);

fn task(t: usize) -> TaskId {
    TaskId::new(0xfeed_0000 + t as u128)
}

#[derive(Clone, Debug)]
enum Op {
    Route(usize),
    Drop(Index),
    /// Drops every held route of one task (lets its live state go idle).
    DropTask(usize),
    Throttle(Index),
    SetReservation(usize, u32),
    SetReady(usize, u32),
    Put(usize, u32, u32),
    Remove(usize),
    Health(u64, bool),
    SetManagers(BTreeMap<u64, u32>),
    Advance(u64),
    Evict,
}

fn pool_fleet() -> impl Strategy<Value = BTreeMap<u64, u32>> {
    prop::collection::btree_map(0..POOL, 1u32..=3, 1..=POOL as usize)
}

fn op(reservation_ops: bool) -> BoxedStrategy<Op> {
    let t = 0..TASKS;
    let common = prop_oneof![
        8 => t.clone().prop_map(Op::Route),
        3 => any::<Index>().prop_map(Op::Drop),
        1 => t.clone().prop_map(Op::DropTask),
        3 => any::<Index>().prop_map(Op::Throttle),
        2 => (0..POOL + 1, any::<bool>()).prop_map(|(m, up)| Op::Health(m, up)),
        1 => pool_fleet().prop_map(Op::SetManagers),
        2 => prop::sample::select(vec![0u64, 1, 5, 15, 25, 70, 100, 101, 150])
            .prop_map(Op::Advance),
        2 => Just(Op::Evict),
    ];
    if !reservation_ops {
        return common.boxed();
    }
    prop_oneof![
        10 => common,
        1 => (t.clone(), 0u32..=8).prop_map(|(t, l)| Op::SetReservation(t, l)),
        1 => (t.clone(), 0u32..=8).prop_map(|(t, r)| Op::SetReady(t, r)),
        1 => (t.clone(), 0u32..=8, 0u32..=8).prop_map(|(t, l, r)| Op::Put(t, l, r)),
        1 => t.prop_map(Op::Remove),
    ]
    .boxed()
}

/// Initial reservations: per task, none or `(limit, ready)`.
fn initial_reservations() -> impl Strategy<Value = Vec<Option<(u32, u32)>>> {
    prop::collection::vec(prop::option::of((0u32..=8, 0u32..=8)), TASKS)
}

fn router_config() -> RouterConfig {
    let mut c = RouterConfig::default();
    c.assign.reserved_per_manager = nz(2);
    c.assign.target_per_manager = nz(2);
    c.assign.shrink_delay = Duration::from_secs(20);
    c.idle_ttl = TTL;
    c
}

struct Held {
    route: Route,
    task: usize,
    /// `ready` of the task's reservation when this route was admitted as Reserved.
    admitted_share: u32,
    /// Order of admission (throttles never make a route Reserved).
    seq: u64,
    /// The slot of the reserved arc this Reserved route is counted on (among the first 8),
    /// or `None` if it is counted on none.
    reserved_rel: Option<u32>,
}

/// What the model knows of one live entry (a task, which is also its own group).
#[derive(Debug)]
struct LiveModel {
    /// When made, or the latest sweep that found it used.
    last_seen: Duration,
    /// Used since the last sweep (routes read no clock; sweeps date the use).
    used: bool,
    cursor: u32,
    reserved_cursor: u32,
    arc: ArcState,
    /// Tracked slots that threw a call back (a bit each), and the cursor at the first mark.
    full: u8,
    full_since: u32,
}

struct Harness {
    router: Router<ManualClock>,
    clock: ManualClock,
    assigner: ArcAssigner,
    now: Duration,
    held: Vec<Held>,
    seq: u64,
    reservations: HashMap<usize, Reservation>,
    fleet: BTreeMap<u64, u32>,
    down: BTreeSet<u64>,
    generation: u64,
    live: HashMap<usize, LiveModel>,
    // Counters the router's Stats must match.
    routes: [u64; 3],
    no_manager: u64,
    throttles: u64,
    exhausted: u64,
    spilled_on_throttle: u64,
    /// Unreserved arc length changes, by route and by throttle.
    grows: u64,
    shrinks: u64,
    evictions: u64,
}

fn kind_index(kind: RouteKind) -> usize {
    match kind {
        RouteKind::Reserved => 0,
        RouteKind::Unreserved => 1,
        RouteKind::Spillover => 2,
    }
}

impl Harness {
    fn new(fleet: BTreeMap<u64, u32>, reservations: &[Option<(u32, u32)>]) -> Self {
        let clock = ManualClock::new();
        let mut builder = Router::builder()
            .config(router_config())
            .managers(fleet.iter().map(|(&i, &w)| (spread(i), w)));
        let mut model = HashMap::new();
        for (t, r) in reservations.iter().enumerate() {
            if let Some((l, r)) = *r {
                builder = builder.reservation(task(t), Reservation::new(l, r));
                if (l, r) != (0, 0) {
                    model.insert(t, Reservation::new(l, r));
                }
            }
        }
        let router = builder.clock(clock.clone()).build().unwrap();
        Self {
            router,
            clock,
            assigner: ArcAssigner::new(router_config().assign).unwrap(),
            now: Duration::ZERO,
            held: Vec::new(),
            seq: 0,
            reservations: model,
            fleet,
            down: BTreeSet::new(),
            generation: 1,
            live: HashMap::new(),
            routes: [0; 3],
            no_manager: 0,
            throttles: 0,
            exhausted: 0,
            spilled_on_throttle: 0,
            grows: 0,
            shrinks: 0,
            evictions: 0,
        }
    }

    fn healthy(&self) -> u32 {
        self.fleet
            .keys()
            .filter(|id| !self.down.contains(id))
            .count() as u32
    }

    fn mask(&self, ring: &Ring) -> HealthMask {
        mask_of(ring, &self.down.iter().map(|&i| spread(i)).collect())
    }

    fn held_of(&self, t: usize, reserved: bool) -> u32 {
        self.held
            .iter()
            .filter(|h| h.task == t && (h.route.kind() == RouteKind::Reserved) == reserved)
            .count() as u32
    }

    fn reserved_len(&self, t: usize) -> u32 {
        self.reservations.get(&t).map_or(0, |r| {
            self.assigner.reserved_len(r.limit, r.ready, self.healthy())
        })
    }

    /// The model of `Pick::Pack` with one frontend and no load reported: the first of the
    /// first 8 slots on which fewer than the quota (`target_per_manager` = 2) of the group's
    /// held unreserved and spillover calls sit; past 8 slots, round-robin over the rest; else
    /// the tracked slot with the fewest.
    fn pack_slot(&self, t: usize, len: u32, cursor: u32) -> u32 {
        let on = |slot: u32| self.unreserved_on(t, slot);
        let tracked = len.min(8);
        let open = |s: &u32| !self.marked(t, *s);
        if let Some(slot) = (0..tracked).filter(open).find(|&s| on(s) < 2) {
            return slot;
        }
        if len > tracked {
            return tracked + cursor % (len - tracked);
        }
        // All marked: the first manager past the arc.
        (0..tracked)
            .filter(open)
            .min_by_key(|&s| (on(s), s))
            .unwrap_or(len % self.healthy())
    }

    /// Held unreserved and spillover calls of group `t` on `slot`.
    fn unreserved_on(&self, t: usize, slot: u32) -> u32 {
        self.held
            .iter()
            .filter(|h| {
                h.task == t && h.route.kind() != RouteKind::Reserved && h.route.slot() == slot
            })
            .count() as u32
    }

    /// The environments of `t`'s reserved arc of `len` slots, numbered slot-major by the
    /// assigner's split of `max(limit, ready)`: each slot's `[first, end)`.
    fn reserved_ranges(&self, t: usize, len: u32) -> Vec<(u32, u32)> {
        let e = self.reservations[&t].environments();
        let mut first = 0;
        (0..len)
            .map(|s| {
                let end = first + self.assigner.environments_at(e, len, s);
                let range = (first, end);
                first = end;
                range
            })
            .collect()
    }

    /// With one frontend, the whole of `ready` is its own share, `[0, ready)`: its own
    /// environments on each slot, up to the slot holding the last of them.
    fn own_environments(&self, t: usize, len: u32) -> Vec<u32> {
        let ready = self.reservations[&t].ready;
        let mut own: Vec<u32> = self
            .reserved_ranges(t, len)
            .into_iter()
            .map(|(first, end)| end.min(ready).saturating_sub(first))
            .collect();
        while own.last() == Some(&0) {
            own.pop();
        }
        own
    }

    /// Held Reserved routes of `t` counted on tracked slot `rel`.
    fn reserved_on(&self, t: usize, rel: u32) -> u32 {
        self.held
            .iter()
            .filter(|h| h.task == t && h.reserved_rel == Some(rel))
            .count() as u32
    }

    /// The model of a Reserved call's slot with one frontend: the first of the counted slots
    /// where fewer of its held calls are counted than it owns environments (at most 128);
    /// past them (or with none free), dealt in turn over the environments of the untracked
    /// slots (or of the whole share). `(slot, counted on)`.
    fn reserved_fit(&mut self, t: usize, len: u32) -> (u32, Option<u32>) {
        let own = self.own_environments(t, len);
        let span = own.len() as u32;
        let tracked = span.min(1024);
        if let Some(rel) = (0..tracked).find(|&r| self.reserved_on(t, r) < own[r as usize].min(128))
        {
            return (rel, Some(rel));
        }
        let ranges = self.reserved_ranges(t, len);
        let ready = self.reservations[&t].ready;
        let from = if span > tracked {
            ranges[tracked as usize].0
        } else {
            0
        };
        let live = self.live.get_mut(&t).unwrap();
        let call = live.reserved_cursor;
        live.reserved_cursor = call.wrapping_add(1);
        let env = from + call % (ready - from);
        let slot = ranges
            .iter()
            .position(|&(a, b)| a <= env && env < b)
            .unwrap();
        (slot as u32, None)
    }

    /// Where a throttle from `slot` moves a Reserved route counted on a slot of its range:
    /// the next of the slots holding its own environments (all counted: the model's ranges are
    /// small) with one of them free of
    /// its other calls, if any.
    fn reserved_move(&self, t: usize, len: u32, slot: u32) -> Option<u32> {
        if !self.reservations.contains_key(&t) {
            return None;
        }
        let own = self.own_environments(t, len);
        let end = (own.len() as u32).min(1024);
        (slot + 1..end).find(|&s| self.reserved_on(t, s) < own[s as usize].min(128))
    }

    /// The model's `resize`: the assigner applied to the group's arc for `load`.
    fn resize(&mut self, t: usize, load: u32) -> u32 {
        let healthy = self.healthy();
        let next = self
            .assigner
            .unreserved(self.live[&t].arc, load, self.now, healthy);
        self.set_arc(t, next)
    }

    /// Stores the arc state and counts a grow or a shrink (a resize of an arc longer than the
    /// healthy count clamps it shorter: a shrink).
    fn set_arc(&mut self, t: usize, next: ArcState) -> u32 {
        let live = self.live.get_mut(&t).unwrap();
        if next.len > live.arc.len {
            self.grows += 1;
        } else if next.len < live.arc.len {
            self.shrinks += 1;
        }
        live.arc = next;
        next.len
    }

    fn next_cursor(&mut self, t: usize) -> u32 {
        let live = self.live.get_mut(&t).unwrap();
        let c = live.cursor;
        live.cursor = c.wrapping_add(1);
        c
    }

    /// The marks of members that threw `t`'s calls back, cleared once the group has taken 8
    /// × 2 (tracked members × target) calls since the first, as of `cursor`.
    fn expire_full(&mut self, t: usize, cursor: u32) {
        let live = self.live.get_mut(&t).unwrap();
        if live.full != 0 && cursor.wrapping_sub(live.full_since) >= 16 {
            live.full = 0;
        }
    }

    fn marked(&self, t: usize, slot: u32) -> bool {
        slot < 8 && self.live.get(&t).is_some_and(|l| l.full & (1 << slot) != 0)
    }

    /// A held route ends (or leaves its slot): an unreserved call counted on a tracked slot
    /// clears that slot's mark.
    fn unmark(&mut self, t: usize, kind: RouteKind, slot: u32) {
        if kind != RouteKind::Reserved && slot < 8 {
            if let Some(live) = self.live.get_mut(&t) {
                live.full &= !(1 << slot);
            }
        }
    }

    fn expect_manager(&self, start: u64, len: u32, slot: u32) -> ManagerId {
        let ring = self.router.ring();
        ring.nth_in_arc(start, len, slot, &self.mask(&ring))
            .expect("the slot exists")
    }

    fn route(&mut self, t: usize) {
        let id = task(t);
        let healthy = self.healthy();
        let res = self.reservations.get(&t).copied();
        let held_reserved = self.held_of(t, true);
        let Some(route) = self.router.route(id) else {
            assert_eq!(healthy, 0, "route is None only with no healthy manager");
            self.no_manager += 1;
            return;
        };
        assert!(healthy > 0, "routed with no healthy manager");
        let now = self.now;
        let fresh = !self.live.contains_key(&t);
        let live = self.live.entry(t).or_insert(LiveModel {
            last_seen: now,
            used: false,
            cursor: 0,
            reserved_cursor: 0,
            full: 0,
            full_since: 0,
            arc: ArcState {
                len: 1,
                below_since: None,
            },
        });
        live.used |= !fresh;

        let ring = self.router.ring();
        let expected_kind = match res {
            None => RouteKind::Unreserved,
            Some(r) if held_reserved < r.ready => RouteKind::Reserved,
            Some(_) => RouteKind::Spillover,
        };
        assert_eq!(
            route.kind(),
            expected_kind,
            "kind for {res:?}, {held_reserved} held"
        );
        assert_eq!(
            route.permit().is_reserved(),
            expected_kind == RouteKind::Reserved
        );
        assert_eq!((route.task(), route.group()), (id, GroupId::from(id)));
        assert_eq!(route.retries(), 0);
        assert_eq!(route.generation(), self.generation);
        assert!(self.router.is_healthy(route.manager()));

        let mut reserved_rel = None;
        let (start, len, slot) = if expected_kind == RouteKind::Reserved {
            // One frontend owns all of `ready`: first fit over the reserved arc, on the
            // environments numbered slot-major over `max(limit, ready)`, so that a lowered
            // reservation's environments keep serving while they drain.
            let len = self.reserved_len(t);
            let (slot, rel) = self.reserved_fit(t, len);
            reserved_rel = rel;
            (ring.reserved_start(id), len, slot)
        } else {
            let load = self.held_of(t, false) + 1;
            let len = self.resize(t, load);
            assert!(
                len >= load.div_ceil(2).min(healthy),
                "arc sized for its load"
            );
            let cursor = self.next_cursor(t);
            self.expire_full(t, cursor);
            let slot = self.pack_slot(t, len, cursor);
            (ring.unreserved_start(id.into()), len, slot)
        };
        // Past the arc only when every member threw calls back (its next manager).
        assert!(slot < len || (expected_kind != RouteKind::Reserved && slot < healthy));
        assert_eq!(
            route.slot(),
            slot,
            "the packed (or reserved round-robin) slot"
        );
        assert_eq!(
            route.manager(),
            self.expect_manager(start, len.max(slot + 1), slot)
        );
        if expected_kind == RouteKind::Reserved {
            let arc = self.router.reserved_arc(id);
            assert_eq!(arc.len() as u32, len);
            assert_eq!(arc[slot as usize].manager, route.manager());
        } else {
            let arc = self.router.unreserved_arc(id.into());
            assert_eq!(arc.len() as u32, len, "the arc stays, even past it");
            if slot < len {
                assert_eq!(arc[slot as usize], route.manager());
            }
        }

        self.routes[kind_index(expected_kind)] += 1;
        self.seq += 1;
        self.held.push(Held {
            route,
            task: t,
            admitted_share: res.map_or(0, |r| r.ready),
            seq: self.seq,
            reserved_rel,
        });
    }

    fn throttle(&mut self, i: usize) {
        let healthy = self.healthy();
        let generation = self.router.generation();
        let mut h = self.held.swap_remove(i);
        let (manager, kind, slot, tries) = (
            h.route.manager(),
            h.route.kind(),
            h.route.slot(),
            h.route.retries(),
        );
        let id = task(h.task);
        let moved = self.router.on_throttle(&mut h.route);
        self.throttles += 1;
        if tries + 1 >= healthy {
            assert!(!moved, "bounded by the healthy managers");
            self.exhausted += 1;
            assert_eq!(
                (
                    h.route.manager(),
                    h.route.kind(),
                    h.route.slot(),
                    h.route.retries()
                ),
                (manager, kind, slot, tries),
                "an exhausted throttle leaves the route as it was"
            );
            self.held.push(h);
            return;
        }
        assert!(moved);
        assert_eq!(h.route.retries(), tries + 1);
        assert_eq!(h.route.generation(), generation);
        assert!(self.router.is_healthy(h.route.manager()));
        let ring = self.router.ring();
        let t = h.task;
        // A throttled reserved call counted on a slot of its own range tries the next slot of
        // the range with a place free by the counts; past it, or counted on none (admitted
        // past the share), the next slot that holds environments while it has been throttled
        // fewer than 2 times; then it spills over. A slot that names the manager that threw
        // it back (the slots moved under it since a health or membership change) spills it
        // at once.
        let reserved = self.reserved_len(t);
        let usable = self
            .reservations
            .get(&t)
            .map_or(0, |r| reserved.min(r.environments()));
        let refit = match (kind, h.reserved_rel) {
            (RouteKind::Reserved, Some(_)) => self.reserved_move(t, reserved, slot),
            _ => None,
        };
        let walk = (kind == RouteKind::Reserved && tries < 2 && tries + 1 < usable)
            .then(|| (slot + 1) % usable);
        let retry = refit
            .or(walk)
            .filter(|&s| self.expect_manager(ring.reserved_start(id), reserved, s) != manager);
        let (start, len, new_slot) = if let Some(s) = retry {
            // Counted on the new slot only where the call refits its range.
            h.reserved_rel = refit;
            (ring.reserved_start(id), reserved, s)
        } else if kind == RouteKind::Reserved {
            // Spills to the group's unreserved arc: touches the entry, counts as load.
            self.live.get_mut(&t).unwrap().used = true;
            let load = self.held_of(t, false) + 1;
            let start = ring.unreserved_start(id.into());
            let len = self.resize(t, load);
            let cursor = self.next_cursor(t);
            self.expire_full(t, cursor);
            let mut s = self.pack_slot(t, len, cursor);
            // Never back onto the manager that throttled it: it probes the next manager,
            // past the arc if need be, without widening the arc.
            if self.expect_manager(start, len.max(s + 1), s) == manager {
                s = (s + 1) % healthy;
            }
            self.spilled_on_throttle += 1;
            h.reserved_rel = None;
            (start, s + 1, s)
        } else {
            // The next tracked slot after its own that Pack would fill, else the manager
            // after its slot, past the arc if need be; the arc stays. (The first manager past
            // the arc instead only if it reports less load than the one that threw the call
            // back: the model reports no load, so never.)
            let tracked = self.live[&t].arc.len.min(8).min(healthy);
            let now = self.live[&t].cursor;
            self.expire_full(t, now);
            let mut s = (slot + 1..tracked)
                .find(|&s| !self.marked(t, s) && self.unreserved_on(t, s) < 2)
                .unwrap_or((slot + 1) % healthy);
            let start = ring.unreserved_start(id.into());
            // A slot that names the manager that threw the call back (the slots moved under
            // the call since a health or membership change) probes the manager after it.
            if self.expect_manager(start, s + 1, s) == manager {
                s = (s + 1) % healthy;
            }
            // The call leaves its slot (clearing its mark), and marks it full.
            if slot < 8 {
                self.unmark(t, kind, slot);
                let live = self.live.get_mut(&t).unwrap();
                if live.full == 0 {
                    live.full_since = now;
                }
                live.full |= 1 << slot;
            }
            (ring.unreserved_start(id.into()), s + 1, s)
        };
        let expected_kind = if retry.is_some() {
            RouteKind::Reserved
        } else if kind == RouteKind::Reserved {
            RouteKind::Spillover
        } else {
            kind
        };
        assert_eq!(h.route.kind(), expected_kind);
        assert_eq!(
            h.route.permit().is_reserved(),
            expected_kind == RouteKind::Reserved
        );
        assert_eq!(h.route.slot(), new_slot);
        assert_eq!(h.route.manager(), self.expect_manager(start, len, new_slot));
        // Whatever moved under the call since it was routed, never back onto its thrower.
        assert_ne!(
            h.route.manager(),
            manager,
            "a throttle moves to another manager"
        );
        self.held.push(h);
    }

    /// Stores `task`'s reservation as the router does (limit and ready both 0 is none);
    /// returns whether that changed anything, counting a generation if so.
    fn store_reservation(&mut self, t: usize, new: Option<Reservation>) -> bool {
        let new = new.filter(|r| *r != Reservation::default());
        let changed = self.reservations.get(&t).copied() != new;
        match new {
            Some(r) => self.reservations.insert(t, r),
            None => self.reservations.remove(&t),
        };
        self.generation += u64::from(changed);
        changed
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Route(t) => self.route(t),
            Op::Drop(i) => {
                if !self.held.is_empty() {
                    let h = self.held.swap_remove(i.index(self.held.len()));
                    self.unmark(h.task, h.route.kind(), h.route.slot());
                }
            }
            Op::DropTask(t) => {
                let (gone, kept) = std::mem::take(&mut self.held)
                    .into_iter()
                    .partition(|h| h.task == t);
                self.held = kept;
                for h in gone {
                    self.unmark(h.task, h.route.kind(), h.route.slot());
                }
            }
            Op::Throttle(i) => {
                if !self.held.is_empty() {
                    self.throttle(i.index(self.held.len()));
                }
            }
            Op::SetReservation(t, limit) => {
                let old = self.reservations.get(&t).copied();
                let new = Reservation::new(limit, old.map_or(0, |r| r.ready));
                let changed = self.store_reservation(t, Some(new));
                assert_eq!(self.router.set_reservation(task(t), limit), changed);
            }
            Op::SetReady(t, ready) => {
                let got = self.router.set_ready(task(t), ready);
                match self.reservations.get(&t).copied() {
                    None => assert_eq!(got, Err(Error::NoReservation { task: task(t) })),
                    Some(old) => {
                        let changed =
                            self.store_reservation(t, Some(Reservation::new(old.limit, ready)));
                        assert_eq!(got, Ok(changed));
                    }
                }
            }
            Op::Put(t, limit, ready) => {
                let changed = self.store_reservation(t, Some(Reservation::new(limit, ready)));
                let got = self
                    .router
                    .put_reservation(task(t), Reservation::new(limit, ready));
                assert_eq!(got, changed);
            }
            Op::Remove(t) => {
                // A removal drains: limit 0, gone once nothing is ready.
                let old = self.reservations.get(&t).copied();
                let changed = self.store_reservation(t, old.map(|r| Reservation::new(0, r.ready)));
                assert_eq!(self.router.remove_reservation(task(t)), changed);
            }
            Op::Health(m, up) => {
                let got = self.router.set_health(spread(m), up);
                if !self.fleet.contains_key(&m) {
                    assert_eq!(got, Err(Error::UnknownManager { id: spread(m) }));
                } else {
                    let changed = self.down.contains(&m) == up;
                    assert_eq!(got, Ok(changed));
                    if up {
                        self.down.remove(&m);
                    } else {
                        self.down.insert(m);
                    }
                    self.generation += u64::from(changed);
                }
            }
            Op::SetManagers(ref fleet) => {
                let changed = *fleet != self.fleet;
                let got = self
                    .router
                    .set_managers(fleet.iter().rev().map(|(&i, &w)| (spread(i), w)));
                assert_eq!(got, Ok(changed));
                self.fleet = fleet.clone();
                // Managers that stay keep their health; new ones start healthy.
                self.down.retain(|m| fleet.contains_key(m));
                self.generation += u64::from(changed);
                let mut want: Vec<(ManagerId, u32)> =
                    fleet.iter().map(|(&i, &w)| (spread(i), w)).collect();
                want.sort();
                assert!(self.router.ring().managers().eq(want));
            }
            Op::Advance(secs) => {
                self.clock.advance(Duration::from_secs(secs));
                self.now += Duration::from_secs(secs);
            }
            Op::Evict => {
                let now = self.now;
                let mut idle = Vec::new();
                for (&t, l) in self.live.iter_mut() {
                    if std::mem::take(&mut l.used) {
                        l.last_seen = now;
                    } else if now - l.last_seen > TTL && !self.held.iter().any(|h| h.task == t) {
                        idle.push(t);
                    }
                }
                assert_eq!(
                    self.router.evict_idle(),
                    idle.len(),
                    "evicts exactly the idle"
                );
                for t in &idle {
                    self.live.remove(t);
                }
                self.evictions += idle.len() as u64;
            }
        }
    }

    /// Invariants that hold after every op.
    fn check(&self) {
        let s = self.router.stats();
        let held_reserved = self
            .held
            .iter()
            .filter(|h| h.route.kind() == RouteKind::Reserved)
            .count() as u64;
        assert_eq!(
            s.in_flight_reserved, held_reserved,
            "in-flight reserved gauge"
        );
        assert_eq!(
            s.in_flight_unreserved,
            self.held.len() as u64 - held_reserved,
            "in-flight unreserved gauge"
        );
        assert_eq!(
            s.in_flight_reserved + s.in_flight_unreserved,
            self.held.len() as u64
        );
        assert_eq!(s.generation, self.generation);
        assert_eq!(self.router.generation(), self.generation);
        assert_eq!(
            (s.routes_reserved, s.routes_unreserved, s.routes_spillover),
            (self.routes[0], self.routes[1], self.routes[2])
        );
        assert_eq!(s.no_manager, self.no_manager);
        assert_eq!(
            (s.throttles, s.throttles_exhausted),
            (self.throttles, self.exhausted)
        );
        assert_eq!(s.spillovers, self.routes[2] + self.spilled_on_throttle);
        assert_eq!((s.arc_grows, s.arc_shrinks), (self.grows, self.shrinks));
        assert_eq!(s.evictions, self.evictions);
        assert_eq!(s.live_entries, self.live.len() as u64);
        assert_eq!(s.reserved_tasks, self.reservations.len() as u64);
        for t in 0..TASKS {
            assert_eq!(
                self.router.reservation(task(t)),
                self.reservations.get(&t).copied()
            );
        }
        for m in 0..=POOL {
            let healthy = self.fleet.contains_key(&m) && !self.down.contains(&m);
            assert_eq!(self.router.is_healthy(spread(m)), healthy);
        }
        // Reserved routes stay within the share they were admitted under: the j-th oldest
        // held reserved route of a task was admitted while the j-1 older ones were held, so
        // j <= its admission-time share. Sound even when reservations shrink.
        for t in 0..TASKS {
            let mut admitted: Vec<(u64, u32)> = self
                .held
                .iter()
                .filter(|h| h.task == t && h.route.kind() == RouteKind::Reserved)
                .map(|h| (h.seq, h.admitted_share))
                .collect();
            admitted.sort();
            for (j, &(_, share)) in admitted.iter().enumerate() {
                assert!(
                    (j as u32) < share,
                    "task {t}: {} reserved routes held, the {}-th admitted under share {share}",
                    admitted.len(),
                    j + 1
                );
            }
        }
    }

    /// Drops every permit and checks that every gauge returns to zero and the route counters
    /// add up; then everything left is evictable after the TTL.
    fn finish(mut self) {
        self.held.clear();
        let s = self.router.stats();
        assert_eq!((s.in_flight_reserved, s.in_flight_unreserved), (0, 0));
        // One sweep dates the latest uses; one a TTL later finds everything idle.
        self.apply(&Op::Evict);
        self.apply(&Op::Advance(TTL.as_secs() + 1));
        self.apply(&Op::Evict);
        assert!(self.live.is_empty());
        assert_eq!(self.router.stats().live_entries, 0);
    }
}

proptest! {
    #![proptest_config(proptest_config(96))]

    /// Property 6 (and 9 along the way): Random op sequences against a model of the router: after
    /// every op the route kinds, slots, managers, in-flight gauges, counters, reservations,
    /// health and generation match, and no task holds more reserved routes than the share
    /// they were admitted under.
    #[test]
    fn router_matches_its_model_under_random_ops(
        fleet in pool_fleet(),
        reservations in initial_reservations(),
        ops in prop::collection::vec(op(true), 1..120),
    ) {
        let mut h = Harness::new(fleet, &reservations);
        h.check();
        for op in &ops {
            h.apply(op);
            h.check();
        }
        h.finish();
    }

    /// Property 6, fixed reservations: with reservations that never change, a task never holds more
    /// Reserved routes than its current `ready` (one frontend), after every op.
    #[test]
    fn fixed_reservations_never_overadmit(
        fleet in pool_fleet(),
        reservations in initial_reservations(),
        ops in prop::collection::vec(op(false), 1..120),
    ) {
        let mut h = Harness::new(fleet, &reservations);
        for op in &ops {
            h.apply(op);
            for t in 0..TASKS {
                let share = h.router.reservation(task(t)).map_or(0, |r| r.ready);
                prop_assert!(h.held_of(t, true) <= share, "task {} over its share {}", t, share);
            }
            h.check();
        }
        h.finish();
    }

    /// Property 7: Whatever happened, dropping every permit brings both in-flight gauges to 0,
    /// and the three route counters add up to the routes that were returned. Driven blind (no
    /// model), so it does not depend on the model of property 6.
    #[test]
    fn counters_return_to_zero(
        fleet in pool_fleet(),
        reservations in initial_reservations(),
        ops in prop::collection::vec(op(true), 1..150),
    ) {
        let clock = ManualClock::new();
        let mut builder = Router::builder()
            .config(router_config())
            .managers(fleet.iter().map(|(&i, &w)| (spread(i), w)));
        for (t, r) in reservations.iter().enumerate() {
            if let Some((l, r)) = *r {
                builder = builder.reservation(task(t), Reservation::new(l, r));
            }
        }
        let router = builder.clock(clock.clone()).build().unwrap();
        let mut held: Vec<Route> = Vec::new();
        let (mut ok, mut none) = (0u64, 0u64);
        let mut kinds = [0u64; 3];
        for op in &ops {
            match *op {
                Op::Route(t) => match router.route(task(t)) {
                    Some(r) => {
                        ok += 1;
                        kinds[kind_index(r.kind())] += 1;
                        held.push(r);
                    }
                    None => none += 1,
                },
                Op::Drop(i) if !held.is_empty() => drop(held.swap_remove(i.index(held.len()))),
                Op::DropTask(t) => held.retain(|r| r.task() != task(t)),
                Op::Throttle(i) if !held.is_empty() => {
                    let n = held.len();
                    let _ = router.on_throttle(&mut held[i.index(n)]);
                }
                Op::SetReservation(t, l) => drop(router.set_reservation(task(t), l)),
                Op::SetReady(t, r) => drop(router.set_ready(task(t), r)),
                Op::Put(t, l, r) => drop(router.put_reservation(task(t), Reservation::new(l, r))),
                Op::Remove(t) => drop(router.remove_reservation(task(t))),
                Op::Health(m, up) => drop(router.set_health(spread(m), up)),
                Op::SetManagers(ref f) => {
                    router.set_managers(f.iter().map(|(&i, &w)| (spread(i), w))).unwrap();
                }
                Op::Advance(s) => clock.advance(Duration::from_secs(s)),
                Op::Evict => drop(router.evict_idle()),
                Op::Drop(_) | Op::Throttle(_) => {}
            }
        }
        let s = router.stats();
        prop_assert_eq!(s.in_flight_reserved + s.in_flight_unreserved, held.len() as u64);
        held.clear();
        let s = router.stats();
        prop_assert_eq!((s.in_flight_reserved, s.in_flight_unreserved), (0, 0));
        prop_assert_eq!(s.routes_reserved + s.routes_unreserved + s.routes_spillover, ok);
        prop_assert_eq!([s.routes_reserved, s.routes_unreserved, s.routes_spillover], kinds);
        prop_assert_eq!(s.no_manager, none);
    }
}
