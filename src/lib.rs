//! Decide, once per serverless function call, which worker manager runs it: keep each
//! function's environments on a small stable set of managers, serve reserved capacity without
//! cold starts, and never let a reservation cap scaling.
//!
//! # Why
//!
//! A call is fast when it lands on a manager that already holds a warm environment for its
//! function, and a cold start when it does not. Sending every call of a function to one home
//! manager keeps it warm but makes hot spots; spreading calls evenly loses locality. arcroute
//! puts managers on a consistent hash ring and gives each **group** of calls (a function, by
//! default) an **arc**: the first `len` distinct managers clockwise from the group's hash. The
//! arc grows at once with load and shrinks slowly when load falls. A function with **reserved
//! capacity** (provisioned concurrency) also owns a **reserved arc**, sized by its reservation;
//! calls within the reservation go only to the managers holding its reserved environments, so
//! they need no cold start; calls beyond it **spill over** to the unreserved arc, which scales
//! like any on-demand function.
//!
//! The crate is sans-IO: the host feeds it membership, health, reservations and feedback, and
//! sends each call where [`Router::route`] says.
//!
//! | role | what it is |
//! | --- | --- |
//! | [`Ring`] | immutable weighted ring; arc queries in O(log P + len) expected, no allocation |
//! | [`ArcAssigner`] | pure sizing policy: reserved arc length, unreserved arc hysteresis |
//! | [`Router`] | concurrent front door: one lock-free snapshot, per-task live state, permits |
//! | [`LocalRouter`] | a per-thread handle on a `Router` that caches its snapshot and recent tasks |
//! | [`Frontends`], [`Counting`] | how routers that share a fleet count its reservations |
//! | [`FleetConfig`] | the fleet as one versioned value, applied as one snapshot |
//!
//! # Example
//!
//! ```
//! use arcroute::{ManagerId, Reservation, RouteKind, Router, TaskId};
//!
//! # fn main() -> Result<(), arcroute::Error> {
//! let router = Router::builder()
//!     .managers((0..8).map(|i| (ManagerId::from_name(&format!("manager-{i}")), 1)))
//!     .build()?;
//!
//! // Derive task ids once, when functions are deployed.
//! let thumbnails = TaskId::from_name("acct-1/thumbnails:prod");
//! router.set_reservation(thumbnails, 2);
//! router.set_ready(thumbnails, 2)?; // the host reports its reserved environments warm
//!
//! let first = router.route(thumbnails).expect("a healthy manager");
//! let second = router.route(thumbnails).expect("a healthy manager");
//! let third = router.route(thumbnails).expect("a healthy manager");
//! assert_eq!(first.kind(), RouteKind::Reserved);
//! assert_eq!(second.kind(), RouteKind::Reserved);
//! assert_eq!(third.kind(), RouteKind::Spillover); // beyond the reservation, still served
//!
//! // Send each call to `route.manager()`; drop the route (its permit) when the call ends.
//! drop((first, second, third));
//! assert_eq!(router.stats().in_flight_reserved, 0);
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//!
//! - **Placement is a specified function** (below), identical across processes, machines,
//!   crate versions of one [`RingVersion`], and languages. Every frontend built from the same
//!   managers, weights, seed and health computes the same arcs.
//! - **Arcs hold distinct healthy managers**: `min(len, healthy)` of them, in a fixed order.
//!   Adding or removing one manager changes an arc only by that manager entering or leaving
//!   it at one position (the managers after it shift by one slot, the last may drop out or
//!   come in); health changes skip a manager in the same way, without moving any other.
//! - **Reserved calls stay within the environments that exist**: a router admits a
//!   [`RouteKind::Reserved`] call only while its own Reserved permits of the task are fewer
//!   than its [`Frontends`] share of the reservation's `ready` count ([`Counting::Local`]:
//!   the shares of all frontends add up to `ready`, so the fleet never over-admits), or fewer
//!   than `ready` less the other frontends' last reported count ([`Counting::Global`], fresh
//!   reports only), or through the sibling rule ([`RouterConfig::busy_threshold`]), which
//!   needs a fresh host report and is bounded by `ready`. Admission follows `ready`, not
//!   `limit`: a raise ramps as environments become ready, a cut or a removal drains as the
//!   host tears them down (see [`Reservation`]). Lowering `ready` revokes no call already
//!   admitted; no new one is admitted until the held ones fall below the new count.
//! - **A reservation is a floor, never a ceiling**: calls beyond it are routed
//!   ([`RouteKind::Spillover`]), never refused. `route` returns `None` only when no manager is
//!   healthy.
//! - **Counts are conserved**: every in-flight count is held by a [`Permit`] and released
//!   when it drops, on any thread, during unwinding too. With no permit out, every in-flight
//!   gauge in [`Stats`] is zero.
//! - **Readers never lock the snapshot**: one `ArcSwap` load per call (or, through a
//!   per-thread [`LocalRouter`], one pointer check while nothing was published, and no map
//!   lookup for the last tasks it routed). Writers are serialized and publish whole
//!   snapshots (ring, health, reservations, config, generation); a route never sees half of a
//!   change. Writes that change nothing publish nothing. Per-task live
//!   state sits in a 64-way sharded map: a warm route takes one shard's read lock; a task's
//!   first route in a while takes its write lock, and now and then sweeps that shard's idle
//!   entries under it (amortized O(1) per new task, but readers of that shard wait for it).
//! - **A fleet config applies whole**: [`Router::apply_config`] checks a [`FleetConfig`]
//!   (the host's versioned record of managers, health and reservation limits) first, then
//!   publishes all of it as one snapshot; versions only move forward, and the version already
//!   applied publishes nothing.
//! - **No allocation on a warm route**, and no placement hashing (XXH3) of the task when it
//!   is routed by a precomputed [`TaskId`]: arc starts are cached in the task's live state.
//!   Reserved calls go only to managers whose reserved slots hold environments, in proportion
//!   to how many each holds. A warm route reads the clock only where a rule needs the time
//!   (an arc's shrink timer, a reservation past its share, every reserved admission under
//!   [`Counting::Global`]), not to mark the task used.
//! - **Bad input changes nothing**: every writer validates first and returns a typed
//!   [`Error`]; nothing panics on input a host can send.
//! - **Bounded memory**: per-task live state is evicted once idle for
//!   [`RouterConfig::idle_ttl`] with no permit out, by [`Router::evict_idle`] and by
//!   amortized sweeps when new tasks arrive (never earlier; later by up to two sweep
//!   intervals, since routes mark a use without reading the clock). A live task costs
//!   88 bytes of state (with its `Arc`) plus its map slot, about 125 to 165 bytes in all; a
//!   sweep that leaves a shard under a quarter full gives the room back. Measured: 10 million
//!   tasks routed once each peak at 1.43 GB (143 bytes a task), and one sweep after the TTL
//!   brings the heap back to within 200 bytes of the empty router
//!   (`cargo test --release --test memory -- --ignored`).
//!
//! # Pitfalls
//!
//! - **Hold the permit for the whole call.** Dropping a [`Route`] ends its count; dropping it
//!   early makes the router believe the task is idle and over-admit reserved calls.
//! - **Report readiness.** Reserved calls count against `ready`, the environments the host
//!   says are warm ([`Router::set_ready`]). A reservation whose `ready` stays 0 sends every
//!   call to spillover.
//! - **Tell each router its place among the frontends.** One router counts one frontend's
//!   calls. With `F` frontends, give each [`RouterConfig::frontends`] =
//!   [`Frontends::new`]`(i, F)` (and [`Router::set_frontends`] when `F` changes), or each
//!   admits against the whole `ready` count and the fleet over-admits up to `F` times. An even
//!   share turns calls away at a busy frontend while another's share idles: feed global counts
//!   ([`Counting::Global`], [`Router::report_reserved_in_flight`], fed from
//!   [`Router::reserved_in_flight`] of every frontend) or busy fractions (the sibling rule)
//!   where that matters; the simulator's frontend table measures each (README).
//! - **Use a secret seed where tenants name functions.** With the default seed 0 anyone can
//!   compute arcs from the spec below and pick names that pile onto one manager: 256 chosen
//!   names all start on one of 16 managers, where under a secret seed the same names put at
//!   most 25 on any (`tests/hostile.rs`). The seed enters the ring's points and every arc
//!   start, reserved and unreserved. Draw it once, at random (64 bits from the OS), keep it
//!   like a key, and give the same seed to every frontend of the fleet: a frontend with
//!   another seed computes other arcs, so its calls scatter and environments go cold. Rotate
//!   it only as a full re-placement (below). Task ids ([`TaskId::from_name`]) and the live
//!   map's shards do not depend on the seed.
//! - **Untrusted names and ids.** [`TaskId::from_name`] is 128 bits of XXH3, which is not
//!   collision resistant against an adversary; derive ids from keys tenants cannot choose
//!   freely (for example a platform-assigned function id).
//! - **Large arcs and outages cost more per call.** Choosing slot `k` walks the points up to
//!   the `k`-th distinct healthy manager: about `k / (1 − d)` points while `k` is small next
//!   to the fleet, where `d` is the fraction of managers down. An arc of hundreds of
//!   managers, or a fleet with most managers down, costs microseconds per route; the walk
//!   never exceeds one revolution of the ring.
//! - **Sweeping millions of idle entries takes seconds.** [`Router::evict_idle`] is
//!   O(live entries), about 0.4 µs an entry (10 million took 4 s on a 2-core machine). It
//!   write-locks one shard at a time, for about 1/64 of that, and routes of tasks in that
//!   shard wait for it. Call it often enough that each sweep stays small.
//! - **A reserved manager may be momentarily full.** One router spreads reserved calls in
//!   proportion to each manager's environments but does not track which of them are busy
//!   (other frontends share them): a manager with none free should throttle, and
//!   [`Router::on_throttle`] moves the call to the next reserved manager.
//! - **Changing `vnodes_per_weight` or the seed moves every arc**, as a new ring version
//!   would: roll it out to all frontends at once, and re-provision reserved environments on
//!   the new reserved arcs ([`Router::reserved_arc`]). `reserved_per_manager` and
//!   `min_reserved_arc` size reserved arcs and must also agree across frontends.
//! - **Task and group ids share one key space** for live state: [`TaskId::new`]`(n)` and
//!   [`GroupId::new`]`(n)` are the same key (that is how a task is its own default group).
//!   Take numeric task and group ids from separate ranges, or derive them from names.
//!
//! # Placement spec (ring version 1)
//!
//! All hashes are XXH3 (64- or 128-bit, as named) over the bytes shown, with `++` for
//! concatenation, integers little-endian, and the ASCII domain prefixes written exactly as
//! quoted (no terminator).
//!
//! 1. **Ids.** `ManagerId::from_name(s) = XXH3_64("arcroute:manager:" ++ utf8(s), seed 0)`;
//!    `TaskId::from_name(s) = XXH3_128("arcroute:task:" ++ utf8(s), seed 0)`;
//!    `GroupId::from_name(s) = XXH3_128("arcroute:group:" ++ utf8(s), seed 0)`; the default
//!    group of a task has the task's 128-bit value. A 128-bit value is the integer whose
//!    big-endian bytes are XXH3-128's canonical output.
//! 2. **Points.** A manager `m` of weight `w` has `w × vnodes_per_weight` points (default
//!    160 per unit weight); point `i` (from 0) sits at
//!    `XXH3_64("arcroute:v1:point:" ++ u64le(m) ++ u32le(i), seed)`.
//! 3. **Order.** Points are sorted ascending by `(position, manager id, i)`.
//! 4. **Starts.** A task's reserved arc starts at
//!    `XXH3_64("arcroute:v1:reserved:" ++ u128le(task), seed)`; a group's unreserved arc at
//!    `XXH3_64("arcroute:v1:unreserved:" ++ u128le(group), seed)`.
//! 5. **Arcs.** Arc `(start, len)`: take the first point whose position is `>= start` (the
//!    first point of the ring if none is); walk the points in order, wrapping, for at most one
//!    revolution; a manager joins the arc the first time one of its points is met, if it is
//!    healthy; stop after `len` managers. Slot `k` of the arc is the `k`-th manager to join.
//! 6. **Lengths.** A reserved arc has
//!    `min(healthy, max(min_reserved_arc, ceil(max(limit, ready) / reserved_per_manager)))`
//!    managers, `healthy` being the number of healthy managers (so it wins when it is below
//!    `min_reserved_arc`); 0 for a reservation of 0 with nothing ready. Its `k`-th manager
//!    holds `limit / len` reserved environments (integer division), plus one if
//!    `k < limit % len`.
//!
//! `seed` is the fleet-wide [`RingConfig::seed`]; `reserved_per_manager` and
//! `min_reserved_arc` are [`AssignConfig`] fields (defaults 16 and 2).
//!
//! `tests/data/golden_v1.txt` pins the points of two small fleets and the arcs of ten tasks;
//! an implementation in another language should reproduce it byte for byte. A reference
//! implementation in Python lives in `tests/reference/placement.py` and is run by CI against
//! the golden vectors. The file's header gives the line formats; in addition, each `ring` line
//! builds a ring of every `manager` line above it (with their weights), and the `point`,
//! `start`, `arc`, `arc_down` and `reserved` lines that follow it, up to the next `ring` line,
//! are of that ring. `start` lines use the task's default group; `arc` and `arc_down` lines
//! list whole arcs (`len` = the number of managers of the ring, all healthy but the one
//! `DOWN_ID`); `reserved` lines list the task's reserved arc with all managers healthy and the
//! default [`AssignConfig`].
//!
//! Unreserved arc *lengths* depend on each frontend's own load and are not part of the spec;
//! the arc for a given length is.
//!
//! # Cargo features
//!
//! - `serde` (off by default): `Serialize` and `Deserialize` for [`FleetConfig`], in the
//!   versioned fleet-config format documented there (JSON with ids as fixed-width hex
//!   strings), so that a host can keep its fleet in etcd, Consul or a database and apply it
//!   with [`Router::apply_config`]. Everything else, `FleetConfig` and `apply_config`
//!   included, works without it.
//!
//! # Minimum supported Rust version
//!
//! Rust 1.82, as `rust-version` in `Cargo.toml` says.

