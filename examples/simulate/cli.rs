//! The command line: parsed by clap, then every value range-checked, with checked arithmetic
//! where options combine, before anything is allocated or read.
//!
//! Errors are `clap` errors, printed with the usage and exiting with status 2.

use std::num::NonZeroU32;
use std::ops::Range;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};

use crate::scenario::{CountMode, CutMode, Options, PickKind, SimConfig};
use crate::strategy::StrategyKind;
use crate::workload::Arrivals;

/// Most managers a fleet may have at any time (at the start or after `--add-managers`).
pub const MAX_MANAGERS: u64 = 100_000;
/// Most frontends (each runs its own router).
pub const MAX_FRONTENDS: u64 = 1_024;
/// Most managers times routers (frontends, plus the provisioning side's): every router holds
/// its own ring, about 160 points a manager. Also the most managers in all (at the start and
/// every one added, as removed ones keep their index) times routers: the routers' state per
/// manager.
pub const MAX_ROUTER_MANAGERS: u64 = 1_000_000;
/// Most memory of one manager, in GB (1 PiB).
pub const MAX_MEMORY_GB: u64 = 1 << 20;
/// Most fleet sizes in one run.
pub const MAX_FLEETS: usize = 16;
/// Most cores of one manager.
pub const MAX_CORES: u64 = 1 << 20;
/// Most throttles a call may take (bounds the histogram of throttles per call).
pub const MAX_RETRIES: u64 = 10_000;
/// Memory per core of the default manager shape, in GB: 2 GB a core, close to AWS Lambda's
/// 1,769 MB per vCPU.
const GB_PER_CORE: u64 = 2;
/// Longest period, delay or duration an option may give, in ms (a year).
pub const MAX_MS: u64 = 365 * 24 * 3_600_000;

const MINUTE_MS: u64 = 60_000;

/// Replay serverless calls through arcroute and its rivals on a simulated fleet.
///
/// Options take their value as `--name value` or `--name=value`.
#[derive(Debug, Parser)]
#[command(
    name = "simulate",
    override_usage = "cargo run --release --example simulate -- [OPTIONS]"
)]
struct Args {
    /// Azure Functions 2019 trace (*inv.csv, *run.csv, *mem.csv); default: an embedded
    /// generated workload shaped like it
    #[arg(long, value_name = "DIR", help_heading = "Workload")]
    trace_dir: Option<PathBuf>,
    /// Trace minutes to replay, 0-based, end excluded
    #[arg(long, value_name = "FROM..TO", default_value = "480..600", value_parser = minute_range, help_heading = "Workload")]
    minutes: Range<u32>,
    /// Times within a minute: independent uniform (a Poisson process given the minute's
    /// count) or evenly spaced
    #[arg(long, value_enum, default_value_t = Arrivals::Random, help_heading = "Workload")]
    arrivals: Arrivals,
    /// Seeds arrivals, durations, frontends and the ring
    #[arg(long, value_name = "N", default_value_t = 1, help_heading = "Workload")]
    seed: u64,

