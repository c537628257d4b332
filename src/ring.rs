//! The consistent hash ring: immutable weighted virtual nodes and distinct-manager arcs.

use std::fmt;
use std::num::NonZeroU32;

use crate::hash::{self, RingVersion};
use crate::health::HealthMask;
use crate::id::{GroupId, ManagerId, TaskId};
use crate::Error;

/// Virtual nodes per unit of weight when [`RingConfig`] is left at its default.
///
/// 160, as ketama (and so nginx and pingora-ketama) uses: with 100 equal managers the busiest
/// one owns about 1.2× the mean share of arc starts.
pub const DEFAULT_VNODES_PER_WEIGHT: u32 = 160;

/// The most managers one ring holds (2²⁴); more is rejected with
/// [`Error::TooManyManagers`].
pub const MAX_MANAGERS: usize = 1 << 24;

/// The most virtual nodes one ring holds (2²⁴, 16,777,216); weights that ask for more are
/// rejected with [`Error::TooManyPoints`] before anything is built.
///
/// What a ring costs is proportional to its points: 16 to 16.5 bytes a point once built
/// (its position, owner and gap, and a quarter to half a byte of the index of its
/// positions; the index is 12 bytes at least, which rings of under 24 points feel), and
/// about 28 bytes a point at the peak of a build, so at most 260 MiB for a ring and about
/// 470 MB to build one (measured in `RELIABILITY.md`, Memory).
/// A rebuild ([`Router::set_managers`](crate::Router::set_managers)) keeps the current ring
/// while it builds the next: about 740 MB at most. The default 160 virtual nodes per weight
/// fit 104,857 managers of weight 1; larger fleets lower
/// [`RingConfig::vnodes_per_weight`].
pub const MAX_POINTS: usize = 1 << 24;

/// How a [`Ring`] places its managers. `Copy + Default`; every field is valid by type.
///
/// Its `Debug` output hides the seed, which a fleet keeps secret, so that configs can be
/// logged.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RingConfig {
    /// Fleet-wide placement seed (default 0). Every frontend of a fleet must use the same one.
    /// A secret seed stops tenants from choosing names whose arcs pile onto one manager.
    pub seed: u64,
    /// Virtual nodes per unit of weight (default [`DEFAULT_VNODES_PER_WEIGHT`]).
    pub vnodes_per_weight: NonZeroU32,
    /// Placement function version (default [`RingVersion::V1`]).
    pub version: RingVersion,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            vnodes_per_weight: NonZeroU32::new(DEFAULT_VNODES_PER_WEIGHT)
                .unwrap_or(NonZeroU32::MIN),
            version: RingVersion::V1,
        }
    }
}

impl fmt::Debug for RingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingConfig")
            .field("seed", &format_args!("(hidden)"))
            .field("vnodes_per_weight", &self.vnodes_per_weight)
            .field("version", &self.version)
            .finish()
    }
}

impl RingConfig {
    /// This config with another seed.
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// This config with another number of virtual nodes per unit of weight.
    pub const fn with_vnodes_per_weight(mut self, vnodes: NonZeroU32) -> Self {
        self.vnodes_per_weight = vnodes;
        self
    }
}

/// An immutable consistent hash ring of weighted managers.
///
/// Each manager of weight `w` gets `w × vnodes_per_weight` points. An **arc** `(start, len)` is
/// the first `len` distinct managers met walking clockwise from the first point at or after
/// `start` (wrapping), skipping managers a [`HealthMask`] marks down.
///
/// Memory: 16 bytes per point (hash, owner, and the distance back to the owner's previous
/// point, which lets a walk test "first time this manager is met" in O(1) without a set),
/// and a quarter to half a byte more (12 bytes at least) for an index of the positions by
/// their top bits, which finds the point after a position within a few cache lines of
/// positions, however large the ring.
#[derive(Clone)]
pub struct Ring {
    config: RingConfig,
    /// Sorted by id; a manager's index is its position here.
    managers: Box<[ManagerId]>,
    weights: Box<[NonZeroU32]>,
    /// Point positions, sorted ascending.
    hashes: Box<[u64]>,
    /// The positions indexed by their top bits: `buckets[b]` is the first point whose
    /// position's top bits (`position >> shift`) are `b` or more, and the last entry the
    /// point count. 2 to 2²⁰ buckets, a power of two near one per 16 points (8 to 16 points
    /// a bucket, in one to three cache lines of positions).
    buckets: Box<[u32]>,
    /// `64 - log2(buckets)`.
    shift: u32,
    /// Owner and gap of each point, side by side: an arc walk reads both, one cache line.
    links: Box<[Link]>,
}

