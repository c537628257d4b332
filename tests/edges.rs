//! Edge values: the largest and smallest numbers, durations and fleets a host can pass, and
//! what the crate does with each (a typed error, or the saturation its docs state). Memory
//! stays small: every limit here is rejected before anything is allocated for it.

use std::num::NonZeroU32;
use std::time::Duration;

use arcroute::{
    ArcAssigner, ArcState, AssignConfig, Error, ManagerId, ManualClock, Ring, RingConfig, Router,
    RouterConfig, MAX_MANAGERS,
};

fn m(i: u64) -> ManagerId {
    ManagerId::new(i)
}

fn fleet(n: u64) -> impl Iterator<Item = (ManagerId, u32)> {
    (0..n).map(|i| (m(i), 1))
}

fn router_with(n: u64, config: RouterConfig) -> (Router<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let router = Router::builder()
        .config(config)
        .managers(fleet(n))
        .clock(clock.clone())
        .build()
        .unwrap();
    (router, clock)
}

fn router(n: u64) -> (Router<ManualClock>, ManualClock) {
    router_with(n, RouterConfig::default())
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Fleet size and weights at their limits
// ---------------------------------------------------------------------------------------------

#[test]
fn too_many_managers_is_rejected_before_the_list_is_collected() {
    // Collecting `0..u64::MAX` would overflow a Vec's capacity: an error proves it was not.
    let endless = || (0..u64::MAX).map(|i| (m(i), 1));
    let too_many = Error::TooManyManagers {
        count: usize::MAX,
        max: MAX_MANAGERS,
    };
    assert_eq!(
        Ring::new(RingConfig::default(), endless()).unwrap_err(),
        too_many
    );
    assert_eq!(
        Router::builder().managers(endless()).build().unwrap_err(),
        too_many
    );
    let (r, _) = router(3);
    assert_eq!(r.set_managers(endless()).unwrap_err(), too_many);
    assert_eq!(r.generation(), 1, "an error publishes nothing");

    // One past the limit, counted exactly, and across two calls of the builder.
    let one_over = (0..=MAX_MANAGERS as u64).map(|i| (m(i), 1));
    assert_eq!(
        Ring::new(RingConfig::default(), one_over).unwrap_err(),
        Error::TooManyManagers {
            count: MAX_MANAGERS + 1,
            max: MAX_MANAGERS
        }
    );
    let built = Router::builder()
        .managers(fleet(2))
        .managers((2..=MAX_MANAGERS as u64).map(|i| (m(i), 1)))
        .build();
    assert_eq!(
        built.unwrap_err(),
        Error::TooManyManagers {
            count: MAX_MANAGERS + 1,
            max: MAX_MANAGERS
        },
        "counted over both calls"
    );
}

// ---------------------------------------------------------------------------------------------
// ArcAssigner with extreme configs
// ---------------------------------------------------------------------------------------------

fn assign(per: u32, min_reserved: u32, target: u32, min_unreserved: u32) -> AssignConfig {
    let mut c = AssignConfig::default();
    c.reserved_per_manager = nz(per);
    c.min_reserved_arc = nz(min_reserved);
    c.target_per_manager = nz(target);
    c.min_unreserved_arc = nz(min_unreserved);
    c
}

#[test]
fn shrink_threshold_of_the_widest_arc_does_not_overflow() {
    // Regression (found by fuzzing): target × (len − 1) × percent overflowed u64.
    let mut c = assign(1, 1, u32::MAX, 1);
    c.shrink_below_percent = 100;
    c.shrink_delay = Duration::ZERO;
    let a = ArcAssigner::new(c).unwrap();
    let widest = ArcState {
        len: u32::MAX,
        below_since: Some(Duration::ZERO),
    };
    let next = a.unreserved(widest, 0, Duration::ZERO, u32::MAX);
    assert_eq!(next.len, u32::MAX - 1, "load 0 is under any threshold");
    let next = a.unreserved(widest, u32::MAX, Duration::ZERO, u32::MAX);
    assert_eq!(
        next.len,
        u32::MAX - 1,
        "one call per manager is still far under"
    );
}
