//! The replay: one strategy on one platform, driven by one queue of [`Event`]s in time
//! order, one method per event.
//!
//! Calls are read in order from the workload: only the next arrival sits in the queue, so
//! the queue holds the calls running, the next arrival and the host's timers. At equal
//! times events run in the order of [`Event`]'s variants: calls end, membership changes,
//! load samples, the host's reports and tick, the cut and its window, the drain, retries,
//! then the arrival.
//!
//! A call's response time runs from its arrival to its end: each throttle on the way costs
//! a round trip (`retry_ms`) before the call is offered to the next manager, and on a
//! manager running more calls than it has cores the call runs slower (see [`crate::cpu`]).
//! Its service time is its duration plus, when it cold-starts, the cold start, which is CPU
//! work (booting the runtime and loading the code compete for the manager's cores).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroU32;
use std::ops::Range;
use std::time::Instant;

use arcroute::TaskId;
use rand::Rng as _;

use crate::cpu::{Completion, Cpu};
use crate::fleet::{Fleet, Start};
use crate::host::{self, Host};
use crate::progress::Progress;
use crate::report::{self, StrategyResult, Window};
use crate::rng::{self, SimRng};
use crate::scenario::{CountMode, CutMode, SimConfig, CUT_WINDOW_MS};
use crate::strategy::{self, Setup, Strategy, StrategyKind, Ticket};
use crate::workload::Workload;

/// How often a draining host looks for excess reserved environments to tear down.
const DRAIN_TICK_MS: u64 = 1000;

/// How often the busiest manager's load is sampled.
const SAMPLE_MS: u64 = 1000;

/// How often the host acts on its routers' idle state (arcroute's `Router::evict_idle`), as
/// a host's housekeeping timer would: a minute, a tenth of the crate's default idle TTL (a
/// quiet function's state then goes by the TTL plus two ticks at the latest).
pub const HOST_TICK_MS: u64 = 60_000;

/// Calls counted between updates of the progress bar.
const PROGRESS_BLOCK: u64 = 4096;

/// What happens at one instant. Ordered for equal times as the variants are listed (then by
/// their fields: calls end in slot order, arrivals in workload order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The call in `running[slot]` is done, unless its manager's calls changed since the
    /// event was stamped (see [`crate::cpu`]).
    End { slot: usize, stamp: u64 },
    /// The `index`-th membership change of the platform.
    Membership { index: usize },
    /// Sample the busiest manager's load.
    Sample,
    /// The host reports each reservation's busy fraction (the sibling rule).
    BusyReport,
    /// The managers' load reports reach the routers (CH-RLU's and arcroute's).
    LoadReport,
    /// The host's counting service reports the global counts.
    CountReport,
    /// The host's housekeeping tick ([`Strategy::host_tick`]).
    HostTick,
    /// The reservation cut.
    Cut,
    /// The end of the window after the cut.
    WindowEnd,
    /// A draining host's look for idle excess environments.
    Drain,
    /// The call in `retrying[slot]` is offered to its next manager, a round trip after the
    /// last one throttled it.
    Retry { slot: usize },
    /// The workload's `index`-th call arrives.
    Arrival { index: usize },
    /// The end of the replay.
    Finish,
}

/// One call running: where, which function, whether on a pinned environment, when it
/// arrived, the core time it needs, and the strategy's ticket (arcroute's permit).
struct Running {
    manager: usize,
    function: u32,
    pinned: bool,
    arrived_ms: u64,
    service_ms: u64,
    _ticket: Ticket,
}

/// One call between a throttle and its next offer.
struct Retrying {
    call: Offer,
    ticket: Ticket,
}

/// What an offer of a call to a manager needs to know about the call.
#[derive(Clone, Copy)]
struct Offer {
    /// The workload's index of the call.
    index: usize,
    arrived_ms: u64,
    /// Whether its function's concurrency was within its reservation (`None`: none).
    within: Option<bool>,
    in_window: bool,
    /// Throttles so far.
    retries: u32,
}

/// Slots reused as they empty: the calls running, the calls between retries.
struct Slots<T> {
    items: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Slots<T> {
    fn new() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, item: T) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.items[slot] = Some(item);
                slot
            }
            None => {
                self.items.push(Some(item));
                self.items.len() - 1
            }
        }
    }

    fn get(&self, slot: usize) -> Option<&T> {
        self.items.get(slot).and_then(Option::as_ref)
    }

    fn take(&mut self, slot: usize) -> Option<T> {
        let item = self.items.get_mut(slot).and_then(Option::take);
        if item.is_some() {
            self.free.push(slot);
        }
        item
    }
}

/// The cut's window as it is measured.
#[derive(Default)]
struct CutWindow {
    /// The window's span, in ms (empty without a cut).
    span: Range<u64>,
    window: Window,
    gb_at_cut: f64,
    spilled_at_cut: Option<u64>,
}

/// Replays `w` through strategy `kind` on the platform `sim`.
///
/// # Errors
/// The library's refusal of the fleet, the frontends or a host report.
pub fn simulate(
    kind: StrategyKind,
    w: &Workload,
    tasks: &[TaskId],
    reservations: &[(u32, u32)],
    sim: &SimConfig,
    progress: &Progress,
) -> Result<StrategyResult, arcroute::Error> {
    let started = Instant::now();
    let mut engine = Engine::new(kind, w, tasks, reservations, sim, progress)?;
    while let Some(Reverse((now, event))) = engine.queue.pop() {
        match event {
            Event::End { slot, stamp } => engine.on_end(slot, stamp, now),
            Event::Membership { index } => engine.on_membership(index, now)?,
            Event::Sample => engine.on_sample(now),
            Event::BusyReport => engine.on_busy_report(now)?,
            Event::LoadReport => engine.on_load_report(now)?,
            Event::CountReport => engine.on_count_report(now)?,
            Event::HostTick => engine.on_host_tick(now)?,
            Event::Cut => engine.on_cut(now),
            Event::WindowEnd => engine.on_window_end(now),
            Event::Drain => engine.on_drain(now),
            Event::Retry { slot } => engine.on_retry(slot, now),
            Event::Arrival { index } => engine.on_arrival(index, now),
            Event::Finish => break,
        }
    }
    let mut r = engine.finish();
    r.wall_seconds = started.elapsed().as_secs_f64();
    Ok(r)
}

