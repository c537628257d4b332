//! Edge values: the largest and smallest numbers, durations and fleets a host can pass, and
//! what the crate does with each (a typed error, or the saturation its docs state). Memory
//! stays small: every limit here is rejected before anything is allocated for it.

use std::num::NonZeroU32;
use std::time::Duration;

use arcroute::{ArcAssigner, ArcState, AssignConfig};

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
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
