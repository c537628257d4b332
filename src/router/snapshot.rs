//! The snapshot a route reads, and the arc walks and picks on it.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::Arc;

use super::config::{Pick, RouterConfig, Settings};
use crate::assign::ArcAssigner;
use crate::fleet::FleetConfig;
use crate::health::HealthMask;
use crate::id::{ManagerId, TaskId};
use crate::live::{ArcStart, FirstTag, Fresh, Live, ReservedLive, RESERVED_TRACKED, TRACKED};
use crate::reservation::{Reservation, ReservationTable};
use crate::ring::{Ring, Walk};
use crate::route::Seat;
use crate::Error;

/// Everything a route reads, published as one value. Cloning shares the ring, the loads
/// and the reservation shards; writers replace what changes.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    pub(crate) generation: u64,
    /// What live state keeps arcs' first members under in this snapshot: its generation
    /// under the router's salt ([`FirstTag`]).
    pub(crate) first_tag: FirstTag,
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

/// This frontend's own share of a reservation's environments on its reserved arc.
///
/// The arc's `environments` (`max(limit, ready)`) are numbered slot-major by the split of
/// [`ArcAssigner::environments_at`]: slot `s` holds `environments / len` and the first
/// `environments % len` slots one more, so its first is `s × (environments / len) + min(s,
/// environments % len)`. The frontends' shares of `ready` tile `0..ready` in frontend
/// order; this frontend owns `[offset, offset + share)`, within `0..environments` because
/// `ready <= environments`, and no other frontend owns any of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OwnShare {
    pub(crate) offset: u32,
    pub(crate) share: u32,
    environments: u32,
    len: u32,
    /// `environments / len` and `environments % len`: the split, divided once.
    q: u32,
    r: u32,
}

impl OwnShare {
    /// This frontend's share of `res`'s environments for `task` on a reserved arc of `len`
    /// slots, or `None` if it owns none (or the arc is empty). O(1).
    #[inline]
    pub(crate) fn new(
        frontends: crate::Frontends,
        res: Reservation,
        task: TaskId,
        len: u32,
    ) -> Option<Self> {
        Self::with_share(
            frontends,
            res,
            task,
            len,
            frontends.share_of(res.ready, task),
        )
    }

    /// [`OwnShare::new`] for a caller that has `share`, this frontend's
    /// [`share_of`](crate::Frontends::share_of) `res.ready` for `task`, at hand. O(1).
    #[inline]
    pub(crate) fn with_share(
        frontends: crate::Frontends,
        res: Reservation,
        task: TaskId,
        len: u32,
        share: u32,
    ) -> Option<Self> {
        let offset = frontends.offset_of(res.ready, task);
        let environments = res.environments();
        let fits = u64::from(offset) + u64::from(share) <= u64::from(environments);
        (share > 0 && len > 0 && fits).then(|| Self {
            offset,
            share,
            environments,
            len,
            q: environments / len,
            r: environments % len,
        })
    }

    /// The first environment of `slot` (the arc's `environments` for `slot == len`). O(1).
    pub(crate) fn first_of(self, slot: u32) -> u32 {
        let (q, r) = (self.q, self.r);
        let first = u64::from(slot) * u64::from(q) + u64::from(slot.min(r));
        u32::try_from(first).unwrap_or(u32::MAX)
    }

    /// The slot that holds environment `env` (below `environments`). O(1).
    pub(crate) fn slot_of(self, env: u32) -> u32 {
        let (q, r) = (self.q, self.r);
        // The first `r` slots hold `q + 1` each (in u64: `q` may be `u32::MAX`); `q` is not 0
        // past them.
        let (q1, env) = (u64::from(q) + 1, u64::from(env));
        let long = q1 * u64::from(r);
        let slot = if env < long {
            env / q1
        } else {
            u64::from(r) + (env - long) / u64::from(q.max(1))
        };
        u32::try_from(slot).unwrap_or(u32::MAX)
    }

