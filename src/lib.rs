//! arcroute

mod assign;
mod clock;
mod error;
mod hash;
mod live;
mod permit;
mod reservation;
mod ring;
mod router;

pub use assign::{ArcAssigner, ArcState, AssignConfig};
pub use clock::{Clock, ManualClock, MonotonicClock};
pub use error::Error;
pub use hash::{GroupId, ManagerId, RingVersion, TaskId};
pub use permit::Permit;
pub use reservation::Reservation;
pub use ring::{
    ArcIter, HealthMask, Ring, RingConfig, DEFAULT_VNODES_PER_WEIGHT, MAX_MANAGERS, MAX_POINTS,
};
pub use router::{
    Pick, ReservedSlot, Route, RouteKind, Router, RouterBuilder, RouterConfig, Stats,
};
