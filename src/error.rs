//! The crate's one error type.

use crate::{ManagerId, TaskId};

/// Everything that can go wrong when a host hands arcroute bad input.
///
/// A call that returns an error changes nothing: no snapshot is published and no state moves.
/// Routing itself never fails with an error; it returns `None` when no manager is healthy.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Error {
    /// A ring needs at least one manager.
    #[error("no managers given")]
    NoManagers,
    /// The same manager id appears twice in one managers list.
    #[error("manager {id:?} is listed more than once")]
    DuplicateManager {
        /// The repeated id.
        id: ManagerId,
    },
    /// A manager's weight is zero.
    #[error("manager {id:?} has weight zero")]
    ZeroWeight {
        /// The manager with weight zero.
        id: ManagerId,
    },
    /// More managers than a ring indexes.
    #[error("too many managers: {count} exceeds the maximum of {max}")]
    TooManyManagers {
        /// How many were given; for an iterator rejected before it was collected, the
        /// length its `size_hint` reported.
        count: usize,
        /// The most a ring accepts.
        max: usize,
    },
    /// Weights times virtual nodes per weight exceed the most points a ring holds.
    #[error("too many virtual nodes: the weights ask for more than the maximum of {max} points")]
    TooManyPoints {
        /// The most points a ring holds.
        max: usize,
    },
    /// A manager id that is not in the current ring.
    #[error("unknown manager {id:?}")]
    UnknownManager {
        /// The id that was not found.
        id: ManagerId,
    },
    /// A task that has no reservation.
    #[error("task {task:?} has no reservation")]
    NoReservation {
        /// The task.
        task: TaskId,
    },
    /// A configuration value outside its documented range.
    #[error("invalid configuration: {what}")]
    InvalidConfig {
        /// Which value, and the range it must be in.
        what: &'static str,
    },
    /// The same task is listed twice among a fleet config's reservations.
    #[error("task {task:?} has more than one reservation in the fleet config")]
    DuplicateReservation {
        /// The repeated task.
        task: TaskId,
    },
    /// A fleet config older than the one the router last applied.
    #[error("fleet config version {offered} is older than the applied version {current}")]
    StaleConfig {
        /// The version the router last applied.
        current: u64,
        /// The version offered.
        offered: u64,
    },
    /// A fleet config with the version the router last applied but different content: a
    /// version must name one content.
    #[error("fleet config version {version} was already applied with different content")]
    ConflictingConfig {
        /// The version both configs carry.
        version: u64,
    },
    /// A fleet config whose placement settings differ from the router's, which are fixed when
    /// the router is built (its live state caches arc starts under them).
    #[error("the fleet config's {setting} differs from the router's")]
    PlacementMismatch {
        /// Which setting: `"ring version"`, `"seed"` or `"virtual nodes per weight"` (values
        /// are not given: the seed may be secret).
        setting: &'static str,
    },
    /// A fraction that is not a number within `0.0..=1.0`.
    #[error("fraction {value} is not within 0.0..=1.0")]
    InvalidFraction {
        /// The value given.
        value: f32,
    },
}