    /// Worker managers; several fleet sizes, comma-separated, run every strategy on each
    #[arg(long, value_name = "N,M,...", default_value = "20", value_delimiter = ',',
          value_parser = clap::value_parser!(u64).range(1..=MAX_MANAGERS), help_heading = "Fleet")]
    managers: Vec<u64>,
    /// Memory of each manager, for environments, in GB
    #[arg(long, value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(1..=MAX_MEMORY_GB), help_heading = "Fleet")]
    memory_gb: u64,
    /// Cores of each manager: a running call demands one, and calls beyond them share the
    /// cores (processor sharing) [default: one per 2 GB of --memory-gb, close to Lambda's
    /// 1,769 MB per vCPU: 16 for 32 GB]
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=MAX_CORES), help_heading = "Fleet")]
    cores: Option<u64>,
    /// What a throttle costs a call: the round trip to the manager that refused it, before
    /// the frontend offers it to the next one (a placement RPC inside a data centre and the
    /// manager's admission check take a few ms)
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=MAX_MS), help_heading = "Fleet")]
    retry_ms: u64,
    /// Throttles a frontend takes for one call, the same for every strategy; at the next
    /// one the call is rejected and counted as throttled (3: the usual retry budget of a
    /// client, after which the caller sees 429 and backs off)
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(0..=MAX_RETRIES), help_heading = "Fleet")]
    max_retries: u64,
    /// Frontends, each with its own router; calls pick one at random
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=MAX_FRONTENDS), help_heading = "Fleet")]
    frontends: u64,
    /// Idle environments live this many minutes
    #[arg(long, value_name = "MIN", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=MAX_MS / MINUTE_MS), help_heading = "Fleet")]
    keep_alive: u64,
    /// Added to a call's duration when it cold-starts
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(0..=MAX_MS), help_heading = "Fleet")]
    cold_start_ms: u64,
    /// Reserve the K functions with the most calls
    #[arg(long, value_name = "K", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=1_000_000), help_heading = "Fleet")]
    reserve_top: u64,
    /// ... at the P-th percentile of their per-minute concurrency
    #[arg(long, value_name = "P", default_value_t = 90.0, value_parser = percentile, help_heading = "Fleet")]
    reserve_percentile: f64,
    /// How often the host reports each reservation's busy fraction to arcroute's routers,
    /// for the spillover rule; 0 = never
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(0..=MAX_MS), help_heading = "Fleet")]
    busy_report_ms: u64,
    /// arcroute: in-flight calls per manager an unreserved arc is sized for [default: the
    /// crate's]
    #[arg(long, value_name = "N", help_heading = "Fleet")]
    arc_target: Option<NonZeroU32>,
    /// How arcroute's routers count reserved calls across frontends: local, each against
    /// its even share of the environments ready; global, against the fleet-wide count that
    /// the host's counting service sums from every frontend and reports back
    #[arg(long, value_enum, default_value_t = CountMode::Local, help_heading = "Fleet")]
    counting: CountMode,
    /// Global: how often the counting service reports; a report is trusted for three
    /// periods
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=MAX_MS), help_heading = "Fleet")]
    count_report_ms: u64,
    /// arcroute's sibling rule: while the host reports reserved environments idle, a
    /// frontend may admit past its count
    #[arg(long, value_enum, default_value_t = Switch::On, help_heading = "Fleet")]
    busy_rule: Switch,
    /// How often each manager's load report reaches the routers that read one: CH-RLU's
    /// load view and arcroute's `Router::report_load`, the same period for both; 0 = never
    #[arg(long, value_name = "N", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(0..=MAX_MS), help_heading = "Fleet")]
    load_report_ms: u64,
    /// arcroute's pick within an arc: round-robin, least-loaded (the lower reported load of
    /// two members), or pack (the first member with room under the load bound) [default:
    /// the crate's, pack]
    #[arg(long, value_enum, help_heading = "Fleet")]
    pick: Option<PickKind>,
    /// At minute M (from the start of the replay) remove C managers (may repeat)
    #[arg(long, value_name = "M:C", value_parser = membership_change, help_heading = "Fleet")]
    remove_managers: Vec<(u32, u64)>,
    /// At minute M add C managers (may repeat)
    #[arg(long, value_name = "M:C", value_parser = membership_change, help_heading = "Fleet")]
    add_managers: Vec<(u32, u64)>,

    /// At MINUTE (from the start of the replay) cut every reservation to PERCENT of its
    /// size, rounded down, and report the 10 minutes after it
    #[arg(long, value_name = "MINUTE:PERCENT", value_parser = cut, help_heading = "Reservation cut")]
    cut: Option<(u32, u32)>,
    /// drain: routers keep using the reserved environments that exist, and the host tears
    /// each excess one down once it has been idle for --drain-idle-s, lowering `ready` as
    /// each goes; immediate: `ready` drops to the new size at once, idle excess environments
    /// go at once and busy ones as their call ends; both: run every strategy each way
    /// [default: drain]
    #[arg(long, value_enum, requires = "cut", help_heading = "Reservation cut")]
    cut_mode: Option<CutModes>,
    /// Drain: seconds an excess environment must sit idle
    #[arg(long, value_name = "N", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(0..=MAX_MS / 1000), help_heading = "Reservation cut")]
    drain_idle_s: u64,

    /// The strategies to compare, in this order [default: all]
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "A,B,...",
        help_heading = "Output"
    )]
    strategies: Vec<StrategyKind>,
    /// Instead of the strategy table, run arcroute with 1, 4 and 16 frontends, each counting
    /// local or global with the busy rule off or on (12 runs), and print one row each
    #[arg(long, conflicts_with_all = ["cut", "svg", "tradeoff_svg"], help_heading = "Output")]
    frontend_table: bool,
    /// Write the report (or the frontend table) as JSON
    #[arg(long, value_name = "PATH", help_heading = "Output")]
    json: Option<PathBuf>,
    /// Draw cold starts per minute for each strategy (one fleet size only)
    #[arg(long, value_name = "PATH", help_heading = "Output")]
    svg: Option<PathBuf>,
    /// Draw the trade-off: cold+rejected % against p99 slowdown, one point per strategy
    /// per fleet
    #[arg(long, value_name = "PATH", help_heading = "Output")]
    tradeoff_svg: Option<PathBuf>,
}

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Switch {
    On,
    Off,
}

