//! The fleet model: managers with memory, environments per (manager, function) with a
//! keep-alive, pinned (reserved) environments that never expire until the host tears them
//! down.
//!
//! Tearing down reserved environments after a reservation is cut, two ways:
//!
//! - [`Fleet::tear_down_idle`] (a draining host): an environment goes only once it has sat
//!   idle for a while, so one that is serving, or was serving a moment ago, is left alone;
//!   the host lowers the reservation's `ready` count as each goes.
//! - [`Fleet::reclaim`] (an immediate host): idle environments go at once, busy ones the
//!   moment their call ends; the host lowers `ready` to what will remain at once.
//!
//! Either way a torn-down environment is gone: its memory is freed, and it does not linger
//! as an unpinned environment for the keep-alive (unlike one [`Fleet::pin`] unpins when
//! reservations are re-placed after a membership change).

use std::collections::{HashMap, VecDeque};

/// What happened when a call was offered to a manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// An idle environment of the function was there.
    Warm { pinned: bool },
    /// A new environment was made (after evicting idle ones if memory was short).
    Cold,
    /// No room even after evicting every idle unpinned environment.
    Full,
}

/// One idle unpinned environment: when it was made and since when it is idle.
#[derive(Clone, Copy, Debug)]
struct Idle {
    created: u64,
    since: u64,
}

/// Environments of one function on one manager.
#[derive(Debug, Default)]
struct Pool {
    /// Idle unpinned environments, oldest idle first.
    idle: VecDeque<Idle>,
    /// Creation times of busy unpinned environments, in no order.
    busy_created: Vec<u64>,
    /// Pinned environments in all (those torn down and still busy excluded).
    pinned: u32,
    /// Since when each idle pinned environment is idle, oldest first; a call takes the most
    /// recently idle one, so the longest idle stays idle and is the first a drain tears down.
    pinned_idle: VecDeque<u64>,
    /// Pinned environments torn down while busy: each goes when a call on a pinned
    /// environment here ends.
    doomed: u32,
}

/// One worker manager.
#[derive(Debug)]
pub struct Manager {
    pub alive: bool,
    capacity_mb: u64,
    used_mb: u64,
    /// Memory of idle unpinned environments (expired ones included until purged): what
    /// eviction could free.
    idle_mb: u64,
    /// Calls running now.
    pub busy: u32,
    /// Memory of the pinned environments counted in the pools' `pinned`.
    pinned_mb: u64,
    pools: HashMap<u32, Pool>,
}

/// All managers, the functions' memory sizes, and the memory-time integral.
#[derive(Debug)]
pub struct Fleet {
    pub managers: Vec<Manager>,
    /// Indices of the managers alive now, ascending.
    alive: Vec<usize>,
    /// Calls running now on managers alive (calls on a removed manager finish uncounted).
    busy: u64,
    memory_mb: Vec<u64>,
    keep_alive_ms: u64,
    capacity_mb: u64,
    /// Environment memory held over time, in MB·ms, for environments already gone.
    mb_ms: u128,
    /// When each pinned environment was made, by (manager, function): for the integral.
    pinned_since: HashMap<(usize, u32), Vec<u64>>,
}

impl Fleet {
    pub fn new(managers: usize, capacity_mb: u64, memory_mb: Vec<u64>, keep_alive_ms: u64) -> Self {
        let mut fleet = Self {
            managers: Vec::new(),
            alive: Vec::new(),
            busy: 0,
            memory_mb,
            keep_alive_ms,
            capacity_mb,
            mb_ms: 0,
            pinned_since: HashMap::new(),
        };
        fleet.add_managers(managers);
        fleet
    }

    /// Adds `count` empty managers; returns their indices.
    pub fn add_managers(&mut self, count: usize) -> std::ops::Range<usize> {
        let first = self.managers.len();
        self.managers.extend((0..count).map(|_| Manager {
            alive: true,
            capacity_mb: self.capacity_mb,
            used_mb: 0,
            idle_mb: 0,
            busy: 0,
            pinned_mb: 0,
            pools: HashMap::new(),
        }));
        self.alive.extend(first..self.managers.len());
        first..self.managers.len()
    }

    /// Sets manager `m`'s memory to `capacity_mb` (the pooled floor's pool, as the fleet it
    /// stands for grows or shrinks). Environments beyond a smaller size stay until they go
    /// as usual; no new one starts until there is room.
    pub fn resize(&mut self, m: usize, capacity_mb: u64) {
        self.managers[m].capacity_mb = capacity_mb;
    }

