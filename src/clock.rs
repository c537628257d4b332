//! Injected time: a monotonic clock by default, a manual one for tests and simulations.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A monotonic time source for arc hysteresis and idle eviction.
///
/// `now` is the time since an arbitrary origin that stays fixed for the clock's life. The
/// router reads it once per route, so it should be cheap.
pub trait Clock: Send + Sync + 'static {
    /// Time since this clock's origin.
    fn now(&self) -> Duration;
}

/// The default clock: [`Instant`] since the clock was made.
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    origin: Instant,
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to; clones share one time.
///
/// For deterministic tests and trace-driven simulations.
#[derive(Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock").field(&self.now()).finish()
    }
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by` (saturating at about 584 years).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // fetch_update with a closure that always returns Some never fails.
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Sets the clock to `to` (which may be earlier: the router copes with that), saturating
    /// like [`ManualClock::advance`]: `Duration::MAX` sets the latest time it can show.
    pub fn set(&self, to: Duration) {
        self.nanos.store(
            u64::try_from(to.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Release,
        );
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_is_shared_and_saturates() {
        let a = ManualClock::new();
        let b = a.clone();
        a.advance(Duration::from_secs(3));
        assert_eq!(b.now(), Duration::from_secs(3));
        a.advance(Duration::MAX);
        assert_eq!(b.now(), Duration::from_nanos(u64::MAX));
        b.set(Duration::from_secs(1));
        assert_eq!(a.now(), Duration::from_secs(1));
    }
}
