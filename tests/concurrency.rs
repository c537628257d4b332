//! Bounded concurrency stress tests of the router's public contract.
//!
//! Every loop runs a fixed number of iterations (no wall-clock loops), so a bug can make a test
//! fail but never hang it. Threads record what they saw; the assertions run after `join`.
//!
//! - `readers_see_whole_snapshots_while_one_writer_republishes`: 4 readers route, hold, hand
//!   off (to a dropper thread) and throttle calls while one writer republishes fleets, health,
//!   reservations and advances the clock. Checks (a) whole snapshots, (b) per-thread monotonic
//!   generations, (c) conservation of permits and route counts.
//! - `reserved_share_is_never_exceeded_by_concurrent_callers`: many threads hold every permit
//!   of one reserved task; the Reserved routes held at once never exceed its share.
//! - `router_permit_and_route_are_thread_safe`: static `Send`/`Sync` assertions.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use arcroute::{
    ArcAssigner, Clock, Error, GroupId, HealthMask, LocalRouter, ManagerId, ManualClock,
    MonotonicClock, Permit, Pick, Reservation, Ring, Route, RouteKind, Router, RouterConfig,
    TaskId,
};

mod support;
use support::{dropper, fleet, m, weighted_fleet};

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}

#[test]
fn router_permit_and_route_are_thread_safe() {
    assert_send_sync::<Router>();
    assert_send_sync::<Router<ManualClock>>();
    assert_send::<Permit>();
    assert_send::<Route>();
    assert_send::<LocalRouter<'static, MonotonicClock>>();
}

// ---------------------------------------------------------------------------------------------
// Test 1: readers against one writer.
// ---------------------------------------------------------------------------------------------

const READERS: usize = 4;
const ROUTES_PER_READER: usize = 20_000;
const WRITER_ITERATIONS: usize = 1_500;
/// Routes a reader keeps in flight before it releases the oldest.
const READER_HOLD: usize = 6;
/// Permits the dropper keeps in flight before it drops the oldest.
const DROPPER_HOLD: usize = 16;

/// Hot tasks routed by every reader: 0 and 1 are reserved from the start, the writer toggles
/// 2's reservation and changes 0's `ready`, 3 never has one.
const HOT: [TaskId; 4] = [
    TaskId::new(0xA0),
    TaskId::new(0xA1),
    TaskId::new(0xA2),
    TaskId::new(0xA3),
];
/// A shared group for a few tasks routed with `route_in`.
const SHARED_GROUP: GroupId = GroupId::new(0xB0);

/// Two overlapping fleets the writer alternates between. Managers 5..=8 are in both; the
/// writer flips the health of 5 and 6 only, so at least 6 managers are always healthy.
fn writer_fleet(which: usize) -> Vec<(ManagerId, u32)> {
    match which {
        0 => weighted_fleet(1..=8),
        _ => (5..=12).map(|i| (m(i), 2)).collect(),
    }
}

fn ids(list: &[(ManagerId, u32)]) -> BTreeSet<u64> {
    list.iter().map(|&(id, _)| id.get()).collect()
}

/// What the writer published in one generation (its own model, checked against the router).
#[derive(Clone, Debug)]
struct GenRecord {
    fleet: usize,
    down: BTreeSet<u64>,
    reservations: [Option<Reservation>; HOT.len()],
}

/// What a reader observed; checked after `join`.
#[derive(Default)]
struct ReaderLog {
    /// Successful `route` / `route_in` calls, by kind at routing time.
    routes: usize,
    reserved: usize,
    unreserved: usize,
    spillover: usize,
    nones: usize,
    throttles: usize,
    throttles_exhausted: usize,
    /// Reserved routes that `on_throttle` moved to the unreserved arc.
    spilled_on_throttle: usize,
    sent_to_dropper: usize,
    /// (generation, manager) of every route, and of every route after a successful throttle.
    pairs: HashSet<(u64, u64)>,
    /// Hot-task observations: (generation, hot index, kind, manager, at routing time).
    hot: HashSet<(u64, usize, RouteKind, u64, bool)>,
    /// Generations seen, for the "did anything interleave" check.
    generations: BTreeSet<u64>,
    /// Problems found inline (first few kept), each a human-readable line.
    problems: Vec<String>,
}

