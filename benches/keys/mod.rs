//! Key sets the fleet-scale benches share: many distinct tasks, each with a 24-byte name, its
//! `TaskId` and the order in which calls visit them, plus the routers and the pingora-ketama
//! ring they are measured beside.
//!
//! Both sides of a comparison read the same keys: arcroute routes `ids[i]` (the id a host
//! derives once per function), pingora-ketama looks up `name(i)` (the bytes a host would hash
//! for it). Names sit in one flat buffer, as the ids do, so neither side chases a pointer per
//! key the other does not.
#![allow(dead_code)]

use std::time::Duration;

use arcroute::{ManualClock, Reservation, Route, Router, RouterConfig, TaskId};
use pingora_ketama::{Bucket, Continuum};
use rand::Rng as _;
use rand_distr::Zipf;

use crate::support;

/// Bytes in every task name.
pub(crate) const NAME_LEN: usize = 24;

/// Calls drawn for a Zipf key set, cycled: enough that the cycle does not fit in cache.
pub(crate) const DRAWS: usize = 1 << 20;

/// Tasks `from..from + count`, visited in `order` (indices into the set, cycled).
pub(crate) struct Keys {
    names: Vec<u8>,
    pub(crate) ids: Vec<TaskId>,
    pub(crate) order: Vec<u32>,
}

/// The name of task `i`: `tenant-TTTT/fn-NNNNNNNNN`, 24 bytes.
fn name_of(i: u64) -> String {
    let name = format!("tenant-{:04}/fn-{:09}", i % 1_000, i);
    debug_assert_eq!(name.len(), NAME_LEN);
    name
}

impl Keys {
    /// Tasks `from..from + count`, each visited once in turn.
    pub(crate) fn round_robin(from: u64, count: u32) -> Self {
        Self::with_order(from, count, (0..count).collect())
    }

    /// `count` tasks visited as `DRAWS` calls drawn Zipf(1.0) by rank (task 0 the most
    /// called), from the tests' seeded generator.
    pub(crate) fn zipf(count: u32, seed: u64) -> Self {
        let zipf = Zipf::new(f64::from(count), 1.0).expect("a valid Zipf distribution");
        let mut rng = support::rng(seed);
        let order = (0..DRAWS).map(|_| rng.sample(zipf) as u32 - 1).collect();
        Self::with_order(0, count, order)
    }

    fn with_order(from: u64, count: u32, order: Vec<u32>) -> Self {
        let mut names = Vec::with_capacity(count as usize * NAME_LEN);
        let mut ids = Vec::with_capacity(count as usize);
        for i in from..from + u64::from(count) {
            let name = name_of(i);
            ids.push(TaskId::from_name(&name));
            names.extend_from_slice(name.as_bytes());
        }
        Self { names, ids, order }
    }

    /// How many distinct tasks.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The name of the `i`-th task of the set.
    pub(crate) fn name(&self, i: usize) -> &[u8] {
        &self.names[i * NAME_LEN..(i + 1) * NAME_LEN]
    }

    /// The index of the next task called, cycling through `order`.
    pub(crate) fn cycle(&self) -> impl FnMut() -> usize + '_ {
        let mut at = 0;
        move || {
            at = if at + 1 == self.order.len() {
                0
            } else {
                at + 1
            };
            self.order[at] as usize
        }
    }
}

/// A pingora-ketama ring of `n` managers: 160 points each, as arcroute's default.
pub(crate) fn ketama(n: u64) -> Continuum {
    let buckets: Vec<Bucket> = (0..n)
        .map(|i| {
            let [a, b, c, d] = (i as u32).to_be_bytes();
            Bucket::new(([10, b, c, d], 1024 + u16::from(a)).into(), 1)
        })
        .collect();
    Continuum::new(&buckets)
}

/// Routes every task of `keys` once and drops the permit: all of them warm.
pub(crate) fn warm<C: arcroute::Clock>(router: &Router<C>, keys: &Keys) {
    for &id in &keys.ids {
        drop(router.route(id));
    }
}

/// A router over `n` managers in which every task of `keys` holds a reservation of 64
/// environments (an arc of 4 managers), each routed once.
pub(crate) fn reserved_router(n: u64, keys: &Keys) -> Router {
    let mut builder = Router::builder().managers(support::fleet(0..n));
    for &id in &keys.ids {
        builder = builder.reservation(id, Reservation::new(64, 64));
    }
    let router = builder.build().expect("a valid router");
    warm(&router, keys);
    router
}

/// A router over `n` managers on a manual clock with every task of `keys` live and one call
/// of each in flight (the routes it returns): a million functions with calls running, whose
/// state no sweep may evict.
pub(crate) fn live_router(n: u64, keys: &Keys) -> (Router<ManualClock>, ManualClock, Vec<Route>) {
    let clock = ManualClock::new();
    let router = Router::builder()
        .managers(support::fleet(0..n))
        .clock(clock.clone())
        .build()
        .expect("a valid router");
    let held = keys
        .ids
        .iter()
        .map(|&id| router.route(id).expect("a healthy fleet routes"))
        .collect();
    (router, clock, held)
}

/// Evicts every idle task of a `live_router` (the ones routed since it was built, none of
/// them in flight), leaving `live` entries: two sweeps past the idle TTL, since the first
/// dates a use it finds and the second evicts.
pub(crate) fn evict_new(router: &Router<ManualClock>, clock: &ManualClock, live: u64) {
    let ttl = RouterConfig::default().idle_ttl;
    for _ in 0..3 {
        if router.stats().live_entries == live {
            return;
        }
        clock.advance(ttl * 2 + Duration::from_secs(1));
        router.evict_idle();
    }
    assert_eq!(router.stats().live_entries, live, "new tasks evicted");
}
