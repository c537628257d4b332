//! Edge values: the largest and smallest numbers, durations and fleets a host can pass, and
//! what the crate does with each (a typed error, or the saturation its docs state). Memory
//! stays small: every limit here is rejected before anything is allocated for it.

use std::time::Duration;

use arcroute::{
    ArcAssigner, ArcState, AssignConfig, Clock, Error, GroupId, HealthMask, ManagerId, ManualClock,
    Reservation, Ring, RingConfig, RouteKind, Router, RouterConfig, TaskId, MAX_MANAGERS,
    MAX_POINTS,
};

mod support;
use support::{fleet, m, manual_router, manual_router_with, nz};

const S: Duration = Duration::from_secs(1);
/// The latest time a `ManualClock` shows (it saturates at 2⁶⁴ − 1 ns, about 584 years).
const CLOCK_MAX: Duration = Duration::from_nanos(u64::MAX);

fn vnodes(n: u32) -> RingConfig {
    RingConfig::default().with_vnodes_per_weight(nz(n))
}

// ---------------------------------------------------------------------------------------------
// Fleet size and weights at their limits
// ---------------------------------------------------------------------------------------------

#[test]
fn too_many_managers_is_rejected_before_the_list_is_collected() {
    // Collecting `0..u64::MAX` would overflow a Vec's capacity: an error proves it was not.
    let endless = || (0..u64::MAX).map(|i| (m(i), 1));
    let too_many = Error::TooManyManagers {
        count: usize::MAX,
        max: MAX_MANAGERS,
    };
    assert_eq!(
        Ring::new(RingConfig::default(), endless()).unwrap_err(),
        too_many
    );
    assert_eq!(
        Router::builder().managers(endless()).build().unwrap_err(),
        too_many
    );
    let (r, _) = manual_router(3);
    assert_eq!(r.set_managers(endless()).unwrap_err(), too_many);
    assert_eq!(r.generation(), 1, "an error publishes nothing");

    // One past the limit, counted exactly, and across two calls of the builder.
    let one_over = (0..=MAX_MANAGERS as u64).map(|i| (m(i), 1));
    assert_eq!(
        Ring::new(RingConfig::default(), one_over).unwrap_err(),
        Error::TooManyManagers {
            count: MAX_MANAGERS + 1,
            max: MAX_MANAGERS
        }
    );
    let built = Router::builder()
        .managers(fleet(0..2))
        .managers((2..=MAX_MANAGERS as u64).map(|i| (m(i), 1)))
        .build();
    assert_eq!(
        built.unwrap_err(),
        Error::TooManyManagers {
            count: MAX_MANAGERS + 1,
            max: MAX_MANAGERS
        },
        "counted over both calls"
    );
}

#[test]
fn points_past_the_limit_are_rejected_before_any_point_is_made() {
    let too_many = Error::TooManyPoints { max: MAX_POINTS };
    // u32::MAX × 160 points would be 11 TB: an error (not an abort) proves nothing was made.
    assert_eq!(
        Ring::new(RingConfig::default(), [(m(1), u32::MAX)]).unwrap_err(),
        too_many
    );
    // Products and sums that overflow u32 (and nearly u64).
    let widest = vnodes(u32::MAX);
    assert_eq!(
        Ring::new(widest, [(m(1), u32::MAX), (m(2), u32::MAX)]).unwrap_err(),
        too_many
    );
    assert_eq!(
        Ring::new(widest, [(m(1), 1)]).unwrap_err(),
        too_many,
        "u32::MAX points from weight 1"
    );
    // One point past the limit, though the first manager alone fills it exactly (a ring of
    // exactly MAX_POINTS is valid, but 260 MiB: not built here).
    let full = u32::try_from(MAX_POINTS).unwrap();
    assert_eq!(
        Ring::new(vnodes(1), [(m(1), full), (m(2), 1)]).unwrap_err(),
        too_many
    );
    let clock = ManualClock::new();
    let built = Router::builder()
        .manager(m(1), u32::MAX)
        .clock(clock)
        .build();
    assert_eq!(built.unwrap_err(), too_many);
    let (r, _) = manual_router(2);
    assert_eq!(
        r.set_managers([(m(0), 1), (m(1), u32::MAX)]).unwrap_err(),
        too_many
    );
    assert_eq!(r.ring().len(), 2, "the old fleet stays");
}

