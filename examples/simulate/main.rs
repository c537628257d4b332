//! Replays serverless traffic through arcroute and five rival routers on a simulated fleet,
//! and reports cold starts, throttling, load balance and memory for each.
//!
//! Run with `cargo run --release --example simulate` (an embedded workload shaped like the
//! Azure Functions trace), or point it at a trace in the Azure Functions 2019 format with
//! `-- --trace-dir DIR`; `-- --help` lists every option.

// The modules are private to this binary; `pub` marks what they offer each other.
#![allow(unreachable_pub)]

mod fleet;
mod report;
mod rng;
mod strategy;
mod workload;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::num::NonZeroU32;
use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use arcroute::TaskId;

use fleet::{Fleet, Start};
use report::{Progress, Report, StrategyResult, WorkloadSummary};
use rng::Rng;
use strategy::{Strategy, Ticket};
use workload::{Arrivals, Workload};

const HELP: &str = "\
Replay serverless calls through arcroute and its rivals on a simulated fleet.

USAGE: cargo run --release --example simulate -- [OPTIONS]

Workload:
  --trace-dir DIR          Azure Functions 2019 trace (*inv.csv, *run.csv, *mem.csv);
                           default: an embedded generated workload shaped like it
  --minutes FROM..TO       trace minutes to replay, 0-based, end excluded [480..600]
  --arrivals random|even   times within a minute: independent uniform (a Poisson process
                           given the minute's count) or evenly spaced [random]
  --seed N                 seeds arrivals, durations, frontends and the ring [1]
Fleet:
  --managers N             worker managers [20]
  --memory-gb N            memory of each manager, for environments [32]
  --frontends N            frontends, each with its own router; calls pick one at random [4]
  --keep-alive MIN         idle environments live this many minutes [10]
  --cold-start-ms N        added to a call's duration when it cold-starts [500]
  --reserve-top K          reserve the K functions with the most calls [10]
  --reserve-percentile P   ... at the P-th percentile of their per-minute concurrency [90]
  --busy-report-ms N       how often the host reports each reservation's busy fraction to
                           arcroute's routers, for the spillover rule; 0 = never [1000]
  --arc-target N           arcroute: in-flight calls per manager an unreserved arc is
                           sized for [the crate's default]
  --remove-managers M:C    at minute M (from the start of the replay) remove C managers
  --add-managers M:C       at minute M add C managers (both may repeat)
Output:
  --strategies a,b,...     among arcroute,random,round-robin,consistent-hash,openwhisk,
                           bounded-load [all]
  --json PATH              write the report as JSON
  --svg PATH               draw cold starts per minute for each strategy
";

/// Everything the command line sets.
#[derive(Clone, Debug)]
struct Options {
    trace_dir: Option<PathBuf>,
    minutes: Range<u32>,
    arrivals: Arrivals,
    seed: u64,
    sim: SimConfig,
    reserve_top: usize,
    reserve_percentile: f64,
    strategies: Vec<String>,
    json: Option<PathBuf>,
    svg: Option<PathBuf>,
}

/// The simulated platform.
#[derive(Clone, Debug, PartialEq)]
struct SimConfig {
    managers: usize,
    memory_mb: u64,
    frontends: usize,
    keep_alive_ms: u64,
    cold_start_ms: u64,
    busy_report_ms: u64,
    /// arcroute's in-flight calls per manager of an unreserved arc; `None`: the crate default.
    arc_target: Option<NonZeroU32>,
    /// `(at ms, +count or −count)`.
    events: Vec<(u64, i64)>,
    seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            trace_dir: None,
            minutes: 480..600,
            arrivals: Arrivals::Random,
            seed: 1,
            sim: SimConfig {
                managers: 20,
                memory_mb: 32 * 1024,
                frontends: 4,
                keep_alive_ms: 10 * 60_000,
                cold_start_ms: 500,
                busy_report_ms: 1000,
                arc_target: None,
                events: Vec::new(),
                seed: 1,
            },
            reserve_top: 10,
            reserve_percentile: 90.0,
            strategies: strategy::ALL.iter().map(|s| s.to_string()).collect(),
            json: None,
            svg: None,
        }
    }
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut o = Options::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |what: &str| -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("{what}: `{value}` is not a whole number"))
        };
        match flag.as_str() {
            "--trace-dir" => o.trace_dir = Some(PathBuf::from(&value)),
            "--minutes" => {
                let (from, to) = value
                    .split_once("..")
                    .ok_or_else(|| format!("--minutes: `{value}` is not FROM..TO"))?;
                let parse = |s: &str| s.parse::<u32>().map_err(|_| format!("--minutes: `{s}`"));
                o.minutes = parse(from)?..parse(to)?;
                if o.minutes.is_empty() {
                    return Err(format!("--minutes: `{value}` is empty"));
                }
            }
            "--arrivals" => {
                o.arrivals = match value.as_str() {
                    "random" => Arrivals::Random,
                    "even" => Arrivals::Even,
                    _ => return Err(format!("--arrivals: `{value}` is not random or even")),
                }
            }
            "--seed" => {
                o.seed = number("--seed")?;
                o.sim.seed = o.seed;
            }
            "--managers" => o.sim.managers = positive(number("--managers")?, "--managers")?,
            "--memory-gb" => {
                o.sim.memory_mb = positive(number("--memory-gb")?, "--memory-gb")? as u64 * 1024
            }
            "--frontends" => o.sim.frontends = positive(number("--frontends")?, "--frontends")?,
            "--keep-alive" => o.sim.keep_alive_ms = number("--keep-alive")? * 60_000,
            "--cold-start-ms" => o.sim.cold_start_ms = number("--cold-start-ms")?,
            "--busy-report-ms" => o.sim.busy_report_ms = number("--busy-report-ms")?,
            "--arc-target" => {
                let n = u32::try_from(number("--arc-target")?)
                    .ok()
                    .and_then(NonZeroU32::new);
                o.sim.arc_target = Some(n.ok_or("--arc-target must be within 1..=4294967295")?);
            }
            "--reserve-top" => o.reserve_top = number("--reserve-top")? as usize,
            "--reserve-percentile" => {
                o.reserve_percentile = value
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=100.0).contains(p))
                    .ok_or_else(|| {
                        format!("--reserve-percentile: `{value}` is not within 0..=100")
                    })?;
            }
            "--remove-managers" | "--add-managers" => {
                let (at, count) = value
                    .split_once(':')
                    .and_then(|(m, c)| Some((m.parse::<u64>().ok()?, c.parse::<i64>().ok()?)))
                    .filter(|&(_, c)| c > 0)
                    .ok_or_else(|| format!("{flag}: `{value}` is not MINUTE:COUNT"))?;
                let sign = if flag == "--add-managers" { 1 } else { -1 };
                o.sim.events.push((at * 60_000, sign * count));
            }
            "--strategies" => {
                o.strategies = value.split(',').map(str::to_owned).collect();
                if let Some(bad) = o
                    .strategies
                    .iter()
                    .find(|s| !strategy::ALL.contains(&s.as_str()))
                {
                    return Err(format!("--strategies: unknown strategy `{bad}`"));
                }
            }
            "--json" => o.json = Some(PathBuf::from(value)),
            "--svg" => o.svg = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown option `{flag}` (see --help)")),
        }
    }
    o.sim.events.sort_by_key(|&(at, _)| at);
    Ok(Some(o))
}

