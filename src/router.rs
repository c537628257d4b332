//! The concurrent front door: one snapshot, lock-free reads, serialized writers.

use std::fmt;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::assign::{ArcAssigner, ArcState, AssignConfig};
use crate::clock::{Clock, MonotonicClock};
use crate::config::FleetConfig;
use crate::counting::{Counting, Frontends};
use crate::hash;
use crate::health::HealthMask;
use crate::id::{GroupId, ManagerId, TaskId};
use crate::live::{bump, Counters, Live, LiveMap, Recent};
use crate::permit::Permit;
use crate::reservation::{Reservation, ReservationTable};
use crate::ring::{check_count, Ring, RingConfig, Walk};
use crate::Error;

/// Which arc a call was routed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// Within the task's reservation: the reserved arc, where an environment is warm.
    Reserved,
    /// A task without a reservation: its group's unreserved arc.
    Unreserved,
    /// A reserved task beyond its reservation: its group's unreserved arc, which scales freely.
    Spillover,
}

/// How a manager is chosen among the members of an unreserved arc.
///
/// Reserved arcs are always served in proportion to [`Reservation::environments`]
/// (`max(limit, ready)`) split over their managers ([`ArcAssigner::reserved_slot`]). While
/// `ready <= limit` that is the split [`Router::reserved_arc`] asks the host to provision, so
/// no call goes where no reserved environment is meant to be; while a lowered reservation
/// drains (`ready > limit`), calls follow the larger split its environments were provisioned
/// under, so they keep serving until the host tears them down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Pick {
    /// The arc's members in turn, one cursor per task or group (the default).
    #[default]
    RoundRobin,
    /// Two distinct members, the one with the lower load last reported by
    /// [`Router::report_load`] (ties go to the round-robin one). A manager with no report
    /// counts as load 0, so a new manager draws calls until its first report.
    LeastLoadedOfTwo,
}

/// Router settings. `Copy + Default`; [`RouterBuilder::build`] checks the ranges the types do
/// not enforce.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RouterConfig {
    /// Ring placement: seed, virtual nodes, version.
    pub ring: RingConfig,
    /// Arc sizing.
    pub assign: AssignConfig,
    /// Choice within an arc (default round-robin).
    pub pick: Pick,
    /// Live state of a task or group with no call in flight is evicted once unused this long
    /// (default 10 minutes). Its arc then starts again from the minimum length.
    ///
    /// Routes do not read the clock to mark a use; a sweep dates the uses it finds since the
    /// previous sweep. So state is never evicted before `idle_ttl` of disuse, and with sweeps
    /// every `I` it goes by the sweep after `idle_ttl + 2·I` at the latest.
    ///
    /// `Duration::ZERO` evicts state at the first sweep that finds it unused since the
    /// previous one, once the clock has moved; `Duration::MAX` never evicts (memory then grows
    /// with every task ever routed).
    pub idle_ttl: Duration,
    /// Sibling rule: a call beyond the reservation still goes to the reserved arc while the
    /// host-reported busy fraction of reserved environments is below this (default 0.8, within
    /// `0.0..=1.0`; 0 turns the rule off).
    pub busy_threshold: f32,
    /// A busy fraction older than this is ignored (default 2 s); with `Duration::MAX` none
    /// is. A report stamped later than the clock's `now` (a clock set back) counts as fresh.
    pub busy_ttl: Duration,
    /// This router's place among the frontends that share the fleet's reservations (default:
    /// the only one). Change it with [`Router::set_frontends`] when frontends come and go.
    pub frontends: Frontends,
    /// How reserved calls in flight are counted across frontends (default
    /// [`Counting::Local`]).
    pub counting: Counting,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            ring: RingConfig::default(),
            assign: AssignConfig::default(),
            pick: Pick::RoundRobin,
            idle_ttl: Duration::from_secs(600),
            busy_threshold: 0.8,
            busy_ttl: Duration::from_secs(2),
            frontends: Frontends::default(),
            counting: Counting::Local,
        }
    }
}

/// The decision for one call: where it goes, why, and the permit that counts it.
#[derive(Debug)]
pub struct Route {
    manager: ManagerId,
    kind: RouteKind,
    generation: u64,
    task: TaskId,
    group: GroupId,
    slot: u32,
    tries: u32,
    permit: Permit,
}

impl Route {
    /// The manager to send the call to.
    pub fn manager(&self) -> ManagerId {
        self.manager
    }

    /// Which arc it was chosen from.
    pub fn kind(&self) -> RouteKind {
        self.kind
    }

    /// Generation of the snapshot the manager was chosen from.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The routed task.
    pub fn task(&self) -> TaskId {
        self.task
    }

    /// The group whose unreserved arc serves the task's unreserved and spillover calls.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// Position of [`Route::manager`] in its arc (from 0).
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Managers tried before this one after throttling.
    pub fn retries(&self) -> u32 {
        self.tries
    }

    /// The permit counting this call.
    pub fn permit(&self) -> &Permit {
        &self.permit
    }

    /// Keeps only the permit, for hosts that track the call elsewhere.
    pub fn into_permit(self) -> Permit {
        self.permit
    }

    /// A first try of `task`'s call at `(slot, ring index)` of `snap`.
    fn new(
        snap: &Snapshot,
        kind: RouteKind,
        (task, group): (TaskId, GroupId),
        (slot, index): (u32, u32),
        permit: Permit,
    ) -> Self {
        Self {
            manager: snap.ring.manager_at(index),
            kind,
            generation: snap.generation,
            task,
            group,
            slot,
            tries: 0,
            permit,
        }
    }

    /// Moves the route to `(slot, ring index)` of `snap` after a throttle.
    fn advance(&mut self, snap: &Snapshot, (slot, index): (u32, u32)) {
        self.tries += 1;
        self.generation = snap.generation;
        self.slot = slot;
        self.manager = snap.ring.manager_at(index);
    }
}

