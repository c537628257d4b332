//! What a route costs in an outage: with one of N managers healthy, every arc walks the ring
//! to that manager's nearest point, about P / (its points) points. The default run checks
//! the route lands there on a small fleet; the figure in the crate's Pitfalls comes from the
//! full run, 1 million managers in release:
//!
//! ```text
//! cargo test --release --test outage -- --ignored --nocapture
//! ```

mod support;

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use arcroute::{FleetConfig, ManagerId, Router, TaskId};

/// A router over `n` managers of weight 1, `vnodes` points each, only the last healthy.
fn one_healthy(n: u64, vnodes: u32) -> (Router, ManagerId) {
    let mut fleet = FleetConfig::new(1);
    fleet.vnodes_per_weight = NonZeroU32::new(vnodes).unwrap();
    for i in 0..n {
        fleet = fleet.with_manager(ManagerId::new(i), 1, i == n - 1);
    }
    let router = Router::from_fleet_config(&fleet).expect("a valid fleet");
    (router, ManagerId::new(n - 1))
}

/// Routes `tasks` distinct tasks (each its first route, then a warm one) and returns the
/// mean and worst time of the warm routes.
fn route_through(router: &Router, healthy: ManagerId, tasks: u128) -> (Duration, Duration) {
    let (mut total, mut worst) = (Duration::ZERO, Duration::ZERO);
    for t in 0..tasks {
        let task = TaskId::new(t);
        let first = router.route(task).expect("one manager is healthy");
        assert_eq!(first.manager(), healthy);
        drop(first);
        let started = Instant::now();
        let route = router.route(task).expect("one manager is healthy");
        let took = started.elapsed();
        assert_eq!(route.manager(), healthy);
        total += took;
        worst = worst.max(took);
    }
    (total / tasks as u32, worst)
}

#[test]
fn with_one_manager_healthy_every_route_walks_to_it() {
    let (router, healthy) = one_healthy(2_000, 16);
    route_through(&router, healthy, 200);
}

#[test]
#[ignore = "a 16-million-point ring: run in release, see the file's docs"]
fn outage_cost_at_a_million_managers() {
    for (n, vnodes) in [(1_000_000u64, 16u32), (100_000, 160)] {
        let started = Instant::now();
        let (router, healthy) = one_healthy(n, vnodes);
        let built = started.elapsed();
        let (mean, worst) = route_through(&router, healthy, 1_000);
        println!(
            "{n} managers x {vnodes} points, 1 healthy (built in {:.1} s): a warm route takes \
             {:.2} ms on average, {:.2} ms at worst (1,000 tasks)",
            built.as_secs_f64(),
            mean.as_secs_f64() * 1e3,
            worst.as_secs_f64() * 1e3
        );
    }
}