#[test]
fn zero_weights_duplicates_and_extreme_ids_are_typed() {
    let cfg = RingConfig::default();
    let max = m(u64::MAX);
    assert_eq!(
        Ring::new(cfg, [(m(0), 1), (max, 0)]).unwrap_err(),
        Error::ZeroWeight { id: max }
    );
    assert_eq!(
        Ring::new(cfg, [(max, 1), (m(0), 1), (max, 2)]).unwrap_err(),
        Error::DuplicateManager { id: max }
    );
    let ring = Ring::new(cfg, [(m(0), 1), (max, 1)]).unwrap();
    assert_eq!(ring.managers().collect::<Vec<_>>(), [(m(0), 1), (max, 1)]);
}

#[test]
fn an_empty_fleet_is_rejected_everywhere() {
    assert_eq!(
        Ring::new(RingConfig::default(), []).unwrap_err(),
        Error::NoManagers
    );
    assert_eq!(Router::builder().build().unwrap_err(), Error::NoManagers);
    let (r, _) = manual_router(2);
    assert_eq!(r.set_managers([]).unwrap_err(), Error::NoManagers);
    assert_eq!((r.generation(), r.ring().len()), (1, 2));
}

// ---------------------------------------------------------------------------------------------
// Arcs longer than the ring, one manager, none healthy
// ---------------------------------------------------------------------------------------------

#[test]
fn arcs_longer_than_the_ring_hold_each_manager_once() {
    let ring = Ring::new(RingConfig::default(), fleet(0..5)).unwrap();
    for start in [0, 1, u64::MAX / 2, u64::MAX] {
        let mut arc: Vec<ManagerId> = ring.arc(start, u32::MAX).collect();
        assert_eq!(arc[0], ring.first(start));
        assert_eq!(arc.len(), 5);
        arc.sort();
        assert_eq!(
            arc,
            fleet(0..5)
                .into_iter()
                .map(|(id, _)| id)
                .collect::<Vec<_>>()
        );
        let mask = HealthMask::all_up(&ring);
        let in_order: Vec<ManagerId> = ring.arc_with(start, u32::MAX, &mask).collect();
        for (k, &id) in (0..).zip(&in_order) {
            assert_eq!(ring.nth_in_arc(start, u32::MAX, k, &mask), Some(id));
        }
        assert_eq!(ring.nth_in_arc(start, u32::MAX, 5, &mask), None);
        assert_eq!(ring.nth_in_arc(start, u32::MAX, u32::MAX, &mask), None);
    }
}

#[test]
fn a_single_manager_serves_every_arc() {
    let (r, _) = manual_router(1);
    let only = m(0);
    let t = TaskId::new(1);
    r.put_reservation(t, Reservation::new(100, 100));
    let slots = r.reserved_arc(t);
    assert_eq!(
        slots.len(),
        1,
        "min_reserved_arc 2 clamps to the one manager"
    );
    assert_eq!(slots[0].environments, 100);
    let held: Vec<_> = (0..120).map(|_| r.route(t).unwrap()).collect();
    assert!(held.iter().all(|h| h.manager() == only));
    assert_eq!(
        held.iter()
            .filter(|h| h.kind() == RouteKind::Reserved)
            .count(),
        100
    );
    let u = TaskId::new(2);
    let burst: Vec<_> = (0..100).map(|_| r.route(u).unwrap()).collect();
    assert_eq!(r.unreserved_arc(u.into()), [only], "load wants 13 managers");
    let mut route = r.route(u).unwrap();
    assert!(!r.on_throttle(&mut route), "no other manager to try");
    assert_eq!((route.manager(), route.retries()), (only, 0));
    drop((held, burst, route));
    let s = r.stats();
    assert_eq!((s.in_flight_reserved, s.in_flight_unreserved), (0, 0));
}

