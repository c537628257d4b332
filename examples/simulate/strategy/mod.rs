//! The routers compared: arcroute and nine rivals, each from its public description, one file
//! per family, and the pooled floor (`pooled.rs`). Each rival sees what its real counterpart
//! sees: a proxy instance its own calls in flight, a controller the load reports its managers
//! send it; a view no real router has is named an oracle.
//!
//! Every strategy sees the same fleet and answers three questions: where does a call go
//! first, where next when that manager is full, and where do a reserved function's
//! pre-provisioned environments go. A strategy that takes part in the host's reservation
//! protocol (ready counts, busy and count reports, cuts) says so through
//! [`Strategy::feedback`]; the rivals know nothing of reservations.

mod arcroute;
mod chrlu;
mod hashing;
mod openwhisk;
mod pooled;
mod spread;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;

use ::arcroute::{ManagerId, Route, RouteKind, TaskId};

use crate::fleet::Fleet;
use crate::report::Routing;

/// The strategies, by the name `--strategies` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    /// arcroute's `Router`, one per frontend.
    Arcroute,
    /// A uniformly random manager.
    Random,
    /// Each frontend cycles over the managers.
    RoundRobin,
    /// Home-only consistent hashing.
    ConsistentHash,
    /// Apache OpenWhisk's sharding balancer, each controller on its share of each invoker's
    /// memory.
    Openwhisk,
    /// The same walk, each controller seeing every invoker's true fullness (an oracle).
    OpenwhiskOracle,
    /// Consistent hashing with bounded loads, each frontend counting its own calls (one
    /// Envoy or HAProxy instance).
    BoundedLoad,
    /// Consistent hashing with bounded loads on the fleet's true load (an oracle).
    BoundedLoadOracle,
    /// CH-RLU (Fuerst & Sharma, HPDC 2022): home, a chain of 3, stale load reports with
    /// random load updates; each controller on its share of each manager's memory.
    ChRlu,
    /// The same, each controller seeing every manager's true fullness (an oracle).
    ChRluOracle,
    /// The fleet's memory and cores as one pool, without placement: the floor.
    Pooled,
}

impl StrategyKind {
    /// Every strategy, in report order.
    pub const ALL: [Self; 11] = [
        Self::Arcroute,
        Self::Random,
        Self::RoundRobin,
        Self::ConsistentHash,
        Self::Openwhisk,
        Self::OpenwhiskOracle,
        Self::BoundedLoad,
        Self::BoundedLoadOracle,
        Self::ChRlu,
        Self::ChRluOracle,
        Self::Pooled,
    ];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Arcroute => "arcroute",
            Self::Random => "random",
            Self::RoundRobin => "round-robin",
            Self::ConsistentHash => "consistent-hash",
            Self::Openwhisk => "openwhisk",
            Self::OpenwhiskOracle => "openwhisk-oracle",
            Self::BoundedLoad => "bounded-load",
            Self::BoundedLoadOracle => "bounded-load-oracle",
            Self::ChRlu => "ch-rlu",
            Self::ChRluOracle => "ch-rlu-oracle",
            Self::Pooled => "pooled",
        }
    }
}

impl std::fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a strategy is built from: the fleet at the start, the functions' tasks, the
/// reservations and the platform's settings.
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    /// The fleet at the start of the replay.
    pub fleet: &'a Fleet,
    /// Each function's task id, by function index.
    pub tasks: &'a [TaskId],
    /// `(function, environments)` reserved.
    pub reservations: &'a [(u32, u32)],
    /// The platform.
    pub sim: &'a crate::scenario::SimConfig,
    /// Reserved environments one manager holds for one function.
    pub reserved_per_manager: NonZeroU32,
    /// Each function's mean warm run time in ms, by function index: what a platform's
    /// per-function runtime statistics converge to.
    pub warm_ms: &'a [f64],
}

