//! Apache OpenWhisk's sharding balancer.

use rand::Rng;

use super::{MemoryView, Setup, Slots, Strategy, Ticket, Tried};
use crate::fleet::Fleet;
use crate::rng::{self, SimRng};

/// `openwhisk` (Apache OpenWhisk's `ShardingContainerPoolBalancer`): home invoker
/// `hash mod n`, then steps of a size co-prime with `n` (chosen by the hash) until every
/// invoker was visited. Each frontend is a controller with its own memory slots on each
/// invoker ([`Slots`]); it sends a call to the first healthy invoker on the walk where its
/// share has room (`tryAcquireConcurrent`), so an invoker it counts as full costs no round
/// trip, and when none has room it forces the call onto a random healthy invoker
/// (`forceAcquireConcurrent`). The invoker starts the call if its memory allows (idle
/// environments are evicted, as OpenWhisk's invoker does); one it cannot start is
/// throttled (other controllers' forced calls, or shares at their 128 MB floor, can fill
/// it), and the controller schedules it again, skipping the invokers already tried, under
/// the retry bound every router has. A removed invoker stays in the numbering, offline, as
/// OpenWhisk keeps it (`updateInvokers` never shrinks the list), so the homes of the
/// others do not move; an added one joins at the end.
///
/// Where the model differs: OpenWhisk's invoker queues a forced call until memory frees,
/// where here it is throttled and retried (the fleet model has no queue; a handicap where
/// memory is short everywhere); and, in OpenWhisk's favour, a throttled call is scheduled
/// again (OpenWhisk has no controller-side retry), every step size co-prime with `n` is a
/// candidate (OpenWhisk keeps a pairwise co-prime subset), every invoker takes every
/// function (OpenWhisk reserves a tenth of them for blackbox actions by default), and a
/// controller sees which pinned environments are idle ([`Slots`]).
///
/// `openwhisk-oracle`: the same walk and force, but a controller takes an invoker wherever
/// the invoker could start the call now ([`Fleet::has_room`]): every invoker's true
/// fullness, all its memory, and every other controller's calls, which no OpenWhisk
/// controller knows.
pub(super) struct OpenWhisk {
    /// Invokers numbered: every manager ever in the fleet, removed ones included. The fleet
    /// gives each added manager the next index and never reuses one, so invoker `k` is
    /// manager `k`.
    invokers: usize,
    hashes: Vec<u64>,
    steps: Vec<usize>,
    slots: Slots,
    rng: SimRng,
}

impl OpenWhisk {
    pub(super) fn new(s: &Setup<'_>, view: MemoryView) -> Self {
        let hashes = s.tasks.iter().map(|t| t.get() as u64).collect();
        let mut ow = Self {
            invokers: 0,
            hashes,
            steps: Vec::new(),
            slots: Slots::new(s, view),
            rng: rng::stream(s.sim.seed, 13),
        };
        ow.renumber(s.fleet);
        ow
    }

    /// Numbers the invokers of `fleet` that joined since, after the others, and finds the
    /// step sizes co-prime with their count.
    fn renumber(&mut self, fleet: &Fleet) {
        let known = self.invokers;
        self.invokers = fleet.managers.len();
        if self.invokers != known || self.steps.is_empty() {
            let n = self.invokers.max(1);
            self.steps = (1..=n).filter(|&s| gcd(s, n) == 1).collect();
        }
    }

    fn home_and_step(&self, f: u32) -> (usize, usize) {
        let n = self.invokers;
        let h = self.hashes[f as usize];
        (
            (h % n as u64) as usize,
            self.steps[(h % self.steps.len() as u64) as usize],
        )
    }

    /// `f`'s healthy invokers in walk order.
    fn walk<'a>(&'a self, f: u32, fleet: &'a Fleet) -> impl Iterator<Item = usize> + 'a {
        let n = self.invokers;
        let (home, step) = if n == 0 {
            (0, 1)
        } else {
            self.home_and_step(f)
        };
        (0..n)
            .map(move |k| (home + step * k) % n)
            .filter(|&m| fleet.managers[m].alive)
    }