/// The reserved environments one manager of a reserved arc should hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReservedSlot {
    /// The manager.
    pub manager: ManagerId,
    /// How many reserved environments of the task it should keep warm.
    pub environments: u32,
}

/// Counters a platform exports, summed when read.
///
/// Route counts only grow. In-flight gauges and `live_entries` describe the moment of the
/// read; with no permit out, both in-flight gauges are zero.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Generation of the current snapshot.
    pub generation: u64,
    /// Routes of kind [`RouteKind::Reserved`].
    pub routes_reserved: u64,
    /// Routes of kind [`RouteKind::Unreserved`].
    pub routes_unreserved: u64,
    /// Routes of kind [`RouteKind::Spillover`].
    pub routes_spillover: u64,
    /// Calls that left the reserved arc for the unreserved one: spillover routes plus reserved
    /// calls that [`Router::on_throttle`] moved off the reserved arc (every slot holding
    /// environments tried, or the reservation lowered or removed meanwhile).
    pub spillovers: u64,
    /// Throttle reports ([`Router::on_throttle`] calls).
    pub throttles: u64,
    /// Throttle reports that found no further manager to try.
    pub throttles_exhausted: u64,
    /// Times an unreserved arc gained a manager.
    pub arc_grows: u64,
    /// Times an unreserved arc lost a manager.
    pub arc_shrinks: u64,
    /// Live entries evicted as idle.
    pub evictions: u64,
    /// Routes refused because no manager was healthy.
    pub no_manager: u64,
    /// Calls in flight on reserved arcs.
    pub in_flight_reserved: u64,
    /// Calls in flight on unreserved arcs.
    pub in_flight_unreserved: u64,
    /// Tasks and groups with live state.
    pub live_entries: u64,
    /// Tasks with a reservation.
    pub reserved_tasks: u64,
}

/// Everything a route reads, published as one value. Cloning shares the ring, the loads
/// and the reservation shards; writers replace what changes.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    generation: u64,
    ring: Arc<Ring>,
    health: HealthMask,
    /// Host-reported load per ring index; shared by snapshots of the same ring.
    loads: Arc<[AtomicU32]>,
    reservations: ReservationTable,
    config: RouterConfig,
    assigner: ArcAssigner,
    /// The fleet config last applied (or built from), normalized.
    applied: Option<Arc<FleetConfig>>,
}

/// The parts of a snapshot that follow the fleet's membership.
struct Membership {
    ring: Arc<Ring>,
    health: HealthMask,
    loads: Arc<[AtomicU32]>,
}

impl Snapshot {
    fn healthy(&self) -> u32 {
        self.health.healthy_count()
    }

    /// Managers in the reserved arc of a task with reservation `res`.
    fn reserved_len(&self, res: Reservation) -> u32 {
        self.assigner
            .reserved_len(res.limit, res.ready, self.healthy())
    }

    /// The ring, health and loads for the managers `list` (sorted by id), or `None` if they
    /// are the current ones: a new ring on which the managers that stay keep their health and
    /// reported load, and new ones start healthy.
    fn refleet(&self, list: &[(ManagerId, u32)]) -> Result<Option<Membership>, Error> {
        if self.ring.managers().eq(list.iter().copied()) {
            return Ok(None);
        }
        let ring = Ring::from_sorted(self.ring.config(), list)?;
        let mut health = HealthMask::all_up(&ring);
        let loads: Arc<[AtomicU32]> = (0..ring.len()).map(|_| AtomicU32::new(0)).collect();
        for (old, (id, _)) in self.ring.managers().enumerate() {
            if let Some(new) = ring.index_of(id) {
                health.set_index(new, self.health.is_up(old as u32));
                loads[new as usize].store(self.loads[old].load(Relaxed), Relaxed);
            }
        }
        Ok(Some(Membership {
            ring: Arc::new(ring),
            health,
            loads,
        }))
    }

    /// The member at `slot` of arc `(start, len)`: `(slot, ring index)`.
    fn pick_slot(&self, start: ArcStart<'_>, len: u32, slot: u32) -> Option<(u32, u32)> {
        let index = self.walk(start, len).nth(slot as usize)?;
        Some((slot, index))
    }

    /// The healthy members of arc `(start, len)`, through the start's hint if it has one.
    fn walk(&self, start: ArcStart<'_>, len: u32) -> Walk<'_> {
        let origin = match start.hint {
            Some(hint) => {
                let was = hint.load(Relaxed);
                let origin = self.ring.successor_near(start.at, was);
                if origin as u32 != was {
                    hint.store(origin as u32, Relaxed);
                }
                origin
            }
            None => self.ring.successor(start.at),
        };
        self.ring.walk_at(origin, len, Some(&self.health))
    }

    /// Chooses a member of arc `(start, len)` for the `cursor`-th call: `(slot, ring index)`.
    fn pick(&self, start: ArcStart<'_>, len: u32, cursor: u32) -> Option<(u32, u32)> {
        if len < 2 {
            return self.pick_slot(start, len, 0);
        }
        let first = cursor % len;
        if self.config.pick == Pick::RoundRobin {
            return self.pick_slot(start, len, first);
        }
        // A second, distinct slot, spread by a cheap mix of the cursor.
        let offset = 1 + (cursor.wrapping_mul(0x9e37_79b9) >> 7) % (len - 1);
        let second = (first + offset) % len;
        let (lo, hi) = (first.min(second), first.max(second));
        let mut members = self.walk(start, len);
        let at_lo = members.nth(lo as usize)?;
        let at_hi = members.nth((hi - lo - 1) as usize).unwrap_or(at_lo);
        let (at_first, at_second) = if first == lo {
            (at_lo, at_hi)
        } else {
            (at_hi, at_lo)
        };
        let load = |i: u32| self.loads.get(i as usize).map_or(0, |l| l.load(Relaxed));
        Some(if load(at_second) < load(at_first) {
            (second, at_second)
        } else {
            (first, at_first)
        })
    }
}

/// Where an arc starts on the ring, with the live state's remembered ring index of that
/// position where it keeps one.
#[derive(Clone, Copy)]
struct ArcStart<'a> {
    at: u64,
    hint: Option<&'a AtomicU32>,
}

