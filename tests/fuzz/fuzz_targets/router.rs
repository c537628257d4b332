//! The router end to end: a builder with any config, managers and reservations, then a
//! sequence of host operations on a manual clock. After every operation: no panic, routes go
//! only to healthy managers of the ring, `stats()` counts exactly the permits held, reserved
//! admissions stay within what is ready, and writers return the
//! typed errors their docs name and publish only changes.

#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use arcroute::{
    Error, ManagerId, ManualClock, Pick, Reservation, Route, RouteKind, Router, RouterConfig,
    TaskId,
};
use arcroute_fuzz::{fleet, Fraction, Group, Mid, Num, Sizing, Span, Task, Verdict, Weight};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    vnodes: Num,
    sizing: Sizing,
    least_loaded: bool,
    idle_ttl: Span,
    busy_threshold: Fraction,
    busy_ttl: Span,
    managers: Vec<(Mid, Weight)>,
    reservations: Vec<(Task, Num, Num)>,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Route(Task, Group),
    Drop(u16),
    DropAll,
    Throttle(u16),
    SetManagers(Vec<(Mid, Weight)>),
    SetHealth(Mid, bool),
    SetReservation(Task, Num),
    SetReady(Task, Num),
    PutReservation(Task, Num, Num),
    RemoveReservation(Task),
    ReportBusy(Task, Fraction),
    ReportLoad(Mid, Num),
    Advance(Span),
    SetClock(Span),
    EvictIdle,
    Query(Task, Group),
}

/// What the harness knows independently of the router.
struct Model {
    router: Router<ManualClock>,
    clock: ManualClock,
    config: RouterConfig,
    held: Vec<Route>,
    reservations: HashMap<TaskId, Reservation>,
    /// Last busy report per task: (permille, when).
    busy: HashMap<TaskId, (u32, std::time::Duration)>,
    routed: u64,
    refused: u64,
    throttles: u64,
}

fuzz_target!(|input: Input| {
    let mut config = RouterConfig::default();
    config.ring = config
        .ring
        .with_seed(input.seed)
        .with_vnodes_per_weight(input.vnodes.nonzero());
    config.assign = input.sizing.config();
    config.pick = if input.least_loaded {
        Pick::LeastLoadedOfTwo
    } else {
        Pick::RoundRobin
    };
    config.idle_ttl = input.idle_ttl.get();
    config.busy_threshold = input.busy_threshold.get();
    config.busy_ttl = input.busy_ttl.get();

    let list = fleet(&input.managers);
    let verdict = Verdict::of(&list, config.ring.vnodes_per_weight);
    if verdict.over_budget() {
        return;
    }
    let clock = ManualClock::new();
    let mut builder = Router::builder()
        .config(config)
        .managers(list.iter().copied())
        .clock(clock.clone());
    let mut reservations = HashMap::new();
    for (task, limit, ready) in &input.reservations {
        let r = Reservation::new(limit.get(), ready.get());
        builder = builder.reservation(task.id(), r);
        store(&mut reservations, task.id(), Some(r));
    }
    let router = match builder.build() {
        Ok(router) => router,
        Err(Error::InvalidConfig { .. }) => {
            let threshold_ok = (0.0..=1.0).contains(&config.busy_threshold);
            assert!(!threshold_ok || config.assign.shrink_below_percent > 100);
            return;
        }
        Err(err) => return verdict.check_error(&err),
    };
    assert!(verdict.valid());
    assert!((0.0..=1.0).contains(&config.busy_threshold));
    assert!(config.assign.shrink_below_percent <= 100);
    assert_eq!(router.generation(), 1);
    assert_eq!(router.config(), config);

    let mut model = Model {
        router,
        clock,
        config,
        held: Vec::new(),
        reservations,
        busy: HashMap::new(),
        routed: 0,
        refused: 0,
        throttles: 0,
    };
    model.check();
    for op in input.ops {
        model.apply(op);
        model.check();
    }
    model.held.clear();
    let stats = model.router.stats();
    assert_eq!(
        (stats.in_flight_reserved, stats.in_flight_unreserved),
        (0, 0)
    );
});

fn permille(fraction: f32) -> u32 {
    (fraction * 1000.0).round() as u32
}

impl Model {
    fn healthy(&self) -> Vec<ManagerId> {
        let ring = self.router.ring();
        let healthy: Vec<ManagerId> = ring
            .managers()
            .map(|(m, _)| m)
            .filter(|&m| self.router.is_healthy(m))
            .collect();
        healthy
    }

    fn held_reserved(&self, task: TaskId) -> u32 {
        let n = self
            .held
            .iter()
            .filter(|r| r.task() == task && r.kind() == RouteKind::Reserved)
            .count();
        n as u32
    }

    fn clock_now(&self) -> std::time::Duration {
        use arcroute::Clock;
        self.clock.now()
    }