    /// `controller`'s choice for a call of `f`, among the healthy invokers not `tried`: the
    /// first on the walk where it sees room, else a random one (forced). `None` once every
    /// healthy invoker was tried.
    fn schedule(
        &mut self,
        controller: usize,
        f: u32,
        fleet: &Fleet,
        tried: Option<&Tried>,
    ) -> Option<usize> {
        let open = |m: usize| tried.is_none_or(|t| !t.contains(m));
        if let Some(m) = self
            .walk(f, fleet)
            .find(|&m| open(m) && self.slots.room(controller, m, f, fleet))
        {
            return Some(m);
        }
        let untried: Vec<usize> = fleet.alive().iter().copied().filter(|&m| open(m)).collect();
        (!untried.is_empty()).then(|| untried[self.rng.random_range(0..untried.len())])
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Strategy for OpenWhisk {
    fn route(&mut self, frontend: usize, f: u32, _: u64, fleet: &Fleet) -> Option<Ticket> {
        let m = self.schedule(frontend, f, fleet, None)?;
        let mut ticket = Ticket::first(m);
        ticket.frontend = frontend;
        self.slots.point(&mut ticket, m, f, fleet);
        Some(ticket)
    }

    fn throttled(&mut self, ticket: &mut Ticket, f: u32, fleet: &Fleet) -> bool {
        let Some(next) = self.schedule(ticket.frontend, f, fleet, Some(&ticket.tried)) else {
            return false;
        };
        self.slots.point(ticket, next, f, fleet);
        true
    }

    fn membership_changed(&mut self, fleet: &Fleet) -> Result<(), arcroute::Error> {
        self.renumber(fleet);
        Ok(())
    }

    fn reserved_placement(&self, f: u32, envs: u32, fleet: &Fleet) -> Vec<(usize, u32)> {
        self.walk(f, fleet).map(|m| (m, envs)).collect()
    }

    fn placement(&self, f: u32, fleet: &Fleet) -> Vec<usize> {
        self.walk(f, fleet).take(1).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::Tiny;
    use super::super::StrategyKind;

    #[test]
    fn a_full_invoker_is_passed_over_in_process_and_a_call_none_has_room_for_is_forced() {
        let mut t = Tiny::new(5, 1, &[1000.0]);
        let mut s = t.build(StrategyKind::Openwhisk);
        let home = s.route(0, 0, 0, &t.fleet).expect("an invoker").manager;
        assert_eq!(home, s.placement(0, &t.fleet)[0]);
        // Home has no room (one controller: its share is the whole invoker): the controller
        // sends the call straight to the next invoker on the walk, where it starts (no
        // throttle, no retry).
        t.fleet.resize(home, 0);
        // Reserved environments follow the same walk.
        let placed = s.reserved_placement(0, 5, &t.fleet);
        let walk: Vec<usize> = placed.iter().map(|p| p.0).collect();
        assert_eq!(walk[0], home);
        let ticket = t.call(s.as_mut(), 0, 0, 0);
        assert_eq!(ticket.manager, walk[1]);
        assert_eq!(t.fleet.managers[walk[1]].busy, 1, "it started there");
        // No invoker has a slot: forced onto one; each throttle moves it to an untried one
        // until every invoker was tried.
        for m in 0..5 {
            t.fleet.resize(m, 0);
        }
        let mut ticket2 = s.route(0, 0, 1, &t.fleet).expect("forced, never refused");
        let mut seen = vec![ticket2.manager];
        while s.throttled(&mut ticket2, 0, &t.fleet) {
            assert!(!seen.contains(&ticket2.manager), "an invoker tried twice");
            seen.push(ticket2.manager);
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
        // A slot frees up on one invoker: a throttled call goes there next.
        t.fleet.resize(walk[3], 32 * 1024);
        let mut ticket3 = s.route(0, 0, 2, &t.fleet).expect("an invoker");
        assert_eq!(ticket3.manager, walk[3], "the walk's first with a slot");
        assert!(s.throttled(&mut ticket3, 0, &t.fleet));
        assert_ne!(ticket3.manager, walk[3]);
    }

    #[test]
    fn each_controller_fills_only_its_share_of_an_invoker() {
        // Two controllers: 16 GB of each 32 GB invoker each, 64 calls of 256 MB.
        let mut t = Tiny::new(5, 2, &[1000.0]);
        let mut s = t.build(StrategyKind::Openwhisk);
        let home = s.placement(0, &t.fleet)[0];
        let mut running: Vec<_> = (0..64).map(|i| t.call(s.as_mut(), 0, 0, i)).collect();
        assert!(running.iter().all(|c| c.manager == home));
        let next = t.call(s.as_mut(), 0, 0, 64);
        assert_ne!(next.manager, home, "controller 0's share is full");
        assert_eq!(
            t.call(s.as_mut(), 1, 0, 65).manager,
            home,
            "controller 1's is not"
        );
        // A call of controller 0 ends (its ticket drops): its share has room again.
        running.pop();
        assert_eq!(
            s.route(0, 0, 66, &t.fleet).expect("an invoker").manager,
            home
        );
        // The oracle sees the invoker's own memory: controller 0 keeps sending home.
        let mut t = Tiny::new(5, 2, &[1000.0]);
        let mut s = t.build(StrategyKind::OpenwhiskOracle);
        let _running: Vec<_> = (0..65).map(|i| t.call(s.as_mut(), 0, 0, i)).collect();
        assert_eq!(t.fleet.managers[home].busy, 65);
    }

    #[test]
    fn a_call_on_an_idle_pinned_environment_takes_nothing_from_the_share() {
        // One controller; home has 1 GB with 3 pinned environments of 256 MB, so its share
        // is the 256 MB left. Calls on the pinned ones leave the share free for one more
        // call there; the call after that goes on along the walk.
        let mut t = Tiny::new(2, 1, &[1000.0]);
        let mut s = t.build(StrategyKind::Openwhisk);
        let walk = s.reserved_placement(0, 2, &t.fleet);
        let (home, next) = (walk[0].0, walk[1].0);
        t.fleet.resize(home, 1024);
        assert_eq!(t.fleet.pin(home, 0, 3, 0), 3);
        let calls: Vec<_> = (0..4).map(|i| t.call(s.as_mut(), 0, 0, i)).collect();
        assert!(calls.iter().all(|c| c.manager == home));
        assert_eq!(
            t.fleet.managers[home].busy, 4,
            "three pinned, one in the share"
        );
        assert_eq!(
            t.call(s.as_mut(), 0, 0, 4).manager,
            next,
            "the share is full"
        );
    }
}
