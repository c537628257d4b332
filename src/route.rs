//! The decision for one call ([`Route`]) and what it is made of.

use crate::id::{GroupId, ManagerId, TaskId};
use crate::permit::Permit;

/// Which arc a call was routed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// Within the task's reservation: the reserved arc, where an environment is warm.
    Reserved,
    /// A task without a reservation: its group's unreserved arc.
    Unreserved,
    /// A reserved task beyond its reservation: its group's unreserved arc, which scales freely.
    Spillover,
}

/// The decision for one call: where it goes, why, and the permit that counts it.
///
/// Hold it until the call completes: dropping it releases the permit and ends the call as
/// far as the router counts. It may be held across `.await` and moved between threads.
///
/// Dropping a route at once is an error under `#[deny(unused_must_use)]`:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use arcroute::{ManagerId, Router, TaskId};
///
/// let router = Router::builder()
///     .managers([(ManagerId::new(0), 1)])
///     .build()
///     .unwrap();
/// router.route(TaskId::new(1)); // the call would end here
/// ```
#[must_use = "dropping the route ends the call at once; hold it until the call completes"]
#[derive(Debug)]
pub struct Route {
    pub(crate) manager: ManagerId,
    pub(crate) kind: RouteKind,
    generation: u64,
    pub(crate) task: TaskId,
    pub(crate) group: GroupId,
    pub(crate) slot: u32,
    pub(crate) tries: u32,
    pub(crate) permit: Permit,
}

impl Route {
    /// The manager to send the call to.
    pub fn manager(&self) -> ManagerId {
        self.manager
    }

    /// Which arc it was chosen from.
    pub fn kind(&self) -> RouteKind {
        self.kind
    }

    /// Generation of the snapshot the manager was chosen from.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The routed task.
    pub fn task(&self) -> TaskId {
        self.task
    }

    /// The group whose unreserved arc serves the task's unreserved and spillover calls.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// Position of [`Route::manager`] in its arc (from 0).
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Managers tried before this one after throttling.
    pub fn retries(&self) -> u32 {
        self.tries
    }

    /// The permit counting this call.
    pub fn permit(&self) -> &Permit {
        &self.permit
    }

    /// Keeps only the permit, for hosts that track the call elsewhere.
    #[must_use = "dropping the permit ends the call at once; hold it until the call completes"]
    pub fn into_permit(self) -> Permit {
        self.permit
    }

    /// A first try of `task`'s call at `seat`.
    pub(crate) fn new(
        kind: RouteKind,
        (task, group): (TaskId, GroupId),
        seat: Seat,
        permit: Permit,
    ) -> Self {
        Self {
            manager: seat.manager,
            kind,
            generation: seat.generation,
            task,
            group,
            slot: seat.slot,
            tries: 0,
            permit,
        }
    }

    /// Moves the route to `seat` after a throttle.
    pub(crate) fn advance(&mut self, seat: Seat) {
        self.tries += 1;
        self.generation = seat.generation;
        self.slot = seat.slot;
        self.manager = seat.manager;
    }
}

/// One member of an arc, as a snapshot names it: the slot, its manager and the snapshot's
/// generation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seat {
    pub(crate) slot: u32,
    pub(crate) manager: ManagerId,
    pub(crate) generation: u64,
}

/// The reserved environments one manager of a reserved arc should hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReservedSlot {
    /// The manager.
    pub manager: ManagerId,
    /// How many reserved environments of the task it should keep warm.
    pub environments: u32,
}