/// Builds the strategy `kind`.
///
/// # Errors
/// The library's refusal of the fleet or of the frontends (reported, never a panic).
pub fn build(kind: StrategyKind, s: &Setup<'_>) -> Result<Box<dyn Strategy>, ::arcroute::Error> {
    let seed = s.sim.seed;
    Ok(match kind {
        StrategyKind::Arcroute => Box::new(arcroute::ArcRoute::new(s)?),
        StrategyKind::Random => Box::new(spread::RandomPick::new(seed)),
        StrategyKind::RoundRobin => Box::new(spread::RoundRobin::new(s.sim.frontends)),
        StrategyKind::ConsistentHash => Box::new(hashing::HashRing::new(s, hashing::Bound::None)?),
        StrategyKind::BoundedLoad => {
            Box::new(hashing::HashRing::new(s, hashing::Bound::PerFrontend)?)
        }
        StrategyKind::BoundedLoadOracle => {
            Box::new(hashing::HashRing::new(s, hashing::Bound::Oracle)?)
        }
        StrategyKind::ChRlu => Box::new(chrlu::ChRlu::new(s, MemoryView::Shares)?),
        StrategyKind::ChRluOracle => Box::new(chrlu::ChRlu::new(s, MemoryView::Oracle)?),
        StrategyKind::Openwhisk => Box::new(openwhisk::OpenWhisk::new(s, MemoryView::Shares)),
        StrategyKind::OpenwhiskOracle => Box::new(openwhisk::OpenWhisk::new(s, MemoryView::Oracle)),
        StrategyKind::Pooled => Box::new(pooled::Pooled),
    })
}

/// A routing strategy under simulation.
pub trait Strategy: Send {
    /// First manager for a call of `f` arriving at `frontend` at `now` ms.
    fn route(&mut self, frontend: usize, f: u32, now: u64, fleet: &Fleet) -> Option<Ticket>;
    /// The ticket's manager was full: move the ticket to the next manager to try, or give up.
    fn throttled(&mut self, ticket: &mut Ticket, f: u32, fleet: &Fleet) -> bool;
    /// Managers were added or removed; `fleet` is the new fleet. By default nothing to do:
    /// a router without a home reads the fleet at each call.
    ///
    /// # Errors
    /// The library's refusal of the new fleet.
    fn membership_changed(&mut self, _fleet: &Fleet) -> Result<(), ::arcroute::Error> {
        Ok(())
    }
    /// Where `envs` pinned environments of `f` go: `(manager, count)`, in order; the host
    /// places what fits, at most its cap per manager (the same for every strategy), and
    /// continues along the list with the rest. By default, for routers without a home:
    /// spread evenly over every manager from one picked by `f`.
    fn reserved_placement(&self, f: u32, envs: u32, fleet: &Fleet) -> Vec<(usize, u32)> {
        even(fleet, f, envs)
    }
    /// The managers `f`'s calls go to now (for the membership-change metric); by default,
    /// for routers without a home, every manager.
    fn placement(&self, _f: u32, fleet: &Fleet) -> Vec<usize> {
        fleet.alive().to_vec()
    }
    /// The host's periodic load report (every `--load-report-ms`): each manager's calls
    /// running at `now`, as the manager reports them. By default nothing to do: a router that
    /// reads no reports.
    ///
    /// # Errors
    /// The library's refusal of a report.
    fn load_report(&mut self, _fleet: &Fleet, _now: u64) -> Result<(), ::arcroute::Error> {
        Ok(())
    }
    /// The host's housekeeping tick, every [`crate::engine::HOST_TICK_MS`] of simulated
    /// time (a host calls arcroute's `Router::evict_idle` from such a timer). By default
    /// nothing to do.
    ///
    /// # Errors
    /// The library's refusal of the host's call.
    fn host_tick(&mut self, _fleet: &Fleet, _now: u64) -> Result<(), ::arcroute::Error> {
        Ok(())
    }
    /// The strategy's side of the host's reservation protocol; `None` for a router that
    /// knows nothing of reservations (the host then provisions for it all the same).
    fn feedback(&mut self) -> Option<&mut dyn Feedback> {
        None
    }
}