fn positive(n: u64, what: &str) -> Result<usize, String> {
    usize::try_from(n)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{what} must be at least 1"))
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(o: &Options) -> Result<(), String> {
    let workload = match &o.trace_dir {
        Some(dir) => workload::load_trace(dir, o.minutes.clone(), o.arrivals, o.seed)
            .map_err(|e| e.to_string())?,
        None => workload::generate(o.minutes.clone(), o.arrivals, o.seed),
    };
    if let Some(&(at, _)) = o
        .sim
        .events
        .iter()
        .find(|&&(at, _)| at >= u64::from(workload.minutes) * 60_000)
    {
        return Err(format!(
            "a membership change at minute {} is past the replay's {} minutes",
            at / 60_000,
            workload.minutes
        ));
    }
    let fleet_mb = o.sim.memory_mb * o.sim.managers as u64;
    let reservations = cap(
        reserve(&workload, o.reserve_top, o.reserve_percentile),
        &workload,
        fleet_mb / 2,
    );
    let report = simulate_all(&workload, &reservations, &o.sim, &o.strategies);
    report::print_table(&report, &mut std::io::stdout()).map_err(|e| e.to_string())?;
    let reserved_gb: f64 = reservations
        .iter()
        .map(|&(f, n)| f64::from(n) * f64::from(workload.functions[f as usize].memory_mb) / 1024.0)
        .sum();
    println!(
        "reserved: {} environments, {reserved_gb:.0} GB of the fleet's {} GB (capped at half)",
        reservations.iter().map(|&(_, n)| u64::from(n)).sum::<u64>(),
        fleet_mb / 1024
    );
    if let Some(worst) = report.strategies.iter().max_by_key(|s| s.throttled) {
        if worst.throttled * 20 > worst.calls {
            println!(
                "note: {} throttled {:.0}% of calls: the fleet is too small for this workload (see --managers, --memory-gb)",
                worst.name,
                100.0 * worst.throttled as f64 / worst.calls as f64
            );
        }
    }
    println!(
        "arrivals within a minute: {}; {} reserved functions at p{} of their per-minute concurrency",
        match o.arrivals {
            Arrivals::Random => "independent uniform (Poisson given the count)",
            Arrivals::Even => "evenly spaced",
        },
        reservations.len(),
        o.reserve_percentile,
    );
    if let Some(path) = &o.json {
        report::write_json(&report, path)?;
    }
    if let Some(path) = &o.svg {
        report::write_svg(&report, path)?;
    }
    Ok(())
}

/// Reserves the `top` functions with the most calls: `ceil` of the `percentile`-th percentile
/// of their per-minute mean concurrency (calls in the minute × mean duration / 1 minute), at
/// least 1. Returns `(function, environments)`.
fn reserve(w: &Workload, top: usize, percentile: f64) -> Vec<(u32, u32)> {
    let n = w.functions.len();
    let mut busy_ms = vec![0u64; n];
    let mut per_minute = vec![vec![0u32; w.minutes as usize]; n];
    for c in &w.calls {
        busy_ms[c.function as usize] += u64::from(c.duration_ms);
        let minute = ((c.at_ms / 60_000) as usize).min(w.minutes as usize - 1);
        per_minute[c.function as usize][minute] += 1;
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by_key(|&f| (Reverse(w.functions[f as usize].total_calls), f));
    order
        .into_iter()
        .take(top)
        .filter(|&f| w.functions[f as usize].total_calls > 0)
        .map(|f| {
            let fi = f as usize;
            let mean_ms = busy_ms[fi] as f64 / w.functions[fi].total_calls as f64;
            let mut conc: Vec<f64> = per_minute[fi]
                .iter()
                .map(|&c| f64::from(c) * mean_ms / 60_000.0)
                .collect();
            conc.sort_by(f64::total_cmp);
            let rank = ((percentile / 100.0) * (conc.len() - 1) as f64).round() as usize;
            (f, (conc[rank].ceil() as u32).max(1))
        })
        .collect()
}

/// Scales reservations down in proportion (each to at least 1) until their memory is at most
/// `budget_mb`: a platform would not reserve more than it can hold.
fn cap(mut reservations: Vec<(u32, u32)>, w: &Workload, budget_mb: u64) -> Vec<(u32, u32)> {
    let mb = |r: &[(u32, u32)]| -> u64 {
        r.iter()
            .map(|&(f, n)| u64::from(n) * u64::from(w.functions[f as usize].memory_mb))
            .sum()
    };
    let total = mb(&reservations);
    if total > budget_mb {
        let scale = budget_mb as f64 / total as f64;
        for (_, n) in &mut reservations {
            *n = ((f64::from(*n) * scale).floor() as u32).max(1);
        }
    }
    reservations
}

/// Runs every strategy on the same workload, as many at a time as the machine has cores.
fn simulate_all(
    w: &Workload,
    reservations: &[(u32, u32)],
    sim: &SimConfig,
    names: &[String],
) -> Report {
    let progress = Progress::new("simulating", (w.calls.len() * names.len()) as u64);
    let tasks: Vec<TaskId> = w
        .functions
        .iter()
        .map(|f| TaskId::from_name(&f.name))
        .collect();
    // Workers take the next strategy as they finish one: strategies differ a lot in cost.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(names.len());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<StrategyResult>>> = Mutex::new(vec![None; names.len()]);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(name) = names.get(i) else { break };
                let r = simulate(name, w, &tasks, reservations, sim, &progress);
                results.lock().expect("no worker panicked holding it")[i] = Some(r);
            });
        }
    });
    progress.finish();
    Report {
        workload: WorkloadSummary {
            functions: w.functions.len() as u64,
            calls: w.calls.len() as u64,
            minutes: u64::from(w.minutes),
            source: w.source.clone(),
        },
        strategies: results
            .into_inner()
            .expect("no worker panicked holding it")
            .into_iter()
            .flatten()
            .collect(),
    }
}