    /// A key of the range's shape (where it starts, how many environments it holds, how they
    /// split over the arc's slots): a search hint is kept for one shape at a time.
    pub(crate) fn key(self) -> u32 {
        let mixed = (u64::from(self.offset) << 32 | u64::from(self.share))
            ^ (u64::from(self.environments) << 32 | u64::from(self.len)).rotate_left(17);
        (mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
    }

    /// The first slot of this frontend's range.
    pub(crate) fn first_slot(self) -> u32 {
        self.slot_of(self.offset)
    }

    /// The last slot of this frontend's range.
    pub(crate) fn last_slot(self) -> u32 {
        self.slot_of(self.offset + self.share - 1)
    }

    /// This frontend's own environments on `slot`: those of the slot within its range.
    pub(crate) fn own_on(self, slot: u32) -> u32 {
        if slot >= self.len {
            return 0;
        }
        let (lo, hi) = (self.first_of(slot), self.first_of(slot + 1));
        hi.min(self.offset + self.share)
            .saturating_sub(lo.max(self.offset))
    }
}

/// [`Pick::Pack`]'s rule for one call, read once: this frontend's quota of a group's calls
/// on one member, and the load cap.
#[derive(Clone, Copy)]
struct Fit {
    quota: u32,
    cap: Option<u32>,
}

impl Fit {
    /// See [`Snapshot::full_window`].
    fn window(self) -> u32 {
        TRACKED.saturating_mul(self.quota)
    }
}

/// Whether `slot` is among the tracked slots marked in `full` (see [`Live::full_slots`]).
fn marked(full: u8, slot: u32) -> bool {
    slot < TRACKED && full & (1 << slot) != 0
}

/// Host-reported load per ring index, with their running total so that the mean is O(1),
/// and the cap of [`Pick::Pack`]'s load bound that the total gives, so that a route reads it
/// in one load.
#[derive(Debug)]
pub(crate) struct Loads {
    each: Box<[AtomicU32]>,
    /// The sum of `each`: every report adds its difference from the value it replaced, so
    /// the differences telescope to the sum whatever the order of concurrent reports.
    total: AtomicU64,
    /// [`Loads::cap`] as of the latest report ([`NO_CAP`]: none).
    cap: AtomicU32,
    /// `ε` and the floor of the bound ([`RouterConfig::load_bound`] and
    /// [`RouterConfig::load_floor`]).
    bound: f32,
    floor: u32,
}

/// [`Loads::cap`] when there is no bound.
const NO_CAP: u32 = u32::MAX;

impl Loads {
    /// `n` managers, none reported (load 0), bounded by `ε` `bound` and `floor`.
    pub(crate) fn new(n: u32, bound: f32, floor: u32) -> Self {
        Self {
            each: (0..n).map(|_| AtomicU32::new(0)).collect(),
            total: AtomicU64::new(0),
            cap: AtomicU32::new(NO_CAP),
            bound,
            floor,
        }
    }

    /// The load last reported for ring index `index` (0 if none, or out of range).
    #[inline]
    pub(crate) fn get(&self, index: u32) -> u32 {
        self.each.get(index as usize).map_or(0, |l| l.load(Relaxed))
    }

    /// Stores `load` as ring index `index`'s, moves the total by the difference and
    /// recomputes the cap from the total. O(1).
    pub(crate) fn report(&self, index: u32, load: u32) {
        if let Some(slot) = self.each.get(index as usize) {
            let was = slot.swap(load, Relaxed);
            // Wrapping: a report's difference may be negative, and the total is exact once
            // every report has added its own.
            let delta = u64::from(load).wrapping_sub(u64::from(was));
            let total = self.total.fetch_add(delta, Relaxed).wrapping_add(delta);
            // Concurrent reports may store their caps out of order: the cap is then one
            // report's difference off until the next report. A total no set of loads can
            // reach (a negative difference added before the positive one it follows,
            // wrapped) stores nothing.
            let most = self.each.len() as u64 * u64::from(u32::MAX);
            if total <= most {
                self.cap.store(self.cap_of(total), Relaxed);
            }
        }
    }

    /// The load at which a member is full, as of the latest report: `ceil((1 + ε) × mean)`
    /// for `ε` = `bound`, never under `floor`; `None` when no load is reported (or the bound
    /// is infinite). One relaxed load.
    #[inline]
    pub(crate) fn cap(&self) -> Option<u32> {
        let cap = self.cap.load(Relaxed);
        (cap != NO_CAP).then_some(cap)
    }

    fn cap_of(&self, total: u64) -> u32 {
        if total == 0 || self.each.is_empty() || self.bound.is_infinite() {
            return NO_CAP;
        }
        // A total read between the two halves of concurrent reports may be off by one
        // report's difference (or, wrapped, "negative": huge); the cap saturates below
        // `NO_CAP`.
        let mean = total as f64 / self.each.len() as f64;
        let cap = (mean * (1.0 + f64::from(self.bound))).ceil() as u32;
        cap.max(self.floor).min(NO_CAP - 1)
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
    #[inline]
    pub(crate) fn seat(&self, (slot, index): (u32, u32)) -> Seat {
        Seat {
            slot,
            manager: self.ring.manager_at(index),
            generation: self.generation,
        }
    }

    #[inline]
    pub(crate) fn healthy(&self) -> u32 {
        self.health.healthy_count()
    }

    /// The reserved half of `task`'s live state, made under this snapshot's seed if it has
    /// none.
    #[inline]
    pub(crate) fn reserved_of<'a>(&self, live: &'a Live, task: TaskId) -> &'a ReservedLive {
        live.reserved(task, self.ring.config().seed)
    }

