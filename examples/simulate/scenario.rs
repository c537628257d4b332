//! What one invocation of the simulator runs: the options, the simulated platform, the runs
//! they expand to, and the reservations taken from the workload.

use std::cmp::Reverse;
use std::num::NonZeroU32;
use std::ops::Range;
use std::path::PathBuf;

use crate::report::{FrontendRow, StrategyResult};
use crate::strategy::StrategyKind;
use crate::workload::{Arrivals, Workload};

/// Everything the command line sets, checked (see `cli`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Options {
    /// The trace to replay; `None`: the generated workload.
    #[serde(serialize_with = "lossy_path")]
    pub trace_dir: Option<PathBuf>,
    /// Trace minutes to replay, end excluded.
    pub minutes: Range<u32>,
    /// How calls are spread within a minute.
    pub arrivals: Arrivals,
    /// Seeds arrivals, durations, frontends and the ring.
    pub seed: u64,
    /// The simulated platform.
    pub sim: SimConfig,
    /// Reserve the functions with the most calls, this many.
    pub reserve_top: usize,
    /// ... at this percentile of their per-minute concurrency.
    pub reserve_percentile: f64,
    /// The strategies to compare, in report order.
    pub strategies: Vec<StrategyKind>,
    /// Run the frontend table instead of the strategies.
    pub frontend_table: bool,
    /// `--cut`: `(at ms, percent)`.
    pub cut: Option<(u64, u32)>,
    /// `--cut-mode`: the modes to run each strategy in; `None`: drain.
    pub cut_modes: Option<Vec<CutMode>>,
    /// The fleet sizes to run every strategy on (`sim.managers` is the first).
    pub fleets: Vec<usize>,
    /// Where to write the JSON report.
    #[serde(serialize_with = "lossy_path")]
    pub json: Option<PathBuf>,
    /// Where to draw the SVG chart.
    #[serde(serialize_with = "lossy_path")]
    pub svg: Option<PathBuf>,
    /// Where to draw the trade-off chart.
    #[serde(serialize_with = "lossy_path")]
    pub tradeoff_svg: Option<PathBuf>,
}

/// A path as text in the report, whatever its encoding.
fn lossy_path<S: serde::Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(p) => s.serialize_some(&p.to_string_lossy()),
        None => s.serialize_none(),
    }
}

/// How arcroute's routers count reserved calls across frontends (`--counting`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CountMode {
    /// Each router against its [`arcroute::Frontends`] share of `ready`.
    Local,
    /// Against host-reported fleet-wide counts ([`arcroute::Counting::Global`]).
    Global,
}

impl CountMode {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Global => "global",
        }
    }
}

/// How the host tears down reserved environments after a cut (`--cut-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CutMode {
    /// Lower the limit only; tear each excess environment down once idle a while.
    Drain,
    /// Lower `ready` at once; reclaim idle excess environments now, busy ones as they end.
    Immediate,
}

impl CutMode {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Drain => "drain",
            Self::Immediate => "immediate",
        }
    }
}

/// A reservation cut: at `at_ms`, every reservation to `percent` of its size (rounded down).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Cut {
    /// When, in ms from the start of the replay.
    pub at_ms: u64,
    /// To this share of each reservation, `0..=100`.
    pub percent: u32,
    /// How the host tears the excess down.
    pub mode: CutMode,
}

/// The window after a cut that the cut table reports.
pub const CUT_WINDOW_MS: u64 = 10 * 60_000;

/// The simulated platform.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SimConfig {
    /// Worker managers at the start.
    pub managers: usize,
    /// Memory of each manager for environments.
    pub memory_mb: u64,
    /// Cores of each manager: calls beyond them share them.
    pub cores: u32,
    /// What a throttle costs a call: the round trip before it is offered to the next
    /// manager.
    pub retry_ms: u64,
    /// Throttles a call may take; at the next one it is rejected (throttled).
    pub max_retries: u32,
    /// Frontends, each with its own router.
    pub frontends: usize,
    /// How long an idle environment lives.
    pub keep_alive_ms: u64,
    /// Added to a call's duration when it cold-starts.
    pub cold_start_ms: u64,
    /// How often the host reports busy fractions; 0: never.
    pub busy_report_ms: u64,
    /// arcroute's in-flight calls per manager of an unreserved arc; `None`: the crate default.
    pub arc_target: Option<NonZeroU32>,
    /// Membership changes, by time: `(at ms, +count or −count)`.
    pub events: Vec<(u64, i64)>,
    /// Seeds the frontends' picks, the ring and the managers removed.
    pub seed: u64,
    /// arcroute's counting across frontends.
    pub counting: CountMode,
    /// How often the host's counting service reports, under global counting.
    pub count_report_ms: u64,
    /// arcroute's sibling rule: busy reports and the busy threshold, or neither.
    pub busy_rule: bool,
    /// A reservation cut in the run, if any.
    pub cut: Option<Cut>,
    /// Drain: how long an excess reserved environment must be idle before it goes.
    pub drain_idle_ms: u64,
    /// How often the managers' load reports reach the routers that read them (CH-RLU's
    /// load, arcroute's `Router::report_load`); 0: never.
    pub load_report_ms: u64,
    /// arcroute's pick within an arc; `None`: the crate's default.
    pub pick: Option<PickKind>,
}

