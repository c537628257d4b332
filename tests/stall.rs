//! Names a tenant chose to pile into one shard of a fixed striping function spread over the
//! router's keyed shards, and a sweep holds a shard's lock for a bounded slice only: routes
//! that run while `evict_idle` (or the sweep new tasks drive) works go on.
//!
//! The default run loads 20 000 such tasks (debug `cargo test`) and checks the counts; the
//! figures in `RELIABILITY.md` come from the full run, 1 million tasks in release:
//!
//! ```text
//! cargo test --release --test stall -- --ignored --nocapture
//! ```

mod support;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use arcroute::TaskId;

/// The live map's striping before it was keyed (a multiplicative hash of the folded id, top 6
/// bits): what a tenant could aim names at offline.
fn fixed_stripe(key: u128) -> u64 {
    let folded = (key as u64) ^ ((key >> 64) as u64);
    folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58
}

/// Ids that all fall in stripe 0 of the fixed function.
fn piled(n: usize) -> Vec<TaskId> {
    (1u128..)
        .filter(|&k| fixed_stripe(k) == 0)
        .take(n)
        .map(TaskId::new)
        .collect()
}

/// Loads `n` piled tasks, lets them go idle, and times routes of other tasks (new and warm)
/// while `evict_idle` runs on another thread.
fn sweep_while_routing(n: usize) {
    let (router, clock) = support::manual_router(100);
    let tasks = piled(n + 64);
    let (load, others) = tasks.split_at(n);
    for &t in load {
        drop(router.route(t));
    }
    assert_eq!(router.stats().live_entries, n as u64);
    let warm: Vec<_> = others.iter().map(|&t| router.route(t).unwrap()).collect();
    clock.advance(router.config().idle_ttl + Duration::from_secs(1));

    let done = AtomicBool::new(false);
    let (sweep, evicted, (worst, count, fresh)) = std::thread::scope(|s| {
        let timer =
            s.spawn(|| {
                let (mut worst, mut count) = (Duration::ZERO, 0u64);
                let mut times = Vec::new();
                let mut fresh = 1u128 << 100;
                while !done.load(SeqCst) {
                    for &t in others {
                        let started = Instant::now();
                        drop(router.route(t));
                        fresh += 1;
                        drop(router.route(TaskId::new(fresh)));
                        let took = started.elapsed();
                        worst = worst.max(took);
                        times.push(took);
                        count += 1;
                    }
                }
                times.sort_unstable();
                let at = |q: f64| {
                    times
                        .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
                        .copied()
                        .unwrap_or_default()
                };
                println!(
                "routes during the sweep: median {:?}, 99th percentile {:?}, 99.9th {:?}; {} of \
                 {} over 1 ms",
                at(0.5),
                at(0.99),
                at(0.999),
                times.iter().filter(|t| **t > Duration::from_millis(1)).count(),
                times.len()
            );
                (worst, count, fresh - (1u128 << 100))
            });
        let started = Instant::now();
        let evicted = router.evict_idle();
        let sweep = started.elapsed();
        done.store(true, SeqCst);
        (sweep, evicted, timer.join().unwrap())
    });
    // New tasks' inserts sweep too: between them, every piled task went, nothing else did.
    let stats = router.stats();
    assert!(evicted <= n);
    assert_eq!(stats.evictions, n as u64, "{stats:?}");
    assert_eq!(
        stats.live_entries,
        (others.len() as u128 + fresh) as u64,
        "{stats:?}"
    );
    assert_eq!(
        router.stats().in_flight_unreserved,
        warm.len() as u64,
        "only the held routes count"
    );
    drop(warm);
    assert_eq!(router.stats().in_flight_unreserved, 0);
    println!(
        "{n} piled tasks: evict_idle took {:.1} ms ({evicted} evicted by it, the rest by \
         inserts); the slowest of {count} pairs of routes during it took {:.1} µs",
        sweep.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e6,
    );
}

#[test]
fn piled_tasks_are_swept_while_others_route() {
    sweep_while_routing(20_000);
}

#[test]
#[ignore = "1 million tasks: run in release, see the file's docs"]
fn a_million_piled_tasks_are_swept_while_others_route() {
    sweep_while_routing(1_000_000);
}
