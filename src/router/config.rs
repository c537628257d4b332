//! Router settings: [`RouterConfig`] and the choice within an arc, [`Pick`].

use std::time::Duration;

use crate::admission;
use crate::assign::AssignConfig;
use crate::frontends::{Counting, Frontends};
use crate::ring::RingConfig;

#[cfg(doc)]
use crate::{ArcAssigner, Reservation, Router, RouterBuilder};

/// How a manager is chosen among the members of an unreserved arc.
///
/// Every option picks only among the arc's members, so which managers an arc holds (the
/// placement spec) does not depend on it, and each examines at most a small constant number of
/// members beyond the walk to the chosen one.
///
/// Reserved arcs are always served in proportion to [`Reservation::environments`]
/// (`max(limit, ready)`) split over their managers ([`ArcAssigner::reserved_slot`]). While
/// `ready <= limit` that is the split [`Router::reserved_arc`] asks the host to provision, so
/// no call goes where no reserved environment is meant to be; while a lowered reservation
/// drains (`ready > limit`), calls follow the larger split its environments were provisioned
/// under, so they keep serving until the host tears them down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Pick {
    /// The arc's members in turn, one cursor per task or group. Spreads a group over its
    /// whole arc, so every member needs its own warm environments. Costs one atomic add (shared
    /// with the in-flight count) and a walk to the chosen slot: O(log P + len).
    RoundRobin,
    /// Two distinct members, the one with the lower load last reported by
    /// [`Router::report_load`] (ties go to the round-robin one). A manager with no report
    /// counts as load 0, so a new manager draws calls until its first report. Costs a walk to
    /// the farther of the two slots and two relaxed loads.
    LeastLoadedOfTwo,
    /// First fit along the arc (the default): the call goes to the first of the arc's first
    /// 8 members on which this frontend runs fewer than its quota of the group's calls and
    /// whose reported load is under the cap of [`RouterConfig::load_bound`] (and
    /// [`RouterConfig::load_floor`]), so a group's calls stay on the fewest members, where
    /// its environments are warm.
    ///
    /// The quota is `ceil(target_per_manager / frontends)`, at least 1: `F` frontends that
    /// all pack the same first members put about `target_per_manager` calls on each, the
    /// load an arc is sized for. Counts are this frontend's own (two concurrent calls may
    /// both take the last place of a slot: the quota is soft). When every one of the first 8
    /// members is full or at the cap, a longer arc deals the call round-robin over its
    /// members past the eighth (one at the cap passes it to the next under it, up to 8
    /// further); an arc of at most 8 gives it to the member under the cap on which this
    /// frontend runs fewest calls, or, when all are at it, to the first manager past the arc
    /// (as bounded loads walks on), without widening the arc.
    ///
    /// A member whose manager threw one of this frontend's calls of the group back (a
    /// throttle) is passed over, whatever its count, until one of this frontend's calls
    /// there ends or the group has taken `8 × quota` more calls on this frontend since the
    /// first of its members still marked was marked (the marks share one window and clear
    /// together, so a member marked later is passed over for fewer calls): a throttle says
    /// a manager is full now (a large function fills its memory before its quota), and the
    /// next calls go where there is room instead of each paying a throttle.
    /// While the fleet's mean load puts the cap past [`RouterConfig::load_floor`] (every
    /// manager busy), the marks are not followed: a call moved off a full member would only
    /// evict other groups' warm environments where it lands.
    ///
    /// Costs a walk over at most the first 8 members (plus the walk to the chosen slot past
    /// them, and at most 8 further), a relaxed load of each one's count and reported load,
    /// and an atomic add and
    /// subtract on the chosen slot's count per call. Live state holds 16 bytes of counts and 8
    /// of marks.
    /// (Reserved calls are placed by their own rule, whatever the pick: see
    /// [`docs::frontends`](crate::docs::frontends).)
    #[default]
    Pack,
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
    /// Choice within an arc (default [`Pick::Pack`]).
    pub pick: Pick,
    /// The load bound of [`Pick::Pack`], `ε` of consistent hashing with bounded loads
    /// (Mirrokni, Thorup and Zadimoghaddam, capacity factor `c = 1 + ε`): a member whose load
    /// last reported by [`Router::report_load`] is at its cap, `ceil((1 + ε) × mean)`, is
    /// passed over (it takes no more, as bounded loads has it), the mean taken over every manager of the ring (a manager not reported counts
    /// 0). Default 0.25, the factor 1.25 the bounded-loads deployments use; at least 0,
    /// `f32::INFINITY` turns the bound off. With no load reported there is no bound.
    ///
    /// The cap is never under [`RouterConfig::load_floor`]. With ε = 0 a member at the mean
    /// is at its cap: on a fleet of equal loads (and no floor above them) every member is,
    /// and calls go to the manager past the arc; keep ε above 0.
    pub load_bound: f32,
    /// The cap of [`RouterConfig::load_bound`] is never under this: a member whose reported
    /// load is below it is never passed over, whatever the mean (default 0: the bound is the
    /// mean's alone). Set it to what a manager runs without slowing any call, in the unit of
    /// [`Router::report_load`]: its cores, when loads are calls running.
    ///
    /// Why: on a fleet far larger than its load the mean is a call or two, so a bound of
    /// `1.25 × mean` passes over members that are nowhere near full and spreads each group
    /// over managers where it has no warm environment, which costs cold starts and buys no
    /// speed. Above the floor the bound is the mean's, as before. One value for the fleet: with
    /// managers of different sizes, use the smallest's.
    pub load_floor: u32,
    /// Live state of a task or group with no call in flight is evicted once unused this long
    /// (default 10 minutes). Its arc then starts again from the minimum length. A use is a
    /// route: a call in flight keeps its state from eviction, but its idle time runs from
    /// its route, so a call held longer than `idle_ttl` leaves its state to the first sweep
    /// after it ends (what goes is the arc's length and the host's reports, rebuilt by the
    /// next route).
    ///
    /// Routes do not read the clock to mark a use; a sweep dates the uses it finds since the
    /// previous sweep. So state is never evicted while a call holds it nor before `idle_ttl`
    /// has passed since its last route, and with sweeps every `I` it goes by the sweep after
    /// `idle_ttl + 2·I` at the latest.
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
    ///
    /// With `F` frontends, each is taken to see about `1/F` of a group's calls: an unreserved
    /// arc is sized for `F` times this frontend's calls in flight (so every frontend computes
    /// about the arc the group's whole load needs), and [`Pick::Pack`]'s quota is
    /// `ceil(target_per_manager / F)`.
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
            pick: Pick::Pack,
            load_bound: 0.25,
            load_floor: 0,
            idle_ttl: Duration::from_secs(600),
            busy_threshold: 0.8,
            busy_ttl: Duration::from_secs(2),
            frontends: Frontends::default(),
            counting: Counting::Local,
        }
    }
}

