//! # Many frontends, one fleet
//!
//! A platform runs several frontends, each with its own [`Router`](crate::Router), in front
//! of one fleet of managers. They agree on placement by construction (same managers, weights,
//! seed and health: see [the placement spec](super::placement)); what they must be told is
//! how to share the reserved environments, since each router counts only its own calls.
//!
//! # What every frontend must share
//!
//! - The same managers, weights, health, seed, `vnodes_per_weight`, `reserved_per_manager`
//!   and `min_reserved_arc`: a [`FleetConfig`](crate::FleetConfig) applied by every frontend
//!   with [`Router::apply_config`](crate::Router::apply_config) keeps them together.
//! - Its place among the frontends: with `F` frontends, give each
//!   [`RouterConfig::frontends`](crate::RouterConfig::frontends) =
//!   [`Frontends::new`](crate::Frontends::new)`(i, F)`, and call
//!   [`Router::set_frontends`](crate::Router::set_frontends) when `F` changes. Without it each
//!   router admits against the whole `ready` count and the fleet over-admits up to `F` times.
//!
//! # Counting reserved calls
//!
//! A router admits a [`RouteKind::Reserved`](crate::RouteKind::Reserved) call while one of
//! these holds (the [`Counting`](crate::Counting) mode picks the first):
//!
//! - [`Counting::Local`](crate::Counting::Local): its own Reserved calls of the task are
//!   fewer than its [`Frontends`](crate::Frontends) share of `ready`. The shares of all
//!   frontends add up to `ready`, so the fleet never over-admits; but a busy frontend turns
//!   calls away while another's share idles.
//! - [`Counting::Global`](crate::Counting::Global): its own count plus the other frontends'
//!   last reported count is below `ready`. The host feeds
//!   [`Router::report_reserved_in_flight`](crate::Router::report_reserved_in_flight) with the
//!   sum of every frontend's [`Router::reserved_in_flight`](crate::Router::reserved_in_flight);
//!   a stale report falls back to the local share. It may over-admit by what other frontends
//!   admitted since the report.
//! - The sibling rule, with either: past the count, while the host reports the task's
//!   reserved environments less busy than
//!   [`RouterConfig::busy_threshold`](crate::RouterConfig::busy_threshold)
//!   ([`Router::report_reserved_busy`](crate::Router::report_reserved_busy)); it needs a fresh
//!   report and is bounded by `ready`.
//!
//! Admission follows `ready`, not `limit`: a raise ramps as environments become ready, a cut
//! or a removal drains as the host tears them down (see [`Reservation`](crate::Reservation)).
//! Lowering `ready` revokes no call already admitted; no new one is admitted until the held
//! ones fall below the new count. The simulator's frontend table in the README measures what
//! each mode costs.
//!
//! # Where reserved calls go: each frontend to its own share
//!
//! A router knows its own calls, not which of a manager's environments other frontends keep
//! busy. Dealing every frontend's calls over the whole reserved arc would send a call to a
//! manager whose environments another frontend holds, to be throttled and retried. So each
//! frontend owns a part of the reserved environments and sends its calls there:
//!
//! 1. **Numbering.** The reserved arc of `len` slots holds `E = max(limit, ready)`
//!    environments ([`Reservation::environments`](crate::Reservation::environments)), split
//!    as [`ArcAssigner::environments_at`](crate::ArcAssigner::environments_at) says: slot `s`
//!    holds `E / len`, the first `E % len` slots one more. Number them slot-major: slot `s`'s
//!    first is `s × (E / len) + min(s, E % len)`, and the slot of environment `e` follows in
//!    O(1) the other way.
//! 2. **Ranges.** With `F` frontends, frontend `i` admits up to `share_i =`
//!    [`Frontends::share_of`](crate::Frontends::share_of)`(ready, task)` (under
//!    [`Counting::Local`](crate::Counting::Local); a call is within the share while this
//!    router holds fewer Reserved calls of the task than that). It owns environments
//!    `[offset_i, offset_i + share_i)`, where `offset_i` is the sum of the shares of
//!    frontends `0..i`, computed in O(1) from the same rotation. The shares split `ready`,
//!    the numbering `E ≥ ready`: the ranges tile `0..ready`, so no two frontends own the same
//!    environment and every range lies among the environments the arc holds. While a raise
//!    ramps up (`ready < limit`) the ranges cover the first `ready` environments in slot
//!    order; a slot whose environments are not ready yet throttles, and the throttle moves
//!    the call on.
//! 3. **First fit.** A call within the share takes the first slot of its range on which
//!    this frontend runs fewer Reserved calls than it owns environments there. Live state
//!    counts them for the range's first 1,024 slots (in pages of 64, each made when a call is
//!    first counted in it; at most 128 calls a slot, a slot owning more counts as full
//!    there); past them, calls are dealt in turn over the environments of the range's later
//!    slots. With one frontend this is plain
//!    first fit over the reserved arc; with `F`, all frontends together never put more calls
//!    on a slot than the environments placed there
//!    ([`Router::reserved_arc`](crate::Router::reserved_arc)) on the slots they track, so a
//!    reserved call throttles only where an environment is missing or another frontend's
//!    call admitted past its share sits, not where another frontend's own calls sit. The
//!    search starts at a hint past the slots it found full before: a relaxed load and at
//!    most one atomic add per slot examined, O(1) while the free places are where the hint
//!    points; a byte of live state per counted slot.
//! 4. **Past the share.** Calls admitted beyond it ([`Counting::Global`](crate::Counting::Global)'s
//!    extra, the sibling rule) have no environments of their own: they are dealt over the
//!    whole arc in proportion to each slot's environments, on no slot's count, and may meet
//!    a busy manager.
//!
//! A permit remembers the slot count it holds and gives it back when the call ends. A
//! [`Router::on_throttle`](crate::Router::on_throttle) moves a reserved call counted in its
//! range to the range's next slot with a place free by the counts, its count with it; with
//! none (or for a call counted on no slot), to the next slot that holds environments,
//! uncounted, while the call has been throttled fewer than twice; the next throttle spills it
//! over, so that with the usual budget of three retries a call that walks has its last try on
//! the unreserved arc (refits within the range, each where the counts say a place is free,
//! are not bounded so). A change
//! of `ready`, `limit` or the fleet moves the ranges under calls in flight: those stay
//! counted where they were (relative to the range's first slot), which can misplace the
//! next calls until they end, never lose a count.
//!
//! # Unreserved calls over several frontends
//!
//! Each frontend counts only its own calls. With [`Frontends`](crate::Frontends) of `F`
//! frontends, a router sizes a group's unreserved arc for `F` times its own calls in flight,
//! and [`Pick::Pack`](crate::Pick::Pack) fills each member up to
//! `ceil(target_per_manager / F)` of its own calls before the next: `F` frontends packing the
//! same first members put about `target_per_manager` calls on each, the load the arc is sized
//! for, without exchanging a message. A frontend that sees more than its share of a group
//! packs more of its calls past the first members; the reported-load bound
//! ([`RouterConfig::load_bound`](crate::RouterConfig::load_bound)) catches what the local
//! counts miss, as fresh as the host's load reports.
