//! Fleet configs: applying them to a router, and (with the `serde` feature) their serialized
//! format, down to two processes building identical placement from one JSON file.

use arcroute::{
    Error, FleetConfig, ManagerId, Reservation, RingVersion, RouteKind, Router, TaskId,
};
use std::num::NonZeroU32;

mod support;
use support::weighted_fleet;

/// Version `version` of a fleet of managers `0..managers` of weights 1 to 3, all healthy.
fn fleet_config(version: u64, managers: u64) -> FleetConfig {
    weighted_fleet(0..managers).into_iter().fold(
        FleetConfig::new(version).with_seed(0x5eed),
        |f, (id, weight)| f.with_manager(id, weight, true),
    )
}

/// What a router holds that a config sets: generation, managers with weight and health, and
/// the given tasks' reservations, for "nothing changed" checks.
type State = (u64, Vec<(ManagerId, u32, bool)>, Vec<Option<Reservation>>);

fn state(router: &Router, tasks: &[TaskId]) -> State {
    let ring = router.ring();
    let managers = ring
        .managers()
        .map(|(id, weight)| (id, weight, router.is_healthy(id)))
        .collect();
    let reservations = tasks.iter().map(|&t| router.reservation(t)).collect();
    (router.generation(), managers, reservations)
}

#[test]
fn a_router_built_from_a_config_holds_it() {
    let task = TaskId::new(7);
    let mut config = fleet_config(3, 5).with_reservation(task, 4);
    config.managers[1].healthy = false;
    let router = Router::from_fleet_config(&config).unwrap();
    assert_eq!(router.fleet_version(), Some(3));
    assert_eq!(router.generation(), 1);
    assert_eq!(router.config().ring.seed, 0x5eed);
    assert_eq!(router.ring().len(), 5);
    assert!(!router.is_healthy(ManagerId::new(1)));
    assert!(router.is_healthy(ManagerId::new(2)));
    assert_eq!(
        router.reservation(task),
        Some(Reservation::new(4, 0)),
        "none ready yet"
    );
    assert!(!router.apply_config(&config).unwrap(), "already applied");
    assert_eq!(router.generation(), 1);

    // The config's placement settings win over the builder's, in any order.
    let built = Router::builder()
        .fleet_config(&config)
        .seed(1)
        .build()
        .unwrap();
    assert_eq!(built.config().ring.seed, 0x5eed);
    // Managers come from one place only.
    let both = Router::builder()
        .manager(ManagerId::new(99), 1)
        .fleet_config(&config)
        .build();
    assert!(matches!(both, Err(Error::InvalidConfig { .. })));
}

#[test]
fn applying_the_same_config_twice_publishes_once() {
    let router = Router::builder()
        .seed(0x5eed)
        .managers(support::fleet(0..3))
        .build()
        .unwrap();
    assert_eq!(router.fleet_version(), None);
    let mut config = fleet_config(10, 6).with_reservation(TaskId::new(1), 2);
    config.managers[4].healthy = false;
    assert!(router.apply_config(&config).unwrap());
    assert_eq!((router.generation(), router.fleet_version()), (2, Some(10)));
    assert!(!router.apply_config(&config).unwrap());
    // The same content in another order is the same config.
    config.managers.reverse();
    assert!(!router.apply_config(&config).unwrap());
    assert_eq!(router.generation(), 2);
    // A newer version publishes once, even with nothing else new.
    config.version = 11;
    assert!(router.apply_config(&config).unwrap());
    assert_eq!((router.generation(), router.fleet_version()), (3, Some(11)));
}

#[test]
fn one_apply_publishes_membership_health_and_reservations_together() {
    let (a, b, c) = (TaskId::new(1), TaskId::new(2), TaskId::new(3));
    let router = Router::from_fleet_config(
        &fleet_config(1, 4)
            .with_reservation(a, 4)
            .with_reservation(b, 2),
    )
    .unwrap();
    router.set_ready(a, 3).unwrap();
    let mut next = fleet_config(2, 6)
        .with_reservation(a, 8)
        .with_reservation(c, 1);
    next.managers[0].weight = 5;
    next.managers[5].healthy = false;
    let before = router.generation();
    assert!(router.apply_config(&next).unwrap());
    assert_eq!(router.generation(), before + 1, "one publish");
    let ring = router.ring();
    let managers: Vec<(ManagerId, u32)> = ring.managers().collect();
    assert_eq!(managers.len(), 6);
    assert_eq!(managers[0], (ManagerId::new(0), 5));
    assert!(!router.is_healthy(ManagerId::new(5)));
    assert!(router.is_healthy(ManagerId::new(4)));
    assert_eq!(
        router.reservation(a),
        Some(Reservation::new(8, 3)),
        "ready kept"
    );
    assert_eq!(router.reservation(b), None, "none ready: removed at once");
    assert_eq!(router.reservation(c), Some(Reservation::new(1, 0)));
}

