//! Ids of managers, tasks and groups: small `Copy` newtypes, derivable from names by the
//! specified hash.

use std::fmt;

use crate::hash;

/// Identifies a worker manager: a small `Copy` id chosen by the host.
///
/// Use [`ManagerId::new`] when the host already has stable numeric ids, or
/// [`ManagerId::from_name`] to derive one from a host name. Two managers of one fleet must
/// not share an id: ring construction rejects duplicates.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManagerId(u64);

impl ManagerId {
    /// Wraps a host-chosen numeric id.
    pub const fn new(id: u64) -> Self {
        Self(id)
    }

    /// Derives an id from a name: `XXH3-64(seed 0, "arcroute:manager:" ++ name)`.
    ///
    /// Stable across processes, machines, versions and languages. With 64 bits, two names of a
    /// fleet of 10 000 managers collide with probability about 3·10⁻¹²; a collision is reported
    /// as [`Error::DuplicateManager`](crate::Error::DuplicateManager), never merged silently.
    pub fn from_name(name: &str) -> Self {
        Self(hash::manager_name(name))
    }

    /// The numeric value, as encoded in the placement spec.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for ManagerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManagerId({:#018x})", self.0)
    }
}

/// Identifies a task: a function (version or alias) the host asks to run.
///
/// 128 bits wide so that two distinct tasks practically never share an id, and therefore never
/// share a reservation or live state: among a billion task names the chance of any collision
/// is about 1.5·10⁻²¹. That bound holds for names that are not chosen to collide; XXH3 is not a
/// cryptographic hash, so where tenants name their own functions, derive the id from the
/// platform's own unique function key (or use [`TaskId::new`] with a database id).
///
/// Derive it once per task (for example when the function is deployed) and keep it: routing by
/// a precomputed id hashes nothing on the warm path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u128);

impl TaskId {
    /// Wraps a host-chosen numeric id.
    pub const fn new(id: u128) -> Self {
        Self(id)
    }

    /// Derives an id from a name: `XXH3-128(seed 0, "arcroute:task:" ++ name)`.
    ///
    /// Stable across processes, machines, versions and languages.
    pub fn from_name(name: &str) -> Self {
        Self(hash::task_name(name))
    }

    /// The numeric value, as encoded in the placement spec.
    pub const fn get(self) -> u128 {
        self.0
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({:#034x})", self.0)
    }
}

/// Identifies a group: what owns an unreserved arc.
///
/// By default every task is its own group (`GroupId::from(task)`); a host may instead group
/// the tasks of one account so that they share environments' managers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(u128);

impl GroupId {
    /// Wraps a host-chosen numeric id.
    pub const fn new(id: u128) -> Self {
        Self(id)
    }

    /// Derives an id from a name: `XXH3-128(seed 0, "arcroute:group:" ++ name)`.
    ///
    /// The domain differs from [`TaskId::from_name`], so a group named like a task is a
    /// different group.
    pub fn from_name(name: &str) -> Self {
        Self(hash::group_name(name))
    }

    /// The numeric value, as encoded in the placement spec.
    pub const fn get(self) -> u128 {
        self.0
    }
}

impl From<TaskId> for GroupId {
    /// The default group of a task: the task itself.
    fn from(task: TaskId) -> Self {
        Self(task.0)
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({:#034x})", self.0)
    }
}
