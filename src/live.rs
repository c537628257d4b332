//! Per-task live state (in-flight counts, cursors, arc lengths) in a sharded map, with idle
//! eviction and striped event tallies.

use std::collections::HashMap;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::assign::ArcState;
use crate::hash;
use crate::id::{GroupId, TaskId};
use crate::stats::Tallies;

/// Stripes of the live map and of the reservation table.
pub(crate) const STRIPES: usize = 64;

/// Sweep a shard on insert once it holds this many entries (then at twice its live size).
const FIRST_SWEEP: usize = 1024;

/// Slots of an unreserved arc, from its first, whose calls in flight from this frontend a
/// group's live state counts for [`Pick::Pack`](crate::Pick::Pack): 16 bytes of counts.
pub(crate) const TRACKED: u32 = 8;

/// The most Reserved calls of one task a frontend counts on one tracked slot: half the
/// `u8` count's range, so that racing calls cannot wrap it.
pub(crate) const RESERVED_ROOM: u32 = 128;

/// Marks "no value" in the time fields, which store nanoseconds + 1.
const NONE: u64 = 0;

/// What new live state starts from: the placement seed of its arc starts and its first
/// unreserved arc length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fresh {
    pub(crate) seed: u64,
    pub(crate) arc_len: u32,
}

/// Where an arc starts on the ring, with the live state's remembered ring index of that
/// position where it keeps one.
#[derive(Clone, Copy)]
pub(crate) struct ArcStart<'a> {
    pub(crate) at: u64,
    pub(crate) hint: Option<&'a AtomicU32>,
}

/// Live state of one key: a task (reserved counts) and/or a group (unreserved arc).
#[derive(Debug)]
pub(crate) struct Live {
    /// Arc starts under the router's seed, computed once when the state is made.
    pub(crate) reserved_start: u64,
    pub(crate) unreserved_start: u64,
    /// Calls in flight on this task's reserved arc.
    pub(crate) reserved: AtomicU32,
    /// Calls in flight on this group's unreserved arc (unreserved and spillover) in the low
    /// 32 bits, and the arc's round-robin cursor in the high 32 bits: one `fetch_add` both
    /// counts a call and takes its turn. In-flight calls cannot reach 2^32, so the count never
    /// carries into the cursor; the cursor wraps.
    unreserved: AtomicU64,
    /// The ring index where the unreserved arc starts, as last found: a hint that spares the
    /// binary search while the ring stays the same (checked on every use).
    pub(crate) unreserved_origin: AtomicU32,
    /// Round-robin cursor of the reserved arc, apart so that spillover does not skew the
    /// reserved arc's proportions.
    pub(crate) reserved_cursor: AtomicU32,
    pub(crate) arc_len: AtomicU32,
    below_since: AtomicU64,
    /// When this state was made, or the latest sweep that found it used (never earlier than
    /// its last use), with [`USED`] set once a route used it since: routes mark a use without
    /// reading the clock, and a sweep turns the mark into a time.
    last_seen: AtomicU64,
    /// Host-reported reserved busy fraction in permille, with when it was reported
    /// ([`Report`]: one store keeps the two together).
    busy: AtomicU64,
    /// Reserved calls in flight on other frontends, from the host's latest global count, with
    /// when it was reported.
    others: AtomicU64,
    /// This frontend's calls in flight on each of the first [`TRACKED`] slots of the
    /// unreserved arc, counted by the permits that chose them. Each permit takes back exactly
    /// what it added, so the counts return to 0 with the last permit; they wrap rather than
    /// saturate (65,536 calls on one slot from one frontend), which can only misplace calls,
    /// never lose a count.
    slots: [AtomicU16; TRACKED as usize],
    /// This frontend's Reserved calls in flight, admitted within its own share, on each of
    /// the first [`TRACKED`] slots of its share's range of the reserved arc, from the range's
    /// first slot (see [`docs::frontends`](crate::docs::frontends)): 8 bytes. Bounded by this
    /// frontend's environments on each slot and by [`RESERVED_ROOM`] (a slot holding more of
    /// this frontend's environments counts as full there). Each permit takes back exactly
    /// what it added, so the counts return to 0 with the last permit.
    reserved_slots: [AtomicU8; TRACKED as usize],
}