/// The state of one replay.
struct Engine<'a> {
    w: &'a Workload,
    sim: &'a SimConfig,
    progress: &'a Progress,
    fleet: Fleet,
    /// The pooled floor: the managers its one pool stands for now.
    pool_of: Option<usize>,
    strat: Box<dyn Strategy>,
    host: Host,
    queue: BinaryHeap<Reverse<(u64, Event)>>,
    cpu: Cpu,
    running: Slots<Running>,
    retrying: Slots<Retrying>,
    /// Each call's response time over its service time, for calls that ran.
    slowdowns: Vec<f64>,
    /// Each function's calls and cold starts.
    calls_of: Vec<u64>,
    cold_of: Vec<u64>,
    /// Calls placed or rejected, by their throttles (the last counts the bound and more).
    retries_per_call: Vec<u64>,
    /// Each function's calls running.
    in_flight: Vec<u32>,
    /// Each function's reservation now (0: none), for counting reserved calls.
    reserved_envs: Vec<u32>,
    /// Picks each call's frontend.
    frontend_rng: SimRng,
    /// The busiest manager's load over the mean, at each sample.
    ratios: Vec<f64>,
    moved_sum: f64,
    moved_events: u32,
    over_admitted: u64,
    cut: CutWindow,
    /// Calls done since the progress bar was last told.
    unreported: u64,
    end_ms: u64,
    r: StrategyResult,
}

impl<'a> Engine<'a> {
    fn new(
        kind: StrategyKind,
        w: &'a Workload,
        tasks: &[TaskId],
        reservations: &[(u32, u32)],
        sim: &'a SimConfig,
        progress: &'a Progress,
    ) -> Result<Self, arcroute::Error> {
        let memory: Vec<u64> = w.functions.iter().map(|f| u64::from(f.memory_mb)).collect();
        // The pooled floor: one manager with the whole fleet's memory and cores.
        let pool_of = (kind == StrategyKind::Pooled).then_some(sim.managers);
        let mut fleet = match pool_of {
            Some(n) => Fleet::new(1, pool_mb(sim, n), memory, sim.keep_alive_ms),
            None => Fleet::new(sim.managers, sim.memory_mb, memory, sim.keep_alive_ms),
        };
        // At most half a manager's memory of the largest reserved function's environments on
        // one manager, as a platform would configure it: arcroute's reserved arcs are sized
        // by it, and the host pins every router's reservations under the same cap.
        let largest = reservations
            .iter()
            .map(|&(f, _)| u64::from(w.functions[f as usize].memory_mb))
            .max()
            .unwrap_or(1)
            .max(1);
        let per_manager = u32::try_from(sim.memory_mb / 2 / largest).unwrap_or(u32::MAX);
        let reserved_per_manager = NonZeroU32::new(per_manager).unwrap_or(NonZeroU32::MIN);
        let mut busy_ms = vec![0u64; w.functions.len()];
        let mut calls = vec![0u64; w.functions.len()];
        for c in &w.calls {
            busy_ms[c.function as usize] += u64::from(c.duration_ms);
            calls[c.function as usize] += 1;
        }
        let warm_ms: Vec<f64> = busy_ms
            .iter()
            .zip(&calls)
            .map(|(&ms, &n)| if n == 0 { 0.0 } else { ms as f64 / n as f64 })
            .collect();
        let setup = Setup {
            fleet: &fleet,
            tasks,
            reservations,
            sim,
            reserved_per_manager,
            warm_ms: &warm_ms,
        };
        let mut strat = strategy::build(kind, &setup)?;
        let mut reserved_envs = vec![0u32; w.functions.len()];
        for &(f, n) in reservations {
            reserved_envs[f as usize] = n;
        }
        // The pooled floor's one manager is the whole fleet: no cap of one manager's.
        let cap = if pool_of.is_some() {
            u32::MAX
        } else {
            reserved_per_manager.get()
        };
        let mut host = Host::new(reservations, cap);
        let reserved_envs_placed = host.provision(&mut fleet, strat.as_mut(), 0);
        let end_ms = u64::from(w.minutes) * 60_000;
        let mut engine = Self {
            w,
            sim,
            progress,
            fleet,
            pool_of,
            strat,
            host,
            queue: BinaryHeap::new(),
            cpu: Cpu::new(pool_of.map_or(sim.cores, |n| pool_cores(sim, n))),
            running: Slots::new(),
            retrying: Slots::new(),
            slowdowns: Vec::new(),
            calls_of: vec![0; w.functions.len()],
            cold_of: vec![0; w.functions.len()],
            retries_per_call: vec![0; sim.max_retries as usize + 1],
            in_flight: vec![0; w.functions.len()],
            reserved_envs,
            frontend_rng: rng::stream(sim.seed, 7),
            ratios: Vec::new(),
            moved_sum: 0.0,
            moved_events: 0,
            over_admitted: 0,
            cut: CutWindow::default(),
            unreported: 0,
            end_ms,
            r: StrategyResult {
                name: kind.name().to_owned(),
                managers: sim.managers,
                reserved_envs_placed,
                cold_starts_per_minute: vec![0; w.minutes as usize],
                ..StrategyResult::default()
            },
        };
        engine.schedule(0, Event::Sample);
        if sim.busy_report_ms > 0 && sim.busy_rule {
            engine.schedule(0, Event::BusyReport);
        }
        if sim.load_report_ms > 0 {
            engine.schedule(0, Event::LoadReport);
        }
        if sim.counting == CountMode::Global {
            engine.schedule(0, Event::CountReport);
        }
        engine.schedule(HOST_TICK_MS, Event::HostTick);
        for (index, &(at, _)) in sim.events.iter().enumerate() {
            engine.schedule(at, Event::Membership { index });
        }
        if let Some(cut) = sim.cut {
            let window_end = cut.at_ms.saturating_add(CUT_WINDOW_MS).min(end_ms);
            engine.cut.span = cut.at_ms..window_end;
            engine.schedule(cut.at_ms, Event::Cut);
            engine.schedule(window_end, Event::WindowEnd);
        }
        if let Some(first) = w.calls.first() {
            engine.schedule(first.at_ms, Event::Arrival { index: 0 });
        }
        engine.schedule(end_ms, Event::Finish);
        Ok(engine)
    }

