//! A host clock that panics (a `SystemTime` subtraction unwrapped, say) inside any route path
//! must not leak an in-flight count: every gauge returns to zero once the routes that did come
//! back are dropped, and a reserved task still admits its whole reservation.

mod support;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Once};
use std::time::Duration;

use arcroute::{
    Clock, Counting, Frontends, Reservation, Route, RouteKind, Router, RouterConfig, TaskId,
};
use support::fleet;

const MESSAGE: &str = "the host clock failed";

/// A clock that panics on its `n`-th read from when it was armed, then works again.
#[derive(Clone, Default)]
struct FailingClock {
    nanos: Arc<AtomicU64>,
    /// Reads left before the panic; 0: disarmed.
    countdown: Arc<AtomicU64>,
    fired: Arc<AtomicBool>,
}

impl FailingClock {
    fn arm(&self, read: u64) {
        self.fired.store(false, SeqCst);
        self.countdown.store(read, SeqCst);
    }

    /// Disarms; returns whether it panicked since it was armed.
    fn disarm(&self) -> bool {
        self.countdown.store(0, SeqCst);
        self.fired.load(SeqCst)
    }

    fn advance(&self, by: Duration) {
        self.nanos.fetch_add(by.as_nanos() as u64, SeqCst);
    }
}

impl Clock for FailingClock {
    fn now(&self) -> Duration {
        let left = self.countdown.load(SeqCst);
        if left == 1 {
            self.countdown.store(0, SeqCst);
            self.fired.store(true, SeqCst);
            panic!("{MESSAGE}");
        }
        if left > 1 {
            self.countdown.store(left - 1, SeqCst);
        }
        Duration::from_nanos(self.nanos.load(SeqCst))
    }
}

/// Keeps the expected panics off the test output; any other panic still prints.
fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let ours = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|m| m == MESSAGE);
            if !ours {
                default(info);
            }
        }));
    });
}

fn router(counting: Counting) -> (Router<FailingClock>, FailingClock) {
    quiet_expected_panics();
    let clock = FailingClock::default();
    let mut config = RouterConfig::default();
    config.counting = counting;
    let router = Router::builder()
        .config(config)
        .managers(fleet(0..8))
        .clock(clock.clone())
        .build()
        .expect("a valid router");
    (router, clock)
}

/// Runs `path` with the clock armed to panic on each of its first reads in turn, keeping
/// whatever routes come back alive until the end; returns how many runs panicked.
fn each_read_fails(
    clock: &FailingClock,
    mut path: impl FnMut() -> Option<Route>,
    kept: &mut Vec<Route>,
) -> usize {
    let mut panicked = 0;
    for read in 1..=6 {
        clock.arm(read);
        let outcome = panic::catch_unwind(AssertUnwindSafe(&mut path));
        let fired = clock.disarm();
        match outcome {
            Err(_) => {
                assert!(fired, "a panic that is not the clock's");
                panicked += 1;
            }
            Ok(route) => kept.extend(route),
        }
        clock.advance(Duration::from_secs(1));
    }
    panicked
}

fn assert_all_ended<C: Clock>(router: &Router<C>, tasks: &[TaskId]) {
    let stats = router.stats();
    assert_eq!(
        (stats.in_flight_reserved, stats.in_flight_unreserved),
        (0, 0),
        "{stats:?}"
    );
    for &task in tasks {
        assert_eq!(router.reserved_in_flight(task), 0, "{task:?}");
    }
}

/// `task`, reserved for `ready` environments all ready, admits exactly `ready` Reserved calls.
fn admits_its_reservation<C: Clock>(router: &Router<C>, task: TaskId, ready: u32) {
    let routes: Vec<Route> = (0..ready)
        .map(|_| router.route(task).expect("a healthy manager"))
        .collect();
    assert!(
        routes.iter().all(|r| r.kind() == RouteKind::Reserved),
        "{:?}",
        routes.iter().map(Route::kind).collect::<Vec<_>>()
    );
    let next = router.route(task).expect("a healthy manager");
    assert_eq!(next.kind(), RouteKind::Spillover);
    drop((routes, next));
    assert_all_ended(router, &[task]);
}

#[test]
fn global_counting_reads_the_clock_after_counting_and_leaks_nothing() {
    let (router, clock) = router(Counting::Global {
        ttl: Duration::from_secs(60),
    });
    let task = TaskId::from_name("reserved-global");
    router.put_reservation(task, Reservation::new(4, 4));
    router.report_reserved_in_flight(task, 0).unwrap();
    drop(router.route(task)); // warm: the next routes make no state
    let mut kept = Vec::new();
    let panicked = each_read_fails(&clock, || router.route(task), &mut kept);
    assert!(
        panicked > 0,
        "the global count reads the clock on every reserved route"
    );
    drop(kept);
    assert_all_ended(&router, &[task]);
    router.report_reserved_in_flight(task, 0).unwrap();
    admits_its_reservation(&router, task, 4);
}

