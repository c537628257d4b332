//! Reservations and the table that holds them inside a snapshot.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::live::{stripe, STRIPES};
use crate::TaskId;

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

const SHARDS: usize = STRIPES;

type Map = HashMap<TaskId, Reservation, ahash::RandomState>;

/// Copy-on-write table sharded 64 ways, so that changing one reservation copies one shard
/// (about n/64 entries), not the whole table.
#[derive(Clone)]
pub(crate) struct ReservationTable {
    shards: Arc<[Arc<Map>]>,
    len: usize,
}

impl fmt::Debug for ReservationTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReservationTable")
            .field("len", &self.len)
            .finish()
    }
}

impl Default for ReservationTable {
    fn default() -> Self {
        let empty = Arc::new(Map::default());
        Self {
            shards: (0..SHARDS).map(|_| Arc::clone(&empty)).collect(),
            len: 0,
        }
    }
}

impl ReservationTable {
    pub(crate) fn get(&self, task: TaskId) -> Option<Reservation> {
        self.shards[shard_of(task)].get(&task).copied()
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
        self.shards
            .iter()
            .flat_map(|shard| shard.iter().map(|(&task, &r)| (task, r)))
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
        let mut shards: Option<Vec<Arc<Map>>> = None;
        let mut len = self.len;
        for (task, value) in changes {
            let value = value.filter(|r| *r != Reservation::default());
            let index = shard_of(task);
            let current = shards.as_ref().map_or(&self.shards[..], |s| &s[..]);
            if current[index].get(&task).copied() == value {
                continue;
            }
            let shards = shards.get_or_insert_with(|| self.shards.to_vec());
            // Copies the shard the first time only: after that this table holds its one count.
            let shard = Arc::make_mut(&mut shards[index]);
            match value {
                Some(r) => len += usize::from(shard.insert(task, r).is_none()),
                None => len -= usize::from(shard.remove(&task).is_some()),
            }
        }
        shards.map(|shards| Self {
            shards: shards.into(),
            len,
        })
    }
}

fn shard_of(task: TaskId) -> usize {
    stripe(task.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_on_write_keeps_the_old_table() {
        let t = ReservationTable::default();
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
        let t = ReservationTable::default()
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
        let mut used = [false; SHARDS];
        for i in 0..1000u128 {
            used[shard_of(TaskId::new(i))] = true;
        }
        assert!(used.iter().all(|&u| u));
    }

    #[test]
    fn an_empty_reservation_is_none() {
        let t = ReservationTable::default();
        let a = TaskId::new(1);
        assert!(t.with(a, Some(Reservation::default())).is_none());
        let t1 = t.with(a, Some(Reservation::new(0, 2))).unwrap();
        assert!(Reservation::new(0, 2).is_draining());
        let t2 = t1.with(a, Some(Reservation::new(0, 0))).unwrap();
        assert_eq!((t2.get(a), t2.len()), (None, 0));
    }
}