/// One call running: where, which function, whether on a pinned environment, and the
/// strategy's ticket (arcroute's permit).
struct Running {
    manager: usize,
    function: u32,
    pinned: bool,
    _ticket: Ticket,
}

/// Replays `w` through the strategy called `name`.
fn simulate(
    name: &str,
    w: &Workload,
    tasks: &[TaskId],
    reservations: &[(u32, u32)],
    sim: &SimConfig,
    progress: &Progress,
) -> StrategyResult {
    let started = Instant::now();
    let memory: Vec<u64> = w.functions.iter().map(|f| u64::from(f.memory_mb)).collect();
    let mut fleet = Fleet::new(sim.managers, sim.memory_mb, memory, sim.keep_alive_ms);
    // Reserved arcs sized so that the largest reserved function's environments on one
    // manager take at most half of its memory, as a platform would configure it.
    let largest = reservations
        .iter()
        .map(|&(f, _)| u64::from(w.functions[f as usize].memory_mb))
        .max()
        .unwrap_or(1)
        .max(1);
    let per_manager = u32::try_from(sim.memory_mb / 2 / largest).unwrap_or(u32::MAX);
    let per_manager = NonZeroU32::new(per_manager).unwrap_or(NonZeroU32::MIN);
    let mut strat = strategy::build(name, &fleet, tasks, reservations, sim, per_manager);
    let mut reserved_envs = vec![0u32; w.functions.len()];
    for &(f, n) in reservations {
        reserved_envs[f as usize] = n;
    }
    let mut pinned: HashMap<u32, Vec<(usize, u32)>> = HashMap::new();
    provision(&mut fleet, strat.as_mut(), reservations, &mut pinned, 0);
    let reserved_envs_placed: u64 = pinned.values().flatten().map(|&(_, n)| u64::from(n)).sum();

    let end_ms = u64::from(w.minutes) * 60_000;
    let mut r = StrategyResult {
        name: name.to_owned(),
        reserved_envs_placed,
        cold_starts_per_minute: vec![0; w.minutes as usize],
        ..StrategyResult::default()
    };
    let mut frontend_rng = Rng::stream(sim.seed, 7);
    let mut running: Vec<Option<Running>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut ends: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut in_flight = vec![0u32; w.functions.len()];
    let mut ratios: Vec<f64> = Vec::new();
    let mut next_sample = 0u64;
    let mut next_report = 0u64;
    let mut events = sim.events.iter().peekable();
    let (mut moved_sum, mut moved_events) = (0.0, 0u32);

    // The calls, then the end of the replay: what remains of ends, samples and events.
    for (i, call) in w.calls.iter().map(Some).chain([None]).enumerate() {
        // Calls before this one are done: count them in blocks.
        if i > 0 && i % 4096 == 0 {
            progress.add(4096);
        }
        let now = call.map_or(end_ms, |c| c.at_ms);
        // Everything before this arrival, in time order: ends, samples, reports, events.
        loop {
            let end = ends.peek().map_or(u64::MAX, |Reverse((t, _))| *t);
            let event = events.peek().map_or(u64::MAX, |(t, _)| *t);
            let report = if sim.busy_report_ms > 0 {
                next_report
            } else {
                u64::MAX
            };
            let next = end.min(event).min(next_sample).min(report);
            if next > now {
                break;
            }
            if next == end {
                let Reverse((t, slot)) = ends.pop().expect("peeked");
                let done = running[slot].take().expect("a running call");
                fleet.finish(done.manager, done.function, done.pinned, t);
                in_flight[done.function as usize] -= 1;
                free.push(slot);
            } else if next == event {
                let &(t, change) = events.next().expect("peeked");
                moved_sum += change_membership(&mut fleet, strat.as_mut(), w, change, t, sim.seed);
                moved_events += 1;
                provision(&mut fleet, strat.as_mut(), reservations, &mut pinned, t);
            } else if next == next_sample {
                if let Some(ratio) = peak_to_mean(&fleet) {
                    ratios.push(ratio);
                }
                next_sample += 1000;
            } else {
                strat.report_busy(&fleet, &pinned, next_report);
                next_report += sim.busy_report_ms;
            }
        }

        let Some(call) = call else { break };
        let f = call.function;
        let fi = f as usize;
        let within = (reserved_envs[fi] > 0).then(|| in_flight[fi] < reserved_envs[fi]);
        match within {
            Some(true) => r.reserved_calls += 1,
            Some(false) => r.spillovers += 1,
            None => {}
        }
        let frontend = frontend_rng.below(sim.frontends as u64) as usize;
        let outcome = strat
            .route(frontend, f, now, &fleet)
            .and_then(|mut ticket| loop {
                let start = if ticket.reserved() {
                    fleet.start_warm(ticket.manager, f, now)
                } else {
                    fleet.start(ticket.manager, f, now, ticket.pinned_ok())
                };
                match start {
                    Start::Full => {
                        if !strat.throttled(&mut ticket, f, &fleet) {
                            break None;
                        }
                        r.retries += 1;
                    }
                    start => break Some((ticket, start)),
                }
            });
        let Some((ticket, start)) = outcome else {
            r.throttled += 1;
            continue;
        };
        let (pinned, cold) = match start {
            Start::Warm { pinned } => (pinned, false),
            _ => (false, true),
        };
        if cold {
            r.cold_starts += 1;
            r.cold_starts_per_minute[((now / 60_000) as usize).min(w.minutes as usize - 1)] += 1;
            if within == Some(true) {
                r.reserved_cold_starts += 1;
            }
        } else {
            r.warm_starts += 1;
        }
        let done_at = now + u64::from(call.duration_ms) + if cold { sim.cold_start_ms } else { 0 };
        let entry = Running {
            manager: ticket.manager,
            function: f,
            pinned,
            _ticket: ticket,
        };
        let slot = match free.pop() {
            Some(slot) => {
                running[slot] = Some(entry);
                slot
            }
            None => {
                running.push(Some(entry));
                running.len() - 1
            }
        };
        ends.push(Reverse((done_at, slot)));
        in_flight[fi] += 1;
    }
    progress.add(w.calls.len() as u64 % 4096);

    r.calls = w.calls.len() as u64;
    r.cold_start_rate = if r.calls == 0 {
        0.0
    } else {
        r.cold_starts as f64 / r.calls as f64
    };
    r.load_peak_to_mean_p99 = percentile(&mut ratios, 99.0);
    r.env_memory_gb_seconds = fleet.gb_seconds(end_ms);
    r.moved_on_membership_change = if moved_events == 0 {
        0.0
    } else {
        moved_sum / f64::from(moved_events)
    };
    r.wall_seconds = started.elapsed().as_secs_f64();
    r
}