/// What an arc walk needs of one point.
#[derive(Clone, Copy, Debug)]
struct Link {
    /// Index of the point's manager.
    owner: u32,
    /// Clockwise distance, in points, from the owner's previous point to this one (the whole
    /// ring size when the owner has a single point).
    gap: u32,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("config", &self.config)
            .field("managers", &self.managers.len())
            .field("points", &self.hashes.len())
            .finish()
    }
}

impl Ring {
    /// Builds a ring from `(manager, weight)` pairs; the order of the input does not matter.
    ///
    /// O(P log P) for P points.
    ///
    /// # Errors
    /// [`Error::NoManagers`] for empty input, [`Error::DuplicateManager`],
    /// [`Error::ZeroWeight`], [`Error::TooManyManagers`] and [`Error::TooManyPoints`]. Limits
    /// are checked before anything is allocated for them: an iterator whose `size_hint` says
    /// it holds more than [`MAX_MANAGERS`] is rejected without being collected, and weights
    /// asking for more than [`MAX_POINTS`] before any point is made.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{Error, ManagerId, Ring, RingConfig};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let managers = (0..8).map(|i| (ManagerId::new(i), 1));
    /// let ring = Ring::new(RingConfig::default().with_seed(7), managers)?;
    /// assert_eq!(ring.len(), 8);
    /// assert_eq!(ring.point_count(), 8 * 160);
    /// assert_eq!(
    ///     Ring::new(RingConfig::default(), [(ManagerId::new(1), 1), (ManagerId::new(1), 2)])
    ///         .unwrap_err(),
    ///     Error::DuplicateManager { id: ManagerId::new(1) }
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub fn new<I>(config: RingConfig, managers: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (ManagerId, u32)>,
    {
        Self::from_sorted(config, &sorted(managers)?)
    }

    /// Builds from a list sorted by id (duplicates not yet checked).
    pub(crate) fn from_sorted(
        config: RingConfig,
        list: &[(ManagerId, u32)],
    ) -> Result<Self, Error> {
        let (weights, total) = Self::check_sorted(config, list)?;

        let mut points: Vec<(u64, u32)> = Vec::with_capacity(total);
        for (owner, (&(id, _), weight)) in (0u32..).zip(list.iter().zip(&weights)) {
            let count = weight.get() * config.vnodes_per_weight.get();
            points.extend((0..count).map(|v| (hash::point(config.seed, id, v), owner)));
        }
        // Ties (equal hashes) are ordered by owner, that is by manager id: part of the spec.
        points.sort_unstable();

        let (hashes, owners): (Vec<u64>, Vec<u32>) = points.into_iter().unzip();
        let links = links(&owners, list.len());
        drop(owners);
        let (buckets, shift) = buckets(&hashes);
        Ok(Self {
            config,
            managers: list.iter().map(|&(id, _)| id).collect(),
            weights: weights.into_boxed_slice(),
            hashes: hashes.into_boxed_slice(),
            buckets,
            shift,
            links,
        })
    }

    /// Validates a list sorted by id without building anything: its weights and the number
    /// of points they ask for. O(N).
    pub(crate) fn check_sorted(
        config: RingConfig,
        list: &[(ManagerId, u32)],
    ) -> Result<(Vec<NonZeroU32>, usize), Error> {
        if list.is_empty() {
            return Err(Error::NoManagers);
        }
        check_count(list.len())?;
        let mut total: usize = 0;
        let mut weights = Vec::with_capacity(list.len());
        for (i, &(id, weight)) in list.iter().enumerate() {
            if i > 0 && list[i - 1].0 == id {
                return Err(Error::DuplicateManager { id });
            }
            let weight = NonZeroU32::new(weight).ok_or(Error::ZeroWeight { id })?;
            let points =
                (weight.get() as usize).checked_mul(config.vnodes_per_weight.get() as usize);
            total = points
                .and_then(|p| total.checked_add(p))
                .filter(|&t| t <= MAX_POINTS)
                .ok_or(Error::TooManyPoints { max: MAX_POINTS })?;
            weights.push(weight);
        }
        Ok((weights, total))
    }

    /// The config this ring was built with.
    pub fn config(&self) -> RingConfig {
        self.config
    }

    /// Number of managers.
    pub fn len(&self) -> usize {
        self.managers.len()
    }

    /// Always `false`: a ring has at least one manager.
    pub fn is_empty(&self) -> bool {
        self.managers.is_empty()
    }

    /// Number of points (virtual nodes).
    pub fn point_count(&self) -> usize {
        self.hashes.len()
    }

    /// Managers, sorted by id, with their weights.
    pub fn managers(&self) -> impl ExactSizeIterator<Item = (ManagerId, u32)> + '_ {
        self.managers
            .iter()
            .zip(self.weights.iter())
            .map(|(&id, w)| (id, w.get()))
    }

