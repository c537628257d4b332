//! Workloads for the simulator: a loader for the Azure Functions 2019 trace format and an
//! embedded, file-free generator shaped like that trace.
//!
//! # Trace files
//!
//! [`load_trace`] reads one directory holding exactly one file whose name ends with `inv.csv`,
//! one ending with `run.csv` and one ending with `mem.csv` (any prefix: `200_inv.csv`,
//! `d01_inv.csv`, ...). The public dataset's long names (`invocations_per_function_md.anon.d01.csv`
//! and so on) must be renamed or linked to such names.
//!
//! - `*inv.csv`: `HashFunction,HashApp,HashOwner,[Trigger,]minute_1..minute_1440` (or plain
//!   `1..1440` minute headers, as in the public dataset). Columns are found by header name; the
//!   minute columns are the ones from `minute_1` (or `1`) to the end of the header, numbered
//!   consecutively. Each row gives one function's invocation count per minute.
//! - `*run.csv`: `HashFunction,...,percentile_Average_{0,1,25,50,75,99,100}`: execution time in
//!   milliseconds. Every function of `inv.csv` must have a row here.
//! - `*mem.csv`: `HashApp,...,AverageAllocatedMb,...`: memory per app. An app without a row gets
//!   [`DEFAULT_MEMORY_MB`] (128 MB): the public dataset has such gaps.
//!
//! Only the named columns are read; others are ignored. Fields never hold quotes or commas, so
//! a line is split on `,` with no CSV quoting; a trailing `\r`, a leading UTF-8 byte-order mark,
//! spaces around fields and blank lines are tolerated. Counts must be whole numbers (`3` or
//! `3.0`); durations and memory may be fractional; nothing may be negative, NaN or infinite.
//! Every row's field count must equal the header's; function names must be unique in `inv.csv`
//! and `run.csv`, app names in `mem.csv`; percentiles must not decrease. Any violation is a
//! [`WorkloadError`] naming the file, the 1-based line and the 1-based field number; no input
//! makes the loader panic.
//!
//! # From counts to calls
//!
//! The trace gives only a count per function and minute. Within a minute the calls get their
//! times by [`Arrivals`]: [`Arrivals::Random`] puts each of the `count` calls at an independent
//! uniform millisecond of the minute, which is exactly a Poisson process conditioned on its count
//! for that minute; [`Arrivals::Even`] spaces them evenly, call `i` of `c` at
//! `(2i + 1) · 60000 / (2c)` ms (centred: gaps of exactly `60000 / c` ms when `c` divides 60000).
//! Each call's duration is drawn from its function's percentile points by piecewise-linear
//! inverse-CDF interpolation of a uniform draw (point `q` of the CDF at percentile `q`), rounded
//! to whole milliseconds and at least 1 ms.
//!
//! Randomness comes from [`rng::stream`] sub-streams of the seed, one per (purpose, absolute trace
//! minute): arrival times and durations use different streams, so durations do not depend on the
//! arrival mode, and a minute's calls do not depend on which range was asked for (the calls of
//! `10..20` are those of `0..20` from minute 10 on, shifted). A workload therefore depends only
//! on (files, range, arrivals, seed). Calls are sorted by `at_ms`; ties keep function order, then
//! draw order.

use std::fmt;
use std::ops::Range;

use rand::Rng as _;

use crate::rng;

mod generate;
pub(crate) mod trace;

pub use generate::generate;
pub use trace::load_trace;

/// Minutes in a trace day.
pub const DAY_MINUTES: u32 = 1440;

/// Memory given to a function whose app has no row in `mem.csv`.
pub const DEFAULT_MEMORY_MB: u32 = 128;

/// The most calls one workload may hold (16 bytes each): a guard against absurd counts.
#[cfg(not(fuzzing))]
pub const MAX_CALLS: u64 = 200_000_000;
/// Under the fuzzer, a smaller guard: inputs that ask for more calls take the same path, and
/// each run stays fast and small.
#[cfg(fuzzing)]
pub const MAX_CALLS: u64 = 1 << 16;

const MINUTE_MS: u64 = 60_000;

/// The `run.csv` percentile columns, and the CDF point each stands for.
const PCT_COLUMNS: [&str; 7] = [
    "percentile_Average_0",
    "percentile_Average_1",
    "percentile_Average_25",
    "percentile_Average_50",
    "percentile_Average_75",
    "percentile_Average_99",
    "percentile_Average_100",
];
const PCT_POINTS: [f64; 7] = [0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0];

