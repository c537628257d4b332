//! Arc sizing policy: pure functions of load, time and reservations.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::Error;

/// How arcs are sized. `Copy + Default`; [`ArcAssigner::new`] checks the one value whose
/// range the type does not enforce.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AssignConfig {
    /// Reserved environments each manager of a reserved arc holds (default 16): a reservation
    /// of `n` gets `ceil(n / reserved_per_manager)` managers.
    pub reserved_per_manager: NonZeroU32,
    /// Fewest managers in a non-empty reserved arc (default 2), so that one manager's loss
    /// never takes a whole reservation away.
    pub min_reserved_arc: NonZeroU32,
    /// In-flight calls per manager that an unreserved arc is sized for (default 8): a group with
    /// `load` calls in flight wants `ceil(load / target_per_manager)` managers.
    pub target_per_manager: NonZeroU32,
    /// Fewest managers in an unreserved arc (default 1).
    pub min_unreserved_arc: NonZeroU32,
    /// The lower threshold, in percent of the capacity of one manager fewer (default 50): an
    /// arc of `len` shrinks only while `load < target × (len − 1) × shrink_below_percent / 100`.
    /// At most 100; 0 never shrinks an arc.
    pub shrink_below_percent: u32,
    /// How long load must stay under the lower threshold before an arc shrinks, straight to
    /// the length its load needs (default 60 s). `Duration::MAX` turns shrinking off on
    /// any clock that stops short of it, as the crate's clocks do (they saturate at 2⁶⁴ ns).
    pub shrink_delay: Duration,
}

impl Default for AssignConfig {
    fn default() -> Self {
        Self {
            reserved_per_manager: nz(16),
            min_reserved_arc: nz(2),
            target_per_manager: nz(8),
            min_unreserved_arc: NonZeroU32::MIN,
            shrink_below_percent: 50,
            shrink_delay: Duration::from_secs(60),
        }
    }
}

const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

/// The live size of one unreserved arc: its length, and since when its load has been under
/// the lower threshold (if it is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ArcState {
    /// Managers in the arc.
    pub len: u32,
    /// When load last went under the lower threshold, on the caller's clock; `None` while
    /// load is at or above it, and after a shrink.
    pub below_since: Option<Duration>,
}

/// Pure arc sizing policy: no clock, no shared state, the same answer for the same inputs.
///
/// The [`Router`](crate::Router) calls it on every route with the group's in-flight load; it
/// is public so that hosts and simulators can reason about sizes without a router.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArcAssigner {
    config: AssignConfig,
}

impl ArcAssigner {
    /// An assigner with `config`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `shrink_below_percent` exceeds 100.
    pub fn new(config: AssignConfig) -> Result<Self, Error> {
        if config.shrink_below_percent > 100 {
            return Err(Error::InvalidConfig {
                what: "shrink_below_percent must be at most 100",
            });
        }
        Ok(Self { config })
    }

    /// The config in use.
    pub fn config(&self) -> AssignConfig {
        self.config
    }

    /// Managers in a reserved arc: `ceil(max(limit, ready) / reserved_per_manager)`, at least
    /// `min_reserved_arc`, at most `healthy`; 0 when both `limit` and `ready` are 0.
    ///
    /// `max(limit, ready)` keeps the managers of a reservation that was just cut addressable
    /// while its environments drain.
    #[inline]
    pub fn reserved_len(&self, limit: u32, ready: u32, healthy: u32) -> u32 {
        let want = limit.max(ready);
        if want == 0 {
            return 0;
        }
        want.div_ceil(self.config.reserved_per_manager.get())
            .max(self.config.min_reserved_arc.get())
            .min(healthy)
    }

    /// Reserved environments the `slot`-th manager (from 0) of a reserved arc of `len`
    /// managers should hold for a reservation of `limit`: an even split, the first
    /// `limit % len` slots holding one more. 0 for a slot outside the arc.
    pub fn environments_at(&self, limit: u32, len: u32, slot: u32) -> u32 {
        if slot >= len {
            return 0;
        }
        limit / len + u32::from(slot < limit % len)
    }

    /// The slot of a reserved arc of `len` managers that serves the `call`-th reserved call, so
    /// that calls reach each manager in proportion to [`ArcAssigner::environments_at`],
    /// interleaved: successive calls go to different managers where the split allows. O(1).
    /// A reservation with `limit` 0 (draining) spreads calls evenly; `len` 0 gives slot 0.
    /// The router deals this way the Reserved calls admitted past a frontend's own share,
    /// which own no environments (see [`docs::frontends`](crate::docs::frontends)).
    pub fn reserved_slot(&self, limit: u32, len: u32, call: u32) -> u32 {
        if len == 0 {
            return 0;
        }
        if limit == 0 {
            return call % len;
        }
        // Every slot holds `q` environments and the first `r` one more: deal the first
        // `q × len` calls round-robin over all slots, the last `r` over the first `r` slots.
        let (x, q) = (call % limit, limit / len);
        let dealt = q * len;
        if x < dealt {
            x % len
        } else {
            x - dealt
        }
    }