/// The settings a snapshot keeps besides its ring's placement settings and its assigner's
/// sizing settings, so that each setting has one source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Settings {
    pub(crate) pick: Pick,
    pub(crate) load_bound: f32,
    pub(crate) load_floor: u32,
    pub(crate) idle_ttl: Duration,
    pub(crate) busy_threshold: f32,
    /// `busy_threshold` in permille, as admission compares it: converted once, not per call.
    pub(crate) busy_permille: u32,
    pub(crate) busy_ttl: Duration,
    /// Set through [`Settings::set_frontends`], which keeps `pack_quota` in step.
    pub(crate) frontends: Frontends,
    pub(crate) counting: Counting,
    /// [`Pick::Pack`]'s quota of one frontend's calls of a group on one member,
    /// `ceil(target_per_manager / frontends)` and at least 1: divided once, not per call.
    pub(crate) pack_quota: u32,
}

impl Settings {
    /// The settings of `config` that neither the ring nor the assigner holds.
    pub(crate) fn of(config: RouterConfig) -> Self {
        Self {
            pick: config.pick,
            load_bound: config.load_bound,
            load_floor: config.load_floor,
            idle_ttl: config.idle_ttl,
            busy_threshold: config.busy_threshold,
            busy_permille: admission::permille(config.busy_threshold),
            busy_ttl: config.busy_ttl,
            frontends: config.frontends,
            counting: config.counting,
            pack_quota: pack_quota(config.assign.target_per_manager.get(), config.frontends),
        }
    }

    /// Moves this router to `frontends` among the frontends, for a snapshot whose units'
    /// target is `target_per_manager`.
    pub(crate) fn set_frontends(&mut self, frontends: Frontends, target_per_manager: u32) {
        self.frontends = frontends;
        self.pack_quota = pack_quota(target_per_manager, frontends);
    }

    /// The whole config, with the ring's and the assigner's settings.
    pub(crate) fn with(self, ring: RingConfig, assign: AssignConfig) -> RouterConfig {
        RouterConfig {
            ring,
            assign,
            pick: self.pick,
            load_bound: self.load_bound,
            load_floor: self.load_floor,
            idle_ttl: self.idle_ttl,
            busy_threshold: self.busy_threshold,
            busy_ttl: self.busy_ttl,
            frontends: self.frontends,
            counting: self.counting,
        }
    }
}

/// `ceil(target / frontends)`, at least 1: see [`Settings::pack_quota`].
fn pack_quota(target: u32, frontends: Frontends) -> u32 {
    target.div_ceil(frontends.count().max(1)).max(1)
}