impl ArcStart<'_> {
    fn at(at: u64) -> Self {
        Self { at, hint: None }
    }
}

impl Live {
    /// The start of this group's unreserved arc.
    fn unreserved_arc_start(&self) -> ArcStart<'_> {
        ArcStart {
            at: self.unreserved_start,
            hint: Some(&self.unreserved_origin),
        }
    }
}

/// Routes calls to managers. `Send + Sync`; share it by reference or in an `Arc`.
///
/// Reads (`route`, `on_throttle`, queries) load one snapshot and never take the writers'
/// lock. Writers are serialized by a mutex and publish whole new snapshots; a write that
/// changes nothing publishes nothing.
pub struct Router<C: Clock = MonotonicClock> {
    pub(crate) snapshot: ArcSwap<Snapshot>,
    writer: Mutex<()>,
    live: LiveMap,
    clock: C,
    /// The clock's reading when the router was built: host reports keep their time from it,
    /// so a clock counted from any origin (the UNIX epoch, say) fits their 34 years.
    origin: Duration,
}

impl<C: Clock> fmt::Debug for Router<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snap = self.snapshot.load();
        f.debug_struct("Router")
            .field("generation", &snap.generation)
            .field("managers", &snap.ring.len())
            .field("healthy", &snap.healthy())
            .field("reservations", &snap.reservations.len())
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A builder with the default config and the monotonic clock.
    pub fn builder() -> RouterBuilder {
        RouterBuilder {
            config: RouterConfig::default(),
            managers: Vec::new(),
            overlong: None,
            reservations: Vec::new(),
            fleet: None,
            clock: MonotonicClock::default(),
        }
    }

    /// A router with the default [`RouterConfig`] built from `fleet`: its placement settings,
    /// managers with their health, and reservations (none ready yet). Shorthand for
    /// `Router::builder().fleet_config(fleet).build()`.
    ///
    /// # Errors
    /// As [`FleetConfig::validate`].
    pub fn from_fleet_config(fleet: &FleetConfig) -> Result<Self, Error> {
        Self::builder().fleet_config(fleet).build()
    }
}

impl<C: Clock> Router<C> {
    /// Routes one call of `task`, in the task's own group.
    ///
    /// Returns `None` only when no manager is healthy. On a warm task: one snapshot load, one
    /// read lock on a map shard, a few atomics and a walk to the chosen slot (after a binary
    /// search for reserved arcs, and for unreserved ones only when the ring changed); no
    /// allocation, no clock read in the common case, and no placement hash (XXH3) of the task.
    pub fn route(&self, task: TaskId) -> Option<Route> {
        self.route_in(task, GroupId::from(task))
    }

    /// Routes one call of `task`, whose unreserved and spillover calls share `group`'s arc.
    ///
    /// The reservation and its in-flight count stay the task's own.
    pub fn route_in(&self, task: TaskId, group: GroupId) -> Option<Route> {
        self.route_on(&self.snapshot.load(), task, group, None)
    }

    /// Routes on `snap`; live state comes from `recent` when it holds it.
    pub(crate) fn route_on(
        &self,
        snap: &Snapshot,
        task: TaskId,
        group: GroupId,
        mut recent: Option<&mut Recent>,
    ) -> Option<Route> {
        let counters = &self.live.shard(task.get()).counters;
        if snap.healthy() == 0 {
            bump(&counters.no_manager);
            return None;
        }
        // Read only where a rule needs the time; a warm route usually does not.
        let now = || self.clock.now();
        let reservation = snap.reservations.get(task);
        let own_group = group.get() == task.get();
        // An unreserved task routed in another group needs no state of its own.
        let task_live = (reservation.is_some() || own_group)
            .then(|| self.live_in(task.get(), snap, &now, recent.as_deref_mut()));
        let task_live = match (reservation, task_live) {
            (Some(res), Some(live)) => match self.admit_reserved(snap, task, live, res, &now) {
                Ok(permit) => {
                    let live = permit.live();
                    let len = snap.reserved_len(res);
                    let cursor = live.reserved_cursor.fetch_add(1, Relaxed);
                    let slot = snap.assigner.reserved_slot(res.environments(), len, cursor);
                    let at = snap.pick_slot(ArcStart::at(live.reserved_start), len, slot)?;
                    bump(&counters.reserved);
                    let ids = (task, group);
                    return Some(Route::new(snap, RouteKind::Reserved, ids, at, permit));
                }
                Err(live) => Some(live),
            },
            (_, live) => live,
        };
        let (kind, counter) = match reservation {
            Some(_) => (RouteKind::Spillover, &counters.spillover),
            None => (RouteKind::Unreserved, &counters.unreserved),
        };
        let group_live = match task_live {
            Some(live) if own_group => live,
            _ => self.live_in(group.get(), snap, &now, recent),
        };
        let (permit, slot, index) =
            self.place_unreserved(snap, group_live, &now, counters, None)?;
        bump(counter);
        Some(Route::new(snap, kind, (task, group), (slot, index), permit))
    }

    /// Reports that the manager of `route` had no capacity for it, and moves the route to the
    /// next manager to try. Returns `false`, leaving the route as it was, once a route has
    /// been moved as many times as one less than the number of healthy managers (so at most
    /// one attempt per healthy manager in all), or when none is healthy.
    ///
    /// A reserved call tries the next managers of its reserved arc that hold environments,
    /// then spills over to its group's unreserved arc (never back onto the manager that just
    /// throttled it, while the arc has another). An unreserved or spillover call takes the
    /// next slot of its arc, which grows by one manager, so it meets a manager it has not
    /// tried until the arc spans every healthy manager.
    pub fn on_throttle(&self, route: &mut Route) -> bool {
        self.throttle_on(&self.snapshot.load(), route)
    }