    /// Whether `id` is on this ring. O(log N).
    pub fn contains(&self, id: ManagerId) -> bool {
        self.index_of(id).is_some()
    }

    /// Points in ring order: `(position, owner)`.
    pub fn points(&self) -> impl ExactSizeIterator<Item = (u64, ManagerId)> + '_ {
        self.hashes
            .iter()
            .zip(self.links.iter())
            .map(|(&h, l)| (h, self.managers[l.owner as usize]))
    }

    /// Heap bytes held by this ring: 16 per point, at most half a byte more per point (and
    /// 12 bytes) for the index of positions, and 12 per manager.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of_val;
        size_of_val(&*self.managers)
            + size_of_val(&*self.weights)
            + size_of_val(&*self.hashes)
            + size_of_val(&*self.buckets)
            + size_of_val(&*self.links)
    }

    /// Start of `task`'s reserved arc under this ring's seed and version.
    pub fn reserved_start(&self, task: TaskId) -> u64 {
        hash::reserved_start(self.config.seed, task)
    }

    /// Start of `group`'s unreserved arc under this ring's seed and version.
    pub fn unreserved_start(&self, group: GroupId) -> u64 {
        hash::unreserved_start(self.config.seed, group)
    }

    /// The manager owning the first point at or after `start`: the first manager of every
    /// arc from `start`, health ignored. O(1) for positions spread as hashes spread them
    /// (a search of one bucket of the position index); O(log P) at worst.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{ManagerId, Ring, RingConfig, TaskId};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let managers = (0..8).map(|i| (ManagerId::new(i), 1));
    /// let ring = Ring::new(RingConfig::default().with_seed(7), managers)?;
    /// let start = ring.unreserved_start(TaskId::from_name("f").into());
    /// assert_eq!(Some(ring.first(start)), ring.arc(start, 1).next());
    /// assert!(ring.contains(ring.first(start)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn first(&self, start: u64) -> ManagerId {
        self.managers[self.links[self.successor(start)].owner as usize]
    }

    /// The arc `(start, len)` with every manager healthy.
    ///
    /// Yields `min(len, self.len())` distinct managers. O(1) to start for positions spread
    /// as hashes spread them (O(log P) at worst, as [`Ring::first`]), then O(1) per point
    /// walked: at most `1.4 × len` points on average while `len` is at most half the
    /// managers (equal weights), and never more than one revolution (P points).
    ///
    /// # Examples
    /// ```
    /// use arcroute::{ManagerId, Ring, RingConfig, TaskId};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let managers = (0..8).map(|i| (ManagerId::new(i), 1));
    /// let ring = Ring::new(RingConfig::default().with_seed(7), managers)?;
    /// let start = ring.reserved_start(TaskId::from_name("f"));
    /// let arc: Vec<ManagerId> = ring.arc(start, 3).collect();
    /// assert_eq!(arc.len(), 3);
    /// assert!(arc.iter().all(|m| ring.contains(*m)));
    /// assert_ne!(arc[0], arc[1]);
    /// assert_eq!(ring.arc(start, 100).count(), 8, "at most every manager once");
    /// # Ok(())
    /// # }
    /// ```
    pub fn arc(&self, start: u64, len: u32) -> ArcIter<'_> {
        ArcIter {
            walk: self.walk(start, len, None),
        }
    }

    /// The arc `(start, len)`, skipping managers that `health` marks down.
    ///
    /// Yields `min(len, health.healthy_count())` distinct healthy managers. Points of managers
    /// that are down are walked over: with a fraction `d` of managers down, expect about
    /// `1 / (1 − d)` times the walk of [`Ring::arc`]; never more than one revolution. A mask
    /// made for a different ring gives unspecified, but safe, results.
    ///
    /// # Examples
    /// ```
    /// use arcroute::{HealthMask, ManagerId, Ring, RingConfig, TaskId};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let managers = (0..8).map(|i| (ManagerId::new(i), 1));
    /// let ring = Ring::new(RingConfig::default().with_seed(7), managers)?;
    /// let start = ring.reserved_start(TaskId::from_name("f"));
    /// let whole: Vec<ManagerId> = ring.arc(start, 3).collect();
    /// let mut health = HealthMask::all_up(&ring);
    /// health.set(&ring, whole[0], false)?;
    /// let skipped: Vec<ManagerId> = ring.arc_with(start, 3, &health).collect();
    /// assert_eq!(skipped[..2], whole[1..], "the others keep their order");
    /// # Ok(())
    /// # }
    /// ```
    pub fn arc_with<'a>(&'a self, start: u64, len: u32, health: &'a HealthMask) -> ArcIter<'a> {
        ArcIter {
            walk: self.walk(start, len, Some(health)),
        }
    }

    /// The `k`-th (from 0) manager of arc `(start, len)` under `health`, or `None` when the arc
    /// has no `k`-th member. O(k) for positions spread as hashes spread them, O(log P + k) at
    /// worst, as [`Ring::arc`].
    ///
    /// # Examples
    /// ```
    /// use arcroute::{GroupId, HealthMask, ManagerId, Ring, RingConfig};
    ///
    /// # fn main() -> Result<(), arcroute::Error> {
    /// let managers = (0..8).map(|i| (ManagerId::new(i), 1));
    /// let ring = Ring::new(RingConfig::default().with_seed(7), managers)?;
    /// let start = ring.unreserved_start(GroupId::from_name("acct-1"));
    /// let health = HealthMask::all_up(&ring);
    /// let arc: Vec<ManagerId> = ring.arc(start, 4).collect();
    /// assert_eq!(ring.nth_in_arc(start, 4, 2, &health), Some(arc[2]));
    /// assert_eq!(ring.nth_in_arc(start, 4, 4, &health), None, "past the arc");
    /// # Ok(())
    /// # }
    /// ```
    pub fn nth_in_arc(
        &self,
        start: u64,
        len: u32,
        k: u32,
        health: &HealthMask,
    ) -> Option<ManagerId> {
        self.walk(start, len, Some(health))
            .nth(k as usize)
            .map(|i| self.managers[i as usize])
    }

    pub(crate) fn walk<'a>(
        &'a self,
        start: u64,
        len: u32,
        health: Option<&'a HealthMask>,
    ) -> Walk<'a> {
        self.walk_at(self.successor(start), len, health)
    }

    /// A walk from point index `origin`, which must be `successor` of the arc's start.
    pub(crate) fn walk_at<'a>(
        &'a self,
        origin: usize,
        len: u32,
        health: Option<&'a HealthMask>,
    ) -> Walk<'a> {
        let healthy = health.map_or(self.managers.len(), |h| h.healthy_count() as usize);
        let remaining = (len as usize).min(healthy).min(self.managers.len());
        Walk {
            ring: self,
            health,
            origin,
            step: 0,
            remaining,
        }
    }

    /// As `successor`, trying `hint` first: O(1) when `hint` is right (two comparisons prove
    /// it, so a hint from another ring can be wrong but never misleads), else a search.
    #[inline]
    pub(crate) fn successor_near(&self, start: u64, hint: u32) -> usize {
        let (h, i) = (&self.hashes, hint as usize);
        let right = match i {
            0 => h[0] >= start || h[h.len() - 1] < start,
            _ => i < h.len() && h[i] >= start && h[i - 1] < start,
        };
        if right {
            i
        } else {
            self.successor(start)
        }
    }

    /// The ring index of the manager that owns point `point` (an index of a point).
    #[inline]
    pub(crate) fn owner_at(&self, point: usize) -> u32 {
        self.links[point].owner
    }

    #[inline]
    pub(crate) fn manager_at(&self, index: u32) -> ManagerId {
        self.managers[index as usize]
    }

    pub(crate) fn index_of(&self, id: ManagerId) -> Option<u32> {
        self.managers.binary_search(&id).ok().map(|i| i as u32)
    }

    /// Index of the first point at or after `start`, wrapping to 0: a binary search of the
    /// points of `start`'s bucket of the index. The points before the bucket are below
    /// `start`, and the first point past it is above it, so the answer is in the bucket or is
    /// that point.
    pub(crate) fn successor(&self, start: u64) -> usize {
        let b = (start >> self.shift) as usize;
        let (lo, hi) = (self.buckets[b] as usize, self.buckets[b + 1] as usize);
        let i = lo + self.hashes[lo..hi].partition_point(|&h| h < start);
        if i == self.hashes.len() {
            0
        } else {
            i
        }
    }
}

