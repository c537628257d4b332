//! Per-task live state (in-flight counts, cursors, arc lengths) in a sharded map, with idle
//! eviction.

#[cfg(arcroute_loom)]
pub(crate) use loom::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8};
use std::sync::atomic::Ordering::{Relaxed, Release};
#[cfg(not(arcroute_loom))]
pub(crate) use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8};
use std::sync::Arc;
use std::time::Duration;

use hashbrown::HashTable;
use once_cell::race::OnceBox;
#[cfg(not(arcroute_loom))]
use parking_lot::RwLock;

#[cfg(arcroute_loom)]
use self::loom_lock::RwLock;

use crate::assign::ArcState;
use crate::hash;
use crate::id::{GroupId, TaskId};

/// Stripes of the live map and of the reservation table (2 under the interleaving checker,
/// so that a few tasks share a shard).
#[cfg(not(arcroute_loom))]
pub(crate) const STRIPES: usize = 64;
#[cfg(arcroute_loom)]
pub(crate) const STRIPES: usize = 2;

/// An insert into a shard that holds this many entries sweeps a few of its buckets (2 under
/// the interleaving checker, so that a few tasks drive that sweep).
#[cfg(not(arcroute_loom))]
const FIRST_SWEEP: usize = 1024;
#[cfg(arcroute_loom)]
const FIRST_SWEEP: usize = 2;

/// Buckets an insert into a shard of [`FIRST_SWEEP`] entries or more sweeps: at a load of 7/16
/// to 7/8, 3 to 7 entries, so the sweep walks a shard of n entries once per 0.14n to 0.29n new
/// tasks, and idle state goes within two such walks of its TTL: a shard holds at most about
/// twice the entries used within the TTL, as when it was swept whole at twice its size.
const INSERT_SWEEP: usize = 8;

/// Buckets one hold of a shard's write lock sweeps in [`LiveMap::evict_idle`]: at most this
/// many entries looked at while routes of that shard wait.
pub(crate) const SWEEP_SLICE: usize = 256;

/// How many times one shard's sweep in [`LiveMap::evict_idle`] starts over after inserts moved
/// entries between its lock holds.
const SWEEP_RESTARTS: u32 = 4;

/// Slots of an unreserved arc, from its first, whose calls in flight from this frontend a
/// group's live state counts for [`Pick::Pack`](crate::Pick::Pack): 16 bytes of counts.
pub(crate) const TRACKED: u32 = 8;

/// The most slots of this frontend's range of a reserved arc whose Reserved calls in flight a
/// reserved task's live state counts, a byte each: enough for a share of 16,384 environments
/// at the default 16 a manager. The counts come in pages of [`PAGE`] slots, each made the
/// first time a call is counted on one of its slots, so a task pays for the range it uses,
/// however its reservation grows; a range past them is dealt over by turn, uncounted.
pub(crate) const RESERVED_TRACKED: u32 = 1024;

/// Slots a page of reserved counts holds.
const PAGE: u32 = 64;

/// One page of reserved counts.
type Page = [AtomicU8; PAGE as usize];

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

/// Where an arc starts on the ring, with what its live state remembers of it: the ring index
/// of that position as last found, and the arc's first member as kept. Made only by the
/// live state that holds the arc ([`Live::unreserved_arc_start`],
/// [`ReservedLive::arc_start`]), so that a start and what is remembered of it go together.
#[derive(Clone, Copy)]
pub(crate) struct ArcStart<'a> {
    at: u64,
    hint: Option<&'a AtomicU32>,
    first: &'a KeptFirst,
}

impl<'a> ArcStart<'a> {
    /// Where the arc starts on the ring.
    #[inline]
    pub(crate) fn at(self) -> u64 {
        self.at
    }

    /// The ring index of the first point at or after the start, as last found, where the
    /// start keeps one: a hint, checked against the ring on every use. Without one, the ring
    /// is searched. Every start made today keeps one, so that arm is never taken; the
    /// `Option` stays because the hot path timed 10 ns slower on a warm reserved route
    /// without it, for the same instructions (code layout, measured in alternating runs).
    #[inline]
    pub(crate) fn hint(self) -> Option<&'a AtomicU32> {
        self.hint
    }

    /// The arc's first member, as last found.
    #[inline]
    pub(crate) fn first(self) -> &'a KeptFirst {
        self.first
    }
}

/// An arc's first member (a ring index, low [`FIRST_BITS`] bits) as found under the snapshot
/// whose [`FirstTag`] the high bits hold: a route under the same snapshot takes it without
/// finding the arc's start on the ring. A snapshot of another ring or health has another
/// generation, so another tag.
#[derive(Debug)]
pub(crate) struct KeptFirst(AtomicU64);

impl KeptFirst {
    fn new() -> Self {
        Self(AtomicU64::new(NO_FIRST))
    }

    /// The first member, if it was found under a snapshot tagged `tag`.
    #[inline]
    pub(crate) fn get(&self, tag: FirstTag) -> Option<u32> {
        let kept = self.0.load(Relaxed);
        (kept & !FIRST_MASK == tag.0).then_some((kept & FIRST_MASK) as u32)
    }

    /// Keeps ring index `first` as the first member under the snapshot tagged `tag`.
    #[inline]
    pub(crate) fn keep(&self, tag: FirstTag, first: u32) {
        self.0.store(tag.0 | u64::from(first) & FIRST_MASK, Relaxed);
    }
}