/// A router that takes part in the host's reservation protocol (arcroute).
pub trait Feedback {
    /// The host placed `placed` of `f`'s reserved environments; the routers count against
    /// those (the host reports them ready).
    fn provisioned(&mut self, f: u32, placed: u32);
    /// The host's periodic report of how busy each reservation's pinned environments are
    /// (`pinned`: function → where its pinned environments are).
    ///
    /// # Errors
    /// The library's refusal of a report.
    fn report_busy(
        &mut self,
        fleet: &Fleet,
        pinned: &HashMap<u32, Vec<(usize, u32)>>,
        now: u64,
    ) -> Result<(), ::arcroute::Error>;
    /// The host's counting service, at `now`: gathers each reservation's Reserved calls in
    /// flight from every frontend and reports the sum back to each.
    ///
    /// # Errors
    /// The library's refusal of a report.
    fn report_counts(&mut self, now: u64) -> Result<(), ::arcroute::Error>;
    /// The host cut `f`'s reservation to `limit` (its environments not yet torn down).
    fn cut(&mut self, f: u32, limit: u32);
    /// The host reports `ready` of `f`'s reserved environments warm.
    fn set_ready(&mut self, f: u32, ready: u32);
    /// `f`'s Reserved calls in flight over all frontends, and the `ready` count they are
    /// admitted against.
    fn reserved_count(&self, f: u32) -> (u32, u32);
    /// What the routers counted, and the host's report traffic so far.
    fn routing(&self) -> Routing;
}

/// One call in flight: its manager, and what the strategy keeps until the call ends (the
/// arcroute [`Route`], whose permit counts the call).
#[derive(Debug)]
pub struct Ticket {
    /// The manager the call is offered to now.
    pub manager: usize,
    frontend: usize,
    route: Option<Route>,
    tried: Tried,
    /// Position in the strategy's own order of managers (round-robin's list).
    at: usize,
    /// The call in the frontend's own count of its calls per manager, while it holds one.
    held: Option<Held>,
    /// Whether `held` charges the call's memory to its controller's share (see [`Slots`]),
    /// which a call on an idle pinned environment does not take.
    memory_held: bool,
}

impl Ticket {
    /// A ticket for a first offer to `manager`, by a router without a route of its own.
    fn first(manager: usize) -> Self {
        Self {
            manager,
            frontend: 0,
            route: None,
            tried: Tried::of(manager),
            at: 0,
            held: None,
            memory_held: false,
        }
    }

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

    /// The call started on an idle pinned environment: it takes no memory from its
    /// controller's share.
    pub fn started_pinned(&mut self) {
        if self.memory_held {
            self.held = None;
            self.memory_held = false;
        }
    }

    /// Offers the call to `m` next, counted in `own` (if any) as `weight` there until it
    /// ends or moves on; `memory` says the weight is the call's memory in a controller's
    /// share (see [`Slots`]).
    fn point(&mut self, m: usize, own: Option<&OwnCounts>, weight: u32, memory: bool) {
        self.held = None;
        self.move_to(m);
        self.held = own.map(|own| own.hold(self.frontend, m, weight));
        self.memory_held = memory && self.held.is_some();
    }

    /// Offers the call to `m` next.
    fn move_to(&mut self, m: usize) {
        self.manager = m;
        self.tried.mark(m);
    }
}

/// Each frontend's own count of its calls in flight, per manager and in all: what one proxy
/// instance knows of the load (Envoy's and HAProxy's bounded loads count only the requests
/// that instance has outstanding), or, weighted by memory, what one OpenWhisk controller
/// knows of an invoker's memory ([`Slots`]).
#[derive(Debug)]
struct OwnCounts {
    /// `frontends × stride` counters: frontend `i`'s calls on manager `m` at `i·stride + m`.
    per_manager: Arc<[AtomicU32]>,
    /// Each frontend's calls in flight in all.
    total: Arc<[AtomicU32]>,
    /// Managers a fleet may ever index (the start and every addition).
    stride: usize,
}