/// [`Error::TooManyManagers`] if `count` managers are more than a ring holds.
///
/// Callers pass an iterator's `size_hint` lower bound before collecting it too: collecting
/// a host's overlong iterator would exhaust memory (or panic on capacity overflow) before
/// the length could be checked.
/// `managers` collected and sorted by id, once their count is checked (see [`check_count`]).
pub(crate) fn sorted<I>(managers: I) -> Result<Vec<(ManagerId, u32)>, Error>
where
    I: IntoIterator<Item = (ManagerId, u32)>,
{
    let managers = managers.into_iter();
    check_count(managers.size_hint().0)?;
    let mut list: Vec<(ManagerId, u32)> = managers.collect();
    list.sort_unstable_by_key(|&(id, _)| id);
    Ok(list)
}

pub(crate) fn check_count(count: usize) -> Result<(), Error> {
    if count > MAX_MANAGERS {
        return Err(Error::TooManyManagers {
            count,
            max: MAX_MANAGERS,
        });
    }
    Ok(())
}

/// The index of sorted `hashes` by their top bits, and the shift that takes a position to
/// its bucket (see [`Ring`]'s `buckets`). O(P). At most 4 bytes per 8 points (2²⁰ buckets
/// for [`MAX_POINTS`]).
fn buckets(hashes: &[u64]) -> (Box<[u32]>, u32) {
    let count = (hashes.len() / 16).next_power_of_two().max(2);
    let shift = 64 - count.trailing_zeros();
    let mut buckets = Vec::with_capacity(count + 1);
    let mut point = 0;
    for b in 0..count as u64 {
        while point < hashes.len() && hashes[point] >> shift < b {
            point += 1;
        }
        buckets.push(point as u32);
    }
    buckets.push(hashes.len() as u32);
    (buckets.into_boxed_slice(), shift)
}

