//! Writers: each takes the writers' lock, builds a new snapshot off the read path and
//! publishes it whole.

use std::sync::Arc;

use super::snapshot::Membership;
use super::{Router, Snapshot};
use crate::clock::Clock;
use crate::fleet::FleetConfig;
use crate::frontends::Frontends;
use crate::id::{ManagerId, TaskId};
use crate::reservation::{Reservation, ReservationChange};
use crate::ring;
use crate::Error;

#[cfg(doc)]
use crate::Ring;

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
    ///
    /// # Examples
    /// ```
    /// use arcroute::{Error, ManagerId, Router};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let router = Router::builder()
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .build()?;
    /// assert!(router.set_managers((0..5).map(|i| (ManagerId::new(i), 1)))?);
    /// assert_eq!(router.ring().len(), 5);
    /// assert!(!router.set_managers((0..5).rev().map(|i| (ManagerId::new(i), 1)))?, "no change");
    /// assert_eq!(router.set_managers([]), Err(Error::NoManagers));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_managers<I>(&self, managers: I) -> Result<bool, Error>
    where
        I: IntoIterator<Item = (ManagerId, u32)>,
    {
        let list = ring::sorted(managers)?;
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

    /// Marks one manager up or down; publishes only a change. O(N/64) for N managers: the
    /// ring is shared, only the health mask is new.
    ///
    /// # Errors
    /// [`Error::UnknownManager`] if `id` is not in the fleet.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{Error, ManagerId, Router};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let router = Router::builder()
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .build()?;
    /// let m = ManagerId::new(0);
    /// assert!(router.set_health(m, false)?);
    /// assert!(!router.is_healthy(m));
    /// assert!(!router.set_health(m, false)?, "already down: nothing published");
    /// let unknown = ManagerId::new(99);
    /// assert_eq!(router.set_health(unknown, true), Err(Error::UnknownManager { id: unknown }));
    /// # Ok(())
    /// # }
    /// ```
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
    /// [`Reservation`]); a limit of 0 with none ready removes the reservation. Returns whether
    /// it published. O(R/64) for R reservations: one shard of the table is copied, so loading
    /// R reservations one call at a time costs O(R²/64) in all (100,000 took 3.2 s on a loaded
    /// 2-core machine, and 4 times as many take 16 times as long);
    /// load or change many at once with [`Router::update_reservations`], one publish.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{ManagerId, Reservation, Router, TaskId};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let router = Router::builder()
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .build()?;
    /// let task = TaskId::new(1);
    /// assert!(router.set_reservation(task, 4));
    /// assert_eq!(router.reservation(task), Some(Reservation::new(4, 0)));
    /// assert!(!router.set_reservation(task, 4), "unchanged");
    /// router.set_ready(task, 3)?;
    /// assert!(router.set_reservation(task, 8));
    /// assert_eq!(router.reservation(task), Some(Reservation::new(8, 3)), "ready kept");
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_reservation(&self, task: TaskId, limit: u32) -> bool {
        self.write_reservation(task, |old| {
            Ok(Some(Reservation::new(limit, old.map_or(0, |r| r.ready))))
        })
        .unwrap_or(false)
    }

    /// Sets how many of `task`'s reserved environments are provisioned and warm now: Reserved
    /// calls are admitted against it. Returns whether it published. O(R/64), as
    /// [`Router::set_reservation`]: for many tasks, [`Router::update_reservations`].
    ///
    /// # Errors
    /// [`Error::NoReservation`] if `task` has none.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{Error, ManagerId, RouteKind, Router, TaskId};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let router = Router::builder()
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .build()?;
    /// let task = TaskId::new(1);
    /// router.set_reservation(task, 2);
    /// assert!(router.set_ready(task, 2)?);
    /// assert_eq!(router.route(task).unwrap().kind(), RouteKind::Reserved);
    /// let other = TaskId::new(2);
    /// assert_eq!(router.set_ready(other, 1), Err(Error::NoReservation { task: other }));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_ready(&self, task: TaskId, ready: u32) -> Result<bool, Error> {
        self.write_reservation(task, |old| {
            let old = old.ok_or(Error::NoReservation { task })?;
            Ok(Some(Reservation::new(old.limit, ready)))
        })
    }

    /// Sets `task`'s whole reservation at once (`Reservation::default()` removes it). Returns
    /// whether it published. O(R/64), as [`Router::set_reservation`]: for many tasks,
    /// [`Router::update_reservations`].
    ///
    /// # Examples
    /// ```
    /// use arcroute::{ManagerId, Reservation, Router, TaskId};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let router = Router::builder()
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .build()?;
    /// let task = TaskId::new(1);
    /// assert!(router.put_reservation(task, Reservation::new(4, 2)));
    /// assert_eq!(router.reservation(task), Some(Reservation::new(4, 2)));
    /// assert!(router.put_reservation(task, Reservation::default()), "removed");
    /// assert_eq!(router.reservation(task), None);
    /// # Ok(())
    /// # }
    /// ```
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

    /// Applies many reservation changes as one snapshot: each [`ReservationChange`] does what
    /// the single writer it names does, in order, seeing the changes before it. Returns
    /// whether it published: it does once if any change changes something as it comes (as
    /// its single writer would publish), else not at all.
    ///
    /// O(k + s·R/64) for k changes touching s of the table's 64 shards, so at most O(k + R):
    /// each shard touched is copied once, however many of its tasks change (400,000 new
    /// reservations in one call: 1.3 s on the same machine, where one call each is
    /// quadratic). The
    /// changes are read from `changes` under the writers' lock, one at a time, and not
    /// collected: other writers wait while it runs; routes do not.
    ///
    /// # Errors
    /// [`Error::NoReservation`] for a [`ReservationChange::Ready`] of a task that has no
    /// reservation by then; the whole batch is refused and nothing changes.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{Error, ManagerId, Reservation, ReservationChange, Router, TaskId};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let router = Router::builder()
    ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
    ///     .build()?;
    /// let load = (0..1000).flat_map(|i| {
    ///     let task = TaskId::new(i);
    ///     [
    ///         ReservationChange::Limit { task, limit: 4 },
    ///         ReservationChange::Ready { task, ready: 2 },
    ///     ]
    /// });
    /// let before = router.generation();
    /// assert!(router.update_reservations(load)?);
    /// assert_eq!(router.generation(), before + 1, "one publish");
    /// assert_eq!(router.reservation(TaskId::new(7)), Some(Reservation::new(4, 2)));
    /// let task = TaskId::new(5000);
    /// assert_eq!(
    ///     router.update_reservations([
    ///         ReservationChange::Put { task: TaskId::new(1), reservation: Reservation::default() },
    ///         ReservationChange::Ready { task, ready: 1 },
    ///     ]),
    ///     Err(Error::NoReservation { task })
    /// );
    /// assert_eq!(router.reservation(TaskId::new(1)), Some(Reservation::new(4, 2)), "unchanged");
    /// # Ok(())
    /// # }
    /// ```
    pub fn update_reservations<I>(&self, changes: I) -> Result<bool, Error>
    where
        I: IntoIterator<Item = ReservationChange>,
    {
        self.publish(|cur| {
            let changes = changes.into_iter().map(|c| (c.task(), c));
            Ok(cur
                .reservations
                .try_with_all(changes, |old, change| change.apply(old))?
                .map(|reservations| Snapshot {
                    reservations,
                    ..Snapshot::clone(cur)
                }))
        })
    }

    /// Moves this router to another place among the frontends (when frontends come and go);
    /// every reservation's share follows at once. Publishes only a change.
    pub fn set_frontends(&self, frontends: Frontends) -> bool {
        self.publish(|cur| {
            Ok((cur.settings.frontends != frontends).then(|| {
                let mut next = Snapshot::clone(cur);
                let target = next.assigner.config().target_per_manager.get();
                next.settings.set_frontends(frontends, target);
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
    ///
    /// # Examples
    /// ```
    /// use arcroute::{Error, FleetConfig, ManagerId, Router, TaskId};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let mut fleet = FleetConfig::new(1);
    /// for i in 0..4 {
    ///     fleet = fleet.with_manager(ManagerId::new(i), 1, true);
    /// }
    /// let router = Router::from_fleet_config(&fleet)?;
    /// let mut next = fleet.clone().with_reservation(TaskId::new(1), 4);
    /// next.version = 2;
    /// next.managers[0].healthy = false;
    /// assert!(router.apply_config(&next)?);
    /// assert_eq!(router.fleet_version(), Some(2));
    /// assert!(!router.is_healthy(ManagerId::new(0)));
    /// assert!(!router.apply_config(&next)?, "already applied");
    /// assert_eq!(
    ///     router.apply_config(&fleet),
    ///     Err(Error::StaleConfig { current: 2, offered: 1 })
    /// );
    /// # Ok(())
    /// # }
    /// ```
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

    pub(crate) fn write_reservation(
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
    pub(crate) fn publish(
        &self,
        build: impl FnOnce(&Snapshot) -> Result<Option<Snapshot>, Error>,
    ) -> Result<bool, Error> {
        let _writer = self.writer.lock();
        let current = self.snapshot.load_full();
        let Some(mut next) = build(&current)? else {
            return Ok(false);
        };
        next.generation = current.generation + 1;
        next.first_tag = current.first_tag.next();
        #[cfg(feature = "tracing")]
        crate::trace::published(&current, &next);
        self.snapshot.store(Arc::new(next));
        Ok(true)
    }
}
