//! Consistent hashing, home only or with bounded loads.

use arcroute::{Ring, RingConfig};

use super::{fleet_ids, index, Setup, Strategy, Ticket};
use crate::fleet::Fleet;

/// `consistent-hash` (Karger et al. 1997, ketama-style virtual nodes): every call of a
/// function goes to its home manager, the first on the ring from the function's hash; when
/// full, the next distinct manager clockwise.
///
/// `bounded-load` (Mirrokni, Thorup, Zadimoghaddam 2018, "Consistent Hashing with Bounded
/// Loads"): the same walk, but a manager is skipped while its load is at its cap,
/// `ceil(factor × (total load + 1) / managers)`. Load is the fleet's true in-flight count
/// (every frontend sees it): an oracle's view, more than a real frontend has.
pub(super) struct HashRing {
    ring: Ring,
    starts: Vec<u64>,
    /// Each function's managers in ring order from its start, made when first needed.
    orders: Vec<Option<Vec<usize>>>,
    factor: Option<f64>,
    seed: u64,
}

impl HashRing {
    pub(super) fn new(s: &Setup<'_>, factor: Option<f64>) -> Result<Self, arcroute::Error> {
        let seed = s.sim.seed;
        let ring = Self::ring(s.fleet, seed)?;
        let starts: Vec<u64> = s
            .tasks
            .iter()
            .map(|&t| ring.unreserved_start(t.into()))
            .collect();
        Ok(Self {
            ring,
            orders: vec![None; starts.len()],
            starts,
            factor,
            seed,
        })
    }

    /// `f`'s managers in ring order from its start.
    fn order(&mut self, f: u32) -> &[usize] {
        let (ring, start) = (&self.ring, self.starts[f as usize]);
        self.orders[f as usize]
            .get_or_insert_with(|| ring.arc(start, u32::MAX).map(index).collect())
    }

    fn ring(fleet: &Fleet, seed: u64) -> Result<Ring, arcroute::Error> {
        Ring::new(RingConfig::default().with_seed(seed), fleet_ids(fleet))
    }

    fn walk(&self, f: u32) -> impl Iterator<Item = usize> + '_ {
        self.ring.arc(self.starts[f as usize], u32::MAX).map(index)
    }

    /// Bounded loads' cap on one manager's running calls; unbounded for plain hashing.
    fn cap(&self, fleet: &Fleet) -> u64 {
        let Some(factor) = self.factor else {
            return u64::MAX;
        };
        let alive = fleet.alive().len().max(1) as f64;
        (factor * (fleet.busy() + 1) as f64 / alive).ceil() as u64
    }
}

impl Strategy for HashRing {
    fn route(&mut self, _: usize, f: u32, _: u64, fleet: &Fleet) -> Option<Ticket> {
        let cap = self.cap(fleet);
        let order = self.order(f);
        let under = |&m: &usize| u64::from(fleet.managers[m].busy) < cap;
        let first = order
            .iter()
            .copied()
            .find(under)
            .or_else(|| order.first().copied())?;
        Some(Ticket::first(first))
    }

    fn throttled(&mut self, ticket: &mut Ticket, f: u32, fleet: &Fleet) -> bool {
        let cap = self.cap(fleet);
        let order = self.order(f);
        let mut untried = order.iter().copied().filter(|&m| !ticket.tried.contains(m));
        let next = untried
            .clone()
            .find(|&m| u64::from(fleet.managers[m].busy) < cap)
            .or_else(|| untried.next());
        let Some(next) = next else { return false };
        ticket.move_to(next);
        true
    }

    fn membership_changed(&mut self, fleet: &Fleet) -> Result<(), arcroute::Error> {
        self.ring = Self::ring(fleet, self.seed)?;
        self.orders.iter_mut().for_each(|o| *o = None);
        Ok(())
    }

    fn reserved_placement(&self, f: u32, envs: u32, _: &Fleet) -> Vec<(usize, u32)> {
        // All at home; the fleet model places what fits, and the caller continues along the
        // walk with the rest.
        self.walk(f).map(|m| (m, envs)).collect()
    }

    fn placement(&self, f: u32, _: &Fleet) -> Vec<usize> {
        self.walk(f).take(1).collect()
    }
}