/// Adds managers (`change > 0`) or removes `-change` of them, chosen by the seed, at `now`,
/// and tells the strategy. Returns how much of the functions' placements moved, weighted by
/// calls (a busy function's move matters more).
fn change_membership(
    fleet: &mut Fleet,
    strat: &mut dyn Strategy,
    w: &Workload,
    change: i64,
    now: u64,
    seed: u64,
) -> f64 {
    let functions = 0..w.functions.len() as u32;
    let before: Vec<Vec<usize>> = functions
        .clone()
        .map(|f| strat.placement(f, fleet))
        .collect();
    if change > 0 {
        fleet.add_managers(change as usize);
    } else {
        let mut rng = Rng::stream(seed, now);
        for _ in 0..(-change) {
            let alive = fleet.alive();
            // Keep at least one manager: a fleet of none routes nothing.
            if alive.len() <= 1 {
                break;
            }
            let m = alive[rng.below(alive.len() as u64) as usize];
            fleet.remove_manager(m, now);
        }
    }
    strat.membership_changed(fleet);
    let (mut moved, mut weight) = (0.0, 0.0);
    for (f, before) in functions.zip(&before) {
        let calls = w.functions[f as usize].total_calls as f64;
        moved += calls * strategy::moved(before, &strat.placement(f, fleet));
        weight += calls;
    }
    if weight > 0.0 {
        moved / weight
    } else {
        0.0
    }
}

