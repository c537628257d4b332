//! Arc sizing: `ArcAssigner::unreserved` over random load traces (grow at once, shrink to
//! the load after the delay), and throttles that leave the arc to the load.

use std::time::Duration;

use arcroute::{ArcAssigner, ArcState, ManualClock, Route, Router, TaskId};
use proptest::prelude::*;

use crate::support::{nz, proptest_config, spread, spread_fleet};

// ---------------------------------------------------------------------------------------------
// 10: arc hysteresis (`model.rs` trusts `ArcAssigner`; this checks it on its own)
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(proptest_config(256))]

    /// Property 10: `ArcAssigner::unreserved` over a random load trace: the arc is at once at least
    /// `ceil(load / target)` (clamped to `min..=healthy`), never grows past what load asks,
    /// and shrinks only after load stayed under the lower threshold for `shrink_delay` since
    /// it went under (the timer starting again after each shrink), then straight to what the
    /// shrinking call's load needs.
    #[test]
    fn arcs_grow_at_once_and_shrink_to_the_load_after_the_delay(
        target in 1u32..=8,
        percent in 0u32..=100,
        delay_s in 0u64..=30,
        healthy in 1u32..=40,
        trace in prop::collection::vec((0u32..=120, 0u64..=20), 1..80),
    ) {
        let mut c = arcroute::AssignConfig::default();
        c.target_per_manager = nz(target);
        c.shrink_below_percent = percent;
        c.shrink_delay = Duration::from_secs(delay_s);
        let a = ArcAssigner::new(c).unwrap();
        let delay = Duration::from_secs(delay_s);
        let mut state = ArcState { len: 1, below_since: None };
        let mut now = Duration::ZERO;
        // Start of the current run of "below the threshold" since the last shrink.
        let mut below_from: Option<Duration> = None;
        for (load, dt) in trace {
            now += Duration::from_secs(dt);
            let wanted = load.div_ceil(target).max(1);
            let below = state.len > 1
                && u64::from(load) * 100
                    < u64::from(target) * u64::from(state.len - 1) * u64::from(percent);
            if !below || wanted > state.len {
                below_from = None;
            } else if below_from.is_none() {
                below_from = Some(now);
            }
            let next = a.unreserved(state, load, now, healthy);
            prop_assert!(next.len >= wanted.min(healthy), "grows at once");
            prop_assert!(next.len <= state.len.max(wanted).min(healthy), "never past the load");
            prop_assert!(next.len >= 1, "at least the minimum");
            if next.len < state.len.min(healthy) {
                prop_assert_eq!(next.len, wanted.min(healthy), "straight to what load needs");
                prop_assert_eq!(next.below_since, None, "the timer starts again");
                prop_assert!(below, "shrinks only under the threshold");
                let since = below_from.unwrap();
                prop_assert!(now - since >= delay, "shrank after {:?} < {:?}", now - since, delay);
                below_from = None;
            } else if below && state.len <= healthy {
                prop_assert_eq!(next.len, state.len, "no shrink before the delay");
            }
            state = next;
            let t = a.throttled(state, healthy);
            prop_assert_eq!(t.len, (state.len + 1).min(healthy));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regression: a throttle leaves the arc alone; a clamp to the healthy count is a shrink
// ---------------------------------------------------------------------------------------------

/// `on_throttle` on an unreserved arc longer than the healthy count moves the call without
/// touching the arc (no grow, no shrink: the arc's length follows the load alone). The next
/// route clamps the arc down to the healthy count, and that counts as a shrink, not a grow
/// (an earlier version counted every length change on throttle as a grow).
#[test]
fn throttle_leaves_the_arc_and_a_clamp_counts_a_shrink() {
    let router = Router::builder()
        .managers(spread_fleet(4))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let t = TaskId::new(1);
    // 32 in flight at 8 per manager: an arc of 4.
    let mut held: Vec<Route> = (0..32).map(|_| router.route(t).unwrap()).collect();
    assert_eq!(router.unreserved_arc(t.into()).len(), 4);
    router.set_health(spread(0), false).unwrap();
    router.set_health(spread(1), false).unwrap();
    let before = router.stats();
    assert!(router.on_throttle(&mut held[0]));
    assert!(router.is_healthy(held[0].manager()));
    let after = router.stats();
    assert_eq!(
        (
            after.arc_grows - before.arc_grows,
            after.arc_shrinks - before.arc_shrinks
        ),
        (0, 0),
        "a throttle neither widens nor shortens the arc"
    );
    held.push(router.route(t).unwrap());
    let after = router.stats();
    // The live arc went from 4 to the 2 healthy managers.
    assert_eq!(router.unreserved_arc(t.into()).len(), 2);
    assert_eq!(
        (
            after.arc_grows - before.arc_grows,
            after.arc_shrinks - before.arc_shrinks
        ),
        (0, 1),
        "a route that clamps the arc shorter is a shrink, not a grow"
    );
}