/// Live state of one key: a task (reserved counts) and/or a group (unreserved arc).
///
/// 96 bytes (asserted); a task that holds a reservation adds its [`ReservedLive`], made on
/// the first reserved route or host report that needs it.
#[derive(Debug)]
pub(crate) struct Live {
    /// The key this state is filed under in the live map (a task's or a group's id): kept
    /// here, so that the map's buckets hold a hash and a pointer, 16 bytes, not 32.
    key: u128,
    /// The unreserved arc's start under the router's seed, computed once when the state is
    /// made.
    pub(crate) unreserved_start: u64,
    /// Calls in flight on this group's unreserved arc (unreserved and spillover) in the low
    /// 32 bits, and the arc's round-robin cursor in the high 32 bits: one `fetch_add` both
    /// counts a call and takes its turn. In-flight calls cannot reach 2^32, so the count never
    /// carries into the cursor; the cursor wraps.
    unreserved: AtomicU64,
    /// The ring index where the unreserved arc starts, as last found: a hint that spares the
    /// ring's search while the ring stays the same (checked on every use).
    pub(crate) unreserved_origin: AtomicU32,
    /// The unreserved arc's first member, as last found.
    first: KeptFirst,
    pub(crate) arc_len: AtomicU32,
    below_since: AtomicU64,
    /// When this state was made, or the latest sweep that found it used (never earlier than
    /// its last use), with [`USED`] set once a route used it since: routes mark a use without
    /// reading the clock, and a sweep turns the mark into a time.
    last_seen: AtomicU64,
    /// This frontend's calls in flight on each of the first [`TRACKED`] slots of the
    /// unreserved arc, counted by the permits that chose them. Each permit takes back exactly
    /// what it added, so the counts return to 0 with the last permit; they wrap rather than
    /// saturate (65,536 calls on one slot from one frontend), which can only misplace calls,
    /// never lose a count.
    slots: [AtomicU16; TRACKED as usize],
    /// Tracked slots whose manager throttled one of this frontend's calls of the group (a
    /// bit each, low 8 bits), and the group's cursor when the first of them did (high 32
    /// bits): [`Pick::Pack`](crate::Pick::Pack) passes them over until a call of this
    /// frontend there ends, or the group has taken enough calls since to refill its tracked
    /// members (see [`Live::full_slots`]). A throttle says a manager is full now, whatever
    /// Pack's counts say (a large function fills a manager's memory before its quota): the
    /// next calls go where there is room instead of each paying a throttle there.
    full: AtomicU64,
    /// The reserved half, for a task that has needed one: made once, kept until the state is
    /// evicted (one pointer: routes that race to make it each build one, the first kept is
    /// every route's, the others are dropped unused).
    reserved: OnceBox<ReservedLive>,
}

/// The live state only a reserved task needs: its reserved arc's start, its Reserved calls
/// in flight, and the host's reports about them. 184 bytes, and 64 a page of slot counts its
/// range reaches, made once per reserved task.
#[derive(Debug)]
pub(crate) struct ReservedLive {
    /// The reserved arc's start under the router's seed.
    start: u64,
    /// The ring index where the reserved arc starts, as last found (a hint, as
    /// [`Live::unreserved_origin`]).
    origin: AtomicU32,
    /// The reserved arc's first member, as last found: where a call goes while that
    /// member has room for this frontend (as [`Live`]'s for the unreserved arc).
    first: KeptFirst,
    /// Calls in flight on this task's reserved arc.
    pub(crate) count: AtomicU32,
    /// Round-robin cursor of the reserved arc, apart from the unreserved one so that
    /// spillover does not skew the reserved arc's proportions.
    pub(crate) cursor: AtomicU32,
    /// Host-reported reserved busy fraction in permille, with when it was reported
    /// ([`Report`]: one store keeps the two together).
    busy: AtomicU64,
    /// Reserved calls in flight on other frontends, from the host's latest global count, with
    /// when it was reported.
    others: AtomicU64,
    /// This frontend's Reserved calls in flight, admitted within its own share, on each of
    /// the first slots of its share's range of the reserved arc (as many as the arc had when
    /// this half was made, up to [`RESERVED_TRACKED`]), from the range's first slot (see
    /// [`docs::frontends`](crate::docs::frontends)). Bounded by this frontend's environments
    /// on each slot and by [`RESERVED_ROOM`] (a slot holding more of this frontend's
    /// environments counts as full there). Each permit takes back exactly what it added, so
    /// the counts return to 0 with the last permit.
    /// A page is made by the first call counted on one of its slots (as the reserved half is:
    /// a racing call's page is dropped unused).
    slots: [OnceBox<Page>; (RESERVED_TRACKED / PAGE) as usize],
    /// The lowest slot of `slots` that may have a place free (low 32 bits), for the range
    /// whose [`ReservedLive::hint`] key is in the high 32 bits: a search of that range starts
    /// there. Lowered by every call that ends below it, raised by the search that found the
    /// slots below full, void when the range changes. A race can leave it above a free slot,
    /// so a search that finds nothing from it looks below it too: it saves work and never
    /// loses a place.
    hint: AtomicU64,
}

/// Bits of a [`KeptFirst`] that hold a ring index: every ring index fits.
const FIRST_BITS: u32 = 24;
const _: () = assert!(crate::ring::MAX_MANAGERS <= 1 << FIRST_BITS);
const FIRST_MASK: u64 = (1 << FIRST_BITS) - 1;

/// A [`KeptFirst`] before any route kept a member: a tag that one generation in 2⁴⁰ has
/// (under it, this reads as a kept member, checked as any).
const NO_FIRST: u64 = u64::MAX;

/// What a [`KeptFirst`] keeps a first member under: a snapshot's generation plus its
/// router's salt, the low 40 bits. The salt is random per router, so that a state read
/// under another router's snapshot (a route thrown back to a router that did not make it)
/// is not likely to share a tag, though every router's generations start at 1. Generations
/// a router publishes 2⁴⁰ apart share a tag, so a route checks the member it takes from
/// there against the ring's size and health as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FirstTag(u64);

impl FirstTag {
    /// The tag of `generation` under a router's `salt`.
    pub(crate) fn new(generation: u64, salt: u64) -> Self {
        Self(generation.wrapping_add(salt) << FIRST_BITS)
    }

