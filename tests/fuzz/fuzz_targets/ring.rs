//! `Ring::new` and `HealthMask::set` with any managers list, seed and virtual-node count:
//! typed errors for bad lists; for good ones, points and arcs as the placement spec says,
//! checked against a naive walk over independently computed points.

#![no_main]

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use arcroute::{GroupId, HealthMask, ManagerId, Ring, RingConfig, TaskId};
use arcroute_fuzz::{fleet, Mid, Num, Verdict, Weight};
use libfuzzer_sys::fuzz_target;
use xxhash_rust::xxh3::xxh3_64_with_seed;

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    vnodes: Num,
    managers: Vec<(Mid, Weight)>,
    health: Vec<(Mid, bool)>,
    arcs: Vec<(u64, Num)>,
    tasks: Vec<u128>,
}

fuzz_target!(|input: Input| {
    let vnodes = input.vnodes.nonzero();
    let config = RingConfig::default()
        .with_seed(input.seed)
        .with_vnodes_per_weight(vnodes);
    let list = fleet(&input.managers);
    let verdict = Verdict::of(&list, vnodes);
    if verdict.over_budget() {
        return;
    }
    let ring = match Ring::new(config, list.iter().copied()) {
        Ok(ring) => ring,
        Err(err) => return verdict.check_error(&err),
    };
    assert!(verdict.valid(), "accepted {verdict:?}");
    assert_eq!(ring.len(), list.len());
    assert_eq!(ring.point_count() as u128, verdict.points);
    assert_eq!(ring.config(), config);

    // Points: every (position, owner) the spec lists, in the spec's order.
    let mut expected: Vec<(u64, ManagerId)> = Vec::new();
    for &(id, weight) in &list {
        for i in 0..weight * vnodes.get() {
            let mut bytes = b"arcroute:v1:point:".to_vec();
            bytes.extend_from_slice(&id.get().to_le_bytes());
            bytes.extend_from_slice(&i.to_le_bytes());
            expected.push((xxh3_64_with_seed(&bytes, input.seed), id));
        }
    }
    expected.sort_unstable();
    assert!(
        ring.points().eq(expected.iter().copied()),
        "points differ from the spec"
    );

    // Health: unknown ids are typed errors and change nothing.
    let mut mask = HealthMask::all_up(&ring);
    let mut down = BTreeSet::new();
    for &(m, healthy) in &input.health {
        let id = m.id();
        let before = mask.clone();
        match mask.set(&ring, id, healthy) {
            Ok(changed) => {
                let was_down = if healthy {
                    down.remove(&id)
                } else {
                    !down.insert(id)
                };
                assert_eq!(changed, healthy == was_down, "{id:?} {healthy}");
            }
            Err(arcroute::Error::UnknownManager { id: got }) => {
                assert_eq!(got, id);
                assert!(!ring.contains(id));
                assert!(mask == before, "a failed set changed the mask");
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
        assert_eq!(mask.healthy_count() as usize, ring.len() - down.len());
        assert_eq!(
            mask.is_healthy(&ring, id),
            ring.contains(id) && !down.contains(&id)
        );
    }

    // Arcs: as a naive walk over the spec's points.
    for &(start, len) in &input.arcs {
        let len = len.get();
        let naive = naive_arc(&expected, start, len, &down);
        let got: Vec<ManagerId> = ring.arc_with(start, len, &mask).collect();
        assert_eq!(got, naive, "arc ({start}, {len})");
        let all_up: Vec<ManagerId> = ring.arc(start, len).collect();
        assert_eq!(all_up, naive_arc(&expected, start, len, &BTreeSet::new()));
        if len > 0 {
            assert_eq!(all_up.first().copied(), Some(ring.first(start)));
        }
        for (k, &m) in got.iter().enumerate().take(8) {
            assert_eq!(ring.nth_in_arc(start, len, k as u32, &mask), Some(m));
        }
        assert_eq!(ring.nth_in_arc(start, len, got.len() as u32, &mask), None);
    }

    // Arc starts: the spec's encodings.
    for &t in &input.tasks {
        let mut bytes = b"arcroute:v1:reserved:".to_vec();
        bytes.extend_from_slice(&t.to_le_bytes());
        assert_eq!(
            ring.reserved_start(TaskId::new(t)),
            xxh3_64_with_seed(&bytes, input.seed)
        );
        let mut bytes = b"arcroute:v1:unreserved:".to_vec();
        bytes.extend_from_slice(&t.to_le_bytes());
        assert_eq!(
            ring.unreserved_start(GroupId::new(t)),
            xxh3_64_with_seed(&bytes, input.seed)
        );
    }
});

/// The spec's arc walk over sorted points, with a set for "already met".
fn naive_arc(
    points: &[(u64, ManagerId)],
    start: u64,
    len: u32,
    down: &BTreeSet<ManagerId>,
) -> Vec<ManagerId> {
    let first = points.iter().position(|&(h, _)| h >= start).unwrap_or(0);
    let mut met = BTreeSet::new();
    let mut arc = Vec::new();
    for step in 0..points.len() {
        if arc.len() as u64 >= u64::from(len) {
            break;
        }
        let (_, m) = points[(first + step) % points.len()];
        if met.insert(m) && !down.contains(&m) {
            arc.push(m);
        }
    }
    arc
}
