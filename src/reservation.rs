//! Reservations and the table that holds them inside a snapshot.

use std::fmt;
use std::sync::Arc;

use hashbrown::HashTable;

use crate::live::{Hashed, Keyed, STRIPES};
use crate::{Error, TaskId};

/// Reserved capacity of one task.
///
/// `limit` is what the host provisions toward; `ready` is what exists. Routers admit Reserved
/// calls against `ready` (split among frontends, see [`Frontends`](crate::Frontends)), so
/// the reservation's whole lifecycle follows the environments:
///
/// - **raise**: calls ramp up as the host reports new environments ready;
/// - **cut** (`limit` below `ready`): environments that still exist keep serving Reserved calls,
///   and traffic drains to the unreserved arc as the host tears them down and lowers `ready`;
/// - **removal** ([`Router::remove_reservation`](crate::Router::remove_reservation)): a cut
///   to 0; the entry goes when `ready` reaches 0.
///
/// A reservation with `limit` and `ready` both 0 is no reservation: storing one removes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Reservation {
    /// Target number of reserved environments (provisioned concurrency).
    pub limit: u32,
    /// Reserved environments provisioned and warm now, as the host reports them.
    pub ready: u32,
}

impl Reservation {
    /// A reservation of `limit` environments, `ready` of them warm now.
    pub const fn new(limit: u32, ready: u32) -> Self {
        Self { limit, ready }
    }

    /// Whether the target is below what exists: environments are being torn down.
    pub const fn is_draining(self) -> bool {
        self.limit < self.ready
    }

    /// Reserved environments that may exist now: `max(limit, ready)`. They size the reserved
    /// arc and spread reserved calls over it, so that environments of a reservation that was
    /// just lowered stay addressable until the host tears them down.
    pub const fn environments(self) -> u32 {
        if self.limit > self.ready {
            self.limit
        } else {
            self.ready
        }
    }
}

/// One change in a batch for [`Router::update_reservations`](crate::Router::update_reservations):
/// each variant does what the single writer it names does.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReservationChange {
    /// Sets the limit, keeping `ready` (0 for a new reservation), as
    /// [`Router::set_reservation`](crate::Router::set_reservation).
    Limit {
        /// The task.
        task: TaskId,
        /// Its new limit.
        limit: u32,
    },
    /// Sets how many environments are ready, as [`Router::set_ready`](crate::Router::set_ready):
    /// the task must have a reservation by then (in the router or earlier in the batch).
    Ready {
        /// The task.
        task: TaskId,
        /// Environments provisioned and warm now.
        ready: u32,
    },
    /// Sets the whole reservation (`Reservation::default()` removes it), as
    /// [`Router::put_reservation`](crate::Router::put_reservation).
    Put {
        /// The task.
        task: TaskId,
        /// Its reservation.
        reservation: Reservation,
    },
    /// Drains the reservation, as
    /// [`Router::remove_reservation`](crate::Router::remove_reservation).
    Remove {
        /// The task.
        task: TaskId,
    },
}

impl ReservationChange {
    /// The task this change is about.
    pub fn task(self) -> TaskId {
        match self {
            Self::Limit { task, .. }
            | Self::Ready { task, .. }
            | Self::Put { task, .. }
            | Self::Remove { task } => task,
        }
    }

    /// The reservation after this change, from `old` (`None`: none).
    pub(crate) fn apply(self, old: Option<Reservation>) -> Result<Option<Reservation>, Error> {
        Ok(match self {
            Self::Limit { limit, .. } => Some(Reservation::new(limit, old.map_or(0, |r| r.ready))),
            Self::Ready { task, ready } => {
                let old = old.ok_or(Error::NoReservation { task })?;
                Some(Reservation::new(old.limit, ready))
            }
            Self::Put { reservation, .. } => Some(reservation),
            Self::Remove { .. } => old.map(|r| Reservation::new(0, r.ready)),
        })
    }
}

const SHARDS: usize = STRIPES;

type Map = HashTable<(TaskId, Reservation)>;