    /// Memory of one environment of `f`, in MB.
    pub fn memory_mb(&self, f: u32) -> u64 {
        self.memory_mb[f as usize]
    }

    /// Memory of manager `m` not held by pinned environments, in MB: what it offers calls
    /// outside reservations.
    pub fn unpinned_mb(&self, m: usize) -> u64 {
        let manager = &self.managers[m];
        manager.capacity_mb.saturating_sub(manager.pinned_mb)
    }

    /// Indices of the managers alive now, ascending.
    pub fn alive(&self) -> &[usize] {
        &self.alive
    }

    /// Calls running now on the managers alive.
    pub fn busy(&self) -> u64 {
        self.busy
    }

    /// Takes manager `m` out at `now`: its environments are gone (calls running there finish).
    pub fn remove_manager(&mut self, m: usize, now: u64) {
        let pools = std::mem::take(&mut self.managers[m].pools);
        for (f, pool) in pools {
            self.mb_ms += self.held_until(m, f, &pool, now);
            self.pinned_since.remove(&(m, f));
        }
        let manager = &mut self.managers[m];
        self.busy -= u64::from(manager.busy);
        manager.alive = false;
        manager.used_mb = 0;
        manager.idle_mb = 0;
        manager.pinned_mb = 0;
        self.alive.retain(|&a| a != m);
    }

    /// Offers a call of `f` to manager `m` at `now`; `pinned_ok` lets it take an idle pinned
    /// environment (first, before unpinned ones).
    pub fn start(&mut self, m: usize, f: u32, now: u64, pinned_ok: bool) -> Start {
        let keep_alive = self.keep_alive_ms;
        let mem = self.memory_mb[f as usize];
        let manager = &mut self.managers[m];
        if !manager.alive {
            return Start::Full;
        }
        if let Some(pool) = manager.pools.get_mut(&f) {
            if pinned_ok && pool.pinned_idle.pop_back().is_some() {
                manager.busy += 1;
                self.busy += 1;
                return Start::Warm { pinned: true };
            }
            let (freed, gone) = expire(pool, now, keep_alive);
            self.mb_ms += u128::from(mem) * gone;
            manager.used_mb -= freed * mem;
            manager.idle_mb -= freed * mem;
            if let Some(idle) = pool.idle.pop_back() {
                manager.idle_mb -= mem;
                pool.busy_created.push(idle.created);
                manager.busy += 1;
                self.busy += 1;
                return Start::Warm { pinned: false };
            }
        }
        if !self.make_room(m, mem, now) {
            return Start::Full;
        }
        let manager = &mut self.managers[m];
        manager.used_mb += mem;
        manager.busy += 1;
        self.busy += 1;
        manager.pools.entry(f).or_default().busy_created.push(now);
        Start::Cold
    }

    /// Whether a call of `f` offered to `m` now would start there (warm or cold) rather than
    /// be throttled: the manager's true fullness (running calls and pinned environments hold
    /// memory; idle unpinned environments can be evicted). `pinned_ok` as for
    /// [`Fleet::start`]. Changes nothing. Exact while the manager holds no more than its
    /// memory: always, but for a pool [`Fleet::resize`]d below what it holds.
    pub fn has_room(&self, m: usize, f: u32, pinned_ok: bool) -> bool {
        let manager = &self.managers[m];
        if !manager.alive {
            return false;
        }
        let pool = manager.pools.get(&f);
        if pool.is_some_and(|p| (pinned_ok && !p.pinned_idle.is_empty()) || !p.idle.is_empty()) {
            return true;
        }
        // Room once every idle unpinned environment is evicted, as `make_room` would.
        manager.used_mb - manager.idle_mb + self.memory_mb[f as usize] <= manager.capacity_mb
    }

    /// Offers a call of `f` to `m` that may only run warm: a manager asked to run a call the
    /// router routed within a reservation, with none of the function's environments idle,
    /// throttles it (as arcroute's docs ask) so that the router can try the next reserved
    /// manager, instead of cold-starting it.
    pub fn start_warm(&mut self, m: usize, f: u32, now: u64) -> Start {
        let keep_alive = self.keep_alive_ms;
        let warm = self.managers[m].alive
            && self.managers[m].pools.get_mut(&f).is_some_and(|pool| {
                !pool.pinned_idle.is_empty()
                    || pool.idle.back().is_some_and(|i| i.since + keep_alive > now)
            });
        if warm {
            self.start(m, f, now, true)
        } else {
            Start::Full
        }
    }

