//! Fleet configs: the managers and reservations of a fleet as one versioned value that a host
//! keeps in its config system and applies with [`Router::apply_config`](crate::Router::apply_config).

use std::fmt;
use std::num::NonZeroU32;

use crate::hash::RingVersion;
use crate::id::{ManagerId, TaskId};
use crate::ring::{Ring, RingConfig};
use crate::Error;

/// The fleet as the host's config system holds it: placement settings, managers (weight and
/// health) and reservation limits, under a version the host chooses.
///
/// A host stores one `FleetConfig` where it keeps configuration already (etcd, Consul, a
/// database), builds every frontend's router from it ([`Router::from_fleet_config`],
/// [`RouterBuilder::fleet_config`]) and applies each new version with
/// [`Router::apply_config`], which publishes the whole change as one snapshot. Frontends that
/// apply the same config compute the same arcs.
///
/// # What it holds, and what it leaves out
///
/// - `version`: chosen by the host, and it must grow with every change (an etcd revision, a
///   database sequence, a timestamp). A router refuses a version older than the last one it
///   applied, and the same version with other content.
/// - Placement settings: `ring_version`, `seed` and `vnodes_per_weight`. They place every arc,
///   and a router's live state caches arc starts under them, so they are fixed when the router
///   is built: [`Router::apply_config`] refuses a config whose settings differ from the
///   router's.
/// - Managers: id, weight and health. Applying a config sets the health of every manager, so
///   a host that also calls [`Router::set_health`] between configs should write health into
///   the next version too.
/// - Reservations: task and `limit` only. `ready` is runtime state that the host reports as
///   environments come and go ([`Router::set_ready`]); a config keeps each reservation's
///   reported `ready` and a new reservation starts with none ready. A task absent from a config
///   is removed as [`Router::remove_reservation`] removes it: its limit drops to 0 and it
///   drains while environments are ready.
/// - Router settings ([`RouterConfig`] other than the placement settings: arc sizing, pick,
///   counting, frontends) stay per router. `reserved_per_manager` and `min_reserved_arc` size
///   reserved arcs and must agree across frontends as well.
///
/// Managers and reservations may be listed in any order; two configs that differ only in order
/// have the same content.
///
/// # Format (with the `serde` feature)
///
/// With the `serde` feature, `FleetConfig` implements `Serialize` and `Deserialize` in the
/// fleet-config format version 1, shown here as JSON:
///
/// ```json
/// {
///   "format": 1,
///   "version": 42,
///   "ring_version": 1,
///   "seed": "0000000000005eed",
///   "vnodes_per_weight": 160,
///   "managers": [
///     { "id": "3c4b1e0b8a7f9d21", "weight": 1, "healthy": true },
///     { "id": "9e1f00c2d4a6b873", "weight": 2, "healthy": false }
///   ],
///   "reservations": [
///     { "task": "7d3a9c51e2f04b6a8c1d0e9f2a3b4c5d", "limit": 10 }
///   ]
/// }
/// ```
///
/// | field | type | meaning |
/// | --- | --- | --- |
/// | `format` | number, `1` | this format; a reader refuses formats it does not know |
/// | `version` | number | the host's config version ([`FleetConfig::version`]) |
/// | `ring_version` | number, `1` | [`RingVersion::V1`] |
/// | `seed` | 16 hex digits | [`FleetConfig::seed`] |
/// | `vnodes_per_weight` | number ≥ 1, optional (160) | virtual nodes per unit of weight |
/// | `managers` | array | `id` (16 hex digits), `weight` (number), `healthy` (optional, `true`) |
/// | `reservations` | array, optional (empty) | `task` (32 hex digits), `limit` (number) |
///
/// - **Ids and the seed are strings** of fixed-width lowercase hexadecimal: a [`ManagerId`]
///   and the seed as exactly 16 digits, a [`TaskId`] as exactly 32, most significant digit
///   first (the value that [`ManagerId::get`] and [`TaskId::get`] return, as the placement
///   spec uses it; `format!("{:016x}")` and `format!("{:032x}")` in Rust, `f"{id:016x}"` in
///   Python). JSON numbers lose precision beyond 2⁵³ in many languages; strings do not.
///   Anything else (uppercase, a `0x` prefix, another width) is refused.
/// - `version`, weights and limits are JSON numbers. A version above 2⁵³ round-trips in Rust
///   but not through JavaScript or other readers that hold numbers as doubles; keep versions
///   below it where such readers touch the config.
/// - Unknown fields are refused, at every level: a misspelt field must not pass for a default.
///   Fields added later come with a new `format` number, which older readers refuse.
/// - Serializing writes every field, in the order above.
///
/// Reading checks the shape (types, hex, `format`, `ring_version`); the rules that involve
/// several entries (duplicates, weights, sizes) are checked by [`FleetConfig::validate`],
/// which building from and applying a config run first.
///
/// # Example
///
/// ```
/// use arcroute::{Error, FleetConfig, ManagerId, Router, TaskId};
///
/// # fn main() -> Result<(), Error> {
/// let task = TaskId::from_name("acct-1/thumbnails:prod");
/// let mut fleet = FleetConfig::new(1).with_seed(0x5eed);
/// for i in 0..8 {
///     fleet = fleet.with_manager(ManagerId::from_name(&format!("wm-{i}")), 1, true);
/// }
/// let router = Router::from_fleet_config(&fleet.clone().with_reservation(task, 4))?;
/// assert_eq!(router.reservation(task).map(|r| r.limit), Some(4));
///
/// // Version 2 drops the reservation and marks a manager down: one snapshot.
/// let mut next = fleet.clone();
/// next.version = 2;
/// next.managers[0].healthy = false;
/// assert!(router.apply_config(&next)?);
/// assert!(!router.apply_config(&next)?, "already applied");
/// assert!(router.reservation(task).is_none());
/// assert!(!router.is_healthy(next.managers[0].id));
///
/// // Older versions are refused, and change nothing.
/// assert_eq!(
///     router.apply_config(&fleet),
///     Err(Error::StaleConfig { current: 2, offered: 1 })
/// );
/// # Ok(())
/// # }
/// ```
///
/// Reading the format needs the `serde` feature:
///
/// ```
/// # #[cfg(feature = "serde")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arcroute::{FleetConfig, Router};
///
/// let json = r#"{
///     "format": 1, "version": 7, "ring_version": 1, "seed": "0000000000000000",
///     "managers": [{ "id": "0000000000000001", "weight": 1 },
///                  { "id": "0000000000000002", "weight": 1 }]
/// }"#;
/// let fleet: FleetConfig = serde_json::from_str(json)?;
/// let router = Router::from_fleet_config(&fleet)?;
/// assert_eq!(router.fleet_version(), Some(7));
/// assert_eq!(serde_json::from_str::<FleetConfig>(&serde_json::to_string(&fleet)?)?, fleet);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "serde"))]
/// # fn main() {}
/// ```
///
/// [`Router::from_fleet_config`]: crate::Router::from_fleet_config
/// [`RouterBuilder::fleet_config`]: crate::RouterBuilder::fleet_config
/// [`Router::apply_config`]: crate::Router::apply_config
/// [`Router::set_health`]: crate::Router::set_health
/// [`Router::set_ready`]: crate::Router::set_ready
/// [`Router::remove_reservation`]: crate::Router::remove_reservation
/// [`RouterConfig`]: crate::RouterConfig
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// The host's version of this config; must grow with every change.
    pub version: u64,
    /// Placement function version (default [`RingVersion::V1`]).
    pub ring_version: RingVersion,
    /// Fleet-wide placement seed, as [`RingConfig::seed`] (default 0). Keep it secret where
    /// tenants name functions; `Debug` does not print it.
    pub seed: u64,
    /// Virtual nodes per unit of weight, as [`RingConfig::vnodes_per_weight`] (default
    /// [`DEFAULT_VNODES_PER_WEIGHT`](crate::DEFAULT_VNODES_PER_WEIGHT)).
    pub vnodes_per_weight: NonZeroU32,
    /// The managers, in any order.
    pub managers: Vec<FleetManager>,
    /// Reservation limits, in any order.
    pub reservations: Vec<FleetReservation>,
}