/// The "used since the last sweep" mark in `last_seen`; stamps stay below it.
const USED: u64 = 1 << 63;

/// A host report packed into one `u64`: a value of [`Report::BITS`] bits below the report's
/// time in milliseconds + 1 (0: no report). Reports are judged stale at millisecond grain.
struct Report;

impl Report {
    const BITS: u32 = 24;
    const MAX_VALUE: u32 = (1 << Self::BITS) - 1;

    /// `value` (saturated to 24 bits) reported at `now`, time since the router was built
    /// (saturated to 2^40 - 2 ms, 34 years).
    fn pack(value: u32, now: Duration) -> u64 {
        let ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        let ms = ms.min((1 << (64 - Self::BITS)) - 2) + 1;
        ms << Self::BITS | u64::from(value.min(Self::MAX_VALUE))
    }

    /// The value, if reported within `ttl` of `now` (a clock that stepped back counts as
    /// fresh).
    fn fresh(packed: u64, now: Duration, ttl: Duration) -> Option<u32> {
        let ms = packed >> Self::BITS;
        let at = Duration::from_millis(ms.checked_sub(1)?);
        let fresh = now.checked_sub(at).is_none_or(|age| age <= ttl);
        fresh.then_some((packed & u64::from(Self::MAX_VALUE)) as u32)
    }
}

impl Live {
    fn new(key: u128, fresh: Fresh, now: Duration) -> Self {
        Self {
            reserved_start: hash::reserved_start(fresh.seed, TaskId::new(key)),
            unreserved_start: hash::unreserved_start(fresh.seed, GroupId::new(key)),
            reserved: AtomicU32::new(0),
            unreserved: AtomicU64::new(0),
            unreserved_origin: AtomicU32::new(0),
            reserved_cursor: AtomicU32::new(0),
            arc_len: AtomicU32::new(fresh.arc_len),
            below_since: AtomicU64::new(NONE),
            last_seen: AtomicU64::new(seen(now)),
            busy: AtomicU64::new(0),
            others: AtomicU64::new(0),
            slots: Default::default(),
            reserved_slots: Default::default(),
        }
    }

    /// This frontend's calls in flight on tracked `slot` of the unreserved arc (0 for an
    /// untracked slot).
    pub(crate) fn slot_load(&self, slot: u32) -> u16 {
        self.slots
            .get(slot as usize)
            .map_or(0, |count| count.load(Relaxed))
    }

    /// Counts one more call on tracked `slot` (nothing for an untracked one).
    pub(crate) fn enter_slot(&self, slot: u32) {
        if let Some(count) = self.slots.get(slot as usize) {
            count.fetch_add(1, Relaxed);
        }
    }

    /// Ends one call counted by [`Live::enter_slot`] on `slot`.
    pub(crate) fn exit_slot(&self, slot: u32) {
        if let Some(count) = self.slots.get(slot as usize) {
            count.fetch_sub(1, Release);
        }
    }

    /// This frontend's Reserved calls in flight on slot `rel` of its share's range (0 for an
    /// untracked one).
    #[cfg(test)]
    pub(crate) fn reserved_slot_load(&self, rel: u32) -> u8 {
        self.reserved_slots
            .get(rel as usize)
            .map_or(0, |count| count.load(Relaxed))
    }

