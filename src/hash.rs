//! The stable placement hash: ids from names, virtual-node points and arc starts.
//!
//! Everything here is part of the placement spec
//! ([`docs::placement`](crate::docs::placement)): XXH3 over explicitly encoded bytes, with a
//! fixed ASCII domain prefix per use, so that any frontend in any language computes the same
//! values from the same inputs.

use xxhash_rust::xxh3::{xxh3_128_with_seed, xxh3_64_with_seed};

use crate::id::{GroupId, ManagerId, TaskId};

/// Domain prefix of [`ManagerId::from_name`].
const MANAGER_DOMAIN: &[u8] = b"arcroute:manager:";
/// Domain prefix of [`TaskId::from_name`].
const TASK_DOMAIN: &[u8] = b"arcroute:task:";
/// Domain prefix of [`GroupId::from_name`].
const GROUP_DOMAIN: &[u8] = b"arcroute:group:";
/// Domain prefix of virtual-node points, ring version 1.
const POINT_DOMAIN_V1: &[u8] = b"arcroute:v1:point:";
/// Domain prefix of reserved-arc starts, ring version 1.
const RESERVED_DOMAIN_V1: &[u8] = b"arcroute:v1:reserved:";
/// Domain prefix of unreserved-arc starts, ring version 1.
const UNRESERVED_DOMAIN_V1: &[u8] = b"arcroute:v1:unreserved:";

/// The version of the placement function: how points and arc starts are computed.
///
/// Any change that would move keys is a new version. The default is [`RingVersion::V1`] and
/// will not change within a major version of this crate.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RingVersion {
    /// XXH3-64 points and arc starts, as [`docs::placement`](crate::docs::placement) writes
    /// them.
    #[default]
    V1,
}

/// `XXH3-64(seed 0, "arcroute:manager:" ++ name)`: [`ManagerId::from_name`].
pub(crate) fn manager_name(name: &str) -> u64 {
    prefixed_64(MANAGER_DOMAIN, name.as_bytes(), 0)
}

/// `XXH3-128(seed 0, "arcroute:task:" ++ name)`: [`TaskId::from_name`].
pub(crate) fn task_name(name: &str) -> u128 {
    prefixed_128(TASK_DOMAIN, name.as_bytes())
}

/// `XXH3-128(seed 0, "arcroute:group:" ++ name)`: [`GroupId::from_name`].
pub(crate) fn group_name(name: &str) -> u128 {
    prefixed_128(GROUP_DOMAIN, name.as_bytes())
}

/// Position of virtual node `index` of `manager` on the ring.
///
/// `XXH3-64(seed, "arcroute:v1:point:" ++ u64le(manager) ++ u32le(index))`.
pub(crate) fn point(seed: u64, manager: ManagerId, index: u32) -> u64 {
    let mut buf = [0u8; POINT_DOMAIN_V1.len() + 12];
    let (domain, rest) = buf.split_at_mut(POINT_DOMAIN_V1.len());
    domain.copy_from_slice(POINT_DOMAIN_V1);
    rest[..8].copy_from_slice(&manager.get().to_le_bytes());
    rest[8..].copy_from_slice(&index.to_le_bytes());
    xxh3_64_with_seed(&buf, seed)
}

/// Start of a task's reserved arc: `XXH3-64(seed, "arcroute:v1:reserved:" ++ u128le(task))`.
pub(crate) fn reserved_start(seed: u64, task: TaskId) -> u64 {
    start::<{ RESERVED_DOMAIN_V1.len() + 16 }>(RESERVED_DOMAIN_V1, task.get(), seed)
}

/// Start of a group's unreserved arc:
/// `XXH3-64(seed, "arcroute:v1:unreserved:" ++ u128le(group))`.
pub(crate) fn unreserved_start(seed: u64, group: GroupId) -> u64 {
    start::<{ UNRESERVED_DOMAIN_V1.len() + 16 }>(UNRESERVED_DOMAIN_V1, group.get(), seed)
}

fn start<const N: usize>(domain: &[u8], id: u128, seed: u64) -> u64 {
    let mut buf = [0u8; N];
    let (head, rest) = buf.split_at_mut(domain.len());
    head.copy_from_slice(domain);
    rest.copy_from_slice(&id.to_le_bytes());
    xxh3_64_with_seed(&buf, seed)
}

fn prefixed_64(domain: &[u8], name: &[u8], seed: u64) -> u64 {
    with_prefixed(domain, name, |bytes| xxh3_64_with_seed(bytes, seed))
}

fn prefixed_128(domain: &[u8], name: &[u8]) -> u128 {
    with_prefixed(domain, name, |bytes| xxh3_128_with_seed(bytes, 0))
}

/// Hashes `domain ++ name`; names that fit the stack buffer with their prefix take no
/// allocation, longer ones take one.
fn with_prefixed<T>(domain: &[u8], name: &[u8], hash: impl Fn(&[u8]) -> T) -> T {
    let mut stack = [0u8; 256];
    let total = domain.len() + name.len();
    if total <= stack.len() {
        stack[..domain.len()].copy_from_slice(domain);
        stack[domain.len()..total].copy_from_slice(name);
        hash(&stack[..total])
    } else {
        let mut heap = Vec::with_capacity(total);
        heap.extend_from_slice(domain);
        heap.extend_from_slice(name);
        hash(&heap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_independent() {
        let task = TaskId::from_name("f");
        assert_ne!(reserved_start(0, task), unreserved_start(0, task.into()));
        assert_ne!(TaskId::from_name("f").get(), GroupId::from_name("f").get());
    }

    #[test]
    fn seed_moves_everything() {
        let task = TaskId::from_name("f");
        let m = ManagerId::new(7);
        assert_ne!(point(0, m, 0), point(1, m, 0));
        assert_ne!(reserved_start(0, task), reserved_start(1, task));
        assert_ne!(
            unreserved_start(0, task.into()),
            unreserved_start(1, task.into())
        );
    }

    #[test]
    fn encodings_match_the_spec() {
        let m = ManagerId::new(0x0102_0304_0506_0708);
        let mut bytes = b"arcroute:v1:point:".to_vec();
        bytes.extend_from_slice(&m.get().to_le_bytes());
        bytes.extend_from_slice(&3u32.to_le_bytes());
        assert_eq!(point(9, m, 3), xxh3_64_with_seed(&bytes, 9));

        let t = TaskId::new(0xdead_beef);
        let mut bytes = b"arcroute:v1:reserved:".to_vec();
        bytes.extend_from_slice(&t.get().to_le_bytes());
        assert_eq!(reserved_start(5, t), xxh3_64_with_seed(&bytes, 5));

        assert_eq!(
            TaskId::from_name("hello").get(),
            xxh3_128_with_seed(b"arcroute:task:hello", 0)
        );
        assert_eq!(
            ManagerId::from_name("m-1").get(),
            xxh3_64_with_seed(b"arcroute:manager:m-1", 0)
        );
    }

    #[test]
    fn long_names_hash_like_short_ones_would() {
        let long = "x".repeat(1000);
        let mut bytes = b"arcroute:task:".to_vec();
        bytes.extend_from_slice(long.as_bytes());
        assert_eq!(
            TaskId::from_name(&long).get(),
            xxh3_128_with_seed(&bytes, 0)
        );
    }
}