    /// The tag of the next generation.
    pub(crate) fn next(self) -> Self {
        Self(self.0.wrapping_add(1 << FIRST_BITS))
    }
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
            key,
            unreserved_start: hash::unreserved_start(fresh.seed, GroupId::new(key)),
            unreserved: AtomicU64::new(0),
            unreserved_origin: AtomicU32::new(0),
            first: KeptFirst::new(),
            arc_len: AtomicU32::new(fresh.arc_len),
            below_since: AtomicU64::new(NONE),
            last_seen: AtomicU64::new(seen(now)),
            slots: Default::default(),
            full: AtomicU64::new(0),
            reserved: OnceBox::new(),
        }
    }

    /// The reserved half of `task`'s state (this state's key), made under placement `seed`
    /// the first time: one allocation per reserved task, and one per page of slot counts
    /// its range reaches ([`RESERVED_TRACKED`]).
    #[inline]
    pub(crate) fn reserved(&self, task: TaskId, seed: u64) -> &ReservedLive {
        self.reserved.get_or_init(|| {
            Box::new(ReservedLive {
                start: hash::reserved_start(seed, task),
                origin: AtomicU32::new(0),
                first: KeptFirst::new(),
                count: AtomicU32::new(0),
                cursor: AtomicU32::new(0),
                busy: AtomicU64::new(0),
                others: AtomicU64::new(0),
                slots: Default::default(),
                hint: AtomicU64::new(0),
            })
        })
    }

    /// The reserved half, if it was made.
    #[inline]
    pub(crate) fn reserved_if_made(&self) -> Option<&ReservedLive> {
        self.reserved.get()
    }

    /// Reserved calls in flight (0 if the reserved half was never made).
    pub(crate) fn reserved_in_flight(&self) -> u32 {
        self.reserved_if_made().map_or(0, |r| r.count.load(Relaxed))
    }

    /// This frontend's calls in flight on tracked `slot` of the unreserved arc (0 for an
    /// untracked slot).
    #[inline]
    pub(crate) fn slot_load(&self, slot: u32) -> u16 {
        self.slots
            .get(slot as usize)
            .map_or(0, |count| count.load(Relaxed))
    }

    /// Counts one more call on tracked `slot` (nothing for an untracked one).
    #[inline]
    pub(crate) fn enter_slot(&self, slot: u32) {
        if let Some(count) = self.slots.get(slot as usize) {
            count.fetch_add(1, Relaxed);
        }
    }

    /// Ends one call counted by [`Live::enter_slot`] on `slot`.
    #[inline]
    pub(crate) fn exit_slot(&self, slot: u32) {
        if let Some(count) = self.slots.get(slot as usize) {
            count.fetch_sub(1, Release);
            // A call that ends frees room on its manager: worth trying there again.
            let bit = 1u64 << slot;
            if self.full.load(Relaxed) & bit != 0 {
                self.full.fetch_and(!bit, Relaxed);
            }
        }
    }

    /// Marks tracked `slot` full: its manager throttled a call of this group. The marks date
    /// from the group's cursor when the first of them was set. A mark lost to a racing one
    /// costs one more throttle there, nothing else.
    pub(crate) fn mark_full(&self, slot: u32, window: u32) {
        if slot < TRACKED {
            let was = self.full.load(Relaxed);
            let cursor = self.cursor();
            // Marks past their window start afresh, from now.
            let since = if was & 0xff == 0 || expired(cursor, was, window) {
                u64::from(cursor) << 32
            } else {
                was & !0xff
            };
            let was_marks = if since == was & !0xff { was & 0xff } else { 0 };
            let marked = since | was_marks | 1 << slot;
            let _ = self.full.compare_exchange(was, marked, Relaxed, Relaxed);
        }
    }

    /// The tracked slots marked full (a bit each) as of the group's `cursor`: none once the
    /// group has taken `window` calls since the first mark, which clears them.
    #[inline]
    pub(crate) fn full_slots(&self, cursor: u32, window: u32) -> u8 {
        let full = self.full.load(Relaxed);
        if full & 0xff == 0 {
            return 0;
        }
        if expired(cursor, full, window) {
            let _ = self.full.compare_exchange(full, 0, Relaxed, Relaxed);
            return 0;
        }
        full as u8
    }

    /// The group's cursor now: the calls it has taken, wrapping.
    pub(crate) fn cursor(&self) -> u32 {
        (self.unreserved.load(Relaxed) >> 32) as u32
    }

    /// The start of this group's unreserved arc, with its ring-index hint.
    #[inline]
    pub(crate) fn unreserved_arc_start(&self) -> ArcStart<'_> {
        ArcStart {
            at: self.unreserved_start,
            hint: Some(&self.unreserved_origin),
            first: &self.first,
        }
    }

    /// Counts one more call on the unreserved arc: `(calls in flight with it, its cursor)`.
    #[inline]
    pub(crate) fn enter_unreserved(&self) -> (u32, u32) {
        let before = self.unreserved.fetch_add(1 | 1 << 32, Relaxed);
        ((before as u32).saturating_add(1), (before >> 32) as u32)
    }

    /// Ends one call counted by [`Live::enter_unreserved`].
    #[inline]
    pub(crate) fn exit_unreserved(&self) {
        self.unreserved.fetch_sub(1, Release);
    }

    /// Calls in flight on the unreserved arc.
    pub(crate) fn unreserved_in_flight(&self) -> u32 {
        self.unreserved.load(Relaxed) as u32
    }

    #[inline]
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
    #[inline]
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
    #[inline]
    pub(crate) fn touch(&self) {
        // Skip the store while the flag is set to keep the line shared.
        // A sweep that stores a time between this load and store is overwritten with the
        // older time, marked: the next sweep dates the use later still, never earlier.
        let seen = self.last_seen.load(Relaxed);
        if seen & USED == 0 {
            self.last_seen.store(seen | USED, Relaxed);
        }
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
        // In nanoseconds, as stamps count: no division to turn the stamp into a `Duration`.
        seen == NONE
            || now
                .as_nanos()
                .checked_sub(u128::from(seen - 1))
                .is_some_and(|age| age > ttl.as_nanos())
    }
}

impl ReservedLive {
    /// This frontend's Reserved calls in flight on slot `rel` of its share's range (0 for an
    /// untracked one).
    #[cfg(test)]
    pub(crate) fn slot_load(&self, rel: u32) -> u8 {
        self.count_of(rel).map_or(0, |count| count.load(Relaxed))
    }

    /// The count of slot `rel`, if its page was made.
    #[inline]
    fn count_of(&self, rel: u32) -> Option<&AtomicU8> {
        let page = self.slots.get((rel / PAGE) as usize)?.get()?;
        Some(&page[(rel % PAGE) as usize])
    }

    /// Counts one more Reserved call on slot `rel` of the range if it holds fewer than `room`
    /// (at most [`RESERVED_ROOM`]); returns whether it did. One `fetch_add`, undone when the
    /// slot was full, so concurrent calls never keep more than `room` on it. Racing calls
    /// may lift a count past `room` for a moment; wrapping the `u8` would take more than
    /// 128 of them at once on one slot, and could only misplace calls until they end, never
    /// lose a count.
    #[inline]
    pub(crate) fn try_enter_slot(&self, rel: u32, room: u32) -> bool {
        let room = room.min(RESERVED_ROOM);
        if room == 0 {
            return false;
        }
        let Some(page) = self.slots.get((rel / PAGE) as usize) else {
            return false;
        };
        let page = page.get_or_init(|| Box::new(std::array::from_fn(|_| AtomicU8::new(0))));
        let count = &page[(rel % PAGE) as usize];
        if u32::from(count.load(Relaxed)) >= room {
            return false;
        }
        if u32::from(count.fetch_add(1, Relaxed)) < room {
            return true;
        }
        count.fetch_sub(1, Release);
        false
    }