    /// Pinned environments on `m` that are idle now: reserved capacity that a reserved call
    /// may take at any moment.
    pub fn pinned_idle(&self, m: usize) -> u32 {
        self.managers[m]
            .pools
            .values()
            .map(|p| p.pinned_idle.len() as u32)
            .sum()
    }

    /// Pinned environments of `f` on `m`, and how many of them are busy.
    pub fn pinned(&self, m: usize, f: u32) -> (u32, u32) {
        self.managers[m].pools.get(&f).map_or((0, 0), |p| {
            (p.pinned, p.pinned - p.pinned_idle.len() as u32)
        })
    }

    /// A call of `f` on `m` that started as `pinned` (or not) ends at `now`.
    pub fn finish(&mut self, m: usize, f: u32, pinned: bool, now: u64) {
        let manager = &mut self.managers[m];
        manager.busy -= 1;
        if !manager.alive {
            return;
        }
        self.busy -= 1;
        let Some(pool) = manager.pools.get_mut(&f) else {
            return;
        };
        if pinned && pool.doomed > 0 {
            pool.doomed -= 1;
            self.destroy_pinned(m, f, now);
        } else if pinned && (pool.pinned_idle.len() as u32) < pool.pinned {
            pool.pinned_idle.push_back(now);
        } else if let Some(created) = pool.busy_created.pop() {
            pool.idle.push_back(Idle {
                created,
                since: now,
            });
            manager.idle_mb += self.memory_mb[f as usize];
        }
    }

    /// Sets the pinned environments of `f` on `m` to `target` at `now`, as far as memory
    /// allows; returns how many are pinned there now. Extra pinned environments are unpinned
    /// (they keep serving until their keep-alive runs out); new ones are provisioned warm.
    pub fn pin(&mut self, m: usize, f: u32, target: u32, now: u64) -> u32 {
        let mem = self.memory_mb[f as usize];
        if !self.managers[m].alive {
            return 0;
        }
        let current = self.managers[m].pools.get(&f).map_or(0, |p| p.pinned);
        let since = self.pinned_since.entry((m, f)).or_default();
        if target < current {
            let manager = &mut self.managers[m];
            let pool = manager.pools.get_mut(&f).expect("pinned pool");
            for _ in target..current {
                let created = since.pop().unwrap_or(now);
                pool.pinned -= 1;
                manager.pinned_mb -= mem;
                if pool.pinned_idle.pop_back().is_some() {
                    pool.idle.push_back(Idle {
                        created,
                        since: now,
                    });
                    manager.idle_mb += mem;
                } else {
                    // Busy: it becomes an unpinned busy environment.
                    pool.busy_created.push(created);
                }
            }
            return target;
        }
        let mut pinned = current;
        while pinned < target && self.make_room(m, mem, now) {
            let manager = &mut self.managers[m];
            manager.used_mb += mem;
            manager.pinned_mb += mem;
            let pool = manager.pools.entry(f).or_default();
            pool.pinned += 1;
            pool.pinned_idle.push_back(now);
            self.pinned_since.entry((m, f)).or_default().push(now);
            pinned += 1;
        }
        pinned
    }

    /// Tears down up to `count` of `f`'s pinned environments on `m` that have been idle for
    /// at least `idle_for_ms` at `now`, longest idle first; busy ones and ones idle for less
    /// are left alone. Returns how many went.
    pub fn tear_down_idle(
        &mut self,
        m: usize,
        f: u32,
        count: u32,
        idle_for_ms: u64,
        now: u64,
    ) -> u32 {
        let mem = self.memory_mb[f as usize];
        let manager = &mut self.managers[m];
        let Some(pool) = manager.pools.get_mut(&f) else {
            return 0;
        };
        let mut gone = 0;
        while gone < count
            && pool
                .pinned_idle
                .front()
                .is_some_and(|&since| since + idle_for_ms <= now)
        {
            pool.pinned_idle.pop_front();
            pool.pinned -= 1;
            manager.pinned_mb -= mem;
            gone += 1;
        }
        for _ in 0..gone {
            self.destroy_pinned(m, f, now);
        }
        gone
    }