impl OwnCounts {
    fn new(frontends: usize, stride: usize) -> Self {
        let counters = |n: usize| (0..n).map(|_| AtomicU32::new(0)).collect::<Arc<[_]>>();
        Self {
            per_manager: counters(frontends * stride),
            total: counters(frontends),
            stride,
        }
    }

    /// Frontend `frontend`'s calls on manager `m` now.
    fn on(&self, frontend: usize, m: usize) -> u32 {
        self.per_manager[frontend * self.stride + m].load(Relaxed)
    }

    /// Frontend `frontend`'s calls in flight now.
    fn total(&self, frontend: usize) -> u32 {
        self.total[frontend].load(Relaxed)
    }

    /// Counts one call of `frontend` on `m`, as `weight` (1 for a count of calls, its
    /// memory for a count of memory), until the guard drops.
    fn hold(&self, frontend: usize, m: usize, weight: u32) -> Held {
        let slot = frontend * self.stride + m;
        self.per_manager[slot].fetch_add(weight, Relaxed);
        self.total[frontend].fetch_add(weight, Relaxed);
        Held {
            per_manager: Arc::clone(&self.per_manager),
            total: Arc::clone(&self.total),
            slot,
            frontend,
            weight,
        }
    }
}

/// One call in its frontend's own counts; dropping it (the call ended, or moved on after a
/// throttle) takes it out.
#[derive(Debug)]
struct Held {
    per_manager: Arc<[AtomicU32]>,
    total: Arc<[AtomicU32]>,
    slot: usize,
    frontend: usize,
    weight: u32,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.per_manager[self.slot].fetch_sub(self.weight, Relaxed);
        self.total[self.frontend].fetch_sub(self.weight, Relaxed);
    }
}

/// The smallest share of an invoker's memory an OpenWhisk controller keeps
/// (`MemoryLimit.MIN_MEMORY`, which `getInvokerSlot` falls back to).
const MIN_MEMORY_MB: u64 = 128;

/// What a controller of an OpenWhisk-based balancer knows of an invoker's memory before it
/// sends a call there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MemoryView {
    /// Its own share of the invoker's memory, taken by its own calls (OpenWhisk's
    /// `invokerSlots`).
    Shares,
    /// The invoker's true fullness (an oracle).
    Oracle,
}

/// Each controller's memory slots on each invoker, as OpenWhisk's controllers keep them
/// (`ShardingContainerPoolBalancerState.invokerSlots`): a controller's share of an invoker
/// is the invoker's memory over the number of controllers (`getInvokerSlot`, at least
/// [`MIN_MEMORY_MB`]), taken by the calls the controller sent there while they run
/// (`tryAcquireConcurrent` on sending, released when the call ends). Each frontend is a
/// controller. OpenWhisk knows no reservations: here an invoker offers the controllers the
/// memory its pinned environments leave, as a platform that pins environments on it would
/// configure it, and a call that will run on an idle pinned environment needs no slot and,
/// once it starts there, takes none: the controller sees at once which pinned environments
/// are idle, more than an OpenWhisk controller knows (a generosity of the model).
#[derive(Debug)]
pub(super) struct Slots {
    /// Each controller's memory in use on each manager; `None` for the oracle, which reads
    /// the fleet.
    own: Option<OwnCounts>,
    controllers: u64,
}

impl Slots {
    pub(super) fn new(s: &Setup<'_>, view: MemoryView) -> Self {
        Self {
            own: (view == MemoryView::Shares)
                .then(|| OwnCounts::new(s.sim.frontends, manager_slots(s))),
            controllers: s.sim.frontends.max(1) as u64,
        }
    }