#[test]
fn with_every_manager_down_routes_are_refused_not_stuck() {
    let (r, _) = manual_router(3);
    let t = TaskId::new(1);
    r.put_reservation(t, Reservation::new(4, 4));
    let mut held = r.route(t).unwrap();
    for i in 0..3 {
        assert!(r.set_health(m(i), false).unwrap());
    }
    assert!(r.route(t).is_none());
    assert!(r.route(TaskId::new(2)).is_none());
    assert!(r.route_in(TaskId::new(3), GroupId::new(7)).is_none());
    assert!(!r.on_throttle(&mut held), "nowhere to move");
    assert!(r.reserved_arc(t).is_empty());
    assert!(r.unreserved_arc(GroupId::new(7)).is_empty());
    let s = r.stats();
    assert_eq!((s.no_manager, s.in_flight_reserved), (3, 1));
    drop(held);
    assert!(r.set_health(m(2), true).unwrap());
    assert_eq!(r.route(t).unwrap().manager(), m(2));
}

// ---------------------------------------------------------------------------------------------
// Reservations at 0 and u32::MAX
// ---------------------------------------------------------------------------------------------

#[test]
fn a_reservation_of_zero_is_none() {
    let (r, _) = manual_router(4);
    let t = TaskId::new(1);
    assert!(
        !r.put_reservation(t, Reservation::new(0, 0)),
        "nothing to publish"
    );
    assert_eq!(r.reservation(t), None);
    assert!(r.reserved_arc(t).is_empty());
    let kinds: Vec<RouteKind> = (0..3).map(|_| r.route(t).unwrap().kind()).collect();
    assert_eq!(kinds, [RouteKind::Unreserved; 3]);
    // A limit of 0 with environments ready is a drain, not nothing.
    assert!(r.put_reservation(t, Reservation::new(0, 1)));
    assert_eq!(r.route(t).unwrap().kind(), RouteKind::Reserved);
}

#[test]
fn a_reservation_of_u32_max_is_capped_by_ready_and_the_fleet() {
    let (r, _) = manual_router(4);
    let t = TaskId::new(1);
    assert!(r.set_reservation(t, u32::MAX));
    // Nothing ready: every call spills over (the "report readiness" pitfall).
    assert_eq!(r.route(t).unwrap().kind(), RouteKind::Spillover);
    let slots = r.reserved_arc(t);
    assert_eq!(
        slots.len(),
        4,
        "ceil(u32::MAX / 16) managers, clamped to the fleet"
    );
    let total: u64 = slots.iter().map(|s| u64::from(s.environments)).sum();
    assert_eq!(total, u64::from(u32::MAX));

    assert!(r.set_ready(t, u32::MAX).unwrap());
    assert_eq!(r.reservation(t), Some(Reservation::new(u32::MAX, u32::MAX)));
    let held: Vec<_> = (0..50).map(|_| r.route(t).unwrap()).collect();
    assert!(held.iter().all(|h| h.kind() == RouteKind::Reserved));
    drop(held);
    assert_eq!(r.stats().in_flight_reserved, 0);
}

