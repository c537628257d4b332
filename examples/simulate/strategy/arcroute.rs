//! arcroute itself: one `Router` per frontend, run as a host runs it: the host's reservation
//! protocol, the managers' load reports, and a periodic sweep of idle live state.

use std::collections::HashMap;
use std::time::Duration;

use arcroute::{Counting, Frontends, ManualClock, Reservation, Router, RouterConfig, TaskId};

use super::{fleet_ids, id, index, Feedback, Setup, Strategy, Ticket, Tried};
use crate::fleet::Fleet;
use crate::report::Routing;
use crate::scenario::CountMode;

/// arcroute: one [`Router`] per frontend, each configured as frontend `i` of `n` so that it
/// admits an even share of every reservation's ready environments, plus the provisioning
/// side's router, which places them.
///
/// Every router holds the same `Reservation::new(envs, envs)` and sizes the same reserved
/// arc; a frontend may go past its share (up to `envs`) by the sibling rule while the host
/// reports reserved environments idle (`--busy-rule on`), and under global counting
/// (`--counting global`) it counts against the fleet-wide count the host's counting service
/// last reported.
///
/// As a host runs it, too: every `--load-report-ms` (the period CH-RLU's reports have) each
/// router gets each manager's load from [`Router::report_load`]: its calls running plus its
/// idle reserved environments (capacity held for reserved calls, which may start on it at
/// any moment, as the crate's docs advise), which the
/// least-loaded pick reads (`--pick`; the crate's default pick otherwise), with the
/// managers' cores as [`RouterConfig::load_floor`] (a manager running no more calls than
/// cores slows none of them, so the pick's load bound never passes it over); and at each of
/// the host's housekeeping ticks ([`Strategy::host_tick`], every
/// [`crate::engine::HOST_TICK_MS`] of simulated time) the frontends' routers sweep idle live
/// state with [`Router::evict_idle`], so a function quiet for the router's idle TTL starts
/// again from its minimum arc.
pub(super) struct ArcRoute {
    routers: Vec<Router<ManualClock>>,
    provisioner: Router<ManualClock>,
    clock: ManualClock,
    tasks: Vec<TaskId>,
    /// The reserved functions, in the order they were given.
    reserved: Vec<u32>,
    /// Host → router report entries (busy fractions, global counts), one per task and router.
    reports: u64,
    /// Router → host counts for the counting service, one per task and router.
    uploads: u64,
}

impl ArcRoute {
    pub(super) fn new(s: &Setup<'_>) -> Result<Self, arcroute::Error> {
        let sim = s.sim;
        let clock = ManualClock::new();
        let mut config = RouterConfig::default();
        config.assign.reserved_per_manager = s.reserved_per_manager;
        config.load_floor = sim.cores;
        if let Some(target) = sim.arc_target {
            config.assign.target_per_manager = target;
        }
        if !sim.busy_rule {
            config.busy_threshold = 0.0;
        }
        if let Some(pick) = sim.pick {
            config.pick = pick.pick();
        }
        if sim.counting == CountMode::Global {
            // A report stays trusted for three periods: one late or lost report does not
            // drop a router back to its local share.
            config.counting = Counting::Global {
                ttl: Duration::from_millis(sim.count_report_ms.saturating_mul(3)),
            };
        }
        // The command line bounds the frontends far below `u32::MAX`; saturating keeps
        // the library's own check in charge of anything larger.
        let n = u32::try_from(sim.frontends).unwrap_or(u32::MAX);
        let router = |index: u32| {
            let mut config = config;
            config.frontends = Frontends::new(index, n)?;
            Router::builder()
                .config(config)
                .seed(sim.seed)
                .managers(fleet_ids(s.fleet))
                .clock(clock.clone())
                .build()
        };
        let routers = (0..n).map(router).collect::<Result<Vec<_>, _>>()?;
        let provisioner = router(0)?;
        for &(f, envs) in s.reservations {
            let task = s.tasks[f as usize];
            for router in routers.iter().chain([&provisioner]) {
                router.put_reservation(task, Reservation::new(envs, envs));
            }
        }
        Ok(Self {
            routers,
            provisioner,
            clock,
            tasks: s.tasks.to_vec(),
            reserved: s.reservations.iter().map(|&(f, _)| f).collect(),
            reports: 0,
            uploads: 0,
        })
    }