    /// Runs one write and checks that the generation moves exactly when it says it published.
    fn write(&self, f: impl FnOnce() -> Result<bool, Error>) -> Result<bool, Error> {
        let before = self.router.generation();
        let result = f();
        let after = self.router.generation();
        match result {
            Ok(true) => assert_eq!(after, before + 1),
            _ => assert_eq!(after, before, "{result:?} published"),
        }
        result
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Route(task, group) => {
                let task = task.id();
                let group = group.id(task);
                let healthy = self.healthy();
                let reserved_before = self.held_reserved(task);
                let Some(route) = self.router.route_in(task, group) else {
                    assert!(healthy.is_empty(), "refused with {} healthy", healthy.len());
                    self.refused += 1;
                    return;
                };
                self.routed += 1;
                assert!(
                    healthy.contains(&route.manager()),
                    "routed to {:?}",
                    route.manager()
                );
                assert_eq!(
                    (route.task(), route.group(), route.retries()),
                    (task, group, 0)
                );
                assert_eq!(route.generation(), self.router.generation());
                assert_eq!(
                    route.permit().is_reserved(),
                    route.kind() == RouteKind::Reserved
                );
                match (self.reservations.get(&task), route.kind()) {
                    (None, RouteKind::Unreserved) => {}
                    (Some(res), RouteKind::Reserved) => {
                        // One frontend by default: it admits against all that is ready.
                        assert!(
                            reserved_before < res.ready,
                            "reserved admission {reserved_before} past {res:?}"
                        );
                        let arc: Vec<ManagerId> = self
                            .router
                            .reserved_arc(task)
                            .iter()
                            .map(|s| s.manager)
                            .collect();
                        assert!(arc.contains(&route.manager()), "outside the reserved arc");
                    }
                    (Some(res), RouteKind::Spillover) => {
                        assert!(reserved_before >= res.ready, "spilled within {res:?}");
                    }
                    (res, kind) => panic!("{kind:?} for reservation {res:?}"),
                }
                self.held.push(route);
            }
            Op::Drop(i) => {
                if !self.held.is_empty() {
                    let i = usize::from(i) % self.held.len();
                    drop(self.held.swap_remove(i));
                }
            }
            Op::DropAll => self.held.clear(),
            Op::Throttle(i) => {
                if self.held.is_empty() {
                    return;
                }
                let i = usize::from(i) % self.held.len();
                let healthy = self.healthy();
                let route = &mut self.held[i];
                let (manager, kind, slot, tries) =
                    (route.manager(), route.kind(), route.slot(), route.retries());
                self.throttles += 1;
                if self.router.on_throttle(route) {
                    assert!(
                        healthy.contains(&route.manager()),
                        "moved to {:?}",
                        route.manager()
                    );
                    assert_eq!(route.retries(), tries + 1);
                    assert!(
                        (route.retries() as usize) < healthy.len(),
                        "more tries than managers"
                    );
                    let moved = route.kind();
                    match kind {
                        RouteKind::Reserved => assert_ne!(moved, RouteKind::Unreserved),
                        other => assert_eq!(moved, other),
                    }
                    // Whatever kind, and whatever moved under the call since it was routed.
                    if healthy.len() > 1 {
                        assert_ne!(route.manager(), manager, "moved back onto the throttler");
                    }
                } else {
                    assert_eq!(
                        (route.manager(), route.kind(), route.slot(), route.retries()),
                        (manager, kind, slot, tries),
                        "a failed throttle moved the route"
                    );
                }
            }
            Op::SetManagers(list) => {
                let list = fleet(&list);
                let verdict = Verdict::of(&list, self.config.ring.vnodes_per_weight);
                if verdict.over_budget() {
                    return;
                }
                let ring = self.router.ring();
                let result = self.write(|| self.router.set_managers(list.iter().copied()));
                match result {
                    Ok(changed) => {
                        assert!(verdict.valid());
                        let mut sorted = list.clone();
                        sorted.sort_unstable();
                        assert!(self.router.ring().managers().eq(sorted.iter().copied()));
                        assert_eq!(changed, !ring.managers().eq(sorted.iter().copied()));
                        // Managers that stayed keep their health; new ones start healthy.
                        for &(m, _) in &sorted {
                            if !ring.contains(m) {
                                assert!(self.router.is_healthy(m), "new {m:?} down");
                            }
                        }
                    }
                    Err(err) => verdict.check_error(&err),
                }
            }
            Op::SetHealth(m, healthy) => {
                let id = m.id();
                let was = self.router.is_healthy(id);
                match self.write(|| self.router.set_health(id, healthy)) {
                    Ok(changed) => {
                        assert_eq!(changed, was != healthy);
                        assert_eq!(self.router.is_healthy(id), healthy);
                    }
                    Err(Error::UnknownManager { id: got }) => {
                        assert_eq!(got, id);
                        assert!(!self.router.ring().contains(id));
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            Op::SetReservation(task, limit) => {
                let task = task.id();
                let next = Reservation::new(
                    limit.get(),
                    self.reservations.get(&task).map_or(0, |r| r.ready),
                );
                let changed = self.write(|| Ok(self.router.set_reservation(task, limit.get())));
                assert_eq!(changed, Ok(store(&mut self.reservations, task, Some(next))));
            }
            Op::SetReady(task, ready) => {
                let task = task.id();
                let result = self.write(|| self.router.set_ready(task, ready.get()));
                match self.reservations.get(&task).copied() {
                    Some(r) => {
                        let next = Reservation::new(r.limit, ready.get());
                        let changed = store(&mut self.reservations, task, Some(next));
                        assert_eq!(result, Ok(changed));
                    }
                    None => assert_eq!(result, Err(Error::NoReservation { task })),
                }
            }
            Op::PutReservation(task, limit, ready) => {
                let task = task.id();
                let next = Reservation::new(limit.get(), ready.get());
                let changed = self.write(|| Ok(self.router.put_reservation(task, next)));
                assert_eq!(changed, Ok(store(&mut self.reservations, task, Some(next))));
            }
            Op::RemoveReservation(task) => {
                let task = task.id();
                // A removal drains: limit 0 while environments are ready.
                let next = self
                    .reservations
                    .get(&task)
                    .map(|r| Reservation::new(0, r.ready));
                let changed = self.write(|| Ok(self.router.remove_reservation(task)));
                assert_eq!(changed, Ok(store(&mut self.reservations, task, next)));
            }
            Op::ReportBusy(task, fraction) => {
                let task = task.id();
                let f = fraction.get();
                let before = self.router.generation();
                match self.router.report_reserved_busy(task, f) {
                    Ok(()) => {
                        assert!((0.0..=1.0).contains(&f), "accepted {f}");
                        self.busy.insert(task, (permille(f), self.clock_now()));
                    }
                    Err(Error::InvalidFraction { value }) => {
                        assert!(!(0.0..=1.0).contains(&f), "rejected {f}");
                        assert_eq!(value.to_bits(), f.to_bits());
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
                assert_eq!(
                    self.router.generation(),
                    before,
                    "busy reports are not published"
                );
            }
            Op::ReportLoad(m, load) => {
                let id = m.id();
                match self.router.report_load(id, load.get()) {
                    Ok(()) => assert!(self.router.ring().contains(id)),
                    Err(Error::UnknownManager { id: got }) => {
                        assert_eq!(got, id);
                        assert!(!self.router.ring().contains(id));
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            Op::Advance(by) => self.clock.advance(by.get()),
            Op::SetClock(to) => self.clock.set(to.get()),
            Op::EvictIdle => {
                let before = self.router.stats();
                let evicted = self.router.evict_idle();
                let after = self.router.stats();
                assert_eq!(after.live_entries + evicted as u64, before.live_entries);
                assert_eq!(after.evictions, before.evictions + evicted as u64);
            }
            Op::Query(task, group) => {
                let task = task.id();
                let group = group.id(task);
                let healthy = self.healthy();
                assert_eq!(
                    self.router.reservation(task),
                    self.reservations.get(&task).copied()
                );
                let slots = self.router.reserved_arc(task);
                match self.reservations.get(&task) {
                    Some(r) if r.environments() > 0 && !healthy.is_empty() => {
                        assert!(!slots.is_empty());
                        let total: u64 = slots.iter().map(|s| u64::from(s.environments)).sum();
                        assert_eq!(total, u64::from(r.limit), "environments split the limit");
                    }
                    _ => assert!(slots.is_empty()),
                }
                let arc = self.router.unreserved_arc(group);
                assert!(arc.len() <= healthy.len());
                assert!(arc.iter().all(|m| healthy.contains(m)));
                let mut distinct = arc.clone();
                distinct.sort_unstable();
                distinct.dedup();
                assert_eq!(distinct.len(), arc.len());
                let _ = format!("{:?} {:?}", self.router, self.router.ring());
            }
        }
    }

    /// Invariants that hold between any two operations.
    fn check(&self) {
        let stats = self.router.stats();
        let reserved = self
            .held
            .iter()
            .filter(|r| r.kind() == RouteKind::Reserved)
            .count() as u64;
        assert_eq!(
            stats.in_flight_reserved, reserved,
            "reserved permits miscounted"
        );
        assert_eq!(
            stats.in_flight_unreserved,
            self.held.len() as u64 - reserved,
            "unreserved permits miscounted"
        );
        assert_eq!(
            stats.routes_reserved + stats.routes_unreserved + stats.routes_spillover,
            self.routed
        );
        assert_eq!(stats.no_manager, self.refused);
        assert_eq!(stats.throttles, self.throttles);
        assert_eq!(stats.generation, self.router.generation());
        assert_eq!(stats.reserved_tasks, self.reservations.len() as u64);
    }
}

/// Stores `task`'s reservation as the router does (limit and ready both 0 is none); returns
/// whether that changed anything.
fn store(
    reservations: &mut HashMap<TaskId, Reservation>,
    task: TaskId,
    next: Option<Reservation>,
) -> bool {
    let next = next.filter(|r| *r != Reservation::default());
    let before = match next {
        Some(r) => reservations.insert(task, r),
        None => reservations.remove(&task),
    };
    before != next
}
