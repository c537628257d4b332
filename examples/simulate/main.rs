//! Replays serverless traffic through arcroute, nine rival routers and the pooled floor on a
//! simulated fleet (or several fleet sizes), and reports cold starts, slowdown, throttling,
//! load balance and memory for each.
//!
//! Run with `cargo run --release --example simulate` (an embedded workload shaped like the
//! Azure Functions trace), or point it at a trace in the Azure Functions 2019 format with
//! `-- --trace-dir DIR`; `-- --help` lists every option.
//!
//! The rooms: `cli` (the command line) → `scenario` (what to run) → `workload` (the trace
//! loader and the generator) → `runner` (the runs side by side) → `engine` (one replay, one
//! event queue) with `host` (provisioning, cuts, drains, membership) and `strategy` (the
//! routers, one file per family) over `fleet` (managers and environments) and `cpu` (each
//! manager's cores, shared by its calls) → `report`
//! (table, JSON, SVG).

// The modules are private to this binary; `pub` marks what they offer each other.
#![allow(unreachable_pub)]

mod cli;
mod cpu;
mod engine;
mod fleet;
mod host;
mod progress;
mod report;
mod rng;
mod runner;
mod scenario;
mod strategy;
mod workload;

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use report::FrontendReport;
use scenario::Options;
use workload::Arrivals;

