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
//! # A reserved manager may be momentarily full
//!
//! One router spreads reserved calls in proportion to each manager's environments but does
//! not track which of them are busy (other frontends share them): a manager with none free
//! should throttle, and [`Router::on_throttle`](crate::Router::on_throttle) moves the call to
//! the next reserved manager.
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
