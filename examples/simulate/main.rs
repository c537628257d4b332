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
use report::{
    FrontendReport, FrontendRow, Progress, Report, StrategyResult, Window, WorkloadSummary,
};
use rand::Rng as _;
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
  --counting local|global  how arcroute's routers count reserved calls across frontends:
                           local, each against its even share of the environments ready;
                           global, against the fleet-wide count that the host's counting
                           service sums from every frontend and reports back [local]
  --count-report-ms N      global: how often the counting service reports; a report is
                           trusted for three periods [1000]
  --busy-rule on|off       arcroute's sibling rule: while the host reports reserved
                           environments idle, a frontend may admit past its count [on]
  --remove-managers M:C    at minute M (from the start of the replay) remove C managers
  --add-managers M:C       at minute M add C managers (both may repeat)
Reservation cut:
  --cut MINUTE:PERCENT     at MINUTE (from the start of the replay) cut every reservation
                           to PERCENT of its size, rounded down, and report the 10 minutes
                           after it
  --cut-mode drain|immediate|both
                           drain: routers keep using the reserved environments that exist,
                           and the host tears each excess one down once it has been idle
                           for --drain-idle-s, lowering `ready` as each goes; immediate:
                           `ready` drops to the new size at once, idle excess environments
                           go at once and busy ones as their call ends; both: run every
                           strategy each way [drain]
  --drain-idle-s N         drain: seconds an excess environment must sit idle [60]
Output:
  --strategies a,b,...     among arcroute,random,round-robin,consistent-hash,openwhisk,
                           bounded-load [all]
  --frontend-table         instead of the strategy table, run arcroute with 1, 4 and 16
                           frontends, each counting local or global with the busy rule off
                           or on (12 runs), and print one row each
  --json PATH              write the report (or the frontend table) as JSON
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
    /// Run the frontend table instead of the strategies.
    frontend_table: bool,
    /// `--cut`: `(at ms, percent)`.
    cut: Option<(u64, u32)>,
    /// `--cut-mode`: the modes to run each strategy in; `None`: drain.
    cut_modes: Option<Vec<CutMode>>,
    json: Option<PathBuf>,
    svg: Option<PathBuf>,
}

/// How arcroute's routers count reserved calls across frontends (`--counting`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CountMode {
    /// Each router against its [`arcroute::Frontends`] share of `ready`.
    Local,
    /// Against host-reported fleet-wide counts ([`arcroute::Counting::Global`]).
    Global,
}

impl CountMode {
    fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Global => "global",
        }
    }
}

/// How the host tears down reserved environments after a cut (`--cut-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CutMode {
    /// Lower the limit only; tear each excess environment down once idle a while.
    Drain,
    /// Lower `ready` at once; reclaim idle excess environments now, busy ones as they end.
    Immediate,
}

impl CutMode {
    fn name(self) -> &'static str {
        match self {
            Self::Drain => "drain",
            Self::Immediate => "immediate",
        }
    }
}

/// A reservation cut: at `at_ms`, every reservation to `percent` of its size (rounded down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cut {
    at_ms: u64,
    percent: u32,
    mode: CutMode,
}

/// The window after a cut that the cut table reports.
const CUT_WINDOW_MS: u64 = 10 * 60_000;