/// `--cut-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CutModes {
    Drain,
    Immediate,
    Both,
}

fn minute_range(s: &str) -> Result<Range<u32>, String> {
    let (from, to) = s
        .split_once("..")
        .ok_or_else(|| format!("`{s}` is not FROM..TO"))?;
    let minute = |m: &str| {
        m.parse::<u32>()
            .map_err(|_| format!("`{m}` is not a minute within 0..={}", u32::MAX))
    };
    let range = minute(from)?..minute(to)?;
    if range.is_empty() {
        return Err(format!("`{s}` is empty"));
    }
    Ok(range)
}

fn percentile(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| format!("`{s}` is not within 0..=100"))
}

/// `MINUTE:X` with the minute a `u32` (as in `--minutes`) and X parsed by `x`.
fn minute_and<T>(s: &str, what: &str, x: impl Fn(&str) -> Option<T>) -> Result<(u32, T), String> {
    s.split_once(':')
        .and_then(|(m, v)| Some((m.parse::<u32>().ok()?, x(v)?)))
        .ok_or_else(|| format!("`{s}` is not {what}"))
}

fn membership_change(s: &str) -> Result<(u32, u64), String> {
    minute_and(s, "MINUTE:COUNT", |c| {
        c.parse::<u64>()
            .ok()
            .filter(|c| (1..=MAX_MANAGERS).contains(c))
    })
    .map_err(|e| {
        format!(
            "{e} (MINUTE within 0..={}, COUNT within 1..={MAX_MANAGERS})",
            u32::MAX
        )
    })
}

fn cut(s: &str) -> Result<(u32, u32), String> {
    minute_and(s, "MINUTE:PERCENT", |p| {
        p.parse::<u32>().ok().filter(|p| *p <= 100)
    })
    .map_err(|e| {
        format!(
            "{e} (MINUTE within 0..={}, PERCENT within 0..=100)",
            u32::MAX
        )
    })
}

/// A clap error of `kind` saying `message`, with the usage.
fn refuse(kind: ErrorKind, message: impl std::fmt::Display) -> clap::Error {
    Args::command().error(kind, message)
}

/// Parses the command line (without the program name's handling: `args` starts with it).
///
/// # Errors
/// A clap error for help (`ErrorKind::DisplayHelp`), unknown options, values out of range,
/// and combinations that overflow or would allocate without bound.
pub fn parse<I, T>(args: I) -> Result<Options, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Args::command()
        .try_get_matches_from(args)
        .map_err(name_unknown)?;
    // Membership changes at the same minute apply in the order given on the command line.
    let order = |id: &str| -> Vec<usize> {
        matches
            .indices_of(id)
            .map_or_else(Vec::new, |i| i.collect())
    };
    let given = [order("add_managers"), order("remove_managers")];
    Args::from_arg_matches(&matches)?.into_options(&given)
}