/// One manager of a [`FleetConfig`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FleetManager {
    /// The manager.
    pub id: ManagerId,
    /// Its weight (at least 1); virtual nodes are proportional to it.
    pub weight: u32,
    /// Whether routes may go to it.
    pub healthy: bool,
}

impl FleetManager {
    /// A manager with `weight`, up or down.
    pub const fn new(id: ManagerId, weight: u32, healthy: bool) -> Self {
        Self {
            id,
            weight,
            healthy,
        }
    }
}

/// One reservation of a [`FleetConfig`]: the limit only (see there for `ready`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FleetReservation {
    /// The reserved task.
    pub task: TaskId,
    /// Target number of reserved environments, as [`Reservation::limit`](crate::Reservation::limit).
    pub limit: u32,
}

impl FleetReservation {
    /// A reservation of `limit` environments for `task`.
    pub const fn new(task: TaskId, limit: u32) -> Self {
        Self { task, limit }
    }
}

impl fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetConfig")
            .field("version", &self.version)
            .field("ring_version", &self.ring_version)
            .field("seed", &format_args!("(hidden)"))
            .field("vnodes_per_weight", &self.vnodes_per_weight)
            .field("managers", &self.managers)
            .field("reservations", &self.reservations)
            .finish()
    }
}

impl FleetConfig {
    /// An empty config of `version` with the default placement settings (ring version 1,
    /// seed 0, [`DEFAULT_VNODES_PER_WEIGHT`](crate::DEFAULT_VNODES_PER_WEIGHT)). It needs
    /// managers before it is valid.
    pub fn new(version: u64) -> Self {
        Self {
            version,
            ring_version: RingVersion::V1,
            seed: 0,
            vnodes_per_weight: RingConfig::default().vnodes_per_weight,
            managers: Vec::new(),
            reservations: Vec::new(),
        }
    }

