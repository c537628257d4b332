//! `tracing` events, with the `tracing` feature: one when a writer publishes a snapshot, one
//! when an unreserved arc changes length. Without the feature this module and every call into
//! it are compiled out.
//!
//! A route emits nothing unless it moves its arc's length, which happens only when its
//! group's load crosses a sizing threshold (a grow, at once) or has stayed under one for the
//! shrink delay (a shrink): rare beside the routes that keep the length.

use std::sync::Arc;

use crate::router::Snapshot;

/// The target every event carries, for a subscriber's filter (`arcroute=debug`).
pub(crate) const TARGET: &str = "arcroute";

/// A writer published `next` over `prev`: the new generation, what changed and the sizes.
pub(crate) fn published(prev: &Snapshot, next: &Snapshot) {
    tracing::debug!(
        target: TARGET,
        generation = next.generation,
        ring = !Arc::ptr_eq(&prev.ring, &next.ring),
        health = prev.health != next.health,
        reservations = !prev.reservations.shares(&next.reservations),
        config = prev.settings != next.settings || prev.assigner != next.assigner,
        managers = next.ring.len(),
        healthy = next.healthy(),
        reserved_tasks = next.reservations.len(),
        "published a snapshot",
    );
}

/// An unreserved arc moved from `from` managers to `to`.
pub(crate) fn arc_resized(from: u32, to: u32) {
    if to > from {
        tracing::debug!(target: TARGET, from, to, "unreserved arc grew");
    } else {
        tracing::debug!(target: TARGET, from, to, "unreserved arc shrank");
    }
}