impl ReaderLog {
    fn problem(&mut self, what: String) {
        if self.problems.len() < 8 {
            self.problems.push(what);
        }
    }
}

fn task_for(reader: usize, i: usize) -> (TaskId, GroupId, Option<usize>) {
    match i % 4 {
        0 => {
            let h = (i / 4 + reader) % HOT.len();
            (HOT[h], GroupId::from(HOT[h]), Some(h))
        }
        1 => (TaskId::new(0xC000 + (i % 16) as u128), SHARED_GROUP, None),
        _ => {
            // Distinct per reader and per call: many tasks, each used once.
            let t = TaskId::new(((reader as u128 + 1) << 40) | i as u128);
            (t, GroupId::from(t), None)
        }
    }
}

fn reader(
    router: &Router<ManualClock>,
    reader: usize,
    start: &Barrier,
    to_dropper: mpsc::Sender<Permit>,
) -> ReaderLog {
    let mut log = ReaderLog::default();
    let mut held: VecDeque<Route> = VecDeque::with_capacity(READER_HOLD + 1);
    let mut last_gen = 0u64;
    start.wait();
    for i in 0..ROUTES_PER_READER {
        let (task, group, hot) = task_for(reader, i);
        let routed = if group == GroupId::from(task) {
            router.route(task)
        } else {
            router.route_in(task, group)
        };
        let Some(mut route) = routed else {
            log.nones += 1;
            continue;
        };
        log.routes += 1;
        let gen = route.generation();
        if gen < last_gen {
            log.problem(format!(
                "reader {reader}: route {i} saw generation {gen} after {last_gen}"
            ));
        }
        last_gen = last_gen.max(gen);
        log.generations.insert(gen);
        log.pairs.insert((gen, route.manager().get()));
        match route.kind() {
            RouteKind::Reserved => log.reserved += 1,
            RouteKind::Unreserved => log.unreserved += 1,
            RouteKind::Spillover => log.spillover += 1,
        }
        if route.task() != task || route.group() != group {
            log.problem(format!(
                "reader {reader}: route {i} has the wrong task/group"
            ));
        }
        match hot {
            Some(h) => {
                log.hot
                    .insert((gen, h, route.kind(), route.manager().get(), true));
            }
            None if route.kind() != RouteKind::Unreserved => log.problem(format!(
                "reader {reader}: unreserved task routed as {:?}",
                route.kind()
            )),
            None => {}
        }

        // Throttle some routes; a few (hot and not) are throttled until the router gives up.
        let throttle_times = if i % 20 == 8 || i % 50 == 7 {
            64
        } else {
            usize::from(i % 5 == 2)
        };
        for _ in 0..throttle_times {
            let before = (
                route.generation(),
                route.manager(),
                route.kind(),
                route.retries(),
            );
            log.throttles += 1;
            if !router.on_throttle(&mut route) {
                log.throttles_exhausted += 1;
                let after = (
                    route.generation(),
                    route.manager(),
                    route.kind(),
                    route.retries(),
                );
                if after != before {
                    log.problem(format!(
                        "reader {reader}: refused throttle changed the route {before:?} -> {after:?}"
                    ));
                }
                break;
            }
            let gen = route.generation();
            if gen < before.0 || gen < last_gen {
                log.problem(format!(
                    "reader {reader}: throttle moved route from generation {} to {gen} \
                     (thread had seen {last_gen})",
                    before.0
                ));
            }
            last_gen = last_gen.max(gen);
            log.generations.insert(gen);
            log.pairs.insert((gen, route.manager().get()));
            if route.retries() != before.3 + 1 {
                log.problem(format!("reader {reader}: retries did not go up by one"));
            }
            match (before.2, route.kind()) {
                (RouteKind::Reserved, RouteKind::Spillover) => log.spilled_on_throttle += 1,
                (a, b) if a == b => {}
                (a, b) => log.problem(format!("reader {reader}: throttle turned {a:?} into {b:?}")),
            }
            if let Some(h) = hot {
                log.hot
                    .insert((gen, h, route.kind(), route.manager().get(), false));
            }
        }

        held.push_back(route);
        if held.len() > READER_HOLD {
            let oldest = held.pop_front().expect("queue is not empty");
            if i % 3 == 0 {
                to_dropper
                    .send(oldest.into_permit())
                    .expect("the dropper outlives the readers");
                log.sent_to_dropper += 1;
            } else {
                drop(oldest);
            }
        }
        if i % 64 == 0 {
            thread::yield_now();
        }
    }
    // Hand the rest to the dropper too, so that the last drops also happen cross-thread.
    for route in held {
        to_dropper
            .send(route.into_permit())
            .expect("the dropper outlives the readers");
        log.sent_to_dropper += 1;
    }
    log
}