    /// Managers in the reserved arc of a task with reservation `res`.
    #[inline]
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
        let loads = Loads::new(
            ring.len() as u32,
            self.settings.load_bound,
            self.settings.load_floor,
        );
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

    /// The member at `slot` of arc `(start, len)`: `(slot, ring index)`. The first member
    /// as the arc's live state kept it under this snapshot, without a walk; any other by a
    /// walk from the arc's start.
    #[inline]
    pub(crate) fn pick_slot(&self, start: ArcStart<'_>, len: u32, slot: u32) -> Option<(u32, u32)> {
        if slot == 0 && len > 0 {
            if let Some(first) = self.kept_first_member(start) {
                return Some((0, first));
            }
        }
        self.walk_to(start, len, slot)
    }

    /// [`Snapshot::pick_slot`] past the kept first member: out of line, as most picks are
    /// the first member.
    #[inline(never)]
    fn walk_to(&self, start: ArcStart<'_>, len: u32, slot: u32) -> Option<(u32, u32)> {
        let index = self.walk(start, len).nth(slot as usize)?;
        Some((slot, index))
    }

    /// The first member of an arc whose walk begins at point `origin`, found without a walk
    /// when it is there: the owner of that point if healthy (a walk's first point always
    /// starts a new manager), else `None` and the walk finds it.
    #[inline]
    fn first_member(&self, origin: usize) -> Option<u32> {
        let first = self.ring.owner_at(origin);
        self.health.is_up(first).then_some(first)
    }

    /// The manager after `slot` of the arc from `start`, past the arc's length if need be
    /// (wrapping after the last healthy manager): `(slot, ring index)`. Where a throttled call
    /// goes next; successive probes from one slot meet every healthy manager once.
    pub(crate) fn probe(&self, start: ArcStart<'_>, slot: u32) -> Option<(u32, u32)> {
        let next = slot.saturating_add(1) % self.healthy().max(1);
        self.pick_slot(start, next + 1, next)
    }

    /// `at`, a member of the arc from `start` as `(slot, ring index)`, or the manager after it
    /// when `at` is ring index `avoid` (the manager that threw a call back), past the arc's
    /// length if need be.
    #[inline]
    pub(crate) fn other_than(
        &self,
        start: ArcStart<'_>,
        at: (u32, u32),
        avoid: Option<u32>,
    ) -> Option<(u32, u32)> {
        if avoid == Some(at.1) {
            self.probe(start, at.0)
        } else {
            Some(at)
        }
    }

    /// The slot of the reserved arc for a Reserved call within this frontend's `own` share,
    /// and the slot of the range it is counted on (its count added to `reserved`'s, for the
    /// call's permit to own), if any: the first slot of the share's range, among
    /// the ones `reserved` counts, where this frontend runs fewer of its calls than it owns
    /// environments; past them, the calls are dealt over the environments of the range's
    /// untracked slots in turn. A call that finds every tracked slot full (only when
    /// concurrent calls race for the last place, or the range moved under calls in flight) is
    /// dealt over the whole range, untracked. The search starts at the reserved half's hint,
    /// past slots it found full before: O(1) while the places free are where it points, at
    /// most all the counted slots (up to [`RESERVED_TRACKED`](crate::live::RESERVED_TRACKED)),
    /// O(1) each.
    pub(crate) fn fit_reserved(
        &self,
        reserved: &ReservedLive,
        own: OwnShare,
    ) -> (u32, Option<u32>) {
        let first = own.first_slot();
        let key = own.key();
        let (from, seen) = reserved.hint(key);
        let enter = |rel: u32| reserved.try_enter_slot(rel, own.own_on(first + rel));
        // The hinted slot first, before the range's extent is worked out: where the last
        // search found room, usually there still. A hint is a tracked slot of the range its
        // key names (below `RESERVED_TRACKED`); one past this range (were two ranges' keys
        // to collide) holds none of this frontend's environments, so it finds no room.
        if enter(from) {
            reserved.raise_hint(key, seen, from);
            return (first + from, Some(from));
        }
        let span = own.last_slot() - first + 1;
        let tracked = span.min(RESERVED_TRACKED);
        let from = from.min(tracked);
        if let Some(rel) = (from + 1..tracked).chain(0..from).find(|&rel| enter(rel)) {
            reserved.raise_hint(key, seen, rel);
            return (first + rel, Some(rel));
        }
        let end = own.offset + own.share;
        let from = if span > tracked {
            own.first_of(first + tracked).max(own.offset)
        } else {
            own.offset
        };
        let cursor = reserved.cursor.fetch_add(1, Relaxed);
        (own.slot_of(from + cursor % (end - from).max(1)), None)
    }

