//! The host's actions on the fleet: provisioning reserved environments where the strategy
//! places them, cutting reservations (draining or at once), and membership changes.

use std::collections::HashMap;

use rand::Rng as _;

use crate::fleet::Fleet;
use crate::rng;
use crate::scenario::{Cut, CutMode};
use crate::strategy::{self, Strategy};
use crate::workload::Workload;

/// What the host knows of the reservations: their limits now (a cut lowers them) and where
/// each reserved function's pinned environments are.
#[derive(Debug)]
pub struct Host {
    /// `(function, limit)`, in the order the reservations were given.
    limits: Vec<(u32, u32)>,
    /// Function → `(manager, environments)` where its pinned environments are.
    pinned: HashMap<u32, Vec<(usize, u32)>>,
    /// Most pinned environments of one function on one manager, for every strategy.
    per_manager: u32,
}

impl Host {
    /// A host holding `reservations` (`(function, environments)`), none placed yet, that
    /// pins at most `per_manager` of one function's environments on one manager.
    pub fn new(reservations: &[(u32, u32)], per_manager: u32) -> Self {
        Self {
            limits: reservations.to_vec(),
            pinned: HashMap::new(),
            per_manager,
        }
    }

    /// The reservations' limits now.
    pub fn limits(&self) -> &[(u32, u32)] {
        &self.limits
    }

    /// Where each reserved function's pinned environments are.
    pub fn pinned(&self) -> &HashMap<u32, Vec<(usize, u32)>> {
        &self.pinned
    }

    /// Reserved environments of `f` now, over the managers it was placed on.
    pub fn pinned_total(&self, fleet: &Fleet, f: u32) -> u32 {
        self.pinned
            .get(&f)
            .into_iter()
            .flatten()
            .map(|&(m, _)| fleet.pinned(m, f).0)
            .sum()
    }

    /// Reserved environments of all functions now.
    pub fn pinned_all(&self, fleet: &Fleet) -> u64 {
        self.pinned
            .keys()
            .map(|&f| u64::from(self.pinned_total(fleet, f)))
            .sum()
    }

    /// Places each reservation's pinned environments where the strategy says, as far as
    /// memory and the cap per manager allow, continuing along its list with what does not
    /// fit; unpins what is no longer wanted, and tells the strategy how many were placed.
    /// Returns how many were placed in all.
    pub fn provision(&mut self, fleet: &mut Fleet, strat: &mut dyn Strategy, now: u64) -> u64 {
        let mut total = 0;
        for &(f, envs) in &self.limits {
            let mut left = envs;
            let mut placed: Vec<(usize, u32)> = Vec::new();
            for (m, target) in strat.reserved_placement(f, envs, fleet) {
                if left == 0 {
                    break;
                }
                let want = target.min(left).min(self.per_manager);
                let got = fleet.pin(m, f, want, now);
                if got > 0 {
                    placed.push((m, got));
                }
                left -= got.min(left);
            }
            for &(m, _) in self.pinned.get(&f).into_iter().flatten() {
                if !placed.iter().any(|&(p, _)| p == m) {
                    fleet.pin(m, f, 0, now);
                }
            }
            if let Some(feedback) = strat.feedback() {
                feedback.provisioned(f, envs - left);
            }
            total += placed.iter().map(|&(_, n)| u64::from(n)).sum::<u64>();
            self.pinned.insert(f, placed);
        }
        total
    }

    /// Cuts every reservation to `cut.percent` of its size (rounded down) and tells the
    /// strategy. A draining host leaves the environments in place: routers keep admitting
    /// against what is ready, and [`Host::drain`] tears the excess down. An immediate host
    /// reclaims the excess at once (idle environments now, busy ones as their call ends) and
    /// reports only what remains ready.
    pub fn cut(&mut self, fleet: &mut Fleet, strat: &mut dyn Strategy, cut: Cut) {
        for i in 0..self.limits.len() {
            let (f, limit) = self.limits[i];
            // At most the limit, since the percentage is at most 100.
            let limit = u32::try_from(u64::from(limit) * u64::from(cut.percent.min(100)) / 100)
                .unwrap_or(limit);
            self.limits[i].1 = limit;
            if let Some(feedback) = strat.feedback() {
                feedback.cut(f, limit);
            }
            if cut.mode == CutMode::Immediate {
                for (m, excess) in self.excess(fleet, strat, f, limit) {
                    fleet.reclaim(m, f, excess, cut.at_ms);
                }
                self.refresh(fleet, f);
            }
            let ready = self.pinned_total(fleet, f);
            if let Some(feedback) = strat.feedback() {
                feedback.set_ready(f, ready);
            }
        }
    }

