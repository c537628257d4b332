//! Deeper pages of documentation, with no items of their own: the placement spec, running
//! many frontends, operating a router, and routing from async hosts.

pub mod asynchronous;
pub mod frontends;
pub mod operations;
pub mod placement;