    pub(crate) fn throttle_on(&self, snap: &Snapshot, route: &mut Route) -> bool {
        let counters = &self.live.shard(route.task.get()).counters;
        bump(&counters.throttles);
        let healthy = snap.healthy();
        if route.tries.saturating_add(1) >= healthy {
            bump(&counters.throttles_exhausted);
            return false;
        }
        let now = || self.clock.now();
        if route.kind == RouteKind::Reserved {
            // Only the first `min(len, environments)` slots hold reserved environments.
            let (len, usable) = snap.reservations.get(route.task).map_or((0, 0), |r| {
                let len = snap.reserved_len(r);
                (len, len.min(r.environments()))
            });
            let start = route.permit.live().reserved_start;
            if route.tries + 1 < usable {
                let start = ArcStart::at(start);
                if let Some(next) = snap.pick_slot(start, len, (route.slot + 1) % usable) {
                    route.advance(snap, next);
                    return true;
                }
            }
            let live = self.live_of(route.group.get(), snap, &now);
            let avoid = Some(route.manager);
            let Some((permit, slot, index)) =
                self.place_unreserved(snap, live, &now, counters, avoid)
            else {
                return false;
            };
            route.permit = permit; // drops the reserved count
            route.kind = RouteKind::Spillover;
            bump(&counters.spilled_on_throttle);
            route.advance(snap, (slot, index));
            return true;
        }
        let live = route.permit.live();
        let len = grow_on_throttle(snap, live, counters);
        match snap.pick_slot(live.unreserved_arc_start(), len, (route.slot + 1) % len) {
            Some(next) => {
                route.advance(snap, next);
                true
            }
            None => false,
        }
    }

    /// As [`Router::live_of`], through a handle's cache where there is one.
    fn live_in(
        &self,
        key: u128,
        snap: &Snapshot,
        now: &impl Fn() -> Duration,
        recent: Option<&mut Recent>,
    ) -> Arc<Live> {
        let Some(recent) = recent else {
            return self.live_of(key, snap, now);
        };
        recent.get(key).unwrap_or_else(|| {
            let live = self.live_of(key, snap, now);
            recent.put(key, &live);
            live
        })
    }

    /// `now` as host reports store it: since the router was built.
    fn since_origin(&self, now: Duration) -> Duration {
        now.saturating_sub(self.origin)
    }

    fn live_of(&self, key: u128, snap: &Snapshot, now: &impl Fn() -> Duration) -> Arc<Live> {
        let seed = snap.config.ring.seed;
        let min_len = snap.config.assign.min_unreserved_arc.get();
        self.live.get_or_insert(key, snap.config.idle_ttl, now, || {
            (
                hash::reserved_start(seed, TaskId::new(key)),
                hash::unreserved_start(seed, GroupId::new(key)),
                min_len,
            )
        })
    }

    /// Counts a reserved call if the reservation admits it, into a permit that undoes the
    /// count; otherwise hands `live` back uncounted.
    fn admit_reserved(
        &self,
        snap: &Snapshot,
        task: TaskId,
        live: Arc<Live>,
        res: Reservation,
        now: &impl Fn() -> Duration,
    ) -> Result<Permit, Arc<Live>> {
        let config = &snap.config;
        let before = live.reserved.fetch_add(1, Relaxed);
        let others = match config.counting {
            Counting::Global { ttl } => live.others(self.since_origin(now()), ttl),
            Counting::Local => None,
        };
        let counted = match others {
            Some(others) => others.saturating_add(before) < res.ready,
            None => before < config.frontends.share_of(res.ready, task),
        };
        // Sibling rule: past the count, but the host says reserved environments sit idle.
        // Bounded by the environments that exist.
        let admit = counted
            || (before < res.ready
                && live
                    .busy(self.since_origin(now()), config.busy_ttl)
                    .is_some_and(|busy| busy < permille(config.busy_threshold)));
        if admit {
            Ok(Permit::adopt(live, true))
        } else {
            live.reserved.fetch_sub(1, Release);
            Err(live)
        }
    }

    /// Counts one more call on `live`'s unreserved arc, resizes the arc for the new load and
    /// picks a member: `(permit, slot, ring index)`. A pick equal to `avoid` moves to the next
    /// slot, growing a one-manager arc to two first.
    fn place_unreserved(
        &self,
        snap: &Snapshot,
        live: Arc<Live>,
        now: &impl Fn() -> Duration,
        counters: &Counters,
        avoid: Option<ManagerId>,
    ) -> Option<(Permit, u32, u32)> {
        let (load, cursor) = live.enter_unreserved();
        let permit = Permit::adopt(live, false);
        let live = permit.live();
        let mut len = self.resize(snap, live, load, now, counters);
        let (mut slot, mut index) = snap.pick(live.unreserved_arc_start(), len, cursor)?;
        if avoid == Some(snap.ring.manager_at(index)) {
            if len < 2 {
                len = grow_on_throttle(snap, live, counters);
            }
            (slot, index) = snap.pick_slot(live.unreserved_arc_start(), len, (slot + 1) % len)?;
        }
        Some((permit, slot, index))
    }

    /// Applies the assigner to `live`'s arc for `load`; returns the length to route on.
    fn resize(
        &self,
        snap: &Snapshot,
        live: &Live,
        load: u32,
        now: &impl Fn() -> Duration,
        counters: &Counters,
    ) -> u32 {
        let current = live.arc_state();
        let next = snap
            .assigner
            .unreserved_with(current, load, snap.healthy(), now);
        commit_arc(live, current, next, counters)
    }
}

