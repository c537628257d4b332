//! Helpers the integration tests share: manager ids and fleets, routers, proptest case
//! counts, a thread that ends calls elsewhere, and the one seeded random generator.
//!
//! Each test file includes this module (`mod support;`) and compiles its own copy, so a file
//! that uses only some of the helpers would otherwise be warned that the rest is unused.
#![allow(dead_code)]

use std::collections::{BTreeSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::mpsc;

use arcroute::{HealthMask, ManagerId, ManualClock, Permit, Ring, Router, RouterConfig};
use proptest::test_runner::Config as ProptestConfig;
use rand::SeedableRng as _;
use rand_pcg::Pcg64Mcg;

/// The tests' random generator: a permuted congruential generator, the same stream for the
/// same seed on every machine and in every process.
pub(crate) type Rng = Pcg64Mcg;

/// A generator seeded with `seed`; equal seeds give equal streams.
pub(crate) fn rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// `n` as a `NonZeroU32`; panics on 0, which no test passes on purpose.
pub(crate) fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("a non-zero count")
}

/// Manager `i`, its id the number itself.
pub(crate) fn m(i: u64) -> ManagerId {
    ManagerId::new(i)
}

/// Manager `i` of a small pool, its id far from its neighbours' so that ids do not sort like
/// indices.
pub(crate) fn spread(i: u64) -> ManagerId {
    ManagerId::new(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555)
}

/// Managers `ids`, each of weight 1.
pub(crate) fn fleet(ids: impl IntoIterator<Item = u64>) -> Vec<(ManagerId, u32)> {
    ids.into_iter().map(|i| (m(i), 1)).collect()
}

/// Managers `ids`, of weights 1 to 3 (`1 + id % 3`).
pub(crate) fn weighted_fleet(ids: impl IntoIterator<Item = u64>) -> Vec<(ManagerId, u32)> {
    ids.into_iter()
        .map(|i| (m(i), 1 + (i % 3) as u32))
        .collect()
}

/// Pool managers `0..n` under their `spread` ids, each of weight 1.
pub(crate) fn spread_fleet(n: u64) -> Vec<(ManagerId, u32)> {
    (0..n).map(|i| (spread(i), 1)).collect()
}

/// A router over managers `0..n` of weight 1, with the default config and clock.
pub(crate) fn router(n: u64) -> Router {
    Router::builder()
        .managers(fleet(0..n))
        .build()
        .expect("a valid router")
}

/// A router over managers `0..n` of weight 1 with `config`, on a manual clock it returns.
pub(crate) fn manual_router_with(
    n: u64,
    config: RouterConfig,
) -> (Router<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let router = Router::builder()
        .config(config)
        .managers(fleet(0..n))
        .clock(clock.clone())
        .build()
        .expect("a valid router");
    (router, clock)
}

/// `manual_router_with` the default config.
pub(crate) fn manual_router(n: u64) -> (Router<ManualClock>, ManualClock) {
    manual_router_with(n, RouterConfig::default())
}

/// The health mask of `ring` with the managers of `down` that it holds marked down.
pub(crate) fn mask_of(ring: &Ring, down: &BTreeSet<ManagerId>) -> HealthMask {
    let mut mask = HealthMask::all_up(ring);
    for &id in down {
        if ring.contains(id) {
            mask.set(ring, id, false).expect("a manager of the ring");
        }
    }
    mask
}

/// `cases` per property, times `ARCROUTE_PROPTEST_SCALE` (default 1) for longer runs.
pub(crate) fn proptest_config(cases: u32) -> ProptestConfig {
    let scale = std::env::var("ARCROUTE_PROPTEST_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1);
    ProptestConfig {
        cases: cases.saturating_mul(scale),
        ..ProptestConfig::default()
    }
}

/// Ends calls on a thread of its own: keeps the latest `hold` permits it receives in flight,
/// dropping the oldest as new ones come, and the rest once every sender is gone. Returns how
/// many permits it received (and so dropped).
pub(crate) fn dropper(from_readers: mpsc::Receiver<Permit>, hold: usize) -> u64 {
    let mut held = VecDeque::with_capacity(hold + 1);
    let mut received = 0;
    for permit in from_readers {
        received += 1;
        held.push_back(permit);
        if held.len() > hold {
            drop(held.pop_front());
        }
    }
    received
}
