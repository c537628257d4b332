//! Deeper pages of documentation, with no code: the placement spec, running many frontends,
//! and operating a router.

pub mod frontends;
pub mod operations;
pub mod placement;