/// For each point, its owner and the clockwise distance from the owner's previous point.
fn links(owners: &[u32], managers: usize) -> Box<[Link]> {
    let n = owners.len();
    let mut last = vec![u32::MAX; managers];
    for (j, &o) in owners.iter().enumerate() {
        last[o as usize] = j as u32;
    }
    let mut prev = vec![u32::MAX; managers];
    let mut links = Vec::with_capacity(n);
    for (j, &owner) in owners.iter().enumerate() {
        let j = j as u32;
        let before = prev[owner as usize];
        // The first point of an owner looks back across the wrap to its last point.
        let gap = if before == u32::MAX {
            j + n as u32 - last[owner as usize]
        } else {
            j - before
        };
        links.push(Link { owner, gap });
        prev[owner as usize] = j;
    }
    links.into_boxed_slice()
}

/// Walk over the manager indices of one arc.
#[derive(Clone, Debug)]
pub(crate) struct Walk<'a> {
    ring: &'a Ring,
    health: Option<&'a HealthMask>,
    origin: usize,
    step: usize,
    remaining: usize,
}

impl Iterator for Walk<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let points = self.ring.hashes.len();
        while self.remaining > 0 && self.step < points {
            let t = self.step;
            self.step += 1;
            let mut j = self.origin + t;
            if j >= points {
                j -= points;
            }
            // New manager iff its previous point lies before the walk's origin.
            let link = self.ring.links[j];
            if link.gap as usize > t {
                let owner = link.owner;
                if self.health.is_none_or(|h| h.is_up(owner)) {
                    self.remaining -= 1;
                    return Some(owner);
                }
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

/// The distinct managers of one arc, in arc order. Finite: at most one revolution of the ring.
#[derive(Clone, Debug)]
pub struct ArcIter<'a> {
    walk: Walk<'a>,
}

impl Iterator for ArcIter<'_> {
    type Item = ManagerId;

    fn next(&mut self) -> Option<ManagerId> {
        let index = self.walk.next()?;
        Some(self.walk.ring.manager_at(index))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.walk.size_hint()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ring of `n` managers of weight 1, ids `0..n`.
    pub(crate) fn ring(n: u64) -> Ring {
        Ring::new(
            RingConfig::default(),
            (0..n).map(|i| (ManagerId::new(i), 1)),
        )
        .unwrap()
    }

    #[test]
    fn debug_output_hides_the_seed() {
        let config = RingConfig::default().with_seed(0x5eed_c0de_1234_5678);
        let shown = format!("{config:?}");
        assert!(!shown.contains("5eed") && !shown.contains(&0x5eed_c0de_1234_5678u64.to_string()));
        assert!(shown.contains("hidden") && shown.contains("vnodes_per_weight: 160"));
    }

    #[test]
    fn the_search_finds_what_a_search_of_every_point_finds() {
        let one = |points: u32| {
            let config =
                RingConfig::default().with_vnodes_per_weight(NonZeroU32::new(points).unwrap());
            Ring::new(config, [(ManagerId::new(3), 1)]).unwrap()
        };
        // Positions as hashes place them, and positions no hash would make (most of them in
        // one bucket of the index; only the search's speed may suffer): bunched at one end,
        // spaced as powers of two, many equal, the extremes only.
        let placed = |mut hashes: Vec<u64>| {
            hashes.sort_unstable();
            let (buckets, shift) = buckets(&hashes);
            Ring {
                hashes: hashes.into_boxed_slice(),
                buckets,
                shift,
                ..ring(1)
            }
        };
        let rings = [
            one(1),
            one(2),
            one(17),
            ring(1),
            ring(10),
            ring(300),
            placed((0..5_000).collect()),
            placed((0..64).map(|k| 1u64 << k).chain([0, u64::MAX]).collect()),
            placed(
                (0..3_000)
                    .map(|i| [7, 1 << 40, u64::MAX - 3][i % 3])
                    .collect(),
            ),
            placed(
                (0..1_000)
                    .map(|i| if i < 999 { 0 } else { u64::MAX })
                    .collect(),
            ),
        ];
        for r in rings {
            let (n, buckets) = (r.hashes.len(), r.buckets.len() - 1);
            assert!(buckets.is_power_of_two() && buckets >= 2);
            assert!(
                n < 32 || (n / 16..n / 8 + 1).contains(&buckets),
                "{n} points, {buckets}"
            );
            let mut starts = vec![0, 1, u64::MAX, u64::MAX - 1];
            // Every point and either side of it, every bucket's bounds, and spread starts.
            starts.extend(
                r.hashes
                    .iter()
                    .flat_map(|&h| [h.wrapping_sub(1), h, h.wrapping_add(1)]),
            );
            starts.extend((0..buckets as u64).flat_map(|b| {
                let at = b << r.shift;
                [at, at.wrapping_sub(1), at | ((1 << r.shift) - 1)]
            }));
            starts.extend((0..2_000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
            for start in starts {
                let i = r.hashes.partition_point(|&h| h < start);
                let want = if i == n { 0 } else { i };
                assert_eq!(r.successor(start), want, "{n} points, start {start:#x}");
            }
        }
    }

    #[test]
    fn a_hint_only_ever_speeds_up_the_search() {
        let (a, b) = (ring(5), ring(7));
        let last = a.hashes[a.hashes.len() - 1];
        let mut starts = vec![0, 1, a.hashes[0], a.hashes[0] + 1, last, last + 1, u64::MAX];
        starts.extend((0..200u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        for start in starts {
            let want = a.successor(start);
            let from_b = b.successor(start) as u32;
            for hint in [want as u32, 0, 1, from_b, want as u32 + 1, u32::MAX] {
                assert_eq!(
                    a.successor_near(start, hint),
                    want,
                    "start {start}, hint {hint}"
                );
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        let cfg = RingConfig::default();
        assert_eq!(Ring::new(cfg, []).unwrap_err(), Error::NoManagers);
        let id = ManagerId::new(1);
        assert_eq!(
            Ring::new(cfg, [(id, 1), (id, 2)]).unwrap_err(),
            Error::DuplicateManager { id }
        );
        assert_eq!(
            Ring::new(cfg, [(id, 0)]).unwrap_err(),
            Error::ZeroWeight { id }
        );
        assert!(matches!(
            Ring::new(cfg, [(id, u32::MAX), (ManagerId::new(2), u32::MAX)]),
            Err(Error::TooManyPoints { .. })
        ));
    }

    #[test]
    fn arc_members_are_distinct_and_complete() {
        let r = ring(10);
        for start in [0, 1 << 40, u64::MAX] {
            let members: Vec<_> = r.arc(start, 100).collect();
            assert_eq!(members.len(), 10);
            let mut sorted = members.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 10);
            assert_eq!(members[0], r.first(start));
        }
    }

    #[test]
    fn gaps_match_a_naive_scan() {
        let r = ring(7);
        let owners: Vec<u32> = r.links.iter().map(|l| l.owner).collect();
        let n = owners.len();
        for j in 0..n {
            let back = (1..=n)
                .find(|d| owners[(j + n - d) % n] == owners[j])
                .unwrap();
            assert_eq!(r.links[j].gap as usize, back);
        }
    }

    #[test]
    fn all_down_yields_nothing() {
        let r = ring(3);
        let mut mask = HealthMask::all_up(&r);
        for (id, _) in r.managers().collect::<Vec<_>>() {
            mask.set(&r, id, false).unwrap();
        }
        assert_eq!(r.arc_with(0, 3, &mask).count(), 0);
        assert_eq!(r.nth_in_arc(0, 3, 0, &mask), None);
    }

    #[test]
    fn memory_is_sixteen_bytes_a_point_and_its_index() {
        let r = ring(100);
        // 16,000 points: 1,024 buckets of the index, 4 bytes each, and its end.
        assert_eq!(r.buckets.len(), 1_024 + 1);
        assert_eq!(r.heap_bytes(), r.point_count() * 16 + 100 * 12 + 1_025 * 4);
        assert!(2 * r.heap_bytes() <= r.point_count() * 33 + 100 * 24);
    }
}
