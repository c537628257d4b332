//! Fleet configs: building routers from them and applying them.

use arcroute::{
    Error, FleetConfig, ManagerId, Reservation, RingVersion, RouteKind, Router, TaskId,
};
use std::num::NonZeroU32;

fn fleet(version: u64, managers: u64) -> FleetConfig {
    (0..managers).fold(FleetConfig::new(version).with_seed(0x5eed), |f, i| {
        f.with_manager(ManagerId::new(i), 1 + (i % 3) as u32, true)
    })
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
    let mut config = fleet(3, 5).with_reservation(task, 4);
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
        .managers((0..3).map(|i| (ManagerId::new(i), 1)))
        .build()
        .unwrap();
    assert_eq!(router.fleet_version(), None);
    let mut config = fleet(10, 6).with_reservation(TaskId::new(1), 2);
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
    let router =
        Router::from_fleet_config(&fleet(1, 4).with_reservation(a, 4).with_reservation(b, 2))
            .unwrap();
    router.set_ready(a, 3).unwrap();
    let mut next = fleet(2, 6).with_reservation(a, 8).with_reservation(c, 1);
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
    let router = Router::from_fleet_config(&fleet(1, 10).with_reservation(task, 4)).unwrap();
    router.set_ready(task, 4).unwrap();
    assert!(router.apply_config(&fleet(2, 10)).unwrap());
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
        .apply_config(&fleet(3, 10).with_reservation(task, 2))
        .unwrap());
    assert_eq!(router.reservation(task), Some(Reservation::new(2, 0)));
}

#[test]
fn an_older_version_is_refused_and_changes_nothing() {
    let task = TaskId::new(1);
    let router = Router::from_fleet_config(&fleet(5, 4).with_reservation(task, 3)).unwrap();
    let before = state(&router, &[task]);
    let older = fleet(4, 8);
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
    let router = Router::from_fleet_config(&fleet(5, 4)).unwrap();
    let before = state(&router, &[TaskId::new(1)]);
    let mut other = fleet(5, 4);
    other.managers[2].healthy = false;
    assert_eq!(
        router.apply_config(&other),
        Err(Error::ConflictingConfig { version: 5 })
    );
    let other = fleet(5, 4).with_reservation(TaskId::new(1), 1);
    assert_eq!(
        router.apply_config(&other),
        Err(Error::ConflictingConfig { version: 5 })
    );
    assert_eq!(state(&router, &[TaskId::new(1)]), before);
}

#[test]
fn placement_settings_other_than_the_routers_are_refused() {
    let router = Router::from_fleet_config(&fleet(1, 4)).unwrap();
    let before = state(&router, &[]);
    let seed = fleet(2, 4).with_seed(0x5eee);
    assert_eq!(
        router.apply_config(&seed),
        Err(Error::PlacementMismatch { setting: "seed" })
    );
    let vnodes = fleet(2, 4).with_vnodes_per_weight(NonZeroU32::new(40).unwrap());
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
    assert!(plain.apply_config(&fleet(1, 4)).is_err());
    assert!(plain.apply_config(&fleet(1, 4).with_seed(0)).unwrap());
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
    let router = Router::from_fleet_config(&fleet(1, 4).with_reservation(task, 3)).unwrap();
    let before = state(&router, &[task]);
    let cases = [
        (FleetConfig::new(2).with_seed(0x5eed), Error::NoManagers),
        (
            fleet(2, 4).with_manager(ManagerId::new(2), 1, true),
            Error::DuplicateManager {
                id: ManagerId::new(2),
            },
        ),
        (
            fleet(2, 4).with_manager(ManagerId::new(9), 0, true),
            Error::ZeroWeight {
                id: ManagerId::new(9),
            },
        ),
        (
            fleet(2, 4)
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
    let heavy = fleet(2, 4).with_manager(ManagerId::new(9), u32::MAX, true);
    assert!(matches!(
        router.apply_config(&heavy),
        Err(Error::TooManyPoints { .. })
    ));
    assert_eq!(state(&router, &[task]), before);
    assert!(
        router.apply_config(&fleet(2, 4)).unwrap(),
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
