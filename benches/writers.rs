//! Writers: what a membership, health or reservation change costs to publish.
//!
//! Run with `cargo bench --bench writers`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use arcroute::{ManagerId, Reservation, Router, TaskId};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};

#[path = "../tests/support/mod.rs"]
mod support;
use support::fleet;

fn set_managers(c: &mut Criterion) {
    let mut group = c.benchmark_group("set_managers");
    for n in [100u64, 1_000] {
        let router = support::router(n);
        // Alternate between two fleets that differ by one manager: every call publishes.
        let (a, b) = (fleet(0..n), fleet(1..n + 1));
        let mut flip = false;
        group.bench_function(BenchmarkId::new("one_changed", n), |bench| {
            bench.iter(|| {
                flip = !flip;
                let next = if flip { &b } else { &a };
                black_box(router.set_managers(next.iter().copied()).unwrap())
            })
        });
        group.bench_function(BenchmarkId::new("unchanged", n), |bench| {
            bench.iter_batched(
                || if flip { b.clone() } else { a.clone() },
                |same| black_box(router.set_managers(same).unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn set_health(c: &mut Criterion) {
    let mut group = c.benchmark_group("set_health");
    for n in [100u64, 1_000, 10_000] {
        let router = support::router(n);
        let mut up = true;
        group.bench_function(BenchmarkId::from_parameter(n), |bench| {
            bench.iter(|| {
                up = !up;
                black_box(router.set_health(ManagerId::new(n / 2), up).unwrap())
            })
        });
    }
    group.finish();
}

fn set_reservation(c: &mut Criterion) {
    let mut group = c.benchmark_group("set_reservation");
    for present in [1_000u128, 100_000] {
        let mut builder = Router::builder().managers(fleet(0..1_000));
        for t in 0..present {
            builder = builder.reservation(TaskId::new(t), Reservation::new(10, 10));
        }
        let router = builder.build().unwrap();
        let task = TaskId::new(present / 2);
        let mut limit = 10;
        group.bench_function(BenchmarkId::new("present", present), |bench| {
            bench.iter(|| {
                limit = if limit == 10 { 11 } else { 10 };
                black_box(router.set_reservation(task, limit))
            })
        });
    }
    group.finish();
}

/// Runs `f` while another thread repeats `background` until `f` returns.
fn with_background<R>(background: impl Fn() + Sync, f: impl FnOnce() -> R) -> R {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Relaxed) {
                background();
            }
        });
        let out = f();
        stop.store(true, Relaxed);
        out
    })
}

/// Publishing while another thread routes, and routing while another thread publishes
/// (health flips of one manager of 1,000): what each side costs the other. Compare with
/// `set_health/1000` here and `route_and_drop/unreserved/1000` in the route bench.
fn publish_while_routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_while_routing");
    let router = support::router(1_000);
    let task = TaskId::from_name("routed-meanwhile");
    let flipped = ManagerId::new(500);
    let up = AtomicBool::new(true);
    let flip = || {
        let next = !up.load(Relaxed);
        up.store(next, Relaxed);
        router.set_health(flipped, next).unwrap()
    };
    with_background(
        || drop(black_box(router.route(task))),
        || {
            group.bench_function("set_health_while_routing", |b| b.iter(|| black_box(flip())));
        },
    );
    with_background(
        || {
            black_box(flip());
        },
        || {
            group.bench_function("route_while_publishing", |b| {
                b.iter(|| black_box(router.route(black_box(task))))
            });
        },
    );
    group.finish();
}

criterion_group!(
    benches,
    set_managers,
    set_health,
    set_reservation,
    publish_while_routing
);
criterion_main!(benches);