    fn schedule(&mut self, at: u64, event: Event) {
        self.queue.push(Reverse((at, event)));
    }

    fn on_end(&mut self, slot: usize, stamp: u64, now: u64) {
        let Some(manager) = self.running.get(slot).map(|r| r.manager) else {
            return;
        };
        let mut next = None;
        let due = Completion {
            at_ms: now,
            slot,
            stamp,
        };
        if !self.cpu.end(manager, due, now, &mut next) {
            return;
        }
        if let Some(next) = next {
            self.schedule_end(next);
        }
        let Some(done) = self.running.take(slot) else {
            return;
        };
        self.fleet
            .finish(done.manager, done.function, done.pinned, now);
        self.in_flight[done.function as usize] -= 1;
        let response = (now - done.arrived_ms) as f64;
        self.slowdowns
            .push(response / done.service_ms.max(1) as f64);
    }

    fn schedule_end(&mut self, c: Completion) {
        self.schedule(
            c.at_ms,
            Event::End {
                slot: c.slot,
                stamp: c.stamp,
            },
        );
    }

    fn on_membership(&mut self, index: usize, now: u64) -> Result<(), arcroute::Error> {
        let (_, change) = self.sim.events[index];
        if let Some(n) = self.pool_of {
            // The pool grows and shrinks with the fleet it stands for (at least one
            // manager's worth, as a fleet keeps one); nothing is placed, so nothing moves.
            let n = usize::try_from(change.unsigned_abs()).map_or(usize::MAX, |c| {
                if change > 0 {
                    n.saturating_add(c)
                } else {
                    n.saturating_sub(c).max(1)
                }
            });
            self.pool_of = Some(n);
            self.fleet.resize(0, pool_mb(self.sim, n));
            for next in self.cpu.set_cores(pool_cores(self.sim, n), now) {
                self.schedule_end(next);
            }
            self.moved_events += 1;
            return Ok(());
        }
        self.moved_sum += host::change_membership(
            &mut self.fleet,
            self.strat.as_mut(),
            self.w,
            change,
            now,
            self.sim.seed,
        )?;
        self.moved_events += 1;
        // Re-placing after a membership change provisions the current limits, and ends a
        // drain: the host re-provisions from scratch.
        self.host
            .provision(&mut self.fleet, self.strat.as_mut(), now);
        Ok(())
    }

    fn on_sample(&mut self, now: u64) {
        if let Some(ratio) = peak_to_mean(&self.fleet) {
            self.ratios.push(ratio);
        }
        self.schedule(now + SAMPLE_MS, Event::Sample);
    }

    fn on_busy_report(&mut self, now: u64) -> Result<(), arcroute::Error> {
        if let Some(feedback) = self.strat.feedback() {
            feedback.report_busy(&self.fleet, self.host.pinned(), now)?;
        }
        self.schedule(now + self.sim.busy_report_ms, Event::BusyReport);
        Ok(())
    }

    fn on_load_report(&mut self, now: u64) -> Result<(), arcroute::Error> {
        self.strat.load_report(&self.fleet, now)?;
        self.schedule(now + self.sim.load_report_ms, Event::LoadReport);
        Ok(())
    }

    fn on_count_report(&mut self, now: u64) -> Result<(), arcroute::Error> {
        if let Some(feedback) = self.strat.feedback() {
            feedback.report_counts(now)?;
        }
        self.schedule(now + self.sim.count_report_ms, Event::CountReport);
        Ok(())
    }

    fn on_host_tick(&mut self, now: u64) -> Result<(), arcroute::Error> {
        self.strat.host_tick(&self.fleet, now)?;
        self.schedule(now + HOST_TICK_MS, Event::HostTick);
        Ok(())
    }

    fn on_cut(&mut self, now: u64) {
        let Some(cut) = self.sim.cut else { return };
        self.cut.window = Window {
            mode: cut.mode.name().into(),
            percent: cut.percent,
            from_minute: cut.at_ms / 60_000,
            minutes: (self.cut.span.end - cut.at_ms).div_ceil(60_000),
            reserved_envs_before: self.host.pinned_all(&self.fleet),
            ..Window::default()
        };
        self.cut.gb_at_cut = self.fleet.gb_seconds(now);
        self.cut.spilled_at_cut = self.routing().map(|r| r.spilled);
        self.host.cut(&mut self.fleet, self.strat.as_mut(), cut);
        for &(f, limit) in self.host.limits() {
            self.reserved_envs[f as usize] = limit;
        }
        if cut.mode == CutMode::Drain {
            self.schedule(now, Event::Drain);
        }
    }

    fn on_window_end(&mut self, now: u64) {
        let window = &mut self.cut.window;
        window.env_memory_gb_seconds = self.fleet.gb_seconds(now) - self.cut.gb_at_cut;
        window.reserved_envs_after = self.host.pinned_all(&self.fleet);
        let spilled = self.routing().map(|r| r.spilled);
        self.cut.window.spilled = spilled
            .zip(self.cut.spilled_at_cut)
            .map(|(now, at_cut)| now - at_cut);
    }

    fn on_drain(&mut self, now: u64) {
        let idle_ms = self.sim.drain_idle_ms;
        if self
            .host
            .drain(&mut self.fleet, self.strat.as_mut(), idle_ms, now)
        {
            self.schedule(now + DRAIN_TICK_MS, Event::Drain);
        }
    }

    /// The strategy's routing counts, for a strategy that keeps them.
    fn routing(&mut self) -> Option<report::Routing> {
        self.strat.feedback().map(|feedback| feedback.routing())
    }