/// The single writer. `records` holds generation 1; returns it with every generation the
/// writer published and what it published.
fn writer(
    router: &Router<ManualClock>,
    clock: &ManualClock,
    start: &Barrier,
    mut records: BTreeMap<u64, GenRecord>,
) -> BTreeMap<u64, GenRecord> {
    // First, before anything that can panic: a writer that died before the barrier would
    // leave the readers waiting forever.
    start.wait();
    let (mut gen, mut model) = records
        .last_key_value()
        .map(|(&gen, rec)| (gen, rec.clone()))
        .expect("generation 1 is recorded");

    // After a publish: the generation moved by exactly one (sole writer) and the router agrees
    // with the model.
    let mut record = |model: &GenRecord, gen: &mut u64, what: &str| {
        let now = router.generation();
        assert_eq!(now, *gen + 1, "{what}: one publish, one generation");
        *gen = now;
        for (h, task) in HOT.iter().enumerate() {
            assert_eq!(
                router.reservation(*task),
                model.reservations[h],
                "{what}: reservation of hot task {h}"
            );
        }
        for id in ids(&writer_fleet(model.fleet)) {
            assert_eq!(
                router.is_healthy(ManagerId::new(id)),
                !model.down.contains(&id),
                "{what}: health of manager {id}"
            );
        }
        records.insert(now, model.clone());
    };

    for j in 0..WRITER_ITERATIONS {
        if j % 10 == 0 {
            model.fleet = 1 - model.fleet;
            let members = ids(&writer_fleet(model.fleet));
            model.down.retain(|id| members.contains(id));
            assert_eq!(router.set_managers(writer_fleet(model.fleet)), Ok(true));
            record(&model, &mut gen, "set_managers");
            // The same fleet again publishes nothing.
            assert_eq!(router.set_managers(writer_fleet(model.fleet)), Ok(false));
        }
        if j % 3 == 1 {
            let id = 5 + (j / 3 % 2) as u64;
            let up = model.down.contains(&id);
            assert_eq!(router.set_health(ManagerId::new(id), up), Ok(true));
            if up {
                model.down.remove(&id);
            } else {
                model.down.insert(id);
            }
            record(&model, &mut gen, "set_health");
        }
        if j % 17 == 4 {
            // A manager outside the current fleet: an error, nothing published.
            let stranger = ManagerId::new(if model.fleet == 0 { 12 } else { 1 });
            assert_eq!(
                router.set_health(stranger, false),
                Err(Error::UnknownManager { id: stranger })
            );
            assert_eq!(router.generation(), gen, "an error publishes nothing");
        }
        if j % 7 == 3 {
            let limit = 1 + (j % 5) as u32;
            let next = Reservation::new(limit, model.reservations[2].map_or(0, |r| r.ready));
            let changes = model.reservations[2] != Some(next);
            assert_eq!(router.set_reservation(HOT[2], limit), changes);
            model.reservations[2] = Some(next);
            if changes {
                record(&model, &mut gen, "set_reservation");
            }
        }
        if j % 7 == 5 {
            let ready = (j % 4) as u32;
            match model.reservations[2] {
                None => assert_eq!(
                    router.set_ready(HOT[2], ready),
                    Err(Error::NoReservation { task: HOT[2] })
                ),
                Some(old) => {
                    // Nothing ready after a removal: the entry goes.
                    let next = Some(Reservation::new(old.limit, ready))
                        .filter(|r| *r != Reservation::default());
                    let changes = Some(old) != next;
                    assert_eq!(router.set_ready(HOT[2], ready), Ok(changes));
                    model.reservations[2] = next;
                    if changes {
                        record(&model, &mut gen, "set_ready");
                    }
                }
            }
        }
        if j % 13 == 0 {
            // A removal drains: limit 0 while environments are ready, gone when none are.
            let next = model.reservations[2]
                .map(|r| Reservation::new(0, r.ready))
                .filter(|r| *r != Reservation::default());
            let changes = model.reservations[2] != next;
            assert_eq!(router.remove_reservation(HOT[2]), changes);
            model.reservations[2] = next;
            if changes {
                record(&model, &mut gen, "remove_reservation");
            }
        }
        if j % 11 == 6 {
            let old = model.reservations[0].expect("hot task 0 keeps its reservation");
            let next = Reservation::new(old.limit, 1 + (j % 4) as u32);
            assert_eq!(router.set_ready(HOT[0], next.ready), Ok(old != next));
            model.reservations[0] = Some(next);
            if old != next {
                record(&model, &mut gen, "set_ready(hot 0)");
            }
        }
        // Not published: loads for least-loaded-of-two, time, eviction.
        let loaded = ManagerId::new(5 + (j % 4) as u64);
        router
            .report_load(loaded, (j % 9) as u32)
            .expect("5..=8 are in both fleets");
        clock.advance(Duration::from_millis(500));
        if j % 25 == 24 {
            router.evict_idle();
        }
        if j % 8 == 0 {
            thread::yield_now();
        }
    }
    records
}

