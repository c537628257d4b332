//! CH-RLU: consistent hashing with random load updates (Fuerst & Sharma, "Locality-aware
//! Load-Balancing for Serverless Clusters", HPDC 2022), modelled from the paper and the
//! authors' public code, read for understanding and not copied: their OpenWhisk
//! load balancer (repository `aFuerst/openwhisk-balancing`, `core/controller/src/main/scala/
//! org/apache/openwhisk/core/loadBalancer/RLULFSharding.scala` with the load state of
//! `RedisAwareLoadBalancer.scala`) and the CH-RLU balancer of the Ilúvatar control plane
//! (repository `COS-IN/iluvatar-faas`, `src/Ilúvatar/iluvatar_controller_library/src/
//! services/load_balance/ch_rlu.rs`).
//!
//! Each modelling choice and its source:
//!
//! - **Home and chain.** A function's home is the first manager on a consistent-hash ring
//!   from the function's hash; its chain is the home and the next [`CHAIN`] distinct managers
//!   clockwise (paper: home plus a fixed forwarding chain; `RLULFSharding.schedulePop` walks
//!   `maxChainLen` steps past the home; Ilúvatar's `get_with_replicas`). The ring is the
//!   crate's, the one `consistent-hash` uses, so both rivals share homes.
//! - **Load.** What the controller knows of a manager: its load report, the 1-minute load
//!   average over its cores (`LoadAvg` in `RedisAwareLoadBalancer.getLoad`, "load average /
//!   cores"; Ilúvatar's worker status, `load_avg_1minute / num_system_cores`). The simulator
//!   has no run queue, so a manager's running calls stand for its runnable tasks, averaged as
//!   the kernel does (every sample `L ← L·e^(−Δ/60 s) + n·(1 − e^(−Δ/60 s))`), over the
//!   manager's cores (the fleet's `--cores`, the cores the simulator shares among the calls).
//!   The host sends a report every `--load-report-ms` (default 5 s, the kernel's own sampling
//!   period); every frontend reads the same report, stale until the next.
//! - **Overload bound.** A manager is overloaded for function `f` when its load exceeds
//!   `min(b · r_f, b_max)`, `b =` [`B`], `b_max =` [`B_MAX`], with `r_f` the ratio of `f`'s
//!   cold to warm time (paper's locality-sensitive bound: a function whose cold start costs
//!   more tolerates more load at home before it moves; the platform's per-function runtime
//!   statistics, `runTimes` (warm, cold) in `RedisAwareLoadBalancer`). Here the warm time is
//!   the function's mean duration in the replay and the cold time adds the platform's cold
//!   start.
//! - **Popular functions and random load updates.** The functions a frontend sees most often
//!   (mean inter-arrival time, an exponential average weighting the newest gap by 0.9, at or
//!   below the 20th percentile over the functions it has seen twice; recomputed at each load
//!   report: `updateShardsPopular`, `updatePopularity`) check each chain member's load plus a
//!   random increment drawn from a normal distribution with mean `min(10 · λ / (n · cores),
//!   0.2)` and standard deviation 0.1 (λ: the median function's arrival rate at this
//!   frontend, `n` managers; `updatePopularity`'s `extra_anticip_load`), and the frontend adds
//!   that increment to its copy of the chosen manager's load (Ilúvatar's `get_worker`), so
//!   the calls of popular functions between two reports do not all herd onto one manager.
//!   Other functions check the reported load as it is (`scheduleUnpop`).
//! - **After the chain.** When every chain member is overloaded, the call goes to the least
//!   loaded manager of the fleet in this frontend's view, which then adds a random increment
//!   to it (`leastLoad` and `incrementLoad` in `RLULFSharding`).
//! - **Memory slots.** The controller keeps memory slots for each manager itself and takes
//!   a chain member only if it is under the bound *and* its slots there have room for the
//!   call (`schedulePop`/`scheduleUnpop`: `tryAcquireConcurrent` after the load check), so a
//!   member it counts as full costs no round trip; the least-loaded pick after the chain is
//!   forced, room or not (`forceAcquireConcurrent`). The slots are OpenWhisk's, the
//!   controller's share of each manager's memory ([`super::Slots`]: the memory over the
//!   number of controllers, as stock OpenWhisk divides it; the authors' balancer divides by
//!   a constant 4 in one version and by the number of invokers in another). A call the
//!   manager cannot start is throttled; the frontend then chooses again among the managers
//!   not yet tried, under the retry bound every router has, and gives up once every manager
//!   was tried. `ch-rlu-oracle` checks each manager's true fullness instead
//!   ([`Fleet::has_room`]), which no controller knows.
//!
//! Not modelled: a rule of one version of the authors' OpenWhisk balancer (commit
//! 0c0ef24) that runs a function with a warm time under a second at home whenever home has
//! a slot (`shortWarmTime`; unused in later versions, and in neither the paper nor
//! Ilúvatar), SHARDS sampling (the paper samples arrivals to estimate popularity cheaply;
//! counting every arrival estimates the same thing exactly), GPUs, and the controller
//! waking invokers.

