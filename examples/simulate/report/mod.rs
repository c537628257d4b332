//! The simulator's output: what a run measured, shown as plain-text tables, a JSON report
//! and an SVG chart of cold starts per minute.
//!
//! Units and conventions, shared by the table and the JSON:
//! - `cold_start_rate`, `cold_or_rejected_rate` and `moved_on_membership_change` are
//!   fractions in `[0, 1]`; the table shows them as percentages.
//! - `env_memory_gb_seconds` is GB·s; the table shows GB·h (`/ 3600`).
//! - JSON floats are always finite: NaN and ±infinity are written as `0` (JSON has no way to
//!   spell them, and a reader comparing runs wants a number, not `null`). The table shows a
//!   non-finite value as `-`.

// The simulator is a binary: nothing in it is reachable from outside the crate, so `pub` here
// only marks the module's interface to `main.rs`.
#![allow(unreachable_pub)]

mod json;
mod svg;
mod table;

pub use json::{write_frontend_json, write_json};
pub use svg::{write_svg, write_tradeoff_svg};
pub use table::{print_cut_table, print_frontend_table, print_table};

/// What was replayed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WorkloadSummary {
    /// Distinct functions in the workload.
    pub functions: u64,
    /// Calls replayed.
    pub calls: u64,
    /// Minutes of trace replayed.
    pub minutes: u64,
    /// Where the workload came from (a trace path, or a description of the synthetic one).
    pub source: String,
}

/// One routing strategy's outcome over the whole workload.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct StrategyResult {
    /// The strategy's name.
    pub name: String,
    /// Managers of the fleet at the start of the run.
    pub managers: usize,
    /// Calls routed.
    pub calls: u64,
    /// Calls that found no warm environment.
    pub cold_starts: u64,
    /// `cold_starts / calls`, a fraction.
    pub cold_start_rate: f64,
    /// `(cold_starts + throttled) / calls`, a fraction: a call rejected after the retry bound
    /// ran nowhere, which serves its caller no better than a cold start. A router cannot lower
    /// its cold-start rate by rejecting calls here, so the pooled floor bounds it from below.
    pub cold_or_rejected_rate: f64,
    /// Each function's cold-start rate, at the 75th percentile over the functions called.
    pub function_cold_rate_p75: f64,
    /// Calls of functions with provisioned (reserved) concurrency.
    pub reserved_calls: u64,
    /// Cold starts among `reserved_calls`.
    pub reserved_cold_starts: u64,
    /// Calls sent past their function's arc because it was full.
    pub spillovers: u64,
    /// Calls refused: rejected at the throttle past the retry bound (`--max-retries`), or
    /// with no manager to try.
    pub throttled: u64,
    /// p99 over minutes of (busiest worker manager's load / mean load).
    pub load_peak_to_mean_p99: f64,
    /// Memory held by execution environments, in GB·s.
    pub env_memory_gb_seconds: f64,
    /// Fraction of functions whose placement moved on a membership change.
    pub moved_on_membership_change: f64,
    /// Calls that found a warm environment.
    pub warm_starts: u64,
    /// Calls retried on another worker manager.
    pub retries: u64,
    /// Throttles per call (placed or rejected), the mean.
    pub retries_per_call_mean: f64,
    /// Throttles per call, the 99th percentile.
    pub retries_per_call_p99: u64,
    /// Response time over service time (duration, plus the cold start if any) of the calls
    /// that ran, the median.
    pub slowdown_p50: f64,
    /// The same, the 99th percentile.
    pub slowdown_p99: f64,
    /// The share of call-seconds spent on managers running more calls than their cores.
    pub overloaded_share: f64,
    /// Wall-clock seconds the strategy's replay took.
    pub wall_seconds: f64,
    /// Reserved environments the strategy's placement found room for at the start (of the
    /// reservations' total).
    pub reserved_envs_placed: u64,
    /// Cold starts in each minute of the trace (charted; not in the JSON).
    #[serde(skip)]
    pub cold_starts_per_minute: Vec<u64>,
    /// arcroute's own counts and the host's report traffic (the frontend table shows them;
    /// not in this JSON).
    #[serde(skip)]
    pub routing: Option<Routing>,
    /// The window after a reservation cut (`--cut`); absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_cut: Option<Window>,
}

/// What arcroute's routers counted over a run, and the messages its counting modes cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Routing {
    /// Routes of kind Reserved, over all frontend routers.
    pub routed_reserved: u64,
    /// Calls of reserved functions the routers sent to the unreserved arc (spillover routes
    /// and reserved calls moved there after a throttle). Unlike `spillovers`, this counts
    /// calls within the reservation that a router did not admit.
    pub spilled: u64,
    /// Reserved admissions that took the fleet's Reserved calls in flight above the
    /// reservation's `ready` count (frontends over-admitting together).
    pub over_admitted: u64,
    /// Host → router report entries (busy fractions and global counts), one per reserved
    /// function and router each time.
    pub reports: u64,
    /// Router → host counts for the counting service, one per reserved function and router
    /// each time.
    pub uploads: u64,
}

/// The minutes after a reservation cut: how the calls fared while environments went.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Window {
    /// `drain` or `immediate`.
    pub mode: String,
    /// Each reservation was cut to this percentage of its size (rounded down).
    pub percent: u32,
    /// First minute of the window (the cut's), from the start of the replay.
    pub from_minute: u64,
    /// Minutes in the window.
    pub minutes: u64,
    /// Calls that arrived in the window.
    pub calls: u64,
    /// Of those, calls of reserved functions within their (cut) reservation.
    pub reserved_calls: u64,
    /// Cold starts among `reserved_calls`.
    pub reserved_cold_starts: u64,
    /// Calls of reserved functions beyond their (cut) reservation.
    pub spillovers: u64,
    /// Calls the routers sent to the unreserved arc (arcroute only).
    pub spilled: Option<u64>,
    /// Cold starts in the window.
    pub cold_starts: u64,
    /// Environment memory held during the window, GB·s.
    pub env_memory_gb_seconds: f64,
    /// Reserved environments before the cut.
    pub reserved_envs_before: u64,
    /// Reserved environments left at the end of the window.
    pub reserved_envs_after: u64,
}

/// One row of the frontend table: arcroute with a number of frontends and a counting mode.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FrontendRow {
    /// Frontends, each with its own router.
    pub frontends: usize,
    /// `local` or `global`.
    pub counting: String,
    /// Whether the sibling rule (host busy reports) was on.
    pub busy_rule: bool,
    /// The run's outcome.
    #[serde(flatten)]
    pub result: StrategyResult,
    /// The routers' counts.
    pub routing: Routing,
    /// `reports` per second of replay.
    pub reports_per_second: f64,
    /// `uploads` per second of replay.
    pub uploads_per_second: f64,
}

/// The frontend table: one workload, arcroute under each frontend count and counting mode.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FrontendReport {
    /// What was replayed.
    pub workload: WorkloadSummary,
    /// The options of the run, as the command line set them (absent when not recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Value>,
    /// One row per frontend count and mode.
    pub rows: Vec<FrontendRow>,
}

/// The whole run: the workload and one result per strategy.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    /// What was replayed.
    pub workload: WorkloadSummary,
    /// The options of the run, as the command line set them (absent when not recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Value>,
    /// One entry per strategy, in the order they are shown.
    pub strategies: Vec<StrategyResult>,
}

#[cfg(test)]
mod tests;