fn main() -> ExitCode {
    let options = match cli::parse(std::env::args_os()) {
        Ok(o) => o,
        // Help goes to stdout with status 0; errors to stderr with the usage, status 2.
        Err(e) => e.exit(),
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped reading (`simulate | head -1`) is not a failure.
        Err(Failure::Pipe) => ExitCode::SUCCESS,
        Err(Failure::Message(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why a run stopped.
#[derive(Debug)]
enum Failure {
    /// Standard output was closed.
    Pipe,
    /// Anything else, said in words.
    Message(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Self::Message(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Self::Pipe
        } else {
            Self::Message(format!("writing the table: {e}"))
        }
    }
}

/// Checks that an output file can be written before the run, so that a bad path costs no
/// replay: opens it for appending (creating it if missing, leaving what it holds alone); the
/// writer replaces it after the run.
fn check_output(path: &Path, what: &str) -> Result<(), String> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map(drop)
        .map_err(|e| format!("{what} {}: {e}", path.display()))
}

fn run(o: &Options) -> Result<(), Failure> {
    if let Some(path) = &o.json {
        check_output(path, "--json")?;
    }
    if let Some(path) = &o.svg {
        check_output(path, "--svg")?;
    }
    if let Some(path) = &o.tradeoff_svg {
        check_output(path, "--tradeoff-svg")?;
    }
    let workload = match &o.trace_dir {
        Some(dir) => workload::load_trace(dir, o.minutes.clone(), o.arrivals, o.seed)
            .map_err(|e| e.to_string())?,
        None => workload::generate(o.minutes.clone(), o.arrivals, o.seed),
    };
    scenario::check_times(o, workload.minutes)?;
    let wanted = scenario::reserve(&workload, o.reserve_top, o.reserve_percentile);
    // A platform reserves at most half of what its fleet holds.
    let fleet_mb = |managers: usize| o.sim.memory_mb.saturating_mul(managers as u64);
    let reservations_for =
        |managers: usize| scenario::cap(wanted.clone(), &workload, fleet_mb(managers) / 2);
    let reservations = reservations_for(o.sim.managers);
    let options = serde_json::to_value(o).map_err(|e| format!("recording the options: {e}"))?;
    let mut out = io::stdout().lock();
    if o.frontend_table {
        let runs = scenario::frontend_runs(&o.sim);
        let report = runner::simulate_runs(&workload, &reservations, &runs)?;
        let table = FrontendReport {
            rows: scenario::frontend_rows(&runs, report.strategies, workload.minutes),
            workload: report.workload,
            options: Some(options),
        };
        report::print_frontend_table(&table, &mut out)?;
        writeln!(
            out,
            "reserved: {} environments in {} functions; host reports every {} ms (busy \
             fractions) and {} ms (global counts)",
            reservations.iter().map(|&(_, n)| u64::from(n)).sum::<u64>(),
            reservations.len(),
            o.sim.busy_report_ms,
            o.sim.count_report_ms
        )?;
        if let Some(path) = &o.json {
            report::write_frontend_json(&table, path)?;
        }
        return Ok(());
    }
    let mut report: Option<report::Report> = None;
    let mut reserved_lines = Vec::new();
    for &managers in &o.fleets {
        let reservations = reservations_for(managers);
        let runs = scenario::fleet_runs(o, managers);
        let fleet = runner::simulate_runs(&workload, &reservations, &runs)?;
        match &mut report {
            Some(r) => r.strategies.extend(fleet.strategies),
            None => report = Some(fleet),
        }
        let reserved_gb: f64 = reservations
            .iter()
            .map(|&(f, n)| {
                f64::from(n) * f64::from(workload.functions[f as usize].memory_mb) / 1024.0
            })
            .sum();
        reserved_lines.push(format!(
            "reserved: {} environments, {reserved_gb:.0} GB of the fleet's {} GB (capped at half){}",
            reservations.iter().map(|&(_, n)| u64::from(n)).sum::<u64>(),
            fleet_mb(managers) / 1024,
            if o.fleets.len() > 1 {
                format!(" at {managers} managers")
            } else {
                String::new()
            }
        ));
    }
    let mut report = report.ok_or_else(|| "no fleet to run".to_string())?;
    report.options = Some(options);
    report::print_table(&report, &mut out)?;
    for line in reserved_lines {
        writeln!(out, "{line}")?;
    }
    if let Some(worst) = report.strategies.iter().max_by_key(|s| s.throttled) {
        if worst.throttled.saturating_mul(20) > worst.calls {
            writeln!(
                out,
                "note: {} throttled {:.0}% of calls: the fleet is too small for this workload (see --managers, --memory-gb)",
                worst.name,
                100.0 * worst.throttled as f64 / worst.calls as f64
            )?;
        }
    }
    writeln!(
        out,
        "arrivals within a minute: {}; {} reserved functions at p{} of their per-minute concurrency",
        match o.arrivals {
            Arrivals::Random => "independent uniform (Poisson given the count)",
            Arrivals::Even => "evenly spaced",
        },
        reservations.len(),
        o.reserve_percentile,
    )?;
    if o.cut.is_some() {
        report::print_cut_table(&report, &mut out)?;
    }
    if let Some(path) = &o.json {
        report::write_json(&report, path)?;
    }
    if let Some(path) = &o.svg {
        report::write_svg(&report, path)?;
    }
    if let Some(path) = &o.tradeoff_svg {
        report::write_tradeoff_svg(&report, path)?;
    }
    writeln!(
        out,
        "each manager: {} cores; a throttle costs {} ms, at most {} a call",
        o.sim.cores, o.sim.retry_ms, o.sim.max_retries
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_ends_the_run_quietly_and_other_errors_are_reported() {
        let pipe = Failure::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(matches!(pipe, Failure::Pipe), "{pipe:?}");
        let full = Failure::from(io::Error::other("disk full"));
        assert!(
            matches!(&full, Failure::Message(m) if m.contains("disk full")),
            "{full:?}"
        );
    }

    #[test]
    fn output_paths_are_checked_before_the_run() {
        let dir =
            std::env::temp_dir().join(format!("arcroute-sim-no-such-dir-{}", std::process::id()));
        let e = check_output(&dir.join("report.json"), "--json").unwrap_err();
        assert!(e.starts_with("--json ") && e.contains("report.json"), "{e}");
        // A bad path fails the run before any replay: the trace directory is never read.
        let o = Options {
            svg: Some(dir.join("chart.svg")),
            trace_dir: Some(dir.join("no-trace")),
            ..Options::default()
        };
        let Err(Failure::Message(e)) = run(&o) else {
            panic!("a bad --svg path must fail the run");
        };
        assert!(e.starts_with("--svg "), "{e}");
    }
}