/// How often a draining host looks for excess reserved environments to tear down.
const DRAIN_TICK_MS: u64 = 1000;

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
    /// arcroute's counting across frontends.
    counting: CountMode,
    /// How often the host's counting service reports, under global counting.
    count_report_ms: u64,
    /// arcroute's sibling rule: busy reports and the busy threshold, or neither.
    busy_rule: bool,
    /// A reservation cut in the run, if any.
    cut: Option<Cut>,
    /// Drain: how long an excess reserved environment must be idle before it goes.
    drain_idle_ms: u64,
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
                counting: CountMode::Local,
                count_report_ms: 1000,
                busy_rule: true,
                cut: None,
                drain_idle_ms: 60_000,
            },
            reserve_top: 10,
            reserve_percentile: 90.0,
            strategies: strategy::ALL.iter().map(|s| s.to_string()).collect(),
            frontend_table: false,
            cut: None,
            cut_modes: None,
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
        if flag == "--frontend-table" {
            o.frontend_table = true;
            continue;
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
            "--counting" => {
                o.sim.counting = match value.as_str() {
                    "local" => CountMode::Local,
                    "global" => CountMode::Global,
                    _ => return Err(format!("--counting: `{value}` is not local or global")),
                }
            }
            "--count-report-ms" => {
                o.sim.count_report_ms = number("--count-report-ms")?;
                if o.sim.count_report_ms == 0 {
                    return Err("--count-report-ms must be at least 1".into());
                }
            }
            "--busy-rule" => {
                o.sim.busy_rule = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("--busy-rule: `{value}` is not on or off")),
                }
            }
            "--cut" => {
                let (at, percent) = value
                    .split_once(':')
                    .and_then(|(m, p)| Some((m.parse::<u64>().ok()?, p.parse::<u32>().ok()?)))
                    .filter(|&(_, p)| p <= 100)
                    .ok_or_else(|| {
                        format!("--cut: `{value}` is not MINUTE:PERCENT with PERCENT in 0..=100")
                    })?;
                o.cut = Some((at * 60_000, percent));
            }
            "--cut-mode" => {
                o.cut_modes = Some(match value.as_str() {
                    "drain" => vec![CutMode::Drain],
                    "immediate" => vec![CutMode::Immediate],
                    "both" => vec![CutMode::Drain, CutMode::Immediate],
                    _ => {
                        return Err(format!(
                            "--cut-mode: `{value}` is not drain, immediate or both"
                        ))
                    }
                })
            }
            "--drain-idle-s" => o.sim.drain_idle_ms = number("--drain-idle-s")? * 1000,
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
    if o.cut_modes.is_some() && o.cut.is_none() {
        return Err("--cut-mode needs --cut".into());
    }
    if o.frontend_table && (o.cut.is_some() || o.svg.is_some()) {
        return Err("--frontend-table takes neither --cut nor --svg".into());
    }
    Ok(Some(o))
}

/// One replay: a strategy on a platform, shown as `name`.
#[derive(Clone, Debug)]
struct RunSpec {
    name: String,
    strategy: String,
    sim: SimConfig,
}

/// The runs of the strategy table: each strategy, in each cut mode when there is a cut.
fn strategy_runs(o: &Options) -> Vec<RunSpec> {
    let modes = match o.cut {
        None => vec![None],
        Some(_) => o
            .cut_modes
            .clone()
            .unwrap_or_else(|| vec![CutMode::Drain])
            .into_iter()
            .map(Some)
            .collect(),
    };
    let mut runs = Vec::new();
    for strategy in &o.strategies {
        for &mode in &modes {
            let mut sim = o.sim.clone();
            sim.cut = o.cut.zip(mode).map(|((at_ms, percent), mode)| Cut {
                at_ms,
                percent,
                mode,
            });
            let name = match mode {
                Some(mode) if modes.len() > 1 => format!("{strategy} ({})", mode.name()),
                _ => strategy.clone(),
            };
            runs.push(RunSpec {
                name,
                strategy: strategy.clone(),
                sim,
            });
        }
    }
    runs
}

/// Frontend counts of the frontend table.
const TABLE_FRONTENDS: [usize; 3] = [1, 4, 16];

/// The runs of the frontend table: arcroute with each frontend count, counting local and
/// global, with the busy rule off and on.
fn frontend_runs(sim: &SimConfig) -> Vec<RunSpec> {
    let mut runs = Vec::new();
    for frontends in TABLE_FRONTENDS {
        for counting in [CountMode::Local, CountMode::Global] {
            for busy_rule in [false, true] {
                runs.push(RunSpec {
                    name: "arcroute".into(),
                    strategy: "arcroute".into(),
                    sim: SimConfig {
                        frontends,
                        counting,
                        busy_rule,
                        ..sim.clone()
                    },
                });
            }
        }
    }
    runs
}