/// Says "unknown option" of an argument clap does not know, naming it.
fn name_unknown(e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue};
    match (e.kind(), e.get(ContextKind::InvalidArg)) {
        (ErrorKind::UnknownArgument, Some(ContextValue::String(arg))) => {
            let what = if arg.starts_with('-') {
                "option"
            } else {
                "argument"
            };
            refuse(
                ErrorKind::UnknownArgument,
                format!("unknown {what} `{arg}` (see --help)"),
            )
        }
        _ => e,
    }
}

/// Milliseconds from a minute given on the command line (cannot overflow: a `u32` minute).
fn minute_ms(minute: u32) -> u64 {
    u64::from(minute) * MINUTE_MS
}

impl Args {
    /// The checked options; `given` holds the command-line positions of `--add-managers`'
    /// and `--remove-managers`' values, which order changes at the same minute.
    fn into_options(self, given: &[Vec<usize>; 2]) -> Result<Options, clap::Error> {
        let overflow = |what: &str| refuse(ErrorKind::ValueValidation, what);
        if self.managers.len() > MAX_FLEETS {
            return Err(overflow(&format!(
                "--managers: at most {MAX_FLEETS} fleet sizes"
            )));
        }
        if self.managers.len() > 1 && (self.frontend_table || self.svg.is_some()) {
            return Err(refuse(
                ErrorKind::ArgumentConflict,
                "--frontend-table and --svg take one fleet size (--managers N)",
            ));
        }
        // Every range is checked by the parsers above; these combine them. A larger fleet
        // at the start is as large or larger after every change, so the largest is checked.
        let largest = self.managers.iter().copied().max().unwrap_or(1);
        let mut peak = largest;
        let mut events: Vec<(u64, i64)> = Vec::new();
        let position = |kind: usize, k: usize| given[kind].get(k).copied().unwrap_or(usize::MAX);
        let mut changes: Vec<(u32, usize, i64, u64)> = self
            .add_managers
            .iter()
            .enumerate()
            .map(|(k, &(m, c))| (m, position(0, k), 1, c))
            .chain(
                self.remove_managers
                    .iter()
                    .enumerate()
                    .map(|(k, &(m, c))| (m, position(1, k), -1, c)),
            )
            .collect();
        changes.sort_by_key(|&(m, at, _, _)| (m, at));
        let mut now = largest;
        // Every manager index a replay uses: removed managers keep theirs, and an added one
        // takes a new one. The routers' per-manager state is sized by it.
        let mut slots = largest;
        for (minute, _, sign, count) in changes {
            if sign > 0 {
                slots = slots.saturating_add(count);
            }
            now = if sign > 0 {
                now.checked_add(count)
                    .filter(|&n| n <= MAX_MANAGERS)
                    .ok_or_else(|| {
                        overflow(&format!(
                            "--add-managers: the fleet would exceed {MAX_MANAGERS} managers"
                        ))
                    })?
            } else {
                now.saturating_sub(count).max(1)
            };
            peak = peak.max(now);
            let signed = i64::try_from(count).map_err(|_| overflow("a manager count"))? * sign;
            events.push((minute_ms(minute), signed));
        }
        // Every router (one per frontend, plus the provisioning side's) holds a ring.
        let routers = self.frontends + 1;
        if peak
            .checked_mul(routers)
            .is_none_or(|n| n > MAX_ROUTER_MANAGERS)
        {
            return Err(overflow(&format!(
                "{peak} managers × {routers} routers (--frontends + 1) exceed \
                 {MAX_ROUTER_MANAGERS}: each router holds a ring of every manager"
            )));
        }
        if slots
            .checked_mul(routers)
            .is_none_or(|n| n > MAX_ROUTER_MANAGERS)
        {
            return Err(overflow(&format!(
                "{slots} managers in all (at the start and added) × {routers} routers \
                 (--frontends + 1) exceed {MAX_ROUTER_MANAGERS}: each router keeps state \
                 for every manager it has seen"
            )));
        }
        let memory_mb = self
            .memory_gb
            .checked_mul(1024)
            .and_then(|mb| mb.checked_mul(peak).map(|_| mb))
            .ok_or_else(|| overflow("--memory-gb × --managers overflows"))?;
        let defaults = Options::default();
        let cut_modes = self.cut_mode.map(|m| match m {
            CutModes::Drain => vec![CutMode::Drain],
            CutModes::Immediate => vec![CutMode::Immediate],
            CutModes::Both => vec![CutMode::Drain, CutMode::Immediate],
        });
        let to_usize = |n: u64, what: &str| {
            usize::try_from(n).map_err(|_| overflow(&format!("{what} does not fit this machine")))
        };
        Ok(Options {
            trace_dir: self.trace_dir,
            minutes: self.minutes,
            arrivals: self.arrivals,
            seed: self.seed,
            sim: SimConfig {
                managers: to_usize(self.managers.first().copied().unwrap_or(1), "--managers")?,
                memory_mb,
                cores: u32::try_from(self.cores.unwrap_or((self.memory_gb / GB_PER_CORE).max(1)))
                    .map_err(|_| overflow("--cores does not fit"))?,
                retry_ms: self.retry_ms,
                max_retries: u32::try_from(self.max_retries)
                    .map_err(|_| overflow("--max-retries does not fit"))?,
                frontends: to_usize(self.frontends, "--frontends")?,
                keep_alive_ms: self.keep_alive * MINUTE_MS,
                cold_start_ms: self.cold_start_ms,
                busy_report_ms: self.busy_report_ms,
                arc_target: self.arc_target,
                events,
                seed: self.seed,
                counting: self.counting,
                count_report_ms: self.count_report_ms,
                busy_rule: self.busy_rule == Switch::On,
                cut: None,
                drain_idle_ms: self.drain_idle_s * 1000,
                load_report_ms: self.load_report_ms,
                pick: self.pick,
            },
            reserve_top: to_usize(self.reserve_top, "--reserve-top")?,
            reserve_percentile: self.reserve_percentile,
            strategies: if self.strategies.is_empty() {
                defaults.strategies
            } else {
                self.strategies
            },
            frontend_table: self.frontend_table,
            cut: self.cut.map(|(m, p)| (minute_ms(m), p)),
            cut_modes,
            fleets: self
                .managers
                .iter()
                .map(|&m| to_usize(m, "--managers"))
                .collect::<Result<_, _>>()?,
            json: self.json,
            svg: self.svg,
            tradeoff_svg: self.tradeoff_svg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{frontend_runs, strategy_runs, Cut};

    const MIN: u64 = 60_000;

    /// The old form of the parser's answer: `None` for help.
    fn parse_args(args: Vec<String>) -> Result<Option<Options>, clap::Error> {
        match parse(std::iter::once("simulate".to_owned()).chain(args)) {
            Err(e) if e.kind() == ErrorKind::DisplayHelp => Ok(None),
            r => r.map(Some),
        }
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    /// The error `line` gets, which must be a usage error (exit status 2).
    fn refused(line: &str) -> clap::Error {
        let e = parse_args(args(line)).expect_err(line);
        assert_eq!(e.exit_code(), 2, "{line}: {e}");
        e
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn absurd_and_overflowing_values_are_refused_before_anything_runs() {
        for (line, names) in [
            ("--memory-gb 18014398509481984", "--memory-gb"),
            ("--keep-alive 307445734561826", "--keep-alive"),
            ("--cut 307445734561826:50", "--cut"),
            ("--cut 4294967296:50", "--cut"),
            ("--drain-idle-s 18446744073709552", "--drain-idle-s"),
            (
                "--remove-managers 307445734561825861:1",
                "--remove-managers",
            ),
            ("--add-managers 3:18446744073709551615", "--add-managers"),
            ("--managers 100000000", "--managers"),
            ("--frontends 100000000", "--frontends"),
            ("--cold-start-ms 18446744073709551615", "--cold-start-ms"),
            ("--busy-report-ms 18446744073709551615", "--busy-report-ms"),
            (
                "--count-report-ms 18446744073709551615",
                "--count-report-ms",
            ),
            ("--arc-target 4294967296", "--arc-target"),
            ("--load-report-ms 18446744073709551615", "--load-report-ms"),
            ("--reserve-percentile 101", "--reserve-percentile"),
        ] {
            let e = refused(line);
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::ValueValidation | ErrorKind::InvalidValue
                ),
                "{line}: {:?} {e}",
                e.kind()
            );
            assert!(e.to_string().contains(names), "{line}: {e}");
        }
    }

    #[test]
    fn combinations_that_overflow_or_allocate_without_bound_are_refused() {
        for (line, needle) in [
            ("--managers 100000 --frontends 1024", "routers"),
            ("--managers 2000 --frontends 1000", "routers"),
            (
                "--managers 99999 --add-managers 1:5",
                "exceed 100000 managers",
            ),
            (
                "--managers 50000 --add-managers 1:40000 --add-managers 2:40000",
                "exceed",
            ),
            (
                "--managers 100000 --remove-managers 1:99999 --add-managers 2:99999 \
                 --remove-managers 3:99999 --add-managers 4:99999",
                "in all",
            ),
        ] {
            let e = refused(line);
            assert_eq!(e.kind(), ErrorKind::ValueValidation, "{line}: {e}");
            assert!(e.to_string().contains(needle), "{line}: {e}");
        }
        // Removals first make room for additions later.
        let o = parse_args(args(
            "--managers 99999 --remove-managers 1:10 --add-managers 2:10",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(o.sim.events, vec![(MIN, -10), (2 * MIN, 10)]);
        // At the same minute, in the order given.
        for (line, want) in [
            (
                "--remove-managers 1:2 --add-managers 1:3",
                [(MIN, -2), (MIN, 3)],
            ),
            (
                "--add-managers 1:3 --remove-managers 1:2",
                [(MIN, 3), (MIN, -2)],
            ),
        ] {
            assert_eq!(parse_args(args(line)).unwrap().unwrap().sim.events, want);
        }
        // The largest values accepted combine without overflow.
        let o = parse_args(args(&format!(
            "--memory-gb {MAX_MEMORY_GB} --managers 900 --frontends 1000 --keep-alive 525600 \
             --drain-idle-s 31536000 --cut 4294967295:100"
        )))
        .unwrap()
        .unwrap();
        assert_eq!(o.sim.memory_mb, MAX_MEMORY_GB * 1024);
        assert_eq!(o.sim.keep_alive_ms, MAX_MS);
        assert_eq!(o.cut, Some((u64::from(u32::MAX) * MIN, 100)));
    }

    #[test]
    fn unknown_options_are_named_as_unknown() {
        for line in ["--frob 1", "--frob", "--managers 5 --frob=2"] {
            let e = refused(line);
            assert_eq!(e.kind(), ErrorKind::UnknownArgument, "{line}: {e}");
            assert!(
                e.to_string().contains("unknown option `--frob`"),
                "{line}: {e}"
            );
            assert!(!e.to_string().contains("needs a value"), "{line}: {e}");
        }
        let e = refused("--seed");
        assert_eq!(e.kind(), ErrorKind::InvalidValue, "{e}");
    }

    #[test]
    fn flag_equals_value_is_accepted() {
        let o = parse_args(args(
            "--managers=5 --minutes=10..20 --strategies=arcroute,random --cut=3:50 \
             --cut-mode=both --counting=global --busy-rule=off --add-managers=4:2 \
             --json=r.json",
        ))
        .unwrap()
        .unwrap();
        assert_eq!((o.sim.managers, o.minutes.clone()), (5, 10..20));
        assert_eq!(o.strategies, [StrategyKind::Arcroute, StrategyKind::Random]);
        assert_eq!(o.cut, Some((3 * MIN, 50)));
        assert_eq!(o.cut_modes, Some(vec![CutMode::Drain, CutMode::Immediate]));
        assert_eq!(
            (o.sim.counting, o.sim.busy_rule),
            (CountMode::Global, false)
        );
        assert_eq!(o.sim.events, vec![(4 * MIN, 2)]);
        assert_eq!(o.json.as_deref(), Some(std::path::Path::new("r.json")));
        let same = parse_args(args(
            "--managers 5 --minutes 10..20 --strategies arcroute,random --cut 3:50 \
             --cut-mode both --counting global --busy-rule off --add-managers 4:2 \
             --json r.json",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            serde_json::to_value(&same).unwrap()
        );
    }

    #[test]
    fn arguments_parse_and_bad_ones_are_refused() {
        let o = parse_args(args(
            "--managers 7 --minutes 10..20 --add-managers 3:2 --strategies arcroute,random",
        ))
        .unwrap()
        .unwrap();
        assert_eq!((o.sim.managers, o.minutes.clone()), (7, 10..20));
        assert_eq!(o.sim.events, vec![(3 * MIN, 2)]);
        assert_eq!(o.strategies, [StrategyKind::Arcroute, StrategyKind::Random]);
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
    fn several_fleet_sizes_parse_each_range_checked() {
        let o = parse_args(args("--managers 100,400,1000 --strategies arcroute,pooled"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (o.fleets.clone(), o.sim.managers),
            (vec![100, 400, 1000], 100)
        );
        let runs = strategy_runs(&o);
        let fleets: Vec<(usize, &str)> = runs
            .iter()
            .map(|r| (r.sim.managers, r.name.as_str()))
            .collect();
        assert_eq!(
            fleets,
            [
                (100, "arcroute"),
                (100, "pooled"),
                (400, "arcroute"),
                (400, "pooled"),
                (1000, "arcroute"),
                (1000, "pooled")
            ]
        );
        let one = parse_args(args("--managers=7")).unwrap().unwrap();
        assert_eq!(one.fleets, [7]);
        for line in [
            "--managers 100,0",
            "--managers 100,100001",
            "--managers 5,,6",
            "--managers 5,x",
        ] {
            let e = refused(line);
            assert!(e.to_string().contains("--managers"), "{line}: {e}");
        }
        let many = format!("--managers {}", vec!["5"; MAX_FLEETS + 1].join(","));
        assert!(refused(&many).to_string().contains("fleet sizes"));
        // The largest fleet bounds the routers' rings and the memory.
        let e = refused("--managers 5,2000 --frontends 1000");
        assert!(e.to_string().contains("routers"), "{e}");
        for line in [
            "--managers 5,6 --frontend-table",
            "--managers 5,6 --svg x.svg",
        ] {
            assert!(
                refused(line).to_string().contains("one fleet size"),
                "{line}"
            );
        }
    }

    #[test]
    fn cores_and_retries_have_defaults_with_reasons_and_ranges() {
        let d = parse_args(args("")).unwrap().unwrap();
        assert_eq!((d.sim.cores, d.sim.retry_ms, d.sim.max_retries), (16, 5, 3));
        let small = parse_args(args("--memory-gb 8")).unwrap().unwrap();
        assert_eq!(small.sim.cores, 4, "one core per 2 GB");
        let tiny = parse_args(args("--memory-gb 1")).unwrap().unwrap();
        assert_eq!(tiny.sim.cores, 1, "at least one");
        let set = parse_args(args(
            "--memory-gb 8 --cores 32 --retry-ms 0 --max-retries 0",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            (set.sim.cores, set.sim.retry_ms, set.sim.max_retries),
            (32, 0, 0)
        );
        for line in [
            "--cores 0",
            "--cores 1048577",
            "--max-retries 10001",
            "--retry-ms 31536000001",
            "--retry-ms -1",
        ] {
            refused(line);
        }
    }

    #[test]
    fn counting_and_cut_options_parse_and_bad_ones_are_refused() {
        let d = parse_args(args("")).unwrap().unwrap();
        assert_eq!(
            (d.sim.counting, d.sim.busy_rule, d.sim.cut, d.frontend_table),
            (CountMode::Local, true, None, false),
            "defaults: today's behaviour"
        );
        assert_eq!(strategy_runs(&d).len(), StrategyKind::ALL.len());
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
            .all(|r| r.strategy == StrategyKind::Arcroute && r.sim.cut.is_none()));
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
}
