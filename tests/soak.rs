//! A soak of the router for a set time: readers route, hold, hand off, unwind and throttle
//! while one writer republishes everything a host can change; afterwards every count adds up.
//!
//! `tests/concurrency.rs` runs fixed iteration counts and checks whole snapshots against a
//! model; this test runs for a duration instead, drops permits in every way a host can (on
//! the routing thread, on another thread, during a panic unwind), and lets the writer add and
//! remove managers, change reservations and evict while permits are out. It checks only
//! conservation, but all of it: no in-flight count left behind, and every route, throttle and
//! publish counted once.
//!
//! Defaults: 2 seconds, 4 reader threads (plus the writer and one dropper thread). Longer:
//!
//! ```text
//! ARCROUTE_SOAK_SECS=60 ARCROUTE_SOAK_THREADS=8 cargo test --release --test soak -- --nocapture
//! ```

use std::collections::{BTreeSet, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use arcroute::{
    Error, GroupId, ManagerId, ManualClock, Permit, Reservation, Route, RouteKind, Router,
    RouterConfig, TaskId,
};
use rand::Rng as _;

mod support;
use support::{dropper, weighted_fleet};

/// Reserved tasks: the writer changes the reservations of all four and removes and restores
/// those of the last two.
const RESERVED: [TaskId; 4] = [
    TaskId::new(0x5000),
    TaskId::new(0x5001),
    TaskId::new(0x5002),
    TaskId::new(0x5003),
];
/// Tasks that never have a reservation, routed by every reader.
const UNRESERVED: [TaskId; 4] = [
    TaskId::new(0x6000),
    TaskId::new(0x6001),
    TaskId::new(0x6002),
    TaskId::new(0x6003),
];
/// The group of the tasks routed with `route_in`.
const SHARED_GROUP: GroupId = GroupId::new(0x7000);
/// Manager ids the fleet is drawn from; it never has fewer than `MIN_FLEET` of them.
const MANAGER_IDS: std::ops::RangeInclusive<u64> = 1..=12;
const MIN_FLEET: usize = 3;
/// Routes a reader keeps in flight before it drops the oldest; permits the dropper keeps.
const READER_HOLD: usize = 8;
const DROPPER_HOLD: usize = 16;
/// Manual time the writer adds per iteration, and the idle TTL: a task unused for 300 writer
/// iterations is evicted.
const TICK: Duration = Duration::from_millis(100);
const IDLE_TTL: Duration = Duration::from_secs(30);

/// The payload of the panics this test raises on purpose; the panic hook keeps them quiet.
struct PlannedUnwind;

fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

/// What a reader did and saw; summed and checked after the threads end.
#[derive(Default)]
struct ReaderLog {
    routes: u64,
    reserved: u64,
    unreserved: u64,
    spillover: u64,
    nones: u64,
    throttles: u64,
    throttles_exhausted: u64,
    /// Reserved routes that `on_throttle` moved to the unreserved arc.
    spilled_on_throttle: u64,
    /// Routes dropped on this thread, handed to the dropper, and dropped by a panic unwind.
    dropped_here: u64,
    sent: u64,
    unwound: u64,
    /// Problems found inline (the first few), asserted after `join`.
    problems: Vec<String>,
}

impl ReaderLog {
    fn problem(&mut self, what: String) {
        if self.problems.len() < 8 {
            self.problems.push(what);
        }
    }

    fn add(&mut self, o: &ReaderLog) {
        self.routes += o.routes;
        self.reserved += o.reserved;
        self.unreserved += o.unreserved;
        self.spillover += o.spillover;
        self.nones += o.nones;
        self.throttles += o.throttles;
        self.throttles_exhausted += o.throttles_exhausted;
        self.spilled_on_throttle += o.spilled_on_throttle;
        self.dropped_here += o.dropped_here;
        self.sent += o.sent;
        self.unwound += o.unwound;
        self.problems.extend(o.problems.iter().cloned());
    }
}

fn reader(
    router: &Router<ManualClock>,
    id: usize,
    stop: &AtomicBool,
    to_dropper: mpsc::Sender<Permit>,
) -> ReaderLog {
    let mut log = ReaderLog::default();
    // A stream of its own per thread, so that no two threads share a pattern.
    let mut rng = support::rng(id as u64 + 1);
    let mut held: VecDeque<Route> = VecDeque::with_capacity(READER_HOLD + 1);
    // Odd readers route through a per-thread handle (cached snapshot and live state).
    let mut local = (id % 2 == 1).then(|| router.local());
    let mut i: u64 = 0;
    while !stop.load(Relaxed) {
        i += 1;
        let pick = rng.random_range(0..4);
        let (task, group, may_reserve) = match rng.random_range(0..8) {
            0..=2 => (RESERVED[pick], GroupId::from(RESERVED[pick]), true),
            3 | 4 => (UNRESERVED[pick], GroupId::from(UNRESERVED[pick]), false),
            5 => (
                TaskId::new(0x7100 + u128::from(i % 32)),
                SHARED_GROUP,
                false,
            ),
            _ => {
                // Used once: left for eviction.
                let t = TaskId::new((id as u128 + 1) << 64 | u128::from(i));
                (t, GroupId::from(t), false)
            }
        };
        let routed = match (&mut local, group == GroupId::from(task)) {
            (Some(local), true) => local.route(task),
            (Some(local), false) => local.route_in(task, group),
            (None, true) => router.route(task),
            (None, false) => router.route_in(task, group),
        };
        let Some(mut route) = routed else {
            log.nones += 1;
            continue;
        };
        log.routes += 1;
        match route.kind() {
            RouteKind::Reserved => log.reserved += 1,
            RouteKind::Unreserved => log.unreserved += 1,
            RouteKind::Spillover => log.spillover += 1,
        }
        if !may_reserve && route.kind() != RouteKind::Unreserved {
            log.problem(format!("an unreserved task was routed {:?}", route.kind()));
        }

        // One route in 8 is throttled once, one in 64 until the router gives up.
        let throttles = match rng.random_range(0..64) {
            0 => 64,
            1..=8 => 1,
            _ => 0,
        };
        for _ in 0..throttles {
            let before = route.kind();
            log.throttles += 1;
            let moved = match &mut local {
                Some(local) => local.on_throttle(&mut route),
                None => router.on_throttle(&mut route),
            };
            if !moved {
                log.throttles_exhausted += 1;
                break;
            }
            match (before, route.kind()) {
                (RouteKind::Reserved, RouteKind::Spillover) => log.spilled_on_throttle += 1,
                (a, b) if a == b => {}
                (a, b) => log.problem(format!("a throttle turned {a:?} into {b:?}")),
            }
        }
        if route.permit().is_reserved() != (route.kind() == RouteKind::Reserved) {
            log.problem(format!("a {:?} route holds the other permit", route.kind()));
        }

        match rng.random_range(0..16) {
            // The call ends at once.
            0..=5 => {
                drop(route);
                log.dropped_here += 1;
            }
            // The call runs a while: the oldest of a few ends now.
            6..=10 => {
                held.push_back(route);
                if held.len() > READER_HOLD {
                    drop(held.pop_front());
                    log.dropped_here += 1;
                }
            }
            // The call ends on another thread.
            11..=13 => {
                to_dropper
                    .send(route.into_permit())
                    .expect("the dropper outlives the readers");
                log.sent += 1;
            }
            // The call's handler panics; unwinding drops the route.
            _ => {
                let unwound = panic::catch_unwind(AssertUnwindSafe(move || {
                    let _in_flight = route;
                    panic::panic_any(PlannedUnwind);
                }));
                match unwound {
                    Err(payload) if payload.is::<PlannedUnwind>() => log.unwound += 1,
                    _ => log.problem("the planned panic did not unwind".to_string()),
                }
            }
        }
    }
    log.dropped_here += held.len() as u64;
    drop(held);
    log
}

/// What the writer did; the router's generation must have moved once per publish.
#[derive(Debug, Default)]
struct WriterLog {
    iterations: u64,
    publishes: u64,
    membership: u64,
    health: u64,
    reservation: u64,
    busy_reports: u64,
    evicted: u64,
    /// Reservations of `RESERVED` as the writer last set them.
    model: [Option<Reservation>; RESERVED.len()],
}

fn writer(
    router: &Router<ManualClock>,
    clock: &ManualClock,
    stop: &AtomicBool,
    mut fleet: BTreeSet<u64>,
    model: [Option<Reservation>; RESERVED.len()],
) -> WriterLog {
    let mut log = WriterLog {
        model,
        ..WriterLog::default()
    };
    let mut rng = support::rng(0x0057_7173);
    let mut down = BTreeSet::new();
    let published = |log: &mut WriterLog, did: bool| {
        if did {
            log.publishes += 1;
        }
        did
    };
    while !stop.load(Relaxed) {
        log.iterations += 1;
        match rng.random_range(0..16) {
            // A manager joins or leaves.
            0 | 1 => {
                let id = rng.random_range(MANAGER_IDS);
                if fleet.contains(&id) {
                    // Never the last healthy manager: outside a blackout one stays up.
                    let up_after = fleet.iter().filter(|&m| *m != id && !down.contains(m));
                    if fleet.len() > MIN_FLEET && up_after.count() > 0 {
                        fleet.remove(&id);
                        down.remove(&id);
                    }
                } else {
                    fleet.insert(id);
                }
                let did = router.set_managers(weighted_fleet(fleet.iter().copied()));
                log.membership += u64::from(published(&mut log, did.expect("valid fleet")));
            }
            // A manager goes down or comes back; one stays up, except in a rare blackout.
            2..=5 => {
                let members: Vec<u64> = fleet.iter().copied().collect();
                let id = members[rng.random_range(0..members.len())];
                let up = down.contains(&id);
                if up || down.len() + 1 < fleet.len() {
                    let did = router.set_health(ManagerId::new(id), up);
                    assert_eq!(did, Ok(true), "manager {id} -> up {up}");
                    log.health += u64::from(published(&mut log, true));
                    if up {
                        down.remove(&id);
                    } else {
                        down.insert(id);
                    }
                }
            }
            6 if rng.random_ratio(1, 32) => {
                // Blackout: every manager down, then the same ones back up.
                let was_up: Vec<u64> = fleet.difference(&down).copied().collect();
                for (up, ids) in [(false, &was_up), (true, &was_up)] {
                    for &id in ids {
                        let did = router.set_health(ManagerId::new(id), up);
                        log.health += u64::from(published(&mut log, did == Ok(true)));
                    }
                }
            }
            // Reservations: limit, ready, whole, removed.
            7..=10 => {
                let k = rng.random_range(0..RESERVED.len());
                let task = RESERVED[k];
                let old = log.model[k];
                let (next, did) = match rng.random_range(0..4) {
                    0 => {
                        let limit = rng.random_range(0..7);
                        let next = Reservation::new(limit, old.map_or(0, |r| r.ready));
                        (Some(next), router.set_reservation(task, limit))
                    }
                    1 => {
                        let ready = rng.random_range(0..7);
                        match old {
                            None => {
                                let e = router.set_ready(task, ready);
                                assert_eq!(e, Err(Error::NoReservation { task }));
                                (None, false)
                            }
                            Some(r) => {
                                let next = Reservation::new(r.limit, ready);
                                (Some(next), router.set_ready(task, ready).expect("reserved"))
                            }
                        }
                    }
                    // A removal drains: limit 0 while environments are ready.
                    2 if k >= 2 => (
                        old.map(|r| Reservation::new(0, r.ready)),
                        router.remove_reservation(task),
                    ),
                    _ => {
                        let next = Reservation::new(rng.random_range(0..7), rng.random_range(0..7));
                        (Some(next), router.put_reservation(task, next))
                    }
                };
                // Limit and ready both 0 is no reservation.
                let next = next.filter(|r| *r != Reservation::default());
                assert_eq!(did, old != next, "reservation {k}: {old:?} -> {next:?}");
                log.model[k] = next;
                log.reservation += u64::from(published(&mut log, did));
            }
            // The sibling rule's host feed: not published.
            11..=13 => {
                let task = RESERVED[rng.random_range(0..RESERVED.len())];
                let fraction = [0.0, 0.3, 0.79, 0.95][rng.random_range(0..4)];
                router
                    .report_reserved_busy(task, fraction)
                    .expect("a valid fraction");
                log.busy_reports += 1;
            }
            14 => log.evicted += router.evict_idle() as u64,
            _ => {}
        }
        clock.advance(TICK);
    }
    log
}

#[test]
fn every_count_adds_up_after_a_soak() {
    let secs = env_or("ARCROUTE_SOAK_SECS", 2);
    let readers = env_or("ARCROUTE_SOAK_THREADS", 4) as usize;
    assert!(readers > 0, "ARCROUTE_SOAK_THREADS must be at least 1");

    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !info.payload().is::<PlannedUnwind>() {
            default_hook(info);
        }
    }));

    let mut config = RouterConfig::default();
    config.idle_ttl = IDLE_TTL;
    config.busy_ttl = 10 * TICK;
    config.assign.shrink_delay = 5 * TICK;
    let clock = ManualClock::new();
    let fleet: BTreeSet<u64> = MANAGER_IDS.step_by(2).collect();
    let model = [
        Some(Reservation::new(4, 3)),
        Some(Reservation::new(2, 2)),
        Some(Reservation::new(3, 1)),
        None,
    ];
    let mut builder = Router::builder()
        .config(config)
        .managers(weighted_fleet(fleet.iter().copied()))
        .clock(clock.clone());
    for (&task, res) in RESERVED.iter().zip(model) {
        if let Some(res) = res {
            builder = builder.reservation(task, res);
        }
    }
    let router = builder.build().expect("a valid router");

    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (to_dropper, from_readers) = mpsc::channel::<Permit>();
    let (logs, dropped_elsewhere, w) = thread::scope(|s| {
        let dropper = s.spawn(move || dropper(from_readers, DROPPER_HOLD));
        let handles: Vec<_> = (0..readers)
            .map(|r| {
                let tx = to_dropper.clone();
                let (router, stop) = (&router, &stop);
                s.spawn(move || reader(router, r, stop, tx))
            })
            .collect();
        drop(to_dropper);
        let writer = s.spawn(|| writer(&router, &clock, &stop, fleet, model));
        thread::sleep(Duration::from_secs(secs));
        stop.store(true, Relaxed);
        let w = writer.join().expect("writer");
        let logs: Vec<ReaderLog> = handles
            .into_iter()
            .map(|h| h.join().expect("reader"))
            .collect();
        (logs, dropper.join().expect("dropper"), w)
    });
    let elapsed = started.elapsed();
    let _ = panic::take_hook();

    let mut all = ReaderLog::default();
    logs.iter().for_each(|l| all.add(l));
    assert!(all.problems.is_empty(), "{:#?}", all.problems);
    let stats = router.stats();
    println!(
        "soak: {readers} readers, {:.1} s: {} routes ({:.0}/s), {} throttles, {} dropped on \
         another thread, {} unwound; writer: {} iterations, {} publishes ({} membership, {} \
         health, {} reservation), {} evicted",
        elapsed.as_secs_f64(),
        all.routes,
        all.routes as f64 / elapsed.as_secs_f64(),
        all.throttles,
        all.sent,
        all.unwound,
        w.iterations,
        w.publishes,
        w.membership,
        w.health,
        w.reservation,
        stats.evictions,
    );

    // Nothing in flight, and every permit was dropped exactly once, by one of the three ways.
    assert_eq!(
        (stats.in_flight_reserved, stats.in_flight_unreserved),
        (0, 0),
        "every permit was dropped: {stats:?}"
    );
    assert_eq!(
        dropped_elsewhere, all.sent,
        "the dropper dropped all it got"
    );
    assert_eq!(all.dropped_here + all.sent + all.unwound, all.routes);

    // Every route, throttle and publish counted once, by kind.
    assert_eq!(
        (
            stats.routes_reserved,
            stats.routes_unreserved,
            stats.routes_spillover
        ),
        (all.reserved, all.unreserved, all.spillover),
        "{stats:?}"
    );
    assert_eq!(stats.no_manager, all.nones);
    assert_eq!(
        (stats.throttles, stats.throttles_exhausted),
        (all.throttles, all.throttles_exhausted)
    );
    assert_eq!(
        stats.spillovers,
        stats.routes_spillover + all.spilled_on_throttle
    );
    assert_eq!(
        stats.generation,
        1 + w.publishes,
        "one generation per publish"
    );
    assert_eq!(
        stats.reserved_tasks,
        w.model.iter().flatten().count() as u64
    );
    // Inserts into a full shard sweep it too.
    assert!(stats.evictions >= w.evicted);

    // Every way of ending a call, and every kind of write, happened.
    assert!(
        all.reserved > 0 && all.unreserved > 0 && all.spillover > 0,
        "{stats:?}"
    );
    assert!(all.sent > 0 && all.unwound > 0 && all.dropped_here > 0);
    assert!(all.spilled_on_throttle > 0 && all.throttles_exhausted > 0);
    assert!(w.membership > 0 && w.health > 0 && w.reservation > 0 && w.busy_reports > 0);
    assert!(w.evicted > 0, "used-once tasks went idle and were evicted");

    // Per task: each reserved task's count is back to exactly zero, so a fresh reservation of
    // 3 admits exactly 3 Reserved calls.
    for (k, &task) in RESERVED.iter().enumerate() {
        router.put_reservation(task, Reservation::new(3, 3));
        let routes: Vec<Route> = (0..4).filter_map(|_| router.route(task)).collect();
        let kinds: Vec<RouteKind> = routes.iter().map(Route::kind).collect();
        use RouteKind::{Reserved as R, Spillover as S};
        assert_eq!(kinds, [R, R, R, S], "reserved task {k}");
    }

    // No permit kept its live state alive: once idle, everything goes. Routes mark a use
    // without the clock, so one sweep dates the latest uses and the next, a TTL on, evicts.
    router.evict_idle();
    clock.advance(IDLE_TTL + TICK);
    router.evict_idle();
    let stats = router.stats();
    assert_eq!(stats.live_entries, 0, "{stats:?}");
}
