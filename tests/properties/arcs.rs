//! Arc sizing: `ArcAssigner::unreserved` over random load traces (grow at once, shrink one
//! step per delay), and a throttle that clamps an arc shorter counting a shrink.

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
    /// shrinks one manager at a time, and only after load stayed under the lower threshold
    /// for `shrink_delay` since it went under, and since the previous shrink.
    #[test]
    fn arcs_grow_at_once_and_shrink_one_step_per_delay(
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
        // Start of the current run of "below the threshold", and the last shrink.
        let mut below_from: Option<Duration> = None;
        let mut last_shrink: Option<Duration> = None;
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
                prop_assert_eq!(next.len, state.len - 1, "one step at a time");
                prop_assert!(below, "shrinks only under the threshold");
                let since = below_from.unwrap().max(last_shrink.unwrap_or(Duration::ZERO));
                prop_assert!(now - since >= delay, "shrank after {:?} < {:?}", now - since, delay);
                last_shrink = Some(now);
            }
            if next.len > state.len {
                last_shrink = None;
            }
            state = next;
            let t = a.throttled(state, healthy);
            prop_assert_eq!(t.len, (state.len + 1).min(healthy));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regression: a throttle that clamps an arc shorter counts a shrink
// ---------------------------------------------------------------------------------------------

/// `on_throttle` on an unreserved arc longer than the healthy count clamps the arc down to the
/// healthy count. The arc lost managers, so it counts as a shrink, not a grow (an earlier
/// version counted every length change on throttle as a grow).
#[test]
fn throttle_that_shortens_an_arc_counts_a_shrink() {
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
    let after = router.stats();
    // The live arc went from 4 to 2 managers.
    assert_eq!(router.unreserved_arc(t.into()).len(), 2);
    assert_eq!(
        (
            after.arc_grows - before.arc_grows,
            after.arc_shrinks - before.arc_shrinks
        ),
        (0, 1),
        "a throttle that shortens the arc is a shrink, not a grow"
    );
}