use rand_distr::{Distribution, Normal};

use arcroute::{Ring, RingConfig};

use super::{fleet_ids, index, manager_slots, MemoryView, Setup, Slots, Strategy, Ticket};
use crate::fleet::Fleet;
use crate::rng::{self, SimRng};

/// Managers of a function's chain after its home.
pub(super) const CHAIN: usize = 3;
/// The bound's factor on the cold-to-warm ratio.
pub(super) const B: f64 = 1.2;
/// The bound's ceiling.
pub(super) const B_MAX: f64 = 6.0;
/// Popular: inter-arrival time at or below this percentile over the functions seen.
const POPULAR_PERCENTILE: f64 = 20.0;
/// Weight of the newest gap in a function's mean inter-arrival time.
const IAT_NEWEST: f64 = 0.9;
/// The random load increment: its standard deviation and the ceiling of its mean.
const NOISE_SD: f64 = 0.1;
const NOISE_MEAN_MAX: f64 = 0.2;
/// The load average's window.
const LOAD_AVG_MS: f64 = 60_000.0;

/// What one frontend (controller) knows.
#[derive(Debug)]
struct View {
    /// Each manager's load: the last report, plus this frontend's random increments since.
    load: Vec<f64>,
    /// Each function's last arrival here, and its mean inter-arrival time in ms.
    last_at: Vec<Option<u64>>,
    iat: Vec<Option<f64>>,
    /// Each function's popularity as of the last report.
    popular: Vec<bool>,
    /// The random load increment; `None` until a report finds an arrival rate.
    noise: Option<Normal<f64>>,
}

/// `ch-rlu`: see the module docs.
pub(super) struct ChRlu {
    ring: Ring,
    seed: u64,
    starts: Vec<u64>,
    /// Each function's home and chain.
    chains: Vec<Vec<usize>>,
    /// Each function's overload bound.
    bounds: Vec<f64>,
    /// Each manager's load average per core, as of the last report.
    load_avg: Vec<f64>,
    /// Cores of a manager, which the load average is divided by (the fleet's `cores`).
    cores: f64,
    reported_at: Option<u64>,
    views: Vec<View>,
    rng: SimRng,
    slots: Slots,
}

impl ChRlu {
    pub(super) fn new(s: &Setup<'_>, memory: MemoryView) -> Result<Self, arcroute::Error> {
        let seed = s.sim.seed;
        let ring = Ring::new(RingConfig::default().with_seed(seed), fleet_ids(s.fleet))?;
        let starts: Vec<u64> = s
            .tasks
            .iter()
            .map(|&t| ring.unreserved_start(t.into()))
            .collect();
        let cold_ms = s.sim.cold_start_ms as f64;
        let bounds = s
            .warm_ms
            .iter()
            .map(|&warm| bound(warm, warm + cold_ms))
            .collect();
        let (slots, functions) = (manager_slots(s), s.tasks.len());
        let view = || View {
            load: vec![0.0; slots],
            last_at: vec![None; functions],
            iat: vec![None; functions],
            popular: vec![false; functions],
            noise: None,
        };
        let mut chrlu = Self {
            ring,
            seed,
            starts,
            chains: Vec::new(),
            bounds,
            load_avg: vec![0.0; slots],
            cores: f64::from(s.sim.cores.max(1)),
            reported_at: None,
            views: (0..s.sim.frontends).map(|_| view()).collect(),
            rng: rng::stream(seed, 11),
            slots: Slots::new(s, memory),
        };
        chrlu.chain_all();
        Ok(chrlu)
    }

    fn chain_all(&mut self) {
        let ring = &self.ring;
        let len = CHAIN as u32 + 1;
        self.chains = self
            .starts
            .iter()
            .map(|&start| ring.arc(start, len).map(index).collect())
            .collect();
    }

