//! `pooled`: the floor no router can beat while the fleet's memory suffices (overcommitted, a
//! pool that evicts idle environments to start every call can do worse than a router that
//! rejects calls at full managers).

use super::{Strategy, Ticket};
use crate::fleet::Fleet;

/// The whole fleet as one manager: all its memory in one pool, all its cores shared by all
/// calls, and no placement to get wrong. Each function has one pool of environments under
/// the same keep-alive and least-recently-used eviction as a manager's, so a call is cold
/// only when no environment of its function is idle anywhere, or when the fleet's memory as
/// a whole is short. The engine builds its one-manager fleet (see
/// [`StrategyKind::Pooled`](super::StrategyKind::Pooled)).
pub(super) struct Pooled;

impl Strategy for Pooled {
    fn route(&mut self, _: usize, _: u32, _: u64, fleet: &Fleet) -> Option<Ticket> {
        fleet.alive().first().map(|&m| Ticket::first(m))
    }

    fn throttled(&mut self, _: &mut Ticket, _: u32, _: &Fleet) -> bool {
        // Nowhere else to try: the pool is the whole fleet.
        false
    }
}