#[test]
fn the_sibling_rule_reads_the_clock_after_counting_and_leaks_nothing() {
    let (router, clock) = router(Counting::Local);
    let task = TaskId::from_name("reserved-sibling");
    router.put_reservation(task, Reservation::new(4, 4));
    // One of four frontends: a share of 1, then the sibling rule up to the 4 ready.
    router.set_frontends(Frontends::new(0, 4).unwrap());
    router.report_reserved_busy(task, 0.0).unwrap();
    let held = router.route(task).unwrap();
    assert_eq!(held.kind(), RouteKind::Reserved);
    let mut kept = Vec::new();
    let panicked = each_read_fails(&clock, || router.route(task), &mut kept);
    assert!(panicked > 0, "the sibling rule reads the clock");
    assert!(kept.iter().any(|r| r.kind() == RouteKind::Reserved));
    drop((held, kept));
    assert_all_ended(&router, &[task]);
    router.set_frontends(Frontends::new(0, 1).unwrap());
    admits_its_reservation(&router, task, 4);
}

#[test]
fn every_route_path_unwinds_without_a_count() {
    let (router, clock) = router(Counting::Local);
    let reserved = TaskId::from_name("reserved");
    router.put_reservation(reserved, Reservation::new(2, 2));
    let mut kept = Vec::new();
    let mut panicked = 0;
    // Reserved, fresh state each time (its insert reads the clock), then warm.
    for i in 0..3u32 {
        let task = TaskId::from_name(&format!("fresh-reserved-{i}"));
        router.put_reservation(task, Reservation::new(1, 1));
        panicked += each_read_fails(&clock, || router.route(task), &mut kept);
    }
    panicked += each_read_fails(&clock, || router.route(reserved), &mut kept);
    // Spillover: the reservation is held.
    panicked += each_read_fails(&clock, || router.route(reserved), &mut kept);
    // Unreserved, fresh and warm, in its own group and in another.
    let mut n = 0;
    panicked += each_read_fails(
        &clock,
        || {
            n += 1;
            router.route(TaskId::from_name(&format!("fresh-{n}")))
        },
        &mut kept,
    );
    let warm = TaskId::from_name("warm");
    panicked += each_read_fails(&clock, || router.route(warm), &mut kept);
    let group = arcroute::GroupId::from_name("account");
    panicked += each_read_fails(&clock, || router.route_in(reserved, group), &mut kept);
    // A fresh group's state, made by a task routed in it.
    let mut k = 0;
    panicked += each_read_fails(
        &clock,
        || {
            k += 1;
            let group = arcroute::GroupId::from_name(&format!("fresh-group-{k}"));
            router.route_in(TaskId::from_name(&format!("in-group-{k}")), group)
        },
        &mut kept,
    );
    // Throttles: a reserved route moving along its arc and spilling, an unreserved one
    // growing its arc; the route that was moved is kept either way.
    for task in [reserved, warm, TaskId::from_name("throttled-fresh")] {
        let mut n = 0;
        panicked += each_read_fails(
            &clock,
            || {
                let mut route = router.route(task)?;
                n += 1;
                if n % 2 == 0 {
                    router.on_throttle(&mut route);
                }
                router.on_throttle(&mut route);
                Some(route)
            },
            &mut kept,
        );
    }
    // A per-worker handle, its cache cold and then warm.
    let mut local = router.local();
    let mut n = 0;
    panicked += each_read_fails(
        &clock,
        || {
            n += 1;
            local.route(TaskId::from_name(&format!("local-{}", n % 2)))
        },
        &mut kept,
    );
    panicked += each_read_fails(&clock, || local.route(reserved), &mut kept);
    panicked += each_read_fails(
        &clock,
        || {
            let mut route = local.route(reserved)?;
            local.on_throttle(&mut route);
            Some(route)
        },
        &mut kept,
    );
    drop(local);
    assert!(panicked >= 10, "only {panicked} runs met a failing read");
    assert!(
        router.stats().in_flight_reserved + router.stats().in_flight_unreserved > 0,
        "routes that came back still count"
    );
    drop(kept);
    assert_all_ended(&router, &[reserved]);
    admits_its_reservation(&router, reserved, 2);
    // Nothing is pinned: everything goes once idle.
    for _ in 0..2 {
        // The first sweep dates the latest uses; the next, a day on, finds them idle.
        clock.advance(Duration::from_secs(24 * 3600));
        router.evict_idle();
    }
    assert_eq!(router.stats().live_entries, 0);
}