    /// Ends one call counted by [`ReservedLive::try_enter_slot`] on `rel`.
    #[inline]
    pub(crate) fn exit_slot(&self, rel: u32) {
        if let Some(count) = self.count_of(rel) {
            count.fetch_sub(1, Release);
            let hint = self.hint.load(Relaxed);
            if rel < hint as u32 {
                let lowered = hint & !u64::from(u32::MAX) | u64::from(rel);
                let _ = self.hint.compare_exchange(hint, lowered, Relaxed, Relaxed);
            }
        }
    }

    /// Where a search for a free slot of the range keyed `key` starts: `(slot, what to hand
    /// back to [`ReservedLive::raise_hint`])`. 0 for a range other than the hint's.
    #[inline]
    pub(crate) fn hint(&self, key: u32) -> (u32, u64) {
        let hint = self.hint.load(Relaxed);
        let from = if (hint >> 32) as u32 == key {
            hint as u32
        } else {
            0
        };
        (from, hint)
    }

    /// A search of the range keyed `key` (from where [`ReservedLive::hint`] said, with
    /// `seen`) took slot `to`, the slots it passed being full: start the next one at `to`
    /// (lower when the search wrapped round), unless a call that ended meanwhile moved the
    /// start.
    #[inline]
    pub(crate) fn raise_hint(&self, key: u32, seen: u64, to: u32) {
        let next = u64::from(key) << 32 | u64::from(to);
        if next != seen {
            let _ = self.hint.compare_exchange(seen, next, Relaxed, Relaxed);
        }
    }

    /// The start of this task's reserved arc, with its ring-index hint.
    #[inline]
    pub(crate) fn arc_start(&self) -> ArcStart<'_> {
        ArcStart {
            at: self.start,
            hint: Some(&self.origin),
            first: &self.first,
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
        let own = self.count.load(Relaxed);
        let others = in_flight.saturating_sub(own);
        self.others.store(Report::pack(others, now), Relaxed);
    }

    /// Other frontends' reserved calls in flight, if reported within `ttl` of `now`.
    pub(crate) fn others(&self, now: Duration, ttl: Duration) -> Option<u32> {
        Report::fresh(self.others.load(Relaxed), now, ttl)
    }
}

/// Whether the full marks in `full` are `window` or more calls old at `cursor`. A cursor
/// older than the marks (a route that took its turn before a throttle marked them) reads
/// as young, not as wrapped round.
fn expired(cursor: u32, full: u64, window: u32) -> bool {
    let age = cursor.wrapping_sub((full >> 32) as u32);
    (age as i32) >= 0 && age >= window
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

/// A router's secret key for its in-process tables: one hash of a key (a task or a group)
/// picks its stripe, in the live map and the reservation table alike, and, turned, its
/// bucket within the stripe's table. Random per router, so that names chosen offline cannot
/// pile into one stripe or one bucket chain.
#[derive(Clone, Debug)]
pub(crate) struct Keyed(ahash::RandomState);

/// A key hashed under a router's [`Keyed`]: computed once a route, used by every table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hashed(u64);

impl Keyed {
    /// A new random key (fixed under the interleaving checker).
    pub(crate) fn new() -> Self {
        Self(random_key())
    }

    #[inline]
    pub(crate) fn hash(&self, key: u128) -> Hashed {
        Hashed(self.0.hash_one(key))
    }

    /// A random number drawn with the key (fixed under the interleaving checker), for the
    /// router's [`FirstTag`]s.
    pub(crate) fn salt(&self) -> u64 {
        self.0.hash_one(u128::MAX)
    }
}

impl Hashed {
    const STRIPE_BITS: u32 = STRIPES.trailing_zeros();

    /// The stripe, in `0..STRIPES`: the hash's top bits.
    #[inline]
    pub(crate) fn stripe(self) -> usize {
        (self.0 >> (64 - Self::STRIPE_BITS)) as usize
    }

    /// The hash for a use outside the map: its lowest bits are ones that neither the stripe
    /// nor a stripe's table below 2³² buckets reads (the table's hash has them on top, past
    /// its tags), so a handle's cache filing keys by them spreads one shard's keys too, and
    /// names chosen offline cannot pile into one of its slots.
    #[inline]
    pub(crate) fn spare(self) -> u64 {
        self.0
    }

    /// The hash a stripe's table files the key under: the halves swapped, so that both the
    /// low bits, which pick the first bucket of a probe, and the top bits, which the table
    /// keeps as each entry's tag, vary within a stripe (the stripe's own bits land in the
    /// middle, unused below 2^26 buckets).
    #[inline]
    pub(crate) fn bucket(self) -> u64 {
        self.0.rotate_left(32)
    }
}

/// One shard's entries: each state (which holds its key) with the hash it is filed under, in
/// a table whose buckets a sweep walks a slice at a time. A bucket is 16 bytes (a key's 16
/// would take it to 32 with the pointer); the hash spares a rehash any look at the states,
/// and the key a probe compares is in the state the route reads next (the table's 7-bit
/// tags send a probe to another key's state too about once in ten to twenty lookups, at
/// the loads a table keeps: a cache line more there, where comparing the hash first would
/// cost every lookup three instructions).
#[derive(Debug)]
struct ShardMap {
    table: HashTable<(u64, Arc<Live>)>,
    /// The bucket where the sweep driven by inserts goes on.
    hand: usize,
    /// Bumped whenever entries may have moved between buckets (a resize, an in-place rehash
    /// or a shrink), so that a walk over several lock holds knows to start over.
    moved: u64,
}

impl ShardMap {
    fn new() -> Self {
        Self {
            table: HashTable::new(),
            hand: 0,
            moved: 0,
        }
    }

    /// The state of `key`, hashed `h`.
    #[inline]
    fn get(&self, key: u128, h: Hashed) -> Option<&Arc<Live>> {
        self.table
            .find(h.bucket(), |(_, live)| live.key == key)
            .map(|(_, live)| live)
    }

    /// Adds `live`, whose key is absent, hashed `h`.
    fn insert(&mut self, h: Hashed, live: Arc<Live>) {
        // With no room left the table rehashes (in place or into a larger one), which moves
        // entries; with room it only fills a slot.
        if self.table.capacity() == self.table.len() {
            self.moved += 1;
        }
        self.table
            .insert_unique(h.bucket(), (h.bucket(), live), |&(hash, _)| hash);
    }

    /// Looks at the buckets `from..from + budget` (those that exist) and evicts their idle
    /// entries: `(the bucket after the last one looked at, entries evicted)`.
    ///
    /// An entry whose `Arc` is held only by the map has no permit out and no route in
    /// progress: clones are taken only under the shard's read lock, which the caller's write
    /// lock excludes, so nothing can revive it after the check. Removing an entry moves no
    /// other, so a walk that goes on later from the bucket it stopped at misses nothing
    /// unless the table was resized meanwhile.
    fn sweep_buckets(
        &mut self,
        from: usize,
        budget: usize,
        now: Duration,
        ttl: Duration,
        clock: &impl Fn() -> Duration,
    ) -> (usize, usize) {
        let end = from.saturating_add(budget).min(self.table.num_buckets());
        let mut evicted = 0;
        for index in from..end {
            if let Ok(entry) = self.table.get_bucket_entry(index) {
                // Every entry is looked at, held or not, so that its use turns into a time.
                let (_, live) = entry.get();
                if live.idle(now, ttl, clock) && Arc::strong_count(live) == 1 {
                    entry.remove();
                    evicted += 1;
                }
            }
        }
        (end.max(from), evicted)
    }

    /// A table keeps its room as entries go: without this, a burst of new tasks would hold
    /// its peak memory for good. Shrinking only below a quarter full, to half full, costs
    /// O(buckets) once per full walk, and cannot thrash with regrowth.
    fn shrink_if_sparse(&mut self) {
        if self.table.capacity() > 4 * self.table.len() {
            self.moved += 1;
            self.table
                .shrink_to(2 * self.table.len(), |&(hash, _)| hash);
        }
    }
}

/// One stripe: its map, and the evictions its sweeps counted (under its write lock), on cache
/// lines of their own, away from other stripes.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Shard {
    map: RwLock<ShardMap>,
    evictions: AtomicU64,
}

