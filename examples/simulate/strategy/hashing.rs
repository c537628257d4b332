//! Consistent hashing, home only or with bounded loads in two views.

use arcroute::{Ring, RingConfig};

use super::{fleet_ids, index, manager_slots, OwnCounts, Setup, Strategy, Ticket};
use crate::fleet::Fleet;

/// Bounded loads' balance factor `c = 1 + ε`: no manager takes more than `c` times the mean
/// load. Mirrokni, Thorup, Zadimoghaddam ("Consistent Hashing with Bounded Loads", SODA
/// 2018) cap each bin at `ceil(c · m / n)` for `m` balls in `n` bins. The proxies take `c` in
/// percent: HAProxy's `hash-balance-factor` ("if <factor> is 150, then no server will be
/// allowed to have a load more than 1.5 times the average", counting the requests that
/// HAProxy instance serves) and Envoy's `hash_balance_factor` (ring-hash and Maglev load
/// balancers). 1.25 is the factor of Vimeo's deployment, which brought the algorithm into
/// HAProxy, and a common default of libraries that implement it. Both views use it.
pub(super) const BALANCE_FACTOR: f64 = 1.25;

/// What a hashing router bounds, and from which view of the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Bound {
    /// Home only: no bound (plain consistent hashing).
    None,
    /// Each frontend's own calls in flight per manager, as one proxy instance counts them.
    PerFrontend,
    /// The fleet's true calls in flight per manager, which no single proxy knows.
    Oracle,
}

/// `consistent-hash` (Karger et al. 1997, ketama-style virtual nodes): every call of a
/// function goes to its home manager, the first on the ring from the function's hash; when
/// full, the next distinct manager clockwise.
///
/// `bounded-load` (Mirrokni, Thorup, Zadimoghaddam 2018, "Consistent Hashing with Bounded
/// Loads", as Envoy's ring-hash and Maglev load balancers with `hash_balance_factor` and
/// HAProxy's `hash-balance-factor` run it): the same walk, but a manager is skipped while
/// its load is at its cap, `ceil(c × (total load + 1) / managers)` with `c =`
/// [`BALANCE_FACTOR`]. Load is what one proxy instance knows: this frontend's own calls in
/// flight, on each manager and in all. With several frontends each bounds only its share,
/// so together they may put up to `frontends` times the cap on one manager.
///
/// `bounded-load-oracle`: the same rule on the fleet's true in-flight counts, as if every
/// frontend saw every other's calls at once: an oracle, more than a real proxy has.
pub(super) struct HashRing {
    ring: Ring,
    starts: Vec<u64>,
    /// Each function's managers in ring order from its start, made when first needed.
    orders: Vec<Option<Vec<usize>>>,
    bound: Bound,
    /// Each frontend's own counts (per-frontend bounds only).
    own: Option<OwnCounts>,
    seed: u64,
}

impl HashRing {
    pub(super) fn new(s: &Setup<'_>, bound: Bound) -> Result<Self, arcroute::Error> {
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
            bound,
            own: (bound == Bound::PerFrontend)
                .then(|| OwnCounts::new(s.sim.frontends, manager_slots(s))),
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

    /// The load `frontend` sees on each manager, and the cap it bounds it by; `None` for
    /// plain hashing.
    fn view<'a>(
        &'a self,
        frontend: usize,
        fleet: &'a Fleet,
    ) -> Option<(impl Fn(usize) -> u64 + 'a, u64)> {
        let (total, own) = match (self.bound, &self.own) {
            (Bound::None, _) => return None,
            (Bound::PerFrontend, Some(own)) => (u64::from(own.total(frontend)), Some(own)),
            _ => (fleet.busy(), None),
        };
        let alive = fleet.alive().len().max(1) as f64;
        let cap = (BALANCE_FACTOR * (total + 1) as f64 / alive).ceil() as u64;
        let load = move |m: usize| match own {
            Some(own) => u64::from(own.on(frontend, m)),
            None => u64::from(fleet.managers[m].busy),
        };
        Some((load, cap))
    }

