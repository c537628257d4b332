//! Property tests of the ring, the router's admission rules and its counters.
//!
//! Every property compares the crate against an independent expectation: a naive ring walk
//! over `Ring::points`, a model of the router's per-task state driven by the public
//! `ArcAssigner`, or an exact count of what the test itself holds. Case counts are set so
//! that the whole file runs in a few seconds in a debug build on two cores.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroU32;
use std::time::Duration;

use arcroute::{
    ArcAssigner, ArcState, Error, Frontends, GroupId, HealthMask, ManagerId, ManualClock,
    Reservation, Ring, RingConfig, Route, RouteKind, Router, RouterConfig, TaskId,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// `cases` per test, times `ARCROUTE_PROPTEST_SCALE` (default 1) for longer runs.
fn config(cases: u32) -> ProptestConfig {
    let scale = std::env::var("ARCROUTE_PROPTEST_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1);
    ProptestConfig {
        cases: cases.saturating_mul(scale),
        ..ProptestConfig::default()
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Ring helpers
// ---------------------------------------------------------------------------------------------

/// A fleet: distinct ids (spread over the u64 range) with weights 1..=4.
fn fleet(max: usize) -> impl Strategy<Value = Vec<(ManagerId, u32)>> {
    prop::collection::btree_map(0u64..64, 1u32..=4, 1..=max).prop_map(|m| {
        m.into_iter()
            .map(|(id, w)| (mid(id), w))
            .collect::<Vec<_>>()
    })
}

/// Pool id `i` as a manager id far from its neighbours, so ids do not sort like indices.
fn mid(i: u64) -> ManagerId {
    ManagerId::new(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555)
}

fn ring_config(seed: u64, vnodes: u32) -> RingConfig {
    RingConfig::default()
        .with_seed(seed)
        .with_vnodes_per_weight(nz(vnodes))
}

fn mask_of(ring: &Ring, down: &BTreeSet<ManagerId>) -> HealthMask {
    let mut mask = HealthMask::all_up(ring);
    for &id in down {
        if ring.contains(id) {
            mask.set(ring, id, false).unwrap();
        }
    }
    mask
}

/// The arc as the placement spec words it, straight from `Ring::points`: the first point at
/// or after `start` (wrapping), one revolution, each healthy manager the first time it is met.
fn naive_arc(ring: &Ring, start: u64, len: u32, down: &BTreeSet<ManagerId>) -> Vec<ManagerId> {
    let points: Vec<(u64, ManagerId)> = ring.points().collect();
    let n = points.len();
    let first = points.iter().position(|&(h, _)| h >= start).unwrap_or(0);
    let mut out = Vec::new();
    for t in 0..n {
        if out.len() >= len as usize {
            break;
        }
        let m = points[(first + t) % n].1;
        if !down.contains(&m) && !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// An arc start: arbitrary, exactly on a point, just past a point, or at the ends of u64.
fn start_on(ring: &Ring, sel: (u64, Index, u8)) -> u64 {
    let (raw, index, mode) = sel;
    let h = ring
        .points()
        .nth(index.index(ring.point_count()))
        .unwrap()
        .0;
    match mode % 5 {
        0 => raw,
        1 => h,
        2 => h.wrapping_add(1),
        3 => h.wrapping_sub(1),
        _ => {
            if raw % 2 == 0 {
                0
            } else {
                u64::MAX
            }
        }
    }
}

fn start_sel() -> impl Strategy<Value = (u64, Index, u8)> {
    (any::<u64>(), any::<Index>(), any::<u8>())
}

fn arc_len() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..=20, 1 => Just(u32::MAX)]
}

/// Down set drawn as bits over a fleet (or any list of ids).
fn down_set(ids: &[ManagerId], bits: u64) -> BTreeSet<ManagerId> {
    ids.iter()
        .enumerate()
        .filter(|&(i, _)| bits >> (i % 64) & 1 == 1)
        .map(|(_, &id)| id)
        .collect()
}

/// Checks the one-slot relation between the arc `small` on a ring without `m` and the arc
/// `big` with the same `(start, len)` on the same ring plus `m` (same health for the others):
/// `big` is `small` with `m` inserted at `m`'s position, cut back to `len`.
fn assert_one_slot(small: &[ManagerId], big: &[ManagerId], m: ManagerId, len: u32) {
    assert!(!small.contains(&m));
    match big.iter().position(|&x| x == m) {
        None => assert_eq!(big, small, "m not in the arc: nothing moves"),
        Some(p) => {
            let mut expected = small.to_vec();
            expected.insert(p, m);
            expected.truncate(len as usize);
            assert_eq!(
                big,
                &expected[..],
                "m enters at slot {p}, the rest shifts by one"
            );
            // Equivalently: the big arc without m is the small arc truncated to len - 1.
            let without: Vec<ManagerId> = big.iter().copied().filter(|&x| x != m).collect();
            let cut = small.len().min(len as usize - 1);
            assert_eq!(without, &small[..cut]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1-3: ring properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    /// Property 1: Arcs: distinct, healthy, exactly `min(len, healthy)` members, equal to the naive
    /// walk of the spec, and `nth_in_arc` is the k-th element of `arc_with`.
    #[test]
    fn arcs_are_distinct_healthy_and_match_the_spec(
        managers in fleet(16),
        seed in any::<u64>(),
        vnodes in 1u32..=24,
        down_bits in any::<u64>(),
        starts in prop::collection::vec((start_sel(), arc_len()), 1..6),
    ) {
        let ring = Ring::new(ring_config(seed, vnodes), managers.iter().copied()).unwrap();
        let ids: Vec<ManagerId> = managers.iter().map(|&(id, _)| id).collect();
        let down = down_set(&ids, down_bits);
        let mask = mask_of(&ring, &down);
        let healthy = ids.len() - down.len();
        prop_assert_eq!(mask.healthy_count() as usize, healthy);
        let all_up = HealthMask::all_up(&ring);

        // Construction: sorted points, w × vnodes of them per manager.
        let points: Vec<(u64, ManagerId)> = ring.points().collect();
        // Strictly ascending: 64-bit positions of a few hundred points never collide (odds
        // about 1e-14), so equal positions would mean points hashed from equal input.
        prop_assert!(points.windows(2).all(|w| w[0].0 < w[1].0));
        for &(id, w) in &managers {
            let owned = points.iter().filter(|p| p.1 == id).count();
            prop_assert_eq!(owned, (w * vnodes) as usize);
        }

        for (sel, len) in starts {
            let start = start_on(&ring, sel);
            let arc: Vec<ManagerId> = ring.arc_with(start, len, &mask).collect();
            let distinct: BTreeSet<ManagerId> = arc.iter().copied().collect();
            prop_assert_eq!(distinct.len(), arc.len(), "distinct members");
            prop_assert!(arc.iter().all(|&m| mask.is_healthy(&ring, m)), "healthy members");
            prop_assert_eq!(arc.len(), (len as usize).min(healthy), "min(len, healthy)");
            prop_assert_eq!(&arc, &naive_arc(&ring, start, len, &down), "spec walk");
            for k in 0..arc.len() as u32 + 2 {
                prop_assert_eq!(
                    ring.nth_in_arc(start, len, k, &mask),
                    arc.get(k as usize).copied(),
                    "nth_in_arc k={}", k
                );
            }
            // Without a mask: every manager counts, and slot 0 is `first`.
            let full: Vec<ManagerId> = ring.arc(start, len).collect();
            prop_assert_eq!(&full, &ring.arc_with(start, len, &all_up).collect::<Vec<_>>());
            prop_assert_eq!(&full, &naive_arc(&ring, start, len, &BTreeSet::new()));
            if len > 0 {
                prop_assert_eq!(full[0], ring.first(start));
            }
        }
    }

    /// Property 2: The order of the input does not matter: same points, managers and arcs.
    #[test]
    fn input_order_does_not_matter(
        (managers, shuffled) in fleet(12)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        seed in any::<u64>(),
        vnodes in 1u32..=40,
        down_bits in any::<u64>(),
        starts in prop::collection::vec((any::<u64>(), 0u32..=14), 1..8),
    ) {
        let cfg = ring_config(seed, vnodes);
        let a = Ring::new(cfg, managers.iter().copied()).unwrap();
        let b = Ring::new(cfg, shuffled.iter().copied()).unwrap();
        prop_assert!(a.points().eq(b.points()));
        prop_assert!(a.managers().eq(b.managers()));
        let ids: Vec<ManagerId> = managers.iter().map(|&(id, _)| id).collect();
        let down = down_set(&ids, down_bits);
        let (ma, mb) = (mask_of(&a, &down), mask_of(&b, &down));
        for (start, len) in starts {
            prop_assert!(a.arc_with(start, len, &ma).eq(b.arc_with(start, len, &mb)));
            prop_assert!(a.arc(start, len).eq(b.arc(start, len)));
        }
    }

    /// Property 3a: Adding one manager changes each arc in at most the slot it enters, with or
    /// without health applied (the newcomer itself may be down).
    #[test]
    fn adding_one_manager_moves_at_most_one_slot(
        managers in fleet(14),
        new_id in 64u64..80,
        new_weight in 1u32..=4,
        seed in any::<u64>(),
        vnodes in 1u32..=24,
        down_bits in any::<u64>(),
        starts in prop::collection::vec((any::<u64>(), 0u32..=16), 1..8),
    ) {
        let m = mid(new_id);
        let cfg = ring_config(seed, vnodes);
        let small = Ring::new(cfg, managers.iter().copied()).unwrap();
        let big = Ring::new(cfg, managers.iter().copied().chain([(m, new_weight)])).unwrap();
        let mut ids: Vec<ManagerId> = managers.iter().map(|&(id, _)| id).collect();
        ids.push(m);
        let down = down_set(&ids, down_bits);
        let (ms, mb) = (mask_of(&small, &down), mask_of(&big, &down));
        for (start, len) in starts {
            let s: Vec<ManagerId> = small.arc(start, len).collect();
            let b: Vec<ManagerId> = big.arc(start, len).collect();
            assert_one_slot(&s, &b, m, len);
            let s: Vec<ManagerId> = small.arc_with(start, len, &ms).collect();
            let b: Vec<ManagerId> = big.arc_with(start, len, &mb).collect();
            assert_one_slot(&s, &b, m, len);
            if down.contains(&m) {
                prop_assert_eq!(&s, &b, "a down newcomer moves nothing");
            }
        }
    }

    /// Property 3b: Removing one manager (here through `Router::set_managers`, whose ring must
    /// equal a fresh `Ring::new`) changes each arc in at most the slot it leaves.
    #[test]
    fn removing_one_manager_moves_at_most_one_slot(
        managers in fleet(14).prop_filter("two managers", |v| v.len() >= 2),
        gone in any::<Index>(),
        seed in any::<u64>(),
        down_bits in any::<u64>(),
        starts in prop::collection::vec((any::<u64>(), 0u32..=16), 1..8),
    ) {
        let m = managers[gone.index(managers.len())].0;
        let rest: Vec<(ManagerId, u32)> =
            managers.iter().copied().filter(|&(id, _)| id != m).collect();
        let router = Router::builder()
            .seed(seed)
            .managers(managers.iter().copied())
            .build()
            .unwrap();
        let big = router.ring();
        prop_assert!(router.set_managers(rest.iter().copied()).unwrap());
        prop_assert!(!router.set_managers(rest.iter().rev().copied()).unwrap());
        let small = router.ring();
        let fresh = Ring::new(RingConfig::default().with_seed(seed), rest.iter().copied()).unwrap();
        prop_assert!(small.points().eq(fresh.points()));
        prop_assert!(!small.contains(m));

        let ids: Vec<ManagerId> = managers.iter().map(|&(id, _)| id).collect();
        let down = down_set(&ids, down_bits);
        let (ms, mb) = (mask_of(&small, &down), mask_of(&big, &down));
        for (start, len) in starts {
            let s: Vec<ManagerId> = small.arc(start, len).collect();
            let b: Vec<ManagerId> = big.arc(start, len).collect();
            assert_one_slot(&s, &b, m, len);
            let s: Vec<ManagerId> = small.arc_with(start, len, &ms).collect();
            let b: Vec<ManagerId> = big.arc_with(start, len, &mb).collect();
            assert_one_slot(&s, &b, m, len);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4-5: balance and weights (deterministic: default seed, fixed ids)
// ---------------------------------------------------------------------------------------------

/// First-manager counts of the unreserved arcs of tasks `0..tasks`.
fn first_counts(ring: &Ring, tasks: u128) -> HashMap<ManagerId, u64> {
    let mut counts = HashMap::new();
    for i in 0..tasks {
        let start = ring.unreserved_start(GroupId::from(TaskId::new(i)));
        *counts.entry(ring.first(start)).or_insert(0) += 1;
    }
    counts
}

/// Property 4: With 100 equal managers and the default 160 vnodes per weight, the busiest
/// manager is the first manager of at most 1.35× the mean share of 100 000 task arcs.
///
/// Measured: max/mean 1.250, min/mean 0.780 (ids 0..100, seed 0; ids 1000..1100 give 1.268).
/// 1.35 and 0.70 leave headroom over that, yet a ring with a quarter of the points (40 per
/// manager: max/mean 1.40-1.45, min/mean 0.68-0.70) or with duplicated points fails.
#[test]
fn balance_with_100_equal_managers() {
    const TASKS: u128 = 100_000;
    const BOUND: f64 = 1.35;
    let ring = Ring::new(
        RingConfig::default(),
        (0..100).map(|i| (ManagerId::new(i), 1)),
    )
    .unwrap();
    let counts = first_counts(&ring, TASKS);
    assert_eq!(counts.len(), 100, "every manager is first for some task");
    let mean = TASKS as f64 / 100.0;
    let max = *counts.values().max().unwrap() as f64;
    let min = *counts.values().min().unwrap() as f64;
    let ratio = max / mean;
    eprintln!(
        "balance: max/mean = {ratio:.3}, min/mean = {:.3}",
        min / mean
    );
    assert!(ratio < BOUND, "max/mean {ratio:.3} >= {BOUND}");
    assert!(min / mean > 0.70, "min/mean {:.3}", min / mean);
}

/// Property 5: Weights are respected: 50 managers of weight 3 and 50 of weight 1 are first for a
/// share of 100 000 task arcs within ±0.02 of 3/4 (measured: 0.748), and the mean weight-3
/// manager gets 3× the mean weight-1 manager within ±0.3 (measured: 2.97). Ignoring weights
/// would give 1/2 and 1×.
#[test]
fn weights_are_respected() {
    const TASKS: u128 = 100_000;
    let heavy = |id: ManagerId| id.get() % 2 == 0;
    let ring = Ring::new(
        RingConfig::default(),
        (0..100).map(|i| (ManagerId::new(i), if i % 2 == 0 { 3 } else { 1 })),
    )
    .unwrap();
    let counts = first_counts(&ring, TASKS);
    let heavy_total: u64 = counts
        .iter()
        .filter(|(&id, _)| heavy(id))
        .map(|(_, c)| c)
        .sum();
    let share = heavy_total as f64 / TASKS as f64;
    let per_heavy = heavy_total as f64 / 50.0;
    let per_light = (TASKS as u64 - heavy_total) as f64 / 50.0;
    eprintln!(
        "weights: heavy share {share:.4}, heavy/light per manager {:.3}",
        per_heavy / per_light
    );
    assert!((share - 0.75).abs() < 0.02, "heavy share {share:.4}");
    assert!((per_heavy / per_light - 3.0).abs() < 0.3);
}

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
            .managers(fleet.iter().map(|(&i, &w)| (mid(i), w)));
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
        mask_of(ring, &self.down.iter().map(|&i| mid(i)).collect())
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

    /// The model's throttle growth: one manager more, clamped to `healthy`. Returns the length
    /// to route on.
    fn throttle_arc(&mut self, t: usize, healthy: u32) -> u32 {
        let next = self.assigner.throttled(self.live[&t].arc, healthy);
        self.set_arc(t, next).max(1)
    }

    /// The model's `resize`: the assigner applied to the group's arc for `load`.
    fn resize(&mut self, t: usize, load: u32) -> u32 {
        let healthy = self.healthy();
        let next = self
            .assigner
            .unreserved(self.live[&t].arc, load, self.now, healthy);
        self.set_arc(t, next)
    }

    /// Stores the arc state and counts a grow or a shrink (a throttle on an arc longer than
    /// the healthy count clamps it shorter: a shrink).
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

        let (start, len, slot) = if expected_kind == RouteKind::Reserved {
            // Reserved calls have their own cursor and reach each slot in proportion to the
            // environments it holds.
            let len = self.reserved_len(t);
            let live = self.live.get_mut(&t).unwrap();
            let call = live.reserved_cursor;
            live.reserved_cursor = call.wrapping_add(1);
            // Spread over `max(limit, ready)` environments, so that a lowered reservation's
            // environments keep serving while they drain.
            let environments = res.unwrap().environments();
            let slot = self.assigner.reserved_slot(environments, len, call);
            (ring.reserved_start(id), len, slot)
        } else {
            let load = self.held_of(t, false) + 1;
            let len = self.resize(t, load);
            assert!(
                len >= load.div_ceil(2).min(healthy),
                "arc sized for its load"
            );
            let slot = self.next_cursor(t) % len;
            (ring.unreserved_start(id.into()), len, slot)
        };
        assert!(slot < len);
        assert_eq!(route.slot(), slot, "round-robin slot");
        assert_eq!(route.manager(), self.expect_manager(start, len, slot));
        if expected_kind == RouteKind::Reserved {
            let arc = self.router.reserved_arc(id);
            assert_eq!(arc.len() as u32, len);
            assert_eq!(arc[slot as usize].manager, route.manager());
        } else {
            let arc = self.router.unreserved_arc(id.into());
            assert_eq!(arc.len() as u32, len);
            assert_eq!(arc[slot as usize], route.manager());
        }

        self.routes[kind_index(expected_kind)] += 1;
        self.seq += 1;
        self.held.push(Held {
            route,
            task: t,
            admitted_share: res.map_or(0, |r| r.ready),
            seq: self.seq,
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
        let routed_in = h.route.generation();
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
        // A throttled reserved call tries the other slots that hold environments: the first
        // `min(len, environments)` of the reserved arc; then it spills over.
        let reserved = self.reserved_len(t);
        let usable = self
            .reservations
            .get(&t)
            .map_or(0, |r| reserved.min(r.environments()));
        let (start, len, new_slot) = if kind == RouteKind::Reserved && tries + 1 < usable {
            let s = (slot + 1) % usable;
            (ring.reserved_start(id), reserved, s)
        } else if kind == RouteKind::Reserved {
            // Spills to the group's unreserved arc: touches the entry, counts as load.
            self.live.get_mut(&t).unwrap().used = true;
            let load = self.held_of(t, false) + 1;
            let start = ring.unreserved_start(id.into());
            let mut len = self.resize(t, load);
            let mut s = self.next_cursor(t) % len;
            // Never back onto the manager that throttled it: the next slot, growing a
            // one-manager arc to two first.
            if self.expect_manager(start, len, s) == manager {
                if len < 2 {
                    len = self.throttle_arc(t, healthy);
                }
                s = (s + 1) % len;
            }
            self.spilled_on_throttle += 1;
            (start, len, s)
        } else {
            let len = self.throttle_arc(t, healthy);
            (ring.unreserved_start(id.into()), len, (slot + 1) % len)
        };
        let expected_kind = if kind == RouteKind::Reserved && tries + 1 < usable {
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
        if expected_kind == kind && generation == routed_in {
            // Same snapshot, same arc, another slot: another manager.
            assert_ne!(
                h.route.manager(),
                manager,
                "a throttle moves to another manager"
            );
        }
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
                    self.held.swap_remove(i.index(self.held.len()));
                }
            }
            Op::DropTask(t) => self.held.retain(|h| h.task != t),
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
                let got = self.router.set_health(mid(m), up);
                if !self.fleet.contains_key(&m) {
                    assert_eq!(got, Err(Error::UnknownManager { id: mid(m) }));
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
                    .set_managers(fleet.iter().rev().map(|(&i, &w)| (mid(i), w)));
                assert_eq!(got, Ok(changed));
                self.fleet = fleet.clone();
                // Managers that stay keep their health; new ones start healthy.
                self.down.retain(|m| fleet.contains_key(m));
                self.generation += u64::from(changed);
                let mut want: Vec<(ManagerId, u32)> =
                    fleet.iter().map(|(&i, &w)| (mid(i), w)).collect();
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
            assert_eq!(self.router.is_healthy(mid(m)), healthy);
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
    #![proptest_config(config(96))]

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
            .managers(fleet.iter().map(|(&i, &w)| (mid(i), w)));
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
                Op::Health(m, up) => drop(router.set_health(mid(m), up)),
                Op::SetManagers(ref f) => {
                    router.set_managers(f.iter().map(|(&i, &w)| (mid(i), w))).unwrap();
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

// ---------------------------------------------------------------------------------------------
// 8-9: isolation and spillover semantics
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum AOp {
    Route,
    Throttle(Index),
    Drop(Index),
    SetReservation(u32),
    SetReady(u32),
    Put(u32, u32),
    Remove,
    Advance(u64),
    Evict,
}

fn a_op() -> impl Strategy<Value = AOp> {
    prop_oneof![
        6 => Just(AOp::Route),
        3 => any::<Index>().prop_map(AOp::Throttle),
        3 => any::<Index>().prop_map(AOp::Drop),
        1 => (0u32..=10).prop_map(AOp::SetReservation),
        1 => (0u32..=10).prop_map(AOp::SetReady),
        1 => (0u32..=10, 0u32..=10).prop_map(|(l, r)| AOp::Put(l, r)),
        1 => Just(AOp::Remove),
        1 => prop::sample::select(vec![0u64, 30, 700]).prop_map(AOp::Advance),
        1 => Just(AOp::Evict),
    ]
}

fn managers(n: u64) -> impl Iterator<Item = (ManagerId, u32)> {
    (0..n).map(|i| (mid(i), 1))
}

proptest! {
    #![proptest_config(config(128))]

    /// Property 8: Whatever task A does (routes, throttles, drops, its own reservation changes,
    /// time, eviction), task B's reservation is unchanged, its held routes are untouched, and
    /// it can still take exactly `ready(B) - held` more Reserved routes, then Spillover.
    #[test]
    fn a_task_never_touches_another_tasks_reservation(
        res_a in (0u32..=10, 0u32..=10),
        res_b in (0u32..=10, 0u32..=10),
        b_before in 0u32..=12,
        ops in prop::collection::vec(a_op(), 0..80),
        n in 2u64..=12,
    ) {
        let clock = ManualClock::new();
        let (a, b) = (TaskId::new(0xa), TaskId::new(0xb));
        let rb = Reservation::new(res_b.0, res_b.1);
        let router = Router::builder()
            .managers(managers(n))
            .reservation(a, Reservation::new(res_a.0, res_a.1))
            .reservation(b, rb)
            .clock(clock.clone())
            .build()
            .unwrap();
        let held_b: Vec<Route> = (0..b_before).map(|_| router.route(b).unwrap()).collect();
        let snapshot_b: Vec<(ManagerId, RouteKind, u32)> =
            held_b.iter().map(|r| (r.manager(), r.kind(), r.slot())).collect();
        let b_reserved = held_b.iter().filter(|r| r.kind() == RouteKind::Reserved).count() as u32;
        prop_assert_eq!(b_reserved, b_before.min(rb.ready));

        let mut held_a: Vec<Route> = Vec::new();
        for op in &ops {
            match *op {
                AOp::Route => held_a.push(router.route(a).unwrap()),
                AOp::Throttle(i) if !held_a.is_empty() => {
                    let n = held_a.len();
                    let _ = router.on_throttle(&mut held_a[i.index(n)]);
                }
                AOp::Drop(i) if !held_a.is_empty() => {
                    drop(held_a.swap_remove(i.index(held_a.len())));
                }
                AOp::SetReservation(l) => drop(router.set_reservation(a, l)),
                AOp::SetReady(r) => drop(router.set_ready(a, r)),
                AOp::Put(l, r) => drop(router.put_reservation(a, Reservation::new(l, r))),
                AOp::Remove => drop(router.remove_reservation(a)),
                AOp::Advance(s) => clock.advance(Duration::from_secs(s)),
                AOp::Evict => drop(router.evict_idle()),
                AOp::Throttle(_) | AOp::Drop(_) => {}
            }
            prop_assert_eq!(router.reservation(b), Some(rb).filter(|r| *r != Reservation::default()));
            let reserved_a = held_a.iter().filter(|r| r.kind() == RouteKind::Reserved).count();
            prop_assert_eq!(
                router.stats().in_flight_reserved,
                u64::from(b_reserved) + reserved_a as u64
            );
        }
        let now_b: Vec<(ManagerId, RouteKind, u32)> =
            held_b.iter().map(|r| (r.manager(), r.kind(), r.slot())).collect();
        prop_assert_eq!(now_b, snapshot_b);
        drop(held_a);

        let room = rb.ready - b_reserved;
        let more: Vec<Route> = (0..room + 3).map(|_| router.route(b).unwrap()).collect();
        let kinds: Vec<RouteKind> = more.iter().map(Route::kind).collect();
        let mut expected = vec![RouteKind::Reserved; room as usize];
        let beyond = if rb == Reservation::default() {
            RouteKind::Unreserved // limit and ready 0: no reservation
        } else {
            RouteKind::Spillover
        };
        expected.extend([beyond; 3]);
        prop_assert_eq!(kinds, expected);
    }

    /// Property 9: Spillover semantics: holding k calls of a task with reservation (L, R), the
    /// first R (what is ready) are Reserved, on the reserved slots `ArcAssigner::reserved_slot` names,
    /// the rest Spillover; releasing one reserved call admits exactly one more; a task without
    /// a reservation always gets Unreserved, also once its reservation is removed.
    #[test]
    fn spillover_beyond_what_is_ready(
        limit in 0u32..=40,
        ready in 0u32..=40,
        k in 0u32..=60,
        n in 1u64..=10,
        down in any::<Index>(),
    ) {
        let (t, u) = (TaskId::new(7), TaskId::new(8));
        let res = Reservation::new(limit, ready);
        let router = Router::builder()
            .managers(managers(n))
            .reservation(t, res)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        if n > 1 {
            router.set_health(mid(down.index(n as usize) as u64), false).unwrap();
        }
        let healthy = if n > 1 { n - 1 } else { n } as u32;
        // Admissions follow what exists: a raise ramps with `ready`, a cut drains with it.
        let share = ready;
        // Limit and ready both 0 is no reservation: calls are plainly unreserved.
        let beyond = if res == Reservation::default() {
            RouteKind::Unreserved
        } else {
            RouteKind::Spillover
        };

        // The reserved arc: length and environment split as documented.
        let arc = router.reserved_arc(t);
        let want = limit.max(ready);
        let len = if want == 0 { 0 } else { want.div_ceil(16).max(2).min(healthy) };
        prop_assert_eq!(arc.len() as u32, len);
        if len > 0 {
            prop_assert_eq!(arc.iter().map(|s| s.environments).sum::<u32>(), limit);
        }
        prop_assert!(arc.iter().all(|s| router.is_healthy(s.manager)));

        let mut held: Vec<Route> = (0..k).map(|_| router.route(t).unwrap()).collect();
        for (i, r) in held.iter().enumerate() {
            let i = i as u32;
            if i < share {
                prop_assert_eq!(r.kind(), RouteKind::Reserved, "call {} of share {}", i, share);
                prop_assert!(r.permit().is_reserved());
                prop_assert_eq!(
                    r.slot(),
                    ArcAssigner::default().reserved_slot(res.environments(), len, i),
                    "reserved slots in proportion to their environments"
                );
                prop_assert_eq!(r.manager(), arc[r.slot() as usize].manager);
            } else {
                prop_assert_eq!(r.kind(), beyond, "call {} of share {}", i, share);
                prop_assert!(!r.permit().is_reserved());
                prop_assert!(router.unreserved_arc(t.into()).contains(&r.manager()));
            }
        }
        let s = router.stats();
        prop_assert_eq!(s.in_flight_reserved, u64::from(k.min(share)));
        prop_assert_eq!(s.in_flight_unreserved, u64::from(k - k.min(share)));

        // Releasing one reserved call admits exactly one more.
        if k >= share && share > 0 {
            held.swap_remove(0);
            held.push(router.route(t).unwrap());
            prop_assert_eq!(held.last().unwrap().kind(), RouteKind::Reserved);
            prop_assert_eq!(router.route(t).unwrap().kind(), RouteKind::Spillover);
        }

        for _ in 0..k {
            let r = router.route(u).unwrap();
            prop_assert_eq!(r.kind(), RouteKind::Unreserved);
            prop_assert!(!r.permit().is_reserved());
            held.push(r);
        }
        // A removal drains: the ready environments serve until the host reports them gone.
        router.remove_reservation(t);
        let draining = Some(Reservation::new(0, ready)).filter(|r| r.ready > 0);
        prop_assert_eq!(router.reservation(t), draining);
        if draining.is_some() {
            prop_assert_eq!(router.set_ready(t, 0), Ok(true));
            prop_assert_eq!(router.reservation(t), None);
        }
        for _ in 0..3 {
            prop_assert_eq!(router.route(t).unwrap().kind(), RouteKind::Unreserved);
        }
        drop(held);
        let s = router.stats();
        prop_assert_eq!((s.in_flight_reserved, s.in_flight_unreserved), (0, 0));
    }
}

// ---------------------------------------------------------------------------------------------
// 10: arc hysteresis (the router model above trusts `ArcAssigner`; this checks it on its own)
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    /// Property 10: `ArcAssigner::unreserved` over a random load trace: the arc is at once at least
    /// `ceil(load / target)` (clamped to `min..=healthy`), never grows past what load asks,
    /// shrinks one manager at a time, and only after load stayed under the lower threshold
    /// for `shrink_delay` since it went under, and since the previous shrink.
    #[test]
    fn arcs_grow_at_once_and_shrink_one_step_per_delay(
        target in 1u32..=8,
        percent in 0u32..=100,
        delay_s in 0u64..=30,
        healthy in 1u32..=40,
        trace in prop::collection::vec((0u32..=120, 0u64..=20), 1..80),
    ) {
        let mut c = arcroute::AssignConfig::default();
        c.target_per_manager = nz(target);
        c.shrink_below_percent = percent;
        c.shrink_delay = Duration::from_secs(delay_s);
        let a = ArcAssigner::new(c).unwrap();
        let delay = Duration::from_secs(delay_s);
        let mut state = ArcState { len: 1, below_since: None };
        let mut now = Duration::ZERO;
        // Start of the current run of "below the threshold", and the last shrink.
        let mut below_from: Option<Duration> = None;
        let mut last_shrink: Option<Duration> = None;
        for (load, dt) in trace {
            now += Duration::from_secs(dt);
            let wanted = load.div_ceil(target).max(1);
            let below = state.len > 1
                && u64::from(load) * 100
                    < u64::from(target) * u64::from(state.len - 1) * u64::from(percent);
            if !below || wanted > state.len {
                below_from = None;
            } else if below_from.is_none() {
                below_from = Some(now);
            }
            let next = a.unreserved(state, load, now, healthy);
            prop_assert!(next.len >= wanted.min(healthy), "grows at once");
            prop_assert!(next.len <= state.len.max(wanted).min(healthy), "never past the load");
            prop_assert!(next.len >= 1, "at least the minimum");
            if next.len < state.len.min(healthy) {
                prop_assert_eq!(next.len, state.len - 1, "one step at a time");
                prop_assert!(below, "shrinks only under the threshold");
                let since = below_from.unwrap().max(last_shrink.unwrap_or(Duration::ZERO));
                prop_assert!(now - since >= delay, "shrank after {:?} < {:?}", now - since, delay);
                last_shrink = Some(now);
            }
            if next.len > state.len {
                last_shrink = None;
            }
            state = next;
            let t = a.throttled(state, healthy);
            prop_assert_eq!(t.len, (state.len + 1).min(healthy));
        }
    }
}

/// Lowering `ready` revokes nothing already admitted (so a router may briefly hold more
/// Reserved permits than are ready), and admits no further reserved call until the
/// held ones have drained below the new share.
#[test]
fn a_lowered_reservation_drains_before_admitting_again() {
    let router = Router::builder()
        .managers(managers(6))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let t = TaskId::new(3);
    router.put_reservation(t, Reservation::new(3, 3));
    let mut held: Vec<Route> = (0..3).map(|_| router.route(t).unwrap()).collect();
    assert!(held.iter().all(|r| r.kind() == RouteKind::Reserved));
    assert!(router.set_ready(t, 1).unwrap());
    assert_eq!(router.stats().in_flight_reserved, 3, "nothing revoked");
    for still_held in [2, 1] {
        assert_eq!(router.route(t).unwrap().kind(), RouteKind::Spillover);
        held.pop();
        assert_eq!(router.stats().in_flight_reserved, still_held);
    }
    assert_eq!(
        router.route(t).unwrap().kind(),
        RouteKind::Spillover,
        "1 held, share 1"
    );
    held.pop();
    let again = router.route(t).unwrap();
    assert_eq!(again.kind(), RouteKind::Reserved);
    assert_eq!(router.route(t).unwrap().kind(), RouteKind::Spillover);
}

// ---------------------------------------------------------------------------------------------
// Regression: a throttle that clamps an arc shorter counts a shrink
// ---------------------------------------------------------------------------------------------

/// `on_throttle` on an unreserved arc longer than the healthy count clamps the arc down to the
/// healthy count. The arc lost managers, so it counts as a shrink, not a grow (an earlier
/// version counted every length change on throttle as a grow).
#[test]
fn throttle_that_shortens_an_arc_counts_a_shrink() {
    let router = Router::builder()
        .managers(managers(4))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let t = TaskId::new(1);
    // 32 in flight at 8 per manager: an arc of 4.
    let mut held: Vec<Route> = (0..32).map(|_| router.route(t).unwrap()).collect();
    assert_eq!(router.unreserved_arc(t.into()).len(), 4);
    router.set_health(mid(0), false).unwrap();
    router.set_health(mid(1), false).unwrap();
    let before = router.stats();
    assert!(router.on_throttle(&mut held[0]));
    let after = router.stats();
    // The live arc went from 4 to 2 managers.
    assert_eq!(router.unreserved_arc(t.into()).len(), 2);
    assert_eq!(
        (
            after.arc_grows - before.arc_grows,
            after.arc_shrinks - before.arc_shrinks
        ),
        (0, 1),
        "a throttle that shortens the arc is a shrink, not a grow"
    );
}

// ---------------------------------------------------------------------------------------------
// Frontends: local counting never over-admits across the fleet
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(128))]

    /// Property 11: `count` routers, one per frontend index, counting locally (the default), each
    /// routing a task until it spills: together they admit exactly `ready` Reserved calls, and
    /// each at most one more than any other.
    #[test]
    fn frontends_admit_exactly_what_is_ready_together(
        count in 1u32..=16,
        ready in 0u32..=64,
        limit in 0u32..=64,
        t in any::<u128>(),
    ) {
        let task = TaskId::new(t);
        let mut admitted = Vec::new();
        for index in 0..count {
            let mut config = RouterConfig::default();
            config.frontends = Frontends::new(index, count).unwrap();
            let router = Router::builder()
                .config(config)
                .managers(managers(8))
                .reservation(task, Reservation::new(limit, ready))
                .build()
                .unwrap();
            let held: Vec<Route> = (0..=ready).map(|_| router.route(task).unwrap()).collect();
            let reserved = held.iter().take_while(|r| r.kind() == RouteKind::Reserved).count();
            prop_assert!(held[reserved..].iter().all(|r| r.kind() != RouteKind::Reserved));
            admitted.push(reserved as u32);
        }
        prop_assert_eq!(admitted.iter().sum::<u32>(), ready);
        let (lo, hi) = (admitted.iter().min().unwrap(), admitted.iter().max().unwrap());
        prop_assert!(hi - lo <= 1, "{:?}", admitted);
    }
}