    /// Counts one more Reserved call on slot `rel` of the range if it holds fewer than `room`
    /// (at most [`RESERVED_ROOM`]); returns whether it did. One `fetch_add`, undone when the
    /// slot was full, so concurrent calls never keep more than `room` on it. Racing calls
    /// may lift a count past `room` for a moment; wrapping the `u8` would take more than
    /// 128 of them at once on one slot, and could only misplace calls until they end, never
    /// lose a count.
    pub(crate) fn try_enter_reserved_slot(&self, rel: u32, room: u32) -> bool {
        let Some(count) = self.reserved_slots.get(rel as usize) else {
            return false;
        };
        let room = room.min(RESERVED_ROOM);
        if u32::from(count.load(Relaxed)) >= room {
            return false;
        }
        if u32::from(count.fetch_add(1, Relaxed)) < room {
            return true;
        }
        count.fetch_sub(1, Release);
        false
    }

    /// Ends one call counted by [`Live::try_enter_reserved_slot`] on `rel`.
    pub(crate) fn exit_reserved_slot(&self, rel: u32) {
        if let Some(count) = self.reserved_slots.get(rel as usize) {
            count.fetch_sub(1, Release);
        }
    }

    /// The start of this task's reserved arc.
    pub(crate) fn reserved_arc_start(&self) -> ArcStart<'_> {
        ArcStart {
            at: self.reserved_start,
            hint: None,
        }
    }

    /// The start of this group's unreserved arc, with its ring-index hint.
    pub(crate) fn unreserved_arc_start(&self) -> ArcStart<'_> {
        ArcStart {
            at: self.unreserved_start,
            hint: Some(&self.unreserved_origin),
        }
    }

    /// Counts one more call on the unreserved arc: `(calls in flight with it, its cursor)`.
    pub(crate) fn enter_unreserved(&self) -> (u32, u32) {
        let before = self.unreserved.fetch_add(1 | 1 << 32, Relaxed);
        ((before as u32).saturating_add(1), (before >> 32) as u32)
    }

    /// Ends one call counted by [`Live::enter_unreserved`].
    pub(crate) fn exit_unreserved(&self) {
        self.unreserved.fetch_sub(1, Release);
    }

    /// Calls in flight on the unreserved arc.
    pub(crate) fn unreserved_in_flight(&self) -> u32 {
        self.unreserved.load(Relaxed) as u32
    }

    pub(crate) fn arc_state(&self) -> ArcState {
        ArcState {
            len: self.arc_len.load(Relaxed),
            below_since: unstamp(self.below_since.load(Relaxed)),
        }
    }

    /// Publishes `next` if the length is still `expected`; returns whether this caller moved it.
    ///
    /// Only the winner of a length change counts it, so grow and shrink counters are exact;
    /// `below_since` is advisory: concurrent callers may overwrite each other's.
    pub(crate) fn store_arc_state(&self, expected: u32, next: ArcState) -> bool {
        let moved = next.len != expected
            && self
                .arc_len
                .compare_exchange(expected, next.len, Relaxed, Relaxed)
                .is_ok();
        // A caller that lost the race to move the length leaves the timer to the winner.
        if moved || next.len == expected {
            self.below_since
                .store(next.below_since.map_or(NONE, stamp), Relaxed);
        }
        moved
    }

    /// Marks the state used. No clock read; once per sweep interval a store.
    pub(crate) fn touch(&self) {
        // Skip the store while the flag is set to keep the line shared.
        // A sweep that stores a time between this load and store is overwritten with the
        // older time, marked: the next sweep dates the use later still, never earlier.
        let seen = self.last_seen.load(Relaxed);
        if seen & USED == 0 {
            self.last_seen.store(seen | USED, Relaxed);
        }
    }

    pub(crate) fn report_busy(&self, permille: u32, now: Duration) {
        self.busy.store(Report::pack(permille, now), Relaxed);
    }

    /// The busy fraction in permille, if one was reported within `ttl` of `now`.
    pub(crate) fn busy(&self, now: Duration, ttl: Duration) -> Option<u32> {
        Report::fresh(self.busy.load(Relaxed), now, ttl)
    }

    /// Takes a fleet-wide count of reserved calls in flight, which includes this frontend's
    /// own as of about now: the rest are the other frontends'.
    pub(crate) fn report_global(&self, in_flight: u32, now: Duration) {
        let own = self.reserved.load(Relaxed);
        let others = in_flight.saturating_sub(own);
        self.others.store(Report::pack(others, now), Relaxed);
    }

    /// Other frontends' reserved calls in flight, if reported within `ttl` of `now`.
    pub(crate) fn others(&self, now: Duration, ttl: Duration) -> Option<u32> {
        Report::fresh(self.others.load(Relaxed), now, ttl)
    }

    /// Looked at by a sweep that started at `now`: whether the state went unused for more than
    /// `ttl`.
    ///
    /// Used since the last sweep: not idle, and the clock read *after* seeing the mark becomes
    /// its last-seen time, so the use is never dated early, whenever it ran. A route that
    /// marks it again meanwhile leaves the mark for the next sweep.
    fn idle(&self, now: Duration, ttl: Duration, clock: &impl Fn() -> Duration) -> bool {
        let seen = self.last_seen.load(Relaxed);
        if seen & USED != 0 {
            self.last_seen.store(self::seen(clock()), Relaxed);
            return false;
        }
        unstamp(seen).is_none_or(|at| now.checked_sub(at).is_some_and(|age| age > ttl))
    }
}