    /// Every router: the frontends' and the provisioning side's.
    fn all(&self) -> impl Iterator<Item = &Router<ManualClock>> {
        self.routers.iter().chain([&self.provisioner])
    }
}

impl Strategy for ArcRoute {
    fn route(&mut self, frontend: usize, f: u32, now: u64, _: &Fleet) -> Option<Ticket> {
        self.clock.set(Duration::from_millis(now));
        let route = self.routers[frontend].route(self.tasks[f as usize])?;
        let manager = index(route.manager());
        Some(Ticket {
            manager,
            frontend,
            route: Some(route),
            tried: Tried::default(),
            at: 0,
            held: None,
            memory_held: false,
        })
    }

    fn throttled(&mut self, ticket: &mut Ticket, _: u32, _: &Fleet) -> bool {
        let Some(route) = ticket.route.as_mut() else {
            return false;
        };
        if !self.routers[ticket.frontend].on_throttle(route) {
            return false;
        }
        ticket.manager = index(route.manager());
        true
    }

    fn membership_changed(&mut self, fleet: &Fleet) -> Result<(), arcroute::Error> {
        for router in self.all() {
            router.set_managers(fleet_ids(fleet))?;
        }
        Ok(())
    }

    fn reserved_placement(&self, f: u32, _: u32, _: &Fleet) -> Vec<(usize, u32)> {
        self.provisioner
            .reserved_arc(self.tasks[f as usize])
            .into_iter()
            .map(|slot| (index(slot.manager), slot.environments))
            .collect()
    }

    fn placement(&self, f: u32, _: &Fleet) -> Vec<usize> {
        let task = self.tasks[f as usize];
        let reserved = self
            .provisioner
            .reserved_arc(task)
            .into_iter()
            .map(|s| s.manager);
        let unreserved = self
            .routers
            .iter()
            .flat_map(|r| r.unreserved_arc(task.into()));
        let mut all: Vec<usize> = reserved.chain(unreserved).map(index).collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    fn load_report(&mut self, fleet: &Fleet, now: u64) -> Result<(), arcroute::Error> {
        self.clock.set(Duration::from_millis(now));
        let loads: Vec<(usize, u32)> = fleet
            .alive()
            .iter()
            .map(|&m| (m, fleet.managers[m].busy + fleet.pinned_idle(m)))
            .collect();
        for router in &self.routers {
            for &(m, load) in &loads {
                router.report_load(id(m), load)?;
            }
        }
        Ok(())
    }

    fn host_tick(&mut self, _: &Fleet, now: u64) -> Result<(), arcroute::Error> {
        self.clock.set(Duration::from_millis(now));
        for router in &self.routers {
            router.evict_idle();
        }
        Ok(())
    }

    fn feedback(&mut self) -> Option<&mut dyn Feedback> {
        Some(self)
    }
}

impl Feedback for ArcRoute {
    fn provisioned(&mut self, f: u32, placed: u32) {
        let task = self.tasks[f as usize];
        for router in &self.routers {
            router.put_reservation(task, Reservation::new(placed, placed));
        }
    }

    fn report_busy(
        &mut self,
        fleet: &Fleet,
        pinned: &HashMap<u32, Vec<(usize, u32)>>,
        now: u64,
    ) -> Result<(), arcroute::Error> {
        self.clock.set(Duration::from_millis(now));
        for (&f, places) in pinned {
            let (total, busy) = places.iter().fold((0, 0), |(t, b), &(m, _)| {
                let (pt, pb) = fleet.pinned(m, f);
                (t + pt, b + pb)
            });
            if total == 0 {
                continue;
            }
            let fraction = busy as f32 / total as f32;
            for router in &self.routers {
                router.report_reserved_busy(self.tasks[f as usize], fraction)?;
            }
            self.reports += self.routers.len() as u64;
        }
        Ok(())
    }