/// Copy-on-write table sharded 64 ways, so that changing one reservation copies one shard
/// (about n/64 entries), not the whole table. A task's shard and bucket are chosen under the
/// router's secret key (kept by every table made from it; the live map's too, so that a
/// route hashes its task once for both), so that names chosen offline cannot pile into one
/// shard and make each change copy them all.
#[derive(Clone)]
pub(crate) struct ReservationTable {
    shards: Arc<[Arc<Map>]>,
    len: usize,
    keyed: Keyed,
}

impl fmt::Debug for ReservationTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReservationTable")
            .field("len", &self.len)
            .finish()
    }
}

impl ReservationTable {
    /// An empty table keyed by `keyed`.
    pub(crate) fn new(keyed: Keyed) -> Self {
        let empty = Arc::new(Map::new());
        Self {
            shards: (0..SHARDS).map(|_| Arc::clone(&empty)).collect(),
            len: 0,
            keyed,
        }
    }

    pub(crate) fn get(&self, task: TaskId) -> Option<Reservation> {
        self.get_hashed(task, self.keyed.hash(task.get()))
    }

    /// The reservation of `task`, hashed `h` under this table's key (the router's).
    #[inline]
    pub(crate) fn get_hashed(&self, task: TaskId, h: Hashed) -> Option<Reservation> {
        let shard = &self.shards[h.stripe()];
        // Most shards of a fleet with few reservations are empty: one load answers.
        if shard.is_empty() {
            return None;
        }
        shard.find(h.bucket(), |&(t, _)| t == task).map(|&(_, r)| r)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether `other` is this table unchanged: every writer that changes a table builds a
    /// new one, so sharing the shards means holding the same entries. O(1).
    #[cfg(feature = "tracing")]
    pub(crate) fn shares(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shards, &other.shards)
    }