#[test]
fn readers_see_whole_snapshots_while_one_writer_republishes() {
    let mut config = RouterConfig::default();
    config.pick = Pick::LeastLoadedOfTwo;
    config.ring = config.ring.with_seed(0x5eed);
    config.idle_ttl = Duration::from_secs(30);
    config.assign.shrink_delay = Duration::from_secs(5);
    let clock = ManualClock::new();
    let initial = GenRecord {
        fleet: 0,
        down: BTreeSet::new(),
        reservations: [
            Some(Reservation::new(4, 3)),
            Some(Reservation::new(2, 2)),
            None,
            None,
        ],
    };
    let mut builder = Router::builder()
        .config(config)
        .managers(writer_fleet(0))
        .clock(clock.clone());
    for (task, res) in HOT.iter().zip(initial.reservations) {
        if let Some(res) = res {
            builder = builder.reservation(*task, res);
        }
    }
    let router = builder.build().expect("valid router");
    assert_eq!(router.generation(), 1, "a new router is generation 1");
    let records = BTreeMap::from([(1, initial)]);

    let start = Barrier::new(READERS + 1);
    let (to_dropper, from_readers) = mpsc::channel::<Permit>();
    let (logs, received, records) = thread::scope(|s| {
        let dropper = s.spawn(move || dropper(from_readers, DROPPER_HOLD));
        let readers: Vec<_> = (0..READERS)
            .map(|r| {
                let tx = to_dropper.clone();
                let (router, start) = (&router, &start);
                s.spawn(move || reader(router, r, start, tx))
            })
            .collect();
        drop(to_dropper);
        let writer = s.spawn(|| writer(&router, &clock, &start, records));
        let records = writer.join().expect("writer");
        let logs: Vec<ReaderLog> = readers
            .into_iter()
            .map(|h| h.join().expect("reader"))
            .collect();
        let received = dropper.join().expect("dropper");
        (logs, received, records)
    });

    // Problems the threads found inline: (b) per-thread monotonic generations, and more.
    let problems: Vec<&String> = logs.iter().flat_map(|l| &l.problems).collect();
    assert!(problems.is_empty(), "readers found problems: {problems:#?}");

    // The test is only meaningful if reads and writes interleaved.
    let seen: BTreeSet<u64> = logs
        .iter()
        .flat_map(|l| l.generations.iter().copied())
        .collect();
    assert!(
        seen.len() >= 2,
        "readers saw only generations {seen:?}: nothing interleaved"
    );

    // (a) Whole snapshots: every manager handed out was in the fleet, and healthy, in the
    // generation the route names.
    let rings: Vec<Ring> = (0..2)
        .map(|f| Ring::new(config.ring, writer_fleet(f)).expect("valid ring"))
        .collect();
    let assigner = ArcAssigner::new(config.assign).expect("valid assign config");
    for log in &logs {
        for &(gen, manager) in &log.pairs {
            let rec = records
                .get(&gen)
                .unwrap_or_else(|| panic!("generation {gen} was never published"));
            assert!(
                ids(&writer_fleet(rec.fleet)).contains(&manager),
                "manager {manager} is not in the fleet of generation {gen}: {rec:?}"
            );
            assert!(
                !rec.down.contains(&manager),
                "manager {manager} was down in generation {gen}: {rec:?}"
            );
        }
        // Hot tasks: the kind matches that generation's reservation, and a Reserved route's
        // manager is in that generation's reserved arc (ring, health and reservation of one
        // snapshot).
        for &(gen, h, kind, manager, at_route) in &log.hot {
            let rec = &records[&gen];
            let res = rec.reservations[h];
            if at_route {
                assert_eq!(
                    kind == RouteKind::Unreserved,
                    res.is_none(),
                    "hot task {h} routed {kind:?} in generation {gen}: {rec:?}"
                );
            }
            if kind != RouteKind::Reserved {
                continue;
            }
            let res = res.unwrap_or_else(|| {
                panic!("hot task {h} Reserved in generation {gen} without a reservation")
            });
            assert!(
                !at_route || res.ready > 0,
                "hot task {h} Reserved with share 0 in generation {gen} (sibling rule is off)"
            );
            let ring = &rings[rec.fleet];
            let mut mask = HealthMask::all_up(ring);
            for &id in &rec.down {
                mask.set(ring, ManagerId::new(id), false).expect("in fleet");
            }
            let len = assigner.reserved_len(res.limit, res.ready, mask.healthy_count());
            let arc: Vec<u64> = ring
                .arc_with(ring.reserved_start(HOT[h]), len, &mask)
                .map(ManagerId::get)
                .collect();
            assert!(
                arc.contains(&manager),
                "hot task {h}: Reserved on {manager}, not in generation {gen}'s reserved arc {arc:?}"
            );
        }
    }

    // (c) Permits conserved and every route counted once.
    let sum = |f: fn(&ReaderLog) -> usize| logs.iter().map(f).sum::<usize>() as u64;
    let routes = sum(|l| l.routes);
    assert_eq!(sum(|l| l.sent_to_dropper), received);
    let stats = router.stats();
    assert_eq!(
        (stats.in_flight_reserved, stats.in_flight_unreserved),
        (0, 0),
        "every permit was dropped: {stats:?}"
    );
    assert_eq!(
        stats.routes_reserved + stats.routes_unreserved + stats.routes_spillover,
        routes,
        "{stats:?}"
    );
    assert_eq!(
        (
            stats.routes_reserved,
            stats.routes_unreserved,
            stats.routes_spillover
        ),
        (
            sum(|l| l.reserved),
            sum(|l| l.unreserved),
            sum(|l| l.spillover)
        ),
        "per kind: {stats:?}"
    );
    // The paths this test is about were all taken (deterministic: hot tasks 0 and 1 are
    // reserved from the start with 2-manager reserved arcs, and some routes are throttled
    // until refused, among at most 8 healthy managers).
    assert!(stats.routes_reserved > 0 && stats.routes_unreserved > 0);
    assert!(sum(|l| l.spilled_on_throttle) > 0 && stats.throttles_exhausted > 0);
    assert_eq!(stats.no_manager, sum(|l| l.nones));
    assert_eq!(sum(|l| l.nones), 0, "a healthy manager always remained");
    assert_eq!(stats.throttles, sum(|l| l.throttles));
    assert_eq!(stats.throttles_exhausted, sum(|l| l.throttles_exhausted));
    assert_eq!(
        stats.spillovers,
        stats.routes_spillover + sum(|l| l.spilled_on_throttle)
    );
    let (&last_gen, last) = records.last_key_value().expect("generation 1 at least");
    assert_eq!(stats.generation, last_gen);
    assert_eq!(
        stats.reserved_tasks,
        last.reservations.iter().flatten().count() as u64
    );
    // With no permit out, every live entry is evictable once idle: nothing kept a reference.
    // Routes mark uses without the clock: one sweep dates them, one a TTL later evicts.
    router.evict_idle();
    clock.advance(config.idle_ttl + Duration::from_secs(1));
    router.evict_idle();
    assert_eq!(router.stats().live_entries, 0, "{:?}", router.stats());
}