    /// The first of `candidates` under the bound (the first of all without one).
    fn pick(
        &self,
        frontend: usize,
        fleet: &Fleet,
        mut candidates: impl Iterator<Item = usize> + Clone,
    ) -> Option<usize> {
        match self.view(frontend, fleet) {
            None => candidates.next(),
            Some((load, cap)) => candidates
                .clone()
                .find(|&m| load(m) < cap)
                .or_else(|| candidates.next()),
        }
    }

    /// Points `ticket` at `m`, counting it in its frontend's own counts.
    fn point(&self, ticket: &mut Ticket, m: usize) {
        ticket.point(m, self.own.as_ref(), 1, false);
    }
}

impl Strategy for HashRing {
    fn route(&mut self, frontend: usize, f: u32, _: u64, fleet: &Fleet) -> Option<Ticket> {
        self.order(f);
        let order = self.orders[f as usize].as_deref().unwrap_or_default();
        let first = self.pick(frontend, fleet, order.iter().copied())?;
        let mut ticket = Ticket::first(first);
        ticket.frontend = frontend;
        self.point(&mut ticket, first);
        Some(ticket)
    }

    fn throttled(&mut self, ticket: &mut Ticket, f: u32, fleet: &Fleet) -> bool {
        self.order(f);
        let order = self.orders[f as usize].as_deref().unwrap_or_default();
        let untried = order.iter().copied().filter(|&m| !ticket.tried.contains(m));
        let Some(next) = self.pick(ticket.frontend, fleet, untried) else {
            return false;
        };
        self.point(ticket, next);
        true
    }

    fn membership_changed(&mut self, fleet: &Fleet) -> Result<(), arcroute::Error> {
        self.ring = Self::ring(fleet, self.seed)?;
        self.orders.iter_mut().for_each(|o| *o = None);
        Ok(())
    }

    fn reserved_placement(&self, f: u32, envs: u32, _: &Fleet) -> Vec<(usize, u32)> {
        // At home and the managers after it; the host places what fits, and continues along
        // the walk with the rest.
        self.walk(f).map(|m| (m, envs)).collect()
    }

    fn placement(&self, f: u32, _: &Fleet) -> Vec<usize> {
        self.walk(f).take(1).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::Tiny;
    use super::super::StrategyKind;

    /// Two frontends, four managers, one function: each frontend's first call.
    fn first_calls(kind: StrategyKind) -> (Tiny, [usize; 2], Vec<super::Ticket>) {
        let mut t = Tiny::new(4, 2, &[1000.0]);
        let mut s = t.build(kind);
        let a = t.call(s.as_mut(), 0, 0, 0);
        let b = t.call(s.as_mut(), 1, 0, 1);
        ((t), [a.manager, b.manager], vec![a, b])
    }

    #[test]
    fn per_frontend_bounds_see_only_their_own_calls() {
        // Cap for a frontend with k calls out: ceil(1.25 · (k + 1) / 4) = 1 for k < 3.
        let (t, [a, b], _held) = first_calls(StrategyKind::BoundedLoad);
        // Neither frontend has a call out when it routes: both fill the home to the cap,
        // together twice it.
        assert_eq!(a, b, "both at home");
        assert_eq!(t.fleet.managers[a].busy, 2);
        // The oracle sees the first call: the second goes on (cap 1 with 1 in flight).
        let (t, [a, b], _held) = first_calls(StrategyKind::BoundedLoadOracle);
        assert_ne!(a, b);
        assert_eq!((t.fleet.managers[a].busy, t.fleet.managers[b].busy), (1, 1));
    }

    #[test]
    fn a_frontends_own_count_drops_when_the_call_ends() {
        let mut t = Tiny::new(4, 2, &[1000.0]);
        let mut s = t.build(StrategyKind::BoundedLoad);
        let first = t.call(s.as_mut(), 0, 0, 0);
        let home = first.manager;
        // Frontend 0 has one call on its home: its second goes on.
        let second = t.call(s.as_mut(), 0, 0, 1);
        assert_ne!(second.manager, home);
        drop((first, second));
        // Both ended (the tickets are gone): the home is under the cap again for it.
        assert_eq!(t.call(s.as_mut(), 0, 0, 2).manager, home);
    }
}