#[test]
fn ready_u32_max_with_limit_zero_drains_through_what_exists() {
    let (r, _) = manual_router(4);
    let t = TaskId::new(1);
    r.put_reservation(t, Reservation::new(0, u32::MAX));
    assert!(r.reservation(t).unwrap().is_draining());
    let slots = r.reserved_arc(t);
    assert_eq!(slots.len(), 4, "the draining environments stay addressable");
    assert!(slots.iter().all(|s| s.environments == 0), "none wanted");
    // Admissions follow `ready`: the environments that exist keep serving until torn down.
    let held: Vec<_> = (0..50).map(|_| r.route(t).unwrap()).collect();
    assert!(held.iter().all(|h| h.kind() == RouteKind::Reserved));
    assert!(r.set_ready(t, 0).unwrap(), "the last environment went");
    assert_eq!(r.reservation(t), None);
    assert_eq!(r.route(t).unwrap().kind(), RouteKind::Unreserved);
    drop(held);
    assert_eq!(r.stats().in_flight_reserved, 0);
}

// ---------------------------------------------------------------------------------------------
// ArcAssigner with extreme configs
// ---------------------------------------------------------------------------------------------

fn assign(per: u32, min_reserved: u32, target: u32, min_unreserved: u32) -> AssignConfig {
    let mut c = AssignConfig::default();
    c.reserved_per_manager = nz(per);
    c.min_reserved_arc = nz(min_reserved);
    c.target_per_manager = nz(target);
    c.min_unreserved_arc = nz(min_unreserved);
    c
}

#[test]
fn shrink_threshold_of_the_widest_arc_does_not_overflow() {
    // Regression (found by fuzzing): target × (len − 1) × percent overflowed u64.
    let mut c = assign(1, 1, u32::MAX, 1);
    c.shrink_below_percent = 100;
    c.shrink_delay = Duration::ZERO;
    let a = ArcAssigner::new(c).unwrap();
    let widest = ArcState {
        len: u32::MAX,
        below_since: Some(Duration::ZERO),
    };
    let next = a.unreserved(widest, 0, Duration::ZERO, u32::MAX);
    assert_eq!(
        (next.len, next.below_since),
        (1, None),
        "load 0 is under any threshold: straight to the minimum"
    );
    let next = a.unreserved(widest, u32::MAX, Duration::ZERO, u32::MAX);
    assert_eq!(
        (next.len, next.below_since),
        (1, None),
        "one call per manager is still far under: down to what it needs, one manager"
    );
}

#[test]
fn assigner_at_the_smallest_and_largest_configs() {
    let big = ArcAssigner::new(assign(u32::MAX, u32::MAX, u32::MAX, u32::MAX)).unwrap();
    assert_eq!(big.reserved_len(0, 0, 10), 0, "no reservation, no arc");
    assert_eq!(big.reserved_len(1, 0, 10), 10, "minimum clamped to healthy");
    assert_eq!(big.reserved_len(u32::MAX, u32::MAX, u32::MAX), u32::MAX);
    let idle = ArcState::default();
    assert_eq!(big.unreserved(idle, 0, Duration::ZERO, 7).len, 7);
    assert_eq!(big.unreserved(idle, 0, Duration::ZERO, 0).len, 0);

    let small = ArcAssigner::new(assign(1, 1, 1, 1)).unwrap();
    assert_eq!(small.reserved_len(u32::MAX, 0, u32::MAX), u32::MAX);
    assert_eq!(small.reserved_len(3, u32::MAX, 5), 5);
    let s = small.unreserved(idle, u32::MAX, S, u32::MAX);
    assert_eq!((s.len, s.below_since), (u32::MAX, None));
    let top = ArcState {
        len: u32::MAX,
        below_since: None,
    };
    assert_eq!(small.throttled(top, u32::MAX).len, u32::MAX, "saturates");
    assert_eq!(small.throttled(top, 0).len, 0);

    let a = ArcAssigner::default();
    assert_eq!(a.environments_at(u32::MAX, 1, 0), u32::MAX);
    assert_eq!(a.environments_at(u32::MAX, u32::MAX, u32::MAX - 1), 1);
    assert_eq!(a.environments_at(u32::MAX, u32::MAX, u32::MAX), 0);
    assert_eq!(a.environments_at(0, 0, 0), 0);
    assert_eq!(a.reserved_slot(u32::MAX, u32::MAX, u32::MAX), 0);
    assert_eq!(
        a.reserved_slot(u32::MAX, u32::MAX, u32::MAX - 1),
        u32::MAX - 1
    );
    assert_eq!(a.reserved_slot(u32::MAX, 0, 5), 0, "no arc: slot 0");
    assert_eq!(a.reserved_slot(0, 3, u32::MAX), u32::MAX % 3);
}