/// A fraction in `0.0..=1.0` as permille, rounded.
fn permille(fraction: f32) -> u32 {
    (fraction * 1000.0).round() as u32
}

/// Grows `live`'s unreserved arc by one manager, as a throttle does; returns the length to
/// route on (at least 1).
fn grow_on_throttle(snap: &Snapshot, live: &Live, counters: &Counters) -> u32 {
    let current = live.arc_state();
    let next = snap.assigner.throttled(current, snap.healthy());
    commit_arc(live, current, next, counters).max(1)
}

/// Publishes `next` as `live`'s arc state; counts a grow or a shrink if this caller moved the
/// length. Returns the length to route on.
fn commit_arc(live: &Live, current: ArcState, next: ArcState, counters: &Counters) -> u32 {
    if next != current && live.store_arc_state(current.len, next) {
        bump(if next.len > current.len {
            &counters.grows
        } else {
            &counters.shrinks
        });
    }
    next.len
}

/// Writers: each takes the writers' lock, builds a new snapshot off the read path and
/// publishes it whole. Each returns whether it published; an error publishes nothing.
impl<C: Clock> Router<C> {
    /// Replaces the fleet with `managers` (`(id, weight)` pairs, any order).
    ///
    /// Input equal to the current fleet publishes nothing. Otherwise the ring is rebuilt
    /// (O(P log P)); managers that stay keep their health and reported load, new ones start
    /// healthy. Adding or removing one manager changes each arc in at most the one slot that
    /// manager enters or leaves.
    ///
    /// # Errors
    /// As [`Ring::new`]: [`Error::NoManagers`], [`Error::DuplicateManager`],
    /// [`Error::ZeroWeight`], [`Error::TooManyManagers`] (before collecting an iterator whose
    /// `size_hint` is too long), [`Error::TooManyPoints`].
    pub fn set_managers<I>(&self, managers: I) -> Result<bool, Error>
    where
        I: IntoIterator<Item = (ManagerId, u32)>,
    {
        let managers = managers.into_iter();
        check_count(managers.size_hint().0)?;
        let mut list: Vec<(ManagerId, u32)> = managers.collect();
        list.sort_unstable_by_key(|&(id, _)| id);
        self.publish(|cur| {
            let Some(membership) = cur.refleet(&list)? else {
                return Ok(None);
            };
            Ok(Some(Snapshot {
                ring: membership.ring,
                health: membership.health,
                loads: membership.loads,
                ..Snapshot::clone(cur)
            }))
        })
    }

    /// Marks one manager up or down. The ring is reused; only the health mask is new.
    ///
    /// # Errors
    /// [`Error::UnknownManager`] if `id` is not in the fleet.
    pub fn set_health(&self, id: ManagerId, healthy: bool) -> Result<bool, Error> {
        self.publish(|cur| {
            let mut health = cur.health.clone();
            Ok(health.set(&cur.ring, id, healthy)?.then(|| Snapshot {
                health,
                ..Snapshot::clone(cur)
            }))
        })
    }

    /// Sets `task`'s reserved limit, keeping the `ready` count of an existing reservation
    /// (a new reservation starts with `ready = 0`: calls count against environments the host
    /// has reported warm with [`Router::set_ready`]). A limit below `ready` drains (see
    /// [`Reservation`]); a limit of 0 with none ready removes the reservation.
    pub fn set_reservation(&self, task: TaskId, limit: u32) -> bool {
        self.write_reservation(task, |old| {
            Ok(Some(Reservation::new(limit, old.map_or(0, |r| r.ready))))
        })
        .unwrap_or(false)
    }

    /// Sets how many of `task`'s reserved environments are provisioned and warm now.
    ///
    /// # Errors
    /// [`Error::NoReservation`] if `task` has none.
    pub fn set_ready(&self, task: TaskId, ready: u32) -> Result<bool, Error> {
        self.write_reservation(task, |old| {
            let old = old.ok_or(Error::NoReservation { task })?;
            Ok(Some(Reservation::new(old.limit, ready)))
        })
    }

    /// Sets `task`'s whole reservation at once.
    pub fn put_reservation(&self, task: TaskId, reservation: Reservation) -> bool {
        self.write_reservation(task, |_| Ok(Some(reservation)))
            .unwrap_or(false)
    }

    /// Ends `task`'s reservation by draining it: the limit drops to 0, the environments that
    /// are still ready keep serving Reserved calls and stay addressable, and the entry goes
    /// once [`Router::set_ready`] reports 0 of them. A reservation with none ready goes at
    /// once, as does `put_reservation(task, Reservation::default())`. New calls beyond what is
    /// ready spill over to the unreserved arc, so traffic moves there as environments go.
    pub fn remove_reservation(&self, task: TaskId) -> bool {
        self.write_reservation(task, |old| Ok(old.map(|r| Reservation::new(0, r.ready))))
            .unwrap_or(false)
    }

    /// Moves this router to another place among the frontends (when frontends come and go);
    /// every reservation's share follows at once. Publishes only a change.
    pub fn set_frontends(&self, frontends: Frontends) -> bool {
        self.publish(|cur| {
            Ok((cur.config.frontends != frontends).then(|| {
                let mut next = Snapshot::clone(cur);
                next.config.frontends = frontends;
                next
            }))
        })
        .unwrap_or(false)
    }