#[test]
fn a_reservation_left_out_drains_with_its_environments() {
    let task = TaskId::new(5);
    let router = Router::from_fleet_config(&fleet_config(1, 10).with_reservation(task, 4)).unwrap();
    router.set_ready(task, 4).unwrap();
    assert!(router.apply_config(&fleet_config(2, 10)).unwrap());
    let res = router.reservation(task).unwrap();
    assert_eq!(res, Reservation::new(0, 4));
    assert!(res.is_draining());
    let held: Vec<_> = (0..5).map(|_| router.route(task).unwrap()).collect();
    let reserved = held
        .iter()
        .filter(|r| r.kind() == RouteKind::Reserved)
        .count();
    assert_eq!(reserved, 4, "the ready environments keep serving");
    drop(held);
    router.set_ready(task, 0).unwrap();
    assert_eq!(router.reservation(task), None);
    assert_eq!(router.route(task).unwrap().kind(), RouteKind::Unreserved);
    // Listed again in a later version, it starts over with none ready.
    assert!(router
        .apply_config(&fleet_config(3, 10).with_reservation(task, 2))
        .unwrap());
    assert_eq!(router.reservation(task), Some(Reservation::new(2, 0)));
}

#[test]
fn an_older_version_is_refused_and_changes_nothing() {
    let task = TaskId::new(1);
    let router = Router::from_fleet_config(&fleet_config(5, 4).with_reservation(task, 3)).unwrap();
    let before = state(&router, &[task]);
    let older = fleet_config(4, 8);
    assert_eq!(
        router.apply_config(&older),
        Err(Error::StaleConfig {
            current: 5,
            offered: 4
        })
    );
    assert_eq!(state(&router, &[task]), before);
    assert_eq!(router.fleet_version(), Some(5));
}

#[test]
fn the_same_version_with_other_content_is_refused() {
    let router = Router::from_fleet_config(&fleet_config(5, 4)).unwrap();
    let before = state(&router, &[TaskId::new(1)]);
    let mut other = fleet_config(5, 4);
    other.managers[2].healthy = false;
    assert_eq!(
        router.apply_config(&other),
        Err(Error::ConflictingConfig { version: 5 })
    );
    let other = fleet_config(5, 4).with_reservation(TaskId::new(1), 1);
    assert_eq!(
        router.apply_config(&other),
        Err(Error::ConflictingConfig { version: 5 })
    );
    assert_eq!(state(&router, &[TaskId::new(1)]), before);
}

#[test]
fn placement_settings_other_than_the_routers_are_refused() {
    let router = Router::from_fleet_config(&fleet_config(1, 4)).unwrap();
    let before = state(&router, &[]);
    let seed = fleet_config(2, 4).with_seed(0x5eee);
    assert_eq!(
        router.apply_config(&seed),
        Err(Error::PlacementMismatch { setting: "seed" })
    );
    let vnodes = fleet_config(2, 4).with_vnodes_per_weight(NonZeroU32::new(40).unwrap());
    assert_eq!(
        router.apply_config(&vnodes),
        Err(Error::PlacementMismatch {
            setting: "virtual nodes per weight"
        })
    );
    assert_eq!(state(&router, &[]), before);
    // A router built without a config has seed 0: the config must match it too.
    let plain = Router::builder()
        .managers([(ManagerId::new(1), 1)])
        .build()
        .unwrap();
    assert!(plain.apply_config(&fleet_config(1, 4)).is_err());
    assert!(plain
        .apply_config(&fleet_config(1, 4).with_seed(0))
        .unwrap());
    assert_eq!(
        FleetConfig::new(1)
            .with_ring_version(RingVersion::V1)
            .ring_version,
        RingVersion::default()
    );
}