    /// This config with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// This config with another placement function version.
    pub fn with_ring_version(mut self, version: RingVersion) -> Self {
        self.ring_version = version;
        self
    }

    /// This config with another number of virtual nodes per unit of weight.
    pub fn with_vnodes_per_weight(mut self, vnodes: NonZeroU32) -> Self {
        self.vnodes_per_weight = vnodes;
        self
    }

    /// This config with one more manager.
    pub fn with_manager(mut self, id: ManagerId, weight: u32, healthy: bool) -> Self {
        self.managers.push(FleetManager::new(id, weight, healthy));
        self
    }

    /// This config with one more reservation.
    pub fn with_reservation(mut self, task: TaskId, limit: u32) -> Self {
        self.reservations.push(FleetReservation::new(task, limit));
        self
    }

    /// The placement settings as a ring config.
    pub fn ring_config(&self) -> RingConfig {
        RingConfig {
            seed: self.seed,
            vnodes_per_weight: self.vnodes_per_weight,
            version: self.ring_version,
        }
    }

    /// Checks what a router would check before building from or applying this config, without
    /// building a ring. O(N log N + R log R) for N managers and R reservations.
    ///
    /// # Errors
    /// As [`Ring::new`] for the managers: [`Error::NoManagers`], [`Error::DuplicateManager`],
    /// [`Error::ZeroWeight`], [`Error::TooManyManagers`], [`Error::TooManyPoints`]; and
    /// [`Error::DuplicateReservation`] for a task listed twice.
    pub fn validate(&self) -> Result<(), Error> {
        self.normalized().map(drop)
    }

    /// A valid copy with managers sorted by id and reservations by task, the form routers
    /// compare and keep.
    pub(crate) fn normalized(&self) -> Result<Self, Error> {
        let mut config = self.clone();
        config.managers.sort_unstable_by_key(|m| m.id);
        config.reservations.sort_unstable_by_key(|r| r.task);
        Ring::check_sorted(config.ring_config(), &config.manager_list())?;
        if let Some(pair) = config
            .reservations
            .windows(2)
            .find(|pair| pair[0].task == pair[1].task)
        {
            return Err(Error::DuplicateReservation { task: pair[0].task });
        }
        Ok(config)
    }