#![forbid(unsafe_code)]

// Placement: ids, the specified hashes, the ring and its health mask.
mod hash;
mod health;
mod id;
mod ring;
// Pure policy: arc sizing, reservations, admission, frontends' shares.
mod admission;
mod assign;
mod frontends;
mod reservation;
// The concurrent shell and what it hands out.
mod live;
mod local;
mod permit;
mod route;
mod router;
mod stats;
// The host's side: fleet config, clocks, errors.
mod clock;
mod error;
mod fleet;

pub use assign::{ArcAssigner, ArcState, AssignConfig};
pub use clock::{Clock, ManualClock, MonotonicClock};
pub use error::Error;
pub use fleet::{FleetConfig, FleetManager, FleetReservation};
pub use frontends::{Counting, Frontends};
pub use hash::RingVersion;
pub use health::HealthMask;
pub use id::{GroupId, ManagerId, TaskId};
pub use local::LocalRouter;
pub use permit::Permit;
pub use reservation::Reservation;
pub use ring::{ArcIter, Ring, RingConfig, DEFAULT_VNODES_PER_WEIGHT, MAX_MANAGERS, MAX_POINTS};
pub use route::{ReservedSlot, Route, RouteKind};
pub use router::{Pick, Router, RouterBuilder, RouterConfig};
pub use stats::Stats;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;