#[test]
fn bad_input_is_refused_with_typed_errors_and_changes_nothing() {
    let task = TaskId::new(1);
    let router = Router::from_fleet_config(&fleet_config(1, 4).with_reservation(task, 3)).unwrap();
    let before = state(&router, &[task]);
    let cases = [
        (FleetConfig::new(2).with_seed(0x5eed), Error::NoManagers),
        (
            fleet_config(2, 4).with_manager(ManagerId::new(2), 1, true),
            Error::DuplicateManager {
                id: ManagerId::new(2),
            },
        ),
        (
            fleet_config(2, 4).with_manager(ManagerId::new(9), 0, true),
            Error::ZeroWeight {
                id: ManagerId::new(9),
            },
        ),
        (
            fleet_config(2, 4)
                .with_reservation(task, 1)
                .with_reservation(task, 2),
            Error::DuplicateReservation { task },
        ),
    ];
    for (config, error) in cases {
        assert_eq!(config.validate(), Err(error.clone()));
        assert_eq!(router.apply_config(&config), Err(error.clone()));
        assert_eq!(Router::from_fleet_config(&config).unwrap_err(), error);
        assert_eq!(state(&router, &[task]), before);
    }
    let heavy = fleet_config(2, 4).with_manager(ManagerId::new(9), u32::MAX, true);
    assert!(matches!(
        router.apply_config(&heavy),
        Err(Error::TooManyPoints { .. })
    ));
    assert_eq!(state(&router, &[task]), before);
    assert!(
        router.apply_config(&fleet_config(2, 4)).unwrap(),
        "still takes version 2"
    );
}

#[test]
fn errors_render_without_the_seed() {
    let message = Error::PlacementMismatch { setting: "seed" }.to_string();
    assert_eq!(message, "the fleet config's seed differs from the router's");
    let message = Error::StaleConfig {
        current: 5,
        offered: 4,
    }
    .to_string();
    assert!(message.contains('4') && message.contains('5'));
}

#[cfg(feature = "serde")]
mod format {
    use std::fmt::Write as _;
    use std::process::Command;

    use arcroute::{FleetConfig, HealthMask, ManagerId, Ring, Router, TaskId};
    use rand::Rng as _;

    use crate::support;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/fleet_v1.json");

    /// Tells the test binary, run again as a child, which config file to read.
    const CHILD_CONFIG: &str = "ARCROUTE_FLEET_CONFIG";

    /// Tasks whose placement the two processes compare.
    const TASKS: u64 = 100_000;

    /// Unreserved arcs are compared up to this length (shorter ones are their prefixes).
    const ARC_LEN: u32 = 8;

    /// The committed fixture: a small fleet with weights, a manager down and reservations.
    fn fixture() -> FleetConfig {
        let mut config = FleetConfig::new(1).with_seed(0x0123_4567_89ab_cdef);
        for i in 0..6u32 {
            let id = ManagerId::from_name(&format!("wm-{i}"));
            config = config.with_manager(id, 1 + i % 3, i != 4);
        }
        for name in ["acct-1/thumbnails:prod", "acct-2/resize"] {
            config = config.with_reservation(TaskId::from_name(name), 10);
        }
        config.with_reservation(TaskId::new(u128::MAX), 1)
    }

    /// A large random fleet: hundreds of managers, some down, many reservations.
    fn random_fleet(seed: u64) -> FleetConfig {
        let mut rng = support::rng(seed);
        let mut config = FleetConfig::new(rng.random::<u64>() >> 12).with_seed(rng.random());
        for _ in 0..300 {
            let (id, weight) = (ManagerId::new(rng.random()), rng.random_range(1..=4));
            config = config.with_manager(id, weight, !rng.random_ratio(1, 10));
        }
        for _ in 0..2_000 {
            let task = TaskId::new(rng.random());
            config = config.with_reservation(task, rng.random_range(0..200));
        }
        config
    }

    #[test]
    fn the_fixture_is_the_documented_format() {
        let text = serde_json::to_string_pretty(&fixture()).unwrap() + "\n";
        if std::env::var_os("ARCROUTE_BLESS").is_some() {
            std::fs::write(FIXTURE, &text).unwrap();
        }
        let committed = std::fs::read_to_string(FIXTURE).unwrap();
        assert_eq!(committed, text, "regenerate with ARCROUTE_BLESS=1");
        let parsed: FleetConfig = serde_json::from_str(&committed).unwrap();
        assert_eq!(parsed, fixture());
        let value: serde_json::Value = serde_json::from_str(&committed).unwrap();
        assert_eq!(value["format"], 1);
        assert_eq!(value["ring_version"], 1);
        assert_eq!(value["seed"], "0123456789abcdef");
        assert_eq!(value["vnodes_per_weight"], 160);
        let id = ManagerId::from_name("wm-0").get();
        assert_eq!(value["managers"][0]["id"], format!("{id:016x}"));
        assert_eq!(value["managers"][4]["healthy"], false);
        assert_eq!(
            value["reservations"][2]["task"],
            "ffffffffffffffffffffffffffffffff"
        );
    }

