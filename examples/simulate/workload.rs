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

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::Rng as _;
use rand_distr::{Distribution, Poisson, StandardNormal};

use crate::rng::{self, SimRng};

/// Minutes in a trace day.
pub const DAY_MINUTES: u32 = 1440;

/// Memory given to a function whose app has no row in `mem.csv`.
pub const DEFAULT_MEMORY_MB: u32 = 128;

/// The most calls one workload may hold (16 bytes each): a guard against absurd counts.
pub const MAX_CALLS: u64 = 200_000_000;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

fn error(file: &str, line: usize, column: usize, message: impl Into<String>) -> WorkloadError {
    WorkloadError {
        file: file.to_owned(),
        line,
        column,
        message: message.into(),
    }
}

/// Loads minutes `minutes` (0-based, half-open: `0..1440` is the whole day) of the trace in `dir`.
///
/// See the [module docs](self) for the files, the checks and how counts become calls. An empty
/// range, or one reaching past the trace's last minute column, is an error.
pub fn load_trace(
    dir: &Path,
    minutes: Range<u32>,
    arrivals: Arrivals,
    seed: u64,
) -> Result<Workload, WorkloadError> {
    let source = dir.display().to_string();
    check_range(&source, &minutes)?;
    let inv_path = find_file(dir, "inv.csv")?;
    let run_path = find_file(dir, "run.csv")?;
    let mem_path = find_file(dir, "mem.csv")?;
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| {
            error(
                &path.display().to_string(),
                0,
                0,
                format!("cannot read: {e}"),
            )
        })
    };
    let (inv, run, mem) = (read(&inv_path)?, read(&run_path)?, read(&mem_path)?);
    parse_trace(
        TraceFile {
            name: inv_path.display().to_string(),
            bytes: &inv,
        },
        TraceFile {
            name: run_path.display().to_string(),
            bytes: &run,
        },
        TraceFile {
            name: mem_path.display().to_string(),
            bytes: &mem,
        },
        minutes,
        arrivals,
        seed,
        source,
    )
}

fn check_range(what: &str, minutes: &Range<u32>) -> Result<(), WorkloadError> {
    if minutes.start >= minutes.end {
        return Err(error(
            what,
            0,
            0,
            format!("empty minute range {}..{}", minutes.start, minutes.end),
        ));
    }
    Ok(())
}

/// The one regular file in `dir` whose name ends with `suffix`.
fn find_file(dir: &Path, suffix: &str) -> Result<std::path::PathBuf, WorkloadError> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| error(&shown, 0, 0, format!("cannot list directory: {e}")))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| error(&shown, 0, 0, format!("cannot list directory: {e}")))?;
        let path = entry.path();
        let matches = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(suffix));
        if matches && std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            found.push(path);
        }
    }
    found.sort();
    match found.len() {
        1 => Ok(found.pop().expect("one element")),
        0 => Err(error(
            &shown,
            0,
            0,
            format!("no file whose name ends with `{suffix}`"),
        )),
        _ => {
            let names: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
            Err(error(
                &shown,
                0,
                0,
                format!(
                    "{} files end with `{suffix}`, expected one: {}",
                    found.len(),
                    names.join(", ")
                ),
            ))
        }
    }
}

/// A trace file's name (for errors) and contents.
struct TraceFile<'a> {
    name: String,
    bytes: &'a [u8],
}

/// Durations by their percentile points, in ms: non-decreasing.
type Percentiles = [f64; 7];

/// The file's text, without a byte-order mark; invalid UTF-8 is an error at its line and field.
fn decode<'a>(file: &TraceFile<'a>) -> Result<&'a str, WorkloadError> {
    let bytes = file
        .bytes
        .strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(file.bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = good[line_start..].iter().filter(|&&b| b == b',').count() + 1;
        error(&file.name, line, column, "invalid UTF-8")
    })
}

/// Non-blank lines with their 1-based numbers, a trailing `\r` removed.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
}

/// A parsed header line.
struct Header<'a> {
    file: &'a str,
    /// Its 1-based line number (blank lines may precede it).
    line: usize,
    names: Vec<&'a str>,
}

impl<'a> Header<'a> {
    /// Reads the first non-blank line of `text`; an empty file is an error.
    fn read(
        file: &'a str,
        lines: &mut impl Iterator<Item = (usize, &'a str)>,
    ) -> Result<Self, WorkloadError> {
        let Some((line_no, line)) = lines.next() else {
            return Err(error(file, 1, 1, "empty file: no header line"));
        };
        Ok(Self {
            file,
            line: line_no,
            names: line.split(',').map(str::trim).collect(),
        })
    }

    /// 0-based index of the column called `name`; missing or repeated is an error.
    fn column(&self, name: &str) -> Result<usize, WorkloadError> {
        let mut hits = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, n)| **n == name)
            .map(|(i, _)| i);
        let first = hits.next().ok_or_else(|| {
            error(
                self.file,
                self.line,
                1,
                format!("header has no `{name}` column"),
            )
        })?;
        if let Some(again) = hits.next() {
            return Err(error(
                self.file,
                self.line,
                again + 1,
                format!("header repeats column `{name}`"),
            ));
        }
        Ok(first)
    }
}

/// Splits `line` into `fields`, checking the count against the header's.
fn split_row<'a>(
    file: &str,
    line_no: usize,
    line: &'a str,
    expected: usize,
    fields: &mut Vec<&'a str>,
) -> Result<(), WorkloadError> {
    fields.clear();
    fields.extend(line.split(',').map(str::trim));
    if fields.len() != expected {
        return Err(error(
            file,
            line_no,
            fields.len().min(expected) + 1,
            format!(
                "expected {expected} fields as in the header, found {}",
                fields.len()
            ),
        ));
    }
    Ok(())
}

/// A whole, non-negative number (`3` or `3.0`).
fn parse_count(file: &str, line: usize, column: usize, field: &str) -> Result<u64, WorkloadError> {
    if let Ok(v) = field.parse::<u64>() {
        return Ok(v);
    }
    let v = parse_number(file, line, column, field)?;
    if v.fract() != 0.0 || v > 9.0e15 {
        return Err(error(
            file,
            line,
            column,
            format!("count `{field}` is not a whole number"),
        ));
    }
    Ok(v as u64)
}

/// A finite, non-negative number.
fn parse_number(file: &str, line: usize, column: usize, field: &str) -> Result<f64, WorkloadError> {
    if field.is_empty() {
        return Err(error(file, line, column, "empty field, expected a number"));
    }
    match field.parse::<f64>() {
        Ok(v) if !v.is_finite() => Err(error(
            file,
            line,
            column,
            format!("`{field}` is not a finite number"),
        )),
        Ok(v) if v < 0.0 => Err(error(
            file,
            line,
            column,
            format!("negative value `{field}`"),
        )),
        Ok(v) => Ok(v),
        Err(_) => Err(error(
            file,
            line,
            column,
            format!("`{field}` is not a number"),
        )),
    }
}