impl Shard {
    fn new() -> Self {
        Self {
            map: RwLock::new(ShardMap::new()),
            evictions: AtomicU64::new(0),
        }
    }

    /// The live state of `key` (a key of this shard, hashed `h`), made fresh under what
    /// `make` says (what new state starts from, and the idle TTL its shard's sweep judges
    /// by: asked only when the key is new) if absent; marks it used.
    ///
    /// A read lock and no clock read on the warm path; a write lock and a clock read when
    /// the key is new, and then, once the shard holds [`FIRST_SWEEP`] entries (and until that
    /// walk is round), a sweep of the next [`INSERT_SWEEP`] buckets (and, when that walk wraps, a shrink if the table is
    /// under a quarter full).
    #[inline]
    pub(crate) fn get_or_insert(
        &self,
        key: u128,
        h: Hashed,
        make: impl FnOnce() -> (Fresh, Duration),
        clock: &impl Fn() -> Duration,
    ) -> Arc<Live> {
        let found = self.map.read().get(key, h).cloned();
        if let Some(live) = found {
            live.touch();
            return live;
        }
        let (fresh, ttl) = make();
        self.insert_new(key, h, fresh, ttl, clock)
    }

    /// [`Shard::get_or_insert`] past the read lock: out of line, so that the warm path
    /// stays small enough to inline.
    #[cold]
    #[inline(never)]
    fn insert_new(
        &self,
        key: u128,
        h: Hashed,
        fresh: Fresh,
        ttl: Duration,
        clock: &impl Fn() -> Duration,
    ) -> Arc<Live> {
        let mut guard = self.map.write();
        if let Some(live) = guard.get(key, h) {
            live.touch();
            return Arc::clone(live);
        }
        // Read under the write lock: uses through the map, which mark under the read lock,
        // all ran before it.
        let now = clock();
        // A walk, once begun, goes round even if the shard drops below the mark meanwhile.
        if guard.table.len() >= FIRST_SWEEP || guard.hand != 0 {
            let hand = guard.hand;
            let (next, evicted) = guard.sweep_buckets(hand, INSERT_SWEEP, now, ttl, clock);
            guard.hand = next;
            if next >= guard.table.num_buckets() {
                guard.hand = 0;
                guard.shrink_if_sparse();
            }
            self.evictions.fetch_add(evicted as u64, Relaxed);
        }
        let live = Arc::new(Live::new(key, fresh, now));
        guard.insert(h, Arc::clone(&live));
        live
    }

    /// Evicts this shard's idle entries, [`SWEEP_SLICE`] buckets per hold of its write lock,
    /// and counts them. Reads `clock` once per slice (none for an empty shard) and for each
    /// use it dates.
    ///
    /// Inserts between two holds may rehash the table, which moves entries: the walk then
    /// starts over, up to [`SWEEP_RESTARTS`] times; past that (a storm of new tasks in this
    /// shard) it goes on, and what it misses is left to the next sweep.
    fn sweep(&self, ttl: Duration, clock: &impl Fn() -> Duration) -> usize {
        let mut at = 0;
        let mut moved = None;
        let mut restarts = 0;
        let mut evicted = 0;
        loop {
            let mut guard = self.map.write();
            let n = guard.table.num_buckets();
            if moved.is_some_and(|m| m != guard.moved) && restarts < SWEEP_RESTARTS {
                restarts += 1;
                at = 0;
            }
            moved = Some(guard.moved);
            if guard.table.is_empty() || at >= n {
                guard.shrink_if_sparse();
                break;
            }
            let now = clock();
            let (next, gone) = guard.sweep_buckets(at, SWEEP_SLICE, now, ttl, clock);
            at = next;
            evicted += gone;
        }
        self.evictions.fetch_add(evicted as u64, Relaxed);
        evicted
    }
}

/// Totals over all shards of what lives in them.
#[derive(Debug, Default)]
pub(crate) struct LiveTotals {
    pub(crate) entries: usize,
    pub(crate) evictions: u64,
    pub(crate) reserved: u64,
    pub(crate) unreserved: u64,
}

