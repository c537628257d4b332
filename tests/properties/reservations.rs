//! Reservations: one task never touches another's, calls beyond what is ready spill over, a
//! lowered reservation drains before admitting again, and frontends counting locally admit
//! exactly what is ready together. Each compares the router with an exact count of what the
//! test itself holds.

use std::time::Duration;

use arcroute::{
    ArcAssigner, Frontends, ManagerId, ManualClock, Reservation, Route, RouteKind, Router,
    RouterConfig, TaskId,
};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::support::{proptest_config, spread, spread_fleet};

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

proptest! {
    #![proptest_config(proptest_config(128))]

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
            .managers(spread_fleet(n))
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
    /// first R (what is ready) are Reserved, filling the reserved slots first-fit in the order
    /// of their environments (`ArcAssigner::environments_at`), the rest Spillover; releasing one reserved call admits exactly one more; a task without
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
            .managers(spread_fleet(n))
            .reservation(t, res)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        if n > 1 {
            router.set_health(spread(down.index(n as usize) as u64), false).unwrap();
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
                // One frontend, every call held: first fit, so call i takes the slot of the
                // i-th environment numbered slot-major over the arc's split.
                let split = ArcAssigner::default();
                let before = |s: u32| -> u32 {
                    (0..s).map(|j| split.environments_at(res.environments(), len, j)).sum()
                };
                let want = (0..len).find(|&s| i < before(s + 1)).unwrap();
                prop_assert_eq!(r.slot(), want, "first fit over the reserved arc");
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
            drop(held.swap_remove(0)); // that call ends
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

/// Lowering `ready` revokes nothing already admitted (so a router may briefly hold more
/// Reserved permits than are ready), and admits no further reserved call until the
/// held ones have drained below the new share.
#[test]
fn a_lowered_reservation_drains_before_admitting_again() {
    let router = Router::builder()
        .managers(spread_fleet(6))
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
// Frontends: local counting never over-admits across the fleet
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(proptest_config(128))]

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
                .managers(spread_fleet(8))
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
