//! The fleet-config decoder (`serde` feature): any bytes as JSON. What fails to decode is an
//! error, never a panic; what decodes encodes back to the same config, validates or is refused
//! with a typed error, and a router built from it applies it again without publishing, and
//! refuses an older version of it.

#![no_main]

use arcroute::{Error, FleetConfig, Router};
use libfuzzer_sys::fuzz_target;

/// Rings larger than this are valid but too slow to build per input; they are only validated.
const MAX_POINTS_BUILT: u64 = 1 << 14;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = serde_json::from_slice::<FleetConfig>(data) else {
        return;
    };
    let text = serde_json::to_vec(&config).expect("a decoded config encodes");
    let again: FleetConfig = serde_json::from_slice(&text).expect("an encoded config decodes");
    assert!(again == config, "the round trip changed the config");

    let validated = config.validate();
    let points: u64 = config
        .managers
        .iter()
        .map(|m| u64::from(m.weight) * u64::from(config.vnodes_per_weight.get()))
        .sum();
    if points > MAX_POINTS_BUILT {
        return;
    }
    let router = match Router::from_fleet_config(&config) {
        Ok(router) => router,
        Err(err) => {
            assert_eq!(validated, Err(err.clone()), "build and validate disagree");
            assert!(matches!(
                err,
                Error::NoManagers
                    | Error::DuplicateManager { .. }
                    | Error::ZeroWeight { .. }
                    | Error::TooManyManagers { .. }
                    | Error::TooManyPoints { .. }
                    | Error::DuplicateReservation { .. }
            ));
            return;
        }
    };
    assert_eq!(validated, Ok(()));
    assert_eq!(router.fleet_version(), Some(config.version));
    let generation = router.generation();
    assert_eq!(
        router.apply_config(&config),
        Ok(false),
        "the same config twice"
    );
    assert_eq!(router.generation(), generation);
    if let Some(older) = config.version.checked_sub(1) {
        let mut stale = config.clone();
        stale.version = older;
        assert!(matches!(
            router.apply_config(&stale),
            Err(Error::StaleConfig { .. })
        ));
    }
    for m in &config.managers {
        assert_eq!(router.is_healthy(m.id), m.healthy);
    }
    for r in &config.reservations {
        assert_eq!(
            router.reservation(r.task).map(|x| x.limit),
            Some(r.limit).filter(|&l| l > 0)
        );
    }
});