    fn report_counts(&mut self, now: u64) -> Result<(), arcroute::Error> {
        self.clock.set(Duration::from_millis(now));
        for &f in &self.reserved {
            let task = self.tasks[f as usize];
            if self.routers[0].reservation(task).is_none() {
                continue; // cut to 0 and drained: nothing left to count
            }
            let total: u32 = self
                .routers
                .iter()
                .map(|r| r.reserved_in_flight(task))
                .sum();
            for router in &self.routers {
                router.report_reserved_in_flight(task, total)?;
            }
            self.uploads += self.routers.len() as u64;
            self.reports += self.routers.len() as u64;
        }
        Ok(())
    }

    fn cut(&mut self, f: u32, limit: u32) {
        let task = self.tasks[f as usize];
        for router in self.all() {
            router.set_reservation(task, limit);
        }
    }

    fn set_ready(&mut self, f: u32, ready: u32) {
        let task = self.tasks[f as usize];
        for router in self.all() {
            // A reservation cut to 0 whose last environment went is gone: nothing to set.
            let _ = router.set_ready(task, ready);
        }
    }

    fn reserved_count(&self, f: u32) -> (u32, u32) {
        let task = self.tasks[f as usize];
        let ready = self.routers[0].reservation(task).map_or(0, |r| r.ready);
        let in_flight = self
            .routers
            .iter()
            .map(|r| r.reserved_in_flight(task))
            .sum();
        (in_flight, ready)
    }

    fn routing(&self) -> Routing {
        let mut r = Routing {
            reports: self.reports,
            uploads: self.uploads,
            ..Routing::default()
        };
        for router in &self.routers {
            let s = router.stats();
            r.routed_reserved += s.routes_reserved;
            r.spilled += s.spillovers;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::Tiny;
    use super::*;

    fn live(s: &ArcRoute) -> u64 {
        s.routers.iter().map(|r| r.stats().live_entries).sum()
    }

    #[test]
    fn a_manager_full_of_idle_reserved_environments_is_reported_full() {
        let mut t = Tiny::new(4, 1, &[100.0, 100.0]);
        let mut s = ArcRoute::new(&t.setup()).unwrap();
        // Function 0's first member, as its router places the call with no load reported.
        let home = s.route(0, 0, 0, &t.fleet).unwrap().manager;
        // Another function's reserved environments fill that manager's cores (16), idle.
        let cores = t.sim.cores;
        assert_eq!(t.fleet.pin(home, 1, cores, 0), cores);
        s.load_report(&t.fleet, 1).unwrap();
        // The report counts them: the member is at the floor (its cores) and passed over.
        let next = s.route(0, 0, 2, &t.fleet).unwrap().manager;
        assert_ne!(next, home);
    }

    #[test]
    fn the_host_tick_sweeps_idle_live_state_and_routes_do_not() {
        let t = Tiny::new(8, 2, &[100.0]);
        let mut s = ArcRoute::new(&t.setup()).unwrap();
        drop(s.route(0, 0, 0, &t.fleet));
        assert_eq!(live(&s), 1);
        let ttl = RouterConfig::default().idle_ttl.as_millis() as u64;
        // A route long past the TTL sweeps nothing: only the host's tick does.
        drop(s.route(1, 0, 2 * ttl, &t.fleet));
        assert_eq!(live(&s), 2);
        s.host_tick(&t.fleet, 2 * ttl).unwrap();
        assert_eq!(live(&s), 1, "frontend 1's state was just used");
        s.host_tick(&t.fleet, 4 * ttl).unwrap();
        assert_eq!(live(&s), 0);
    }
}