    /// Where `frontend` sends a call of `f`, among the managers `open` lets it try: the
    /// first chain member under the bound where it sees room, else the least loaded
    /// (forced, room or not, in either memory view). The chosen manager's load in its view
    /// takes the random increment drawn for it: a chain member for a popular function, the
    /// least loaded for any.
    fn choose(
        &mut self,
        frontend: usize,
        f: u32,
        fleet: &Fleet,
        open: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let view = &mut self.views[frontend];
        let bound = self.bounds[f as usize];
        let popular = view.popular[f as usize];
        for &m in self.chains[f as usize].iter().filter(|&&m| open(m)) {
            let noise = match (popular, view.noise) {
                (true, Some(noise)) => noise.sample(&mut self.rng),
                _ => 0.0,
            };
            if view.load[m] + noise <= bound && self.slots.room(frontend, m, f, fleet) {
                view.load[m] += noise;
                return Some(m);
            }
        }
        // Least loaded in this view; ties to the first in fleet order.
        let least = fleet
            .alive()
            .iter()
            .copied()
            .filter(|&m| open(m))
            .min_by(|&a, &b| view.load[a].total_cmp(&view.load[b]))?;
        if let Some(noise) = view.noise {
            view.load[least] += noise.sample(&mut self.rng);
        }
        Some(least)
    }
}

/// `min(b · cold/warm, b_max)`; a function with no warm time yet takes the ceiling.
fn bound(warm_ms: f64, cold_ms: f64) -> f64 {
    if warm_ms > 0.0 {
        (B * cold_ms / warm_ms).min(B_MAX)
    } else {
        B_MAX
    }
}

impl View {
    /// Notes an arrival of `f` at `now`.
    fn arrival(&mut self, f: u32, now: u64) {
        let fi = f as usize;
        if let Some(last) = self.last_at[fi] {
            let gap = now.saturating_sub(last) as f64;
            let old = self.iat[fi].unwrap_or(gap);
            self.iat[fi] = Some(IAT_NEWEST * gap + (1.0 - IAT_NEWEST) * old);
        }
        self.last_at[fi] = Some(now);
    }

    /// Takes the new report and recomputes popularity and the random increment.
    fn refresh(&mut self, load_avg: &[f64], managers: usize, cores: f64) {
        self.load.copy_from_slice(load_avg);
        let mut iats: Vec<f64> = self.iat.iter().flatten().copied().collect();
        if iats.is_empty() {
            return;
        }
        iats.sort_by(f64::total_cmp);
        let threshold = nearest_rank(&iats, POPULAR_PERCENTILE);
        for (popular, iat) in self.popular.iter_mut().zip(&self.iat) {
            *popular = iat.is_some_and(|iat| iat <= threshold);
        }
        let median_ms = nearest_rank(&iats, 50.0);
        let rate = if median_ms > 0.0 {
            1000.0 / median_ms
        } else {
            f64::INFINITY
        };
        let mean = (10.0 * rate / (managers.max(1) as f64 * cores)).min(NOISE_MEAN_MAX);
        self.noise = Normal::new(mean, NOISE_SD).ok();
    }
}

