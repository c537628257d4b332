//! How routers that share a fleet count reserved calls: each its own share, or host-fed
//! global counts.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::{Error, TaskId};

/// How a router counts a reservation's calls in flight against the reserved environments
/// that exist (`ready`), when several frontends route calls of the same task.
///
/// | mode | admits Reserved while | accuracy | cost to the host |
/// | --- | --- | --- | --- |
/// | [`Counting::Local`] | this router's calls < its [`Frontends`] share of `ready` | never over-admits across frontends; a frontend whose share is busy spills while another's sits idle | none beyond the frontend count |
/// | [`Counting::Global`] | others' calls (last report) + this router's calls < `ready` | uses every environment whatever the traffic skew; may over-admit by what other frontends admitted since the report | a counting service, and [`Router::report_reserved_in_flight`](crate::Router::report_reserved_in_flight) per task and period |
///
/// Either combines with the sibling rule ([`RouterConfig::busy_threshold`](crate::RouterConfig::busy_threshold)),
/// which admits past the count while the host reports idle reserved environments.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Counting {
    /// Count locally; admit up to this frontend's even share of each reservation (the default).
    #[default]
    Local,
    /// Count against the fleet-wide in-flight count the host reports; a report older than
    /// `ttl`, or none, falls back to [`Counting::Local`] for that task.
    Global {
        /// How long a report is trusted.
        ttl: Duration,
    },
}

/// This router's place among the `count` frontends that share the fleet's reservations.
///
/// Each reservation's `ready` environments are split evenly: every frontend admits
/// `ready / count`, and `ready % count` of them one more, which ones depending on the task so
/// that no frontend is always the one short. The shares of all `count` frontends add up to
/// `ready` exactly, and each frontend sends the Reserved calls of its share to the slots of
/// the reserved arc that hold its own part of the environments (see
/// [`docs::frontends`](crate::docs::frontends)). Default: one frontend, which takes
/// everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Frontends {
    index: u32,
    count: NonZeroU32,
}

impl Default for Frontends {
    fn default() -> Self {
        Self {
            index: 0,
            count: NonZeroU32::MIN,
        }
    }
}

impl Frontends {
    /// Frontend `index` (from 0) of `count`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] unless `index < count`.
    pub fn new(index: u32, count: u32) -> Result<Self, Error> {
        match NonZeroU32::new(count) {
            Some(count) if index < count.get() => Ok(Self { index, count }),
            _ => Err(Error::InvalidConfig {
                what: "frontend index must be below a frontend count of at least 1",
            }),
        }
    }

    /// This frontend's index.
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many frontends share the fleet.
    pub fn count(self) -> u32 {
        self.count.get()
    }

    /// This frontend's share of `total` reserved environments of `task`. O(1).
    #[inline]
    pub fn share_of(self, total: u32, task: TaskId) -> u32 {
        let count = self.count.get();
        if count == 1 {
            return total;
        }
        // Rotate which frontends take the remainder by task.
        let turn =
            (u64::from(self.index) + task.get() as u64 % u64::from(count)) % u64::from(count);
        total / count + u32::from(turn < u64::from(total % count))
    }

    /// The sum of the shares of `total` that frontends `0..index` take for `task`: where
    /// this frontend's own share starts when the `total` environments are enumerated in
    /// frontend order. The ranges `[offset_of, offset_of + share_of)` of all frontends tile
    /// `0..total`. O(1).
    #[inline]
    pub(crate) fn offset_of(self, total: u32, task: TaskId) -> u32 {
        if self.index == 0 {
            return 0; // the first frontend's range starts the enumeration
        }
        let count = u64::from(self.count.get());
        let index = u64::from(self.index);
        let (turn, extra) = (task.get() as u64 % count, u64::from(total % self.count));
        // Frontend j takes one more when (j + turn) % count < extra: count those j < index,
        // whose `j + turn` run over [turn, turn + index) within [0, 2 × count).
        let overlap = |lo: u64, hi: u64| (turn + index).min(hi).saturating_sub(turn.max(lo));
        let ones = overlap(0, extra) + overlap(count, count + extra);
        let offset = index * u64::from(total / self.count) + ones;
        // At most `total` by construction.
        u32::try_from(offset).unwrap_or(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        for count in [1u32, 2, 3, 4, 7, 16] {
            for total in [0u32, 1, 2, 5, 16, 17, 100, u32::MAX] {
                for task in [0u128, 1, 5, u128::MAX] {
                    let shares: Vec<u32> = (0..count)
                        .map(|i| {
                            Frontends::new(i, count)
                                .unwrap()
                                .share_of(total, TaskId::new(task))
                        })
                        .collect();
                    let sum: u64 = shares.iter().map(|&s| u64::from(s)).sum();
                    assert_eq!(sum, u64::from(total), "{count} frontends, {total}");
                    let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
                    assert!(hi - lo <= 1);
                }
            }
        }
    }

    #[test]
    fn offsets_are_the_sums_of_the_shares_before() {
        for count in [1u32, 2, 3, 4, 7, 16] {
            for total in [0u32, 1, 2, 5, 16, 17, 100, u32::MAX] {
                for task in [0u128, 1, 5, 6, u128::MAX] {
                    let task = TaskId::new(task);
                    let mut sum = 0u64;
                    for i in 0..count {
                        let me = Frontends::new(i, count).unwrap();
                        assert_eq!(
                            u64::from(me.offset_of(total, task)),
                            sum,
                            "frontend {i} of {count}, {total}"
                        );
                        sum += u64::from(me.share_of(total, task));
                    }
                    assert_eq!(sum, u64::from(total));
                }
            }
        }
    }

    #[test]
    fn the_remainder_rotates_by_task() {
        let first = Frontends::new(0, 4).unwrap();
        let extra: Vec<u32> = (0..4u128)
            .map(|t| first.share_of(1, TaskId::new(t)))
            .collect();
        assert_eq!(
            extra.iter().sum::<u32>(),
            1,
            "frontend 0 takes the one of one task in four"
        );
    }

    #[test]
    fn index_must_be_below_count() {
        assert!(Frontends::new(0, 0).is_err());
        assert!(Frontends::new(3, 3).is_err());
        assert_eq!(Frontends::new(2, 3).unwrap().index(), 2);
        assert_eq!(Frontends::default().count(), 1);
    }
}