/// Places each reservation's pinned environments where the strategy says, as far as memory
/// allows, continuing along its list with what does not fit; unpins what is no longer wanted,
/// and tells the strategy how many were placed.
fn provision(
    fleet: &mut Fleet,
    strat: &mut dyn Strategy,
    reservations: &[(u32, u32)],
    pinned: &mut HashMap<u32, Vec<(usize, u32)>>,
    now: u64,
) {
    for &(f, envs) in reservations {
        let mut left = envs;
        let mut placed: Vec<(usize, u32)> = Vec::new();
        for (m, target) in strat.reserved_placement(f, envs, fleet) {
            if left == 0 {
                break;
            }
            let want = target.min(left);
            let got = fleet.pin(m, f, want, now);
            if got > 0 {
                placed.push((m, got));
            }
            left -= got.min(left);
        }
        for &(m, _) in pinned.get(&f).into_iter().flatten() {
            if !placed.iter().any(|&(p, _)| p == m) {
                fleet.pin(m, f, 0, now);
            }
        }
        strat.provisioned(f, envs - left);
        pinned.insert(f, placed);
    }
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
    use workload::{Call, Function};

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
        name: &str,
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
    }

    /// Strategies that send every call of a function to the same manager while it has room.
    const HOMED: [&str; 4] = ["arcroute", "consistent-hash", "openwhisk", "bounded-load"];

    #[test]
    fn calls_within_the_keep_alive_cold_start_once() {
        let w = one_function(&(0..12).map(|i| i * 5 * MIN).collect::<Vec<_>>(), 1000);
        for name in strategy::ALL {
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
        for name in strategy::ALL {
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
        let r = run("arcroute", &w, &[(0, 4)], &config(20, 1));
        assert_eq!(r.reserved_calls, 24);
        assert_eq!(
            (r.cold_starts, r.reserved_cold_starts, r.spillovers),
            (0, 0, 0)
        );
        let unreserved = run("arcroute", &w, &[], &config(20, 1));
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
        for name in strategy::ALL {
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
        let names: Vec<String> = strategy::ALL.iter().map(|s| s.to_string()).collect();
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
        let mut sim = config(20, 2);
        sim.events = vec![(5 * MIN, -1)];
        let moved = |name: &str| run(name, &w, &[], &sim).moved_on_membership_change;
        assert!(moved("arcroute") < 0.15, "arcroute {}", moved("arcroute"));
        assert!(moved("consistent-hash") < 0.15);
        assert!(moved("openwhisk") > 0.5, "hash mod n moves most homes");
    }

    #[test]
    fn arguments_parse_and_bad_ones_are_refused() {
        let args = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let o = parse_args(args(
            "--managers 7 --minutes 10..20 --add-managers 3:2 --strategies arcroute,random",
        ))
        .unwrap()
        .unwrap();
        assert_eq!((o.sim.managers, o.minutes.clone()), (7, 10..20));
        assert_eq!(o.sim.events, vec![(3 * MIN, 2)]);
        assert_eq!(o.strategies, ["arcroute", "random"]);
        assert!(parse_args(args("--help")).unwrap().is_none());
        for bad in [
            "--managers 0",
            "--managers x",
            "--minutes 5..5",
            "--strategies nope",
            "--frob 1",
            "--remove-managers 3",
            "--seed",
        ] {
            assert!(parse_args(args(bad)).is_err(), "{bad}");
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
