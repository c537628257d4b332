//! Apache OpenWhisk's sharding balancer.

use std::num::NonZeroU32;

use rand::Rng;

use super::{along, manager_slots, OwnCounts, Setup, Strategy, Ticket, Tried};
use crate::fleet::Fleet;
use crate::rng::{self, SimRng};

/// `openwhisk` (Apache OpenWhisk's `ShardingContainerPoolBalancer`): home invoker
/// `hash mod n`, then steps of a size co-prime with `n` (chosen by the hash) until every
/// invoker was visited. Each frontend is a controller, and a controller keeps memory slots
/// for each invoker itself: its share of the invoker's user memory (`getInvokerSlot`: the
/// invoker's memory over the number of controllers, at least [`MIN_MEMORY_MB`]), taken by
/// the calls it sent there while they run. OpenWhisk knows no reservations; here the
/// invoker offers the controllers the memory its pinned environments leave, as a platform
/// that pins environments on it would configure it, and a call that will run on an idle
/// pinned environment takes no memory from the share (the most a controller could know of
/// them). It sends a call to the first invoker on the walk
/// where its share has room (`tryAcquireConcurrent`), so an invoker it counts as full costs
/// no round trip; when none has room, it forces the call onto a random healthy invoker
/// (`forceAcquireConcurrent`). The invoker starts the call if its memory allows (idle
/// environments are evicted, as OpenWhisk's invoker does); a forced call it cannot start is
/// throttled, and the controller schedules it again, skipping the invokers already tried,
/// under the retry bound every router has.
///
/// One simplification, not a handicap: every step size co-prime with `n` is a candidate
/// (OpenWhisk keeps a pairwise co-prime subset).
///
/// `openwhisk-oracle`: the same walk and force, but a controller takes an invoker wherever
/// the invoker could start the call now ([`Fleet::has_room`]): every invoker's true
/// fullness, all its memory, and every other controller's calls, which no OpenWhisk
/// controller knows.
pub(super) const MIN_MEMORY_MB: u64 = 128;

/// What a controller knows of an invoker's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum View {
    /// Its own share, taken by its own calls (OpenWhisk).
    Shares,
    /// The invoker's true fullness (an oracle).
    Oracle,
}

/// See [`MIN_MEMORY_MB`].
pub(super) struct OpenWhisk {
    managers: Vec<usize>,
    hashes: Vec<u64>,
    steps: Vec<usize>,
    /// Reserved environments one manager holds for one function.
    reserved_per_manager: NonZeroU32,
    /// Each controller's memory in use on each invoker, by the calls it sent there.
    own: OwnCounts,
    /// Controllers sharing each invoker's memory.
    controllers: u64,
    view: View,
    rng: SimRng,
}

impl OpenWhisk {
    pub(super) fn new(s: &Setup<'_>, view: View) -> Self {
        let hashes = s.tasks.iter().map(|t| t.get() as u64).collect();
        let mut ow = Self {
            managers: Vec::new(),
            hashes,
            steps: Vec::new(),
            reserved_per_manager: s.reserved_per_manager,
            own: OwnCounts::new(s.sim.frontends, manager_slots(s)),
            controllers: s.sim.frontends.max(1) as u64,
            view,
            rng: rng::stream(s.sim.seed, 13),
        };
        ow.renumber(s.fleet);
        ow
    }

    /// Numbers the invokers of `fleet` and finds the step sizes co-prime with their count.
    fn renumber(&mut self, fleet: &Fleet) {
        self.managers = fleet.alive().to_vec();
        let n = self.managers.len().max(1);
        self.steps = (1..=n).filter(|&s| gcd(s, n) == 1).collect();
    }

    fn home_and_step(&self, f: u32) -> (usize, usize) {
        let n = self.managers.len();
        let h = self.hashes[f as usize];
        (
            (h % n as u64) as usize,
            self.steps[(h % self.steps.len() as u64) as usize],
        )
    }

