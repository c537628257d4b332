//! The routers compared: arcroute and five rivals, each from its public description.
//!
//! Every strategy sees the same fleet and answers three questions: where does a call go
//! first, where next when that manager is full, and where do a reserved function's
//! pre-provisioned environments go.

use std::collections::HashSet;
use std::time::Duration;

use std::collections::HashMap;
use std::num::NonZeroU32;

use arcroute::{
    Counting, Frontends, ManagerId, ManualClock, Reservation, Ring, RingConfig, Route, RouteKind,
    Router, RouterConfig, TaskId,
};

use crate::fleet::Fleet;
use crate::report::Routing;
use crate::rng::{self, SimRng};
use rand::Rng as _;
use crate::CountMode;

/// Names accepted by `--strategies`, in report order.
pub const ALL: [&str; 6] = [
    "arcroute",
    "random",
    "round-robin",
    "consistent-hash",
    "openwhisk",
    "bounded-load",
];

/// One call in flight: its manager, and what the strategy keeps until the call ends (the
/// arcroute [`Route`], whose permit counts the call).
pub struct Ticket {
    pub manager: usize,
    frontend: usize,
    route: Option<Route>,
    tried: Tried,
    /// Position in the strategy's own order of managers (round-robin's list).
    at: usize,
}

/// The managers a call has been offered to: a bitset by manager index, and a count.
#[derive(Default)]
struct Tried {
    bits: Vec<u64>,
    count: usize,
}

impl Tried {
    fn of(m: usize) -> Self {
        let mut t = Self::default();
        t.mark(m);
        t
    }

    fn mark(&mut self, m: usize) {
        let word = m / 64;
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        self.count += usize::from(self.bits[word] & (1 << (m % 64)) == 0);
        self.bits[word] |= 1 << (m % 64);
    }

    fn contains(&self, m: usize) -> bool {
        self.bits
            .get(m / 64)
            .is_some_and(|w| w & (1 << (m % 64)) != 0)
    }
}

impl Ticket {
    /// Whether arcroute routed this call within its function's reservation.
    pub fn reserved(&self) -> bool {
        self.route
            .as_ref()
            .is_some_and(|r| r.kind() == RouteKind::Reserved)
    }

    /// Whether the call may take an idle pinned environment. arcroute keeps reserved
    /// environments for the calls it admits within the reservation; the rivals know nothing
    /// of reservations, so any of their calls may use any environment.
    pub fn pinned_ok(&self) -> bool {
        self.route.is_none() || self.reserved()
    }
}

/// A routing strategy under simulation.
pub trait Strategy: Send {
    /// First manager for a call of `f` arriving at `frontend` at `now` ms.
    fn route(&mut self, frontend: usize, f: u32, now: u64, fleet: &Fleet) -> Option<Ticket>;
    /// The ticket's manager was full: move the ticket to the next manager to try, or give up.
    fn throttled(&mut self, ticket: &mut Ticket, f: u32, fleet: &Fleet) -> bool;
    /// Managers were added or removed; `fleet` is the new fleet.
    fn membership_changed(&mut self, _fleet: &Fleet) {}
    /// Where `envs` pinned environments of `f` go: `(manager, count)`. By default, for
    /// strategies without a home: spread evenly over every manager from one picked by `f`.
    fn reserved_placement(&self, f: u32, envs: u32, fleet: &Fleet) -> Vec<(usize, u32)> {
        let alive = fleet.alive();
        spread(alive, f as usize % alive.len().max(1), envs)
    }
    /// The managers `f`'s calls go to now (for the membership-change metric); by default
    /// every manager.
    fn placement(&self, _f: u32, fleet: &Fleet) -> Vec<usize> {
        fleet.alive().to_vec()
    }
    /// The provisioning side placed `placed` of `f`'s reserved environments. arcroute's
    /// routers then count against those (the host reports them ready); the rivals do not
    /// know of reservations.
    fn provisioned(&mut self, _f: u32, _placed: u32) {}
    /// The host's periodic report of how busy each reservation's pinned environments are
    /// (`pinned`: function → where its pinned environments are). Only arcroute listens.
    fn report_busy(
        &mut self,
        _fleet: &Fleet,
        _pinned: &HashMap<u32, Vec<(usize, u32)>>,
        _now: u64,
    ) {
    }
    /// The host's counting service, at `now`: gathers each reservation's Reserved calls in
    /// flight from every frontend and reports the sum back to each (arcroute's global
    /// counting). Only arcroute listens.
    fn report_counts(&mut self, _now: u64) {}
    /// The host cut `f`'s reservation to `limit` (its environments not yet torn down).
    fn cut(&mut self, _f: u32, _limit: u32) {}
    /// The host reports `ready` of `f`'s reserved environments warm.
    fn set_ready(&mut self, _f: u32, _ready: u32) {}
    /// `f`'s Reserved calls in flight over all frontends, and the `ready` count they are
    /// admitted against; `None` for strategies that do not admit reserved calls.
    fn reserved_count(&self, _f: u32) -> Option<(u32, u32)> {
        None
    }
    /// What the routers counted, and the host's report traffic so far.
    fn routing(&self) -> Option<Routing> {
        None
    }
}

