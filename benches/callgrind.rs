//! Instruction counts of warm routes at fleet scale, for `.ci/callgrind`: sets a scenario up,
//! then routes (or looks up in pingora-ketama) `N` prepared keys of it and drops each permit.
//!
//! Usage: `callgrind SCENARIO N [MANAGERS] [--ketama | --local]`, with SCENARIO one of `one_hot`,
//! `round_robin` (1,000 tasks), `zipf` (100,000 tasks drawn Zipf(1.0)), `reserved` (1,000
//! tasks within their reservations), `live_1m` (a million live tasks, one call of each in
//! flight) and `first_route` (new tasks among that million), and MANAGERS 1,000 unless given.
//! `--ketama` looks the same keys up in a pingora-ketama ring of as many managers instead;
//! `--local` routes them through one [`arcroute::LocalRouter`] instead of the shared router.
//!
//! The setup does not depend on `N` (every key set is prepared at its full size first), and
//! the router is left to the process's exit rather than dropped (dropping it would free the
//! states that `N` first routes made: teardown that grows with `N`), so two runs under
//! `valgrind --tool=callgrind` with different `N` differ by exactly `N`'s calls:
//! instructions per call are the difference of the totals over the difference of the `N`s.
//! Run without arguments (as `cargo bench` does) it prints this usage and exits.

use std::hint::black_box;
use std::process::ExitCode;

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "keys/mod.rs"]
mod keys;
use keys::Keys;

/// New tasks prepared for `first_route`: the largest `N` it takes.
const FRESH: u32 = 400_000;

fn usage() -> ExitCode {
    eprintln!(
        "usage: callgrind SCENARIO N [MANAGERS] [--ketama | --local]\n  SCENARIO: one_hot, round_robin, \
         zipf, reserved, live_1m, first_route"
    );
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ketama = args.iter().any(|a| a == "--ketama");
    let local = args.iter().any(|a| a == "--local");
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (scenario, calls, managers) = match args[..] {
        [s, n] => (s, n, "1000"),
        [s, n, m] => (s, n, m),
        _ => return usage(),
    };
    let (Ok(calls), Ok(managers)) = (calls.parse::<u64>(), managers.parse::<u64>()) else {
        return usage();
    };
    let keys = match scenario {
        "one_hot" => Keys::round_robin(0, 1),
        "round_robin" | "reserved" => Keys::round_robin(0, 1_000),
        "zipf" => Keys::zipf(100_000, 12),
        "live_1m" => Keys::round_robin(0, 1_000_000),
        "first_route" => Keys::round_robin(1_000_000, FRESH),
        _ => return usage(),
    };
    if scenario == "first_route" && calls > u64::from(FRESH) {
        eprintln!("first_route takes at most {FRESH} calls");
        return ExitCode::FAILURE;
    }
    let mut next = keys.cycle();
    if ketama {
        let ring = keys::ketama(managers);
        for _ in 0..calls {
            black_box(ring.node_idx(black_box(keys.name(next()))));
        }
        return ExitCode::SUCCESS;
    }
    match scenario {
        "live_1m" | "first_route" => {
            let live = Keys::round_robin(0, 1_000_000);
            let (router, _clock, held) = keys::live_router(managers, &live);
            route_all(&router, local, calls, || keys.ids[next()]);
            drop(held);
            // Left to the process's exit: dropping the router would free every state the
            // calls made, about 225 instructions a state, which would count as part of each
            // first route. A state is freed by whatever evicts it once idle (`evict_idle`, or
            // a later first route's sweep of a few buckets); this clock stands still, so the
            // routes here evict none, and the timed benchmark evicts its new tasks outside its
            // timing. BENCHMARKS.md gives the count with the freeing too.
            std::mem::forget(router);
        }
        _ => {
            let router = if scenario == "reserved" {
                keys::reserved_router(managers, &keys)
            } else {
                let router = support::router(managers);
                keys::warm(&router, &keys);
                router
            };
            route_all(&router, local, calls, || keys.ids[next()]);
        }
    }
    ExitCode::SUCCESS
}

/// Routes `calls` tasks drawn from `next` on `router` (through one handle if `local`),
/// dropping each permit at once.
fn route_all<C: arcroute::Clock>(
    router: &arcroute::Router<C>,
    local: bool,
    calls: u64,
    mut next: impl FnMut() -> arcroute::TaskId,
) {
    if local {
        let mut handle = router.local();
        for _ in 0..calls {
            black_box(handle.route(black_box(next())));
        }
    } else {
        for _ in 0..calls {
            black_box(router.route(black_box(next())));
        }
    }
}