    /// Whether `controller` sees room on manager `m` for a call of `f`.
    pub(super) fn room(&self, controller: usize, m: usize, f: u32, fleet: &Fleet) -> bool {
        let Some(own) = &self.own else {
            return fleet.has_room(m, f, true);
        };
        if !fleet.managers[m].alive {
            return false;
        }
        let (pinned, busy) = fleet.pinned(m, f);
        if busy < pinned {
            return true;
        }
        let share = (fleet.unpinned_mb(m) / self.controllers).max(MIN_MEMORY_MB);
        u64::from(own.on(controller, m)) + fleet.memory_mb(f) <= share
    }

    /// Points `ticket` at `m`, its memory taken from its controller's share there (with
    /// shares) until the call ends, moves on, or starts on an idle pinned environment.
    pub(super) fn point(&self, ticket: &mut Ticket, m: usize, f: u32, fleet: &Fleet) {
        let mb = u32::try_from(fleet.memory_mb(f)).unwrap_or(u32::MAX);
        ticket.point(m, self.own.as_ref(), mb, true);
    }
}

/// The managers a call has been offered to: a bitset by manager index, and a count.
#[derive(Debug, Default)]
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

/// Spreads `envs` over the fleet's managers in turn, starting at one picked by `f`.
fn even(fleet: &Fleet, f: u32, envs: u32) -> Vec<(usize, u32)> {
    let managers = fleet.alive();
    if managers.is_empty() {
        return Vec::new();
    }
    let first = f as usize % managers.len();
    let n = managers.len() as u32;
    (0..n.min(envs))
        .map(|k| {
            let count = envs / n + u32::from(k < envs % n);
            (managers[(first + k as usize) % managers.len()], count)
        })
        .collect()
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

/// Every manager index a replay may use: those at the start and every one added later
/// (removed managers keep their index).
fn manager_slots(s: &Setup<'_>) -> usize {
    let added: u64 = s
        .sim
        .events
        .iter()
        .map(|&(_, change)| change.max(0).unsigned_abs())
        .sum();
    s.sim.managers + usize::try_from(added).unwrap_or(usize::MAX - s.sim.managers)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::fleet::Start;
    use crate::scenario::{Options, SimConfig};

    /// A platform of `managers` managers of 32 GB and `frontends` frontends; functions of
    /// 256 MB that run `warm_ms` each.
    pub(crate) struct Tiny {
        pub(crate) fleet: Fleet,
        pub(crate) tasks: Vec<TaskId>,
        pub(crate) sim: SimConfig,
        pub(crate) warm_ms: Vec<f64>,
    }

    impl Tiny {
        pub(crate) fn new(managers: usize, frontends: usize, warm_ms: &[f64]) -> Self {
            let sim = SimConfig {
                managers,
                frontends,
                ..Options::default().sim
            };
            let n = warm_ms.len();
            Self {
                fleet: Fleet::new(managers, sim.memory_mb, vec![256; n], sim.keep_alive_ms),
                tasks: (0..n)
                    .map(|f| TaskId::from_name(&format!("f{f}")))
                    .collect(),
                sim,
                warm_ms: warm_ms.to_vec(),
            }
        }

        pub(crate) fn setup(&self) -> Setup<'_> {
            Setup {
                fleet: &self.fleet,
                tasks: &self.tasks,
                reservations: &[],
                sim: &self.sim,
                reserved_per_manager: NonZeroU32::MIN,
                warm_ms: &self.warm_ms,
            }
        }

        pub(crate) fn build(&self, kind: StrategyKind) -> Box<dyn Strategy> {
            build(kind, &self.setup()).expect("a valid fleet")
        }

        /// Routes a call of `f` at `frontend` and starts it where its ticket points, as the
        /// engine does.
        pub(crate) fn call(
            &mut self,
            s: &mut dyn Strategy,
            frontend: usize,
            f: u32,
            now: u64,
        ) -> Ticket {
            let mut ticket = s.route(frontend, f, now, &self.fleet).expect("a manager");
            if self.fleet.start(ticket.manager, f, now, true) == (Start::Warm { pinned: true }) {
                ticket.started_pinned();
            }
            ticket
        }
    }
}