fn stamp(t: Duration) -> u64 {
    // Saturates one short of the top so that `+ 1` never wraps into `NONE`.
    u64::try_from(t.as_nanos())
        .unwrap_or(u64::MAX)
        .min(u64::MAX - 1)
        + 1
}

/// A stamp for `last_seen`: below [`USED`].
fn seen(t: Duration) -> u64 {
    stamp(t).min(USED - 1)
}

fn unstamp(v: u64) -> Option<Duration> {
    (v != NONE).then(|| Duration::from_nanos(v - 1))
}

#[derive(Debug, Default)]
struct ShardMap {
    map: HashMap<u128, Arc<Live>, ahash::RandomState>,
    sweep_at: usize,
}

/// One stripe: its map and event tallies on their own cache lines, away from other stripes.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Shard {
    map: RwLock<ShardMap>,
    pub(crate) tallies: Tallies,
}

impl Shard {
    /// The live state of `key` (a key of this shard), made fresh under `fresh` if absent;
    /// marks it used.
    ///
    /// A read lock and no clock read on the warm path; a write lock, a clock read (and, now
    /// and then, an amortized sweep of this shard) when the key is new.
    pub(crate) fn get_or_insert(
        &self,
        key: u128,
        fresh: Fresh,
        ttl: Duration,
        clock: &impl Fn() -> Duration,
    ) -> Arc<Live> {
        let found = self.map.read().map.get(&key).cloned();
        if let Some(live) = found {
            live.touch();
            return live;
        }
        let mut guard = self.map.write();
        if let Some(live) = guard.map.get(&key) {
            live.touch();
            return Arc::clone(live);
        }
        if guard.map.len() >= guard.sweep_at.max(FIRST_SWEEP) {
            self.sweep(&mut guard.map, ttl, clock);
            guard.sweep_at = guard.map.len().saturating_mul(2);
        }
        let live = Arc::new(Live::new(key, fresh, clock()));
        guard.map.insert(key, Arc::clone(&live));
        live
    }

    /// Evicts the idle entries of this shard's `map` (whose write lock the caller holds) and
    /// counts them. An entry whose `Arc` is held only by the map has no permit out and no
    /// route in progress: clones are taken only under the shard's read lock, which the
    /// write lock excludes, so nothing can revive it after the check.
    fn sweep(
        &self,
        map: &mut HashMap<u128, Arc<Live>, ahash::RandomState>,
        ttl: Duration,
        clock: &impl Fn() -> Duration,
    ) -> usize {
        // Read under the write lock: uses through the map, which mark under the read lock,
        // all ran before it.
        let now = clock();
        let before = map.len();
        // Every entry is looked at, held or not, so that its use turns into a time.
        map.retain(|_, live| !live.idle(now, ttl, clock) || Arc::strong_count(live) > 1);
        // A map keeps its capacity as entries go: without this, a burst of new tasks would
        // hold its peak memory for good. Shrinking only below a quarter full, to half full,
        // costs O(entries), less than the sweep itself, and cannot thrash with regrowth.
        if map.capacity() > 4 * map.len() {
            map.shrink_to(2 * map.len());
        }
        let evicted = before - map.len();
        self.tallies.evictions.fetch_add(evicted as u64, Relaxed);
        evicted
    }
}