/// arcroute's pick within an arc (`--pick`), by the [`arcroute::Pick`] variant it maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PickKind {
    /// [`arcroute::Pick::RoundRobin`].
    RoundRobin,
    /// [`arcroute::Pick::LeastLoadedOfTwo`], fed by the managers' load reports.
    LeastLoaded,
    /// [`arcroute::Pick::Pack`] (the crate's default), its load bound fed by the managers'
    /// load reports.
    Pack,
}

impl PickKind {
    /// The library's variant.
    pub fn pick(self) -> arcroute::Pick {
        match self {
            Self::RoundRobin => arcroute::Pick::RoundRobin,
            Self::LeastLoaded => arcroute::Pick::LeastLoadedOfTwo,
            Self::Pack => arcroute::Pick::Pack,
        }
    }
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
                cores: 16,
                retry_ms: 5,
                max_retries: 3,
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
                load_report_ms: 5000,
                pick: None,
            },
            reserve_top: 10,
            reserve_percentile: 90.0,
            strategies: StrategyKind::ALL.to_vec(),
            frontend_table: false,
            cut: None,
            cut_modes: None,
            fleets: vec![20],
            json: None,
            svg: None,
            tradeoff_svg: None,
        }
    }
}

/// One replay: a strategy on a platform, shown as `name`.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// The row's name.
    pub name: String,
    /// The router replayed.
    pub strategy: StrategyKind,
    /// The platform it runs on.
    pub sim: SimConfig,
}

impl RunSpec {
    /// `strategy` on `sim`, named after the strategy.
    pub fn plain(strategy: StrategyKind, sim: &SimConfig) -> Self {
        Self {
            name: strategy.name().into(),
            strategy,
            sim: sim.clone(),
        }
    }
}

/// The runs of the strategy table: on each fleet size in turn, each strategy, in each cut
/// mode when there is a cut.
#[cfg(test)]
pub fn strategy_runs(o: &Options) -> Vec<RunSpec> {
    o.fleets
        .iter()
        .flat_map(|&managers| fleet_runs(o, managers))
        .collect()
}

/// The runs of the strategy table on a fleet of `managers`.
pub fn fleet_runs(o: &Options, managers: usize) -> Vec<RunSpec> {
    let sim = SimConfig {
        managers,
        ..o.sim.clone()
    };
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
    for &strategy in &o.strategies {
        for &mode in &modes {
            let mut run = RunSpec::plain(strategy, &sim);
            run.sim.cut = o.cut.zip(mode).map(|((at_ms, percent), mode)| Cut {
                at_ms,
                percent,
                mode,
            });
            if let Some(mode) = mode.filter(|_| modes.len() > 1) {
                run.name = format!("{} ({})", strategy.name(), mode.name());
            }
            runs.push(run);
        }
    }
    runs
}

/// Frontend counts of the frontend table.
pub const TABLE_FRONTENDS: [usize; 3] = [1, 4, 16];

/// The runs of the frontend table: arcroute with each frontend count, counting local and
/// global, with the busy rule off and on.
pub fn frontend_runs(sim: &SimConfig) -> Vec<RunSpec> {
    let mut runs = Vec::new();
    for frontends in TABLE_FRONTENDS {
        for counting in [CountMode::Local, CountMode::Global] {
            for busy_rule in [false, true] {
                let sim = SimConfig {
                    frontends,
                    counting,
                    busy_rule,
                    ..sim.clone()
                };
                runs.push(RunSpec::plain(StrategyKind::Arcroute, &sim));
            }
        }
    }
    runs
}

/// The frontend table's rows from its runs' results.
pub fn frontend_rows(
    runs: &[RunSpec],
    results: Vec<StrategyResult>,
    minutes: u32,
) -> Vec<FrontendRow> {
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

/// Reserves the `top` functions with the most calls: `ceil` of the `percentile`-th percentile
/// of their per-minute mean concurrency (calls in the minute × mean duration / 1 minute), at
/// least 1. Returns `(function, environments)`.
pub fn reserve(w: &Workload, top: usize, percentile: f64) -> Vec<(u32, u32)> {
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
pub fn cap(mut reservations: Vec<(u32, u32)>, w: &Workload, budget_mb: u64) -> Vec<(u32, u32)> {
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

/// Checks that the options' times fall within a workload of `minutes` minutes.
///
/// # Errors
/// A membership change or a cut at or past the replay's end.
pub fn check_times(o: &Options, minutes: u32) -> Result<(), String> {
    let end_ms = u64::from(minutes) * 60_000;
    if let Some(&(at, _)) = o.sim.events.iter().find(|&&(at, _)| at >= end_ms) {
        return Err(format!(
            "a membership change at minute {} is past the replay's {minutes} minutes",
            at / 60_000
        ));
    }
    if let Some((at, _)) = o.cut.filter(|&(at, _)| at >= end_ms) {
        return Err(format!(
            "the cut at minute {} is past the replay's {minutes} minutes",
            at / 60_000
        ));
    }
    Ok(())
}