    /// Every reservation, in no particular order. O(n).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (TaskId, Reservation)> + '_ {
        self.shards.iter().flat_map(|shard| shard.iter().copied())
    }

    /// The table with `task` set to `value` (`None` removes it), or `None` if that changes
    /// nothing.
    pub(crate) fn with(&self, task: TaskId, value: Option<Reservation>) -> Option<Self> {
        self.with_all([(task, value)])
    }

    /// The table with every change applied in order (`None` removes), or `None` if they change
    /// nothing. Each shard touched is copied once, however many of its entries change.
    pub(crate) fn with_all(
        &self,
        changes: impl IntoIterator<Item = (TaskId, Option<Reservation>)>,
    ) -> Option<Self> {
        let infallible: Result<_, std::convert::Infallible> =
            self.try_with_all(changes, |_, value| Ok(value));
        infallible.unwrap_or_else(|never| match never {})
    }

    /// The table with each `(task, change)` applied in order, `next` giving a task's new value
    /// (`None` removes) from its value so far; `Ok(None)` if that changes nothing. The first
    /// error stops it and is returned. Each shard touched is copied once. O(k + s·n/64) for k
    /// changes touching s shards of n entries.
    pub(crate) fn try_with_all<T, E>(
        &self,
        changes: impl IntoIterator<Item = (TaskId, T)>,
        mut next: impl FnMut(Option<Reservation>, T) -> Result<Option<Reservation>, E>,
    ) -> Result<Option<Self>, E> {
        let mut shards: Option<Vec<Arc<Map>>> = None;
        let mut len = self.len;
        let keyed = &self.keyed;
        let rehash = |&(t, _): &(TaskId, Reservation)| keyed.hash(t.get()).bucket();
        for (task, change) in changes {
            let h = keyed.hash(task.get());
            let (index, bucket) = (h.stripe(), h.bucket());
            let current = shards.as_ref().map_or(&self.shards[..], |s| &s[..]);
            let old = current[index]
                .find(bucket, |&(t, _)| t == task)
                .map(|&(_, r)| r);
            let value = next(old, change)?.filter(|r| *r != Reservation::default());
            if old == value {
                continue;
            }
            let shards = shards.get_or_insert_with(|| self.shards.to_vec());
            // Copies the shard the first time only: after that this table holds its one count.
            let shard = Arc::make_mut(&mut shards[index]);
            let entry = shard.entry(bucket, |&(t, _)| t == task, rehash);
            match (entry, value) {
                (hashbrown::hash_table::Entry::Occupied(mut e), Some(r)) => e.get_mut().1 = r,
                (hashbrown::hash_table::Entry::Vacant(e), Some(r)) => {
                    e.insert((task, r));
                    len += 1;
                }
                (hashbrown::hash_table::Entry::Occupied(e), None) => {
                    e.remove();
                    len -= 1;
                }
                (hashbrown::hash_table::Entry::Vacant(_), None) => {}
            }
        }
        Ok(shards.map(|shards| Self {
            shards: shards.into(),
            len,
            keyed: self.keyed.clone(),
        }))
    }

    #[cfg(test)]
    fn shard_of(&self, task: TaskId) -> usize {
        self.keyed.hash(task.get()).stripe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_on_write_keeps_the_old_table() {
        let t = ReservationTable::new(Keyed::new());
        let a = TaskId::new(1);
        let t1 = t.with(a, Some(Reservation::new(5, 0))).unwrap();
        assert_eq!(t.get(a), None);
        assert_eq!(t1.get(a), Some(Reservation::new(5, 0)));
        assert_eq!(t1.len(), 1);
        assert!(
            t1.with(a, Some(Reservation::new(5, 0))).is_none(),
            "unchanged"
        );
        let t2 = t1.with(a, None).unwrap();
        assert_eq!((t2.get(a), t2.len()), (None, 0));
        assert!(t2.with(a, None).is_none());
    }

    #[test]
    fn bulk_changes_copy_on_write_and_count() {
        let (a, b, c) = (TaskId::new(1), TaskId::new(2), TaskId::new(3));
        let t = ReservationTable::new(Keyed::new())
            .with_all([
                (a, Some(Reservation::new(1, 0))),
                (b, Some(Reservation::new(2, 2))),
            ])
            .unwrap();
        assert_eq!(t.len(), 2);
        assert!(t
            .with_all([(a, Some(Reservation::new(1, 0))), (c, None)])
            .is_none());
        let t2 = t
            .with_all([
                (a, None),
                (b, Some(Reservation::new(0, 2))),
                (c, Some(Reservation::new(3, 0))),
                (c, Some(Reservation::default())),
            ])
            .unwrap();
        assert_eq!(
            t.get(a),
            Some(Reservation::new(1, 0)),
            "the old table stays"
        );
        assert_eq!(
            (t2.get(a), t2.get(b), t2.get(c)),
            (None, Some(Reservation::new(0, 2)), None)
        );
        assert_eq!(t2.len(), 1);
        let mut all: Vec<_> = t.iter().collect();
        all.sort_by_key(|&(task, _)| task);
        assert_eq!(
            all,
            [(a, Reservation::new(1, 0)), (b, Reservation::new(2, 2))]
        );
    }

    #[test]
    fn sequential_ids_spread_over_shards() {
        let t = ReservationTable::new(Keyed::new());
        let mut used = [false; SHARDS];
        for i in 0..1000u128 {
            used[t.shard_of(TaskId::new(i))] = true;
        }
        assert!(used.iter().all(|&u| u));
    }

    #[test]
    fn ids_piled_into_one_unkeyed_stripe_spread_over_shards() {
        let t = ReservationTable::new(Keyed::new());
        let mut per = [0usize; SHARDS];
        let piled = (0u128..)
            .filter(|&k| crate::live::stripe(k) == 0)
            .take(4096);
        for k in piled {
            per[t.shard_of(TaskId::new(k))] += 1;
        }
        // 64 a shard on average.
        assert!(per.iter().all(|&n| (16..=160).contains(&n)), "{per:?}");
    }

    #[test]
    fn an_empty_reservation_is_none() {
        let t = ReservationTable::new(Keyed::new());
        let a = TaskId::new(1);
        assert!(t.with(a, Some(Reservation::default())).is_none());
        let t1 = t.with(a, Some(Reservation::new(0, 2))).unwrap();
        assert!(Reservation::new(0, 2).is_draining());
        let t2 = t1.with(a, Some(Reservation::new(0, 0))).unwrap();
        assert_eq!((t2.get(a), t2.len()), (None, 0));
    }
}