    /// Brings the router to `fleet`, a new version of the host's fleet config, as one snapshot:
    /// membership and weights, every manager's health, and reservation limits. Returns whether
    /// it published.
    ///
    /// - Everything is checked first; an error changes nothing.
    /// - The version the router last applied (or was built from) again: with the same content
    ///   (in any order) it publishes nothing and returns `Ok(false)`, even if other writers
    ///   changed the router since; with other content it is refused. A router that has applied
    ///   no config takes any version.
    /// - A newer version publishes once, even if it changes nothing else (the router then
    ///   reports it from [`Router::fleet_version`]).
    /// - Managers as [`Router::set_managers`] (those that stay keep their reported load; the
    ///   ring is rebuilt only if ids or weights changed), then each one's health as the config
    ///   says.
    /// - Reservations keep their reported `ready` and take the config's limit; a new one starts
    ///   with none ready; one the config no longer lists drains as with
    ///   [`Router::remove_reservation`].
    ///
    /// O(P log P) for P points when membership changes, else O(N + R log R + T) for N
    /// managers, R reservations in the config and T in the router.
    ///
    /// # Errors
    /// [`Error::PlacementMismatch`] if the config's ring version, seed or virtual nodes per
    /// weight differ from the router's; [`Error::StaleConfig`] for a version older than the
    /// last applied; [`Error::ConflictingConfig`] for the last applied version with other
    /// content; and the errors of [`FleetConfig::validate`].
    pub fn apply_config(&self, fleet: &FleetConfig) -> Result<bool, Error> {
        // Pure checks and sorting, off the writers' lock.
        let fleet = fleet.normalized()?;
        self.publish(|cur| {
            fleet.check_placement(cur.ring.config())?;
            if let Some(applied) = &cur.applied {
                if fleet.version < applied.version {
                    return Err(Error::StaleConfig {
                        current: applied.version,
                        offered: fleet.version,
                    });
                }
                if fleet.version == applied.version {
                    return if **applied == fleet {
                        Ok(None)
                    } else {
                        Err(Error::ConflictingConfig {
                            version: fleet.version,
                        })
                    };
                }
            }
            let Membership {
                ring,
                mut health,
                loads,
            } = cur
                .refleet(&fleet.manager_list())?
                .unwrap_or_else(|| Membership {
                    ring: Arc::clone(&cur.ring),
                    health: cur.health.clone(),
                    loads: Arc::clone(&cur.loads),
                });
            // Ring indices follow id order, as the normalized managers do.
            for (index, manager) in (0u32..).zip(&fleet.managers) {
                health.set_index(index, manager.healthy);
            }
            let listed = |task| {
                fleet
                    .reservations
                    .binary_search_by_key(&task, |r| r.task)
                    .is_ok()
            };
            let set = fleet.reservations.iter().map(|r| {
                let ready = cur.reservations.get(r.task).map_or(0, |old| old.ready);
                (r.task, Some(Reservation::new(r.limit, ready)))
            });
            let drained = cur
                .reservations
                .iter()
                .filter(|&(task, _)| !listed(task))
                .map(|(task, old)| (task, Some(Reservation::new(0, old.ready))));
            let reservations = cur
                .reservations
                .with_all(set.chain(drained))
                .unwrap_or_else(|| cur.reservations.clone());
            Ok(Some(Snapshot {
                ring,
                health,
                loads,
                reservations,
                applied: Some(Arc::new(fleet)),
                ..Snapshot::clone(cur)
            }))
        })
    }

    /// Reports the fleet-wide number of `task`'s Reserved calls in flight, this router's
    /// included, from the host's counting service, for [`Counting::Global`]. Not published:
    /// kept with the task's live state, trusted for the mode's `ttl` (judged to the
    /// millisecond). The router takes what is not its own as the other frontends' count
    /// (saturating at 2^24 - 1) until the next report.
    ///
    /// # Errors
    /// [`Error::NoReservation`] if `task` has none.
    pub fn report_reserved_in_flight(&self, task: TaskId, in_flight: u32) -> Result<(), Error> {
        let snap = self.snapshot.load();
        if snap.reservations.get(task).is_none() {
            return Err(Error::NoReservation { task });
        }
        let now = self.clock.now();
        self.live_of(task.get(), &snap, &|| self.clock.now())
            .report_global(in_flight, self.since_origin(now));
        Ok(())
    }

    /// Reports the fraction of `task`'s reserved environments that are busy, across all
    /// frontends, for the sibling rule (see [`RouterConfig::busy_threshold`]). Not published:
    /// it is kept with the task's live state and ignored once older than
    /// [`RouterConfig::busy_ttl`].
    ///
    /// A task without a reservation may be reported too: the fraction is kept (until it goes
    /// stale or the task's live state is evicted) for when the task gets one.
    ///
    /// # Errors
    /// [`Error::InvalidFraction`] unless `0.0 <= fraction <= 1.0`: NaN and the infinities are
    /// rejected, `-0.0` counts as 0.
    pub fn report_reserved_busy(&self, task: TaskId, fraction: f32) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(Error::InvalidFraction { value: fraction });
        }
        let snap = self.snapshot.load();
        let now = self.clock.now();
        self.live_of(task.get(), &snap, &|| self.clock.now())
            .report_busy(permille(fraction), self.since_origin(now));
        Ok(())
    }

    /// Reports a manager's current load (any unit, lower is better) for
    /// [`Pick::LeastLoadedOfTwo`]. Not published: one relaxed store. A report that races a
    /// membership change may land on the outgoing ring and be lost; report periodically.
    ///
    /// # Errors
    /// [`Error::UnknownManager`] if `id` is not in the fleet.
    pub fn report_load(&self, id: ManagerId, load: u32) -> Result<(), Error> {
        let snap = self.snapshot.load();
        let index = snap.ring.index_of(id).ok_or(Error::UnknownManager { id })?;
        snap.loads[index as usize].store(load, Relaxed);
        Ok(())
    }

    /// Sweeps the live state: evicts every task and group with no permit out whose last use,
    /// as sweeps have dated it, is more than [`RouterConfig::idle_ttl`] ago, and dates the uses
    /// made since the previous sweep with the time this one finds them. So state used since
    /// the previous sweep always survives this one, however long ago the use: with sweeps
    /// every `I`, state goes between `idle_ttl` and `idle_ttl + 2·I` after its last use (see
    /// there). Returns how many entries went. A shard left less than a quarter full gives back the spare room
    /// of its map, so memory follows the live tasks down after a burst. O(live entries), one
    /// shard's write lock at a time.
    ///
    /// Inserting new tasks also sweeps their shard now and then (whenever it has doubled since
    /// its last sweep), so memory stays bounded even if this is never called; calling it
    /// periodically keeps it tighter. State last used later than the clock's `now` (a clock
    /// set back) is not idle.
    pub fn evict_idle(&self) -> usize {
        let ttl = self.snapshot.load().config.idle_ttl;
        self.live.evict_idle(ttl, &|| self.clock.now())
    }

    fn write_reservation(
        &self,
        task: TaskId,
        f: impl FnOnce(Option<Reservation>) -> Result<Option<Reservation>, Error>,
    ) -> Result<bool, Error> {
        self.publish(|cur| {
            let next = f(cur.reservations.get(task))?;
            Ok(cur
                .reservations
                .with(task, next)
                .map(|reservations| Snapshot {
                    reservations,
                    ..Snapshot::clone(cur)
                }))
        })
    }

    /// Runs `build` on the current snapshot under the writers' lock and publishes its result,
    /// if any, as the next generation.
    fn publish(
        &self,
        build: impl FnOnce(&Snapshot) -> Result<Option<Snapshot>, Error>,
    ) -> Result<bool, Error> {
        let _writer = self.writer.lock();
        let current = self.snapshot.load_full();
        let Some(mut next) = build(&current)? else {
            return Ok(false);
        };
        next.generation = current.generation + 1;
        self.snapshot.store(Arc::new(next));
        Ok(true)
    }
}