    /// The next state of an unreserved arc with `load` calls in flight at time `now`, among
    /// `healthy` managers.
    ///
    /// Grows at once to `ceil(load / target_per_manager)`. Once load has stayed under the
    /// lower threshold for `shrink_delay`, shrinks in one step straight to what the load of
    /// that call needs, `max(min_unreserved_arc, ceil(load / target_per_manager))`, and clears
    /// the timer. A group that went quiet so gets its minimal arc back on its first call after
    /// the delay, not one manager a delay later. The result is clamped to
    /// `min_unreserved_arc..=healthy` (0 when no manager is healthy). A clock that steps
    /// backwards only delays shrinking. O(1).
    pub fn unreserved(
        &self,
        current: ArcState,
        load: u32,
        now: Duration,
        healthy: u32,
    ) -> ArcState {
        self.unreserved_with(current, load, healthy, || now)
    }

    /// [`ArcAssigner::unreserved`], calling `now` only when the shrink timer needs the time.
    #[inline]
    pub(crate) fn unreserved_with(
        &self,
        current: ArcState,
        load: u32,
        healthy: u32,
        now: impl FnOnce() -> Duration,
    ) -> ArcState {
        let c = &self.config;
        let target = c.target_per_manager.get();
        let mut next = current;
        // `ceil(load / target) > len` without a division on the steady path.
        if u64::from(load) > u64::from(current.len) * u64::from(target)
            || current.len < c.min_unreserved_arc.get()
        {
            next = ArcState {
                len: load.div_ceil(target).max(c.min_unreserved_arc.get()),
                below_since: None,
            };
        } else if current.len > c.min_unreserved_arc.get()
            && self.below_threshold(load, current.len)
        {
            let now = now();
            match current.below_since {
                None => next.below_since = Some(now),
                Some(since) if now.checked_sub(since).is_some_and(|d| d >= c.shrink_delay) => {
                    // Straight to what the load needs: an arc that shrank one step a delay
                    // stayed wide for many minutes after a burst, spreading the group's next
                    // calls over members whose environments had gone cold.
                    next = ArcState {
                        len: load.div_ceil(target).max(c.min_unreserved_arc.get()),
                        below_since: None,
                    };
                }
                Some(_) => {}
            }
        } else {
            next.below_since = None;
        }
        next.len = next.len.min(healthy);
        next
    }

    /// One manager more than `current`, saturating at `u32::MAX` and clamped to `healthy`,
    /// with the shrink timer cleared: the arc the earlier patents of this family grow on a
    /// throttle.
    ///
    /// The [`Router`](crate::Router) no longer applies it: a throttle says one manager is full
    /// now, not that the group needs a wider arc for good, so [`Router::on_throttle`] moves
    /// the one call on (to a member with room, past the arc where it is less busy, else to
    /// the next member) and leaves the arc's length to the load. Kept for hosts and
    /// simulators that model the growing rule. O(1).
    ///
    /// [`Router::on_throttle`]: crate::Router::on_throttle
    pub fn throttled(&self, current: ArcState, healthy: u32) -> ArcState {
        ArcState {
            len: current.len.saturating_add(1).min(healthy),
            below_since: None,
        }
    }