    /// The healthy members of arc `(start, len)`, through the start's hint if it has one.
    fn walk(&self, start: ArcStart<'_>, len: u32) -> Walk<'_> {
        self.ring
            .walk_at(self.origin(start), len, Some(&self.health))
    }

    /// The ring index of the first point at or after `start`, through (and into) its hint if
    /// it has one: where a walk of the arc begins.
    #[inline]
    fn origin(&self, start: ArcStart<'_>) -> usize {
        match start.hint() {
            Some(hint) => {
                let was = hint.load(Relaxed);
                let origin = self.ring.successor_near(start.at(), was);
                if origin as u32 != was {
                    hint.store(origin as u32, Relaxed);
                }
                origin
            }
            None => self.ring.successor(start.at()),
        }
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

    /// [`Pick::Pack`]'s rule under this snapshot ([`Fit`]): one load.
    #[inline]
    fn fit(&self) -> Fit {
        Fit {
            quota: self.settings.pack_quota,
            cap: self.loads.cap(),
        }
    }

    /// Whether the member at ring `index` is under `fit`'s cap: as bounded loads has it, a
    /// member whose load is at the cap takes no more.
    #[inline]
    fn under_cap(&self, fit: Fit, index: u32) -> bool {
        fit.cap.is_none_or(|cap| self.loads.get(index) < cap)
    }

    /// This frontend's calls of a group after which the members that threw its calls back
    /// are tried again: as many as it puts on the tracked members when it fills them
    /// ([`TRACKED`] × its quota), about one refill of them by this frontend.
    pub(crate) fn full_window(&self) -> u32 {
        self.fit().window()
    }

    /// The tracked members of `live`'s arc that Pack passes over as full (a bit each) as of
    /// the group's `cursor`: those that threw this frontend's calls back lately, whatever the
    /// counts, while the fleet has room elsewhere. Once the fleet's mean load puts the cap
    /// past [`RouterConfig::load_floor`] (a manager's cores), a call moved off a full member
    /// only evicts other groups' warm environments where it lands (at 25 managers on the
    /// shipped sample that cost more cold starts than it saved rejections), so the marks are
    /// not followed. With no floor set they always are.
    #[inline]
    fn full_marks(&self, live: &Live, cursor: u32, fit: Fit) -> u8 {
        let floor = self.settings.load_floor;
        let busy = floor > 0 && fit.cap.is_some_and(|cap| cap > floor);
        if busy {
            0
        } else {
            live.full_slots(cursor, fit.window())
        }
    }

    /// Where a [`Pick::Pack`] call that `slot` of `live`'s unreserved arc throttled, after
    /// `tries` moves, goes next: the next tracked member after it that Pack would fill (this
    /// frontend under its quota there, the member under the cap). With none, the first
    /// manager past the arc if its reported load is below that of `thrower` (the ring index
    /// of the manager that threw the call back; `None`, as if no load: it left the ring): a
    /// group's burst fills the members packed around a full one, and those dealt in turn
    /// past them, together, and past the arc are none of them; but a manager past the arc as
    /// busy as the full one (a fleet short of memory everywhere, or no load reported) is
    /// likely as full, and the next member may free a place of the group's own first. Else,
    /// and for a call on the arc's last member or past it, for an arc of every healthy
    /// manager, and once the run may have been past the arc already (`tries` at least the
    /// managers past it: a run that wrapped round goes on through the arc, not back past
    /// it), the manager after `slot`. `(slot, ring index)`; examines at most
    /// [`TRACKED`] members, then walks past the arc.
    pub(crate) fn probe_pack(
        &self,
        live: &Live,
        slot: u32,
        tries: u32,
        thrower: Option<u32>,
    ) -> Option<(u32, u32)> {
        let start = live.unreserved_arc_start();
        let (len, healthy) = (live.arc_state().len, self.healthy());
        let tracked = len.min(TRACKED);
        if slot + 1 < tracked {
            let fit = self.fit();
            let full = self.full_marks(live, live.cursor(), fit);
            let members = (0..tracked)
                .zip(self.walk(start, tracked))
                .skip(slot as usize + 1);
            let fit = members.into_iter().find(|&(s, index)| {
                !marked(full, s)
                    && u32::from(live.slot_load(s)) < fit.quota
                    && self.under_cap(fit, index)
            });
            if fit.is_some() {
                return fit;
            }
        }
        // The managers past the arc: none when it holds every healthy one.
        if slot + 1 < len && tries < healthy.saturating_sub(len) {
            let full = thrower.map_or(0, |index| self.loads.get(index));
            if let Some(past) = self.probe(start, len - 1) {
                if self.loads.get(past.1) < full {
                    return Some(past);
                }
            }
        }
        self.probe(start, slot)
    }

    /// [`Pick::Pack`] on `live`'s unreserved arc of `len` for the `cursor`-th call:
    /// `(slot, ring index)`. Examines at most [`TRACKED`] members, then walks on to the
    /// chosen slot.
    #[inline(always)]
    pub(crate) fn pack(&self, live: &Live, len: u32, cursor: u32) -> Option<(u32, u32)> {
        let fit = self.fit();
        let full = self.full_marks(live, cursor, fit);
        // The arc's first member, while it has room (the usual case), without a walk.
        if let Some(first) = self
            .kept_first_member(live.unreserved_arc_start())
            .filter(|_| len > 0)
        {
            if !marked(full, 0)
                && self.under_cap(fit, first)
                && u32::from(live.slot_load(0)) < fit.quota
            {
                return Some((0, first));
            }
        }
        let origin = self.origin(live.unreserved_arc_start());
        self.pack_walk(live, len, cursor, (fit, full), origin)
    }

    /// The first member of the arc from `start`: as its live state kept it under this
    /// snapshot, else found from the arc's start (and kept). `None` when the arc's first
    /// point is a down manager's (the walk finds the first member then).
    #[inline(always)]
    fn kept_first_member(&self, start: ArcStart<'_>) -> Option<u32> {
        let tag = self.first_tag;
        match start.first().get(tag) {
            // Checked, for a member kept under a generation 2⁴⁰ publishes earlier.
            Some(first) => Some(first)
                .filter(|&first| (first as usize) < self.ring.len() && self.health.is_up(first)),
            None => {
                let first = self.first_member(self.origin(start));
                if let Some(first) = first {
                    start.first().keep(tag, first);
                }
                first
            }
        }
    }

    /// [`Snapshot::pack`] past the first member, on a walk of the arc from point `origin`:
    /// out of line, so that the first member's test inlines where routes call it.
    #[inline(never)]
    fn pack_walk(
        &self,
        live: &Live,
        len: u32,
        cursor: u32,
        (fit, full): (Fit, u8),
        origin: usize,
    ) -> Option<(u32, u32)> {
        let within = |slot: u32, index: u32| !marked(full, slot) && self.under_cap(fit, index);
        let tracked = len.min(TRACKED);
        let mut members = self.ring.walk_at(origin, len, Some(&self.health));
        // The member within the bound with this frontend's fewest calls, for a full arc.
        let mut fewest: Option<(u16, u32, u32)> = None;
        for (slot, index) in (0..tracked).zip(members.by_ref()) {
            if !within(slot, index) {
                continue;
            }
            let count = live.slot_load(slot);
            if u32::from(count) < fit.quota {
                return Some((slot, index));
            }
            if fewest.is_none_or(|(least, ..)| count < least) {
                fewest = Some((count, slot, index));
            }
        }
        if len > tracked {
            // In turn over the members past the tracked ones; one at the cap passes the call
            // to the next within the bound, up to [`TRACKED`] further.
            let past = cursor % (len - tracked);
            let turn = (tracked + past, members.nth(past as usize)?);
            if within(turn.0, turn.1) {
                return Some(turn);
            }
            let further = (len - turn.0 - 1).min(TRACKED);
            let next = (turn.0 + 1..).zip(members.take(further as usize));
            return Some(
                next.into_iter()
                    .find(|&(s, index)| within(s, index))
                    .unwrap_or(turn),
            );
        }
        match fewest {
            Some((_, slot, index)) => Some((slot, index)),
            // Every member is over the bound: the first manager past the arc, as bounded
            // loads would walk on, without widening the arc for the calls after it.
            None => self.probe(live.unreserved_arc_start(), len.saturating_sub(1)),
        }
    }
}
