//! Reserved calls over several frontends: each frontend's Reserved calls land only on the
//! slots that hold its own share of the environments, never more at once on a slot than it
//! owns there, and all frontends together never more than the host placed on the slot; the
//! per-slot counts return to zero after drops, throttles, membership and reservation changes.
//!
//! The expectation is computed independently of the router: the environments numbered
//! slot-major by `ArcAssigner::environments_at`, the frontends' shares by
//! `Frontends::share_of`, each frontend's range the sum of the shares before it.

use arcroute::{
    ArcAssigner, Frontends, ManagerId, Reservation, Route, RouteKind, Router, RouterConfig, TaskId,
};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::support::{proptest_config, spread, spread_fleet};

/// The tracked slots of a frontend's range, as documented.
const TRACKED: u32 = 8;

/// Frontend `index` of `count`'s own environments on each slot of an arc of `len` slots for
/// reservation `res` of `task`: `[first, end)` of the environments numbered slot-major over
/// `max(limit, ready)`, intersected with its range of the shares of `ready`.
fn own_environments(index: u32, count: u32, res: Reservation, task: TaskId, len: u32) -> Vec<u32> {
    let share = |i: u32| Frontends::new(i, count).unwrap().share_of(res.ready, task);
    let offset: u32 = (0..index).map(share).sum();
    let end = offset + share(index);
    let split = ArcAssigner::default();
    let mut first = 0;
    (0..len)
        .map(|s| {
            let next = first + split.environments_at(res.environments(), len, s);
            let own = next.min(end).saturating_sub(first.max(offset));
            first = next;
            own
        })
        .collect()
}

struct Frontend {
    router: Router,
    index: u32,
    held: Vec<Route>,
}

fn frontends(count: u32, managers: u64, task: TaskId, res: Reservation) -> Vec<Frontend> {
    (0..count)
        .map(|index| {
            let mut config = RouterConfig::default();
            config.frontends = Frontends::new(index, count).unwrap();
            let router = Router::builder()
                .config(config)
                .managers(spread_fleet(managers))
                .reservation(task, res)
                .build()
                .unwrap();
            Frontend {
                router,
                index,
                held: Vec::new(),
            }
        })
        .collect()
}

/// Reserved calls each frontend holds on each slot of the reserved arc (by manager), of
/// those that `placed` selects.
fn reserved_on(f: &Frontend, arc: &[ManagerId], placed: impl Fn(&Route) -> bool) -> Vec<u32> {
    arc.iter()
        .map(|m| {
            f.held
                .iter()
                .filter(|r| r.kind() == RouteKind::Reserved && r.manager() == *m && placed(r))
                .count() as u32
        })
        .collect()
}

