//! The router's unit tests: routing, admission, throttles, writers and queries.

use super::*;
use crate::{Counting, Error, Frontends, ManagerId, ManualClock, Pick, Reservation, RouteKind};

const S: Duration = Duration::from_secs(1);

fn fleet(n: u64) -> impl Iterator<Item = (ManagerId, u32)> {
    (0..n).map(|i| (ManagerId::new(i), 1))
}

fn router(n: u64) -> (Router<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    (router_with(n, RouterConfig::default(), &clock), clock)
}

fn router_with(n: u64, config: RouterConfig, clock: &ManualClock) -> Router<ManualClock> {
    Router::builder()
        .config(config)
        .managers(fleet(n))
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[test]
fn reserved_up_to_share_then_spillover() {
    let (r, _) = router(20);
    let t = TaskId::from_name("f");
    r.put_reservation(t, Reservation::new(5, 3));
    let held: Vec<Route> = (0..6).map(|_| r.route(t).unwrap()).collect();
    let kinds: Vec<RouteKind> = held.iter().map(Route::kind).collect();
    use RouteKind::{Reserved as R, Spillover as S};
    assert_eq!(kinds, [R, R, R, S, S, S]);
    let reserved: Vec<ManagerId> = r.reserved_arc(t).iter().map(|s| s.manager).collect();
    assert!(held[..3].iter().all(|h| reserved.contains(&h.manager())));
    drop(held);
    assert_eq!(r.route(t).unwrap().kind(), R, "permits released the share");
    let u = TaskId::from_name("g");
    assert_eq!(r.route(u).unwrap().kind(), RouteKind::Unreserved);
    let s = r.stats();
    assert_eq!(
        (s.routes_reserved, s.routes_spillover, s.routes_unreserved),
        (4, 3, 1)
    );
    assert_eq!((s.in_flight_reserved, s.in_flight_unreserved), (0, 0));
}

#[test]
fn sibling_rule_uses_idle_reserved_environments_while_fresh() {
    let (r, clock) = router(20);
    let t = TaskId::from_name("f");
    // One of two frontends: a share of 2 of the 4 ready environments.
    assert!(r.set_frontends(Frontends::new(0, 2).unwrap()));
    r.put_reservation(t, Reservation::new(4, 4));
    let held: Vec<Route> = (0..2).map(|_| r.route(t).unwrap()).collect();
    assert!(held.iter().all(|h| h.kind() == RouteKind::Reserved));
    assert_eq!(r.route(t).unwrap().kind(), RouteKind::Spillover);
    r.report_reserved_busy(t, 0.5).unwrap();
    let a = r.route(t).unwrap();
    let b = r.route(t).unwrap();
    assert_eq!(
        (a.kind(), b.kind()),
        (RouteKind::Reserved, RouteKind::Reserved)
    );
    assert_eq!(
        r.route(t).unwrap().kind(),
        RouteKind::Spillover,
        "bounded by ready"
    );
    drop((a, b));
    clock.advance(3 * S);
    assert_eq!(
        r.route(t).unwrap().kind(),
        RouteKind::Spillover,
        "stale report ignored"
    );
    drop(held);
    assert_eq!(
        r.report_reserved_busy(t, 1.5),
        Err(Error::InvalidFraction { value: 1.5 })
    );
    assert!(r.report_reserved_busy(t, f32::NAN).is_err());
}

fn kinds<C: Clock>(r: &Router<C>, t: TaskId, n: usize) -> (Vec<RouteKind>, Vec<Route>) {
    let routes: Vec<Route> = (0..n).map(|_| r.route(t).unwrap()).collect();
    (routes.iter().map(Route::kind).collect(), routes)
}

#[test]
fn local_counting_admits_this_frontends_share() {
    let (r, _) = router(20);
    let t = TaskId::new(4); // 4 % 3 == 1: frontend 0 takes turn 1
    r.put_reservation(t, Reservation::new(10, 10));
    let mut shares = Vec::new();
    for index in 0..3 {
        assert!(r.set_frontends(Frontends::new(index, 3).unwrap()));
        let (k, held) = kinds(&r, t, 10);
        shares.push(k.iter().filter(|&&k| k == RouteKind::Reserved).count());
        assert!(k[shares[index as usize]..]
            .iter()
            .all(|&k| k == RouteKind::Spillover));
        drop(held);
    }
    assert_eq!(
        shares.iter().sum::<usize>(),
        10,
        "shares add up: {shares:?}"
    );
    assert!(shares.iter().all(|&s| s == 3 || s == 4));
    assert!(!r.set_frontends(Frontends::new(2, 3).unwrap()), "unchanged");
}

#[test]
fn global_counting_uses_reports_while_fresh_then_falls_back() {
    let clock = ManualClock::new();
    let config = RouterConfig {
        counting: Counting::Global { ttl: 2 * S },
        frontends: Frontends::new(0, 4).unwrap(),
        ..RouterConfig::default()
    };
    let r = router_with(20, config, &clock);
    let t = TaskId::new(8);
    r.put_reservation(t, Reservation::new(8, 8));
    assert_eq!(
        r.report_reserved_in_flight(TaskId::new(9), 1),
        Err(Error::NoReservation {
            task: TaskId::new(9)
        })
    );
    // No report yet: the local share, 8 / 4.
    let (k, first) = kinds(&r, t, 3);
    assert_eq!(r.reserved_in_flight(t), 2);
    assert_eq!(
        k,
        [
            RouteKind::Reserved,
            RouteKind::Reserved,
            RouteKind::Spillover
        ]
    );
    drop(first);
    // The fleet has 3 in flight, none of them here: 5 more fit.
    r.report_reserved_in_flight(t, 3).unwrap();
    let (k, held) = kinds(&r, t, 6);
    assert_eq!(k.iter().filter(|&&k| k == RouteKind::Reserved).count(), 5);
    assert_eq!(k[5], RouteKind::Spillover);
    // The next report counts our 5 too, so the others hold 2: once ours end, 6 fit.
    r.report_reserved_in_flight(t, 7).unwrap();
    drop(held);
    let (k, held) = kinds(&r, t, 7);
    assert_eq!(k.iter().filter(|&&k| k == RouteKind::Reserved).count(), 6);
    drop(held);
    // Stale: back to the local share.
    clock.advance(3 * S);
    let (k, _held) = kinds(&r, t, 3);
    assert_eq!(
        k,
        [
            RouteKind::Reserved,
            RouteKind::Reserved,
            RouteKind::Spillover
        ]
    );
}

#[test]
fn host_reports_work_whatever_the_clock_counts_from() {
    // A clock counted from the UNIX epoch: reports keep their time from the router's build.
    let clock = ManualClock::new();
    clock.set(Duration::from_secs(1_780_000_000));
    let mut config = RouterConfig {
        frontends: Frontends::new(0, 2).unwrap(),
        ..RouterConfig::default()
    };
    let t = TaskId::new(77);
    let r = router_with(8, config, &clock);
    r.put_reservation(t, Reservation::new(4, 4));
    let (k, _held) = kinds(&r, t, 2);
    assert_eq!(
        k,
        [RouteKind::Reserved; 2],
        "the share of 4 over 2 frontends"
    );
    r.report_reserved_busy(t, 0.1).unwrap();
    assert_eq!(
        kinds(&r, t, 1).0,
        [RouteKind::Reserved],
        "a fresh busy report"
    );

    config.counting = Counting::Global { ttl: 2 * S };
    let r = router_with(8, config, &clock);
    r.put_reservation(t, Reservation::new(4, 4));
    r.report_reserved_in_flight(t, 0).unwrap();
    assert_eq!(
        kinds(&r, t, 5).0[..4],
        [RouteKind::Reserved; 4],
        "a fresh global count"
    );
}

#[test]
fn a_cut_or_removal_drains_with_the_environments() {
    let (r, _) = router(20);
    let t = TaskId::new(5);
    r.put_reservation(t, Reservation::new(4, 4));
    // Cut to 1: the 4 environments still exist and still serve.
    assert!(r.set_reservation(t, 1));
    assert!(r.reservation(t).unwrap().is_draining());
    assert_eq!(r.reserved_arc(t).len(), 2, "still addressable");
    let (k, held) = kinds(&r, t, 5);
    assert_eq!(k.iter().filter(|&&k| k == RouteKind::Reserved).count(), 4);
    drop(held);
    // The host tears environments down: admissions follow.
    r.set_ready(t, 2).unwrap();
    let (k, held) = kinds(&r, t, 3);
    assert_eq!(
        k,
        [
            RouteKind::Reserved,
            RouteKind::Reserved,
            RouteKind::Spillover
        ]
    );
    drop(held);
    // Re-raise during the drain: ramps again as environments come back.
    assert!(r.set_reservation(t, 6));
    assert_eq!(kinds(&r, t, 3).0[2], RouteKind::Spillover, "2 ready of 6");
    r.set_ready(t, 6).unwrap();
    assert_eq!(kinds(&r, t, 6).0, [RouteKind::Reserved; 6]);
    // Removal drains too, and the entry goes with the last environment.
    assert!(r.remove_reservation(t));
    assert_eq!(r.reservation(t), Some(Reservation::new(0, 6)));
    assert_eq!(kinds(&r, t, 1).0, [RouteKind::Reserved]);
    r.set_ready(t, 0).unwrap();
    assert_eq!(r.reservation(t), None);
    assert_eq!(kinds(&r, t, 1).0, [RouteKind::Unreserved]);
    assert!(!r.remove_reservation(t), "nothing left to remove");
    // With nothing ready, removal is immediate.
    r.set_reservation(t, 3);
    assert!(r.remove_reservation(t));
    assert_eq!(r.reservation(t), None);
}

#[test]
fn unreserved_arc_grows_with_load_and_shrinks_to_the_load_after_delay() {
    let (r, clock) = router(50);
    let t = TaskId::from_name("burst");
    let held: Vec<Route> = (0..40).map(|_| r.route(t).unwrap()).collect();
    let arc = r.unreserved_arc(t.into());
    assert_eq!(arc.len(), 5, "40 in flight / 8 per manager");
    let mut used: Vec<ManagerId> = held.iter().map(Route::manager).collect();
    used.sort();
    used.dedup();
    assert_eq!(used.len(), 5);
    assert!(used.iter().all(|m| arc.contains(m)));
    drop(held);
    drop(r.route(t));
    clock.advance(61 * S);
    drop(r.route(t));
    assert_eq!(
        r.unreserved_arc(t.into()).len(),
        1,
        "after the delay, straight to what a load of 1 needs"
    );
    assert_eq!(r.stats().arc_shrinks, 1, "in one step");
}

#[test]
fn throttle_walks_distinct_managers_and_stops() {
    let (r, _) = router(4);
    let t = TaskId::from_name("f");
    let mut route = r.route(t).unwrap();
    let mut seen = vec![route.manager()];
    while r.on_throttle(&mut route) {
        seen.push(route.manager());
    }
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!((seen.len(), distinct.len()), (4, 4));
    // The probes follow the ring from the arc's start: the arc's members if it were 4 long.
    let wide = unreserved_members(&r, t, 4);
    assert_eq!(seen, wide);
    assert_eq!(
        r.unreserved_arc(t.into()).len(),
        1,
        "a throttle never widens the arc"
    );
    let s = r.stats();
    assert_eq!((s.throttles, s.throttles_exhausted), (4, 1));
    assert_eq!((s.arc_grows, s.arc_shrinks), (0, 0));
}

#[test]
fn throttled_reserved_call_tries_reserved_arc_then_spills() {
    let (r, _) = router(10);
    let t = TaskId::from_name("f");
    r.put_reservation(t, Reservation::new(2, 2));
    let reserved: Vec<ManagerId> = r.reserved_arc(t).iter().map(|s| s.manager).collect();
    assert_eq!(reserved.len(), 2);
    let mut route = r.route(t).unwrap();
    assert!(r.on_throttle(&mut route));
    assert_eq!(route.kind(), RouteKind::Reserved);
    assert!(reserved.contains(&route.manager()));
    assert!(r.on_throttle(&mut route));
    assert_eq!(route.kind(), RouteKind::Spillover);
    let s = r.stats();
    assert_eq!(
        (s.in_flight_reserved, s.in_flight_unreserved, s.spillovers),
        (0, 1, 1)
    );
    drop(route);
    assert_eq!(r.stats().in_flight_unreserved, 0);
}

#[test]
fn throttle_never_moves_a_reserved_call_to_a_slot_without_environments() {
    let (r, _) = router(6);
    let t = TaskId::from_name("f");
    r.put_reservation(t, Reservation::new(1, 1));
    let slots = r.reserved_arc(t);
    assert_eq!(
        slots.iter().map(|s| s.environments).collect::<Vec<_>>(),
        [1, 0]
    );
    let mut route = r.route(t).unwrap();
    assert_eq!(
        (route.kind(), route.manager()),
        (RouteKind::Reserved, slots[0].manager)
    );
    assert!(r.on_throttle(&mut route));
    assert_eq!(
        route.kind(),
        RouteKind::Spillover,
        "slot 1 holds no environment"
    );
}

#[test]
fn a_reserved_call_takes_its_arcs_first_member_on_the_ring_and_health_it_routes_on() {
    // The reserved half keeps the arc's first member for one snapshot: a health change or a
    // new membership finds it afresh.
    let (r, _) = router(20);
    let t = TaskId::from_name("f");
    r.put_reservation(t, Reservation::new(2, 2));
    let seat = || {
        let route = r.route(t).unwrap();
        assert_eq!(route.kind(), RouteKind::Reserved);
        (route.slot(), route.manager())
    };
    let first = r.reserved_arc(t)[0].manager;
    assert_eq!([seat(), seat()], [(0, first); 2]);
    r.set_health(first, false).unwrap();
    let second = r.reserved_arc(t)[0].manager;
    assert_ne!(second, first);
    assert_eq!(seat(), (0, second));
    r.set_health(first, true).unwrap();
    assert_eq!(seat(), (0, first));
    // Out of the fleet, the next one is first: its ring index now names another manager.
    r.set_managers(fleet(20).filter(|&(m, _)| m != first))
        .unwrap();
    assert_eq!(r.reserved_arc(t)[0].manager, second);
    assert_eq!(seat(), (0, second));
    r.set_managers(fleet(20)).unwrap();
    assert_eq!(seat(), (0, first));
}

/// A manager id past every one of `fleet(20)` (so that adding it moves no other's ring
/// index) whose points put it first on the arc `arc` names, once it joins a router where
/// `t` holds a reservation of 2 environments.
fn newcomer_first_on(t: TaskId, arc: impl Fn(&Router<ManualClock>) -> ManagerId) -> ManagerId {
    (1000..)
        .map(ManagerId::new)
        .find(|&m| {
            let (r, _) = router(20);
            r.put_reservation(t, Reservation::new(2, 2));
            r.set_managers(fleet(20).chain([(m, 1)])).unwrap();
            arc(&r) == m
        })
        .expect("some id lands first")
}

#[test]
fn a_manager_that_joins_first_on_an_arc_takes_its_next_call() {
    // A manager that joins with the highest id leaves every other's ring index as it was,
    // so the first member a task's state kept under the old ring is still a healthy
    // manager of the new one: only the snapshot's tag says it is stale.
    let t = TaskId::from_name("f");
    let reserved = |r: &Router<ManualClock>| r.reserved_arc(t)[0].manager;
    let unreserved = |r: &Router<ManualClock>| r.unreserved_arc(t.into())[0];
    let m = newcomer_first_on(t, reserved);
    let (r, _) = router(20);
    r.put_reservation(t, Reservation::new(2, 2));
    let before = r.route(t).unwrap();
    assert_eq!(before.kind(), RouteKind::Reserved);
    assert_ne!(before.manager(), m);
    drop(before);
    r.set_managers(fleet(20).chain([(m, 1)])).unwrap();
    let after = r.route(t).unwrap();
    assert_eq!((after.kind(), after.manager()), (RouteKind::Reserved, m));

    let m = newcomer_first_on(t, unreserved);
    for pick in [Pick::Pack, Pick::RoundRobin, Pick::LeastLoadedOfTwo] {
        let config = RouterConfig {
            pick,
            ..RouterConfig::default()
        };
        let r = router_with(20, config, &ManualClock::new());
        assert_ne!(r.route(t).unwrap().manager(), m, "{pick:?}");
        r.set_managers(fleet(20).chain([(m, 1)])).unwrap();
        assert_eq!(r.route(t).unwrap().manager(), m, "{pick:?}");
    }
}

#[test]
fn reserved_and_spilled_calls_of_a_task_keep_each_arcs_own_first_member() {
    // A task whose reserved and unreserved arcs start on different managers.
    let (t, r) = (0..)
        .map(|i| {
            let t = TaskId::from_name(&format!("f{i}"));
            let (r, _) = router(20);
            r.put_reservation(t, Reservation::new(1, 1));
            (t, r)
        })
        .find(|(t, r)| r.reserved_arc(*t)[0].manager != r.unreserved_arc((*t).into())[0])
        .expect("some task's arcs start apart");
    let (home, spill) = (r.reserved_arc(t)[0].manager, r.unreserved_arc(t.into())[0]);
    for _ in 0..2 {
        let held = r.route(t).unwrap();
        assert_eq!((held.kind(), held.manager()), (RouteKind::Reserved, home));
        let over = r.route(t).unwrap();
        assert_eq!((over.kind(), over.manager()), (RouteKind::Spillover, spill));
    }
}

#[test]
fn routers_keep_first_members_under_tags_of_their_own() {
    // Generations start at 1 in every router; the tags a state keeps members under do not.
    let (a, b) = (router(20).0, router(20).0);
    let (ta, tb) = (a.snapshot.load().first_tag, b.snapshot.load().first_tag);
    assert_ne!(ta, tb);
    a.set_health(ManagerId::new(0), false).unwrap();
    assert_eq!(a.snapshot.load().first_tag, ta.next());
}

#[test]
fn a_reserved_call_never_moves_back_to_the_manager_that_threw_it_back() {
    // A health change moves the reserved arc's slots under a call: the slot after the
    // call's now names the manager that threw it back. The call spills instead.
    let (r, _) = router(10);
    let t = TaskId::from_name("f");
    r.put_reservation(t, Reservation::new(32, 32));
    let arc: Vec<ManagerId> = r.reserved_arc(t).iter().map(|s| s.manager).collect();
    assert_eq!(arc.len(), 2);
    r.set_health(arc[0], false).unwrap();
    let mut route = r.route(t).unwrap();
    let thrower = route.manager();
    assert_eq!((route.kind(), thrower), (RouteKind::Reserved, arc[1]));
    r.set_health(arc[0], true).unwrap();
    assert!(r.on_throttle(&mut route));
    assert_ne!(route.manager(), thrower);
    assert_eq!(route.kind(), RouteKind::Spillover);
    let s = r.stats();
    assert_eq!((s.in_flight_reserved, s.in_flight_unreserved), (0, 1));
    drop(route);
    assert_eq!(r.stats().in_flight_unreserved, 0);
    assert_eq!(r.reserved_in_flight(t), 0);
}

#[test]
fn a_lowered_reservation_keeps_its_environments_serving() {
    let (r, _) = router(10);
    let t = TaskId::from_name("f");
    r.put_reservation(t, Reservation::new(48, 48));
    let before: Vec<ManagerId> = r.reserved_arc(t).iter().map(|s| s.manager).collect();
    assert_eq!(before.len(), 3);
    r.set_reservation(t, 1);
    r.report_reserved_busy(t, 0.1).unwrap();
    let held: Vec<Route> = (0..21).map(|_| r.route(t).unwrap()).collect();
    assert!(held.iter().all(|h| h.kind() == RouteKind::Reserved));
    // The 48 ready environments stay 16 a slot on the old arc; one frontend fills them
    // first-fit.
    let counts: Vec<usize> = before
        .iter()
        .map(|m| held.iter().filter(|h| h.manager() == *m).count())
        .collect();
    assert_eq!(counts, [16, 5, 0]);
}

#[test]
fn a_spilled_call_never_returns_to_the_manager_that_throttled_it() {
    for n in [2, 3, 5] {
        for id in 0..50 {
            let (r, _) = router(n);
            let t = TaskId::new(id);
            r.put_reservation(t, Reservation::new(1, 1));
            let mut route = r.route(t).unwrap();
            let throttled_on = route.manager();
            assert!(r.on_throttle(&mut route));
            assert_eq!(route.kind(), RouteKind::Spillover);
            assert_ne!(route.manager(), throttled_on, "{n} managers, task {id}");
        }
    }
}

#[test]
fn a_saturated_clock_does_not_panic() {
    let (r, clock) = router(3);
    clock.advance(Duration::MAX);
    let t = TaskId::new(1);
    r.put_reservation(t, Reservation::new(1, 1));
    r.report_reserved_busy(t, 0.0).unwrap();
    let routes: Vec<Route> = (0..3).filter_map(|_| r.route(t)).collect();
    assert_eq!(routes.len(), 3);
    drop(routes);
    assert_eq!(r.evict_idle(), 0, "used at the latest instant: not idle");
}

#[test]
fn an_unreserved_task_in_another_group_keeps_no_state_of_its_own() {
    let (r, _) = router(3);
    let g = GroupId::from_name("g");
    drop(r.route_in(TaskId::new(1), g));
    drop(r.route_in(TaskId::new(2), g));
    assert_eq!(r.stats().live_entries, 1);
}

#[test]
fn no_healthy_manager_is_none() {
    let (r, _) = router(2);
    r.set_health(ManagerId::new(0), false).unwrap();
    r.set_health(ManagerId::new(1), false).unwrap();
    assert!(r.route(TaskId::new(1)).is_none());
    assert_eq!(r.stats().no_manager, 1);
    r.set_health(ManagerId::new(1), true).unwrap();
    assert_eq!(
        r.route(TaskId::new(1)).unwrap().manager(),
        ManagerId::new(1)
    );
}

#[test]
fn writers_publish_only_changes() {
    let (r, _) = router(3);
    assert_eq!(r.generation(), 1);
    assert!(!r
        .set_managers(fleet(3).collect::<Vec<_>>().into_iter().rev())
        .unwrap());
    let ring = r.ring();
    assert!(r.set_health(ManagerId::new(2), false).unwrap());
    assert!(Arc::ptr_eq(&ring, &r.ring()), "health reuses the ring");
    assert!(!r.set_health(ManagerId::new(2), false).unwrap());
    assert!(r.set_managers(fleet(4)).unwrap());
    assert!(
        !r.is_healthy(ManagerId::new(2)),
        "health survives a membership change"
    );
    assert!(r.is_healthy(ManagerId::new(3)));
    let t = TaskId::new(9);
    assert!(r.set_reservation(t, 4));
    assert!(!r.set_reservation(t, 4));
    assert_eq!(
        r.set_ready(TaskId::new(8), 1),
        Err(Error::NoReservation {
            task: TaskId::new(8)
        })
    );
    assert!(r.set_ready(t, 4).unwrap());
    assert!(r.remove_reservation(t));
    assert!(!r.remove_reservation(t));
    assert_eq!(r.generation(), 6);
    let before = r.generation();
    assert_eq!(r.set_managers([]), Err(Error::NoManagers));
    let dup = [(ManagerId::new(1), 1), (ManagerId::new(1), 1)];
    assert_eq!(
        r.set_managers(dup),
        Err(Error::DuplicateManager {
            id: ManagerId::new(1)
        })
    );
    assert_eq!(
        r.set_health(ManagerId::new(77), true),
        Err(Error::UnknownManager {
            id: ManagerId::new(77)
        })
    );
    assert_eq!(r.generation(), before, "errors publish nothing");
}

#[test]
fn least_loaded_of_two_avoids_the_loaded_manager() {
    let config = RouterConfig {
        pick: Pick::LeastLoadedOfTwo,
        ..RouterConfig::default()
    };
    let r = router_with(10, config, &ManualClock::new());
    let t = TaskId::from_name("f");
    let held: Vec<Route> = (0..15).map(|_| r.route(t).unwrap()).collect();
    // 15 held: each further call is the 16th in flight, which an arc of 2 serves.
    let arc = r.unreserved_arc(t.into());
    assert_eq!(arc.len(), 2);
    r.report_load(arc[0], 1000).unwrap();
    let picks: Vec<ManagerId> = (0..10).map(|_| r.route(t).unwrap().manager()).collect();
    assert!(picks.iter().all(|&m| m == arc[1]));
    drop(held);
    assert_eq!(
        r.report_load(ManagerId::new(99), 1),
        Err(Error::UnknownManager {
            id: ManagerId::new(99)
        })
    );
}

#[test]
fn groups_share_an_arc_but_not_reservations() {
    let (r, _) = router(30);
    let g = GroupId::from_name("account-7");
    let (a, b) = (TaskId::from_name("a"), TaskId::from_name("b"));
    let ra = r.route_in(a, g).unwrap();
    let rb = r.route_in(b, g).unwrap();
    let arc = r.unreserved_arc(g);
    assert!(arc.contains(&ra.manager()) && arc.contains(&rb.manager()));
    assert_eq!(ra.group(), g);
    r.put_reservation(a, Reservation::new(1, 1));
    assert_eq!(r.route_in(a, g).unwrap().kind(), RouteKind::Reserved);
    assert_eq!(r.route_in(b, g).unwrap().kind(), RouteKind::Unreserved);
}

#[test]
fn idle_state_is_evicted_after_ttl_only_without_permits() {
    let (r, clock) = router(5);
    let held = r.route(TaskId::new(1)).unwrap();
    drop(r.route(TaskId::new(2)));
    clock.advance(601 * S);
    assert_eq!(r.evict_idle(), 1);
    assert_eq!(r.stats().live_entries, 1);
    // Idle time runs from the last route: a call held past `idle_ttl` leaves its state to
    // the first sweep after it ends, as documented on `RouterConfig::idle_ttl`.
    drop(held);
    assert_eq!(r.evict_idle(), 1);
    assert_eq!(r.stats().evictions, 2);
}

#[test]
fn stats_sum_the_events_of_every_thread() {
    let (r, _clock) = router(5);
    let reserved = TaskId::new(1_000);
    r.put_reservation(reserved, Reservation::new(100, 100));
    std::thread::scope(|s| {
        for t in 0..8u128 {
            let r = &r;
            s.spawn(move || {
                for k in 0..100 {
                    drop(r.route(TaskId::new(t * 100 + k)).unwrap());
                    drop(r.route(reserved).unwrap());
                }
                let mut route = r.route(TaskId::new(t)).unwrap();
                assert!(r.on_throttle(&mut route));
            });
        }
    });
    let stats = r.stats();
    assert_eq!(stats.routes_unreserved, 808);
    assert_eq!(stats.routes_reserved, 800);
    assert_eq!(stats.throttles, 8);
}

#[test]
fn a_call_in_flight_keeps_its_state_through_every_sweep() {
    let (r, clock) = router(5);
    let held = r.route(TaskId::new(1)).unwrap();
    for _ in 0..4 {
        clock.advance(300 * S);
        assert_eq!(r.evict_idle(), 0, "a call in flight");
    }
    assert_eq!(r.stats().live_entries, 1);
    // Routed again while the first call runs: 600 s from this route, not from the first.
    drop(r.route(TaskId::new(1)));
    clock.advance(300 * S);
    drop(held);
    assert_eq!(
        r.evict_idle(),
        0,
        "routed 300 s ago: this sweep dates that use, late"
    );
    clock.advance(599 * S);
    assert_eq!(r.evict_idle(), 0);
    clock.advance(2 * S);
    assert_eq!(r.evict_idle(), 1);
}

#[test]
fn builder_rejects_bad_config() {
    let config = RouterConfig {
        busy_threshold: f32::NAN,
        ..RouterConfig::default()
    };
    assert!(matches!(
        Router::builder().config(config).managers(fleet(1)).build(),
        Err(Error::InvalidConfig { .. })
    ));
    assert_eq!(Router::builder().build().unwrap_err(), Error::NoManagers);
}

#[test]
fn reserved_arc_tells_provisioning_where_and_how_many() {
    let (r, _) = router(10);
    let t = TaskId::from_name("f");
    assert!(r.reserved_arc(t).is_empty());
    r.put_reservation(t, Reservation::new(40, 0));
    let slots = r.reserved_arc(t);
    assert_eq!(slots.len(), 3, "ceil(40 / 16)");
    assert_eq!(slots.iter().map(|s| s.environments).sum::<u32>(), 40);
}

/// The first `n` managers clockwise from `task`'s unreserved arc start: its arc if `n` long.
fn unreserved_members(r: &Router<ManualClock>, task: TaskId, n: u32) -> Vec<ManagerId> {
    let start = crate::hash::unreserved_start(r.config().ring.seed, task.into());
    r.ring().arc(start, n).collect()
}

/// This frontend's per-slot counts of `task`'s unreserved arc.
fn slot_loads(r: &Router<ManualClock>, task: TaskId) -> Vec<u16> {
    let live = r.live.get(task.get()).expect("live state");
    (0..crate::live::TRACKED)
        .map(|s| live.slot_load(s))
        .collect()
}

#[test]
fn pack_fills_the_first_members_to_the_quota_in_order() {
    let (r, _) = router(50);
    let t = TaskId::from_name("packed");
    // One frontend, 8 calls a manager: 20 calls fill slots 0 and 1 and put 4 on slot 2.
    let mut held: Vec<Route> = (0..20).map(|_| r.route(t).unwrap()).collect();
    let slots: Vec<u32> = held.iter().map(Route::slot).collect();
    let want: Vec<u32> = (0..20).map(|i| i / 8).collect();
    assert_eq!(slots, want);
    let arc = r.unreserved_arc(t.into());
    assert_eq!(arc.len(), 3);
    assert!(held.iter().all(|h| h.manager() == arc[h.slot() as usize]));
    assert_eq!(slot_loads(&r, t), [8, 8, 4, 0, 0, 0, 0, 0]);
    // Calls that end on slot 0 free its places: the next calls go back there first.
    held.drain(..3).for_each(drop);
    let mut again: Vec<Route> = (0..4).map(|_| r.route(t).unwrap()).collect();
    assert_eq!(
        again.iter().map(Route::slot).collect::<Vec<_>>(),
        [0, 0, 0, 2]
    );
    assert_eq!(slot_loads(&r, t), [8, 8, 5, 0, 0, 0, 0, 0]);
    // A throttle moves the call with its count to the next member Pack would fill: slot 1
    // is full, slot 2 has room.
    assert!(r.on_throttle(&mut again[0]));
    assert_eq!(again[0].slot(), 2);
    assert_eq!(slot_loads(&r, t), [7, 8, 6, 0, 0, 0, 0, 0]);
    // Slot 0 threw the call back: it is full, whatever the counts say, so the next calls
    // pass it over (to slot 2, then, with no member under its quota, to the fewest).
    let mut full: Vec<Route> = (0..3).map(|_| r.route(t).unwrap()).collect();
    assert_eq!(slot_loads(&r, t), [7, 9, 8, 0, 0, 0, 0, 0]);
    assert_eq!(r.unreserved_arc(t.into()).len(), 3);
    // From the arc's last member, the manager after it, past the arc.
    assert_eq!(full[0].slot(), 2);
    assert!(r.on_throttle(&mut full[0]));
    assert_eq!(full[0].slot(), 3);
    assert_eq!(r.unreserved_arc(t.into()).len(), 3, "the arc stays");
    again.append(&mut full);
    held.append(&mut again);
    // Every count goes back to 0 with the last permit, across a membership change too.
    r.set_managers((0..49).map(|i| (ManagerId::new(i), 1)))
        .unwrap();
    let late = r.route(t).unwrap();
    drop(held);
    drop(late);
    assert_eq!(slot_loads(&r, t), [0; 8]);
    assert_eq!(r.stats().in_flight_unreserved, 0);
}

#[test]
fn a_throttle_with_no_packed_member_free_goes_past_the_arc_where_the_load_is_lower() {
    let (r, _) = router(50);
    let t = TaskId::from_name("burst");
    let ring = unreserved_members(&r, t, 5);
    // 24 calls: an arc of 3, each member at this frontend's quota of 8.
    let mut held: Vec<Route> = (0..24).map(|_| r.route(t).unwrap()).collect();
    assert_eq!(r.unreserved_arc(t.into()).len(), 3);
    assert_eq!(slot_loads(&r, t)[..4], [8, 8, 8, 0]);
    let grows = r.stats().arc_grows;
    let on_first = |held: &[Route]| held.iter().position(|h| h.slot() == 0).unwrap();
    // No load reported: a manager past the arc is not known to be less busy than the full
    // one, so the call goes to the next member, where the group's own calls may end first.
    let i = on_first(&held);
    assert!(r.on_throttle(&mut held[i]));
    assert_eq!(held[i].slot(), 1);
    assert_eq!(slot_loads(&r, t)[..4], [7, 9, 8, 0]);
    // The arc's members report 12 calls each, every manager past it 2: past the arc. A
    // second throttle there goes on to the manager after it.
    for i in 0..50 {
        let m = ManagerId::new(i);
        r.report_load(m, if ring[..3].contains(&m) { 12 } else { 2 })
            .unwrap();
    }
    let i = on_first(&held);
    assert!(r.on_throttle(&mut held[i]));
    assert_eq!((held[i].slot(), held[i].manager()), (3, ring[3]));
    assert_eq!(slot_loads(&r, t)[..4], [6, 9, 8, 1]);
    assert!(r.on_throttle(&mut held[i]));
    assert_eq!((held[i].slot(), held[i].manager()), (4, ring[4]));
    // The manager past the arc as busy as the full one: the next member.
    r.report_load(ring[3], 12).unwrap();
    let i = on_first(&held);
    assert!(r.on_throttle(&mut held[i]));
    assert_eq!(held[i].slot(), 1);
    // The load compared is the one of the manager that threw the call back: from slot 1
    // (12), past the arc (5), though slot 0 reports less (1).
    r.report_load(ring[0], 1).unwrap();
    r.report_load(ring[3], 5).unwrap();
    let i = held.iter().position(|h| h.slot() == 1).unwrap();
    assert!(r.on_throttle(&mut held[i]));
    assert_eq!(held[i].manager(), ring[3]);
    assert_eq!(r.unreserved_arc(t.into()).len(), 3, "the arc stays");
    assert_eq!(r.stats().arc_grows, grows);
    drop(held);

    // A health change moves the slots under a call: its slot now names the manager before
    // the one that threw it back. The move never goes back to that manager.
    let (r, _) = router(50);
    let ring = unreserved_members(&r, t, 4);
    r.set_health(ring[0], false).unwrap();
    let mut held: Vec<Route> = (0..24).map(|_| r.route(t).unwrap()).collect();
    let i = on_first(&held);
    let thrower = held[i].manager();
    assert_eq!(thrower, ring[1]);
    r.set_health(ring[0], true).unwrap();
    assert!(r.on_throttle(&mut held[i]));
    assert_ne!(held[i].manager(), thrower);
    drop(held);

    // An arc of every healthy manager has no manager past it: the manager after the slot,
    // though it too holds this frontend's quota.
    let (r, _) = router(4);
    let mut wide: Vec<Route> = (0..32).map(|_| r.route(t).unwrap()).collect();
    assert_eq!(r.unreserved_arc(t.into()).len(), 4);
    assert_eq!(slot_loads(&r, t)[..4], [8, 8, 8, 8]);
    let i = on_first(&wide);
    assert!(r.on_throttle(&mut wide[i]));
    assert_eq!(wide[i].slot(), 1);
    drop(wide);

    // An arc of 3 of 4, the fourth manager idle: past the arc, then, wrapped round, on
    // through the arc from its start, not back past it (so the run comes back to the
    // manager that first threw it back).
    let (r, _) = router(4);
    let ring = unreserved_members(&r, t, 4);
    let mut held: Vec<Route> = (0..24).map(|_| r.route(t).unwrap()).collect();
    assert_eq!(r.unreserved_arc(t.into()).len(), 3);
    for (k, &m) in ring.iter().enumerate() {
        r.report_load(m, if k < 3 { 12 } else { 0 }).unwrap();
    }
    let i = on_first(&held);
    let slots: Vec<u32> = (0..3)
        .map(|_| {
            assert!(r.on_throttle(&mut held[i]));
            held[i].slot()
        })
        .collect();
    assert_eq!(slots, [3, 0, 1]);
    assert!(!r.on_throttle(&mut held[i]), "3 moves among 4 managers");
}

#[test]
fn pack_with_the_first_member_down_fills_the_next_healthy_one() {
    let (r, _) = router(50);
    let t = TaskId::from_name("packed");
    let seats = |n: usize| -> (Vec<(u32, ManagerId)>, Vec<Route>) {
        let held: Vec<Route> = (0..n).map(|_| r.route(t).unwrap()).collect();
        (held.iter().map(|h| (h.slot(), h.manager())).collect(), held)
    };
    // Healthy, 9 calls: 8 (the quota) on the first member, the ninth on the second.
    let (up, held) = seats(9);
    let (first, second) = (up[0].1, up[8].1);
    assert_eq!(up[..8], [(0, first); 8]);
    assert_eq!(up[8].0, 1);
    drop(held);
    // With the first member down, the second is slot 0 and fills the same way.
    r.set_health(first, false).unwrap();
    let (down, held) = seats(9);
    assert_eq!(down[..8], [(0, second); 8]);
    assert_eq!(down[8].0, 1);
    assert_eq!(down[8].1, r.unreserved_arc(t.into())[1]);
    assert!(down.iter().all(|&(_, m)| m != first));
    drop(held);
    // Back up, it is the first member again.
    r.set_health(first, true).unwrap();
    assert_eq!(seats(1).0, [(0, first)]);
    // Out of the fleet, the next is: the member the state kept is kept for one ring only.
    r.set_managers(fleet(50).filter(|&(m, _)| m != first))
        .unwrap();
    assert_eq!(seats(1).0, [(0, second)]);
    assert_eq!(r.unreserved_arc(t.into())[0], second);
    // Back in, first again.
    r.set_managers(fleet(50)).unwrap();
    assert_eq!(seats(1).0, [(0, first)]);
}

#[test]
fn pack_quota_follows_the_frontend_count() {
    let clock = ManualClock::new();
    let config = RouterConfig {
        frontends: Frontends::new(1, 4).unwrap(),
        ..RouterConfig::default()
    };
    let r = router_with(50, config, &clock);
    let t = TaskId::from_name("packed");
    // 8 calls a manager over 4 frontends: 2 from each on a member, and an arc sized for
    // 4 times this frontend's calls.
    let held: Vec<Route> = (0..7).map(|_| r.route(t).unwrap()).collect();
    let slots: Vec<u32> = held.iter().map(Route::slot).collect();
    assert_eq!(slots, [0, 0, 1, 1, 2, 2, 3]);
    assert_eq!(r.unreserved_arc(t.into()).len(), 4, "ceil(7 × 4 / 8)");
    // A quota of at least 1, however many frontends.
    r.set_frontends(Frontends::new(0, 1000).unwrap());
    let more: Vec<Route> = (0..3).map(|_| r.route(t).unwrap()).collect();
    assert_eq!(more.iter().map(Route::slot).collect::<Vec<_>>(), [4, 5, 6]);
}

#[test]
fn pack_passes_over_members_above_the_load_bound() {
    let (r, _) = router(10);
    let t = TaskId::from_name("packed");
    let ring = unreserved_members(&r, t, 3);
    // Home reports 100 of a fleet total of 100: mean 10, bound ceil(1.25 × 10) = 13.
    r.report_load(ring[0], 100).unwrap();
    let first = r.route(t).unwrap();
    assert_eq!(
        (first.slot(), first.manager()),
        (1, ring[1]),
        "the one member is over the bound: the first manager past the arc"
    );
    assert_eq!(r.unreserved_arc(t.into()).len(), 1, "the arc stays");
    // Back within the bound (13 of a total of 13 + 0: mean 1.3, bound 2): still over.
    r.report_load(ring[0], 13).unwrap();
    assert_eq!(r.route(t).unwrap().slot(), 1);
    // Every manager equally loaded: within the bound, home again.
    for id in r.ring().managers().map(|(id, _)| id) {
        r.report_load(id, 13).unwrap();
    }
    assert_eq!(r.route(t).unwrap().slot(), 0);
    // Unbounded: home whatever it reports.
    let clock = ManualClock::new();
    let config = RouterConfig {
        load_bound: f32::INFINITY,
        ..RouterConfig::default()
    };
    let open = router_with(10, config, &clock);
    open.report_load(ring[0], 100).unwrap();
    assert_eq!(open.route(t).unwrap().slot(), 0);
}

#[test]
fn the_load_floor_keeps_lightly_loaded_members() {
    let clock = ManualClock::new();
    let config = RouterConfig {
        load_floor: 16,
        ..RouterConfig::default()
    };
    let r = router_with(100, config, &clock);
    let t = TaskId::from_name("packed");
    let ring = unreserved_members(&r, t, 2);
    // Home runs 12 calls of a fleet total of 12: mean 0.12, bound 1 by the mean alone.
    r.report_load(ring[0], 12).unwrap();
    assert_eq!(r.route(t).unwrap().slot(), 0, "under the floor: home");
    r.report_load(ring[0], 15).unwrap();
    assert_eq!(r.route(t).unwrap().slot(), 0, "under the floor: home");
    // At the floor the member is full, as long as the mean's cap is lower.
    r.report_load(ring[0], 16).unwrap();
    assert_eq!(r.route(t).unwrap().slot(), 1);
    // With the fleet busy (mean 20.05, cap ceil(25.06) = 26), the mean's cap is the higher.
    for id in r.ring().managers().map(|(id, _)| id) {
        r.report_load(id, 20).unwrap();
    }
    r.report_load(ring[0], 25).unwrap();
    assert_eq!(r.route(t).unwrap().slot(), 0);
    r.report_load(ring[0], 26).unwrap();
    assert_eq!(r.route(t).unwrap().slot(), 1);
}

#[test]
fn a_member_that_throttled_is_passed_over_until_a_call_there_ends_or_the_window_closes() {
    let (r, _) = router(50);
    let t = TaskId::from_name("large");
    // 12 calls: 8 on slot 0, 4 on slot 1 (an arc of 2).
    let mut held: Vec<Route> = (0..12).map(|_| r.route(t).unwrap()).collect();
    assert_eq!(slot_loads(&r, t)[..2], [8, 4]);
    // Slot 1's manager is full at 4 (a large function fills its memory first): a throttle
    // moves the call on, and marks slot 1.
    let i = held.iter().position(|h| h.slot() == 1).unwrap();
    assert!(r.on_throttle(&mut held[i]));
    assert_ne!(held[i].slot(), 1);
    assert_eq!(slot_loads(&r, t)[1], 3);
    // The next calls pass slot 1 over, though its count is under the quota.
    let next = r.route(t).unwrap();
    assert_ne!(next.slot(), 1);
    held.push(next);
    // A call of this frontend on slot 1 ends: room there, so it is tried again.
    let j = held.iter().position(|h| h.slot() == 1).unwrap();
    drop(held.remove(j));
    let back = r.route(t).unwrap();
    assert_eq!(back.slot(), 1);
    held.push(back);
    // Marked again, it stays passed over until this frontend has taken 8 × 8 calls of the
    // group since (the tracked members times its quota).
    let k = held.iter().position(|h| h.slot() == 1).unwrap();
    assert!(r.on_throttle(&mut held[k]));
    for _ in 0..63 {
        drop(r.route(t).unwrap());
    }
    assert_ne!(r.route(t).unwrap().slot(), 1, "63 calls later");
    assert_eq!(r.route(t).unwrap().slot(), 1, "the window closed");
    drop(held);
    assert_eq!(slot_loads(&r, t), [0; 8]);
}

#[test]
fn pack_past_the_tracked_members_passes_over_those_at_the_cap() {
    let (r, _) = router(50);
    let t = TaskId::from_name("hot");
    let arc = unreserved_members(&r, t, 10);
    // Slot 8's manager reports 50 of a total of 50 (mean 1, cap 2): at the cap.
    r.report_load(arc[8], 50).unwrap();
    let held: Vec<Route> = (0..80).map(|_| r.route(t).unwrap()).collect();
    assert_eq!(r.unreserved_arc(t.into()).len(), 10);
    // Calls 65 to 72 (an arc of 9: slot 8 alone past the tracked ones, and nothing further)
    // keep it; calls 73 to 80 (an arc of 10) pass from slot 8 to slot 9.
    assert!(held[64..72].iter().all(|h| h.slot() == 8));
    assert!(held[72..].iter().all(|h| h.slot() == 9));
}

#[test]
fn pack_past_the_tracked_members_deals_round_robin() {
    let (r, _) = router(50);
    let t = TaskId::from_name("hot");
    // 80 calls: the first 8 members take 8 each; calls 65 to 72 find an arc of 9 (slot 8
    // alone past the tracked ones), calls 73 to 80 an arc of 10 (slots 8 and 9 in turn).
    let held: Vec<Route> = (0..80).map(|_| r.route(t).unwrap()).collect();
    assert_eq!(r.unreserved_arc(t.into()).len(), 10);
    assert_eq!(slot_loads(&r, t), [8; 8], "untracked slots are not counted");
    assert!(held[64..72].iter().all(|h| h.slot() == 8));
    let last: Vec<u32> = held[72..].iter().map(Route::slot).collect();
    assert_eq!(last, [8, 9, 8, 9, 8, 9, 8, 9], "round-robin by the cursor");
}

#[test]
fn load_bound_is_checked() {
    for bad in [-0.5, f32::NAN, f32::NEG_INFINITY] {
        let config = RouterConfig {
            load_bound: bad,
            ..RouterConfig::default()
        };
        let built = Router::builder()
            .config(config)
            .managers((0..4).map(|i| (ManagerId::new(i), 1)))
            .build();
        assert!(matches!(built, Err(Error::InvalidConfig { .. })), "{bad}");
    }
}

/// This frontend's per-slot counts of `task`'s Reserved calls, from its range's first slot.
fn reserved_loads(r: &Router<ManualClock>, task: TaskId) -> Vec<u8> {
    let live = r.live.get(task.get()).expect("live state");
    let reserved = live.reserved_if_made().expect("a reserved half");
    (0..8).map(|s| reserved.slot_load(s)).collect()
}

#[test]
fn reserved_calls_fill_this_frontends_share_first_fit() {
    let (r, _) = router(10);
    let t = TaskId::new(0); // turn = index: no remainder to rotate with 30 of 3
    r.set_frontends(Frontends::new(1, 3).unwrap());
    r.put_reservation(t, Reservation::new(48, 30));
    // 48 environments on 3 slots, 16 each; shares of 30 are 10 each: frontend 1 owns
    // environments 10..20, 6 on slot 0 and 4 on slot 1.
    assert_eq!(r.reserved_arc(t).len(), 3);
    let mut held: Vec<Route> = (0..10).map(|_| r.route(t).unwrap()).collect();
    let slots: Vec<u32> = held.iter().map(Route::slot).collect();
    assert_eq!(slots, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    assert!(held.iter().all(|h| h.kind() == RouteKind::Reserved));
    assert_eq!(reserved_loads(&r, t), [6, 4, 0, 0, 0, 0, 0, 0]);
    assert_eq!(r.route(t).unwrap().kind(), RouteKind::Spillover);

    // Past the own share (the sibling rule): dealt over the whole arc, on no slot's count.
    r.report_reserved_busy(t, 0.1).unwrap();
    let mut sibling = r.route(t).unwrap();
    assert_eq!((sibling.kind(), sibling.slot()), (RouteKind::Reserved, 0));
    assert!(!sibling.permit.is_tracked());
    // Throttled, it walks on over the slots that hold environments, twice, then spills.
    assert!(r.on_throttle(&mut sibling));
    assert_eq!((sibling.kind(), sibling.slot()), (RouteKind::Reserved, 1));
    assert!(r.on_throttle(&mut sibling));
    assert_eq!((sibling.kind(), sibling.slot()), (RouteKind::Reserved, 2));
    assert!(r.on_throttle(&mut sibling));
    assert_eq!(sibling.kind(), RouteKind::Spillover);
    drop(sibling);
    assert_eq!(reserved_loads(&r, t)[..2], [6, 4]);
    r.report_reserved_busy(t, 1.0).unwrap();

    // A throttle from slot 0, with slot 1's 4 taken: no place of this frontend's is free by
    // its counts, so the call walks on to slot 1 uncounted, and its count goes; throttled
    // twice more, it spills.
    assert!(r.on_throttle(&mut held[0]));
    assert_eq!((held[0].kind(), held[0].slot()), (RouteKind::Reserved, 1));
    assert!(!held[0].permit.is_tracked());
    assert_eq!(reserved_loads(&r, t)[..2], [5, 4]);
    assert!(r.on_throttle(&mut held[0]));
    assert!(r.on_throttle(&mut held[0]));
    assert_eq!(held[0].kind(), RouteKind::Spillover);
    // A call on slot 1 ends; a throttle from slot 0 moves its call and count there.
    drop(held.remove(6));
    assert_eq!(reserved_loads(&r, t)[..2], [5, 3]);
    assert!(r.on_throttle(&mut held[1]));
    assert_eq!((held[1].kind(), held[1].slot()), (RouteKind::Reserved, 1));
    assert!(held[1].permit.is_tracked());
    assert_eq!(reserved_loads(&r, t)[..2], [4, 4]);
    // Throttled again on slot 1, the last of the range: it walks on to slot 2, uncounted.
    assert!(r.on_throttle(&mut held[1]));
    assert_eq!((held[1].kind(), held[1].slot()), (RouteKind::Reserved, 2));
    assert_eq!(reserved_loads(&r, t)[..2], [4, 3]);
    // Within the share again, the next call takes the first place free.
    let again = r.route(t).unwrap();
    assert_eq!((again.kind(), again.slot()), (RouteKind::Reserved, 0));
    assert!(again.permit.is_tracked());
    held.push(again);
    assert_eq!(reserved_loads(&r, t)[..2], [5, 3]);
    drop(held);
    assert_eq!(reserved_loads(&r, t), [0; 8]);
    assert_eq!(r.stats().in_flight_reserved, 0);
}

#[test]
fn reserved_counts_return_to_zero_across_changes() {
    let (r, _) = router(10);
    let t = TaskId::new(0);
    r.set_frontends(Frontends::new(1, 3).unwrap());
    r.put_reservation(t, Reservation::new(48, 30));
    let mut held: Vec<Route> = (0..10).map(|_| r.route(t).unwrap()).collect();
    // More ready: 15 each, frontend 1 owns 15..30, 1 on slot 0 and 14 on slot 1. The calls
    // held keep their counts; the new ones fill what is left of the new range.
    r.set_ready(t, 45).unwrap();
    held.extend((0..5).map(|_| r.route(t).unwrap()));
    assert!(held.iter().all(|h| h.kind() == RouteKind::Reserved));
    assert!(held[10..].iter().all(|h| h.slot() == 1));
    assert_eq!(reserved_loads(&r, t)[..2], [6, 9]);
    // Fewer ready, and the fleet changes under calls in flight.
    r.set_ready(t, 12).unwrap();
    r.set_managers(fleet(7)).unwrap();
    r.set_health(ManagerId::new(3), false).unwrap();
    held.truncate(3);
    held.push(r.route(t).unwrap());
    for route in held.iter_mut() {
        r.on_throttle(route);
    }
    drop(held);
    assert_eq!(reserved_loads(&r, t), [0; 8]);
    // From nothing, first fit over the new range: 12 of 3 is 4 each, environments 4..8 of 48
    // on the 6 healthy managers' 3 slots, all on slot 0.
    let held: Vec<Route> = (0..4).map(|_| r.route(t).unwrap()).collect();
    assert!(held
        .iter()
        .all(|h| h.kind() == RouteKind::Reserved && h.slot() == 0));
    assert_eq!(reserved_loads(&r, t)[..2], [4, 0]);
    drop(held);
    assert_eq!(reserved_loads(&r, t), [0; 8]);
    let s = r.stats();
    assert_eq!((s.in_flight_reserved, s.in_flight_unreserved), (0, 0));
}

/// 400 managers, 2 reserved environments a manager: reservations spanning many slots.
fn two_environments_a_manager() -> Router<ManualClock> {
    let mut config = RouterConfig::default();
    config.assign.reserved_per_manager = std::num::NonZeroU32::new(2).unwrap();
    router_with(400, config, &ManualClock::new())
}

#[test]
fn a_reservation_that_grows_after_its_first_route_is_counted_whole() {
    // First routed with 4 environments (2 slots), then grown to 600 (300 slots): the new
    // range's slots are counted too, so calls fill it exactly and refill what ends.
    let r = two_environments_a_manager();
    let t = TaskId::new(9);
    r.put_reservation(t, Reservation::new(4, 4));
    drop(r.route(t).unwrap());
    r.put_reservation(t, Reservation::new(600, 600));
    let mut held: Vec<Route> = (0..600).map(|_| r.route(t).unwrap()).collect();
    assert!(held.iter().all(|h| h.kind() == RouteKind::Reserved));
    let on = |held: &[Route], slot: u32| held.iter().filter(|h| h.slot() == slot).count();
    assert!((0..300).all(|slot| on(&held, slot) == 2));
    held.retain(|h| h.slot() != 290);
    held.extend((0..2).map(|_| r.route(t).unwrap()));
    assert_eq!(on(&held, 290), 2);
    drop(held);
    let live = r.live.get(t.get()).expect("live state");
    let reserved = live.reserved_if_made().expect("a reserved half");
    assert!(
        (0..1024).all(|s| reserved.slot_load(s) == 0),
        "every count back to 0"
    );
}

#[test]
fn a_share_over_many_slots_refills_the_slot_whose_calls_ended() {
    // 600 environments at 2 a manager: 300 slots, the whole share this frontend's. Every
    // slot is counted (up to `RESERVED_TRACKED`), so calls that end free their slot's
    // places and the next calls go there, not to a slot whose environments are all busy.
    let r = two_environments_a_manager();
    let t = TaskId::new(7);
    r.put_reservation(t, Reservation::new(600, 600));
    let arc = r.reserved_arc(t);
    assert_eq!(arc.len(), 300);
    let mut held: Vec<Route> = (0..600).map(|_| r.route(t).unwrap()).collect();
    assert!(held.iter().all(|h| h.kind() == RouteKind::Reserved));
    let on = |held: &[Route], slot: u32| held.iter().filter(|h| h.slot() == slot).count();
    assert!((0..300).all(|slot| on(&held, slot) == 2));
    // Every call on slots 261, 41 and 17 ends (in that order); as many new calls take
    // exactly their places.
    for gone in [261, 41, 17] {
        held.retain(|h| h.slot() != gone);
    }
    held.extend((0..6).map(|_| r.route(t).unwrap()));
    assert!(held.iter().all(|h| h.kind() == RouteKind::Reserved));
    assert!((0..300).all(|slot| on(&held, slot) == 2));
    for (slot, s) in (0..).zip(&arc) {
        let n = held.iter().filter(|h| h.manager() == s.manager).count();
        assert_eq!(n, 2, "slot {slot}");
    }
    assert_eq!(r.route(t).unwrap().kind(), RouteKind::Spillover);
    drop(held);
    assert_eq!(r.stats().in_flight_reserved, 0);
}

#[test]
fn a_reservation_of_every_environment_on_one_manager_routes() {
    // `u32::MAX` environments on one slot: a slot holds `q + 1` of them only in u64.
    let (r, _) = router(1);
    let t = TaskId::new(3);
    r.put_reservation(t, Reservation::new(u32::MAX, u32::MAX));
    let held: Vec<Route> = (0..3).map(|_| r.route(t).unwrap()).collect();
    assert!(held
        .iter()
        .all(|h| h.kind() == RouteKind::Reserved && h.slot() == 0));
    let own = OwnShare::new(
        Frontends::default(),
        Reservation::new(u32::MAX, u32::MAX),
        t,
        3,
    )
    .expect("one frontend owns it all");
    assert_eq!((own.first_slot(), own.last_slot()), (0, 2));
    assert_eq!(own.slot_of(u32::MAX - 1), 2);
    assert_eq!(own.own_on(0), u32::MAX / 3);
    drop(held);
    assert_eq!(r.stats().in_flight_reserved, 0);
}

#[test]
fn marks_of_full_members_are_not_followed_on_a_busy_fleet() {
    let clock = ManualClock::new();
    let config = RouterConfig {
        load_floor: 16,
        ..RouterConfig::default()
    };
    let r = router_with(50, config, &clock);
    let t = TaskId::from_name("large");
    let mut held: Vec<Route> = (0..12).map(|_| r.route(t).unwrap()).collect();
    let i = held.iter().position(|h| h.slot() == 1).unwrap();
    assert!(r.on_throttle(&mut held[i]));
    // A quiet fleet (no load above the floor): the mark is followed.
    assert_ne!(r.route(t).unwrap().slot(), 1);
    // Every manager runs 15 of 16 (mean 15, cap ceil(18.75) = 19 past the floor): the
    // fleet is busy, and a call moved off slot 1 would only evict warm environments where
    // it lands, so slot 1 takes the next call again.
    for id in r.ring().managers().map(|(id, _)| id) {
        r.report_load(id, 15).unwrap();
    }
    assert_eq!(r.route(t).unwrap().slot(), 1);
    drop(held);
}