/// Builds the strategy called `name`.
pub fn build(
    name: &str,
    fleet: &Fleet,
    tasks: &[TaskId],
    reservations: &[(u32, u32)],
    sim: &crate::SimConfig,
    reserved_per_manager: NonZeroU32,
) -> Box<dyn Strategy> {
    let (frontends, seed) = (sim.frontends, sim.seed);
    match name {
        "arcroute" => Box::new(ArcRoute::new(
            fleet,
            tasks,
            reservations,
            sim,
            reserved_per_manager,
        )),
        "random" => Box::new(RandomPick {
            rng: rng::stream(seed, 101),
        }),
        "round-robin" => Box::new(RoundRobin {
            cursors: vec![0; frontends],
        }),
        "consistent-hash" => Box::new(HashRing::new(fleet, tasks, seed, None)),
        "bounded-load" => Box::new(HashRing::new(fleet, tasks, seed, Some(1.25))),
        "openwhisk" => Box::new(OpenWhisk::new(fleet, tasks)),
        _ => unreachable!("names are checked when arguments are parsed"),
    }
}

fn ticket(manager: usize) -> Ticket {
    Ticket {
        manager,
        frontend: 0,
        route: None,
        tried: Tried::of(manager),
        at: 0,
    }
}

fn id(m: usize) -> ManagerId {
    ManagerId::new(m as u64)
}

fn index(id: ManagerId) -> usize {
    id.get() as usize
}

fn fleet_ids(fleet: &Fleet) -> Vec<(ManagerId, u32)> {
    fleet.alive().iter().map(|&m| (id(m), 1)).collect()
}

/// Spreads `envs` over `managers` in turn, starting at `first`: the home rule of strategies
/// that have no home.
fn spread(managers: &[usize], first: usize, envs: u32) -> Vec<(usize, u32)> {
    let n = managers.len() as u32;
    (0..n.min(envs))
        .map(|k| {
            let count = envs / n + u32::from(k < envs % n);
            (managers[(first + k as usize) % managers.len()], count)
        })
        .collect()
}

/// arcroute: one [`Router`] per frontend, each configured as frontend `i` of `n` so that it
/// admits an even share of every reservation's ready environments, plus the provisioning
/// side's router, which places them.
///
/// Every router holds the same `Reservation::new(envs, envs)` and sizes the same reserved
/// arc; a frontend may go past its share (up to `envs`) by the sibling rule while the host
/// reports reserved environments idle (`--busy-rule on`), and under global counting
/// (`--counting global`) it counts against the fleet-wide count the host's counting service
/// last reported.
struct ArcRoute {
    routers: Vec<Router<ManualClock>>,
    provisioner: Router<ManualClock>,
    clock: ManualClock,
    tasks: Vec<TaskId>,
    /// The reserved functions, in the order they were given.
    reserved: Vec<u32>,
    /// Host → router report entries (busy fractions, global counts), one per task and router.
    reports: u64,
    /// Router → host counts for the counting service, one per task and router.
    uploads: u64,
}