/// A non-empty name field.
fn parse_name<'a>(
    file: &str,
    line: usize,
    column: usize,
    what: &str,
    field: &'a str,
) -> Result<&'a str, WorkloadError> {
    if field.is_empty() {
        return Err(error(file, line, column, format!("empty {what}")));
    }
    Ok(field)
}

/// `run.csv`: function name → (line, percentiles).
fn parse_run<'a>(
    file: &'a str,
    text: &'a str,
) -> Result<HashMap<&'a str, Percentiles>, WorkloadError> {
    let mut it = lines(text);
    let header = Header::read(file, &mut it)?;
    let name_col = header.column("HashFunction")?;
    let mut pct_cols = [0; 7];
    for (slot, name) in pct_cols.iter_mut().zip(PCT_COLUMNS) {
        *slot = header.column(name)?;
    }
    let mut seen: HashMap<&str, (usize, Percentiles)> = HashMap::new();
    let mut fields = Vec::with_capacity(header.names.len());
    for (line_no, line) in it {
        split_row(file, line_no, line, header.names.len(), &mut fields)?;
        let name = parse_name(
            file,
            line_no,
            name_col + 1,
            "HashFunction",
            fields[name_col],
        )?;
        let mut p = [0.0; 7];
        for (k, &col) in pct_cols.iter().enumerate() {
            p[k] = parse_number(file, line_no, col + 1, fields[col])?;
            if k > 0 && p[k] < p[k - 1] {
                return Err(error(
                    file,
                    line_no,
                    col + 1,
                    format!(
                        "{} ({}) is below {} ({})",
                        PCT_COLUMNS[k],
                        p[k],
                        PCT_COLUMNS[k - 1],
                        p[k - 1]
                    ),
                ));
            }
        }
        if let Some((first, _)) = seen.insert(name, (line_no, p)) {
            return Err(error(
                file,
                line_no,
                name_col + 1,
                format!("duplicate function `{name}` (first on line {first})"),
            ));
        }
    }
    Ok(seen.into_iter().map(|(k, (_, p))| (k, p)).collect())
}

/// `mem.csv`: app name → MB.
fn parse_mem<'a>(file: &'a str, text: &'a str) -> Result<HashMap<&'a str, u32>, WorkloadError> {
    let mut it = lines(text);
    let header = Header::read(file, &mut it)?;
    let app_col = header.column("HashApp")?;
    let mb_col = header.column("AverageAllocatedMb")?;
    let mut seen: HashMap<&str, (usize, u32)> = HashMap::new();
    let mut fields = Vec::with_capacity(header.names.len());
    for (line_no, line) in it {
        split_row(file, line_no, line, header.names.len(), &mut fields)?;
        let app = parse_name(file, line_no, app_col + 1, "HashApp", fields[app_col])?;
        let mb = parse_number(file, line_no, mb_col + 1, fields[mb_col])?;
        if mb > f64::from(u32::MAX) {
            return Err(error(
                file,
                line_no,
                mb_col + 1,
                format!("memory `{}` MB is too large", fields[mb_col]),
            ));
        }
        let mb = (mb.round() as u32).max(1);
        if let Some((first, _)) = seen.insert(app, (line_no, mb)) {
            return Err(error(
                file,
                line_no,
                app_col + 1,
                format!("duplicate app `{app}` (first on line {first})"),
            ));
        }
    }
    Ok(seen.into_iter().map(|(k, (_, mb))| (k, mb)).collect())
}

/// Parses the three files (already read) and builds the workload.
fn parse_trace(
    inv: TraceFile<'_>,
    run: TraceFile<'_>,
    mem: TraceFile<'_>,
    minutes: Range<u32>,
    arrivals: Arrivals,
    seed: u64,
    source: String,
) -> Result<Workload, WorkloadError> {
    check_range(&source, &minutes)?;
    let (inv_text, run_text, mem_text) = (decode(&inv)?, decode(&run)?, decode(&mem)?);
    let durations = parse_run(&run.name, run_text)?;
    let memory = parse_mem(&mem.name, mem_text)?;

    let file = inv.name.as_str();
    let mut it = lines(inv_text);
    let header = Header::read(file, &mut it)?;
    let name_col = header.column("HashFunction")?;
    let app_col = header.column("HashApp")?;
    let first_minute = header
        .names
        .iter()
        .position(|n| *n == "minute_1" || *n == "1")
        .ok_or_else(|| {
            error(
                file,
                header.line,
                1,
                "header has no first minute column (`minute_1` or `1`)",
            )
        })?;
    let prefix = if header.names[first_minute] == "1" {
        ""
    } else {
        "minute_"
    };
    for (j, name) in header.names[first_minute..].iter().enumerate() {
        let number = name
            .strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok());
        if number != Some(j + 1) {
            return Err(error(
                file,
                header.line,
                first_minute + j + 1,
                format!("expected minute column `{prefix}{}`, found `{name}`", j + 1),
            ));
        }
    }
    let trace_minutes = header.names.len() - first_minute;
    if minutes.end as usize > trace_minutes {
        return Err(error(
            file,
            header.line,
            header.names.len(),
            format!(
                "minute range {}..{} reaches past the trace's {trace_minutes} minutes",
                minutes.start, minutes.end
            ),
        ));
    }
    let (lo, hi) = (
        first_minute + minutes.start as usize,
        first_minute + minutes.end as usize,
    );
    let span = (minutes.end - minutes.start) as usize;

    // Roughly one line per function: pre-size by a cheap count.
    let rows_hint = inv_text
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        .min(1 << 20);
    let mut functions = Vec::with_capacity(rows_hint);
    let mut tables = Vec::with_capacity(rows_hint);
    // Capped: a file of blank lines must not reserve gigabytes.
    let mut counts: Vec<u32> = Vec::with_capacity(rows_hint.saturating_mul(span).min(1 << 24));
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(rows_hint);
    let mut total = 0u64;
    let mut fields = Vec::with_capacity(header.names.len());
    for (line_no, line) in it {
        split_row(file, line_no, line, header.names.len(), &mut fields)?;
        let name = parse_name(
            file,
            line_no,
            name_col + 1,
            "HashFunction",
            fields[name_col],
        )?;
        let app = parse_name(file, line_no, app_col + 1, "HashApp", fields[app_col])?;
        if let Some(first) = seen.insert(name, line_no) {
            return Err(error(
                file,
                line_no,
                name_col + 1,
                format!("duplicate function `{name}` (first on line {first})"),
            ));
        }
        let Some(&table) = durations.get(name) else {
            return Err(error(
                file,
                line_no,
                name_col + 1,
                format!("function `{name}` has no row in {}", run.name),
            ));
        };
        if functions.len() >= u32::MAX as usize {
            return Err(error(file, line_no, 1, "too many functions"));
        }
        let mut function_calls = 0u64;
        for (col, field) in fields.iter().enumerate().skip(first_minute) {
            let count = parse_count(file, line_no, col + 1, field)?;
            if (lo..hi).contains(&col) {
                function_calls = function_calls.saturating_add(count);
                total = total.saturating_add(count);
                if total > MAX_CALLS {
                    return Err(error(
                        file,
                        line_no,
                        col + 1,
                        format!("more than {MAX_CALLS} calls in the range"),
                    ));
                }
                counts.push(count as u32); // <= MAX_CALLS < u32::MAX
            }
        }
        functions.push(Function {
            name: name.to_owned(),
            memory_mb: memory.get(app).copied().unwrap_or(DEFAULT_MEMORY_MB),
            total_calls: function_calls,
        });
        tables.push(table);
    }
    if functions.is_empty() {
        return Err(error(file, header.line + 1, 1, "no function rows"));
    }
    let calls = materialize(&counts, &tables, minutes.clone(), arrivals, seed);
    Ok(Workload {
        functions,
        calls,
        minutes: minutes.end - minutes.start,
        source,
    })
}