    fn on_arrival(&mut self, index: usize, now: u64) {
        if let Some(next) = self.w.calls.get(index + 1) {
            self.schedule(next.at_ms, Event::Arrival { index: index + 1 });
        }
        self.unreported += 1;
        if self.unreported == PROGRESS_BLOCK {
            self.progress.add(PROGRESS_BLOCK);
            self.unreported = 0;
        }
        let call = self.w.calls[index];
        let f = call.function;
        let fi = f as usize;
        self.calls_of[fi] += 1;
        let within =
            (self.reserved_envs[fi] > 0).then(|| self.in_flight[fi] < self.reserved_envs[fi]);
        let r = &mut self.r;
        match within {
            Some(true) => r.reserved_calls += 1,
            Some(false) => r.spillovers += 1,
            None => {}
        }
        let frontend = self.frontend_rng.random_range(0..self.sim.frontends);
        let in_window = self.cut.span.contains(&now);
        let window = &mut self.cut.window;
        if in_window {
            window.calls += 1;
            match within {
                Some(true) => window.reserved_calls += 1,
                Some(false) => window.spillovers += 1,
                None => {}
            }
        }
        let ticket = self.strat.route(frontend, f, now, &self.fleet);
        if ticket.as_ref().is_some_and(Ticket::reserved) {
            if let Some(feedback) = self.strat.feedback() {
                let (in_flight, ready) = feedback.reserved_count(f);
                self.over_admitted += u64::from(in_flight > ready);
            }
        }
        let call = Offer {
            index,
            arrived_ms: now,
            within,
            in_window,
            retries: 0,
        };
        match ticket {
            Some(ticket) => self.offer(call, ticket, now),
            None => self.reject(call),
        }
    }

    fn on_retry(&mut self, slot: usize, now: u64) {
        if let Some(Retrying { call, ticket }) = self.retrying.take(slot) {
            self.offer(call, ticket, now);
        }
    }

    /// The call was refused for good: counted as throttled.
    fn reject(&mut self, call: Offer) {
        self.r.throttled += 1;
        self.retries_per_call[call.retries as usize] += 1;
    }

    /// Offers `call` to its ticket's manager at `now`: it starts there, or after a throttle
    /// the strategy names the next manager and the call is offered there a round trip
    /// later, or it is rejected once the strategy gives up or the retries run out.
    fn offer(&mut self, mut call: Offer, mut ticket: Ticket, now: u64) {
        let f = self.w.calls[call.index].function;
        let start = if ticket.reserved() {
            self.fleet.start_warm(ticket.manager, f, now)
        } else {
            self.fleet.start(ticket.manager, f, now, ticket.pinned_ok())
        };
        let (pinned, cold) = match start {
            Start::Warm { pinned } => {
                if pinned {
                    ticket.started_pinned();
                }
                (pinned, false)
            }
            Start::Cold => (false, true),
            Start::Full => {
                if call.retries >= self.sim.max_retries
                    || !self.strat.throttled(&mut ticket, f, &self.fleet)
                {
                    return self.reject(call);
                }
                call.retries += 1;
                self.r.retries += 1;
                let slot = self.retrying.insert(Retrying { call, ticket });
                return self.schedule(now + self.sim.retry_ms, Event::Retry { slot });
            }
        };
        self.retries_per_call[call.retries as usize] += 1;
        let within = call.within;
        let (r, window) = (&mut self.r, &mut self.cut.window);
        if call.in_window {
            window.cold_starts += u64::from(cold);
            window.reserved_cold_starts += u64::from(cold && within == Some(true));
        }
        if cold {
            self.cold_of[f as usize] += 1;
            r.cold_starts += 1;
            r.cold_starts_per_minute[((now / 60_000) as usize).min(self.w.minutes as usize - 1)] +=
                1;
            if within == Some(true) {
                r.reserved_cold_starts += 1;
            }
        } else {
            r.warm_starts += 1;
        }
        let cold_ms = if cold { self.sim.cold_start_ms } else { 0 };
        let service_ms = u64::from(self.w.calls[call.index].duration_ms) + cold_ms;
        let manager = ticket.manager;
        let slot = self.running.insert(Running {
            manager,
            function: f,
            pinned,
            arrived_ms: call.arrived_ms,
            service_ms,
            _ticket: ticket,
        });
        let next = self.cpu.start(manager, slot, service_ms, now);
        self.schedule_end(next);
        self.in_flight[f as usize] += 1;
    }

    fn finish(mut self) -> StrategyResult {
        self.progress.add(self.unreported);
        let routing = self.routing();
        let mut r = self.r;
        r.calls = self.w.calls.len() as u64;
        let calls = r.calls;
        let rate = |n: u64| {
            if calls == 0 {
                0.0
            } else {
                n as f64 / calls as f64
            }
        };
        r.cold_start_rate = rate(r.cold_starts);
        r.cold_or_rejected_rate = rate(r.cold_starts + r.throttled);
        r.load_peak_to_mean_p99 = percentile(&mut self.ratios, 99.0);
        r.slowdown_p50 = percentile(&mut self.slowdowns, 50.0);
        r.slowdown_p99 = percentile(&mut self.slowdowns, 99.0);
        r.overloaded_share = self.cpu.overloaded_share();
        let mut per_function: Vec<f64> = self
            .calls_of
            .iter()
            .zip(&self.cold_of)
            .filter(|&(&calls, _)| calls > 0)
            .map(|(&calls, &cold)| cold as f64 / calls as f64)
            .collect();
        r.function_cold_rate_p75 = percentile(&mut per_function, 75.0);
        let offered: u64 = self.retries_per_call.iter().sum();
        r.retries_per_call_mean = if offered == 0 {
            0.0
        } else {
            r.retries as f64 / offered as f64
        };
        r.retries_per_call_p99 = count_percentile(&self.retries_per_call, 99.0);
        r.env_memory_gb_seconds = self.fleet.gb_seconds(self.end_ms);
        r.moved_on_membership_change = if self.moved_events == 0 {
            0.0
        } else {
            self.moved_sum / f64::from(self.moved_events)
        };
        r.routing = routing.map(|routing| report::Routing {
            over_admitted: self.over_admitted,
            ..routing
        });
        if self.sim.cut.is_some() {
            r.after_cut = Some(self.cut.window);
        }
        r
    }
}

/// The memory of a pool standing for `n` managers (the command line bounds the product).
fn pool_mb(sim: &SimConfig, n: usize) -> u64 {
    sim.memory_mb.saturating_mul(n as u64)
}

/// The cores of a pool standing for `n` managers.
fn pool_cores(sim: &SimConfig, n: usize) -> u32 {
    u32::try_from(n)
        .unwrap_or(u32::MAX)
        .saturating_mul(sim.cores)
}