    #[test]
    fn json_round_trips() {
        for seed in [1, 2, 3] {
            let config = random_fleet(seed);
            let text = serde_json::to_string(&config).unwrap();
            let back: FleetConfig = serde_json::from_str(&text).unwrap();
            assert_eq!(back, config);
            assert_eq!(serde_json::to_string(&back).unwrap(), text);
        }
        let edges = FleetConfig::new(u64::MAX)
            .with_seed(u64::MAX)
            .with_manager(ManagerId::new(0), 1, true)
            .with_manager(ManagerId::new(u64::MAX), u32::MAX, false)
            .with_reservation(TaskId::new(0), u32::MAX);
        let text = serde_json::to_string(&edges).unwrap();
        assert!(text.contains(r#""id":"ffffffffffffffff""#), "{text}");
        assert!(text.contains(r#""task":"00000000000000000000000000000000""#));
        assert!(text.contains(r#""version":18446744073709551615"#));
        assert_eq!(serde_json::from_str::<FleetConfig>(&text).unwrap(), edges);
    }

    #[test]
    fn optional_fields_take_their_defaults() {
        let text = r#"{"format": 1, "version": 3, "ring_version": 1,
            "seed": "0000000000000000",
            "managers": [{"id": "000000000000000a", "weight": 2}]}"#;
        let config: FleetConfig = serde_json::from_str(text).unwrap();
        let expected = FleetConfig::new(3).with_manager(ManagerId::new(10), 2, true);
        assert_eq!(config, expected);
    }

    #[test]
    fn malformed_documents_are_refused() {
        let good = r#"{"format": 1, "version": 3, "ring_version": 1,
            "seed": "0000000000000000", "vnodes_per_weight": 160,
            "managers": [{"id": "000000000000000a", "weight": 2, "healthy": true}],
            "reservations": [{"task": "0000000000000000000000000000000b", "limit": 1}]}"#;
        assert!(serde_json::from_str::<FleetConfig>(good).is_ok());
        let cases = [
            (r#""format": 1"#, r#""format": 2"#, "format 2"),
            (
                r#""ring_version": 1"#,
                r#""ring_version": 2"#,
                "ring version 2",
            ),
            (r#""version": 3"#, r#""version": -3"#, ""),
            (r#""version": 3"#, r#""version": "3""#, ""),
            (
                r#""vnodes_per_weight": 160"#,
                r#""vnodes_per_weight": 0"#,
                "",
            ),
            (r#""seed": "0000000000000000""#, r#""seed": 0"#, ""),
            (
                r#""seed": "0000000000000000""#,
                r#""seed": "000000000000000""#,
                "16 lowercase hexadecimal digits",
            ),
            (
                r#""000000000000000a""#,
                r#""000000000000000A""#,
                "lowercase",
            ),
            (
                r#""000000000000000a""#,
                r#""0x0000000000000a""#,
                "hexadecimal",
            ),
            (
                r#""000000000000000a""#,
                r#""+00000000000000a""#,
                "hexadecimal",
            ),
            (
                r#""000000000000000a""#,
                r#""00000000000000000a""#,
                "hexadecimal",
            ),
            (r#""000000000000000a""#, "10", ""),
            (
                r#""0000000000000000000000000000000b""#,
                r#""b""#,
                "32 lowercase hexadecimal digits",
            ),
            (r#""weight": 2"#, r#""weight": 2.5"#, ""),
            (r#""weight": 2"#, r#""weight": 4294967296"#, ""),
            (
                r#""healthy": true"#,
                r#""healthy": true, "zone": "a""#,
                "unknown field",
            ),
            (
                r#""limit": 1"#,
                r#""limit": 1, "ready": 1"#,
                "unknown field",
            ),
            (
                r#""format": 1"#,
                r#""format": 1, "extra": null"#,
                "unknown field",
            ),
            (r#""format": 1,"#, "", "missing field"),
            (r#""seed": "0000000000000000","#, "", "missing field"),
        ];
        for (from, to, message) in cases {
            assert!(good.contains(from), "{from}");
            let bad = good.replacen(from, to, 1);
            let error = serde_json::from_str::<FleetConfig>(&bad).unwrap_err();
            assert!(error.to_string().contains(message), "{bad}: {error}");
        }
        let no_managers = good.replacen(
            r#"[{"id": "000000000000000a", "weight": 2, "healthy": true}]"#,
            "[]",
            1,
        );
        let config: FleetConfig = serde_json::from_str(&no_managers).unwrap();
        assert_eq!(config.validate(), Err(arcroute::Error::NoManagers));
    }

    /// Hashes (FNV-1a, 64 bits) the placement of the fleet's reserved tasks and of `TASKS`
    /// pseudo-random ones, through `router`: reserved arcs, whole arcs of both domains up to
    /// `ARC_LEN` under the router's health, and where each task's first call goes. Returns
    /// the digest and the first lines, for a direct comparison.
    fn placement(router: &Router, config: &FleetConfig) -> (u64, Vec<String>) {
        let ring: std::sync::Arc<Ring> = router.ring();
        let mut health = HealthMask::all_up(&ring);
        for (id, _) in ring.managers() {
            health.set(&ring, id, router.is_healthy(id)).unwrap();
        }
        let mut rng = support::rng(0xa5c3);
        let tasks = config
            .reservations
            .iter()
            .map(|r| r.task)
            .chain((0..TASKS).map(|_| TaskId::new(rng.random())));
        let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
        let mut sample = Vec::new();
        let mut line = String::new();
        for task in tasks {
            line.clear();
            let _ = write!(line, "{:032x} reserved", task.get());
            for slot in router.reserved_arc(task) {
                let _ = write!(line, " {:016x}:{}", slot.manager.get(), slot.environments);
            }
            line.push_str(" rarc");
            for m in ring.arc_with(ring.reserved_start(task), ARC_LEN, &health) {
                let _ = write!(line, " {:016x}", m.get());
            }
            line.push_str(" uarc");
            for m in ring.arc_with(ring.unreserved_start(task.into()), ARC_LEN, &health) {
                let _ = write!(line, " {:016x}", m.get());
            }
            let route = router.route(task).expect("a healthy manager");
            let _ = write!(
                line,
                " first {:016x} {:?}",
                route.manager().get(),
                route.kind()
            );
            drop(route);
            for byte in line.bytes().chain([b'\n']) {
                digest = (digest ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
            if sample.len() < 200 {
                sample.push(line.clone());
            }
        }
        (digest, sample)
    }

    /// Run as a child by `two_processes_build_identical_arcs` (which passes the config path
    /// in `ARCROUTE_FLEET_CONFIG`); alone, it reports the committed fixture's placement.
    #[test]
    #[ignore = "run as a child process by two_processes_build_identical_arcs"]
    fn child_reports_placement() {
        let path = std::env::var(CHILD_CONFIG).unwrap_or_else(|_| FIXTURE.to_owned());
        let text = std::fs::read_to_string(&path).unwrap();
        let config: FleetConfig = serde_json::from_str(&text).unwrap();
        let router = Router::from_fleet_config(&config).unwrap();
        let (digest, sample) = placement(&router, &config);
        // After a newline: the test harness has begun a line of its own.
        let mut out = String::from("\n");
        for line in &sample {
            let _ = writeln!(out, "sample {line}");
        }
        let _ = writeln!(out, "digest {digest:016x}");
        print!("{out}");
    }

    #[test]
    fn two_processes_build_identical_arcs() {
        let config = random_fleet(0xf1ee7);
        let text = serde_json::to_string_pretty(&config).unwrap();
        let path =
            std::env::temp_dir().join(format!("arcroute-fleet-config-{}.json", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "format::child_reports_placement",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_CONFIG, &path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );

        let parsed: FleetConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, config);
        let router = Router::from_fleet_config(&parsed).unwrap();
        let (digest, sample) = placement(&router, &parsed);
        let child_sample: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("sample "))
            .collect();
        assert_eq!(child_sample.len(), sample.len());
        for (mine, theirs) in sample.iter().zip(&child_sample) {
            assert_eq!(mine, theirs);
        }
        let child_digest = stdout
            .lines()
            .find_map(|l| l.strip_prefix("digest "))
            .expect("the child prints a digest");
        assert_eq!(child_digest, format!("{digest:016x}"));
        println!(
            "{} tasks, digest {digest:016x} in both processes",
            TASKS as usize + config.reservations.len()
        );
    }
}