/// Totals over all shards of what lives in them.
#[derive(Debug, Default)]
pub(crate) struct LiveTotals {
    pub(crate) entries: usize,
    pub(crate) reserved: u64,
    pub(crate) unreserved: u64,
}

/// The sharded live map.
#[derive(Debug)]
pub(crate) struct LiveMap {
    shards: Box<[Shard]>,
}

impl Default for LiveMap {
    fn default() -> Self {
        Self {
            shards: (0..STRIPES).map(|_| Shard::default()).collect(),
        }
    }
}

impl LiveMap {
    pub(crate) fn shard(&self, key: u128) -> &Shard {
        &self.shards[stripe(key)]
    }

    /// Live state of `key` if present, without touching it.
    pub(crate) fn get(&self, key: u128) -> Option<Arc<Live>> {
        self.shard(key).map.read().map.get(&key).cloned()
    }

    /// Removes every entry with no permit out that went unused for more than `ttl`, reading
    /// `clock` for each shard under its lock and for each use it dates.
    pub(crate) fn evict_idle(&self, ttl: Duration, clock: &impl Fn() -> Duration) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.sweep(&mut shard.map.write().map, ttl, clock))
            .sum()
    }

    pub(crate) fn shards(&self) -> &[Shard] {
        &self.shards
    }

    pub(crate) fn totals(&self) -> LiveTotals {
        let mut totals = LiveTotals::default();
        for shard in self.shards.iter() {
            let guard = shard.map.read();
            totals.entries += guard.map.len();
            for live in guard.map.values() {
                totals.reserved += u64::from(live.reserved.load(Relaxed));
                totals.unreserved += u64::from(live.unreserved_in_flight());
            }
        }
        totals
    }
}