/// The sharded live map. A key's shard and bucket are chosen under the router's secret
/// [`Keyed`], so that names chosen offline cannot pile into one shard.
#[derive(Debug)]
pub(crate) struct LiveMap {
    shards: Box<[Shard]>,
    keyed: Keyed,
}

#[cfg(test)]
impl Default for LiveMap {
    fn default() -> Self {
        Self::new(Keyed::new())
    }
}

/// A random key for the router's tables, drawn per router.
#[cfg(not(arcroute_loom))]
fn random_key() -> ahash::RandomState {
    ahash::RandomState::new()
}

/// Fixed under the interleaving checker: loom replays the choices recorded in one execution
/// to reach the next, so every execution must take the same locks and atomics up to its new
/// choice. With a key drawn per map, the tasks of a model land in other shards and buckets
/// each time; loom then stops ("not deterministic"), or, where the replayed choice still
/// fits, hands an atomic load a store recorded for another atomic (loom does not check it).
#[cfg(arcroute_loom)]
fn random_key() -> ahash::RandomState {
    ahash::RandomState::with_seeds(1, 2, 3, 4)
}

impl LiveMap {
    /// An empty map keyed by `keyed`.
    pub(crate) fn new(keyed: Keyed) -> Self {
        Self {
            shards: (0..STRIPES).map(|_| Shard::new()).collect(),
            keyed,
        }
    }

    /// The key this map hashes under.
    pub(crate) fn keyed(&self) -> &Keyed {
        &self.keyed
    }

    /// The shard of `key`, in `0..STRIPES`, under this map's secret key.
    #[cfg(test)]
    pub(crate) fn stripe_of(&self, key: u128) -> usize {
        self.keyed.hash(key).stripe()
    }

    /// The shard of a key hashed `h`.
    #[inline]
    pub(crate) fn shard_at(&self, h: Hashed) -> &Shard {
        &self.shards[h.stripe()]
    }

    #[cfg(test)]
    pub(crate) fn shard(&self, key: u128) -> &Shard {
        self.shard_at(self.keyed.hash(key))
    }

    /// Live state of `key` if present, without touching it.
    pub(crate) fn get(&self, key: u128) -> Option<Arc<Live>> {
        let h = self.keyed.hash(key);
        self.shard_at(h).map.read().get(key, h).cloned()
    }

    /// Removes every entry with no permit out that went unused for more than `ttl`, one
    /// shard at a time and [`SWEEP_SLICE`] buckets per lock hold, reading `clock` once per
    /// slice and for each use it dates.
    pub(crate) fn evict_idle(&self, ttl: Duration, clock: &impl Fn() -> Duration) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.sweep(ttl, clock))
            .sum()
    }

    pub(crate) fn totals(&self) -> LiveTotals {
        let mut totals = LiveTotals::default();
        for shard in self.shards.iter() {
            totals.evictions += shard.evictions.load(Relaxed);
            let guard = shard.map.read();
            totals.entries += guard.table.len();
            for (_, live) in guard.table.iter() {
                totals.reserved += u64::from(live.reserved_in_flight());
                totals.unreserved += u64::from(live.unreserved_in_flight());
            }
        }
        totals
    }
}

/// A fixed, unkeyed stripe of `key`, in `0..STRIPES`: what shards were chosen by before they
/// were keyed, kept to build keys that pile into one stripe.
#[cfg(test)]
pub(crate) fn stripe(key: u128) -> usize {
    let folded = (key as u64) ^ ((key >> 64) as u64);
    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - STRIPES.trailing_zeros())) as usize
}

/// Under `cfg(arcroute_loom)` the shard lock is loom's, behind parking_lot's API, so that the
/// interleaving checker schedules threads at every lock as well as at every atomic of the
/// live state.
#[cfg(arcroute_loom)]
mod loom_lock {
    pub(crate) struct RwLock<T>(loom::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
            self.0.read().expect("a shard lock is never poisoned")
        }

        pub(crate) fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
            self.0.write().expect("a shard lock is never poisoned")
        }
    }

    impl<T> std::fmt::Debug for RwLock<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("RwLock")
        }
    }
}

/// The interleaving checker, with the library's dependencies only:
/// `RUSTFLAGS="--cfg arcroute_loom" cargo test --manifest-path tests/loom/Cargo.toml --lib loom`.
/// What it explores, and what it does not, is in `RELIABILITY.md` (Interleavings).
#[cfg(all(test, arcroute_loom))]
mod loom_checks {
    use std::sync::atomic::AtomicUsize;
    use std::sync::atomic::Ordering::{Relaxed, SeqCst};
    use std::sync::Arc as StdArc;

    use super::LiveMap;
    use crate::{ManagerId, ManualClock, Reservation, Route, RouteKind, Router, TaskId};