    fn below_threshold(&self, load: u32, len: u32) -> bool {
        let c = &self.config;
        // u128: target × (len − 1) reaches 2⁶⁴ and × percent passes it for public callers
        // with arcs of up to u32::MAX managers.
        let capacity = u128::from(c.target_per_manager.get()) * u128::from(len - 1);
        u128::from(load) * 100 < capacity * u128::from(c.shrink_below_percent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn reserved_len_rounds_up_and_clamps() {
        let a = ArcAssigner::default();
        assert_eq!(a.reserved_len(0, 0, 10), 0);
        assert_eq!(a.reserved_len(1, 0, 10), 2, "minimum");
        assert_eq!(a.reserved_len(100, 0, 10), 7);
        assert_eq!(
            a.reserved_len(10, 100, 10),
            7,
            "ready keeps draining managers"
        );
        assert_eq!(a.reserved_len(1000, 0, 10), 10, "healthy ring size");
        assert_eq!(
            a.reserved_len(u32::MAX, u32::MAX, u32::MAX),
            u32::MAX.div_ceil(16)
        );
    }

    #[test]
    fn environments_split_evenly() {
        let a = ArcAssigner::default();
        let split: Vec<u32> = (0..4).map(|s| a.environments_at(10, 4, s)).collect();
        assert_eq!(split, [3, 3, 2, 2]);
        assert_eq!(a.environments_at(10, 4, 4), 0);
        assert_eq!(a.environments_at(10, 0, 0), 0);
    }

    #[test]
    fn reserved_slots_follow_environments() {
        let a = ArcAssigner::default();
        for (limit, len) in [(10, 4), (1, 2), (7, 7), (3, 5), (100, 7), (0, 3)] {
            let mut hits = vec![0u32; len as usize];
            for call in 0..if limit == 0 { len } else { limit } * 3 {
                hits[a.reserved_slot(limit, len, call) as usize] += 1;
            }
            if limit == 0 {
                assert!(hits.iter().all(|&h| h == 3), "even while draining");
                continue;
            }
            let want: Vec<u32> = (0..len)
                .map(|s| a.environments_at(limit, len, s) * 3)
                .collect();
            assert_eq!(hits, want, "limit {limit}, len {len}");
        }
        let first: Vec<u32> = (0..6).map(|c| a.reserved_slot(10, 4, c)).collect();
        assert_eq!(first, [0, 1, 2, 3, 0, 1], "interleaved");
        assert_eq!(a.reserved_slot(5, 0, 3), 0);
        assert!(a.reserved_slot(u32::MAX, 3, u32::MAX - 1) < 3);
    }

    #[test]
    fn grows_at_once_and_shrinks_to_the_load_after_the_delay() {
        let a = ArcAssigner::default();
        let s = a.unreserved(
            ArcState {
                len: 1,
                below_since: None,
            },
            40,
            S,
            100,
        );
        assert_eq!(
            s,
            ArcState {
                len: 5,
                below_since: None
            }
        );
        // Load drops to 1: under the threshold from t=2s, one step only after 60 s.
        let s = a.unreserved(s, 1, 2 * S, 100);
        assert_eq!(
            s,
            ArcState {
                len: 5,
                below_since: Some(2 * S)
            }
        );
        let s = a.unreserved(s, 1, 61 * S, 100);
        assert_eq!(s.len, 5);
        let s = a.unreserved(s, 1, 62 * S, 100);
        assert_eq!(
            s,
            ArcState {
                len: 1,
                below_since: None
            },
            "straight to what a load of 1 needs"
        );
        // Load 13 needs 2 managers: at once. Then 3 is under the threshold of 2 managers
        // (8 × 1 × 50 % = 4): after the delay, straight back to 1.
        let s = a.unreserved(s, 13, 63 * S, 100);
        assert_eq!(s.len, 2);
        let s = a.unreserved(s, 3, 64 * S, 100);
        assert_eq!(s.below_since, Some(64 * S));
        // Load back at the threshold resets the timer.
        let s = a.unreserved(s, 4, 65 * S, 100);
        assert_eq!(
            s,
            ArcState {
                len: 2,
                below_since: None
            }
        );
        // A shrink goes to what the load of the shrinking call needs, not below it.
        let wide = ArcState {
            len: 10,
            below_since: Some(S),
        };
        let s = a.unreserved(wide, 20, 61 * S, 100);
        assert_eq!(
            s,
            ArcState {
                len: 3,
                below_since: None
            }
        );
    }

    #[test]
    fn never_shrinks_below_minimum_nor_grows_past_healthy() {
        let a = ArcAssigner::default();
        let one = ArcState {
            len: 1,
            below_since: None,
        };
        assert_eq!(a.unreserved(one, 0, 1000 * S, 10), one);
        assert_eq!(a.unreserved(one, u32::MAX, S, 10).len, 10);
        assert_eq!(a.unreserved(one, 5, S, 0).len, 0);
        assert_eq!(
            a.throttled(
                ArcState {
                    len: 10,
                    below_since: None
                },
                10
            )
            .len,
            10
        );
        assert_eq!(
            a.throttled(
                ArcState {
                    len: u32::MAX,
                    below_since: None
                },
                u32::MAX
            )
            .len,
            u32::MAX
        );
    }

    #[test]
    fn backwards_clock_only_delays() {
        let a = ArcAssigner::default();
        let s = ArcState {
            len: 3,
            below_since: Some(100 * S),
        };
        assert_eq!(a.unreserved(s, 0, 10 * S, 100), s);
    }

    #[test]
    fn rejects_percent_over_100() {
        let c = AssignConfig {
            shrink_below_percent: 101,
            ..AssignConfig::default()
        };
        assert!(matches!(
            ArcAssigner::new(c),
            Err(Error::InvalidConfig { .. })
        ));
    }
}