/// The stripe of `key`, in `0..STRIPES`: its shard here, and its shard of the reservation
/// table.
///
/// Host-chosen ids may be sequential: fold and mix before taking the top bits. Not part of
/// the placement spec; it only spreads keys over locks.
pub(crate) fn stripe(key: u128) -> usize {
    let folded = (key as u64) ^ ((key >> 64) as u64);
    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - STRIPES.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const F: Fresh = Fresh {
        seed: 0,
        arc_len: 1,
    };

    #[test]
    fn evicts_only_idle_entries_without_holders() {
        let map = LiveMap::default();
        let held = map.shard(1).get_or_insert(1, F, S, &|| S);
        drop(map.shard(2).get_or_insert(2, F, S, &|| S));
        drop(map.shard(3).get_or_insert(3, F, S, &|| 10 * S));
        assert_eq!(
            map.evict_idle(S, &|| 10 * S),
            1,
            "only key 2: 1 is held, 3 is recent"
        );
        assert!(map.get(1).is_some() && map.get(2).is_none() && map.get(3).is_some());
        drop(held);
        assert_eq!(map.evict_idle(S, &|| 20 * S), 2);
        assert_eq!(map.totals().entries, 0);
    }

    #[test]
    fn a_use_counts_from_the_sweep_that_sees_it() {
        let map = LiveMap::default();
        drop(map.shard(1).get_or_insert(1, F, S, &|| S));
        // Used again at some unknown time: the sweep at 10 s keeps it and dates the use 10 s.
        drop(
            map.shard(1)
                .get_or_insert(1, F, S, &|| unreachable!("warm: no clock")),
        );
        assert_eq!(map.evict_idle(S, &|| 10 * S), 0);
        assert_eq!(map.evict_idle(S, &|| 11 * S), 0, "idle exactly ttl: kept");
        assert_eq!(map.evict_idle(S, &|| 11 * S + Duration::from_nanos(1)), 1);
    }

    #[test]
    fn inserts_sweep_a_full_shard() {
        let map = LiveMap::default();
        let key_in_shard =
            |n: usize| -> Vec<u128> { (0u128..).filter(|&k| stripe(k) == 0).take(n).collect() };
        let keys = key_in_shard(FIRST_SWEEP + 1);
        for &k in &keys[..FIRST_SWEEP] {
            drop(map.shard(k).get_or_insert(k, F, S, &|| S));
        }
        // Everything is idle at t=10s: the next insert into that shard sweeps it.
        drop(
            map.shard(keys[FIRST_SWEEP])
                .get_or_insert(keys[FIRST_SWEEP], F, S, &|| 10 * S),
        );
        assert_eq!(map.totals().entries, 1);
        assert_eq!(
            map.shards[0].tallies.evictions.load(Relaxed),
            FIRST_SWEEP as u64
        );
    }

    #[test]
    fn a_sweep_gives_back_the_room_of_what_it_evicted() {
        let map = LiveMap::default();
        for k in 0..10_000 {
            drop(map.shard(k).get_or_insert(k, F, S, &|| S));
        }
        let held = map.shard(0).get_or_insert(0, F, S, &|| S);
        assert_eq!(map.evict_idle(S, &|| 10 * S), 9_999);
        let capacity: usize = map.shards.iter().map(|s| s.map.read().map.capacity()).sum();
        assert!(capacity <= 4, "{capacity} slots kept for 1 entry");
        drop(held);
    }

    #[test]
    fn the_latest_instant_is_still_a_time() {
        let max = Duration::from_nanos(u64::MAX);
        assert_eq!(
            unstamp(stamp(max)),
            Some(Duration::from_nanos(u64::MAX - 1))
        );
        assert_eq!(
            unstamp(stamp(Duration::MAX)),
            Some(Duration::from_nanos(u64::MAX - 1))
        );
        assert_eq!(unstamp(stamp(Duration::ZERO)), Some(Duration::ZERO));
    }

    #[test]
    fn reports_saturate_and_keep_their_time() {
        // Times (since the router was built) saturate after 34 years.
        let last = Duration::from_millis((1 << 40) - 2);
        let packed = Report::pack(u32::MAX, Duration::MAX);
        assert_eq!(Report::fresh(packed, last, S), Some(Report::MAX_VALUE));
        assert_eq!(
            Report::fresh(packed, Duration::MAX, S),
            None,
            "too old to tell"
        );
        let packed = Report::pack(7, 5 * S);
        assert_eq!(Report::fresh(packed, 6 * S, S), Some(7));
        assert_eq!(
            Report::fresh(packed, 6 * S + Duration::from_millis(1), S),
            None
        );
        assert_eq!(
            Report::fresh(packed, S, S),
            Some(7),
            "a clock that stepped back"
        );
        assert_eq!(Report::fresh(0, S, S), None);
    }

    #[test]
    fn live_state_stays_small() {
        // Part of the per-task memory bound stated in `RELIABILITY.md` (Memory): 72 bytes of
        // counts, cursors, arc state and reports, 16 of per-slot unreserved counts and 8 of
        // per-slot reserved counts.
        assert!(
            std::mem::size_of::<Live>() <= 96,
            "{}",
            std::mem::size_of::<Live>()
        );
    }

    #[test]
    fn busy_reports_go_stale() {
        let live = Live::new(0, F, S);
        assert_eq!(live.busy(S, S), None);
        live.report_busy(250, S);
        assert_eq!(live.busy(2 * S, S), Some(250));
        assert_eq!(live.busy(3 * S, S), None);
    }
}
