//! The hot path: `route` plus permit drop on a warm task, next to a bare pingora-ketama
//! lookup on the same number of points (the ratio a platform author compares), and the ring's
//! first-manager query.
//!
//! Run with `cargo bench --bench route`. Every routed task is warm (its live state exists);
//! each variant routes one task over and over, as the ketama baseline looks up one key.

use std::hint::black_box;

use arcroute::{Reservation, Ring, RingConfig, Route, TaskId};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

#[path = "../tests/support/mod.rs"]
mod support;
use support::fleet;

mod keys;
use keys::ketama;

const FLEETS: [u64; 4] = [10, 100, 1_000, 10_000];

fn route(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_and_drop");
    group.throughput(Throughput::Elements(1));
    for n in FLEETS {
        let router = support::router(n);
        let name = "tenant-0042/resize-image";
        let unreserved = TaskId::from_name(name);
        let reserved = TaskId::from_name("warm-reserved");
        router.put_reservation(reserved, Reservation::new(64, 64));
        // A reservation whose whole share is held: every further call spills over.
        let spilling = TaskId::from_name("warm-spilling");
        router.put_reservation(spilling, Reservation::new(4, 4));
        let held: Vec<Route> = (0..4).filter_map(|_| router.route(spilling)).collect();
        assert!(held.iter().all(|r| r.permit().is_reserved()));
        for task in [unreserved, reserved, spilling] {
            drop(router.route(task));
        }
        let variants = [
            ("unreserved", unreserved),
            ("reserved", reserved),
            ("spillover", spilling),
        ];
        for (label, task) in variants {
            group.bench_with_input(BenchmarkId::new(label, n), &n, |b, _| {
                b.iter(|| black_box(router.route(black_box(task))))
            });
        }
        group.bench_with_input(BenchmarkId::new("unreserved_by_name", n), &n, |b, _| {
            b.iter(|| black_box(router.route(TaskId::from_name(black_box(name)))))
        });
        let mut local = router.local();
        for (label, task) in [
            ("local_unreserved", unreserved),
            ("local_reserved", reserved),
        ] {
            group.bench_with_input(BenchmarkId::new(label, n), &n, |b, _| {
                b.iter(|| black_box(local.route(black_box(task))))
            });
        }
        let ketama = ketama(n);
        group.bench_with_input(BenchmarkId::new("pingora-ketama-lookup", n), &n, |b, _| {
            b.iter(|| black_box(ketama.node_idx(black_box(name.as_bytes()))))
        });
        drop(held);
    }
    group.finish();
}

fn ring_first(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring_first");
    group.throughput(Throughput::Elements(1));
    for n in FLEETS {
        let ring = Ring::new(RingConfig::default(), fleet(0..n)).unwrap();
        let mut key = 0u64;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                key = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
                black_box(ring.first(key))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, route, ring_first);
criterion_main!(benches);
