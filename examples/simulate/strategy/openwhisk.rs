//! Apache OpenWhisk's sharding balancer.

use arcroute::TaskId;

use super::{Strategy, Ticket};
use crate::fleet::Fleet;

/// `openwhisk` (Apache OpenWhisk's ShardingContainerPoolBalancer): home invoker
/// `hash mod n`; when it is full, step by a step size co-prime with `n` (chosen by the
/// hash) until every invoker was tried. Two simplifications, neither a handicap: every step
/// size co-prime with `n` is a candidate (OpenWhisk keeps a pairwise co-prime subset), and a
/// call that finds every invoker full is throttled (OpenWhisk then forces it onto a random,
/// overloaded invoker).
pub(super) struct OpenWhisk {
    managers: Vec<usize>,
    hashes: Vec<u64>,
    steps: Vec<usize>,
}

impl OpenWhisk {
    pub(super) fn new(fleet: &Fleet, tasks: &[TaskId]) -> Self {
        let hashes = tasks.iter().map(|t| t.get() as u64).collect();
        let mut s = Self {
            managers: Vec::new(),
            hashes,
            steps: Vec::new(),
        };
        s.renumber(fleet);
        s
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
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Strategy for OpenWhisk {
    fn route(&mut self, _: usize, f: u32, _: u64, _: &Fleet) -> Option<Ticket> {
        if self.managers.is_empty() {
            return None;
        }
        let (home, _) = self.home_and_step(f);
        Some(Ticket::first(self.managers[home]))
    }

    fn throttled(&mut self, ticket: &mut Ticket, f: u32, _: &Fleet) -> bool {
        let n = self.managers.len();
        if ticket.tried.count >= n {
            return false;
        }
        let (home, step) = self.home_and_step(f);
        let next = self.managers[(home + step * ticket.tried.count) % n];
        ticket.move_to(next);
        true
    }

    fn membership_changed(&mut self, fleet: &Fleet) -> Result<(), arcroute::Error> {
        self.renumber(fleet);
        Ok(())
    }

    fn reserved_placement(&self, f: u32, envs: u32, _: &Fleet) -> Vec<(usize, u32)> {
        let n = self.managers.len();
        if n == 0 {
            return Vec::new();
        }
        let (home, step) = self.home_and_step(f);
        (0..n)
            .map(|k| (self.managers[(home + step * k) % n], envs))
            .collect()
    }

    fn placement(&self, f: u32, _: &Fleet) -> Vec<usize> {
        if self.managers.is_empty() {
            return Vec::new();
        }
        vec![self.managers[self.home_and_step(f).0]]
    }
}
