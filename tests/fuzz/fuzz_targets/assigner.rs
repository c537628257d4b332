//! `ArcAssigner` with any config and any numbers, and `Reservation` values: no panic, and
//! every result within the bounds its docs state.

#![no_main]

use arbitrary::Arbitrary;
use arcroute::{ArcAssigner, ArcState, AssignConfig, Error, Reservation};
use arcroute_fuzz::{Num, Sizing, Span};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    sizing: Sizing,
    calls: Vec<Call>,
}

#[derive(Arbitrary, Debug)]
enum Call {
    ReservedLen {
        limit: Num,
        ready: Num,
        healthy: Num,
    },
    Environments {
        limit: Num,
        len: Num,
        slot: Num,
    },
    ReservedSlot {
        limit: Num,
        len: Num,
        call: Num,
    },
    Unreserved {
        len: Num,
        below_since: Option<Span>,
        load: Num,
        now: Span,
        healthy: Num,
    },
    Throttled {
        len: Num,
        below_since: Option<Span>,
        healthy: Num,
    },
    Reservation {
        limit: Num,
        ready: Num,
    },
}

fuzz_target!(|input: Input| {
    let config = input.sizing.config();
    let assigner = match ArcAssigner::new(config) {
        Ok(a) => a,
        Err(Error::InvalidConfig { .. }) => {
            assert!(config.shrink_below_percent > 100);
            return;
        }
        Err(other) => panic!("unexpected {other:?}"),
    };
    assert!(config.shrink_below_percent <= 100);
    assert_eq!(assigner.config(), config);
    for call in input.calls {
        check(&assigner, &config, call);
    }
});

fn check(a: &ArcAssigner, c: &AssignConfig, call: Call) {
    match call {
        Call::ReservedLen {
            limit,
            ready,
            healthy,
        } => {
            let (limit, ready, healthy) = (limit.get(), ready.get(), healthy.get());
            let len = a.reserved_len(limit, ready, healthy);
            let want = limit.max(ready);
            if want == 0 {
                assert_eq!(len, 0);
            } else {
                let sized = want
                    .div_ceil(c.reserved_per_manager.get())
                    .max(c.min_reserved_arc.get());
                assert_eq!(len, sized.min(healthy));
            }
        }
        Call::Environments { limit, len, slot } => {
            let (limit, len, slot) = (limit.get(), len.get(), slot.get());
            let envs = a.environments_at(limit, len, slot);
            if slot >= len {
                assert_eq!(envs, 0);
            } else {
                assert!(envs == limit / len || envs == limit / len + 1);
                // The split is even and front-loaded: slot 0 holds at least as many.
                assert!(a.environments_at(limit, len, 0) >= envs);
            }
        }
        Call::ReservedSlot { limit, len, call } => {
            let (limit, len, call) = (limit.get(), len.get(), call.get());
            let slot = a.reserved_slot(limit, len, call);
            if len == 0 {
                assert_eq!(slot, 0);
            } else {
                assert!(slot < len, "slot {slot} of {len}");
                if limit > 0 {
                    assert!(
                        a.environments_at(limit, len, slot) > 0,
                        "a call sent to a slot without environments"
                    );
                }
            }
        }
        Call::Unreserved {
            len,
            below_since,
            load,
            now,
            healthy,
        } => {
            let current = ArcState {
                len: len.get(),
                below_since: below_since.map(Span::get),
            };
            let (load, healthy) = (load.get(), healthy.get());
            let next = a.unreserved(current, load, now.get(), healthy);
            let wanted = load
                .div_ceil(c.target_per_manager.get())
                .max(c.min_unreserved_arc.get());
            assert!(next.len <= healthy);
            assert!(next.len >= wanted.min(healthy), "grows at once");
            if next.len < current.len.min(healthy) {
                assert_eq!(next.len, wanted.min(healthy), "shrinks straight to the load");
                assert_eq!(next.below_since, None, "the timer starts again");
                assert!(current.below_since.is_some(), "only after the delay ran");
            }
            assert!(next.len >= c.min_unreserved_arc.get().min(healthy));
            if wanted > current.len {
                assert_eq!(next.below_since, None);
            }
        }
        Call::Throttled {
            len,
            below_since,
            healthy,
        } => {
            let current = ArcState {
                len: len.get(),
                below_since: below_since.map(Span::get),
            };
            let next = a.throttled(current, healthy.get());
            assert_eq!(next.len, current.len.saturating_add(1).min(healthy.get()));
            assert_eq!(next.below_since, None);
        }
        Call::Reservation { limit, ready } => {
            let r = Reservation::new(limit.get(), ready.get());
            assert_eq!(r.is_draining(), r.limit < r.ready);
            assert_eq!(r.environments(), r.limit.max(r.ready));
        }
    }
}