    /// Reclaims `count` of `f`'s pinned environments on `m` at `now` (as many as there are):
    /// idle ones at once, then busy ones, each torn down when a call on a pinned environment
    /// there ends. Returns how many were reclaimed; none of them serves another call.
    pub fn reclaim(&mut self, m: usize, f: u32, count: u32, now: u64) -> u32 {
        let idle = self.tear_down_idle(m, f, count, 0, now);
        let mem = self.memory_mb[f as usize];
        let manager = &mut self.managers[m];
        let Some(pool) = manager.pools.get_mut(&f) else {
            return idle;
        };
        let busy = (count - idle).min(pool.pinned);
        pool.pinned -= busy;
        manager.pinned_mb -= u64::from(busy) * mem;
        pool.doomed += busy;
        idle + busy
    }

    /// Frees the memory of one of `f`'s pinned environments on `m`, gone at `now`.
    fn destroy_pinned(&mut self, m: usize, f: u32, now: u64) {
        let mem = self.memory_mb[f as usize];
        let created = self
            .pinned_since
            .get_mut(&(m, f))
            .and_then(Vec::pop)
            .unwrap_or(now);
        self.mb_ms += u128::from(mem) * u128::from(now - created);
        self.managers[m].used_mb -= mem;
    }

    /// Environment memory held from the start until `end`, in GB·s.
    pub fn gb_seconds(&self, end: u64) -> f64 {
        let mut mb_ms = self.mb_ms;
        for (m, manager) in self.managers.iter().enumerate() {
            if manager.alive {
                for (&f, pool) in &manager.pools {
                    mb_ms += self.held_until(m, f, pool, end);
                }
            }
        }
        mb_ms as f64 / 1024.0 / 1000.0
    }

    /// Memory held by the environments of `f` on `m` (in `pool`) from their making until
    /// `end` (idle ones at most until their keep-alive runs out), in MB·ms.
    fn held_until(&self, m: usize, f: u32, pool: &Pool, end: u64) -> u128 {
        let mem = u128::from(self.memory_mb[f as usize]);
        let idle = pool
            .idle
            .iter()
            .map(|i| end.min(i.since + self.keep_alive_ms).max(i.created) - i.created);
        let pinned = self.pinned_since.get(&(m, f)).into_iter().flatten();
        let busy = pool
            .busy_created
            .iter()
            .chain(pinned)
            .map(|&c| end.saturating_sub(c));
        idle.chain(busy).map(|ms| mem * u128::from(ms)).sum()
    }

    /// Frees `mem` MB on `m`: expired environments first, then idle unpinned ones, least
    /// recently used first. Returns whether there is room now.
    fn make_room(&mut self, m: usize, mem: u64, now: u64) -> bool {
        let keep_alive = self.keep_alive_ms;
        let manager = &mut self.managers[m];
        // A pool resized below what it holds has no room until environments go.
        let free = manager.capacity_mb.saturating_sub(manager.used_mb);
        if free >= mem {
            return true;
        }
        if free + manager.idle_mb < mem {
            return false;
        }
        for (&f, pool) in manager.pools.iter_mut() {
            let (freed, gone) = expire(pool, now, keep_alive);
            let fm = self.memory_mb[f as usize];
            self.mb_ms += u128::from(fm) * gone;
            manager.used_mb -= freed * fm;
            manager.idle_mb -= freed * fm;
        }
        while manager.capacity_mb.saturating_sub(manager.used_mb) < mem {
            let oldest = manager
                .pools
                .iter()
                .filter_map(|(&f, p)| p.idle.front().map(|i| (i.since, f)))
                .min();
            let Some((_, f)) = oldest else { return false };
            let pool = manager
                .pools
                .get_mut(&f)
                .expect("pool with an idle environment");
            let idle = pool.idle.pop_front().expect("idle environment");
            let fm = self.memory_mb[f as usize];
            self.mb_ms += u128::from(fm) * u128::from(now - idle.created);
            manager.used_mb -= fm;
            manager.idle_mb -= fm;
        }
        true
    }
}

