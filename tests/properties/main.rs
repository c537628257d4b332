//! Property tests of the ring, the router's admission rules and its counters, one module per
//! concern: `ring` (placement), `model` (the router against a model of its state),
//! `reservations` (isolation, spillover, frontends), `shares` (where each frontend's
//! reserved calls go) and `arcs` (arc sizing).
//!
//! Every property compares the crate against an independent expectation: a naive ring walk
//! over `Ring::points`, a model of the router's per-task state driven by the public
//! `ArcAssigner`, or an exact count of what the test itself holds. Case counts are set so
//! that the whole suite runs in a few seconds in a debug build on two cores;
//! `ARCROUTE_PROPTEST_SCALE` multiplies them. Shrunk failures are kept, one file per module,
//! in `tests/proptest-regressions/` and replayed before any new case.

#[path = "../support/mod.rs"]
mod support;

mod arcs;
mod model;
mod reservations;
mod ring;
mod shares;
