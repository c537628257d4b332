//! Each manager's CPU: its cores shared by the calls running there (processor sharing).
//!
//! A running call demands one core. While a manager runs `n` calls on `cores` cores, each
//! call's attained service advances at `min(1, cores / n)` of real time; a call is done when
//! its attained service reaches its service time. The model keeps, per manager, a virtual
//! clock (the service any call running since the start would have attained) and its calls
//! ordered by the virtual time at which each is done. Only each manager's next completion
//! is in the engine's queue, stamped; a change of the manager's calls restamps it, so an
//! older completion event is recognised as stale and ignored. Each start and end costs
//! O(log n) for the `n` calls on that manager.

use std::collections::BTreeSet;

/// A call's completion, for the engine's queue: at `at_ms`, the call in `slot` is done,
/// if the manager's stamp is still `stamp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    pub at_ms: u64,
    pub slot: usize,
    pub stamp: u64,
}

/// One manager's cores.
#[derive(Debug, Default)]
struct Share {
    /// Service attained by a call running since the start, in ms.
    virtual_ms: f64,
    /// When `virtual_ms` was last brought up to date.
    last_ms: u64,
    /// Calls running, by the virtual time each is done at (as `f64` bits: for values that
    /// are finite and not negative the bits order as the values do), then slot.
    done_at: BTreeSet<(u64, usize)>,
    /// Changes with every start and end here; unique over the whole model.
    stamp: u64,
}

/// The fleet's CPUs, and how much of the calls' time was spent overloaded.
#[derive(Debug)]
pub struct Cpu {
    cores: u32,
    managers: Vec<Share>,
    /// The last stamp handed out.
    stamps: u64,
    /// Calls running times real time, summed over managers: call-ms.
    call_ms: f64,
    /// The part of `call_ms` on managers running more calls than cores.
    overloaded_ms: f64,
}

impl Cpu {
    /// Managers of `cores` cores each (at least 1), as many as are asked for.
    pub fn new(cores: u32) -> Self {
        Self {
            cores: cores.max(1),
            managers: Vec::new(),
            stamps: 0,
            call_ms: 0.0,
            overloaded_ms: 0.0,
        }
    }

    /// Sets every manager's cores to `cores` (at least 1) from `now` on (the pooled floor's
    /// pool, as the fleet it stands for grows or shrinks); returns the next completion of
    /// each manager with calls running, restamped.
    pub fn set_cores(&mut self, cores: u32, now: u64) -> Vec<Completion> {
        for m in 0..self.managers.len() {
            self.advance(m, now);
        }
        self.cores = cores.max(1);
        (0..self.managers.len())
            .filter_map(|m| self.next(m))
            .collect()
    }

    /// Manager `m`'s share, made when first used.
    fn share(&mut self, m: usize) -> &mut Share {
        if self.managers.len() <= m {
            self.managers.resize_with(m + 1, Share::default);
        }
        &mut self.managers[m]
    }

    /// The rate at which each of `n` calls on one manager attains service.
    fn rate(&self, n: usize) -> f64 {
        if n <= self.cores as usize {
            1.0
        } else {
            f64::from(self.cores) / n as f64
        }
    }

    /// Brings `m`'s virtual clock to `now`, counting the call-time that passed.
    fn advance(&mut self, m: usize, now: u64) {
        let cores = self.cores as usize;
        let share = self.share(m);
        let n = share.done_at.len();
        let dt = now.saturating_sub(share.last_ms) as f64;
        share.last_ms = share.last_ms.max(now);
        let rate = self.rate(n);
        self.managers[m].virtual_ms += dt * rate;
        let call_ms = dt * n as f64;
        self.call_ms += call_ms;
        if n > cores {
            self.overloaded_ms += call_ms;
        }
    }

    /// Restamps `m` and says when its next call is done.
    fn next(&mut self, m: usize) -> Option<Completion> {
        self.stamps += 1;
        let stamp = self.stamps;
        let rate = self.rate(self.managers[m].done_at.len());
        let share = &mut self.managers[m];
        share.stamp = stamp;
        let &(bits, slot) = share.done_at.first()?;
        let left = (f64::from_bits(bits) - share.virtual_ms).max(0.0) / rate;
        // Rounded up to the queue's ms, with a little slack for the float sums.
        let wait = (left - 1e-6).ceil().max(0.0) as u64;
        Some(Completion {
            at_ms: share.last_ms.saturating_add(wait),
            slot,
            stamp,
        })
    }

    /// A call needing `service_ms` of a core starts on `m` at `now` in `slot`; returns `m`'s
    /// next completion (which replaces any earlier one of `m`).
    pub fn start(&mut self, m: usize, slot: usize, service_ms: u64, now: u64) -> Completion {
        self.advance(m, now);
        let share = &mut self.managers[m];
        let done = share.virtual_ms + service_ms as f64;
        share.done_at.insert((done.to_bits(), slot));
        self.next(m)
            .expect("a manager with a call running has a next completion")
    }

    /// The completion `c` on `m` comes due at `now`: `false` if it is stale (`m`'s calls
    /// changed since it was stamped). Otherwise its call is done and gone, and `next` holds
    /// `m`'s next completion, if any call is still running there.
    pub fn end(
        &mut self,
        m: usize,
        c: Completion,
        now: u64,
        next: &mut Option<Completion>,
    ) -> bool {
        if self.managers.get(m).is_none_or(|s| s.stamp != c.stamp) {
            return false;
        }
        self.advance(m, now);
        let share = &mut self.managers[m];
        let first = share.done_at.pop_first();
        debug_assert_eq!(first.map(|(_, s)| s), Some(c.slot));
        *next = self.next(m);
        true
    }

    /// The share of call-time spent on managers running more calls than they have cores.
    pub fn overloaded_share(&self) -> f64 {
        if self.call_ms > 0.0 {
            self.overloaded_ms / self.call_ms
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_within_the_cores_run_at_full_speed() {
        let mut cpu = Cpu::new(2);
        let a = cpu.start(0, 0, 1000, 0);
        assert_eq!(a.at_ms, 1000);
        let b = cpu.start(0, 1, 500, 100);
        assert_eq!((b.at_ms, b.slot), (600, 1));
        let mut next = None;
        assert!(
            !cpu.end(0, a, 1000, &mut next),
            "restamped by the second start"
        );
        assert!(cpu.end(0, b, 600, &mut next));
        assert_eq!(next.map(|c| (c.at_ms, c.slot)), Some((1000, 0)));
        assert!(cpu.end(0, next.unwrap(), 1000, &mut next));
        assert_eq!(next, None);
        assert_eq!(cpu.overloaded_share(), 0.0);
    }

    #[test]
    fn calls_beyond_the_cores_share_them() {
        // One core: a 2 s call from 0 and a 1 s call from 1 s share it from 1 s, each at
        // half speed, so both have 1 s of work left and are done at 3 s.
        let mut cpu = Cpu::new(1);
        cpu.start(0, 0, 2000, 0);
        let c = cpu.start(0, 1, 1000, 1000);
        assert_eq!((c.at_ms, c.slot), (3000, 0));
        let mut next = None;
        assert!(cpu.end(0, c, 3000, &mut next));
        let next = next.unwrap();
        assert_eq!((next.at_ms, next.slot), (3000, 1));
        // 1 s of one call, then 2 s of two calls on one core: 4 of 5 call-seconds overloaded.
        let mut after = None;
        assert!(cpu.end(0, next, 3000, &mut after));
        assert_eq!(after, None);
        assert!((cpu.overloaded_share() - 4.0 / 5.0).abs() < 1e-12);
    }
}