/// Drops the environments of `pool` whose keep-alive ran out by `now`. Returns how many went
/// and their lifetimes summed in ms.
fn expire(pool: &mut Pool, now: u64, keep_alive: u64) -> (u64, u128) {
    let mut freed = 0;
    let mut lifetime = 0u128;
    while let Some(idle) = pool.idle.front() {
        let end = idle.since + keep_alive;
        if end > now {
            break;
        }
        lifetime += u128::from(end - idle.created);
        pool.idle.pop_front();
        freed += 1;
    }
    (freed, lifetime)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn fleet() -> Fleet {
        Fleet::new(2, 1024, vec![256, 512], 10 * MIN)
    }

    #[test]
    fn idle_pinned_environments_are_counted_until_a_call_takes_one() {
        let mut f = fleet();
        assert_eq!(f.pin(0, 0, 3, 0), 3);
        assert_eq!((f.pinned_idle(0), f.pinned_idle(1)), (3, 0));
        assert_eq!(f.start_warm(0, 0, 1), Start::Warm { pinned: true });
        assert_eq!(f.pinned_idle(0), 2);
        f.finish(0, 0, true, 2);
        assert_eq!(f.pinned_idle(0), 3);
    }

    #[test]
    fn warm_within_keep_alive_cold_after() {
        let mut f = fleet();
        assert_eq!(f.start(0, 0, 0, true), Start::Cold);
        f.finish(0, 0, false, 100);
        assert_eq!(
            f.start(0, 0, 100 + 10 * MIN - 1, true),
            Start::Warm { pinned: false }
        );
        f.finish(0, 0, false, 20 * MIN);
        assert_eq!(
            f.start(0, 0, 30 * MIN, true),
            Start::Cold,
            "expired exactly at the keep-alive"
        );
        assert_eq!(
            f.start(1, 0, 30 * MIN, true),
            Start::Cold,
            "environments are per manager"
        );
    }

    #[test]
    fn has_room_says_what_an_offer_would_find() {
        use rand::Rng;
        let mut f = Fleet::new(3, 1024, vec![128, 256, 512], MIN);
        f.pin(0, 1, 2, 0);
        f.pin(2, 2, 1, 0);
        let mut rng = crate::rng::stream(1, 1);
        let mut running: Vec<(usize, u32, bool)> = Vec::new();
        let (mut full, mut started) = (0, 0);
        for step in 0..20_000u64 {
            let now = step * 50;
            if !running.is_empty() && rng.random_bool(0.5) {
                let (m, func, pinned) = running.swap_remove(rng.random_range(0..running.len()));
                f.finish(m, func, pinned, now);
                continue;
            }
            let (m, func) = (rng.random_range(0..3), rng.random_range(0..3u32));
            if rng.random_bool(0.05) {
                // The host's side: re-pin, drain, reclaim.
                match rng.random_range(0..3) {
                    0 => _ = f.pin(m, func, rng.random_range(0..4), now),
                    1 => _ = f.tear_down_idle(m, func, 1, 100, now),
                    _ => _ = f.reclaim(m, func, 1, now),
                }
                let pinned: u64 = f.managers[m]
                    .pools
                    .iter()
                    .map(|(&g, pool)| u64::from(pool.pinned) * f.memory_mb(g))
                    .sum();
                assert_eq!(f.unpinned_mb(m), 1024 - pinned, "step {step}");
                continue;
            }
            let pinned_ok = rng.random_bool(0.5);
            let room = f.has_room(m, func, pinned_ok);
            match f.start(m, func, now, pinned_ok) {
                Start::Full => {
                    assert!(!room, "step {step}: room said, throttled");
                    full += 1;
                }
                Start::Warm { pinned } => {
                    assert!(room, "step {step}: no room said, warm start");
                    running.push((m, func, pinned));
                    started += 1;
                }
                Start::Cold => {
                    assert!(room, "step {step}: no room said, cold start");
                    running.push((m, func, false));
                    started += 1;
                }
            }
        }
        assert!(
            full > 100 && started > 100,
            "both outcomes seen: {full} full, {started} started"
        );
    }

    #[test]
    fn memory_limits_and_lru_eviction() {
        let mut f = fleet();
        assert_eq!(f.start(0, 1, 0, true), Start::Cold);
        assert_eq!(f.start(0, 1, 0, true), Start::Cold);
        assert_eq!(f.start(0, 0, 0, true), Start::Full, "1024 MB all busy");
        f.finish(0, 1, false, 5);
        assert_eq!(
            f.start(0, 0, 6, true),
            Start::Cold,
            "the idle 512 MB one is evicted"
        );
        assert_eq!(f.start(0, 1, 7, true), Start::Full);
    }

    #[test]
    fn pinned_environments_serve_warm_and_never_expire() {
        let mut f = fleet();
        assert_eq!(f.pin(0, 0, 2, 0), 2);
        assert_eq!(f.start(0, 0, 100 * MIN, true), Start::Warm { pinned: true });
        assert_eq!(f.start(0, 0, 100 * MIN, true), Start::Warm { pinned: true });
        assert_eq!(f.start(0, 0, 100 * MIN, true), Start::Cold);
        f.finish(0, 0, true, 101 * MIN);
        assert_eq!(f.start(0, 0, 200 * MIN, true), Start::Warm { pinned: true });
        assert_eq!(
            f.pin(0, 0, 5, 0),
            3,
            "memory: 4 × 256 MB, one busy unpinned"
        );
    }

    #[test]
    fn calls_kept_off_pinned_environments_start_cold() {
        let mut f = fleet();
        assert_eq!(f.pin(0, 0, 1, 0), 1);
        assert_eq!(f.start(0, 0, 1, false), Start::Cold);
        assert_eq!(f.start_warm(0, 0, 2), Start::Warm { pinned: true });
        assert_eq!(
            f.start_warm(0, 0, 3),
            Start::Full,
            "the unpinned one is busy"
        );
    }

    #[test]
    fn memory_time_integral() {
        let mut f = fleet();
        assert_eq!(f.start(0, 1, 0, true), Start::Cold);
        f.finish(0, 1, false, 1000);
        // 512 MB from 0 until the keep-alive ends at 1000 + 10 min.
        let want = 512.0 * (1000.0 + 600_000.0) / 1024.0 / 1000.0;
        assert!((f.gb_seconds(100 * MIN) - want).abs() < 1e-9);
        assert!((f.gb_seconds(500) - 512.0 * 500.0 / 1024.0 / 1000.0).abs() < 1e-9);
    }

    #[test]
    fn a_drain_tears_down_only_environments_idle_long_enough() {
        let mut f = fleet();
        assert_eq!(f.pin(0, 0, 4, 0), 4, "4 × 256 MB: the manager is full");
        assert_eq!(f.start(0, 1, 0, true), Start::Full);
        assert_eq!(f.start(0, 0, 1000, true), Start::Warm { pinned: true });
        assert_eq!(f.start(0, 0, 1000, true), Start::Warm { pinned: true });
        f.finish(0, 0, true, 10_000);
        // Idle since 0, 0 and 10 s; one busy.
        assert_eq!(
            f.tear_down_idle(0, 0, 4, MIN, 30_000),
            0,
            "none idle a minute yet"
        );
        assert_eq!(
            f.tear_down_idle(0, 0, 4, MIN, MIN),
            2,
            "the two idle since 0"
        );
        assert_eq!(f.pinned(0, 0), (2, 1));
        assert_eq!(f.tear_down_idle(0, 0, 1, MIN, 2 * MIN), 1);
        assert_eq!(
            f.tear_down_idle(0, 0, 4, 0, 100 * MIN),
            0,
            "the busy one stays"
        );
        assert_eq!(f.pinned(0, 0), (1, 1));
        assert_eq!(
            f.start(0, 1, 2 * MIN, true),
            Start::Cold,
            "their memory is free"
        );
    }

    #[test]
    fn reclaim_takes_idle_environments_at_once_and_busy_ones_as_their_calls_end() {
        let mut f = fleet();
        assert_eq!(f.pin(0, 0, 4, 0), 4);
        assert_eq!(f.start(0, 0, 1, true), Start::Warm { pinned: true });
        assert_eq!(f.start(0, 0, 1, true), Start::Warm { pinned: true });
        assert_eq!(f.reclaim(0, 0, 3, 2), 3, "two idle, one busy");
        assert_eq!(
            f.pinned(0, 0),
            (1, 1),
            "one kept, busy; the doomed one not counted"
        );
        assert_eq!(
            f.start(0, 1, 3, true),
            Start::Cold,
            "the idle two freed 512 MB"
        );
        assert_eq!(
            f.start(0, 0, 3, true),
            Start::Full,
            "the doomed one holds memory"
        );
        f.finish(0, 0, true, 4);
        assert_eq!(f.pinned(0, 0), (1, 1), "the call's environment went");
        assert_eq!(f.start(0, 0, 5, true), Start::Cold, "its memory is free");
        f.finish(0, 0, true, 6);
        assert_eq!(f.pinned(0, 0), (1, 0), "the kept one is idle again");
        assert_eq!(f.reclaim(0, 0, 5, 7), 1, "as many as there are");
        // 256 MB pinned until 2 (two), 4 and 7; 512 MB busy from 3 and 256 MB from 5, to 7.
        let want = (256.0 * (2.0 + 2.0 + 4.0 + 7.0 + 2.0) + 512.0 * 4.0) / 1024.0 / 1000.0;
        assert!(
            (f.gb_seconds(7) - want).abs() < 1e-12,
            "{}",
            f.gb_seconds(7)
        );
    }
}
