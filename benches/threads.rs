//! Routing from several threads at once: distinct tasks (should scale with cores) and one
//! hot task (contends on its counters).
//!
//! Run with `cargo bench --bench threads`. Throughput is routes per second over all threads;
//! thread counts above the machine's cores measure oversubscription, not scaling.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use arcroute::{Router, TaskId};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

#[path = "../tests/support/mod.rs"]
mod support;

const THREADS: [usize; 5] = [1, 2, 4, 8, 16];

/// Runs `iters` routes of `task_of(thread)` on each of `threads` threads, through the shared
/// router or a per-thread [`LocalRouter`](arcroute::LocalRouter); returns the wall time from
/// the common start to the last thread's end.
fn run(
    router: &Router,
    threads: usize,
    iters: u64,
    local: bool,
    task_of: impl Fn(usize) -> TaskId + Sync,
) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, task_of) = (&barrier, &task_of);
                s.spawn(move || {
                    let task = task_of(t);
                    let mut handle = router.local();
                    drop(handle.route(task));
                    barrier.wait();
                    if local {
                        for _ in 0..iters {
                            black_box(handle.route(black_box(task)));
                        }
                    } else {
                        for _ in 0..iters {
                            black_box(router.route(black_box(task)));
                        }
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for h in handles {
            h.join().expect("a routing thread panicked");
        }
        start.elapsed()
    })
}

fn threads(c: &mut Criterion) {
    let router = support::router(1_000);
    let mut group = c.benchmark_group("threads");
    for n in THREADS {
        group.throughput(Throughput::Elements(n as u64));
        let distinct = |t: usize| TaskId::new(t as u128 + 1);
        let hot = |_| TaskId::new(0);
        group.bench_function(BenchmarkId::new("distinct_tasks", n), |b| {
            b.iter_custom(|iters| run(&router, n, iters, false, distinct))
        });
        group.bench_function(BenchmarkId::new("distinct_tasks_local", n), |b| {
            b.iter_custom(|iters| run(&router, n, iters, true, distinct))
        });
        group.bench_function(BenchmarkId::new("one_hot_task", n), |b| {
            b.iter_custom(|iters| run(&router, n, iters, false, hot))
        });
    }
    group.finish();
}

criterion_group!(benches, threads);
criterion_main!(benches);