#[test]
fn shrink_percent_zero_never_shrinks_and_over_100_is_rejected() {
    let mut c = assign(16, 2, 8, 1);
    c.shrink_below_percent = 0;
    c.shrink_delay = Duration::ZERO;
    let a = ArcAssigner::new(c).unwrap();
    let s = ArcState {
        len: 9,
        below_since: Some(Duration::ZERO),
    };
    assert_eq!(a.unreserved(s, 0, CLOCK_MAX, 10).len, 9);
    for percent in [101, u32::MAX] {
        c.shrink_below_percent = percent;
        assert!(matches!(
            ArcAssigner::new(c),
            Err(Error::InvalidConfig { .. })
        ));
        let mut config = RouterConfig::default();
        config.assign = c;
        assert!(matches!(
            Router::builder()
                .config(config)
                .managers(fleet(0..1))
                .build(),
            Err(Error::InvalidConfig { .. })
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Time at its limits
// ---------------------------------------------------------------------------------------------

#[test]
fn a_shrink_delay_of_duration_max_turns_shrinking_off() {
    let mut c = AssignConfig::default();
    c.shrink_delay = Duration::MAX;
    let a = ArcAssigner::new(c).unwrap();
    let s = ArcState {
        len: 5,
        below_since: Some(Duration::ZERO),
    };
    assert_eq!(a.unreserved(s, 0, CLOCK_MAX, 10), s);

    let mut config = RouterConfig::default();
    config.assign = c;
    let (r, clock) = manual_router_with(20, config);
    let t = TaskId::new(1);
    let burst: Vec<_> = (0..40).map(|_| r.route(t).unwrap()).collect();
    drop(burst);
    drop(r.route(t));
    clock.set(CLOCK_MAX);
    drop(r.route(t));
    assert_eq!(r.unreserved_arc(t.into()).len(), 5);
    assert_eq!(r.stats().arc_shrinks, 0);
}

#[test]
fn an_idle_ttl_of_duration_max_never_evicts_and_zero_evicts_at_once() {
    let mut config = RouterConfig::default();
    config.idle_ttl = Duration::MAX;
    let (r, clock) = manual_router_with(3, config);
    drop(r.route(TaskId::new(1)));
    clock.advance(Duration::MAX);
    assert_eq!(clock.now(), CLOCK_MAX);
    assert_eq!(r.evict_idle(), 0);
    assert_eq!(r.stats().live_entries, 1);

    let mut config = RouterConfig::default();
    config.idle_ttl = Duration::ZERO;
    let (r, clock) = manual_router_with(3, config);
    let held = r.route(TaskId::new(1)).unwrap();
    drop(r.route(TaskId::new(2)));
    assert_eq!(r.evict_idle(), 0, "used at this very instant");
    clock.advance(Duration::from_nanos(1));
    assert_eq!(r.evict_idle(), 1, "only the one without a permit");
    drop(held);
    assert_eq!(r.evict_idle(), 1);
}

#[test]
fn a_clock_at_its_maximum_or_stepping_back_keeps_routing() {
    let mut config = RouterConfig::default();
    config.busy_ttl = Duration::MAX;
    let (r, clock) = manual_router_with(4, config);
    let t = TaskId::new(1);
    r.put_reservation(t, Reservation::new(1, 2));
    r.report_reserved_busy(t, 0.0).unwrap();
    clock.set(Duration::MAX);
    let late = TaskId::new(2);
    drop(r.route(late).unwrap());
    assert_eq!(clock.now(), CLOCK_MAX, "set saturates like advance");
    let a = r.route(t).unwrap();
    let b = r.route(t).unwrap();
    assert_eq!(
        (a.kind(), b.kind()),
        (RouteKind::Reserved, RouteKind::Reserved),
        "a busy report never goes stale with busy_ttl Duration::MAX"
    );
    clock.set(Duration::ZERO);
    assert_eq!(
        r.evict_idle(),
        0,
        "a task last used after `now` is not idle"
    );
    assert_eq!(r.route(t).unwrap().kind(), RouteKind::Spillover);
    assert_eq!(r.route(late).unwrap().kind(), RouteKind::Unreserved);
}

// ---------------------------------------------------------------------------------------------
// Host reports out of range, unknown ids
// ---------------------------------------------------------------------------------------------

#[test]
fn busy_fractions_outside_zero_to_one_are_typed_errors() {
    let (r, _) = manual_router(2);
    let t = TaskId::new(1);
    for bad in [
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -f32::MIN_POSITIVE,
        -1.0,
        1.0 + f32::EPSILON,
        f32::MAX,
    ] {
        match r.report_reserved_busy(t, bad) {
            Err(Error::InvalidFraction { value }) => assert_eq!(value.to_bits(), bad.to_bits()),
            other => panic!("{bad}: {other:?}"),
        }
    }
    for good in [0.0, -0.0, f32::MIN_POSITIVE, 0.5, 1.0] {
        assert_eq!(r.report_reserved_busy(t, good), Ok(()), "{good}");
    }
    for bad in [f32::NAN, -0.1, 1.1, f32::INFINITY] {
        let mut config = RouterConfig::default();
        config.busy_threshold = bad;
        assert!(matches!(
            Router::builder()
                .config(config)
                .managers(fleet(0..1))
                .build(),
            Err(Error::InvalidConfig { .. })
        ));
    }
}

#[test]
fn reports_and_writes_for_unknown_ids() {
    let (r, _) = manual_router(2);
    let stranger = m(u64::MAX);
    assert_eq!(
        r.report_load(stranger, 1),
        Err(Error::UnknownManager { id: stranger })
    );
    assert_eq!(
        r.set_health(stranger, false),
        Err(Error::UnknownManager { id: stranger })
    );
    assert_eq!(r.report_load(m(0), u32::MAX), Ok(()));
    assert!(!r.is_healthy(stranger));

    let nobody = TaskId::new(u128::MAX);
    assert_eq!(
        r.set_ready(nobody, 1),
        Err(Error::NoReservation { task: nobody })
    );
    assert!(!r.remove_reservation(nobody));
    assert_eq!(r.reservation(nobody), None);
    assert!(r.reserved_arc(nobody).is_empty());
    assert_eq!(r.generation(), 1, "nothing published");
    // A task never seen before is simply unreserved, whatever its id.
    for id in [0, u128::MAX] {
        assert_eq!(
            r.route(TaskId::new(id)).unwrap().kind(),
            RouteKind::Unreserved
        );
    }
    // A busy report for a task without a reservation is kept for when it gets one.
    let later = TaskId::new(5);
    r.report_reserved_busy(later, 0.0).unwrap();
    r.put_reservation(later, Reservation::new(0, 1));
    assert_eq!(r.route(later).unwrap().kind(), RouteKind::Reserved);
}

#[test]
fn names_of_any_length_and_content_make_ids() {
    let long = "\u{10FFFF}".repeat(10_000);
    for name in ["", "\0", "arcroute:task:", long.as_str()] {
        assert_eq!(TaskId::from_name(name), TaskId::from_name(name));
        assert_ne!(
            TaskId::from_name(name).get(),
            GroupId::from_name(name).get()
        );
        let _ = ManagerId::from_name(name);
    }
}