/// The `p`-th percentile (nearest rank) of sorted, non-empty `values`.
fn nearest_rank(values: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

impl Strategy for ChRlu {
    fn route(&mut self, frontend: usize, f: u32, now: u64, fleet: &Fleet) -> Option<Ticket> {
        self.views[frontend].arrival(f, now);
        let m = self.choose(frontend, f, fleet, |_| true)?;
        let mut ticket = Ticket::first(m);
        ticket.frontend = frontend;
        self.slots.point(&mut ticket, m, f, fleet);
        Some(ticket)
    }

    fn throttled(&mut self, ticket: &mut Ticket, f: u32, fleet: &Fleet) -> bool {
        let tried = std::mem::take(&mut ticket.tried);
        let next = self.choose(ticket.frontend, f, fleet, |m| !tried.contains(m));
        ticket.tried = tried;
        let Some(next) = next else { return false };
        self.slots.point(ticket, next, f, fleet);
        true
    }

    fn load_report(&mut self, fleet: &Fleet, now: u64) -> Result<(), arcroute::Error> {
        let elapsed = self.reported_at.map_or(0, |at| now.saturating_sub(at));
        let keep = (-(elapsed as f64) / LOAD_AVG_MS).exp();
        for &m in fleet.alive() {
            let running = f64::from(fleet.managers[m].busy) / self.cores;
            self.load_avg[m] = self.load_avg[m] * keep + running * (1.0 - keep);
        }
        self.reported_at = Some(now);
        let managers = fleet.alive().len();
        for view in &mut self.views {
            view.refresh(&self.load_avg, managers, self.cores);
        }
        Ok(())
    }

    fn membership_changed(&mut self, fleet: &Fleet) -> Result<(), arcroute::Error> {
        self.ring = Ring::new(RingConfig::default().with_seed(self.seed), fleet_ids(fleet))?;
        // A new manager has load 0 until it reports.
        self.chain_all();
        Ok(())
    }

    fn reserved_placement(&self, f: u32, envs: u32, _: &Fleet) -> Vec<(usize, u32)> {
        // At home and the managers after it on the ring, as for consistent hashing.
        let walk = self.ring.arc(self.starts[f as usize], u32::MAX).map(index);
        walk.map(|m| (m, envs)).collect()
    }

    fn placement(&self, f: u32, _: &Fleet) -> Vec<usize> {
        self.chains[f as usize].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::Tiny;
    use super::super::{Strategy, StrategyKind};
    use super::*;

    const REPORT_MS: u64 = 5000;

    /// Reports every 5 s over `(from, to]`, so the load averages settle.
    fn reports(s: &mut dyn Strategy, t: &Tiny, from: u64, to: u64) {
        for at in (from + REPORT_MS..=to).step_by(REPORT_MS as usize) {
            s.load_report(&t.fleet, at).unwrap();
        }
    }

    /// Starts `n` calls of function 1 on `m` (the load the other calls make).
    fn load(t: &mut Tiny, m: usize, n: u32) {
        for _ in 0..n {
            t.fleet.start(m, 1, 0, false);
        }
    }

    /// 8 managers, one frontend and two functions of 1 s warm, CH-RLU on them with a first load
    /// report taken, and function 0's chain (home first).
    fn reported() -> (Tiny, Box<dyn Strategy>, Vec<usize>) {
        let t = Tiny::new(8, 1, &[1000.0, 1000.0]);
        let mut s = t.build(StrategyKind::ChRlu);
        s.load_report(&t.fleet, 0).unwrap();
        let chain = s.placement(0, &t.fleet);
        (t, s, chain)
    }

    fn route(s: &mut dyn Strategy, t: &Tiny, now: u64) -> usize {
        s.route(0, 0, now, &t.fleet).unwrap().manager
    }

    #[test]
    fn the_bound_is_the_cold_to_warm_ratio_times_b_up_to_b_max() {
        assert!((bound(1000.0, 1500.0) - 1.8).abs() < 1e-12);
        assert!(
            (bound(100.0, 600.0) - B_MAX).abs() < 1e-12,
            "1.2 × 6 capped at 6"
        );
        assert_eq!(bound(0.0, 500.0), B_MAX);
    }

    #[test]
    fn calls_go_home_then_along_the_chain_then_to_the_least_loaded() {
        // Function 0 runs 1 s warm, 1.5 s cold: overloaded past a load of 1.8 per core.
        let (mut t, mut s, chain) = reported();
        assert_eq!(chain.len(), 1 + CHAIN);
        assert_eq!(
            route(s.as_mut(), &t, 0),
            chain[0],
            "home while under the bound"
        );
        // 40 calls on 16 cores: 2.5 > 1.8 once the load average has caught up.
        load(&mut t, chain[0], 40);
        reports(s.as_mut(), &t, 0, 600_000);
        assert_eq!(route(s.as_mut(), &t, 600_000), chain[1]);
        load(&mut t, chain[1], 40);
        load(&mut t, chain[2], 40);
        reports(s.as_mut(), &t, 600_000, 1_200_000);
        assert_eq!(
            route(s.as_mut(), &t, 1_200_000),
            chain[3],
            "the last of the chain"
        );
        load(&mut t, chain[3], 40);
        // Past the chain: the least loaded manager, 10 calls against 20 everywhere else.
        let rest: Vec<usize> = (0..8).filter(|m| !chain.contains(m)).collect();
        for &m in &rest {
            load(&mut t, m, if m == rest[2] { 10 } else { 20 });
        }
        reports(s.as_mut(), &t, 1_200_000, 1_800_000);
        assert_eq!(route(s.as_mut(), &t, 1_800_000), rest[2]);
    }

    #[test]
    fn a_chain_member_without_a_slot_is_passed_over_in_process() {
        let (mut t, mut s, chain) = reported();
        // Home and the next member have no memory slot: the call goes to the third member
        // at once, under the bound there, and starts (no throttle).
        t.fleet.resize(chain[0], 0);
        t.fleet.resize(chain[1], 0);
        assert_eq!(t.call(s.as_mut(), 0, 0, 1).manager, chain[2]);
        assert_eq!(t.fleet.managers[chain[2]].busy, 1);
        // 20 calls everywhere (1.25 a core, under the bound), 5 on one manager off the
        // chain; then no chain member has a slot: the least loaded, forced.
        let rest: Vec<usize> = (0..8).filter(|m| !chain.contains(m)).collect();
        for m in 0..8 {
            t.fleet.resize(m, 32 * 1024);
            load(&mut t, m, if m == rest[1] { 5 } else { 20 });
        }
        reports(s.as_mut(), &t, 0, 600_000);
        for &m in &chain {
            t.fleet.resize(m, 0);
        }
        assert_eq!(route(s.as_mut(), &t, 600_000), rest[1]);
        // Reserved environments: home and the managers after it.
        let placed = s.reserved_placement(0, 3, &t.fleet);
        assert_eq!(
            placed[..3].iter().map(|p| p.0).collect::<Vec<_>>(),
            chain[..3]
        );
    }

    #[test]
    fn the_load_is_per_core_of_the_fleet_setting() {
        // 24 calls at home: 1.5 per core on 16 cores (under the bound of 1.8), 3 on 8.
        for (cores, moves) in [(16, false), (8, true)] {
            let mut t = Tiny::new(8, 1, &[1000.0, 1000.0]);
            t.sim.cores = cores;
            let mut s = t.build(StrategyKind::ChRlu);
            let chain = s.placement(0, &t.fleet);
            load(&mut t, chain[0], 24);
            s.load_report(&t.fleet, 0).unwrap();
            reports(s.as_mut(), &t, 0, 600_000);
            let home = route(s.as_mut(), &t, 600_000) == chain[0];
            assert_eq!(home, !moves, "{cores} cores");
        }
    }

    #[test]
    fn the_report_stays_in_use_until_the_next_and_the_load_average_lags() {
        let mut t = Tiny::new(8, 1, &[1000.0, 1000.0]);
        let mut s = t.build(StrategyKind::ChRlu);
        let chain = s.placement(0, &t.fleet);
        load(&mut t, chain[0], 40);
        s.load_report(&t.fleet, 0).unwrap();
        reports(s.as_mut(), &t, 0, 600_000);
        assert_eq!(route(s.as_mut(), &t, 600_000), chain[1]);
        // The home's calls end, but no report says so yet.
        for _ in 0..40 {
            t.fleet.finish(chain[0], 1, false, 600_001);
        }
        assert_eq!(t.fleet.managers[chain[0]].busy, 0);
        assert_eq!(route(s.as_mut(), &t, 604_999), chain[1], "the stale report");
        // Ten seconds on, the 1-minute load average is still 2.5 · e^(−1/6) ≈ 2.1.
        reports(s.as_mut(), &t, 600_000, 610_000);
        assert_eq!(route(s.as_mut(), &t, 610_000), chain[1]);
        // A minute on it is 2.5 · e^(−1) ≈ 0.92: home again.
        reports(s.as_mut(), &t, 610_000, 660_000);
        assert_eq!(route(s.as_mut(), &t, 660_000), chain[0]);
    }

    #[test]
    fn popular_functions_add_random_load_to_the_managers_they_pick() {
        // Function 0 arrives every 10 ms, function 1 every second: 0 is popular.
        let t = Tiny::new(8, 1, &[1000.0, 1000.0]);
        let mut s = ChRlu::new(&t.setup(), MemoryView::Shares).unwrap();
        for k in 0..100u64 {
            s.views[0].arrival(0, k * 10);
            s.views[0].arrival(1, k * 1000);
        }
        s.load_report(&t.fleet, 100_000).unwrap();
        let view = &s.views[0];
        assert_eq!(view.popular, [true, false]);
        let noise = view.noise.expect("an arrival rate");
        assert!(noise.mean() > 0.0 && (noise.std_dev() - NOISE_SD).abs() < 1e-12);
        let home = s.chains[0][0];
        let before = s.views[0].load[home];
        s.route(0, 0, 100_000, &t.fleet).unwrap();
        assert_ne!(s.views[0].load[home], before, "the frontend's view moved");
        // An unpopular function's pick leaves the view as reported.
        let other = s.chains[1][0];
        let before = s.views[0].load[other];
        s.route(0, 1, 100_000, &t.fleet).unwrap();
        assert_eq!(s.views[0].load[other], before);
    }
}
