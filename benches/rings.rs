//! Ring lookups next to other consistent-hashing crates, on the same managers and keys.
//!
//! Run with `cargo bench --bench rings`. Every ring holds the same N managers; arcroute and
//! pingora-ketama both place 160 points per manager. Keys cycle through 4096 precomputed
//! values so that the searches do not all hit one cache line.

use std::hint::black_box;
use std::net::SocketAddr;

use arcroute::{HealthMask, Ring, RingConfig};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pingora_ketama::{Bucket, Continuum};

#[path = "../tests/support/mod.rs"]
mod support;
use support::fleet;

const FLEETS: [u64; 4] = [10, 100, 1_000, 10_000];
const KEYS: usize = 4096;

fn keys() -> Vec<u64> {
    (0..KEYS as u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed)
        .collect()
}

fn addr(i: u64) -> SocketAddr {
    let [a, b, c, d] = (i as u32).to_be_bytes();
    SocketAddr::from(([10, b, c, d], 1024 + u16::from(a)))
}

/// The same `n` managers in every ring measured.
struct Rings {
    arcroute: Ring,
    ketama: Continuum,
    hashring: hashring::HashRing<u64>,
    multi_probe: mpchash::HashRing<u64>,
}

fn rings(n: u64) -> Rings {
    let arcroute = Ring::new(RingConfig::default(), fleet(0..n)).unwrap();
    let buckets: Vec<Bucket> = (0..n).map(|i| Bucket::new(addr(i), 1)).collect();
    let mut hashring = hashring::HashRing::new();
    hashring.batch_add((0..n).collect());
    let multi_probe = mpchash::HashRing::new();
    (0..n).for_each(|i| multi_probe.add(i));
    Rings {
        arcroute,
        ketama: Continuum::new(&buckets),
        hashring,
        multi_probe,
    }
}

/// Cycles through `keys`, one per iteration.
fn cycle(keys: &[u64]) -> impl FnMut() -> u64 + '_ {
    let mut i = 0;
    move || {
        i = (i + 1) % keys.len();
        keys[i]
    }
}

fn first_manager(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("first_manager");
    group.throughput(Throughput::Elements(1));
    for n in FLEETS {
        let Rings {
            arcroute: ring,
            ketama,
            hashring,
            multi_probe,
        } = rings(n);
        let jump = jumphash::JumpHasher::new();

        let mut next = cycle(&keys);
        group.bench_function(BenchmarkId::new("arcroute", n), |b| {
            b.iter(|| black_box(ring.first(black_box(next()))))
        });
        group.bench_function(BenchmarkId::new("pingora-ketama", n), |b| {
            b.iter(|| black_box(ketama.node_idx(&black_box(next()).to_le_bytes())))
        });
        group.bench_function(BenchmarkId::new("jumphash", n), |b| {
            b.iter(|| black_box(jump.slot(&black_box(next()), n as u32)))
        });
        group.bench_function(BenchmarkId::new("hashring", n), |b| {
            b.iter(|| black_box(hashring.get(&black_box(next())).copied()))
        });
        group.bench_function(BenchmarkId::new("mpchash", n), |b| {
            b.iter(|| black_box(multi_probe.node(&black_box(next())).map(|t| *t.node())))
        });
    }
    group.finish();
}

/// The 8th distinct manager clockwise from a key (slot 7 of an arc of 8).
fn eighth_of_arc(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("eighth_of_arc");
    group.throughput(Throughput::Elements(1));
    for n in FLEETS.into_iter().filter(|&n| n >= 8) {
        let Rings {
            arcroute: ring,
            ketama,
            hashring,
            multi_probe,
        } = rings(n);
        let mask = HealthMask::all_up(&ring);

        let mut next = cycle(&keys);
        group.bench_function(BenchmarkId::new("arcroute", n), |b| {
            b.iter(|| black_box(ring.nth_in_arc(black_box(next()), 8, 7, &mask)))
        });
        // pingora-ketama's iterator repeats managers; keep the first 8 distinct ones.
        group.bench_function(BenchmarkId::new("pingora-ketama", n), |b| {
            b.iter(|| {
                let mut seen = [None; 8];
                let mut found = 0;
                for a in ketama.node_iter(&black_box(next()).to_le_bytes()) {
                    if !seen[..found].contains(&Some(a)) {
                        seen[found] = Some(a);
                        found += 1;
                        if found == 8 {
                            break;
                        }
                    }
                }
                black_box(seen[7])
            })
        });
        group.bench_function(BenchmarkId::new("hashring", n), |b| {
            b.iter(|| black_box(hashring.get_with_replicas(&black_box(next()), 7)))
        });
        group.bench_function(BenchmarkId::new("mpchash", n), |b| {
            b.iter(|| black_box(multi_probe.replicas(&black_box(next()), 8).len()))
        });
    }
    group.finish();
}

criterion_group!(benches, first_manager, eighth_of_arc);
criterion_main!(benches);