impl ArcRoute {
    fn new(
        fleet: &Fleet,
        tasks: &[TaskId],
        reservations: &[(u32, u32)],
        sim: &crate::SimConfig,
        reserved_per_manager: NonZeroU32,
    ) -> Self {
        let (frontends, seed) = (sim.frontends, sim.seed);
        let clock = ManualClock::new();
        let mut config = RouterConfig::default();
        config.assign.reserved_per_manager = reserved_per_manager;
        if let Some(target) = sim.arc_target {
            config.assign.target_per_manager = target;
        }
        if !sim.busy_rule {
            config.busy_threshold = 0.0;
        }
        if sim.counting == CountMode::Global {
            // A report stays trusted for three periods: one late or lost report does not
            // drop a router back to its local share.
            config.counting = Counting::Global {
                ttl: Duration::from_millis(3 * sim.count_report_ms),
            };
        }
        let n = frontends as u32;
        let router = |index: u32| {
            let mut config = config;
            config.frontends = Frontends::new(index, n).expect("index below count");
            Router::builder()
                .config(config)
                .seed(seed)
                .managers(fleet_ids(fleet))
                .clock(clock.clone())
                .build()
                .expect("a valid fleet")
        };
        let routers: Vec<_> = (0..n).map(router).collect();
        let provisioner = router(0);
        for &(f, envs) in reservations {
            let task = tasks[f as usize];
            for router in routers.iter().chain([&provisioner]) {
                router.put_reservation(task, Reservation::new(envs, envs));
            }
        }
        Self {
            routers,
            provisioner,
            clock,
            tasks: tasks.to_vec(),
            reserved: reservations.iter().map(|&(f, _)| f).collect(),
            reports: 0,
            uploads: 0,
        }
    }
}

impl Strategy for ArcRoute {
    fn provisioned(&mut self, f: u32, placed: u32) {
        let task = self.tasks[f as usize];
        for router in &self.routers {
            router.put_reservation(task, Reservation::new(placed, placed));
        }
    }

    fn route(&mut self, frontend: usize, f: u32, now: u64, _: &Fleet) -> Option<Ticket> {
        self.clock.set(Duration::from_millis(now));
        let route = self.routers[frontend].route(self.tasks[f as usize])?;
        let manager = index(route.manager());
        Some(Ticket {
            manager,
            frontend,
            route: Some(route),
            tried: Tried::default(),
            at: 0,
        })
    }

    fn throttled(&mut self, ticket: &mut Ticket, _: u32, _: &Fleet) -> bool {
        let Some(route) = ticket.route.as_mut() else {
            return false;
        };
        if !self.routers[ticket.frontend].on_throttle(route) {
            return false;
        }
        ticket.manager = index(route.manager());
        true
    }

    fn membership_changed(&mut self, fleet: &Fleet) {
        for router in self.routers.iter().chain([&self.provisioner]) {
            router
                .set_managers(fleet_ids(fleet))
                .expect("a valid fleet");
        }
    }

    fn reserved_placement(&self, f: u32, _: u32, _: &Fleet) -> Vec<(usize, u32)> {
        self.provisioner
            .reserved_arc(self.tasks[f as usize])
            .into_iter()
            .map(|slot| (index(slot.manager), slot.environments))
            .collect()
    }