/// Tags of the [`rng::stream`] sub-streams: `(tag << 32) | index`.
const STREAM_ARRIVALS: u64 = 1 << 32;
const STREAM_DURATIONS: u64 = 2 << 32;
const STREAM_MODEL: u64 = 3 << 32;
const STREAM_COUNTS: u64 = 4 << 32;

/// One function of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// Its name: the trace's `HashFunction`, or `genNNN-kind` for generated ones.
    pub name: String,
    /// Memory one environment of it holds, in MB.
    pub memory_mb: u32,
    /// Its calls in the workload's minute range.
    pub total_calls: u64,
}

/// One call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// When it arrives, in ms from the start of the workload's first minute.
    pub at_ms: u64,
    /// Index into [`Workload::functions`].
    pub function: u32,
    /// How long it runs, in ms (at least 1).
    pub duration_ms: u32,
}

/// Functions and their calls over a range of minutes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Every function of the trace or model, including those without calls in the range.
    pub functions: Vec<Function>,
    /// All calls, sorted by `at_ms` (ties: by function, then draw order).
    pub calls: Vec<Call>,
    /// Length of the minute range.
    pub minutes: u32,
    /// Where it came from: the trace directory, or `generated (seed N)`.
    pub source: String,
}

/// How calls are placed inside their minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Independent uniform times: a Poisson process conditioned on the minute's count.
    Random,
    /// Evenly spaced, centred in the minute.
    Even,
}

/// Why a trace could not be loaded.
///
/// `line` and `column` are 1-based (`column` is the CSV field number); both are 0 when the error
/// is not about a place in a file (a missing file, an empty range). `Display` gives
/// `FILE:LINE:COLUMN: MESSAGE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadError {
    /// The file (or directory) at fault, as given.
    pub file: String,
    /// 1-based line, 0 if none.
    pub line: usize,
    /// 1-based field number, 0 if none.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for WorkloadError {}

pub(crate) fn error(
    file: &str,
    line: usize,
    column: usize,
    message: impl Into<String>,
) -> WorkloadError {
    WorkloadError {
        file: file.to_owned(),
        line,
        column,
        message: message.into(),
    }
}

/// Durations by their percentile points, in ms: non-decreasing.
pub(crate) type Percentiles = [f64; 7];

/// Turns per-(function, minute) counts into sorted calls.
///
/// `counts` is function-major: function `f`'s count in minute `minutes.start + k` is at
/// `f * span + k`. Minute `m` draws arrivals from stream `STREAM_ARRIVALS | m` and durations from
/// `STREAM_DURATIONS | m`, in (function, draw) order, so neither depends on the other or on the
/// range.
pub(crate) fn materialize(
    counts: &[u32],
    tables: &[Percentiles],
    minutes: Range<u32>,
    arrivals: Arrivals,
    seed: u64,
) -> Vec<Call> {
    let span = (minutes.end - minutes.start) as usize;
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    let mut calls = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for (k, minute) in minutes.enumerate() {
        let mut arrival_rng = rng::stream(seed, STREAM_ARRIVALS | u64::from(minute));
        let mut duration_rng = rng::stream(seed, STREAM_DURATIONS | u64::from(minute));
        let base = k as u64 * MINUTE_MS;
        let first = calls.len();
        for (f, table) in tables.iter().enumerate() {
            let c = u64::from(counts[f * span + k]);
            for i in 0..c {
                let offset = match arrivals {
                    Arrivals::Random => arrival_rng.random_range(0..MINUTE_MS),
                    Arrivals::Even => (2 * i + 1) * MINUTE_MS / (2 * c),
                };
                calls.push(Call {
                    at_ms: base + offset,
                    function: f as u32,
                    duration_ms: draw_duration(table, duration_rng.random::<f64>()),
                });
            }
        }
        // Minutes are disjoint and ascending: sorting each is sorting all. Stable, so ties keep
        // (function, draw) order.
        calls[first..].sort_by_key(|c| c.at_ms);
    }
    calls
}

/// Inverse CDF of the piecewise-linear distribution through `table`, at `u` in `[0, 1)`, in whole
/// ms, at least 1.
pub(crate) fn draw_duration(table: &Percentiles, u: f64) -> u32 {
    let mut i = 1;
    while i < PCT_POINTS.len() - 1 && u >= PCT_POINTS[i] {
        i += 1;
    }
    let t = ((u - PCT_POINTS[i - 1]) / (PCT_POINTS[i] - PCT_POINTS[i - 1])).clamp(0.0, 1.0);
    let v = table[i - 1] + t * (table[i] - table[i - 1]);
    v.round().clamp(1.0, f64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests;