    /// Runs `f` under every interleaving loom explores with at most `preemptions` preemptions
    /// per execution (`None`: every interleaving, which only the smaller models afford), or
    /// as many as `LOOM_MAX_PREEMPTIONS` says, and says how many executions that was.
    fn model(name: &str, preemptions: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
        let executions = StdArc::new(AtomicUsize::new(0));
        let counted = StdArc::clone(&executions);
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = preemptions;
        }
        builder.check(move || {
            counted.fetch_add(1, Relaxed);
            f();
        });
        println!("{name}: {} executions", executions.load(Relaxed));
    }

    /// `n` tasks from `from` on whose live state shares a shard with `task`'s: the shard key
    /// is fixed under loom, so every map agrees. Inside a model only (a map holds loom locks).
    fn in_shard_of(task: TaskId, from: u128, n: usize) -> Vec<TaskId> {
        let map = LiveMap::default();
        let shard = map.stripe_of(task.get());
        (from..)
            .filter(|&k| map.stripe_of(k) == shard)
            .take(n)
            .map(TaskId::new)
            .collect()
    }

    /// Orders a publish against the routes of other threads. A publish goes through arc-swap
    /// and the writers' mutex, which loom does not see, and loom reorders only operations on
    /// objects it sees: left alone, it runs a publish wherever its thread happens to be and
    /// never moves it past another thread's route. So the writer sets this flag just before it
    /// publishes, and a route looks at it just before it loads the snapshot, with no loom
    /// operation between either pair: loom tries both orders of the flag, and so of the
    /// publish and the route's snapshot. Both are read-modify-writes, which read the latest
    /// value: a plain load could read `false` after the store, as weak memory allows, while
    /// the snapshot it stands for, outside loom's model, was already the new one.
    #[derive(Clone)]
    struct Published(StdArc<loom::sync::atomic::AtomicBool>);

    impl Published {
        fn new() -> Self {
            Self(StdArc::new(loom::sync::atomic::AtomicBool::new(false)))
        }

        fn publish<T>(&self, write: impl FnOnce() -> T) -> T {
            self.0.swap(true, SeqCst);
            write()
        }

        /// Routes `task`; says whether the route came after the publish.
        fn route(&self, router: &Router<ManualClock>, task: TaskId) -> (Route, bool) {
            let after = self.0.fetch_or(false, SeqCst);
            (router.route(task).expect("a healthy manager"), after)
        }
    }

    /// A router where `reserved` holds a reservation of one ready environment, and whose live
    /// state of `reserved` and `unreserved` went idle long ago, at the clock's latest time.
    fn idle_router(reserved: TaskId, unreserved: TaskId) -> StdArc<Router<ManualClock>> {
        let clock = ManualClock::new();
        let router = Router::builder()
            .managers((0..3).map(|i| (ManagerId::new(i), 1)))
            .reservation(reserved, Reservation::new(1, 1))
            .clock(clock.clone())
            .build()
            .expect("a valid router");
        drop(router.route(reserved));
        drop(router.route(unreserved));
        clock.advance(router.config().idle_ttl * 10);
        StdArc::new(router)
    }

    /// A reserved route, its permit held across a second look at the task, then an
    /// unreserved route of a task in the same shard, against a full sweep and a republish
    /// that takes the reservation's `ready` to 0: the state a permit counts on is never
    /// evicted or replaced under it, and every count is back to zero at the end.
    #[test]
    fn loom_route_permit_drop_against_evict_and_publish() {
        model(
            "route, permit, drop against evict and publish",
            None,
            || {
                let task = TaskId::new(1);
                let other = in_shard_of(task, 2, 1)[0];
                let router = idle_router(task, other);
                let published = Published::new();
                let routes = {
                    let (router, published) = (StdArc::clone(&router), published.clone());
                    loom::thread::spawn(move || {
                        let (route, after) = published.route(&router, task);
                        // Reserved on the old snapshot; spilled over on the new one.
                        assert_eq!(route.kind() == RouteKind::Reserved, !after);
                        if route.kind() == RouteKind::Reserved {
                            assert_eq!(
                                router.reserved_in_flight(task),
                                1,
                                "evicted under a permit"
                            );
                        }
                        drop(route);
                        let again = router.route(other).expect("a healthy manager");
                        assert_eq!(
                            router.stats().in_flight_unreserved,
                            1,
                            "evicted under a permit"
                        );
                        drop(again);
                    })
                };
                let sweeper = {
                    let router = StdArc::clone(&router);
                    loom::thread::spawn(move || {
                        router.evict_idle();
                    })
                };
                published.publish(|| router.put_reservation(task, Reservation::new(1, 0)));
                routes.join().unwrap();
                sweeper.join().unwrap();
                let stats = router.stats();
                assert_eq!(
                    (stats.in_flight_reserved, stats.in_flight_unreserved),
                    (0, 0)
                );
                assert_eq!(router.reserved_in_flight(task), 0);
            },
        );
    }

    /// Two routes of one task against the sweeps that new tasks' inserts drive in its shard
    /// (which holds 2 entries, where a sweep on insert starts under loom): the two permits
    /// count on one state, never on two.
    #[test]
    fn loom_two_routes_against_an_insert_driven_sweep() {
        model("two routes against an insert-driven sweep", Some(3), || {
            let task = TaskId::new(2);
            let mut shard = in_shard_of(task, 1, 3).into_iter().filter(|&t| t != task);
            let (reserved, new) = (shard.next().unwrap(), shard.collect::<Vec<_>>());
            let router = idle_router(reserved, task);
            let other = {
                let router = StdArc::clone(&router);
                loom::thread::spawn(move || {
                    let route = router.route(task).expect("a healthy manager");
                    assert!(router.stats().in_flight_unreserved >= 1);
                    route
                })
            };
            let inserter = {
                let router = StdArc::clone(&router);
                loom::thread::spawn(move || {
                    for t in new {
                        drop(router.route(t));
                    }
                })
            };
            let mine = router.route(task).expect("a healthy manager");
            let theirs = other.join().unwrap();
            inserter.join().unwrap();
            assert!(
                StdArc::ptr_eq(mine.permit().live(), theirs.permit().live()),
                "both permits on one state"
            );
            assert_eq!(router.stats().in_flight_unreserved, 2);
            drop((mine, theirs));
            assert_eq!(router.stats().in_flight_unreserved, 0);
        });
    }

    /// Two reserved routes of a task with one ready environment against a publish that makes
    /// it two: the routes on the old snapshot admit at most one between them, a refused
    /// admission gives its count back, the task's count is the Reserved permits out, and once
    /// they drop the reservation admits in full again.
    #[test]
    fn loom_two_reserved_routes_against_a_publish() {
        model("two reserved routes against a publish", None, || {
            let task = TaskId::new(1);
            let router = idle_router(task, in_shard_of(task, 2, 1)[0]);
            let old = router.generation();
            let published = Published::new();
            let route = || {
                let (router, published) = (StdArc::clone(&router), published.clone());
                loom::thread::spawn(move || published.route(&router, task))
            };
            let (a, b) = (route(), route());
            assert!(published.publish(|| router.set_ready(task, 2).expect("a reservation")));
            let routes = [a.join().unwrap(), b.join().unwrap()];
            for (route, after) in &routes {
                assert_eq!(route.generation(), old + u64::from(*after));
            }
            let reserved = |gen: Option<u64>| {
                let kinds = routes
                    .iter()
                    .filter(|(r, _)| r.kind() == RouteKind::Reserved);
                kinds
                    .filter(|(r, _)| gen.is_none_or(|g| r.generation() == g))
                    .count()
            };
            assert!(reserved(Some(old)) <= 1, "two admitted on one ready");
            assert_eq!(router.reserved_in_flight(task) as usize, reserved(None));
            drop(routes);
            assert_eq!(router.reserved_in_flight(task), 0);
            let again = [router.route(task), router.route(task)];
            assert!(again
                .iter()
                .all(|r| r.as_ref().unwrap().kind() == RouteKind::Reserved));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    impl LiveMap {
        /// [`Shard::get_or_insert`] on `key`'s shard.
        fn touch_or_make(
            &self,
            key: u128,
            fresh: Fresh,
            ttl: Duration,
            clock: &impl Fn() -> Duration,
        ) -> Arc<Live> {
            let h = self.keyed.hash(key);
            self.shard_at(h)
                .get_or_insert(key, h, || (fresh, ttl), clock)
        }
    }
    const F: Fresh = Fresh {
        seed: 0,
        arc_len: 1,
    };

    #[test]
    fn evicts_only_idle_entries_without_holders() {
        let map = LiveMap::default();
        let held = map.touch_or_make(1, F, S, &|| S);
        drop(map.touch_or_make(2, F, S, &|| S));
        drop(map.touch_or_make(3, F, S, &|| 10 * S));
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
        drop(map.touch_or_make(1, F, S, &|| S));
        // Used again at some unknown time: the sweep at 10 s keeps it and dates the use 10 s.
        drop(map.touch_or_make(1, F, S, &|| unreachable!("warm: no clock")));
        assert_eq!(map.evict_idle(S, &|| 10 * S), 0);
        assert_eq!(map.evict_idle(S, &|| 11 * S), 0, "idle exactly ttl: kept");
        assert_eq!(map.evict_idle(S, &|| 11 * S + Duration::from_nanos(1)), 1);
    }

    /// `n` keys of the shard that `map` gives `key 0`.
    fn keys_in_shard_of_zero(map: &LiveMap, n: usize) -> Vec<u128> {
        let shard = map.stripe_of(0);
        (0u128..)
            .filter(|&k| map.stripe_of(k) == shard)
            .take(n)
            .collect()
    }

    #[test]
    fn inserts_sweep_a_full_shard_a_few_buckets_at_a_time() {
        let map = LiveMap::default();
        let old = keys_in_shard_of_zero(&map, FIRST_SWEEP);
        for &k in &old {
            drop(map.touch_or_make(k, F, S, &|| S));
        }
        let shard = map.shard(0);
        let buckets = shard.map.read().table.num_buckets();
        // Everything is idle at t=10s: each insert into that shard sweeps a few buckets, and
        // one walk over them evicts all of it.
        let new: Vec<u128> = (1u128 << 100..)
            .filter(|&k| map.stripe_of(k) == map.stripe_of(0))
            .take(buckets / INSERT_SWEEP)
            .collect();
        for (i, &k) in new.iter().enumerate() {
            let before = shard.map.read().table.len();
            drop(map.touch_or_make(k, F, S, &|| 10 * S));
            let after = shard.map.read().table.len();
            assert!(
                before + 1 - after <= INSERT_SWEEP,
                "insert {i} evicted {}",
                before + 1 - after
            );
        }
        assert_eq!(shard.map.read().table.len(), new.len());
        assert_eq!(shard.evictions.load(Relaxed), FIRST_SWEEP as u64);
        assert!(old.iter().all(|&k| map.get(k).is_none()));
        assert!(new.iter().all(|&k| map.get(k).is_some()));
    }

    #[test]
    fn evict_idle_sweeps_every_bucket_a_slice_at_a_time() {
        let map = LiveMap::default();
        let keys = keys_in_shard_of_zero(&map, 3 * SWEEP_SLICE);
        let mut held = Vec::new();
        for (i, &k) in keys.iter().enumerate() {
            let live = map.touch_or_make(k, F, S, &|| S);
            if i % 7 == 0 {
                held.push(live);
            }
        }
        let shard = map.shard(0);
        let buckets = shard.map.read().table.num_buckets();
        assert!(buckets > 2 * SWEEP_SLICE, "{buckets}");
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let clock = || {
            reads.fetch_add(1, Relaxed);
            10 * S
        };
        let evicted = map.evict_idle(S, &clock);
        assert_eq!(evicted, keys.len() - held.len());
        // One read per slice of the one shard that holds anything.
        assert_eq!(reads.load(Relaxed), buckets.div_ceil(SWEEP_SLICE));
        assert_eq!(map.totals().entries, held.len());
    }

    #[test]
    fn names_piled_into_one_unkeyed_stripe_spread_over_the_keyed_shards() {
        // Names a tenant could choose offline against the fixed function.
        let piled: Vec<u128> = (0u32..)
            .map(|i| TaskId::from_name(&format!("tenant/fn-{i}")).get())
            .filter(|&k| stripe(k) == 0)
            .take(4096)
            .collect();
        let (a, b) = (LiveMap::default(), LiveMap::default());
        let mut per = [0usize; STRIPES];
        for &k in &piled {
            per[a.stripe_of(k)] += 1;
            drop(a.touch_or_make(k, F, S, &|| S));
        }
        // 64 a shard on average; far from 4096 in one.
        assert!(per.iter().all(|&n| (16..=160).contains(&n)), "{per:?}");
        assert_eq!(a.totals().entries, piled.len());
        let agree = piled
            .iter()
            .filter(|&&k| a.stripe_of(k) == b.stripe_of(k))
            .count();
        assert!(agree < piled.len() / 8, "two maps keyed alike: {agree}");
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
        // Part of the per-task memory bound stated in `RELIABILITY.md` (Memory): 16 bytes of
        // key, 48 of the unreserved count, cursor, arc state, first member and use mark, 16
        // of per-slot unreserved counts, 8 of full marks and 8 for the reserved half; a
        // reserved task's half is 184 more (56 of arc start, counts, cursor, first member,
        // reports and hint, 128 of page pointers), and 64 a page of slot counts it reaches. With its
        // `Arc`, 112 bytes; the map's bucket is 16 (the key's hash and the pointer).
        assert_eq!(std::mem::size_of::<Live>(), 96);
        assert_eq!(std::mem::size_of::<ReservedLive>(), 184);
    }

    #[test]
    fn busy_reports_go_stale() {
        let live = Live::new(0, F, S);
        let live = live.reserved(TaskId::new(0), 0);
        assert_eq!(live.busy(S, S), None);
        live.report_busy(250, S);
        assert_eq!(live.busy(2 * S, S), Some(250));
        assert_eq!(live.busy(3 * S, S), None);
    }
}
