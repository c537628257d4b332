//! Two threads against one on many distinct tasks, measured in alternating rounds: each round
//! times one thread, then two, of each function for a fixed wall time, and the figure is the
//! median over the rounds of each round's two-thread rate over its one-thread rate. On a
//! shared machine, whose speed drifts from one second to the next, a ratio of two timings
//! taken a moment apart is steadier than one of two criterion benchmarks taken minutes apart.
//!
//! Usage: `cargo bench --bench scaling -- [ROUNDS] [--ms MS]` (default 15 rounds of 200 ms a
//! timing, about a minute in all). Thread `t` calls its own 1,000 tasks in turn on a router of
//! 1,000 managers (the two threads share no task) through the shared `Router` (`route`), or
//! looks the same keys up in a pingora-ketama ring (`pingora-ketama-lookup`). The router's
//! 2,000 tasks were first routed in order, so their live states sit in memory in that order;
//! two ways to deal them to the threads: the first 1,000 to one thread and the rest to the
//! other (`apart`), or alternately (`interleaved`: the two threads' states side by side, as
//! they are when a frontend meets its functions in whatever order their calls come).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Barrier;
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "keys/mod.rs"]
mod keys;
use keys::Keys;

/// Tasks each thread calls.
const PER_THREAD: usize = 1_000;

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
        barrier.wait();
        let start = Instant::now();
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
            // `cargo bench` passes `--bench`; other flags are criterion's, not ours.
            flag if flag.starts_with("--") => {}
            n => match n.parse() {
                Ok(n) if n > 0 => rounds = n,
                _ => {
                    eprintln!("usage: scaling [ROUNDS] [--ms MS]");
                    std::process::exit(2);
                }
            },
        }
        i += 1;
    }

    let keys = Keys::round_robin(0, (2 * PER_THREAD) as u32);
    let ketama = keys::ketama(MANAGERS);
    // Key `k` of thread `t`, in each layout.
    let apart = |t: usize, k: u64| t * PER_THREAD + (k % PER_THREAD as u64) as usize;
    let interleaved = |t: usize, k: u64| 2 * (k % PER_THREAD as u64) as usize + t;
    let router = support::router(MANAGERS);
    keys::warm(&router, &keys);

    println!(
        "{rounds} rounds of {} ms a timing; thread t calls its own {PER_THREAD} tasks, {MANAGERS} managers\n",
        wall.as_millis()
    );
    println!("| function | layout | 1 thread | 2 threads | 2 threads / 1 (median, min–max) |");
    println!("|---|---|---|---|---|");
    let report = |name: &str, layout: &str, call: &(dyn Fn(usize, u64) + Sync)| {
        let (mut one, mut two, mut ratio) = (vec![], vec![], vec![]);
        for _ in 0..rounds {
            let r1 = rate(1, wall, &call);
            let r2 = rate(2, wall, &call);
            one.push(r1);
            two.push(r2);
            ratio.push(r2 / r1);
        }
        let mid = median(&mut ratio);
        println!(
            "| {name} | {layout} | {:.1} M/s | {:.1} M/s | {mid:.2}× ({:.2}–{:.2}) |",
            median(&mut one),
            median(&mut two),
            ratio[0],
            ratio[ratio.len() - 1],
        );
    };
    for (layout, key) in [
        ("apart", &apart as &(dyn Fn(usize, u64) -> usize + Sync)),
        ("interleaved", &interleaved),
    ] {
        report("route", layout, &|t, k| {
            black_box(router.route(black_box(keys.ids[key(t, k)])));
        });
        report("pingora-ketama-lookup", layout, &|t, k| {
            black_box(ketama.node_idx(black_box(keys.name(key(t, k)))));
        });
    }
}