/// Queries: each loads the current snapshot once.
impl<C: Clock> Router<C> {
    /// Generation of the current snapshot; every publish adds one.
    pub fn generation(&self) -> u64 {
        self.snapshot.load().generation
    }

    /// The current ring.
    pub fn ring(&self) -> Arc<Ring> {
        Arc::clone(&self.snapshot.load().ring)
    }

    /// The config in use.
    pub fn config(&self) -> RouterConfig {
        self.snapshot.load().config
    }

    /// Version of the fleet config last applied or built from ([`Router::apply_config`]), if
    /// any: what a frontend exports to show which config it runs.
    pub fn fleet_version(&self) -> Option<u64> {
        self.snapshot.load().applied.as_ref().map(|c| c.version)
    }

    /// Whether `id` is in the fleet and healthy.
    pub fn is_healthy(&self, id: ManagerId) -> bool {
        let snap = self.snapshot.load();
        snap.health.is_healthy(&snap.ring, id)
    }

    /// `task`'s reservation, if it has one.
    pub fn reservation(&self, task: TaskId) -> Option<Reservation> {
        self.snapshot.load().reservations.get(task)
    }

    /// `task`'s Reserved calls in flight through this router: what a frontend sends to the
    /// host's counting service for [`Counting::Global`]. Does not mark the task used.
    pub fn reserved_in_flight(&self, task: TaskId) -> u32 {
        self.live
            .get(task.get())
            .map_or(0, |live| live.reserved.load(Relaxed))
    }

    /// For the host's provisioning side: the managers of `task`'s reserved arc, in arc order,
    /// and how many reserved environments each should hold (the limit split evenly). Empty
    /// when the task has no reservation or no manager is healthy.
    pub fn reserved_arc(&self, task: TaskId) -> Vec<ReservedSlot> {
        let snap = self.snapshot.load();
        let Some(res) = snap.reservations.get(task) else {
            return Vec::new();
        };
        let len = snap.reserved_len(res);
        let start = hash::reserved_start(snap.config.ring.seed, task);
        (0..)
            .zip(snap.ring.arc_with(start, len, &snap.health))
            .map(|(slot, manager)| ReservedSlot {
                manager,
                environments: snap.assigner.environments_at(res.limit, len, slot),
            })
            .collect()
    }

    /// The managers of `group`'s unreserved arc at its current live length (the minimum
    /// length if the group has no live state), in arc order.
    pub fn unreserved_arc(&self, group: GroupId) -> Vec<ManagerId> {
        let snap = self.snapshot.load();
        let len = self
            .live
            .get(group.get())
            .map_or(snap.config.assign.min_unreserved_arc.get(), |live| {
                live.arc_len.load(Relaxed)
            });
        let start = hash::unreserved_start(snap.config.ring.seed, group);
        snap.ring.arc_with(start, len, &snap.health).collect()
    }

    /// Counters and gauges, summed over shards. O(shards + live entries).
    pub fn stats(&self) -> Stats {
        let snap = self.snapshot.load();
        let mut s = Stats {
            generation: snap.generation,
            reserved_tasks: snap.reservations.len() as u64,
            ..Stats::default()
        };
        for shard in self.live.shards() {
            let c = &shard.counters;
            s.routes_reserved += c.reserved.load(Relaxed);
            s.routes_unreserved += c.unreserved.load(Relaxed);
            s.routes_spillover += c.spillover.load(Relaxed);
            s.spillovers += c.spillover.load(Relaxed) + c.spilled_on_throttle.load(Relaxed);
            s.throttles += c.throttles.load(Relaxed);
            s.throttles_exhausted += c.throttles_exhausted.load(Relaxed);
            s.arc_grows += c.grows.load(Relaxed);
            s.arc_shrinks += c.shrinks.load(Relaxed);
            s.evictions += c.evictions.load(Relaxed);
            s.no_manager += c.no_manager.load(Relaxed);
        }
        let totals = self.live.totals();
        s.in_flight_reserved = totals.reserved;
        s.in_flight_unreserved = totals.unreserved;
        s.live_entries = totals.entries as u64;
        s
    }
}