// ---------------------------------------------------------------------------------------------
// Test 2: the reserved share under contention.
// ---------------------------------------------------------------------------------------------

const CONTENDERS: usize = 8;
/// Phase 1: rounds in which every thread routes and holds `ROUTES_PER_ROUND` calls, then all
/// release together.
const ROUNDS: usize = 100;
const ROUTES_PER_ROUND: usize = 6;
/// Phase 2: each thread routes this many calls, holding a sliding window of `CHURN_HOLD`, so
/// the held Reserved count keeps crossing the share from below.
const CHURN_ROUTES: usize = 100_000;
const CHURN_HOLD: usize = 1;

/// What the contending threads hold and have obtained, counted by the test itself.
#[derive(Default)]
struct Tally {
    /// Reserved routes held now: incremented after `route` returns one, decremented just
    /// before its permit is dropped, so it never exceeds the router's own count.
    held_reserved: AtomicUsize,
    held_spillover: AtomicUsize,
    max_held_reserved: AtomicUsize,
    obtained_reserved: AtomicUsize,
    obtained_spillover: AtomicUsize,
    /// Problems found inside threads (no panics there: a panicking thread would strand the
    /// others at a barrier). Asserted after the scope.
    problems: Mutex<Vec<String>>,
}

impl Tally {
    fn problem(&self, what: String) {
        self.problems.lock().unwrap().push(what);
    }