    /// `(id, weight)` pairs, in this config's order.
    pub(crate) fn manager_list(&self) -> Vec<(ManagerId, u32)> {
        self.managers.iter().map(|m| (m.id, m.weight)).collect()
    }

    /// Whether the placement settings are `ring`'s.
    ///
    /// # Errors
    /// [`Error::PlacementMismatch`] naming the first setting that differs.
    pub(crate) fn check_placement(&self, ring: RingConfig) -> Result<(), Error> {
        let setting = if self.ring_version != ring.version {
            "ring version"
        } else if self.seed != ring.seed {
            "seed"
        } else if self.vnodes_per_weight != ring.vnodes_per_weight {
            "virtual nodes per weight"
        } else {
            return Ok(());
        };
        Err(Error::PlacementMismatch { setting })
    }
}

impl Default for FleetConfig {
    /// [`FleetConfig::new`]`(0)`.
    fn default() -> Self {
        Self::new(0)
    }
}

/// The serialized form: what the format documents, field by field.
#[cfg(feature = "serde")]
mod wire {
    use std::fmt;
    use std::num::NonZeroU32;

    use serde::de::{Deserializer, Error as _};
    use serde::ser::Serializer;
    use serde::{Deserialize, Serialize};

    use super::{FleetConfig, FleetManager, FleetReservation};
    use crate::hash::RingVersion;
    use crate::id::{ManagerId, TaskId};
    use crate::ring::RingConfig;

    /// The format number this crate reads and writes.
    const FORMAT: u32 = 1;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Fleet {
        format: u32,
        version: u64,
        ring_version: u32,
        seed: Hex<16>,
        #[serde(default = "default_vnodes")]
        vnodes_per_weight: NonZeroU32,
        managers: Vec<Manager>,
        #[serde(default)]
        reservations: Vec<Reserved>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Manager {
        id: Hex<16>,
        weight: u32,
        #[serde(default = "yes")]
        healthy: bool,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Reserved {
        task: Hex<32>,
        limit: u32,
    }

    fn default_vnodes() -> NonZeroU32 {
        RingConfig::default().vnodes_per_weight
    }

    fn yes() -> bool {
        true
    }

    /// An integer written as exactly `DIGITS` lowercase hex digits.
    struct Hex<const DIGITS: usize>(u128);

    impl<const DIGITS: usize> Serialize for Hex<DIGITS> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_str(&format_args!("{:0width$x}", self.0, width = DIGITS))
        }
    }