/// Builds a [`Router`]: by-value setters, one validating [`RouterBuilder::build`].
#[derive(Debug)]
pub struct RouterBuilder<C = MonotonicClock> {
    config: RouterConfig,
    managers: Vec<(ManagerId, u32)>,
    /// Managers asked for by an iterator too long to collect, reported by `build`.
    overlong: Option<usize>,
    reservations: Vec<(TaskId, Reservation)>,
    fleet: Option<FleetConfig>,
    clock: C,
}

impl<C: Clock> RouterBuilder<C> {
    /// Uses `config` (default [`RouterConfig::default`]).
    pub fn config(mut self, config: RouterConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the fleet-wide placement seed (see [`RingConfig::seed`]).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.ring.seed = seed;
        self
    }

    /// Adds one manager with `weight`.
    pub fn manager(mut self, id: ManagerId, weight: u32) -> Self {
        self.managers.push((id, weight));
        self
    }

    /// Adds managers as `(id, weight)` pairs.
    ///
    /// An iterator whose `size_hint` says the fleet would exceed
    /// [`MAX_MANAGERS`](crate::MAX_MANAGERS) managers is not collected; [`RouterBuilder::build`]
    /// then reports [`Error::TooManyManagers`].
    pub fn managers<I: IntoIterator<Item = (ManagerId, u32)>>(mut self, managers: I) -> Self {
        let managers = managers.into_iter();
        let count = self.managers.len().saturating_add(managers.size_hint().0);
        if check_count(count).is_err() {
            self.overlong = Some(count);
        } else {
            self.managers.extend(managers);
        }
        self
    }

    /// Adds a reservation (a later one for the same task replaces an earlier one).
    pub fn reservation(mut self, task: TaskId, reservation: Reservation) -> Self {
        self.reservations.push((task, reservation));
        self
    }

    /// Builds from a fleet config: its managers (with their health) and reservations (limits,
    /// none ready yet), and its placement settings (ring version, seed, virtual nodes per
    /// weight), which replace those of [`RouterBuilder::config`] and [`RouterBuilder::seed`]
    /// whatever the order of the calls. The router records the config as applied (see
    /// [`Router::apply_config`]). A later call replaces an earlier one.
    pub fn fleet_config(mut self, fleet: &FleetConfig) -> Self {
        self.fleet = Some(fleet.clone());
        self
    }

    /// Uses another clock, for example a [`ManualClock`](crate::ManualClock) in tests.
    pub fn clock<D: Clock>(self, clock: D) -> RouterBuilder<D> {
        RouterBuilder {
            config: self.config,
            managers: self.managers,
            overlong: self.overlong,
            reservations: self.reservations,
            fleet: self.fleet,
            clock,
        }
    }

    /// Validates everything and builds the router (generation 1).
    ///
    /// # Errors
    /// As [`Ring::new`] for the managers; [`Error::InvalidConfig`] for a `busy_threshold`
    /// outside `0.0..=1.0`, an invalid [`AssignConfig`], or managers or reservations given
    /// both by a fleet config and by other setters; as [`FleetConfig::validate`] for a fleet
    /// config.
    pub fn build(self) -> Result<Router<C>, Error> {
        let mut config = self.config;
        if !(0.0..=1.0).contains(&config.busy_threshold) {
            return Err(Error::InvalidConfig {
                what: "busy_threshold must be within 0.0..=1.0",
            });
        }
        let assigner = ArcAssigner::new(config.assign)?;
        if let Some(count) = self.overlong {
            return Err(Error::TooManyManagers {
                count,
                max: crate::MAX_MANAGERS,
            });
        }
        let (mut managers, mut reserved) = (self.managers, self.reservations);
        let fleet = match self.fleet {
            Some(fleet) => {
                if !managers.is_empty() || !reserved.is_empty() {
                    return Err(Error::InvalidConfig {
                        what: "a fleet config gives the managers and reservations; \
                               give none with other setters",
                    });
                }
                let fleet = fleet.normalized()?;
                config.ring = fleet.ring_config();
                managers = fleet.manager_list();
                reserved = (fleet.reservations.iter())
                    .map(|r| (r.task, Reservation::new(r.limit, 0)))
                    .collect();
                Some(Arc::new(fleet))
            }
            None => None,
        };
        let ring = Ring::new(config.ring, managers)?;
        let mut health = HealthMask::all_up(&ring);
        if let Some(fleet) = &fleet {
            // Ring indices follow id order, as the normalized managers do.
            for (index, manager) in (0u32..).zip(&fleet.managers) {
                health.set_index(index, manager.healthy);
            }
        }
        let reservations = ReservationTable::default()
            .with_all(reserved.into_iter().map(|(task, r)| (task, Some(r))))
            .unwrap_or_default();
        let snapshot = Snapshot {
            generation: 1,
            health,
            loads: (0..ring.len()).map(|_| AtomicU32::new(0)).collect(),
            ring: Arc::new(ring),
            reservations,
            config,
            assigner,
            applied: fleet,
        };
        Ok(Router {
            snapshot: ArcSwap::from_pointee(snapshot),
            writer: Mutex::new(()),
            live: LiveMap::default(),
            origin: self.clock.now(),
            clock: self.clock,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

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
    fn unreserved_arc_grows_with_load_and_shrinks_after_delay() {
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
            4,
            "one step after the delay"
        );
        assert_eq!(r.stats().arc_shrinks, 1);
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
        assert_eq!(r.unreserved_arc(t.into()).len(), 4, "arc grew on throttle");
        let s = r.stats();
        assert_eq!((s.throttles, s.throttles_exhausted), (4, 1));
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
        for m in &before {
            assert_eq!(
                held.iter().filter(|h| h.manager() == *m).count(),
                7,
                "{m:?}"
            );
        }
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
        drop(held);
        assert_eq!(r.evict_idle(), 1);
        assert_eq!(r.stats().evictions, 2);
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
}
