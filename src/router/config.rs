//! Router settings: [`RouterConfig`] and the choice within an arc, [`Pick`].

use std::time::Duration;

use crate::assign::AssignConfig;
use crate::frontends::{Counting, Frontends};
use crate::ring::RingConfig;

#[cfg(doc)]
use crate::{ArcAssigner, Reservation, Router, RouterBuilder};

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

/// The settings a snapshot keeps besides its ring's placement settings and its assigner's
/// sizing settings, so that each setting has one source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Settings {
    pub(crate) pick: Pick,
    pub(crate) idle_ttl: Duration,
    pub(crate) busy_threshold: f32,
    pub(crate) busy_ttl: Duration,
    pub(crate) frontends: Frontends,
    pub(crate) counting: Counting,
}

impl Settings {
    /// The settings of `config` that neither the ring nor the assigner holds.
    pub(crate) fn of(config: RouterConfig) -> Self {
        Self {
            pick: config.pick,
            idle_ttl: config.idle_ttl,
            busy_threshold: config.busy_threshold,
            busy_ttl: config.busy_ttl,
            frontends: config.frontends,
            counting: config.counting,
        }
    }

    /// The whole config, with the ring's and the assigner's settings.
    pub(crate) fn with(self, ring: RingConfig, assign: AssignConfig) -> RouterConfig {
        RouterConfig {
            ring,
            assign,
            pick: self.pick,
            idle_ttl: self.idle_ttl,
            busy_threshold: self.busy_threshold,
            busy_ttl: self.busy_ttl,
            frontends: self.frontends,
            counting: self.counting,
        }
    }
}