    fn placement(&self, f: u32, _: &Fleet) -> Vec<usize> {
        let task = self.tasks[f as usize];
        let reserved = self
            .provisioner
            .reserved_arc(task)
            .into_iter()
            .map(|s| s.manager);
        let unreserved = self
            .routers
            .iter()
            .flat_map(|r| r.unreserved_arc(task.into()));
        let mut all: Vec<usize> = reserved.chain(unreserved).map(index).collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    fn report_busy(&mut self, fleet: &Fleet, pinned: &HashMap<u32, Vec<(usize, u32)>>, now: u64) {
        self.clock.set(Duration::from_millis(now));
        for (&f, places) in pinned {
            let (total, busy) = places.iter().fold((0, 0), |(t, b), &(m, _)| {
                let (pt, pb) = fleet.pinned(m, f);
                (t + pt, b + pb)
            });
            if total == 0 {
                continue;
            }
            let fraction = busy as f32 / total as f32;
            for router in &self.routers {
                router
                    .report_reserved_busy(self.tasks[f as usize], fraction)
                    .expect("a fraction within 0..=1");
            }
            self.reports += self.routers.len() as u64;
        }
    }

    fn report_counts(&mut self, now: u64) {
        self.clock.set(Duration::from_millis(now));
        for &f in &self.reserved {
            let task = self.tasks[f as usize];
            if self.routers[0].reservation(task).is_none() {
                continue; // cut to 0 and drained: nothing left to count
            }
            let total: u32 = self
                .routers
                .iter()
                .map(|r| r.reserved_in_flight(task))
                .sum();
            for router in &self.routers {
                router
                    .report_reserved_in_flight(task, total)
                    .expect("every router holds the reservation");
            }
            self.uploads += self.routers.len() as u64;
            self.reports += self.routers.len() as u64;
        }
    }

    fn cut(&mut self, f: u32, limit: u32) {
        let task = self.tasks[f as usize];
        for router in self.routers.iter().chain([&self.provisioner]) {
            router.set_reservation(task, limit);
        }
    }

    fn set_ready(&mut self, f: u32, ready: u32) {
        let task = self.tasks[f as usize];
        for router in self.routers.iter().chain([&self.provisioner]) {
            // A reservation cut to 0 whose last environment went is gone: nothing to set.
            let _ = router.set_ready(task, ready);
        }
    }

    fn reserved_count(&self, f: u32) -> Option<(u32, u32)> {
        let task = self.tasks[f as usize];
        let ready = self.routers[0].reservation(task).map_or(0, |r| r.ready);
        let in_flight = self
            .routers
            .iter()
            .map(|r| r.reserved_in_flight(task))
            .sum();
        Some((in_flight, ready))
    }

    fn routing(&self) -> Option<Routing> {
        let mut r = Routing {
            reports: self.reports,
            uploads: self.uploads,
            ..Routing::default()
        };
        for router in &self.routers {
            let s = router.stats();
            r.routed_reserved += s.routes_reserved;
            r.spilled += s.spillovers;
        }
        Some(r)
    }
}

/// `random`: a uniformly random manager; when full, another random manager not tried yet.
struct RandomPick {
    rng: SimRng,
}

impl Strategy for RandomPick {
    fn route(&mut self, _: usize, _: u32, _: u64, fleet: &Fleet) -> Option<Ticket> {
        let alive = fleet.alive();
        (!alive.is_empty()).then(|| ticket(alive[self.rng.random_range(0..alive.len())]))
    }

    fn throttled(&mut self, ticket: &mut Ticket, _: u32, fleet: &Fleet) -> bool {
        let alive = fleet.alive();
        // Uniform over the untried: redraw a tried one (a few times at most while most are
        // untried), and when most were tried, pick among the rest directly.
        let untried = alive.len().saturating_sub(ticket.tried.count);
        if untried == 0 {
            return false;
        }
        let next = if untried * 2 >= alive.len() {
            (0..).find_map(|_| {
                let m = alive[self.rng.random_range(0..alive.len())];
                (!ticket.tried.contains(m)).then_some(m)
            })
        } else {
            let k = self.rng.random_range(0..untried);
            alive
                .iter()
                .copied()
                .filter(|&m| !ticket.tried.contains(m))
                .nth(k)
        };
        let Some(next) = next else { return false };
        ticket.manager = next;
        ticket.tried.mark(next);
        true
    }
}

/// `round-robin`: each frontend cycles over the managers; when full, the next one.
struct RoundRobin {
    cursors: Vec<usize>,
}

impl Strategy for RoundRobin {
    fn route(&mut self, frontend: usize, _: u32, _: u64, fleet: &Fleet) -> Option<Ticket> {
        let alive = fleet.alive();
        if alive.is_empty() {
            return None;
        }
        let cursor = &mut self.cursors[frontend];
        *cursor = cursor.wrapping_add(1);
        let mut t = ticket(alive[*cursor % alive.len()]);
        t.at = *cursor % alive.len();
        Some(t)
    }