    impl<'de, const DIGITS: usize> Deserialize<'de> for Hex<DIGITS> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let text = String::deserialize(deserializer)?;
            let hex = text.len() == DIGITS
                && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            hex.then(|| u128::from_str_radix(&text, 16).ok())
                .flatten()
                .map(Hex)
                .ok_or_else(|| {
                    D::Error::custom(format_args!(
                        "{text:?} is not {DIGITS} lowercase hexadecimal digits"
                    ))
                })
        }
    }

    /// Why a well-formed document is not a fleet config this crate reads.
    struct Unsupported(String);

    impl fmt::Display for Unsupported {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }

    /// In the versioned fleet-config format; see [`FleetConfig`].
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    impl Serialize for FleetConfig {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            Fleet::from(self.clone()).serialize(serializer)
        }
    }

    /// In the versioned fleet-config format: the format and ring versions and the fields'
    /// shapes are checked, not the contents (no managers, zero weights, duplicate ids):
    /// [`FleetConfig::validate`] checks those, as building or applying a config does; see
    /// [`FleetConfig`].
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    impl<'de> Deserialize<'de> for FleetConfig {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let wire = Fleet::deserialize(deserializer)?;
            Self::try_from(wire).map_err(D::Error::custom)
        }
    }

    impl TryFrom<Fleet> for FleetConfig {
        type Error = Unsupported;

        fn try_from(wire: Fleet) -> Result<Self, Unsupported> {
            if wire.format != FORMAT {
                return Err(Unsupported(format!(
                    "fleet config format {} is not supported (this reader knows format {FORMAT})",
                    wire.format
                )));
            }
            let ring_version = match wire.ring_version {
                1 => RingVersion::V1,
                n => {
                    return Err(Unsupported(format!("ring version {n} is not supported")));
                }
            };
            Ok(Self {
                version: wire.version,
                ring_version,
                // Both fit: the parser takes 16 digits, at most 2^64 - 1.
                seed: wire.seed.0 as u64,
                vnodes_per_weight: wire.vnodes_per_weight,
                managers: wire
                    .managers
                    .into_iter()
                    .map(|m| FleetManager::new(ManagerId::new(m.id.0 as u64), m.weight, m.healthy))
                    .collect(),
                reservations: wire
                    .reservations
                    .into_iter()
                    .map(|r| FleetReservation::new(TaskId::new(r.task.0), r.limit))
                    .collect(),
            })
        }
    }

    impl From<FleetConfig> for Fleet {
        fn from(config: FleetConfig) -> Self {
            let ring_version = match config.ring_version {
                RingVersion::V1 => 1,
            };
            Self {
                format: FORMAT,
                version: config.version,
                ring_version,
                seed: Hex(config.seed.into()),
                vnodes_per_weight: config.vnodes_per_weight,
                managers: config
                    .managers
                    .into_iter()
                    .map(|m| Manager {
                        id: Hex(m.id.get().into()),
                        weight: m.weight,
                        healthy: m.healthy,
                    })
                    .collect(),
                reservations: config
                    .reservations
                    .into_iter()
                    .map(|r| Reserved {
                        task: Hex(r.task.get()),
                        limit: r.limit,
                    })
                    .collect(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> FleetConfig {
        FleetConfig::new(3)
            .with_manager(ManagerId::new(2), 1, true)
            .with_manager(ManagerId::new(1), 2, false)
            .with_reservation(TaskId::new(9), 4)
            .with_reservation(TaskId::new(8), 0)
    }

    #[test]
    fn normalized_sorts_and_validates() {
        let n = fleet().normalized().unwrap();
        assert_eq!(n.managers[0].id, ManagerId::new(1));
        assert_eq!(n.reservations[0].task, TaskId::new(8));
        assert_eq!(
            FleetConfig::new(1).validate(),
            Err(Error::NoManagers),
            "a fleet needs managers"
        );
        let dup = fleet().with_reservation(TaskId::new(9), 1);
        assert_eq!(
            dup.validate(),
            Err(Error::DuplicateReservation {
                task: TaskId::new(9)
            })
        );
        let zero = fleet().with_manager(ManagerId::new(5), 0, true);
        assert_eq!(
            zero.validate(),
            Err(Error::ZeroWeight {
                id: ManagerId::new(5)
            })
        );
        let heavy = fleet().with_manager(ManagerId::new(5), u32::MAX, true);
        assert!(matches!(heavy.validate(), Err(Error::TooManyPoints { .. })));
    }

    #[test]
    fn placement_mismatch_names_the_setting() {
        let ring = RingConfig::default();
        assert_eq!(fleet().check_placement(ring), Ok(()));
        assert_eq!(
            fleet().with_seed(1).check_placement(ring),
            Err(Error::PlacementMismatch { setting: "seed" })
        );
        let vnodes = NonZeroU32::new(7).unwrap();
        assert_eq!(
            fleet().with_vnodes_per_weight(vnodes).check_placement(ring),
            Err(Error::PlacementMismatch {
                setting: "virtual nodes per weight"
            })
        );
    }

    #[test]
    fn debug_hides_the_seed() {
        let text = format!("{:?}", fleet().with_seed(0x5eed_5eed));
        assert!(!text.contains("5eed") && !text.contains(&0x5eed_5eed_u64.to_string()));
        assert!(text.contains("hidden"));
    }
}