/// The frontend table's rows from its runs' results.
fn frontend_rows(runs: &[RunSpec], results: Vec<StrategyResult>, minutes: u32) -> Vec<FrontendRow> {
    let seconds = f64::from(minutes) * 60.0;
    runs.iter()
        .zip(results)
        .map(|(run, result)| {
            let routing = result.routing.unwrap_or_default();
            FrontendRow {
                frontends: run.sim.frontends,
                counting: run.sim.counting.name().into(),
                busy_rule: run.sim.busy_rule,
                reports_per_second: routing.reports as f64 / seconds,
                uploads_per_second: routing.uploads as f64 / seconds,
                routing,
                result,
            }
        })
        .collect()
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
    if let Some((at, _)) = o
        .cut
        .filter(|&(at, _)| at >= u64::from(workload.minutes) * 60_000)
    {
        return Err(format!(
            "the cut at minute {} is past the replay's {} minutes",
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
    if o.frontend_table {
        let runs = frontend_runs(&o.sim);
        let report = simulate_runs(&workload, &reservations, &runs);
        let table = FrontendReport {
            rows: frontend_rows(&runs, report.strategies, workload.minutes),
            workload: report.workload,
        };
        report::print_frontend_table(&table, &mut std::io::stdout()).map_err(|e| e.to_string())?;
        println!(
            "reserved: {} environments in {} functions; host reports every {} ms (busy \
             fractions) and {} ms (global counts)",
            reservations.iter().map(|&(_, n)| u64::from(n)).sum::<u64>(),
            reservations.len(),
            o.sim.busy_report_ms,
            o.sim.count_report_ms
        );
        if let Some(path) = &o.json {
            report::write_frontend_json(&table, path)?;
        }
        return Ok(());
    }
    let report = simulate_runs(&workload, &reservations, &strategy_runs(o));
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
    if o.cut.is_some() {
        report::print_cut_table(&report, &mut std::io::stdout()).map_err(|e| e.to_string())?;
    }
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

/// Runs every strategy on the same workload and platform.
#[cfg(test)]
fn simulate_all(
    w: &Workload,
    reservations: &[(u32, u32)],
    sim: &SimConfig,
    names: &[String],
) -> Report {
    let runs: Vec<RunSpec> = names
        .iter()
        .map(|name| RunSpec {
            name: name.clone(),
            strategy: name.clone(),
            sim: sim.clone(),
        })
        .collect();
    simulate_runs(w, reservations, &runs)
}

/// Replays the same workload once per run, as many at a time as the machine has cores.
fn simulate_runs(w: &Workload, reservations: &[(u32, u32)], runs: &[RunSpec]) -> Report {
    let progress = Progress::new("simulating", (w.calls.len() * runs.len()) as u64);
    let tasks: Vec<TaskId> = w
        .functions
        .iter()
        .map(|f| TaskId::from_name(&f.name))
        .collect();
    // Workers take the next strategy as they finish one: strategies differ a lot in cost.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(runs.len());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<StrategyResult>>> = Mutex::new(vec![None; runs.len()]);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(run) = runs.get(i) else { break };
                let mut r = simulate(&run.strategy, w, &tasks, reservations, &run.sim, &progress);
                r.name.clone_from(&run.name);
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

/// Reserved environments of `f` now, over the managers it was placed on.
fn pinned_total(fleet: &Fleet, pinned: &HashMap<u32, Vec<(usize, u32)>>, f: u32) -> u32 {
    pinned
        .get(&f)
        .into_iter()
        .flatten()
        .map(|&(m, _)| fleet.pinned(m, f).0)
        .sum()
}

/// Reserved environments of all functions now.
fn pinned_all(fleet: &Fleet, pinned: &HashMap<u32, Vec<(usize, u32)>>) -> u64 {
    pinned
        .keys()
        .map(|&f| u64::from(pinned_total(fleet, pinned, f)))
        .sum()
}

/// How many of `f`'s reserved environments each manager holding some has beyond where the
/// strategy places `limit` of them: `(manager, excess)`. The placement is walked as
/// [`provision`] walks it, but a cut never adds: a manager keeps at most what it holds, and
/// what it lacks is kept further along the placement. The excess adds up to at most what
/// exceeds `limit` in all, taken from the managers last in `places` first (the end of a
/// reserved arc, which leaves it first as the arc shortens): where the new placement finds
/// fewer environments than `limit` (an arc that shortened, a manager without room), the
/// environments elsewhere stay rather than leave the reservation short.
fn excess_after_cut(
    fleet: &Fleet,
    strat: &dyn Strategy,
    places: &[(usize, u32)],
    f: u32,
    limit: u32,
) -> Vec<(usize, u32)> {
    let mut keep: HashMap<usize, u32> = HashMap::new();
    let mut left = limit;
    for (m, target) in strat.reserved_placement(f, limit, fleet) {
        if left == 0 {
            break;
        }
        let kept = keep.entry(m).or_default();
        let more = target.min(left).min(fleet.pinned(m, f).0 - *kept);
        *kept += more;
        left -= more;
    }
    let total: u32 = places.iter().map(|&(m, _)| fleet.pinned(m, f).0).sum();
    let mut allowed = total.saturating_sub(limit);
    let mut excess = Vec::new();
    for &(m, _) in places.iter().rev() {
        let over = (fleet.pinned(m, f).0 - keep.get(&m).copied().unwrap_or(0)).min(allowed);
        if over > 0 {
            excess.push((m, over));
            allowed -= over;
        }
    }
    excess
}

/// Refreshes `f`'s entry of `pinned` from the fleet, dropping managers with none left.
fn refresh_pinned(fleet: &Fleet, pinned: &mut HashMap<u32, Vec<(usize, u32)>>, f: u32) {
    if let Some(places) = pinned.get_mut(&f) {
        for (m, n) in places.iter_mut() {
            *n = fleet.pinned(*m, f).0;
        }
        places.retain(|&(_, n)| n > 0);
    }
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
    // The reservations now (a cut lowers them).
    let mut limits: Vec<(u32, u32)> = reservations.to_vec();
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
    let mut frontend_rng = rng::stream(sim.seed, 7);
    let mut running: Vec<Option<Running>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut ends: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut in_flight = vec![0u32; w.functions.len()];
    let mut ratios: Vec<f64> = Vec::new();
    let mut next_sample = 0u64;
    let mut next_report = 0u64;
    let mut events = sim.events.iter().peekable();
    let (mut moved_sum, mut moved_events) = (0.0, 0u32);
    let mut next_count = match sim.counting {
        CountMode::Global => 0,
        CountMode::Local => u64::MAX,
    };
    let mut over_admitted = 0u64;
    // The cut, the end of the window after it, and the draining host's next look.
    let mut cut_at = sim.cut.map_or(u64::MAX, |c| c.at_ms);
    let window_end = sim
        .cut
        .map_or(u64::MAX, |c| (c.at_ms + CUT_WINDOW_MS).min(end_ms));
    let mut window_mark = window_end;
    let mut next_drain = u64::MAX;
    let mut window = Window::default();
    let (mut gb_at_cut, mut spilled_at_cut) = (0.0, None);

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
            let report = if sim.busy_report_ms > 0 && sim.busy_rule {
                next_report
            } else {
                u64::MAX
            };
            let host = next_count.min(cut_at).min(window_mark).min(next_drain);
            let next = end.min(event).min(next_sample).min(report).min(host);
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
                // Re-placing after a membership change provisions the current limits, and
                // ends a drain: the host re-provisions from scratch.
                provision(&mut fleet, strat.as_mut(), &limits, &mut pinned, t);
            } else if next == next_sample {
                if let Some(ratio) = peak_to_mean(&fleet) {
                    ratios.push(ratio);
                }
                next_sample += 1000;
            } else if next == report {
                strat.report_busy(&fleet, &pinned, next_report);
                next_report += sim.busy_report_ms;
            } else if next == next_count {
                strat.report_counts(next_count);
                next_count += sim.count_report_ms;
            } else if next == cut_at {
                let cut = sim.cut.expect("a cut is scheduled");
                window = Window {
                    mode: cut.mode.name().into(),
                    percent: cut.percent,
                    from_minute: cut.at_ms / 60_000,
                    minutes: (window_end - cut.at_ms).div_ceil(60_000),
                    reserved_envs_before: pinned_all(&fleet, &pinned),
                    ..Window::default()
                };
                gb_at_cut = fleet.gb_seconds(cut_at);
                spilled_at_cut = strat.routing().map(|r| r.spilled);
                apply_cut(&mut fleet, strat.as_mut(), cut, &mut limits, &mut pinned);
                for &(f, limit) in &limits {
                    reserved_envs[f as usize] = limit;
                }
                if cut.mode == CutMode::Drain {
                    next_drain = cut_at;
                }
                cut_at = u64::MAX;
            } else if next == window_mark {
                window.env_memory_gb_seconds = fleet.gb_seconds(window_mark) - gb_at_cut;
                window.reserved_envs_after = pinned_all(&fleet, &pinned);
                window.spilled = strat
                    .routing()
                    .zip(spilled_at_cut)
                    .map(|(r, at_cut)| r.spilled - at_cut);
                window_mark = u64::MAX;
            } else {
                let draining = drain(&mut fleet, strat.as_mut(), sim, &limits, &mut pinned, next);
                next_drain = if draining {
                    next_drain + DRAIN_TICK_MS
                } else {
                    u64::MAX
                };
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
        let frontend = frontend_rng.random_range(0..sim.frontends);
        let in_window = (sim.cut.map_or(u64::MAX, |c| c.at_ms)..window_end).contains(&now);
        if in_window {
            window.calls += 1;
            match within {
                Some(true) => window.reserved_calls += 1,
                Some(false) => window.spillovers += 1,
                None => {}
            }
        }
        let ticket = strat.route(frontend, f, now, &fleet);
        if ticket.as_ref().is_some_and(Ticket::reserved) {
            if let Some((in_flight, ready)) = strat.reserved_count(f) {
                over_admitted += u64::from(in_flight > ready);
            }
        }
        let outcome = ticket.and_then(|mut ticket| loop {
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
        if in_window {
            window.cold_starts += u64::from(cold);
            window.reserved_cold_starts += u64::from(cold && within == Some(true));
        }
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
    r.routing = strat.routing().map(|routing| report::Routing {
        over_admitted,
        ..routing
    });
    if sim.cut.is_some() {
        r.after_cut = Some(window);
    }
    r.wall_seconds = started.elapsed().as_secs_f64();
    r
}

/// Cuts every reservation in `limits` to `cut.percent` of its size (rounded down) and tells
/// the strategy. A draining host leaves the environments in place: routers keep admitting
/// against what is ready, and [`drain`] tears the excess down. An immediate host reclaims the
/// excess at once (idle environments now, busy ones as their call ends) and reports only
/// what remains ready.
fn apply_cut(
    fleet: &mut Fleet,
    strat: &mut dyn Strategy,
    cut: Cut,
    limits: &mut [(u32, u32)],
    pinned: &mut HashMap<u32, Vec<(usize, u32)>>,
) {
    for (f, limit) in limits.iter_mut() {
        let f = *f;
        *limit = u32::try_from(u64::from(*limit) * u64::from(cut.percent) / 100)
            .expect("at most the limit");
        strat.cut(f, *limit);
        if cut.mode == CutMode::Immediate {
            let places = pinned.get(&f).cloned().unwrap_or_default();
            for (m, excess) in excess_after_cut(fleet, strat, &places, f, *limit) {
                fleet.reclaim(m, f, excess, cut.at_ms);
            }
            refresh_pinned(fleet, pinned, f);
        }
        strat.set_ready(f, pinned_total(fleet, pinned, f));
    }
}

/// One look of a draining host at `now`: tears down each reservation's excess environments
/// that have been idle for `sim.drain_idle_ms`, and lowers `ready` by as many. Environments
/// that are busy, or were busy a moment ago, keep serving Reserved calls meanwhile. Returns
/// whether any reservation still has more environments than its limit.
fn drain(
    fleet: &mut Fleet,
    strat: &mut dyn Strategy,
    sim: &SimConfig,
    limits: &[(u32, u32)],
    pinned: &mut HashMap<u32, Vec<(usize, u32)>>,
    now: u64,
) -> bool {
    let mut draining = false;
    for &(f, limit) in limits {
        let places = pinned.get(&f).cloned().unwrap_or_default();
        let mut gone = 0;
        for (m, excess) in excess_after_cut(fleet, strat, &places, f, limit) {
            gone += fleet.tear_down_idle(m, f, excess, sim.drain_idle_ms, now);
        }
        if gone > 0 {
            refresh_pinned(fleet, pinned, f);
            strat.set_ready(f, pinned_total(fleet, pinned, f));
        }
        draining |= pinned_total(fleet, pinned, f) > limit;
    }
    draining
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
        let mut rng = rng::stream(seed, now);
        for _ in 0..(-change) {
            let alive = fleet.alive();
            // Keep at least one manager: a fleet of none routes nothing.
            if alive.len() <= 1 {
                break;
            }
            let m = alive[rng.random_range(0..alive.len())];
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
    fn counting_and_cut_options_parse_and_bad_ones_are_refused() {
        let args = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let d = parse_args(args("")).unwrap().unwrap();
        assert_eq!(
            (d.sim.counting, d.sim.busy_rule, d.sim.cut, d.frontend_table),
            (CountMode::Local, true, None, false),
            "defaults: today's behaviour"
        );
        assert_eq!(strategy_runs(&d).len(), strategy::ALL.len());
        let o = parse_args(args(
            "--counting global --count-report-ms 250 --busy-rule off --cut 30:50 \
             --cut-mode both --drain-idle-s 5 --strategies arcroute,random",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            (o.sim.counting, o.sim.count_report_ms, o.sim.busy_rule),
            (CountMode::Global, 250, false)
        );
        assert_eq!((o.cut, o.sim.drain_idle_ms), (Some((30 * MIN, 50)), 5000));
        let runs = strategy_runs(&o);
        let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "arcroute (drain)",
                "arcroute (immediate)",
                "random (drain)",
                "random (immediate)"
            ]
        );
        assert_eq!(
            runs[1].sim.cut,
            Some(Cut {
                at_ms: 30 * MIN,
                percent: 50,
                mode: CutMode::Immediate
            })
        );
        let one = parse_args(args("--cut 5:0 --strategies arcroute"))
            .unwrap()
            .unwrap();
        assert_eq!(
            strategy_runs(&one)[0].name,
            "arcroute",
            "one mode: plain names"
        );
        assert_eq!(strategy_runs(&one)[0].sim.cut.unwrap().mode, CutMode::Drain);
        let table = parse_args(args("--frontend-table --json t.json"))
            .unwrap()
            .unwrap();
        assert!(table.frontend_table);
        let runs = frontend_runs(&table.sim);
        assert_eq!(runs.len(), 12);
        assert!(runs
            .iter()
            .all(|r| r.strategy == "arcroute" && r.sim.cut.is_none()));
        assert_eq!(
            (
                runs[11].sim.frontends,
                runs[11].sim.counting,
                runs[11].sim.busy_rule
            ),
            (16, CountMode::Global, true)
        );
        for bad in [
            "--counting both",
            "--busy-rule yes",
            "--count-report-ms 0",
            "--cut 30",
            "--cut 30:101",
            "--cut x:50",
            "--cut 30:-5",
            "--cut-mode slow",
            "--cut-mode drain",
            "--drain-idle-s -1",
            "--frontend-table --cut 3:50",
            "--frontend-table --svg x.svg",
        ] {
            assert!(parse_args(args(bad)).is_err(), "{bad}");
        }
    }

    /// arcroute alone under `sim` on `w`.
    fn arcroute(w: &Workload, reservations: &[(u32, u32)], sim: &SimConfig) -> StrategyResult {
        run("arcroute", w, reservations, sim)
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