/// Turns per-(function, minute) counts into sorted calls.
///
/// `counts` is function-major: function `f`'s count in minute `minutes.start + k` is at
/// `f * span + k`. Minute `m` draws arrivals from stream `STREAM_ARRIVALS | m` and durations from
/// `STREAM_DURATIONS | m`, in (function, draw) order, so neither depends on the other or on the
/// range.
fn materialize(
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
fn draw_duration(table: &Percentiles, u: f64) -> u32 {
    let mut i = 1;
    while i < PCT_POINTS.len() - 1 && u >= PCT_POINTS[i] {
        i += 1;
    }
    let t = ((u - PCT_POINTS[i - 1]) / (PCT_POINTS[i] - PCT_POINTS[i - 1])).clamp(0.0, 1.0);
    let v = table[i - 1] + t * (table[i] - table[i - 1]);
    v.round().clamp(1.0, f64::from(u32::MAX)) as u32
}

// ---------------------------------------------------------------------------------------------
// The generator.

/// Functions in a generated workload.
pub const GEN_FUNCTIONS: usize = 150;
/// Of them, timer-triggered (fixed period, no diurnal cycle).
const GEN_TIMERS: usize = 40;
/// Of them, bursty (diurnal, plus occasional bursts of 5-20x for 1-3 minutes).
const GEN_BURSTY: usize = 30;
/// Expected calls per day of the non-timer functions together.
const GEN_DAILY_CALLS: f64 = 1_450_000.0;
/// Spread of the non-timer functions' daily counts: log10 standard deviation.
const GEN_POPULARITY_SIGMA_LOG10: f64 = 1.0;
/// Chance that a bursty function starts a burst in a given minute, when not in one.
const GEN_BURST_START: f64 = 0.01;

/// How a generated function's per-minute counts arise.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `per_fire` calls at every minute `m` with `(m + phase) % period == 0`.
    Timer {
        period: u32,
        phase: u32,
        per_fire: u32,
    },
    /// Poisson counts with a diurnal rate.
    Steady,
    /// As `Steady`, with bursts.
    Bursty,
}

/// One generated function's model.
#[derive(Clone, Debug)]
struct Model {
    kind: Kind,
    /// Expected calls per day (for non-timers).
    daily: f64,
    /// Diurnal amplitude (0.4-0.6) and peak minute (around noon).
    amplitude: f64,
    peak: f64,
    durations: Percentiles,
    memory_mb: u32,
}

/// An embedded deterministic workload, shaped like the Azure Functions 2019 trace (Shahrad et
/// al., "Serverless in the Wild", ATC 2020), needing no files.
///
/// [`GEN_FUNCTIONS`] (150) functions: 40 timer-triggered ones firing 1-4 calls every 1, 5, 15 or
/// 60 minutes; 30 bursty ones; 80 steady ones. The 110 non-timer functions' expected daily counts
/// are log-normal (log10 spread 1.0, by rank quantiles, so every seed has the same shape: from a
/// few calls a day to ~480k, the top 5 carrying ~65 % of calls) and add up to 1.45 M a day;
/// their per-minute counts are Poisson with a diurnal rate `1 + A·cos(2π(m − peak)/1440)`, `A` in
/// 0.4-0.6 and the peak within an hour and a half of noon, so nights run at about a third of
/// midday. Bursty functions, in 1 % of minutes, start a 1-3 minute burst at 5-20x their rate
/// (their base rate is lowered to keep the daily mean). Durations: per function, a log-normal
/// median (50 ms to 10 s) with a spread, a p99 tail up to 4x heavier than log-normal, and a p100
/// 1.5-5x the p99. Memory: log-normal around 256 MB, clamped to 128-1536 MB.
///
/// About 1.48 M calls a day for seed 1 (1.40-1.56 M over seeds 0-59); minutes 480..600 (8-10 am,
/// on the rising edge) hold 164 k for seed 1 (149-187 k over seeds 0-59).
///
/// `minutes` is clamped to `0..1440`; a range empty after clamping gives a workload without calls
/// (and `minutes` 0). Counts are drawn per absolute minute, so a range's calls are those of the
/// whole day in that range, shifted. Arrivals and durations are as for traces.
pub fn generate(minutes: Range<u32>, arrivals: Arrivals, seed: u64) -> Workload {
    let start = minutes.start.min(DAY_MINUTES);
    let end = minutes.end.min(DAY_MINUTES).max(start);
    let span = (end - start) as usize;
    let models = generate_models(seed);
    let mut counts = vec![0u32; models.len() * span];
    let mut functions = Vec::with_capacity(models.len());
    for (f, model) in models.iter().enumerate() {
        let row = &mut counts[f * span..(f + 1) * span];
        generate_counts(model, seed, f as u64, start, row);
        let kind = match model.kind {
            Kind::Timer { period, .. } => format!("timer{period}m"),
            Kind::Steady => "steady".to_owned(),
            Kind::Bursty => "bursty".to_owned(),
        };
        functions.push(Function {
            name: format!("gen{f:03}-{kind}"),
            memory_mb: model.memory_mb,
            total_calls: row.iter().map(|&c| u64::from(c)).sum(),
        });
    }
    let tables: Vec<Percentiles> = models.iter().map(|m| m.durations).collect();
    let calls = materialize(&counts, &tables, start..end, arrivals, seed);
    Workload {
        functions,
        calls,
        minutes: end - start,
        source: format!("generated (seed {seed})"),
    }
}