/// Routes until each frontend holds its whole share, from nothing held: every frontend fills
/// exactly its own environments on every slot, all of them first-fit in slot order.
fn fill_from_empty(fs: &mut [Frontend], task: TaskId) -> Result<(), TestCaseError> {
    let count = fs.len() as u32;
    for f in fs.iter_mut() {
        prop_assert!(f.held.is_empty());
        let res = f.router.reservation(task).unwrap();
        let arc = f.router.reserved_arc(task);
        let len = arc.len() as u32;
        let own = own_environments(f.index, count, res, task, len);
        let share: u32 = own.iter().sum();
        for call in 0..share {
            let route = f.router.route(task).unwrap();
            prop_assert_eq!(route.kind(), RouteKind::Reserved);
            prop_assert_eq!(route.manager(), arc[route.slot() as usize].manager);
            // Within the tracked slots of its range, call `call` takes the slot of its
            // `call`-th own environment.
            let mut before = 0;
            let want = (0..len).find(|&s| {
                before += own[s as usize];
                call < before
            });
            let first = own.iter().position(|&n| n > 0).unwrap() as u32;
            if want.unwrap() < first + TRACKED {
                prop_assert_eq!(Some(route.slot()), want, "first fit, call {}", call);
            }
            f.held.push(route);
        }
        let managers: Vec<ManagerId> = arc.iter().map(|s| s.manager).collect();
        prop_assert_eq!(
            reserved_on(f, &managers, |_| true),
            own,
            "its own environments, each slot"
        );
        let beyond = f.router.route(task).unwrap();
        prop_assert_ne!(beyond.kind(), RouteKind::Reserved);
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Op {
    Route(Index),
    Drop(Index, Index),
    Throttle(Index, Index),
    SetReady(u32),
    SetLimit(u32),
    Health(u64, bool),
    Managers(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => any::<Index>().prop_map(Op::Route),
        4 => (any::<Index>(), any::<Index>()).prop_map(|(f, r)| Op::Drop(f, r)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(f, r)| Op::Throttle(f, r)),
        1 => (0u32..=200).prop_map(Op::SetReady),
        1 => (0u32..=200).prop_map(Op::SetLimit),
        1 => (0u64..12, any::<bool>()).prop_map(|(m, up)| Op::Health(m, up)),
        1 => (4u64..=12).prop_map(Op::Managers),
    ]
}

proptest! {
    #![proptest_config(proptest_config(64))]

    /// Property 12: F frontends counting locally, routing, dropping and throttling a reserved
    /// task while its reservation and the fleet change. Of the Reserved calls the router
    /// placed (not throttled) under the current reservation and fleet, each frontend's sit
    /// only on slots holding its own environments, never more on one of its tracked slots
    /// than it owns there, and the frontends' together never more than the host placed on a
    /// slot every owner tracks, whatever calls admitted before a change still hold. Whatever
    /// happened, once every call ends the per-slot counts are back to zero: filling every
    /// share again from nothing is exact first fit.
    #[test]
    fn reserved_calls_stay_on_each_frontends_share(
        count in 1u32..=6,
        limit in 1u32..=200,
        ready_cut in 0u32..=100,
        t in any::<u128>(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let task = TaskId::new(t);
        // `ready <= limit`: the host's placement (`reserved_arc`) covers every environment.
        let ready = limit - limit * ready_cut / 400;
        let res = Reservation::new(limit, ready);
        let mut fs = frontends(count, 10, task, res);
        fill_from_empty(&mut fs, task)?;
        for op in &ops {
            match *op {
                Op::Route(f) => {
                    let f = &mut fs[f.index(count as usize)];
                    if let Some(route) = f.router.route(task) {
                        f.held.push(route);
                    }
                }
                Op::Drop(f, r) => {
                    let f = &mut fs[f.index(count as usize)];
                    if !f.held.is_empty() {
                        drop(f.held.swap_remove(r.index(f.held.len())));
                    }
                }
                Op::Throttle(f, r) => {
                    let f = &mut fs[f.index(count as usize)];
                    if !f.held.is_empty() {
                        let i = r.index(f.held.len());
                        f.router.on_throttle(&mut f.held[i]);
                    }
                }
                Op::SetReady(n) => {
                    let n = n.min(fs[0].router.reservation(task).map_or(0, |r| r.limit));
                    for f in &fs {
                        f.router.set_ready(task, n).unwrap();
                    }
                }
                Op::SetLimit(n) => {
                    let ready = fs[0].router.reservation(task).map_or(0, |r| r.ready);
                    for f in &fs {
                        f.router.set_reservation(task, n.max(ready).max(1));
                    }
                }
                Op::Health(m, up) => {
                    for f in &fs {
                        let _unknown_is_refused = f.router.set_health(spread(m), up);
                    }
                }
                Op::Managers(n) => {
                    for f in &fs {
                        f.router.set_managers(spread_fleet(n)).unwrap();
                    }
                }
            }
            let generation = fs[0].router.generation();
            let placed = |r: &Route| r.retries() == 0 && r.generation() == generation;
            let res = fs[0].router.reservation(task).unwrap();
            let arc = fs[0].router.reserved_arc(task);
            let managers: Vec<ManagerId> = arc.iter().map(|s| s.manager).collect();
            let mut all = vec![0u32; arc.len()];
            // Whether every frontend owning environments on the slot tracks it.
            let mut tracked = vec![true; arc.len()];
            for f in &fs {
                prop_assert_eq!(f.router.generation(), generation);
                let own = own_environments(f.index, count, res, task, arc.len() as u32);
                let first = own.iter().position(|&n| n > 0).unwrap_or(0);
                for (s, on) in reserved_on(f, &managers, placed).into_iter().enumerate() {
                    prop_assert!(on == 0 || own[s] > 0, "frontend {} off its share, slot {}", f.index, s);
                    if s < first + TRACKED as usize {
                        prop_assert!(on <= own[s], "frontend {}, slot {}: {} > {}", f.index, s, on, own[s]);
                    } else {
                        tracked[s] &= own[s] == 0;
                    }
                    all[s] += on;
                }
            }
            for (s, slot) in arc.iter().enumerate() {
                if tracked[s] {
                    prop_assert!(all[s] <= slot.environments, "slot {}: {} > {} placed", s, all[s], slot.environments);
                }
            }
        }
        // Every call ends; the reservation and fleet go back to a known state.
        for f in &mut fs {
            f.held.clear();
            let s = f.router.stats();
            prop_assert_eq!((s.in_flight_reserved, s.in_flight_unreserved), (0, 0));
            f.router.set_managers(spread_fleet(10)).unwrap();
            for m in 0..12 {
                let _ = f.router.set_health(spread(m), true);
            }
            f.router.put_reservation(task, res);
        }
        fill_from_empty(&mut fs, task)?;
    }
}