    /// One look of a draining host at `now`: tears down each reservation's excess
    /// environments that have been idle for `idle_ms`, and lowers `ready` by as many.
    /// Environments that are busy, or were busy a moment ago, keep serving Reserved calls
    /// meanwhile. Returns whether any reservation still has more environments than its limit.
    pub fn drain(
        &mut self,
        fleet: &mut Fleet,
        strat: &mut dyn Strategy,
        idle_ms: u64,
        now: u64,
    ) -> bool {
        let mut draining = false;
        for i in 0..self.limits.len() {
            let (f, limit) = self.limits[i];
            let mut gone = 0;
            for (m, excess) in self.excess(fleet, strat, f, limit) {
                gone += fleet.tear_down_idle(m, f, excess, idle_ms, now);
            }
            if gone > 0 {
                self.refresh(fleet, f);
                let ready = self.pinned_total(fleet, f);
                if let Some(feedback) = strat.feedback() {
                    feedback.set_ready(f, ready);
                }
            }
            draining |= self.pinned_total(fleet, f) > limit;
        }
        draining
    }

    /// How many of `f`'s reserved environments each manager holding some has beyond where
    /// the strategy places `limit` of them: `(manager, excess)`. The placement is walked as
    /// [`Host::provision`] walks it, but a cut never adds: a manager keeps at most what it
    /// holds, and what it lacks is kept further along the placement. The excess adds up to
    /// at most what exceeds `limit` in all, taken from the managers last in the placement
    /// first (the end of a reserved arc, which leaves it first as the arc shortens): where
    /// the new placement finds fewer environments than `limit` (an arc that shortened, a
    /// manager without room), the environments elsewhere stay rather than leave the
    /// reservation short.
    fn excess(&self, fleet: &Fleet, strat: &dyn Strategy, f: u32, limit: u32) -> Vec<(usize, u32)> {
        let places = self.pinned.get(&f).map_or(&[][..], Vec::as_slice);
        let mut keep: HashMap<usize, u32> = HashMap::new();
        let mut left = limit;
        for (m, target) in strat.reserved_placement(f, limit, fleet) {
            if left == 0 {
                break;
            }
            let kept = keep.entry(m).or_default();
            let more = target
                .min(left)
                .min(self.per_manager)
                .min(fleet.pinned(m, f).0 - *kept);
            *kept += more;
            left -= more;
        }
        let total: u32 = places.iter().map(|&(m, _)| fleet.pinned(m, f).0).sum();
        let mut allowed = total.saturating_sub(limit);
        let mut excess = Vec::new();
        for &(m, _) in places.iter().rev() {
            let over = (fleet.pinned(m, f).0 - keep.get(&m).copied().unwrap_or(0)).min(allowed);
            if over > 0 {
                excess.push((m, over));
                allowed -= over;
            }
        }
        excess
    }

    /// Refreshes `f`'s entry of the placements from the fleet, dropping managers with none
    /// left.
    fn refresh(&mut self, fleet: &Fleet, f: u32) {
        if let Some(places) = self.pinned.get_mut(&f) {
            for (m, n) in places.iter_mut() {
                *n = fleet.pinned(*m, f).0;
            }
            places.retain(|&(_, n)| n > 0);
        }
    }
}

/// Adds managers (`change > 0`) or removes `-change` of them, chosen by the seed, at `now`,
/// and tells the strategy. Returns how much of the functions' placements moved, weighted by
/// calls (a busy function's move matters more).
///
/// # Errors
/// The library's refusal of the new fleet.
pub fn change_membership(
    fleet: &mut Fleet,
    strat: &mut dyn Strategy,
    w: &Workload,
    change: i64,
    now: u64,
    seed: u64,
) -> Result<f64, arcroute::Error> {
    let functions = 0..w.functions.len() as u32;
    let before: Vec<Vec<usize>> = functions
        .clone()
        .map(|f| strat.placement(f, fleet))
        .collect();
    if change > 0 {
        fleet.add_managers(usize::try_from(change).unwrap_or(usize::MAX));
    } else {
        let mut rng = rng::stream(seed, now);
        for _ in 0..change.unsigned_abs() {
            let alive = fleet.alive();
            // Keep at least one manager: a fleet of none routes nothing.
            if alive.len() <= 1 {
                break;
            }
            let m = alive[rng.random_range(0..alive.len())];
            fleet.remove_manager(m, now);
        }
    }
    strat.membership_changed(fleet)?;
    let (mut moved, mut weight) = (0.0, 0.0);
    for (f, before) in functions.zip(&before) {
        let calls = w.functions[f as usize].total_calls as f64;
        moved += calls * strategy::moved(before, &strat.placement(f, fleet));
        weight += calls;
    }
    Ok(if weight > 0.0 { moved / weight } else { 0.0 })
}
