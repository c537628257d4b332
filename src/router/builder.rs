//! [`RouterBuilder`]: by-value setters, one validating build.

use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::config::{RouterConfig, Settings};
use super::snapshot::Loads;
use super::{Router, Snapshot};
use crate::assign::ArcAssigner;
use crate::clock::{Clock, MonotonicClock};
use crate::fleet::FleetConfig;
use crate::health::HealthMask;
use crate::id::{ManagerId, TaskId};
use crate::live::{FirstTag, Keyed, LiveMap};
use crate::reservation::{Reservation, ReservationTable};
use crate::ring::{check_count, Ring};
use crate::stats::Striped;
use crate::Error;

#[cfg(doc)]
use crate::{AssignConfig, RingConfig};

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
    /// outside `0.0..=1.0`, a `load_bound` below 0 or NaN, an invalid [`AssignConfig`], or managers or reservations given
    /// both by a fleet config and by other setters; as [`FleetConfig::validate`] for a fleet
    /// config.
    pub fn build(self) -> Result<Router<C>, Error> {
        let mut config = self.config;
        if !(0.0..=1.0).contains(&config.busy_threshold) {
            return Err(Error::InvalidConfig {
                what: "busy_threshold must be within 0.0..=1.0",
            });
        }
        if config.load_bound.is_nan() || config.load_bound < 0.0 {
            return Err(Error::InvalidConfig {
                what: "load_bound must be at least 0",
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
        // One secret key for the router's tables: a route hashes its task once for both.
        let keyed = Keyed::new();
        let empty = ReservationTable::new(keyed.clone());
        let reservations = empty
            .with_all(reserved.into_iter().map(|(task, r)| (task, Some(r))))
            .unwrap_or(empty);
        let snapshot = Snapshot {
            generation: 1,
            first_tag: FirstTag::new(1, keyed.salt()),
            health,
            loads: Arc::new(Loads::new(
                ring.len() as u32,
                config.load_bound,
                config.load_floor,
            )),
            ring: Arc::new(ring),
            reservations,
            settings: Settings::of(config),
            assigner,
            applied: fleet,
        };
        Ok(Router {
            snapshot: ArcSwap::from_pointee(snapshot),
            writer: Mutex::new(()),
            live: LiveMap::new(keyed),
            tallies: Striped::new(),
            origin: self.clock.now(),
            clock: self.clock,
        })
    }
}
