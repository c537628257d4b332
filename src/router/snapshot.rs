//! The snapshot a route reads, and the arc walks and picks on it.

use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::config::{Pick, RouterConfig, Settings};
use crate::assign::ArcAssigner;
use crate::fleet::FleetConfig;
use crate::health::HealthMask;
use crate::id::ManagerId;
use crate::live::{ArcStart, Fresh};
use crate::reservation::{Reservation, ReservationTable};
use crate::ring::{Ring, Walk};
use crate::route::Seat;
use crate::Error;

/// Everything a route reads, published as one value. Cloning shares the ring, the loads
/// and the reservation shards; writers replace what changes.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    pub(crate) generation: u64,
    pub(crate) ring: Arc<Ring>,
    pub(crate) health: HealthMask,
    /// Host-reported load per ring index; shared by snapshots of the same ring.
    pub(crate) loads: Arc<[AtomicU32]>,
    pub(crate) reservations: ReservationTable,
    pub(crate) settings: Settings,
    pub(crate) assigner: ArcAssigner,
    /// The fleet config last applied (or built from), normalized.
    pub(crate) applied: Option<Arc<FleetConfig>>,
}

/// The parts of a snapshot that follow the fleet's membership.
pub(crate) struct Membership {
    pub(crate) ring: Arc<Ring>,
    pub(crate) health: HealthMask,
    pub(crate) loads: Arc<[AtomicU32]>,
}

impl Snapshot {
    /// The config in use.
    pub(crate) fn config(&self) -> RouterConfig {
        self.settings
            .with(self.ring.config(), self.assigner.config())
    }

    /// What new live state starts from under this snapshot.
    pub(crate) fn fresh(&self) -> Fresh {
        Fresh {
            seed: self.ring.config().seed,
            arc_len: self.assigner.config().min_unreserved_arc.get(),
        }
    }

    /// `(slot, ring index)` as a route names it.
    pub(crate) fn seat(&self, (slot, index): (u32, u32)) -> Seat {
        Seat {
            slot,
            manager: self.ring.manager_at(index),
            generation: self.generation,
        }
    }

    pub(crate) fn healthy(&self) -> u32 {
        self.health.healthy_count()
    }

    /// Managers in the reserved arc of a task with reservation `res`.
    pub(crate) fn reserved_len(&self, res: Reservation) -> u32 {
        self.assigner
            .reserved_len(res.limit, res.ready, self.healthy())
    }

    /// The ring, health and loads for the managers `list` (sorted by id), or `None` if they
    /// are the current ones: a new ring on which the managers that stay keep their health and
    /// reported load, and new ones start healthy.
    pub(crate) fn refleet(&self, list: &[(ManagerId, u32)]) -> Result<Option<Membership>, Error> {
        if self.ring.managers().eq(list.iter().copied()) {
            return Ok(None);
        }
        let ring = Ring::from_sorted(self.ring.config(), list)?;
        let mut health = HealthMask::all_up(&ring);
        let loads: Arc<[AtomicU32]> = (0..ring.len()).map(|_| AtomicU32::new(0)).collect();
        for (old, (id, _)) in self.ring.managers().enumerate() {
            if let Some(new) = ring.index_of(id) {
                health.set_index(new, self.health.is_up(old as u32));
                loads[new as usize].store(self.loads[old].load(Relaxed), Relaxed);
            }
        }
        Ok(Some(Membership {
            ring: Arc::new(ring),
            health,
            loads,
        }))
    }

    /// The member at `slot` of arc `(start, len)`: `(slot, ring index)`.
    pub(crate) fn pick_slot(&self, start: ArcStart<'_>, len: u32, slot: u32) -> Option<(u32, u32)> {
        let index = self.walk(start, len).nth(slot as usize)?;
        Some((slot, index))
    }

    /// The healthy members of arc `(start, len)`, through the start's hint if it has one.
    fn walk(&self, start: ArcStart<'_>, len: u32) -> Walk<'_> {
        let origin = match start.hint {
            Some(hint) => {
                let was = hint.load(Relaxed);
                let origin = self.ring.successor_near(start.at, was);
                if origin as u32 != was {
                    hint.store(origin as u32, Relaxed);
                }
                origin
            }
            None => self.ring.successor(start.at),
        };
        self.ring.walk_at(origin, len, Some(&self.health))
    }

    /// Chooses a member of arc `(start, len)` for the `cursor`-th call: `(slot, ring index)`.
    pub(crate) fn pick(&self, start: ArcStart<'_>, len: u32, cursor: u32) -> Option<(u32, u32)> {
        if len < 2 {
            return self.pick_slot(start, len, 0);
        }
        let first = cursor % len;
        if self.settings.pick == Pick::RoundRobin {
            return self.pick_slot(start, len, first);
        }
        // A second, distinct slot, spread by a cheap mix of the cursor.
        let offset = 1 + (cursor.wrapping_mul(0x9e37_79b9) >> 7) % (len - 1);
        let second = (first + offset) % len;
        let (lo, hi) = (first.min(second), first.max(second));
        let mut members = self.walk(start, len);
        let at_lo = members.nth(lo as usize)?;
        let at_hi = members.nth((hi - lo - 1) as usize).unwrap_or(at_lo);
        let (at_first, at_second) = if first == lo {
            (at_lo, at_hi)
        } else {
            (at_hi, at_lo)
        };
        let load = |i: u32| self.loads.get(i as usize).map_or(0, |l| l.load(Relaxed));
        Some(if load(at_second) < load(at_first) {
            (second, at_second)
        } else {
            (first, at_first)
        })
    }
}
