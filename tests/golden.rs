//! Golden vectors: ring version 1 placement frozen in `tests/data/golden_v1.txt`.
//!
//! The file is the reference a frontend in another language checks itself against. Regenerate
//! it only for a new ring version: `ARCROUTE_BLESS=1 cargo test --test golden`.

use std::fmt::Write as _;

use arcroute::{ArcAssigner, GroupId, HealthMask, ManagerId, Ring, RingConfig, TaskId};

mod support;
use support::nz;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden_v1.txt");

const MANAGERS: [(&str, u32); 8] = [
    ("mgr-a", 1),
    ("mgr-b", 1),
    ("mgr-c", 2),
    ("mgr-d", 1),
    ("mgr-e", 3),
    ("mgr-f", 1),
    ("mgr-g", 1),
    ("mgr-h", 2),
];

const TASKS: [&str; 10] = [
    "",
    "hello",
    "acct-1/thumbnailer:v3",
    "acct-1/thumbnailer:v4",
    "acct-2/resize",
    "acct-2/etl-nightly",
    "ünïcødé/函数",
    "a-very-long-function-name-that-is-still-well-under-the-stack-buffer-limit-of-the-hash",
    "x",
    "y",
];

/// Renders every vector: ids, all points of two small fleets, arc starts and whole arcs.
fn render() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# arcroute placement golden vectors, ring version 1.");
    let _ = writeln!(
        out,
        "# Lines: `manager NAME ID WEIGHT`, `ring SEED VNODES_PER_WEIGHT POINTS`,"
    );
    let _ = writeln!(
        out,
        "# `point INDEX POSITION MANAGER_ID`, `task NAME_HEX TASK_ID`,"
    );
    let _ = writeln!(
        out,
        "# `start TASK_ID RESERVED_START UNRESERVED_START`, `arc START MANAGER_ID...`,"
    );
    let _ = writeln!(
        out,
        "# `arc_down START DOWN_ID MANAGER_ID...` (that arc with one manager down),"
    );
    let _ = writeln!(
        out,
        "# `reserved TASK_ID LIMIT READY LEN MANAGER_ID:ENVIRONMENTS...` (default sizing)."
    );
    let _ = writeln!(
        out,
        "# Integers in lowercase hex without prefix; names as UTF-8 bytes in hex (`-` if empty)."
    );
    for (name, weight) in MANAGERS {
        let id = ManagerId::from_name(name).get();
        let _ = writeln!(out, "manager {name} {id:x} {weight}");
    }
    for task in TASKS {
        let id = TaskId::from_name(task).get();
        let _ = writeln!(out, "task {} {id:x}", hex(task.as_bytes()));
    }
    for (seed, vnodes) in [(0u64, 4u32), (0x5eed_f00d_dead_beef, 3)] {
        let config = RingConfig::default()
            .with_seed(seed)
            .with_vnodes_per_weight(nz(vnodes));
        let ring = Ring::new(
            config,
            MANAGERS.iter().map(|&(n, w)| (ManagerId::from_name(n), w)),
        )
        .unwrap();
        let _ = writeln!(out, "ring {seed:x} {vnodes} {}", ring.point_count());
        for (i, (pos, id)) in ring.points().enumerate() {
            let _ = writeln!(out, "point {i} {pos:x} {:x}", id.get());
        }
        for task in TASKS {
            let id = TaskId::from_name(task);
            let (r, u) = (
                ring.reserved_start(id),
                ring.unreserved_start(GroupId::from(id)),
            );
            let _ = writeln!(out, "start {:x} {r:x} {u:x}", id.get());
            for start in [r, u] {
                let _ = writeln!(out, "arc {start:x} {}", ids(ring.arc(start, FULL)));
            }
            // The same unreserved arc with its first manager down.
            let down = ring.first(u);
            let mut mask = HealthMask::all_up(&ring);
            mask.set(&ring, down, false).unwrap();
            let arc = ids(ring.arc_with(u, FULL, &mask));
            let _ = writeln!(out, "arc_down {u:x} {:x} {arc}", down.get());
        }
        // Reserved arcs of one task under the default sizing (16 per manager, at least 2).
        let task = TaskId::from_name("hello");
        let assigner = ArcAssigner::default();
        for (limit, ready) in [(1, 0), (10, 10), (40, 0), (5, 60), (200, 100)] {
            let len = assigner.reserved_len(limit, ready, ring.len() as u32);
            let slots: Vec<String> = (0..)
                .zip(ring.arc(ring.reserved_start(task), len))
                .map(|(k, m)| format!("{:x}:{}", m.get(), assigner.environments_at(limit, len, k)))
                .collect();
            let _ = writeln!(
                out,
                "reserved {:x} {limit} {ready} {len} {}",
                task.get(),
                slots.join(" ")
            );
        }
    }
    out
}

const FULL: u32 = MANAGERS.len() as u32;

fn ids(arc: impl Iterator<Item = ManagerId>) -> String {
    arc.map(|m| format!("{:x}", m.get()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Hex of a name's bytes; `-` for the empty name, so every line splits on spaces.
fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".to_owned();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn placement_matches_golden_vectors() {
    let now = render();
    if std::env::var_os("ARCROUTE_BLESS").is_some() {
        std::fs::write(PATH, &now).unwrap();
        return;
    }
    let frozen = std::fs::read_to_string(PATH).expect("tests/data/golden_v1.txt is missing");
    for (n, (want, got)) in frozen.lines().zip(now.lines()).enumerate() {
        assert_eq!(want, got, "golden vector line {} moved", n + 1);
    }
    assert_eq!(frozen.lines().count(), now.lines().count());
}

/// Values computed outside this crate (Python's `xxhash` package) from the spec's encodings.
#[test]
fn ids_match_an_independent_implementation() {
    assert_eq!(ManagerId::from_name("m-1").get(), 0x4c35_81de_e334_b124);
    assert_eq!(
        TaskId::from_name("hello").get(),
        0x3c64_bc48_8c21_90d5_a711_c660_ea11_cf06
    );
}
