//! Threads against one thread on many tasks, measured in alternating rounds: each round times
//! one thread, then N, of each function for a fixed wall time, and the figure is the median
//! over the rounds of each round's N-thread rate over its one-thread rate. On a shared
//! machine, whose speed drifts from one second to the next, a ratio of two timings taken a
//! moment apart is steadier than one of two criterion benchmarks taken minutes apart.
//!
//! Usage: `cargo bench --bench scaling -- [ROUNDS] [--ms MS] [--threads N]` (default 15 rounds
//! of 200 ms a timing and N = 2, under a minute in all). Each thread calls 1,000
//! tasks in turn on a router of 1,000 managers through the shared `Router` (`route`), or
//! looks the same keys up in a pingora-ketama ring (`pingora-ketama-lookup`). The router's
//! N × 1,000 tasks were first routed in order, so their live states sit in memory in that
//! order; three ways to deal them to the threads: thread `t` takes the `t`-th block of 1,000
//! (`apart`: no task, and few cache lines, in common), or every N-th task from the `t`-th
//! (`interleaved`: the threads' states side by side, as they are when a frontend meets its
//! functions in whatever order their calls come), or every thread calls the same first 1,000,
//! each from its own place in the turn (`shared`: as when a runtime's worker threads each
//! route calls of every function). A last row makes the `shared` calls with each thread on a
//! router of its own (`route, a router per thread`), each told it is one of N frontends. In
//! `interleaved` the one-thread rate is thread 0's tasks, every N-th, so it moves with N.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use arcroute::Frontends;

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "keys/mod.rs"]
mod keys;
use keys::Keys;

/// Tasks each thread calls.
const PER_THREAD: usize = 1_000;

/// The most threads `--threads` takes (each adds 1,000 tasks to the router, and a router of
/// its own to the last row).
const MAX_THREADS: usize = 64;

/// Managers of the router and of the ketama ring.
const MANAGERS: u64 = 1_000;

/// Routes (or lookups) per second, in millions, of `threads` threads each calling `call(t, k)`
/// for `k = 0, 1, ...` until `wall` has passed.
fn rate(threads: usize, wall: Duration, call: &(impl Fn(usize, u64) + Sync)) -> f64 {
    let stop = AtomicBool::new(false);
    let calls = AtomicU64::new(0);
    let barrier = Barrier::new(threads + 1);
    let start = std::thread::scope(|s| {
        for t in 0..threads {
            let (stop, calls, barrier) = (&stop, &calls, &barrier);
            s.spawn(move || {
                barrier.wait();
                let mut k = 0;
                while !stop.load(Relaxed) {
                    for _ in 0..256 {
                        call(t, k);
                        k += 1;
                    }
                }
                calls.fetch_add(k, Relaxed);
            });
        }
        // The clock starts before the threads are let go: a thread that starts counting
        // while this one waits to be scheduled again would count outside the timing.
        let start = Instant::now();
        barrier.wait();
        std::thread::sleep(wall);
        stop.store(true, Relaxed);
        start
    });
    calls.load(Relaxed) as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// The median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut rounds = 15;
    let mut wall = Duration::from_millis(200);
    let mut threads = 2;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--ms" => {
                i += 1;
                match args.get(i).and_then(|ms| ms.parse().ok()) {
                    Some(ms) if ms > 0 => wall = Duration::from_millis(ms),
                    _ => {
                        eprintln!("--ms takes a positive number of milliseconds");
                        std::process::exit(2);
                    }
                }
            }
            "--threads" => {
                i += 1;
                match args.get(i).and_then(|n| n.parse().ok()) {
                    Some(n) if (2..=MAX_THREADS).contains(&n) => threads = n,
                    _ => {
                        eprintln!("--threads takes a count from 2 to {MAX_THREADS}");
                        std::process::exit(2);
                    }
                }
            }
            flag if flag.starts_with("--thread") || flag.starts_with("--ms") => {
                eprintln!("{flag}: give the value apart (--threads N, --ms MS)");
                std::process::exit(2);
            }
            // `cargo bench` passes `--bench`; other flags are criterion's, not ours.
            flag if flag.starts_with("--") => {}
            n => match n.parse() {
                Ok(n) if n > 0 => rounds = n,
                _ => {
                    eprintln!("usage: scaling [ROUNDS] [--ms MS] [--threads N]");
                    std::process::exit(2);
                }
            },
        }
        i += 1;
    }

    let keys = Keys::round_robin(0, (threads * PER_THREAD) as u32);
    let ketama = keys::ketama(MANAGERS);
    // Key `k` of thread `t`, in each layout.
    let apart = |t: usize, k: u64| t * PER_THREAD + (k % PER_THREAD as u64) as usize;
    let interleaved = |t: usize, k: u64| threads * (k % PER_THREAD as u64) as usize + t;
    let shared = |t: usize, k: u64| (t * PER_THREAD / threads + k as usize) % PER_THREAD;
    let router = support::router(MANAGERS);
    keys::warm(&router, &keys);

    println!(
        "{rounds} rounds of {} ms a timing; each thread calls {PER_THREAD} tasks, {MANAGERS} managers",
        wall.as_millis()
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads > cores {
        println!("{threads} threads on {cores} cores take turns: the table measures no scaling");
    }
    println!();
    println!(
        "| function | layout | 1 thread | {threads} threads | {threads} threads / 1 (median, min–max) |"
    );
    println!("|---|---|---|---|---|");
    let report = |name: &str, layout: &str, call: &(dyn Fn(usize, u64) + Sync)| {
        let (mut one, mut many, mut ratio) = (vec![], vec![], vec![]);
        for _ in 0..rounds {
            let r1 = rate(1, wall, &call);
            let r2 = rate(threads, wall, &call);
            one.push(r1);
            many.push(r2);
            ratio.push(r2 / r1);
        }
        let mid = median(&mut ratio);
        println!(
            "| {name} | {layout} | {:.1} M/s | {:.1} M/s | {mid:.2}× ({:.2}–{:.2}) |",
            median(&mut one),
            median(&mut many),
            ratio[0],
            ratio[ratio.len() - 1],
        );
    };
    for (layout, key) in [
        ("apart", &apart as &(dyn Fn(usize, u64) -> usize + Sync)),
        ("interleaved", &interleaved),
        ("shared", &shared),
    ] {
        report("route", layout, &|t, k| {
            black_box(router.route(black_box(keys.ids[key(t, k)])));
        });
        report("pingora-ketama-lookup", layout, &|t, k| {
            black_box(ketama.node_idx(black_box(keys.name(key(t, k)))));
        });
    }
    // The `shared` calls again, each thread on a router of its own, each told it is one of
    // `threads` frontends: nothing a route writes is then common to two threads.
    let first = Keys::round_robin(0, PER_THREAD as u32);
    let routers: Vec<_> = (0..threads)
        .map(|t| {
            let router = support::router(MANAGERS);
            let place = Frontends::new(t as u32, threads as u32).expect("t < threads");
            router.set_frontends(place);
            keys::warm(&router, &first);
            router
        })
        .collect();
    report("route, a router per thread", "shared", &|t, k| {
        black_box(routers[t].route(black_box(first.ids[shared(t, k)])));
    });
}