    fn obtained(&self, route: &Route, reserved_arc: &[ManagerId], at: &str) {
        match route.kind() {
            RouteKind::Reserved => {
                let now = self.held_reserved.fetch_add(1, SeqCst) + 1;
                self.max_held_reserved.fetch_max(now, SeqCst);
                self.obtained_reserved.fetch_add(1, SeqCst);
                if !reserved_arc.contains(&route.manager()) {
                    self.problem(format!(
                        "{at}: Reserved on {:?}, outside the reserved arc",
                        route.manager()
                    ));
                }
            }
            RouteKind::Spillover => {
                self.held_spillover.fetch_add(1, SeqCst);
                self.obtained_spillover.fetch_add(1, SeqCst);
            }
            RouteKind::Unreserved => self.problem(format!("{at}: a reserved task went Unreserved")),
        }
        if route.permit().is_reserved() != (route.kind() == RouteKind::Reserved) {
            self.problem(format!("{at}: the permit's kind differs from the route's"));
        }
    }

    fn release(&self, route: Route) {
        match route.kind() {
            RouteKind::Reserved => self.held_reserved.fetch_sub(1, SeqCst),
            _ => self.held_spillover.fetch_sub(1, SeqCst),
        };
        drop(route);
    }
}

#[test]
fn reserved_share_is_never_exceeded_by_concurrent_callers() {
    let task = TaskId::from_name("provisioned");
    let reservation = Reservation::new(4, 3);
    let share = reservation.ready as usize;
    assert_eq!(share, 3, "what is ready");
    let router = Router::builder()
        .managers(fleet(1..=6))
        .reservation(task, reservation)
        .build()
        .expect("valid router");
    let reserved_arc: Vec<ManagerId> = router
        .reserved_arc(task)
        .iter()
        .map(|s| s.manager)
        .collect();
    assert!(!reserved_arc.is_empty());

    let tally = Tally::default();
    let barrier = Barrier::new(CONTENDERS);
    // Checked by the barrier leader while every thread holds its routes and nobody routes or
    // drops: the router's in-flight gauges must equal what the threads hold.
    let gauge_mismatches = Mutex::new(Vec::<String>::new());

    thread::scope(|s| {
        for t in 0..CONTENDERS {
            let (router, tally, barrier) = (&router, &tally, &barrier);
            let (reserved_arc, gauge_mismatches) = (&reserved_arc, &gauge_mismatches);
            s.spawn(move || {
                for r in 0..ROUNDS {
                    barrier.wait();
                    let mut held: Vec<Route> = Vec::with_capacity(ROUTES_PER_ROUND);
                    for _ in 0..ROUTES_PER_ROUND {
                        match router.route(task) {
                            Some(route) => {
                                tally.obtained(&route, reserved_arc, &format!("{t}/{r}"));
                                held.push(route);
                            }
                            None => tally.problem(format!("{t}/{r}: no route")),
                        }
                        thread::yield_now();
                    }
                    if barrier.wait().is_leader() {
                        let stats = router.stats();
                        let got = (stats.in_flight_reserved, stats.in_flight_unreserved);
                        let expect = (
                            tally.held_reserved.load(SeqCst) as u64,
                            tally.held_spillover.load(SeqCst) as u64,
                        );
                        if got != expect {
                            gauge_mismatches
                                .lock()
                                .unwrap()
                                .push(format!("round {r}: gauges {got:?}, held {expect:?}"));
                        }
                    }
                    barrier.wait();
                    // Release in an order that differs between threads and rounds.
                    if (t + r) % 2 == 1 {
                        held.reverse();
                    }
                    held.into_iter().for_each(|route| tally.release(route));
                }

                barrier.wait();
                let mut window: VecDeque<Route> = VecDeque::with_capacity(CHURN_HOLD + 1);
                for i in 0..CHURN_ROUTES {
                    match router.route(task) {
                        Some(route) => {
                            tally.obtained(&route, reserved_arc, &format!("{t}/churn {i}"));
                            window.push_back(route);
                        }
                        None => tally.problem(format!("{t}/churn {i}: no route")),
                    }
                    if window.len() > CHURN_HOLD {
                        tally.release(window.pop_front().expect("not empty"));
                    }
                }
                window.into_iter().for_each(|route| tally.release(route));
            });
        }
    });

    let problems = tally.problems.into_inner().unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    let mismatches = gauge_mismatches.into_inner().unwrap();
    assert!(
        mismatches.is_empty(),
        "in-flight gauges while held: {mismatches:#?}"
    );
    let max = tally.max_held_reserved.load(SeqCst);
    assert!(
        max <= share,
        "{max} Reserved routes were held at once; the share is {share}"
    );
    // Each round holds CONTENDERS * ROUTES_PER_ROUND calls, far more than the share, so the
    // bound was reached and the check above is not vacuous.
    assert_eq!(max, share, "the share was never filled");
    assert_eq!(tally.held_reserved.load(SeqCst), 0);
    assert_eq!(tally.held_spillover.load(SeqCst), 0);
    let stats = router.stats();
    assert_eq!(
        (stats.in_flight_reserved, stats.in_flight_unreserved),
        (0, 0),
        "every permit was dropped: {stats:?}"
    );
    let reserved = tally.obtained_reserved.load(SeqCst) as u64;
    let spillover = tally.obtained_spillover.load(SeqCst) as u64;
    assert_eq!(
        reserved + spillover,
        (CONTENDERS * (ROUNDS * ROUTES_PER_ROUND + CHURN_ROUTES)) as u64
    );
    assert_eq!(
        (
            stats.routes_reserved,
            stats.routes_spillover,
            stats.routes_unreserved
        ),
        (reserved, spillover, 0),
        "{stats:?}"
    );
    // Sequentially, with everything released, exactly `share` calls are admitted.
    let held: Vec<Route> = (0..share + 2)
        .map(|_| router.route(task).unwrap())
        .collect();
    let kinds: Vec<RouteKind> = held.iter().map(Route::kind).collect();
    let mut expected = vec![RouteKind::Reserved; share];
    expected.extend([RouteKind::Spillover; 2]);
    assert_eq!(kinds, expected);
}