/// The functions' models: depend on the seed only.
fn generate_models(seed: u64) -> Vec<Model> {
    let mut rng = rng::stream(seed, STREAM_MODEL);
    let mut kinds = Vec::with_capacity(GEN_FUNCTIONS);
    kinds.resize(GEN_TIMERS, Kind::Steady); // replaced below
    for kind in &mut kinds {
        let period = match rng.random::<f64>() {
            u if u < 0.2 => 1,
            u if u < 0.55 => 5,
            u if u < 0.85 => 15,
            _ => 60,
        };
        let per_fire = match rng.random::<f64>() {
            u if u < 0.7 => 1,
            u if u < 0.9 => 2,
            _ => 4,
        };
        *kind = Kind::Timer {
            period,
            phase: rng.random_range(0..period),
            per_fire,
        };
    }
    kinds.resize(GEN_TIMERS + GEN_BURSTY, Kind::Bursty);
    kinds.resize(GEN_FUNCTIONS, Kind::Steady);
    kinds.shuffle(&mut rng);

    // Log-normal popularity by rank quantiles, ranks dealt out at random.
    let others = GEN_FUNCTIONS - GEN_TIMERS;
    let mut weights: Vec<f64> = (0..others)
        .map(|i| {
            10f64
                .powf(GEN_POPULARITY_SIGMA_LOG10 * inverse_normal((i as f64 + 0.5) / others as f64))
        })
        .collect();
    let sum: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w *= GEN_DAILY_CALLS / sum);
    weights.shuffle(&mut rng);
    let mut weights = weights.into_iter();

    kinds
        .into_iter()
        .map(|kind| {
            let daily = match kind {
                Kind::Timer {
                    period, per_fire, ..
                } => f64::from(DAY_MINUTES / period * per_fire),
                _ => weights.next().unwrap_or(0.0),
            };
            let amplitude = 0.4 + 0.2 * rng.random::<f64>();
            let peak = 720.0 + 180.0 * (rng.random::<f64>() - 0.5);
            let median = (700f64.ln() + 1.0 * normal(&mut rng))
                .exp()
                .clamp(50.0, 10_000.0);
            let spread = 0.2 + 0.8 * rng.random::<f64>();
            let q = |z: f64| median * (spread * z).exp();
            let p1 = q(-2.326);
            let p99 = q(2.326) * (1.0 + 3.0 * rng.random::<f64>());
            let durations = [
                (p1 * (0.5 + 0.4 * rng.random::<f64>())).max(1.0),
                p1.max(1.0),
                q(-0.674).max(1.0),
                median,
                q(0.674),
                p99,
                p99 * (1.5 + 3.5 * rng.random::<f64>()),
            ];
            let memory_mb = (256f64.ln() + 0.6 * normal(&mut rng))
                .exp()
                .clamp(128.0, 1536.0)
                .round() as u32;
            Model {
                kind,
                daily,
                amplitude,
                peak,
                durations,
                memory_mb,
            }
        })
        .collect()
}

/// Function `f`'s counts for minutes `start..start + out.len()`, drawn from its own stream walked
/// from minute 0 so that they do not depend on the range.
fn generate_counts(model: &Model, seed: u64, f: u64, start: u32, out: &mut [u32]) {
    let end = start + out.len() as u32;
    let mut rng = rng::stream(seed, STREAM_COUNTS | f);
    // Share of minutes in a burst: bursts of mean length 2 start with chance p when none runs.
    let in_burst = GEN_BURST_START * 2.0 / (1.0 - GEN_BURST_START + GEN_BURST_START * 2.0);
    let burst_gain = 1.0 + in_burst * (12.5 - 1.0);
    let mut burst_left = 0u32;
    let mut burst_mult = 1.0;
    for m in 0..end {
        let count = match model.kind {
            Kind::Timer {
                period,
                phase,
                per_fire,
            } => {
                if (m + phase) % period == 0 {
                    per_fire
                } else {
                    0
                }
            }
            Kind::Steady | Kind::Bursty => {
                let angle =
                    std::f64::consts::TAU * (f64::from(m) - model.peak) / f64::from(DAY_MINUTES);
                let mut rate =
                    model.daily / f64::from(DAY_MINUTES) * (1.0 + model.amplitude * angle.cos());
                if let Kind::Bursty = model.kind {
                    if burst_left == 0 && rng.random::<f64>() < GEN_BURST_START {
                        burst_left = rng.random_range(1..=3);
                        burst_mult = 5.0 + 15.0 * rng.random::<f64>();
                    }
                    rate /= burst_gain;
                    if burst_left > 0 {
                        rate *= burst_mult;
                        burst_left -= 1;
                    }
                }
                poisson(&mut rng, rate)
            }
        };
        if m >= start {
            out[(m - start) as usize] = count;
        }
    }
}

/// A standard normal draw.
fn normal(rng: &mut SimRng) -> f64 {
    StandardNormal.sample(rng)
}

/// A Poisson draw at `rate` calls (0 for a rate that is not positive and finite).
fn poisson(rng: &mut SimRng, rate: f64) -> u32 {
    match Poisson::new(rate) {
        Ok(d) => d.sample(rng).clamp(0.0, f64::from(u32::MAX)) as u32,
        Err(_) => 0,
    }
}

