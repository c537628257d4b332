//! The hot path: `route` plus permit drop on a warm task, next to a bare pingora-ketama
//! lookup on the same number of points (the ratio a platform author compares), and the ring's
//! first-manager query.
//!
//! Run with `cargo bench --bench route`.

use std::hint::black_box;

use arcroute::{ManagerId, Reservation, Ring, RingConfig, Router, TaskId};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pingora_ketama::{Bucket, Continuum};

const FLEETS: [u64; 4] = [10, 100, 1_000, 10_000];

fn fleet(n: u64) -> impl Iterator<Item = (ManagerId, u32)> {
    (0..n).map(|i| (ManagerId::new(i), 1))
}

fn route(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_and_drop");
    group.throughput(Throughput::Elements(1));
    for n in FLEETS {
        let router = Router::builder().managers(fleet(n)).build().unwrap();
        let unreserved = TaskId::from_name("warm-unreserved");
        let reserved = TaskId::from_name("warm-reserved");
        router.put_reservation(reserved, Reservation::new(64, 64));
        drop(router.route(unreserved));
        drop(router.route(reserved));
        group.bench_with_input(BenchmarkId::new("unreserved", n), &n, |b, _| {
            b.iter(|| black_box(router.route(black_box(unreserved))))
        });
        group.bench_with_input(BenchmarkId::new("reserved", n), &n, |b, _| {
            b.iter(|| black_box(router.route(black_box(reserved))))
        });
        // The baseline: one ketama lookup, 160 points per manager as arcroute's default.
        let buckets: Vec<Bucket> = (0..n)
            .map(|i| {
                let [a, b, c, d] = (i as u32).to_be_bytes();
                Bucket::new(([10, b, c, d], 1024 + u16::from(a)).into(), 1)
            })
            .collect();
        let ketama = Continuum::new(&buckets);
        let key = *b"warm-unreserved";
        group.bench_with_input(BenchmarkId::new("pingora-ketama-lookup", n), &n, |b, _| {
            b.iter(|| black_box(ketama.node_idx(black_box(&key))))
        });
    }
    group.finish();
}

fn ring_first(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring_first");
    group.throughput(Throughput::Elements(1));
    for n in FLEETS {
        let ring = Ring::new(RingConfig::default(), fleet(n)).unwrap();
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