// ---------------------------------------------------------------------------------------------
// Test 3: a use during a sweep is never dated early.
// ---------------------------------------------------------------------------------------------

/// Something to run once, from inside a clock read.
type Hook = Box<dyn FnOnce() + Send>;

/// A clock that runs `hook` once, at the first read after it is armed: it lets a route run
/// "during" an eviction sweep, deterministically.
#[derive(Clone, Default)]
struct HookClock {
    nanos: Arc<AtomicU64>,
    armed: Arc<AtomicBool>,
    hook: Arc<Mutex<Option<Hook>>>,
}

impl Clock for HookClock {
    fn now(&self) -> Duration {
        let now = Duration::from_nanos(self.nanos.load(SeqCst));
        if self.armed.swap(false, SeqCst) {
            if let Some(hook) = self.hook.lock().unwrap().take() {
                hook();
            }
        }
        now
    }
}

#[test]
fn a_route_during_a_sweep_is_not_dated_before_it_ran() {
    const SEC: u64 = 1_000_000_000;
    let clock = HookClock::default();
    let mut config = RouterConfig::default();
    config.idle_ttl = Duration::from_secs(10);
    let router: &'static Router<HookClock> = Box::leak(Box::new(
        Router::builder()
            .config(config)
            .managers(fleet(0..8))
            .clock(clock.clone())
            .build()
            .unwrap(),
    ));
    // The router's only task: a sweep reads the clock only for shards that hold something,
    // so the route below runs after its shard's sweep read the clock and before it looked at
    // the task. A handle that holds the task's state routes it without touching the shared
    // map, so the route can run while the sweep holds the shard's lock.
    let t = TaskId::new(1);
    let handle = Arc::new(Mutex::new(Some(router.local())));
    // Made at 0 s; routed twice, so that the handle holds it (see `LocalRouter`), and swept
    // at 0 s, which dates the second route's use: the route during the sweep below is the
    // only use left to date.
    for _ in 0..2 {
        drop(handle.lock().unwrap().as_mut().unwrap().route(t));
    }
    assert_eq!(router.evict_idle(), 0, "held by the handle");
    clock.nanos.store(100 * SEC, SeqCst);
    let (later, in_hook) = (clock.clone(), Arc::clone(&handle));
    *clock.hook.lock().unwrap() = Some(Box::new(move || {
        // The sweep began at 100 s and is still running at 109 s, when the task is routed
        // again (a warm route reads no clock).
        later.nanos.store(109 * SEC, SeqCst);
        drop(in_hook.lock().unwrap().as_mut().unwrap().route(t));
    }));
    clock.armed.store(true, SeqCst);
    assert_eq!(router.evict_idle(), 0, "held by the handle");
    drop(handle.lock().unwrap().take());
    clock.nanos.store(111 * SEC, SeqCst);
    assert_eq!(
        router.evict_idle(),
        0,
        "2 s after a use, with an idle TTL of 10 s"
    );
    clock.nanos.store(120 * SEC, SeqCst);
    assert_eq!(router.evict_idle(), 1, "11 s after it");
}