/// The standard normal quantile at `p` in `(0, 1)` (Acklam's rational approximation; within
/// 2e-5 of the exact value, ample for shaping a popularity curve).
fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_671_666_254_16,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let low = 0.024_25;
    if p < low {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - low {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "arcroute-workload-{}-{tag}-{n}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        fn write(&self, name: &str, text: &str) {
            std::fs::write(self.0.join(name), text).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const INV: &str = "HashFunction,HashApp,HashOwner,minute_1,minute_2,minute_3,minute_4\n\
                       fa,app1,o1,2,0,4,1\n\
                       fb,app2,o1,0,3,0,0\n\
                       fc,app1,o1,1,1,1,600\n";
    const RUN_HEADER: &str = "HashFunction,HashApp,HashOwner,Count,Average,Minimum,Maximum,\
                              percentile_Average_0,percentile_Average_1,percentile_Average_25,\
                              percentile_Average_50,percentile_Average_75,percentile_Average_99,\
                              percentile_Average_100";
    const RUN_ROWS: &str = "fa,app1,o1,7,40.5,10.0,100.0,10,11,20,30,40,90,100\n\
                            fb,app2,o1,3,1000,1000.0,1000.0,1000,1000,1000,1000,1000,1000,1000\n\
                            fc,app1,o1,603,300,5.0,500.0,5,6,100,200,300,400,500\n";
    const MEM: &str = "HashApp,HashOwner,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1\n\
                       app1,o1,10,300.4,250\n";
    /// Counts of `INV` by [function][minute].
    const COUNTS: [[u64; 4]; 3] = [[2, 0, 4, 1], [0, 3, 0, 0], [1, 1, 1, 600]];
    /// p0 and p100 of `RUN_ROWS` by function.
    const BOUNDS: [(u32, u32); 3] = [(10, 100), (1000, 1000), (5, 500)];

    fn run_csv() -> String {
        format!("{RUN_HEADER}\n{RUN_ROWS}")
    }

    fn trace_dir(inv: &str, run: &str, mem: &str) -> TempDir {
        let dir = TempDir::new("trace");
        dir.write("t_inv.csv", inv);
        dir.write("t_run.csv", run);
        dir.write("t_mem.csv", mem);
        dir
    }

    fn load(
        inv: &str,
        run: &str,
        mem: &str,
        minutes: Range<u32>,
        arrivals: Arrivals,
        seed: u64,
    ) -> Result<Workload, WorkloadError> {
        let dir = trace_dir(inv, run, mem);
        load_trace(&dir.0, minutes, arrivals, seed)
    }

    fn tiny(minutes: Range<u32>, arrivals: Arrivals, seed: u64) -> Workload {
        load(INV, &run_csv(), MEM, minutes, arrivals, seed).unwrap()
    }

    /// Calls per [function][minute of the range].
    fn count_by_minute(w: &Workload) -> Vec<Vec<u64>> {
        let mut counts = vec![vec![0; w.minutes as usize]; w.functions.len()];
        for c in &w.calls {
            counts[c.function as usize][(c.at_ms / MINUTE_MS) as usize] += 1;
        }
        counts
    }

    /// Sorted by time, ties by function; inside the range; totals agree.
    fn assert_well_formed(w: &Workload) {
        for pair in w.calls.windows(2) {
            assert!(
                (pair[0].at_ms, pair[0].function) <= (pair[1].at_ms, pair[1].function),
                "{pair:?}"
            );
        }
        for c in &w.calls {
            assert!(c.at_ms < u64::from(w.minutes) * MINUTE_MS);
            assert!((c.function as usize) < w.functions.len());
            assert!(c.duration_ms >= 1);
        }
        let total: u64 = w.functions.iter().map(|f| f.total_calls).sum();
        assert_eq!(total, w.calls.len() as u64);
    }

    /// One of the tiny trace's three files, in the order `[inv, run, mem]`.
    #[derive(Clone, Copy, Debug)]
    enum File {
        Inv,
        Run,
        Mem,
    }
    use File::{Inv, Mem, Run};

    /// A change that breaks one file of the tiny trace.
    #[derive(Clone, Copy, Debug)]
    enum Edit {
        /// Replaces `from`, which must occur in the file, by `to`.
        Replace(File, &'static str, &'static str),
        /// Adds text at the end of the file.
        Append(File, &'static str),
        /// Replaces the whole file.
        Set(File, &'static str),
        /// Keeps only the file's header line, without its line end.
        HeaderOnly(File),
    }
    use Edit::{Append, HeaderOnly, Replace, Set};

    /// The tiny trace's `(inv, run, mem)` texts with `edit` made.
    fn malformed(edit: Edit) -> (String, String, String) {
        let mut texts = [INV.to_owned(), run_csv(), MEM.to_owned()];
        let (Replace(file, ..) | Append(file, _) | Set(file, _) | HeaderOnly(file)) = edit;
        let text = &mut texts[file as usize];
        *text = match edit {
            Replace(_, from, to) => {
                assert!(text.contains(from), "{edit:?}: `{from}` is not in its file");
                text.replace(from, to)
            }
            Append(_, more) => format!("{text}{more}"),
            Set(_, whole) => whole.to_owned(),
            HeaderOnly(_) => text.lines().next().unwrap().to_owned(),
        };
        let [inv, run, mem] = texts;
        (inv, run, mem)
    }

    /// Where an error must point: file name suffix, line, column and a piece of its message.
    type At = (&'static str, usize, usize, &'static str);

    /// Loads the tiny trace (its whole range) with each case's edit and expects an error at the
    /// case's place.
    fn assert_malformed(cases: &[(Edit, At)]) {
        for (i, &(edit, at)) in cases.iter().enumerate() {
            let case = format!("case {i} {edit:?}");
            let (inv, run, mem) = malformed(edit);
            let Err(e) = load(&inv, &run, &mem, 0..4, Arrivals::Random, 1) else {
                panic!("{case}: malformed input must be an error");
            };
            assert_at(&case, &e, at);
        }
    }

    /// Expects `e` where `at` says; `case` names what was loaded, for the failure message.
    fn assert_at(case: &str, e: &WorkloadError, (file_suffix, line, column, needle): At) {
        assert!(e.file.ends_with(file_suffix), "{case}: {e}");
        assert_eq!((e.line, e.column), (line, column), "{case}: {e}");
        assert!(e.message.contains(needle), "{case}: `{needle}` not in: {e}");
    }

    #[test]
    fn tiny_trace_has_exact_counts_names_and_memory() {
        let w = tiny(0..4, Arrivals::Random, 7);
        assert_well_formed(&w);
        assert_eq!(w.minutes, 4);
        assert_eq!(w.calls.len(), 613);
        let names: Vec<&str> = w.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["fa", "fb", "fc"]);
        let counts = count_by_minute(&w);
        for (f, expected) in COUNTS.iter().enumerate() {
            assert_eq!(counts[f], expected, "function {f}");
            assert_eq!(w.functions[f].total_calls, expected.iter().sum::<u64>());
        }
        // app1 has 300.4 MB (rounded); app2 has no mem.csv row: the 128 MB default.
        assert_eq!(w.functions[0].memory_mb, 300);
        assert_eq!(w.functions[1].memory_mb, 128);
        assert_eq!(w.functions[2].memory_mb, 300);
        let dir = trace_dir(INV, &run_csv(), MEM);
        let w = load_trace(&dir.0, 0..4, Arrivals::Random, 7).unwrap();
        assert_eq!(w.source, dir.0.display().to_string());
    }

    #[test]
    fn sub_range_counts_and_times_are_relative_to_its_start() {
        let w = tiny(1..3, Arrivals::Random, 7);
        assert_well_formed(&w);
        assert_eq!(w.minutes, 2);
        let counts = count_by_minute(&w);
        for (f, expected) in COUNTS.iter().enumerate() {
            assert_eq!(counts[f], &expected[1..3], "function {f}");
            assert_eq!(
                w.functions[f].total_calls,
                expected[1..3].iter().sum::<u64>()
            );
        }
        // The same calls as minutes 1..3 of the whole range, shifted: draws go by absolute minute.
        let whole = tiny(0..4, Arrivals::Random, 7);
        let slice: Vec<Call> = whole
            .calls
            .iter()
            .filter(|c| (MINUTE_MS..3 * MINUTE_MS).contains(&c.at_ms))
            .map(|c| Call {
                at_ms: c.at_ms - MINUTE_MS,
                ..*c
            })
            .collect();
        assert_eq!(w.calls, slice);
    }

    #[test]
    fn even_arrivals_are_exactly_spaced_and_centred() {
        let w = tiny(0..4, Arrivals::Even, 7);
        assert_well_formed(&w);
        let times = |f: u32, minute: u64| -> Vec<u64> {
            w.calls
                .iter()
                .filter(|c| c.function == f && c.at_ms / MINUTE_MS == minute)
                .map(|c| c.at_ms)
                .collect()
        };
        assert_eq!(times(0, 0), [15_000, 45_000]);
        assert_eq!(times(0, 2), [127_500, 142_500, 157_500, 172_500]);
        assert_eq!(times(0, 3), [210_000]);
        assert_eq!(times(1, 1), [70_000, 90_000, 110_000]);
        let many = times(2, 3);
        assert_eq!(many.len(), 600);
        assert_eq!(many[0], 180_050);
        assert!(many.windows(2).all(|p| p[1] - p[0] == 100));
        // Ties (fb and fc both at 90 000 ms) keep function order.
        let at: Vec<u32> = w
            .calls
            .iter()
            .filter(|c| c.at_ms == 90_000)
            .map(|c| c.function)
            .collect();
        assert_eq!(at, [1, 2]);
    }

    #[test]
    fn random_arrivals_are_uniform_within_their_minute() {
        let w = tiny(3..4, Arrivals::Random, 11);
        let offsets: Vec<u64> = w
            .calls
            .iter()
            .filter(|c| c.function == 2)
            .map(|c| c.at_ms)
            .collect();
        assert_eq!(offsets.len(), 600);
        let mean = offsets.iter().sum::<u64>() as f64 / 600.0;
        assert!((27_000.0..33_000.0).contains(&mean), "mean {mean}"); // 4 standard errors
        let early = offsets.iter().filter(|&&t| t < 30_000).count();
        assert!((240..360).contains(&early), "{early} in the first half");
    }

    #[test]
    fn durations_follow_the_percentiles() {
        for arrivals in [Arrivals::Random, Arrivals::Even] {
            let w = tiny(0..4, arrivals, 3);
            for c in &w.calls {
                let (lo, hi) = BOUNDS[c.function as usize];
                assert!((lo..=hi).contains(&c.duration_ms), "{c:?}");
            }
            assert!(w
                .calls
                .iter()
                .filter(|c| c.function == 1)
                .all(|c| c.duration_ms == 1000));
            // fc: 600+ draws with median 200: about half below it.
            let fc: Vec<u32> = w
                .calls
                .iter()
                .filter(|c| c.function == 2)
                .map(|c| c.duration_ms)
                .collect();
            let below = fc.iter().filter(|&&d| d < 200).count();
            assert!((250..353).contains(&below), "{below} of {}", fc.len());
        }
        let table = [10.0, 11.0, 20.0, 30.0, 40.0, 90.0, 100.0];
        assert_eq!(draw_duration(&table, 0.0), 10);
        assert_eq!(draw_duration(&table, 0.01), 11);
        assert_eq!(draw_duration(&table, 0.25), 20);
        assert_eq!(draw_duration(&table, 0.5), 30);
        assert_eq!(draw_duration(&table, 0.625), 35);
        assert_eq!(draw_duration(&table, 0.99), 90);
        assert_eq!(draw_duration(&table, 0.995), 95);
        assert_eq!(draw_duration(&table, 1.0 - f64::EPSILON), 100);
        assert_eq!(draw_duration(&[0.0; 7], 0.5), 1, "at least 1 ms");
    }

    #[test]
    fn arrival_and_duration_draws_are_uncorrelated() {
        // fc's 600 calls in minute 3: offset in the minute against duration.
        let w = tiny(3..4, Arrivals::Random, 9);
        let pairs: Vec<(f64, f64)> = w
            .calls
            .iter()
            .filter(|c| c.function == 2)
            .map(|c| (c.at_ms as f64, f64::from(c.duration_ms)))
            .collect();
        let n = pairs.len() as f64;
        let (mx, my) = pairs
            .iter()
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for (x, y) in &pairs {
            sxy += (x - mx) * (y - my);
            sxx += (x - mx) * (x - mx);
            syy += (y - my) * (y - my);
        }
        let r = sxy / (sxx * syy).sqrt();
        assert!(r.abs() < 0.2, "correlation {r}"); // 5 standard errors
    }

    #[test]
    fn durations_do_not_depend_on_the_arrival_mode() {
        let key = |w: &Workload| {
            let mut v: Vec<(u64, u32, u32)> = w
                .calls
                .iter()
                .map(|c| (c.at_ms / MINUTE_MS, c.function, c.duration_ms))
                .collect();
            v.sort_unstable();
            v
        };
        assert_eq!(
            key(&tiny(0..4, Arrivals::Random, 5)),
            key(&tiny(0..4, Arrivals::Even, 5))
        );
    }

    #[test]
    fn same_seed_same_workload_other_seed_other_times() {
        let a = tiny(0..4, Arrivals::Random, 42);
        let again = tiny(0..4, Arrivals::Random, 42); // from another temp directory
        assert_eq!(a.functions, again.functions);
        assert!(a.calls == again.calls, "same seed, different calls");
        let b = tiny(0..4, Arrivals::Random, 43);
        assert_eq!(count_by_minute(&a), count_by_minute(&b));
        let times = |w: &Workload| w.calls.iter().map(|c| c.at_ms).collect::<Vec<_>>();
        assert_ne!(times(&a), times(&b));
        let durations = |w: &Workload| w.calls.iter().map(|c| c.duration_ms).collect::<Vec<_>>();
        assert_ne!(durations(&a), durations(&b));
    }

    #[test]
    fn public_dataset_header_crlf_and_blank_lines_are_accepted() {
        // Original layout: a Trigger column and plain minute numbers; columns in another order;
        // CRLF line ends, a byte-order mark, a blank line, spaces and a whole count written `1.0`.
        let inv = "\u{feff}HashOwner,HashApp,HashFunction,Trigger,1,2,3,4\r\n\
                   o1,app1,fa,http,2,0,4,1.0\r\n\
                   \r\n\
                   o1, app2 ,fb,timer,0,3,0,0\r\n\
                   o1,app1,fc,queue,1,1,1,600\r\n";
        let w = load(inv, &run_csv(), MEM, 0..4, Arrivals::Random, 7).unwrap();
        assert_eq!(w, tiny(0..4, Arrivals::Random, 7).with_source(&w.source));
    }

    impl Workload {
        fn with_source(mut self, source: &str) -> Self {
            self.source = source.to_owned();
            self
        }
    }

    #[test]
    fn bad_numbers_report_file_line_and_column() {
        assert_malformed(&[
            (
                Replace(Inv, "fb,app2,o1,0,3", "fb,app2,o1,0,x3"),
                ("t_inv.csv", 3, 5, "`x3` is not a number"),
            ),
            (
                Replace(Inv, "fc,app1,o1,1,1,1,600", "fc,app1,o1,1,1,-1,600"),
                ("t_inv.csv", 4, 6, "negative"),
            ),
            (
                Replace(Inv, "fa,app1,o1,2,0", "fa,app1,o1,2.5,0"),
                ("t_inv.csv", 2, 4, "whole number"),
            ),
            (
                Replace(Inv, "fa,app1,o1,2,0", "fa,app1,o1,,0"),
                ("t_inv.csv", 2, 4, "empty field"),
            ),
            (
                Replace(Inv, "fa,app1,o1,2,0", "fa,app1,o1,NaN,0"),
                ("t_inv.csv", 2, 4, "finite"),
            ),
            (
                Replace(
                    Run,
                    "1000,1000,1000,1000,1000,1000,1000",
                    "1000,1000,1000,1000,1000,1000,1e400",
                ),
                ("t_run.csv", 3, 14, "finite"),
            ),
            (
                Replace(Run, "10,11,20,30,40,90,100", "10,11,20,30,-40,90,100"),
                ("t_run.csv", 2, 12, "negative"),
            ),
            (
                Replace(Mem, "300.4", "lots"),
                ("t_mem.csv", 2, 4, "not a number"),
            ),
        ]);
        // An error in a minute outside the range still counts: the file is malformed.
        let inv = INV.replace("fb,app2,o1,0,3,0,0", "fb,app2,o1,0,3,0,zero");
        let e = load(&inv, &run_csv(), MEM, 0..2, Arrivals::Random, 1).unwrap_err();
        assert_at(
            "minute 3 outside 0..2",
            &e,
            ("t_inv.csv", 3, 7, "not a number"),
        );
        assert_eq!(
            e.to_string(),
            format!("{}:3:7: `zero` is not a number", e.file)
        );
    }

    #[test]
    fn short_and_long_rows_report_the_first_missing_or_extra_field() {
        assert_malformed(&[
            (
                Replace(Inv, "fb,app2,o1,0,3,0,0", "fb,app2,o1,0,3"),
                ("t_inv.csv", 3, 6, "expected 7 fields"),
            ),
            (
                Replace(Inv, "fb,app2,o1,0,3,0,0", "fb,app2,o1,0,3,0,0,9"),
                ("t_inv.csv", 3, 8, "found 8"),
            ),
            (
                Replace(Run, "fb,app2,o1,3,1000,1000.0,", "fb,app2,o1,3,1000,"),
                ("t_run.csv", 3, 14, "expected 14 fields"),
            ),
            (
                Append(Mem, "app3\n"),
                ("t_mem.csv", 3, 2, "expected 5 fields"),
            ),
        ]);
    }

    #[test]
    fn missing_or_bad_header_columns_are_errors() {
        assert_malformed(&[
            (
                Replace(Inv, "HashApp,", "App,"),
                ("t_inv.csv", 1, 1, "no `HashApp` column"),
            ),
            (
                Replace(Inv, "minute_1,", "m1,"),
                ("t_inv.csv", 1, 1, "first minute column"),
            ),
            (
                Replace(Inv, "minute_3", "minute_33"),
                ("t_inv.csv", 1, 6, "expected minute column `minute_3`"),
            ),
            (
                Replace(Inv, "HashOwner", "HashFunction"),
                ("t_inv.csv", 1, 3, "repeats column `HashFunction`"),
            ),
            (
                Replace(Run, "percentile_Average_99,", "percentile_Average_98,"),
                ("t_run.csv", 1, 1, "no `percentile_Average_99` column"),
            ),
            // Blank lines before the header count in its line number.
            (
                Replace(Inv, "HashFunction,HashApp,", "\n\r\nHashFunction,App,"),
                ("t_inv.csv", 3, 1, "no `HashApp` column"),
            ),
            (
                Replace(Mem, "AverageAllocatedMb,", "Mb,"),
                ("t_mem.csv", 1, 1, "no `AverageAllocatedMb` column"),
            ),
        ]);
    }

    #[test]
    fn empty_files_and_header_only_inv_are_errors() {
        assert_malformed(&[
            (Set(Inv, ""), ("t_inv.csv", 1, 1, "empty file")),
            (Set(Run, "\n\r\n"), ("t_run.csv", 1, 1, "empty file")),
            (Set(Mem, ""), ("t_mem.csv", 1, 1, "empty file")),
            (HeaderOnly(Inv), ("t_inv.csv", 2, 1, "no function rows")),
        ]);
        // An empty mem.csv body is fine: every app gets the default.
        let mem_header = MEM.lines().next().unwrap();
        let w = load(INV, &run_csv(), mem_header, 0..4, Arrivals::Even, 1).unwrap();
        assert!(w.functions.iter().all(|f| f.memory_mb == DEFAULT_MEMORY_MB));
    }

    #[test]
    fn missing_run_row_and_duplicates_are_errors() {
        assert_malformed(&[
            (
                Append(Inv, "fd,app3,o1,0,0,0,0\n"),
                ("t_inv.csv", 5, 1, "`fd` has no row in"),
            ),
            (
                Append(Inv, "fb,app3,o1,0,0,0,0\n"),
                (
                    "t_inv.csv",
                    5,
                    1,
                    "duplicate function `fb` (first on line 3)",
                ),
            ),
            (
                Append(Run, "fa,app1,o1,7,40.5,10.0,100.0,10,11,20,30,40,90,100\n"),
                ("t_run.csv", 5, 1, "duplicate function `fa`"),
            ),
            (
                Append(Mem, "app1,o1,10,200,250\n"),
                ("t_mem.csv", 3, 1, "duplicate app `app1`"),
            ),
            (
                Replace(Run, "10,11,20,30,40,90,100", "10,11,20,30,25,90,100"),
                ("t_run.csv", 2, 12, "is below percentile_Average_50"),
            ),
        ]);
    }

    #[test]
    fn bad_ranges_files_and_encodings_are_errors() {
        let e = load(INV, &run_csv(), MEM, 0..5, Arrivals::Random, 1).unwrap_err();
        assert_at(
            "range 0..5",
            &e,
            ("t_inv.csv", 1, 7, "reaches past the trace's 4 minutes"),
        );
        #[allow(clippy::reversed_empty_ranges)]
        for range in [2..2, 3..1] {
            let e = load(INV, &run_csv(), MEM, range, Arrivals::Random, 1).unwrap_err();
            assert_eq!((e.line, e.column), (0, 0));
            assert!(e.message.contains("empty minute range"), "{e}");
        }
        let mut bytes = INV.as_bytes().to_vec();
        let at = INV.find("fb,app2,o1,0,3").unwrap() + "fb,app2,o1,0,".len();
        bytes[at] = 0xff;
        let dir = trace_dir("", &run_csv(), MEM);
        std::fs::write(dir.0.join("t_inv.csv"), &bytes).unwrap();
        let e = load_trace(&dir.0, 0..4, Arrivals::Random, 1).unwrap_err();
        assert_at("byte 0xff", &e, ("t_inv.csv", 3, 5, "invalid UTF-8"));

        dir.write("u_inv.csv", INV);
        let e = load_trace(&dir.0, 0..4, Arrivals::Random, 1).unwrap_err();
        assert!(e.message.contains("2 files end with `inv.csv`"), "{e}");
        std::fs::remove_file(dir.0.join("u_inv.csv")).unwrap();
        std::fs::remove_file(dir.0.join("t_mem.csv")).unwrap();
        let e = load_trace(&dir.0, 0..4, Arrivals::Random, 1).unwrap_err();
        assert!(
            e.message.contains("no file whose name ends with `mem.csv`"),
            "{e}"
        );
        let e = load_trace(&dir.0.join("absent"), 0..4, Arrivals::Random, 1).unwrap_err();
        assert!(e.message.contains("cannot list directory"), "{e}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Garbage under valid headers, or garbage throughout: an error or a sound workload,
        /// never a panic.
        #[test]
        fn no_input_panics(
            inv_rows in "([a-c0-9,.\\- \r]{0,20}\n){0,4}",
            run_rows in "([a-c0-9,.\\- \r]{0,40}\n){0,4}",
            mem_rows in "([a-c0-9,.\\- \r]{0,20}\n){0,4}",
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            which in 0usize..4,
            start in 0u32..6,
            len in 0u32..6,
        ) {
            let mut files = [
                format!("HashFunction,HashApp,minute_1,minute_2,minute_3\n{inv_rows}").into_bytes(),
                format!("HashFunction,{}\n{run_rows}", PCT_COLUMNS.join(",")).into_bytes(),
                format!("HashApp,AverageAllocatedMb\n{mem_rows}").into_bytes(),
            ];
            if which < 3 {
                files[which] = raw;
            }
            let file = |i: usize| TraceFile { name: format!("f{i}"), bytes: &files[i] };
            if let Ok(w) = parse_trace(file(0), file(1), file(2), start..start + len, Arrivals::Random, 1, "p".into()) {
                assert_well_formed(&w);
            }
        }
    }

    #[test]
    fn generate_is_deterministic_and_sized() {
        let a = generate(480..600, Arrivals::Random, 1);
        assert_well_formed(&a);
        assert_eq!(a, generate(480..600, Arrivals::Random, 1));
        assert_eq!(a.source, "generated (seed 1)");
        assert_eq!(a.minutes, 120);
        assert_eq!(a.functions.len(), GEN_FUNCTIONS);
        for seed in [1, 2, 3, 1234] {
            let n = generate(480..600, Arrivals::Even, seed).calls.len();
            assert!(
                (100_000..=200_000).contains(&n),
                "seed {seed}: {n} calls in 480..600"
            );
        }
        let b = generate(480..600, Arrivals::Random, 2);
        assert_ne!(a.calls, b.calls);
        let mut names: Vec<&str> = a.functions.iter().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), GEN_FUNCTIONS);
        assert!(a
            .functions
            .iter()
            .all(|f| (128..=1536).contains(&f.memory_mb)));
        // Clamped ranges.
        let w = generate(1400..2000, Arrivals::Random, 1);
        assert_eq!(w.minutes, 40);
        assert!(w.calls.iter().all(|c| c.at_ms < 40 * MINUTE_MS));
        let w = generate(1500..1600, Arrivals::Random, 1);
        assert_eq!(
            (w.minutes, w.calls.len(), w.functions.len()),
            (0, 0, GEN_FUNCTIONS)
        );
    }

    #[test]
    fn generated_models_have_the_promised_durations() {
        for seed in 0..20 {
            let models = generate_models(seed);
            assert_eq!(
                models
                    .iter()
                    .filter(|m| matches!(m.kind, Kind::Timer { .. }))
                    .count(),
                GEN_TIMERS
            );
            assert_eq!(
                models
                    .iter()
                    .filter(|m| matches!(m.kind, Kind::Bursty))
                    .count(),
                GEN_BURSTY
            );
            for m in &models {
                let d = m.durations;
                assert!(d.windows(2).all(|p| p[0] <= p[1]) && d[0] >= 1.0, "{d:?}");
                assert!((50.0..=10_000.0).contains(&d[3]), "median {}", d[3]);
                assert!(d[5] >= 1.5 * d[3] && d[6] >= 1.5 * d[5], "tail {d:?}");
                assert!((0.4..=0.6).contains(&m.amplitude));
            }
            let medians: Vec<f64> = models.iter().map(|m| m.durations[3]).collect();
            assert!(medians.iter().any(|&x| x < 200.0) && medians.iter().any(|&x| x > 3000.0));
        }
        assert!((inverse_normal(0.975) - 1.959_964).abs() < 2e-5);
        assert!((inverse_normal(0.01) + 2.326_348).abs() < 2e-5);
        assert!((inverse_normal(0.999) - 3.090_232).abs() < 2e-5);
        assert!(inverse_normal(0.5).abs() < 1e-12);
    }

    #[test]
    fn generated_day_is_heavy_tailed_diurnal_and_periodic() {
        let day = generate(0..1440, Arrivals::Random, 1);
        assert_well_formed(&day);
        let n = day.calls.len();
        assert!((1_000_000..=2_000_000).contains(&n), "{n} calls a day");
        // A range is the day's calls in it, shifted.
        let part = generate(480..600, Arrivals::Random, 1);
        let slice: Vec<Call> = day
            .calls
            .iter()
            .filter(|c| (480 * MINUTE_MS..600 * MINUTE_MS).contains(&c.at_ms))
            .map(|c| Call {
                at_ms: c.at_ms - 480 * MINUTE_MS,
                ..*c
            })
            .collect();
        assert_eq!(part.calls, slice);

        // Popularity: about 5 orders of magnitude; the top 5 functions carry most calls.
        let mut totals: Vec<u64> = day.functions.iter().map(|f| f.total_calls).collect();
        totals.sort_unstable();
        assert!(
            totals[0] >= 1 && totals[0] <= 30,
            "least popular: {}",
            totals[0]
        );
        assert!(
            totals[totals.len() - 1] >= 200_000,
            "most popular: {}",
            totals[totals.len() - 1]
        );
        let top5: u64 = totals[totals.len() - 5..].iter().sum();
        assert!(top5 * 2 > n as u64, "top 5 carry {top5} of {n}");

        // Diurnal: the hour around noon well above the hour around midnight.
        let hour = |h: u64| {
            day.calls
                .iter()
                .filter(|c| c.at_ms / 3_600_000 == h)
                .count()
        };
        let (noon, night) = (hour(11) + hour(12), hour(23) + hour(0));
        assert!(noon > 2 * night, "noon {noon}, night {night}");

        // Timers: calls only in minutes of one residue class of their period, the same number each.
        let mut per_minute = vec![vec![0u32; 1440]; day.functions.len()];
        for c in &day.calls {
            per_minute[c.function as usize][(c.at_ms / MINUTE_MS) as usize] += 1;
        }
        let mut timers = 0;
        for (f, function) in day.functions.iter().enumerate() {
            let Some(period) = function.name.split("-timer").nth(1) else {
                continue;
            };
            let period: usize = period.trim_end_matches('m').parse().unwrap();
            timers += 1;
            let fired: Vec<usize> = (0..1440).filter(|&m| per_minute[f][m] > 0).collect();
            assert_eq!(fired.len(), 1440 / period, "{}", function.name);
            assert!(
                fired.iter().all(|m| m % period == fired[0] % period),
                "{}",
                function.name
            );
            assert!(fired
                .iter()
                .all(|&m| per_minute[f][m] == per_minute[f][fired[0]]));
        }
        assert_eq!(timers, GEN_TIMERS);

        // Bursty functions have minutes at 5x their mean or more.
        let bursts = day
            .functions
            .iter()
            .enumerate()
            .filter(|(_, fun)| fun.name.ends_with("bursty") && fun.total_calls >= 1440 * 5)
            .filter(|(f, fun)| {
                per_minute[*f]
                    .iter()
                    .any(|&c| u64::from(c) * 1440 >= 5 * fun.total_calls)
            })
            .count();
        assert!(bursts >= 3, "{bursts} bursty functions with bursts");
    }

    #[test]
    fn shipped_azure_sample_loads_whole_day() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/azure2019");
        assert!(dir.is_dir(), "the Azure 2019 sample is missing from {}", dir.display());
        let w = load_trace(&dir, 0..DAY_MINUTES, Arrivals::Random, 1).unwrap();
        assert_well_formed(&w);
        assert_eq!(w.functions.len(), 200);
        assert_eq!(w.minutes, 1440);
        assert!(
            (1_600_000..1_640_000).contains(&w.calls.len()),
            "{} calls",
            w.calls.len()
        );
        assert!(w.functions.iter().all(|f| f.memory_mb >= 1));
        assert_eq!(w.source, dir.display().to_string());
    }
}
