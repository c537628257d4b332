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
//! arc grows at once with load and, once load has stayed low for a while, shrinks straight
//! to what the load needs; a throttle moves one call on without widening it. Within the arc a
//! call goes to the first member with room ([`Pick::Pack`]), where the function's
//! environments are warm, while reported loads bound how busy a member may get. A function
//! with **reserved capacity** (provisioned concurrency) also owns a **reserved arc**; calls within the
//! reservation go only to the managers holding its reserved environments, and calls beyond it
//! **spill over** to the unreserved arc, which scales like any on-demand function.
//!
//! The crate is sans-IO: the host feeds it membership, health, reservations and feedback, and
//! sends each call where [`Router::route`] says. [`Ring`] and [`ArcAssigner`] are the pure
//! placement and sizing underneath; [`LocalRouter`] is a per-thread handle; [`FleetConfig`]
//! is the fleet as one versioned value.
//!
//! # Example
//!
//! ```
//! use arcroute::{ManagerId, RouteKind, Router, TaskId};
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
//! - **Placement is a specified function** ([`docs::placement`]): every frontend with the same
//!   managers, weights, seed and health computes the same arcs of distinct healthy managers,
//!   and one manager joining or leaving moves each arc by at most that manager.
//! - **Reserved calls stay within the environments that exist**: admission counts against
//!   `ready`, split among frontends; each router admits at most `ready` of its own calls.
//!   Under [`Counting::Local`] without busy reports the shares add up to `ready`, so the
//!   frontends never over-admit together; the sibling rule and [`Counting::Global`] may, by
//!   what the others admitted since the last report ([`docs::frontends`]).
//! - **A reservation is a floor, never a ceiling**: calls beyond it are routed
//!   ([`RouteKind::Spillover`]); `route` returns `None` only when no manager is healthy.
//! - **Counts are conserved**: every in-flight count is held by a [`Permit`] and released when
//!   it drops, on any thread, during unwinding too.
//! - **Readers never lock the snapshot**, and writers publish whole snapshots: a route never
//!   sees half of a change. A warm route allocates nothing (`BENCHMARKS.md`).
//! - **Bad input changes nothing**: writers validate first and return a typed [`Error`].
//! - **Bounded memory**: idle live state is evicted ([`docs::operations`]).
//!
//! # Pitfalls
//!
//! - **Hold the permit for the whole call**, and **report readiness**
//!   ([`Router::set_ready`]): a reservation whose `ready` stays 0 spills every call.
//! - **Tell each router its place among the frontends** ([`Frontends`]), or the fleet
//!   over-admits ([`docs::frontends`]).
//! - **Report loads, and say what a manager runs without slowing**: without
//!   [`Router::report_load`] nothing bounds how much [`Pick::Pack`] puts on a member; count a
//!   manager's idle reserved environments in its load, and set
//!   [`RouterConfig::load_floor`] to its cores, or on a roomy fleet the bound (1.25 times a
//!   tiny mean) spreads functions away from their warm members.
//! - **Use a secret seed where tenants name functions**, the same on every frontend
//!   ([`docs::placement`]).
//! - **Changing the seed or `vnodes_per_weight` moves every arc** ([`docs::placement`]).
//! - **On an async runtime, share one `'static` or `Arc`'d router**; a [`LocalRouter`]
//!   borrows it and belongs to one worker thread, never held across `.await`, while a
//!   [`Route`] may be ([`docs::asynchronous`]).
//! - **Large arcs and outages cost more per call**: with 1 of 1,000,000 managers healthy a
//!   route walks about a million points to it, milliseconds a call (76 ms measured on a
//!   loaded 2-core machine); shrink the ring to the managers that are up when most are down
//!   ([`docs::operations`], Costs that grow).
//! - **One router routes about one core's worth**: every route writes its task's counts and
//!   its shard's lock word, so threads routing through one router take turns on them (on the
//!   same functions, below one thread's rate). Past that, run several [`Router`]s, not
//!   [`LocalRouter`] handles, each a frontend of its own, at every cost of more frontends
//!   ([`docs::operations`], The read path).
//! - **Load many reservations in one call**: [`Router::update_reservations`] publishes once;
//!   one [`Router::put_reservation`] each copies a 64th of the table per call, quadratic in
//!   all ([`docs::operations`]).
//!
//! # Cargo features
//!
//! - `tower` (on by default): the [`tower`] module, a tower `Layer` and `Service` that route
//!   each request through a [`Router`] to its manager's service. Its dependencies are tower's
//!   two trait crates; `default-features = false` drops them.
//! - `serde` (off by default): `Serialize` and `Deserialize` for [`FleetConfig`], in the
//!   versioned fleet-config format documented there. Everything else works without it.
//! - `metrics` (off by default): [`Stats::record`] and [`Stats::describe`] hand every field
//!   of [`Stats`] to the [`metrics`](https://docs.rs/metrics) crate's recorder. Without it,
//!   [`Stats::metrics`] still yields every field's name, kind and value for any exporter
//!   (its docs render Prometheus' text format).
//! - `tracing` (off by default): [`tracing`](https://docs.rs/tracing) events, target
//!   `arcroute`, level DEBUG: one per snapshot a writer publishes (its generation, what
//!   changed: ring, health, reservations, config; the fleet's sizes), and one per change of an
//!   unreserved arc's length (from, to). A route that keeps its arc's length, the common case
//!   by far, emits nothing; a length change happens only when a group's load crosses a sizing
//!   threshold. Without the feature no tracing code is compiled at all.
//!
//! Items that need a feature are marked so in these docs.
//!
//! # Minimum supported Rust version
//!
//! The library builds on Rust 1.82 (`rust-version` in `Cargo.toml`), with every feature:
//! its dependencies ask for at most 1.77, and `clippy::incompatible_msrv`, which CI runs,
//! rejects standard-library APIs newer than 1.82. The tests, benches and examples need more,
//! through their dev-dependencies: Rust 1.88 (`proptest` sets it; `criterion` asks 1.86,
//! `tokio`'s HTTP stack 1.85). CI builds on the current stable toolchain only, so the 1.82
//! figure comes from these checks, not from a build on 1.82 itself.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod docs;

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
#[cfg(feature = "tracing")]
mod trace;
// Integration.
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;
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
pub use reservation::{Reservation, ReservationChange};
pub use ring::{ArcIter, Ring, RingConfig, DEFAULT_VNODES_PER_WEIGHT, MAX_MANAGERS, MAX_POINTS};
pub use route::{ReservedSlot, Route, RouteKind};
pub use router::{Pick, Router, RouterBuilder, RouterConfig};
pub use stats::{Metric, MetricKind, Stats};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;