    fn throttled(&mut self, ticket: &mut Ticket, _: u32, fleet: &Fleet) -> bool {
        let alive = fleet.alive();
        if ticket.tried.count >= alive.len() {
            return false;
        }
        ticket.at = (ticket.at + 1) % alive.len();
        ticket.manager = alive[ticket.at];
        ticket.tried.mark(ticket.manager);
        true
    }
}

/// `consistent-hash` (Karger et al. 1997, ketama-style virtual nodes): every call of a
/// function goes to its home manager, the first on the ring from the function's hash; when
/// full, the next distinct manager clockwise.
///
/// `bounded-load` (Mirrokni, Thorup, Zadimoghaddam 2018, "Consistent Hashing with Bounded
/// Loads"): the same walk, but a manager is skipped while its load is at its cap,
/// `ceil(factor × (total load + 1) / managers)`. Load is the fleet's true in-flight count
/// (every frontend sees it): an oracle's view, more than a real frontend has.
struct HashRing {
    ring: Ring,
    starts: Vec<u64>,
    /// Each function's managers in ring order from its start, made when first needed.
    orders: Vec<Option<Vec<usize>>>,
    factor: Option<f64>,
    seed: u64,
}

impl HashRing {
    fn new(fleet: &Fleet, tasks: &[TaskId], seed: u64, factor: Option<f64>) -> Self {
        let ring = Self::ring(fleet, seed);
        let starts: Vec<u64> = tasks
            .iter()
            .map(|&t| ring.unreserved_start(t.into()))
            .collect();
        Self {
            ring,
            orders: vec![None; starts.len()],
            starts,
            factor,
            seed,
        }
    }

    /// `f`'s managers in ring order from its start.
    fn order(&mut self, f: u32) -> &[usize] {
        let (ring, start) = (&self.ring, self.starts[f as usize]);
        self.orders[f as usize]
            .get_or_insert_with(|| ring.arc(start, u32::MAX).map(index).collect())
    }

    fn ring(fleet: &Fleet, seed: u64) -> Ring {
        Ring::new(RingConfig::default().with_seed(seed), fleet_ids(fleet)).expect("a valid fleet")
    }

    fn walk(&self, f: u32) -> impl Iterator<Item = usize> + '_ {
        self.ring.arc(self.starts[f as usize], u32::MAX).map(index)
    }

    /// Bounded loads' cap on one manager's running calls; unbounded for plain hashing.
    fn cap(&self, fleet: &Fleet) -> u64 {
        let Some(factor) = self.factor else {
            return u64::MAX;
        };
        let alive = fleet.alive().len().max(1) as f64;
        (factor * (fleet.busy() + 1) as f64 / alive).ceil() as u64
    }
}

impl Strategy for HashRing {
    fn route(&mut self, _: usize, f: u32, _: u64, fleet: &Fleet) -> Option<Ticket> {
        let cap = self.cap(fleet);
        let order = self.order(f);
        let under = |&m: &usize| u64::from(fleet.managers[m].busy) < cap;
        let first = order
            .iter()
            .copied()
            .find(under)
            .or_else(|| order.first().copied())?;
        Some(ticket(first))
    }

    fn throttled(&mut self, ticket: &mut Ticket, f: u32, fleet: &Fleet) -> bool {
        let cap = self.cap(fleet);
        let order = self.order(f);
        let mut untried = order.iter().copied().filter(|&m| !ticket.tried.contains(m));
        let next = untried
            .clone()
            .find(|&m| u64::from(fleet.managers[m].busy) < cap)
            .or_else(|| untried.next());
        let Some(next) = next else { return false };
        ticket.manager = next;
        ticket.tried.mark(next);
        true
    }