/// Busiest manager's running calls over the mean, among managers alive; `None` when idle.
fn peak_to_mean(fleet: &Fleet) -> Option<f64> {
    let alive = fleet.alive();
    let total = fleet.busy();
    if total == 0 || alive.is_empty() {
        return None;
    }
    let peak = alive
        .iter()
        .map(|&m| fleet.managers[m].busy)
        .max()
        .unwrap_or(0);
    Some(f64::from(peak) * alive.len() as f64 / total as f64)
}

/// The `p`-th percentile (nearest rank) of values given as a histogram: `counts[v]` values
/// are `v`; 0 for none.
fn count_percentile(counts: &[u64], p: f64) -> u64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (v, &c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return v as u64;
        }
    }
    counts.len() as u64 - 1
}

/// The `p`-th percentile (nearest rank) of `values`; 0 for none.
fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;
    use crate::runner;
    use crate::scenario::{frontend_rows, frontend_runs, reserve, Cut, Options, RunSpec};
    use crate::workload::{self, Arrivals, Call, Function};

    const MIN: u64 = 60_000;

    /// One function of 256 MB whose calls arrive at `at` (ms) and run `duration_ms`.
    fn one_function(at: &[u64], duration_ms: u32) -> Workload {
        let calls: Vec<Call> = at
            .iter()
            .map(|&at_ms| Call {
                at_ms,
                function: 0,
                duration_ms,
            })
            .collect();
        Workload {
            functions: vec![Function {
                name: "f".into(),
                memory_mb: 256,
                total_calls: calls.len() as u64,
            }],
            minutes: (at.last().copied().unwrap_or(0) / MIN + 1) as u32,
            calls,
            source: "test".into(),
        }
    }

    fn config(managers: usize, frontends: usize) -> SimConfig {
        SimConfig {
            managers,
            frontends,
            ..Options::default().sim
        }
    }

    fn run(
        name: StrategyKind,
        w: &Workload,
        reservations: &[(u32, u32)],
        sim: &SimConfig,
    ) -> StrategyResult {
        let tasks: Vec<TaskId> = w
            .functions
            .iter()
            .map(|f| TaskId::from_name(&f.name))
            .collect();
        simulate(
            name,
            w,
            &tasks,
            reservations,
            sim,
            &Progress::new("test", 0),
        )
        .unwrap()
    }

    #[test]
    fn every_router_pins_at_most_the_cap_of_a_reservation_on_one_manager() {
        // 2 GB managers, a function of 256 MB: at most 2048 / 2 / 256 = 4 pinned on one.
        let w = one_function(&[0, MIN], 1000);
        let sim = SimConfig {
            memory_mb: 2048,
            ..config(20, 2)
        };
        let tasks = [TaskId::from_name("f")];
        let progress = Progress::new("test", 0);
        for name in StrategyKind::ALL {
            let e = Engine::new(name, &w, &tasks, &[(0, 10)], &sim, &progress).unwrap();
            let pinned: Vec<u32> = (0..e.fleet.managers.len())
                .map(|m| e.fleet.pinned(m, 0).0)
                .collect();
            assert_eq!(pinned.iter().sum::<u32>(), 10, "{name}: {pinned:?}");
            if name != StrategyKind::Pooled {
                assert!(pinned.iter().all(|&n| n <= 4), "{name}: {pinned:?}");
            }
        }
    }

    /// Every strategy in `kinds` on the same workload and platform.
    fn simulate_all(
        w: &Workload,
        reservations: &[(u32, u32)],
        sim: &SimConfig,
        kinds: &[StrategyKind],
    ) -> Report {
        let runs: Vec<RunSpec> = kinds.iter().map(|&k| RunSpec::plain(k, sim)).collect();
        runner::simulate_runs(w, reservations, &runs).unwrap()
    }

    /// Strategies that send every call of a function to the same manager while it has room.
    const HOMED: [StrategyKind; 8] = [
        StrategyKind::Arcroute,
        StrategyKind::ConsistentHash,
        StrategyKind::Openwhisk,
        StrategyKind::OpenwhiskOracle,
        StrategyKind::BoundedLoad,
        StrategyKind::BoundedLoadOracle,
        StrategyKind::ChRlu,
        StrategyKind::ChRluOracle,
    ];

    #[test]
    fn calls_within_the_keep_alive_cold_start_once() {
        let w = one_function(&(0..12).map(|i| i * 5 * MIN).collect::<Vec<_>>(), 1000);
        for name in StrategyKind::ALL {
            let r = run(name, &w, &[], &config(1, 3));
            assert_eq!(
                (r.cold_starts, r.warm_starts),
                (1, 11),
                "{name} on one manager"
            );
        }
        for name in HOMED {
            let r = run(name, &w, &[], &config(20, 3));
            assert_eq!(r.cold_starts, 1, "{name} on 20 managers");
        }
    }

    #[test]
    fn calls_past_the_keep_alive_cold_start_every_time() {
        let w = one_function(&(0..6).map(|i| i * 11 * MIN).collect::<Vec<_>>(), 1000);
        for name in StrategyKind::ALL {
            let r = run(name, &w, &[], &config(5, 2));
            assert_eq!((r.cold_starts, r.warm_starts), (6, 0), "{name}");
            assert_eq!(r.cold_starts_per_minute.iter().sum::<u64>(), 6);
        }
    }

    #[test]
    fn a_reservation_covers_its_concurrency_without_cold_starts() {
        // Bursts of 4 concurrent 30 s calls every 20 minutes: past the keep-alive, so every
        // burst would cold-start without the 4 reserved environments.
        let at: Vec<u64> = (0..6)
            .flat_map(|b| [0, 10, 20, 30].map(|d| b * 20 * MIN + d))
            .collect();
        let w = one_function(&at, 30_000);
        let r = run(StrategyKind::Arcroute, &w, &[(0, 4)], &config(20, 1));
        assert_eq!(r.reserved_calls, 24);
        assert_eq!(
            (r.cold_starts, r.reserved_cold_starts, r.spillovers),
            (0, 0, 0)
        );
        let unreserved = run(StrategyKind::Arcroute, &w, &[], &config(20, 1));
        assert!(
            unreserved.cold_starts >= 6 * 4,
            "every burst is cold without it"
        );
    }

    #[test]
    fn every_call_is_warm_cold_or_throttled() {
        let w = workload::generate(480..500, Arrivals::Random, 3);
        let reservations = reserve(&w, 5, 90.0);
        // Small managers, so that some calls are throttled.
        let sim = SimConfig {
            memory_mb: 2048,
            ..config(6, 3)
        };
        for name in StrategyKind::ALL {
            let r = run(name, &w, &reservations, &sim);
            assert_eq!(r.calls, w.calls.len() as u64);
            assert_eq!(
                r.warm_starts + r.cold_starts + r.throttled,
                r.calls,
                "{name}"
            );
            assert_eq!(
                r.cold_starts_per_minute.iter().sum::<u64>(),
                r.cold_starts,
                "{name}"
            );
            assert!(r.reserved_cold_starts <= r.cold_starts);
            assert!(
                r.load_peak_to_mean_p99 >= 1.0 && r.env_memory_gb_seconds > 0.0,
                "{name}"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_report() {
        let w = workload::generate(480..490, Arrivals::Random, 5);
        let reservations = reserve(&w, 3, 90.0);
        let mut sim = config(8, 3);
        sim.events = vec![(3 * MIN, -2), (6 * MIN, 3)];
        let names = StrategyKind::ALL;
        let strip = |mut r: Report| {
            for s in &mut r.strategies {
                s.wall_seconds = 0.0;
            }
            serde_json::to_string(&r).expect("serializable")
        };
        let a = strip(simulate_all(&w, &reservations, &sim, &names));
        let b = strip(simulate_all(&w, &reservations, &sim, &names));
        assert_eq!(a, b);
        let other = workload::generate(480..490, Arrivals::Random, 6);
        let c = strip(simulate_all(
            &other,
            &reserve(&other, 3, 90.0),
            &sim,
            &names,
        ));
        assert_ne!(a, c, "another seed, another report");
    }

    #[test]
    fn membership_changes_move_few_arcs_but_most_homes_under_modulo() {
        let w = workload::generate(480..490, Arrivals::Random, 5);
        let moved = |name: StrategyKind, change: i64| {
            let mut sim = config(20, 2);
            sim.events = vec![(5 * MIN, change)];
            run(name, &w, &[], &sim).moved_on_membership_change
        };
        for change in [-1, 1] {
            let arcroute = moved(StrategyKind::Arcroute, change);
            assert!(arcroute < 0.15, "arcroute {arcroute} on {change}");
            let hashing = moved(StrategyKind::ConsistentHash, change);
            assert!(hashing < 0.15, "consistent hashing {hashing} on {change}");
        }
        // OpenWhisk keeps a removed invoker in its numbering (offline), so only the homes
        // it held move; an added one changes `n`, and `hash mod n` moves most homes.
        let removed = moved(StrategyKind::Openwhisk, -1);
        assert!(removed < 0.15, "openwhisk {removed} on a removal");
        let added = moved(StrategyKind::Openwhisk, 1);
        assert!(added > 0.5, "openwhisk {added} on an addition");
    }

    /// arcroute alone under `sim` on `w`.
    fn arcroute(w: &Workload, reservations: &[(u32, u32)], sim: &SimConfig) -> StrategyResult {
        run(StrategyKind::Arcroute, w, reservations, sim)
    }

    fn counting(frontends: usize, mode: CountMode, busy_rule: bool) -> SimConfig {
        SimConfig {
            counting: mode,
            busy_rule,
            ..config(20, frontends)
        }
    }

    #[test]
    fn local_counting_without_the_busy_rule_never_admits_past_ready() {
        let w = workload::generate(480..500, Arrivals::Random, 3);
        let reservations = reserve(&w, 10, 90.0);
        let strict = arcroute(&w, &reservations, &counting(4, CountMode::Local, false));
        let routing = strict.routing.unwrap();
        assert!(routing.routed_reserved > 1000, "{routing:?}");
        assert_eq!(routing.over_admitted, 0, "the shares add up to ready");
        assert_eq!(
            routing.reports + routing.uploads,
            0,
            "no host reports at all"
        );
        // The busy rule lets each frontend go up to ready on its own: together they may not.
        let busy = arcroute(&w, &reservations, &counting(4, CountMode::Local, true));
        assert!(busy.routing.unwrap().over_admitted > 0);
        assert!(busy.reserved_cold_starts <= strict.reserved_cold_starts);
    }

    #[test]
    fn one_frontend_counts_the_same_in_every_mode() {
        let w = workload::generate(480..500, Arrivals::Random, 3);
        let reservations = reserve(&w, 10, 90.0);
        let runs = frontend_runs(&config(20, 1));
        let results: Vec<StrategyResult> = runs[..4]
            .iter()
            .map(|r| arcroute(&w, &reservations, &r.sim))
            .collect();
        let rows = frontend_rows(&runs[..4], results, w.minutes);
        for row in &rows {
            let (a, b) = (&rows[0], row);
            assert_eq!(b.frontends, 1);
            assert_eq!(
                (b.result.cold_starts, b.result.reserved_cold_starts),
                (a.result.cold_starts, a.result.reserved_cold_starts),
                "{} {}",
                b.counting,
                b.busy_rule
            );
            assert_eq!(
                (b.routing.spilled, b.routing.over_admitted),
                (a.routing.spilled, 0)
            );
        }
        // Each report tick: one entry per reserved function (and router) each way.
        let per_second = reservations.len() as f64;
        let want = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (2.0, 1.0)];
        for (row, (reports, uploads)) in rows.iter().zip(want) {
            // Ticks at 0 and at the end too: one more than the seconds.
            let close = |x: f64, y: f64| (x - y * per_second).abs() <= 0.01 * per_second;
            assert!(close(row.reports_per_second, reports), "{row:?}");
            assert!(close(row.uploads_per_second, uploads), "{row:?}");
        }
    }

    #[test]
    fn fresh_global_counts_use_the_reservation_where_local_shares_spill() {
        let w = workload::generate(480..500, Arrivals::Random, 3);
        let reservations = reserve(&w, 10, 90.0);
        let local = arcroute(&w, &reservations, &counting(16, CountMode::Local, false));
        let global = arcroute(&w, &reservations, &counting(16, CountMode::Global, false));
        assert!(
            global.reserved_cold_starts <= local.reserved_cold_starts,
            "global {} local {}",
            global.reserved_cold_starts,
            local.reserved_cold_starts
        );
        let (l, g) = (local.routing.unwrap(), global.routing.unwrap());
        assert!(g.routed_reserved > l.routed_reserved, "{g:?} {l:?}");
        assert!(g.spilled < l.spilled);
        assert!(g.uploads > 0 && g.reports == g.uploads);
    }

    /// Four calls of 30 s every 40 s for 15 minutes, of a function with 4 reserved
    /// environments, cut to 2 at minute 5; 25 minutes in all.
    fn cut_scenario(mode: CutMode) -> StrategyResult {
        let at: Vec<u64> = (0..23)
            .flat_map(|wave| [0, 1, 2, 3].map(|k| wave * 40_000 + k))
            .chain([25 * MIN - 1])
            .collect();
        let w = one_function(&at, 30_000);
        let sim = SimConfig {
            cut: Some(Cut {
                at_ms: 5 * MIN,
                percent: 50,
                mode,
            }),
            ..config(20, 1)
        };
        arcroute(&w, &[(0, 4)], &sim)
    }

    #[test]
    fn a_drain_keeps_busy_environments_serving_and_an_immediate_cut_spills() {
        let drain = cut_scenario(CutMode::Drain);
        let immediate = cut_scenario(CutMode::Immediate);
        let (d, i) = (drain.after_cut.unwrap(), immediate.after_cut.unwrap());
        assert_eq!((d.from_minute, d.minutes, d.percent), (5, 10, 50));
        assert_eq!(d.reserved_envs_before, 4);
        // Every wave finds 4 environments while they are used every 40 s: nothing spills.
        assert_eq!((d.cold_starts, d.spilled), (0, Some(0)), "{d:?}");
        // Two go at once: the first wave after the cut cold-starts two on the unreserved arc.
        assert_eq!(i.cold_starts, 2, "{i:?}");
        assert_eq!(i.spilled, Some(2 * 15), "waves 8 to 22 each spill two");
        assert_eq!(
            (d.reserved_calls, d.spillovers),
            (i.reserved_calls, i.spillovers)
        );
        assert_eq!((d.reserved_cold_starts, i.reserved_cold_starts), (0, 0));
        // The calls end at minute 15: the drain then tears the two down once idle a minute.
        assert_eq!((d.reserved_envs_after, i.reserved_envs_after), (4, 2));
        assert_eq!(drain.cold_starts, 0);
        let later = SimConfig {
            cut: Some(Cut {
                at_ms: 10 * MIN,
                percent: 50,
                mode: CutMode::Drain,
            }),
            ..config(20, 1)
        };
        let at: Vec<u64> = (0..23)
            .flat_map(|wave| [0, 1, 2, 3].map(|k| wave * 40_000 + k))
            .chain([25 * MIN - 1])
            .collect();
        let w = one_function(&at, 30_000);
        let late = arcroute(&w, &[(0, 4)], &later).after_cut.unwrap();
        assert_eq!(late.reserved_envs_after, 2, "{late:?}");
    }

    /// Calls of one 256 MB function at `(at ms, duration ms)`.
    fn calls(calls: &[(u64, u32)]) -> Workload {
        let mut w = one_function(&[], 0);
        w.calls = calls
            .iter()
            .map(|&(at_ms, duration_ms)| Call {
                at_ms,
                function: 0,
                duration_ms,
            })
            .collect();
        w.functions[0].total_calls = calls.len() as u64;
        w.minutes = (calls.iter().map(|c| c.0).max().unwrap_or(0) / MIN + 1) as u32;
        w
    }

    #[test]
    fn calls_beyond_the_cores_share_them() {
        // One core: a 2 s call from 0 and a 1 s call from 1 s share it from 1 s, each at half
        // speed, and both have 1 s of work left then: both are done at 3 s. The second's
        // response time doubles (2 s for 1 s of work), the first's is 1.5 times its work.
        let w = calls(&[(0, 2000), (1000, 1000)]);
        let one_core = SimConfig {
            cores: 1,
            cold_start_ms: 0,
            ..config(1, 1)
        };
        for name in StrategyKind::ALL {
            let r = run(name, &w, &[], &one_core);
            assert_eq!((r.cold_starts, r.throttled), (2, 0), "{name}");
            assert_eq!((r.slowdown_p50, r.slowdown_p99), (1.5, 2.0), "{name}");
            // 1 s of one call, then 2 s of two on one core: 4 of 5 call-seconds.
            assert!((r.overloaded_share - 0.8).abs() < 1e-12, "{name}");
            let two = run(
                name,
                &w,
                &[],
                &SimConfig {
                    cores: 2,
                    ..one_core.clone()
                },
            );
            assert_eq!((two.slowdown_p50, two.slowdown_p99), (1.0, 1.0), "{name}");
            assert_eq!(two.overloaded_share, 0.0);
        }
        // A cold start is CPU work: with 500 ms of it, the two need 2.5 s and 1.5 s from 0
        // and 1 s. At 1 s the first has 1.5 s left and the second 1.5 s: both end at 4 s.
        let cold = SimConfig {
            cold_start_ms: 500,
            ..one_core
        };
        let r = run(StrategyKind::ConsistentHash, &w, &[], &cold);
        assert_eq!((r.slowdown_p50, r.slowdown_p99), (4.0 / 2.5, 2.0));
    }

    #[test]
    fn the_pooled_floor_starts_one_environment_per_function_when_memory_suffices() {
        // Three functions, each called every 30 s for 10 minutes (1 s calls, never two at
        // once), spread by the routers over 10 managers.
        let mut w = calls(&[]);
        w.functions = (0..3)
            .map(|k| Function {
                name: format!("f{k}"),
                memory_mb: 256,
                total_calls: 20,
            })
            .collect();
        w.calls = (0..20u64)
            .flat_map(|i| {
                (0..3).map(move |f| Call {
                    at_ms: i * 30_000 + f,
                    function: f as u32,
                    duration_ms: 1000,
                })
            })
            .collect();
        w.minutes = 10;
        let mut sim = config(10, 4);
        let pooled = run(StrategyKind::Pooled, &w, &[], &sim);
        assert_eq!((pooled.cold_starts, pooled.warm_starts), (3, 57));
        assert_eq!(pooled.load_peak_to_mean_p99, 1.0, "one pool");
        let random = run(StrategyKind::Random, &w, &[], &sim);
        assert!(random.cold_starts > 3, "{random:?}");
        // A membership change resizes the pool: still nothing else to start.
        sim.events = vec![(2 * MIN, -9), (5 * MIN, 4)];
        let changed = run(StrategyKind::Pooled, &w, &[], &sim);
        assert_eq!(
            (changed.cold_starts, changed.moved_on_membership_change),
            (3, 0.0)
        );
        // Two overlapping calls of one function need two environments, even pooled.
        let two = calls(&[(0, 5000), (1000, 1000), (3000, 1000)]);
        let r = run(StrategyKind::Pooled, &two, &[], &config(10, 1));
        assert_eq!((r.cold_starts, r.warm_starts), (2, 1));
    }

    /// Managers of 256 MB: one environment of the test function each.
    fn one_env_each(managers: usize, max_retries: u32) -> SimConfig {
        SimConfig {
            memory_mb: 256,
            cold_start_ms: 0,
            retry_ms: 7,
            max_retries,
            ..config(managers, 1)
        }
    }

    #[test]
    fn a_retry_adds_its_round_trip_to_the_response_time() {
        // The second call finds the home manager full, and starts on the next one a round
        // trip (7 ms) later: 1,007 ms for 1 s of work.
        let w = calls(&[(0, 10_000), (1000, 1000)]);
        let r = run(StrategyKind::ConsistentHash, &w, &[], &one_env_each(2, 3));
        assert_eq!((r.retries, r.throttled, r.cold_starts), (1, 0, 2));
        assert_eq!((r.slowdown_p50, r.slowdown_p99), (1.0, 1.007));
        assert_eq!((r.retries_per_call_mean, r.retries_per_call_p99), (0.5, 1));
    }

    #[test]
    fn a_call_past_the_retry_bound_is_rejected() {
        // Three long calls fill three of four managers, the k-th after k throttles along the
        // ring; the fourth needs three throttles to reach the last free manager.
        let w = calls(&[(0, 60_000), (1, 60_000), (2, 60_000), (3, 1000)]);
        let bounded = run(StrategyKind::ConsistentHash, &w, &[], &one_env_each(4, 2));
        assert_eq!((bounded.throttled, bounded.retries), (1, 1 + 2 + 2));
        assert_eq!(bounded.retries_per_call_p99, 2);
        let enough = run(StrategyKind::ConsistentHash, &w, &[], &one_env_each(4, 3));
        assert_eq!((enough.throttled, enough.retries), (0, 1 + 2 + 3));
        assert_eq!(enough.retries_per_call_mean, 1.5);
        // No retries at all: a full home rejects the call.
        let none = run(StrategyKind::ConsistentHash, &w, &[], &one_env_each(4, 0));
        assert_eq!((none.throttled, none.retries, none.cold_starts), (3, 0, 1));
    }

    #[test]
    fn cold_or_rejected_counts_a_rejected_call_as_a_cold_one() {
        // As above, without retries: one cold start at home and three calls rejected there,
        // of four. The cold-start rate alone reads 25 %.
        let w = calls(&[(0, 60_000), (1, 60_000), (2, 60_000), (3, 1000)]);
        let r = run(StrategyKind::ConsistentHash, &w, &[], &one_env_each(4, 0));
        assert_eq!((r.calls, r.cold_starts, r.throttled), (4, 1, 3));
        assert_eq!(r.cold_start_rate, 0.25);
        assert_eq!(r.cold_or_rejected_rate, 1.0);
        // With retries enough, all four start cold on four managers: nothing rejected.
        let enough = run(StrategyKind::ConsistentHash, &w, &[], &one_env_each(4, 3));
        assert_eq!((enough.cold_starts, enough.throttled), (4, 0));
        assert_eq!(enough.cold_or_rejected_rate, enough.cold_start_rate);
        assert_eq!(enough.cold_or_rejected_rate, 1.0);
        // Two warm calls after a cold one, and one rejected: (1 + 1) / 4.
        let w = calls(&[(0, 60_000), (70_000, 1000), (80_000, 1000), (80_500, 1000)]);
        let r = run(StrategyKind::ConsistentHash, &w, &[], &one_env_each(1, 0));
        assert_eq!((r.cold_starts, r.warm_starts, r.throttled), (1, 2, 1));
        assert_eq!(r.cold_or_rejected_rate, 0.5);
    }

    #[test]
    fn the_pooled_floor_is_at_or_below_every_strategy_on_cold_or_rejected() {
        // Two hours of the synthetic day on a roomy fleet of 32 GB managers, 4 frontends.
        let w = workload::generate(480..600, Arrivals::Random, 5);
        let reservations = reserve(&w, 5, 90.0);
        let report = simulate_all(&w, &reservations, &config(40, 4), &StrategyKind::ALL);
        let pooled = report
            .strategies
            .iter()
            .find(|s| s.name == "pooled")
            .expect("a pooled row");
        assert!(pooled.cold_starts > 0, "{pooled:?}");
        for s in &report.strategies {
            assert!(
                pooled.cold_or_rejected_rate <= s.cold_or_rejected_rate,
                "pooled {} above {} {}",
                pooled.cold_or_rejected_rate,
                s.name,
                s.cold_or_rejected_rate
            );
        }
    }

    #[test]
    fn reservations_take_the_busiest_functions() {
        let w = workload::generate(480..540, Arrivals::Random, 1);
        let r = reserve(&w, 3, 90.0);
        assert_eq!(r.len(), 3);
        let busiest = w.functions.iter().map(|f| f.total_calls).max().unwrap();
        assert_eq!(w.functions[r[0].0 as usize].total_calls, busiest);
        assert!(r.iter().all(|&(_, n)| n >= 1));
    }
}