    /// `f`'s invokers in walk order.
    fn walk(&self, f: u32) -> impl Iterator<Item = usize> + '_ {
        let n = self.managers.len();
        let (home, step) = if n == 0 {
            (0, 1)
        } else {
            self.home_and_step(f)
        };
        (0..n).map(move |k| self.managers[(home + step * k) % n])
    }

    /// Whether `controller` sees room on invoker `m` for a call of `f`.
    fn slot_free(&self, controller: usize, m: usize, f: u32, fleet: &Fleet) -> bool {
        if self.view == View::Oracle {
            return fleet.has_room(m, f, true);
        }
        let share = (fleet.unpinned_mb(m) / self.controllers).max(MIN_MEMORY_MB);
        u64::from(self.own.on(controller, m)) + fleet.memory_mb(f) <= share
    }

    /// `controller`'s choice for a call of `f`, among the invokers not `tried`: the first on
    /// the walk where its share has room, else a random one (forced). `None` once every
    /// invoker was tried.
    fn schedule(
        &mut self,
        controller: usize,
        f: u32,
        fleet: &Fleet,
        tried: Option<&Tried>,
    ) -> Option<usize> {
        let open = |m: usize| tried.is_none_or(|t| !t.contains(m));
        if let Some(m) = self
            .walk(f)
            .find(|&m| open(m) && self.slot_free(controller, m, f, fleet))
        {
            return Some(m);
        }
        let untried = self.managers.iter().filter(|&&m| open(m)).count();
        if untried == 0 {
            return None;
        }
        let pick = self.rng.random_range(0..untried);
        self.managers.iter().copied().filter(|&m| open(m)).nth(pick)
    }

    /// Points `ticket` at `m`, its memory taken from its controller's share there unless an
    /// idle pinned environment will take the call.
    fn point(&self, ticket: &mut Ticket, m: usize, f: u32, fleet: &Fleet) {
        ticket.held = None;
        ticket.move_to(m);
        if self.view == View::Oracle {
            return;
        }
        let (pinned, busy) = fleet.pinned(m, f);
        let mb = if busy < pinned { 0 } else { fleet.memory_mb(f) };
        ticket.held = Some(self.own.hold(
            ticket.frontend,
            m,
            u32::try_from(mb).unwrap_or(u32::MAX),
        ));
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
        self.point(&mut ticket, m, f, fleet);
        Some(ticket)
    }

    fn throttled(&mut self, ticket: &mut Ticket, f: u32, fleet: &Fleet) -> bool {
        let Some(next) = self.schedule(ticket.frontend, f, fleet, Some(&ticket.tried)) else {
            return false;
        };
        self.point(ticket, next, f, fleet);
        true
    }

    fn membership_changed(&mut self, fleet: &Fleet) -> Result<(), arcroute::Error> {
        self.renumber(fleet);
        Ok(())
    }

    fn reserved_placement(&self, f: u32, envs: u32, _: &Fleet) -> Vec<(usize, u32)> {
        along(self.walk(f), envs, self.reserved_per_manager)
    }

    fn placement(&self, f: u32, _: &Fleet) -> Vec<usize> {
        if self.managers.is_empty() {
            return Vec::new();
        }
        vec![self.managers[self.home_and_step(f).0]]
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
        // Reserved environments follow the same walk, one a manager here (the setup's cap).
        let placed = s.reserved_placement(0, 5, &t.fleet);
        assert!(placed.iter().all(|&(_, n)| n == 1));
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
        // One controller, an invoker of 1 GB with 3 pinned environments of 256 MB: the share
        // is the 256 MB left; calls on the pinned ones leave it free for one more.
        let mut t = Tiny::new(1, 1, &[1000.0]);
        t.fleet.resize(0, 1024);
        assert_eq!(t.fleet.pin(0, 0, 3, 0), 3);
        let mut s = t.build(StrategyKind::Openwhisk);
        let calls: Vec<_> = (0..4).map(|i| t.call(s.as_mut(), 0, 0, i)).collect();
        assert_eq!(
            t.fleet.managers[0].busy, 4,
            "three pinned, one in the share"
        );
        let mut forced = s.route(0, 0, 5, &t.fleet).expect("forced");
        assert!(
            !s.throttled(&mut forced, 0, &t.fleet),
            "the only invoker was tried"
        );
        drop(calls);
    }
}