    fn membership_changed(&mut self, fleet: &Fleet) {
        self.ring = Self::ring(fleet, self.seed);
        self.orders.iter_mut().for_each(|o| *o = None);
    }

    fn reserved_placement(&self, f: u32, envs: u32, _: &Fleet) -> Vec<(usize, u32)> {
        // All at home; the fleet model places what fits, and the caller continues along the
        // walk with the rest.
        self.walk(f).map(|m| (m, envs)).collect()
    }

    fn placement(&self, f: u32, _: &Fleet) -> Vec<usize> {
        self.walk(f).take(1).collect()
    }
}

/// `openwhisk` (Apache OpenWhisk's ShardingContainerPoolBalancer): home invoker
/// `hash mod n`; when it is full, step by a step size co-prime with `n` (chosen by the
/// hash) until every invoker was tried. Two simplifications, neither a handicap: every step
/// size co-prime with `n` is a candidate (OpenWhisk keeps a pairwise co-prime subset), and a
/// call that finds every invoker full is throttled (OpenWhisk then forces it onto a random,
/// overloaded invoker).
struct OpenWhisk {
    managers: Vec<usize>,
    hashes: Vec<u64>,
    steps: Vec<usize>,
}

impl OpenWhisk {
    fn new(fleet: &Fleet, tasks: &[TaskId]) -> Self {
        let hashes = tasks.iter().map(|t| t.get() as u64).collect();
        let mut s = Self {
            managers: Vec::new(),
            hashes,
            steps: Vec::new(),
        };
        s.membership_changed(fleet);
        s
    }

    fn home_and_step(&self, f: u32) -> (usize, usize) {
        let n = self.managers.len();
        let h = self.hashes[f as usize];
        (
            (h % n as u64) as usize,
            self.steps[(h % self.steps.len() as u64) as usize],
        )
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Strategy for OpenWhisk {
    fn route(&mut self, _: usize, f: u32, _: u64, _: &Fleet) -> Option<Ticket> {
        if self.managers.is_empty() {
            return None;
        }
        let (home, _) = self.home_and_step(f);
        Some(ticket(self.managers[home]))
    }

    fn throttled(&mut self, ticket: &mut Ticket, f: u32, _: &Fleet) -> bool {
        let n = self.managers.len();
        if ticket.tried.count >= n {
            return false;
        }
        let (home, step) = self.home_and_step(f);
        let next = self.managers[(home + step * ticket.tried.count) % n];
        ticket.manager = next;
        ticket.tried.mark(next);
        true
    }

    fn membership_changed(&mut self, fleet: &Fleet) {
        self.managers = fleet.alive().to_vec();
        let n = self.managers.len().max(1);
        self.steps = (1..=n).filter(|&s| gcd(s, n) == 1).collect();
    }

    fn reserved_placement(&self, f: u32, envs: u32, _: &Fleet) -> Vec<(usize, u32)> {
        let n = self.managers.len();
        if n == 0 {
            return Vec::new();
        }
        let (home, step) = self.home_and_step(f);
        (0..n)
            .map(|k| (self.managers[(home + step * k) % n], envs))
            .collect()
    }

    fn placement(&self, f: u32, _: &Fleet) -> Vec<usize> {
        if self.managers.is_empty() {
            return Vec::new();
        }
        vec![self.managers[self.home_and_step(f).0]]
    }
}

/// How much of a placement moved: the managers in one set but not the other, over those in
/// either (0 when both are empty). Symmetric, so managers added count as well as removed.
pub fn moved(before: &[usize], after: &[usize]) -> f64 {
    let before: HashSet<usize> = before.iter().copied().collect();
    let after: HashSet<usize> = after.iter().copied().collect();
    let union = before.union(&after).count();
    if union == 0 {
        return 0.0;
    }
    before.symmetric_difference(&after).count() as f64 / union as f64
}
