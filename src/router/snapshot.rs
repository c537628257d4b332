//! The snapshot a route reads, and the arc walks and picks on it.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::Arc;

use super::config::{Pick, RouterConfig, Settings};
use crate::assign::ArcAssigner;
use crate::fleet::FleetConfig;
use crate::health::HealthMask;
use crate::id::ManagerId;
use crate::live::{ArcStart, Fresh, Live, TRACKED};
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
    pub(crate) loads: Arc<Loads>,
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
    pub(crate) loads: Arc<Loads>,
}

/// Host-reported load per ring index, with their running total so that the mean is O(1).
#[derive(Debug)]
pub(crate) struct Loads {
    each: Box<[AtomicU32]>,
    /// The sum of `each`: every report adds its difference from the value it replaced, so
    /// the differences telescope to the sum whatever the order of concurrent reports.
    total: AtomicU64,
}

impl Loads {
    /// `n` managers, none reported (load 0).
    pub(crate) fn new(n: u32) -> Self {
        Self {
            each: (0..n).map(|_| AtomicU32::new(0)).collect(),
            total: AtomicU64::new(0),
        }
    }

    /// The load last reported for ring index `index` (0 if none, or out of range).
    pub(crate) fn get(&self, index: u32) -> u32 {
        self.each.get(index as usize).map_or(0, |l| l.load(Relaxed))
    }

    /// Stores `load` as ring index `index`'s and moves the total by the difference. O(1).
    pub(crate) fn report(&self, index: u32, load: u32) {
        if let Some(slot) = self.each.get(index as usize) {
            let was = slot.swap(load, Relaxed);
            // Wrapping: a report's difference may be negative, and the total is exact once
            // every report has added its own.
            let delta = u64::from(load).wrapping_sub(u64::from(was));
            self.total.fetch_add(delta, Relaxed);
        }
    }

    /// The highest load within `bound` (`ε`) of the mean, `ceil((1 + ε) × mean)`, or `None`
    /// when no load is reported (or the bound is infinite).
    pub(crate) fn cap(&self, bound: f32) -> Option<u32> {
        let total = self.total.load(Relaxed);
        if total == 0 || self.each.is_empty() || bound.is_infinite() {
            return None;
        }
        // A total read between the two halves of concurrent reports may be off by one
        // report's difference (or, wrapped, "negative": huge); the bound saturates.
        let mean = total as f64 / self.each.len() as f64;
        Some((mean * (1.0 + f64::from(bound))).ceil() as u32)
    }
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
        let loads = Loads::new(ring.len() as u32);
        for (old, (id, _)) in (0u32..).zip(self.ring.managers()) {
            if let Some(new) = ring.index_of(id) {
                health.set_index(new, self.health.is_up(old));
                loads.report(new, self.loads.get(old));
            }
        }
        let loads = Arc::new(loads);
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

    /// The manager after `slot` of the arc from `start`, past the arc's length if need be
    /// (wrapping after the last healthy manager): `(slot, ring index)`. Where a throttled call
    /// goes next; successive probes from one slot meet every healthy manager once.
    pub(crate) fn probe(&self, start: ArcStart<'_>, slot: u32) -> Option<(u32, u32)> {
        let next = slot.saturating_add(1) % self.healthy().max(1);
        self.pick_slot(start, next + 1, next)
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
        let load = |i: u32| self.loads.get(i);
        Some(if load(at_second) < load(at_first) {
            (second, at_second)
        } else {
            (first, at_first)
        })
    }

    /// [`Pick::Pack`] on `live`'s unreserved arc of `len` for the `cursor`-th call:
    /// `(slot, ring index)`. Examines at most [`TRACKED`] members, then walks on to the
    /// chosen slot.
    pub(crate) fn pack(&self, live: &Live, len: u32, cursor: u32) -> Option<(u32, u32)> {
        let target = self.assigner.config().target_per_manager.get();
        let quota = target
            .div_ceil(self.settings.frontends.count().max(1))
            .max(1);
        let cap = self.loads.cap(self.settings.load_bound);
        let tracked = len.min(TRACKED);
        let mut members = self.walk(live.unreserved_arc_start(), len);
        // The member within the bound with this frontend's fewest calls, for a full arc.
        let mut fewest: Option<(u16, u32, u32)> = None;
        for (slot, index) in (0..tracked).zip(members.by_ref()) {
            if cap.is_some_and(|cap| self.loads.get(index) > cap) {
                continue;
            }
            let count = live.slot_load(slot);
            if u32::from(count) < quota {
                return Some((slot, index));
            }
            if fewest.is_none_or(|(least, ..)| count < least) {
                fewest = Some((count, slot, index));
            }
        }
        if len > tracked {
            let past = cursor % (len - tracked);
            let index = members.nth(past as usize)?;
            return Some((tracked + past, index));
        }
        match fewest {
            Some((_, slot, index)) => Some((slot, index)),
            // Every member is over the bound: the first manager past the arc, as bounded
            // loads would walk on, without widening the arc for the calls after it.
            None => self.probe(live.unreserved_arc_start(), len.saturating_sub(1)),
        }
    }
}
