//! Routers without a home: `random` and `round-robin`. A function's calls go anywhere, so
//! they keep [`Strategy`]'s rule for homeless routers: reserved environments spread evenly
//! over the fleet, and every manager in a function's placement.

use rand::Rng as _;

use super::{Strategy, Ticket};
use crate::fleet::Fleet;
use crate::rng::{self, SimRng};

/// `random`: a uniformly random manager; when full, another random manager not tried yet.
pub(super) struct RandomPick {
    rng: SimRng,
}

impl RandomPick {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            rng: rng::stream(seed, 101),
        }
    }
}

impl Strategy for RandomPick {
    fn route(&mut self, _: usize, _: u32, _: u64, fleet: &Fleet) -> Option<Ticket> {
        let alive = fleet.alive();
        (!alive.is_empty()).then(|| Ticket::first(alive[self.rng.random_range(0..alive.len())]))
    }

    fn throttled(&mut self, ticket: &mut Ticket, _: u32, fleet: &Fleet) -> bool {
        let alive = fleet.alive();
        // Uniform over the untried: redraw a tried one (a few times at most while most are
        // untried), and when most were tried, pick among the rest directly.
        let untried = alive.len().saturating_sub(ticket.tried.count);
        if untried == 0 {
            return false;
        }
        let next = if untried * 2 >= alive.len() {
            (0..).find_map(|_| {
                let m = alive[self.rng.random_range(0..alive.len())];
                (!ticket.tried.contains(m)).then_some(m)
            })
        } else {
            let k = self.rng.random_range(0..untried);
            alive
                .iter()
                .copied()
                .filter(|&m| !ticket.tried.contains(m))
                .nth(k)
        };
        let Some(next) = next else { return false };
        ticket.move_to(next);
        true
    }
}

/// `round-robin`: each frontend cycles over the managers; when full, the next one.
pub(super) struct RoundRobin {
    cursors: Vec<usize>,
}

impl RoundRobin {
    pub(super) fn new(frontends: usize) -> Self {
        Self {
            cursors: vec![0; frontends],
        }
    }
}

impl Strategy for RoundRobin {
    fn route(&mut self, frontend: usize, _: u32, _: u64, fleet: &Fleet) -> Option<Ticket> {
        let alive = fleet.alive();
        if alive.is_empty() {
            return None;
        }
        let cursor = &mut self.cursors[frontend];
        *cursor = cursor.wrapping_add(1);
        let mut t = Ticket::first(alive[*cursor % alive.len()]);
        t.at = *cursor % alive.len();
        Some(t)
    }

    fn throttled(&mut self, ticket: &mut Ticket, _: u32, fleet: &Fleet) -> bool {
        let alive = fleet.alive();
        if ticket.tried.count >= alive.len() {
            return false;
        }
        ticket.at = (ticket.at + 1) % alive.len();
        ticket.manager = alive[ticket.at];
        ticket.tried.mark(ticket.manager);
        true
    }
}
