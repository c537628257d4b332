//! The hot path at fleet scale: many distinct tasks, many reserved tasks, first routes of new
//! tasks among a million live ones, and two threads on many tasks, each measured beside a bare
//! pingora-ketama lookup on the same keys in the same group.
//!
//! Run with `cargo bench --bench fleet`, then `.ci/bench-table GROUP pingora-ketama-lookup`
//! (and `.ci/bench-table --rate --over 1 threads_many_tasks` for the thread scaling). Every
//! key set is prepared outside the timed closures; each iteration routes the next key of the
//! set and drops the permit, or looks the same key up in pingora-ketama.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use arcroute::{Clock, Router};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "keys/mod.rs"]
mod keys;
use keys::Keys;

const FLEETS: [u64; 4] = [10, 100, 1_000, 10_000];
/// Live tasks in the `live_1m` group.
const LIVE: u32 = 1_000_000;
/// Seed of the Zipf draws.
const SEED: u64 = 12;

/// `route` (shared `Router`), `local_route` (a `LocalRouter`) and `pingora-ketama-lookup`
/// over `keys` at fleet size `n`, in `group`.
fn beside_ketama<C: Clock>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: u64,
    router: &Router<C>,
    keys: &Keys,
) {
    let mut next = keys.cycle();
    group.bench_function(BenchmarkId::new("route", n), |b| {
        b.iter(|| black_box(router.route(black_box(keys.ids[next()]))))
    });
    let mut local = router.local();
    let mut next = keys.cycle();
    group.bench_function(BenchmarkId::new("local_route", n), |b| {
        b.iter(|| black_box(local.route(black_box(keys.ids[next()]))))
    });
    let ketama = keys::ketama(n);
    let mut next = keys.cycle();
    group.bench_function(BenchmarkId::new("pingora-ketama-lookup", n), |b| {
        b.iter(|| black_box(ketama.node_idx(black_box(keys.name(next())))))
    });
}

/// 1,000 unreserved tasks, called in turn.
fn many_tasks_round_robin(c: &mut Criterion) {
    let keys = Keys::round_robin(0, 1_000);
    let mut group = c.benchmark_group("many_tasks_round_robin");
    group.throughput(Throughput::Elements(1));
    for n in FLEETS {
        let router = support::router(n);
        keys::warm(&router, &keys);
        beside_ketama(&mut group, n, &router, &keys);
    }
    group.finish();
}

/// 100,000 unreserved tasks, called Zipf(1.0) by rank.
fn many_tasks_zipf(c: &mut Criterion) {
    let keys = Keys::zipf(100_000, SEED);
    let mut group = c.benchmark_group("many_tasks_zipf");
    group.throughput(Throughput::Elements(1));
    for n in FLEETS {
        let router = support::router(n);
        keys::warm(&router, &keys);
        beside_ketama(&mut group, n, &router, &keys);
    }
    group.finish();
}

/// 1,000 tasks, each within its reservation of 64 environments, called in turn.
fn many_reserved(c: &mut Criterion) {
    let keys = Keys::round_robin(0, 1_000);
    let mut group = c.benchmark_group("many_reserved");
    group.throughput(Throughput::Elements(1));
    for n in FLEETS {
        let router = keys::reserved_router(n, &keys);
        beside_ketama(&mut group, n, &router, &keys);
    }
    group.finish();
}

/// A million live tasks, one call of each in flight: warm routes of them in turn
/// (`route`, `local_route`), first routes of tasks never seen (`first_route`), and ketama
/// lookups of the live tasks' keys. New tasks are evicted between samples, outside the
/// timing, so every sample starts from the same million.
fn live_1m(c: &mut Criterion) {
    let keys = Keys::round_robin(0, LIVE);
    let mut group = c.benchmark_group("live_1m");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    let mut fresh_from = u64::from(LIVE);
    for n in FLEETS {
        let (router, clock, held) = keys::live_router(n, &keys);
        let live = router.stats().live_entries;
        assert_eq!(live, u64::from(LIVE));
        beside_ketama(&mut group, n, &router, &keys);
        group.bench_function(BenchmarkId::new("first_route", n), |b| {
            b.iter_custom(|iters| {
                let count = u32::try_from(iters).expect("fewer than 2^32 iterations");
                let fresh = Keys::round_robin(fresh_from, count);
                fresh_from += iters;
                let start = Instant::now();
                for &id in &fresh.ids {
                    black_box(router.route(black_box(id)));
                }
                let took = start.elapsed();
                keys::evict_new(&router, &clock, live);
                took
            })
        });
        drop(held);
    }
    group.finish();
}

/// Runs `iters` calls on each of `threads` threads, thread `t` calling `call(t, k)` for
/// `k` in `0..iters`; returns the wall time from the common start to the last thread's end.
fn on_threads(threads: usize, iters: u64, call: impl Fn(usize, u64) + Sync) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, call) = (&barrier, &call);
                s.spawn(move || {
                    barrier.wait();
                    for k in 0..iters {
                        call(t, k);
                    }
                })
            })
            .collect();
        // Before the threads are let go, so that none runs outside the timing while this one
        // waits to be scheduled again.
        let start = Instant::now();
        barrier.wait();
        for h in handles {
            h.join().expect("a calling thread panicked");
        }
        start.elapsed()
    })
}

/// Threads on many distinct tasks, 1,000 managers: thread `t` calls its own 1,000 tasks in
/// turn, through the shared `Router` or ketama lookups of the same keys. Compare the two
/// thread counts of each function (`--over 1`).
fn threads_many_tasks(c: &mut Criterion) {
    const PER_THREAD: u32 = 1_000;
    const THREADS: [usize; 2] = [1, 2];
    let n = 1_000;
    let keys = Keys::round_robin(0, PER_THREAD * THREADS[1] as u32);
    let router = support::router(n);
    keys::warm(&router, &keys);
    let ketama = keys::ketama(n);
    let key = |t: usize, k: u64| t * PER_THREAD as usize + (k % u64::from(PER_THREAD)) as usize;
    let mut group = c.benchmark_group("threads_many_tasks");
    for threads in THREADS {
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function(BenchmarkId::new("route", threads), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, |t, k| {
                    black_box(router.route(black_box(keys.ids[key(t, k)])));
                })
            })
        });
        group.bench_function(BenchmarkId::new("pingora-ketama-lookup", threads), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, |t, k| {
                    black_box(ketama.node_idx(black_box(keys.name(key(t, k)))));
                })
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    many_tasks_round_robin,
    many_tasks_zipf,
    many_reserved,
    live_1m,
    threads_many_tasks
);
criterion_main!(benches);
