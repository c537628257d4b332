//! The simulator's output: a plain-text table, a JSON report, an SVG chart of cold starts per
//! minute, and a progress bar on stderr.
//!
//! Units and conventions, shared by the table and the JSON:
//! - `cold_start_rate` and `moved_on_membership_change` are fractions in `[0, 1]`; the table
//!   shows them as percentages.
//! - `env_memory_gb_seconds` is GB·s; the table shows GB·h (`/ 3600`).
//! - JSON floats are always finite: NaN and ±infinity are written as `0` (JSON has no way to
//!   spell them, and a reader comparing runs wants a number, not `null`). The table shows a
//!   non-finite value as `-`.

// The simulator is a binary: nothing in it is reachable from outside the crate, so `pub` here
// only marks the module's interface to `main.rs`.
#![allow(unreachable_pub)]

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// Calls routed.
    pub calls: u64,
    /// Calls that found no warm environment.
    pub cold_starts: u64,
    /// `cold_starts / calls`, a fraction.
    pub cold_start_rate: f64,
    /// Calls of functions with provisioned (reserved) concurrency.
    pub reserved_calls: u64,
    /// Cold starts among `reserved_calls`.
    pub reserved_cold_starts: u64,
    /// Calls sent past their function's arc because it was full.
    pub spillovers: u64,
    /// Calls refused.
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
    /// One row per frontend count and mode.
    pub rows: Vec<FrontendRow>,
}

/// The whole run: the workload and one result per strategy.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    /// What was replayed.
    pub workload: WorkloadSummary,
    /// One entry per strategy, in the order they are shown.
    pub strategies: Vec<StrategyResult>,
}

// ---------------------------------------------------------------------------------------------
// Table

/// `1234567` -> `"1,234,567"`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let lead = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    out.push_str(&digits[..lead]);
    for group in digits.as_bytes()[lead..].chunks(3) {
        out.push(',');
        out.extend(group.iter().map(|&b| char::from(b)));
    }
    out
}

/// A float with `decimals` places and thousands separators in the integer part; `-` when not
/// finite.
fn float(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "-".to_string();
    }
    let s = format!("{:.*}", decimals, x.abs());
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s.as_str(), None),
    };
    let mut out = String::new();
    // "-0.00" is noise: only signed when something non-zero is shown.
    if x < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('-');
    }
    out.push_str(&thousands(int.parse().unwrap_or(0)));
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// Prints the strategies side by side: a header, one row per strategy, then the workload.
pub fn print_table(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    const HEADER: [&str; 11] = [
        "strategy",
        "calls",
        "cold starts",
        "cold %",
        "reserved calls",
        "reserved cold",
        "spillovers",
        "throttled",
        "p99 peak/mean",
        "env GB·h",
        "moved %",
    ];
    let rows: Vec<[String; 11]> = report
        .strategies
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                thousands(s.calls),
                thousands(s.cold_starts),
                float(s.cold_start_rate * 100.0, 3),
                thousands(s.reserved_calls),
                thousands(s.reserved_cold_starts),
                thousands(s.spillovers),
                thousands(s.throttled),
                float(s.load_peak_to_mean_p99, 2),
                float(s.env_memory_gb_seconds / 3600.0, 2),
                float(s.moved_on_membership_change * 100.0, 2),
            ]
        })
        .collect();
    grid(out, &HEADER, &rows, 1)?;
    workload_line(&report.workload, out)
}

fn workload_line(w: &WorkloadSummary, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "workload: {} ({} functions, {} calls, {} minutes)",
        w.source,
        thousands(w.functions),
        thousands(w.calls),
        thousands(w.minutes)
    )
}

/// Writes `header` and `rows` in columns two spaces apart, each as wide as its widest cell:
/// the first `left` columns left-aligned, the rest right-aligned.
fn grid<const N: usize>(
    out: &mut impl Write,
    header: &[&str; N],
    rows: &[[String; N]],
    left: usize,
) -> std::io::Result<()> {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, (cell, &w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            if i < left {
                s.push_str(&format!("{cell:<w$}"));
            } else {
                s.push_str(&format!("{cell:>w$}"));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(header))?;
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    Ok(())
}

/// Prints the window after a reservation cut, one row per run that had one: calls, reserved
/// calls and their cold starts, spillovers, the routers' spills, cold starts, memory, and
/// the reserved environments before the cut and at the window's end.
pub fn print_cut_table(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    const HEADER: [&str; 11] = [
        "strategy",
        "calls",
        "reserved calls",
        "reserved cold",
        "spillovers",
        "spilled",
        "cold starts",
        "cold %",
        "env GB·h",
        "reserved envs",
        "left",
    ];
    let mut rows: Vec<[String; 11]> = Vec::new();
    let mut title = None;
    for s in &report.strategies {
        let Some(w) = &s.after_cut else { continue };
        title.get_or_insert_with(|| {
            format!(
                "after the cut at minute {} to {}% of each reservation (minutes {}..{}):",
                w.from_minute,
                w.percent,
                w.from_minute,
                w.from_minute + w.minutes
            )
        });
        let rate = if w.calls == 0 {
            0.0
        } else {
            w.cold_starts as f64 / w.calls as f64
        };
        rows.push([
            s.name.clone(),
            thousands(w.calls),
            thousands(w.reserved_calls),
            thousands(w.reserved_cold_starts),
            thousands(w.spillovers),
            w.spilled.map_or_else(|| "-".to_string(), thousands),
            thousands(w.cold_starts),
            float(rate * 100.0, 3),
            float(w.env_memory_gb_seconds / 3600.0, 2),
            thousands(w.reserved_envs_before),
            thousands(w.reserved_envs_after),
        ]);
    }
    let Some(title) = title else { return Ok(()) };
    writeln!(out, "{title}")?;
    grid(out, &HEADER, &rows, 1)
}

/// Prints the frontend table: one row per frontend count and counting mode, then the
/// workload.
pub fn print_frontend_table(report: &FrontendReport, out: &mut impl Write) -> std::io::Result<()> {
    const HEADER: [&str; 14] = [
        "frontends",
        "counting",
        "busy rule",
        "reserved calls",
        "reserved cold",
        "spillovers",
        "spilled",
        "over-admitted",
        "retries",
        "cold starts",
        "cold %",
        "env GB·h",
        "reports/s",
        "uploads/s",
    ];
    let rows: Vec<[String; 14]> = report
        .rows
        .iter()
        .map(|r| {
            let s = &r.result;
            [
                r.frontends.to_string(),
                r.counting.clone(),
                (if r.busy_rule { "on" } else { "off" }).to_string(),
                thousands(s.reserved_calls),
                thousands(s.reserved_cold_starts),
                thousands(s.spillovers),
                thousands(r.routing.spilled),
                thousands(r.routing.over_admitted),
                thousands(s.retries),
                thousands(s.cold_starts),
                float(s.cold_start_rate * 100.0, 3),
                float(s.env_memory_gb_seconds / 3600.0, 2),
                float(r.reports_per_second, 1),
                float(r.uploads_per_second, 1),
            ]
        })
        .collect();
    grid(out, &HEADER, &rows, 0)?;
    workload_line(&report.workload, out)
}

// ---------------------------------------------------------------------------------------------
// JSON

/// `x`, or `0` when `x` is NaN or infinite.
fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// Writes `{"workload": {...}, "strategies": [{...}, ...]}`, pretty-printed, with every field
/// of [`StrategyResult`] but `cold_starts_per_minute` and `routing` (`after_cut` only after a
/// cut). NaN and ±infinity are written as `0`.
pub fn write_json(report: &Report, path: &Path) -> Result<(), String> {
    let mut clean = report.clone();
    clean.strategies.iter_mut().for_each(clean_result);
    write_pretty(&clean, path)
}

fn clean_result(s: &mut StrategyResult) {
    s.cold_start_rate = finite(s.cold_start_rate);
    s.load_peak_to_mean_p99 = finite(s.load_peak_to_mean_p99);
    s.env_memory_gb_seconds = finite(s.env_memory_gb_seconds);
    s.moved_on_membership_change = finite(s.moved_on_membership_change);
    s.wall_seconds = finite(s.wall_seconds);
    if let Some(w) = &mut s.after_cut {
        w.env_memory_gb_seconds = finite(w.env_memory_gb_seconds);
    }
}

fn write_pretty(value: &impl serde::Serialize, path: &Path) -> Result<(), String> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| format!("serializing the report: {e}"))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Writes the frontend table as `{"workload": {...}, "rows": [{...}, ...]}`: each row has
/// `frontends`, `counting`, `busy_rule`, the fields of [`StrategyResult`] (as in
/// [`write_json`]), `routing` ([`Routing`]) and the report rates. Non-finite floats as `0`.
pub fn write_frontend_json(report: &FrontendReport, path: &Path) -> Result<(), String> {
    let mut clean = report.clone();
    for r in &mut clean.rows {
        clean_result(&mut r.result);
        r.reports_per_second = finite(r.reports_per_second);
        r.uploads_per_second = finite(r.uploads_per_second);
    }
    write_pretty(&clean, path)
}

// ---------------------------------------------------------------------------------------------
// SVG

/// Tableau 10: distinct, readable on white, and kind to the common colour-vision deficiencies.
const COLORS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// Charts cold starts per minute, 1000×500: one coloured line per strategy, a legend, and the
/// caption "Cold starts per minute".
///
/// Text is emitted as SVG `<text>` elements, drawn by whatever displays the file; plotters only
/// estimates its size for layout, so no font is needed to write the chart.
pub fn write_svg(report: &Report, path: &Path) -> Result<(), String> {
    use plotters::prelude::*;

    let err = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    let minutes = report
        .strategies
        .iter()
        .map(|s| s.cold_starts_per_minute.len() as u64)
        .max()
        .unwrap_or(0);
    let peak = report
        .strategies
        .iter()
        .flat_map(|s| s.cold_starts_per_minute.iter().copied())
        .max()
        .unwrap_or(0);
    // Some headroom above the highest point, so the top line doesn't sit on the frame.
    let y_max = (peak + peak / 20).max(1);
    let x_max = minutes.saturating_sub(1).max(1);

    let root = SVGBackend::new(path, (1000, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Cold starts per minute", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0u64..x_max, 0u64..y_max)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("minute")
        .y_desc("cold starts")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.1))
        .draw()
        .map_err(|e| err(&e))?;
    // Thinner lines when there are more minutes than pixels to spare, or they blur together.
    let stroke = if minutes > 450 { 1 } else { 2 };
    for (i, s) in report.strategies.iter().enumerate() {
        let (r, g, b) = COLORS[i % COLORS.len()];
        let color = RGBColor(r, g, b);
        let points = s
            .cold_starts_per_minute
            .iter()
            .enumerate()
            .map(|(m, &c)| (m as u64, c));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(stroke)))
            .map_err(|e| err(&e))?
            .label(s.name.as_str())
            // A filled swatch rather than a line: the legend adds no <polyline>, so the
            // chart has exactly one per strategy.
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 18, y + 4)], color.filled()));
    }
    if !report.strategies.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| err(&e))?;
    }
    // The file is written here; dropping the backend instead would swallow any I/O error.
    root.present().map_err(|e| err(&e))
}

// ---------------------------------------------------------------------------------------------
// Progress

/// A progress bar on stderr, shared by the strategy threads.
///
/// Draws nothing for its first second (short runs stay quiet), then at most about ten times a
/// second; draws nothing at all when stderr is not a terminal. [`Progress::add`] is a relaxed
/// atomic add plus, on a terminal, a clock read: cheap enough to call every few thousand calls.
#[derive(Debug)]
pub struct Progress {
    label: String,
    total: u64,
    enabled: bool,
    start: Instant,
    done: AtomicU64,
    /// Milliseconds after `start` of the last draw (0: none yet).
    last_draw_ms: AtomicU64,
    /// Width of what is on the line now (0: nothing to clear), or `None` once finished.
    line: Mutex<Option<usize>>,
}

impl Progress {
    const QUIET: Duration = Duration::from_secs(1);
    const EVERY_MS: u64 = 100;
    const BAR: u64 = 30;

    /// A bar for `total` units of work, labelled `label`.
    pub fn new(label: &str, total: u64) -> Self {
        Self {
            label: label.to_string(),
            total,
            enabled: std::io::stderr().is_terminal(),
            start: Instant::now(),
            done: AtomicU64::new(0),
            last_draw_ms: AtomicU64::new(0),
            line: Mutex::new(Some(0)),
        }
    }

    /// Counts `n` more units done, and redraws if it is time to.
    pub fn add(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if !self.enabled {
            return;
        }
        let elapsed = self.start.elapsed();
        if elapsed < Self::QUIET {
            return;
        }
        let now_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let last = self.last_draw_ms.load(Ordering::Relaxed);
        if last != 0 && now_ms < last + Self::EVERY_MS {
            return;
        }
        // One thread wins each redraw; the others go straight back to work.
        if self
            .last_draw_ms
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let Ok(mut line) = self.line.try_lock() else {
            return;
        };
        let Some(width) = line.as_mut() else {
            return; // finished
        };
        let text = self.render(done);
        let n = text.chars().count();
        // Pad over a longer previous line (the count only grows, but be safe).
        let pad = width.saturating_sub(n);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{text}{:pad$}", "");
        let _ = err.flush();
        *width = n;
    }

    /// Stops drawing, and clears the line if anything was drawn.
    pub fn finish(&self) {
        let mut line = self.line.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(width) = line.take() {
            if width > 0 {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{:width$}\r", "");
                let _ = err.flush();
            }
        }
    }

    /// `"{label} [#####.....] 42% (n/total)"`.
    fn render(&self, done: u64) -> String {
        let done = done.min(self.total);
        let frac = if self.total == 0 {
            1.0
        } else {
            done as f64 / self.total as f64
        };
        let filled = ((frac * Self::BAR as f64) as u64).min(Self::BAR) as usize;
        let empty = Self::BAR as usize - filled;
        format!(
            "{} [{}{}] {}% ({}/{})",
            self.label,
            "#".repeat(filled),
            ".".repeat(empty),
            (frac * 100.0) as u64,
            done,
            self.total
        )
    }
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::PathBuf;
    use std::sync::Arc;

    /// A unique path in the temp dir, removed when dropped (even if the test fails).
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(tag: &str, ext: &str) -> Self {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            Self(std::env::temp_dir().join(format!(
                "arcroute-report-{tag}-{}-{nanos}-{}.{ext}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            )))
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// What `write` puts in a file named after `tag` and `ext`.
    fn written<T>(
        value: &T,
        write: fn(&T, &Path) -> Result<(), String>,
        tag: &str,
        ext: &str,
    ) -> String {
        let file = TempFile::new(tag, ext);
        write(value, &file.0).unwrap();
        std::fs::read_to_string(&file.0).unwrap()
    }

    fn sample() -> Report {
        Report {
            workload: WorkloadSummary {
                functions: 4_321,
                calls: 1_234_567,
                minutes: 1_440,
                source: "synthetic seed=7".to_string(),
            },
            strategies: vec![
                StrategyResult {
                    name: "arcroute".to_string(),
                    calls: 1_234_567,
                    cold_starts: 9_876,
                    cold_start_rate: 9_876.0 / 1_234_567.0,
                    reserved_calls: 100_000,
                    reserved_cold_starts: 12,
                    spillovers: 3_456,
                    throttled: 0,
                    load_peak_to_mean_p99: 1.75,
                    env_memory_gb_seconds: 7_200.0,
                    moved_on_membership_change: 0.125,
                    warm_starts: 1_224_691,
                    retries: 5,
                    wall_seconds: 2.5,
                    reserved_envs_placed: 672,
                    cold_starts_per_minute: vec![10, 20, 5, 0, 7],
                    ..StrategyResult::default()
                },
                StrategyResult {
                    name: "random".to_string(),
                    calls: 1_234_567,
                    cold_starts: 400_000,
                    cold_start_rate: 400_000.0 / 1_234_567.0,
                    reserved_calls: 100_000,
                    reserved_cold_starts: 30_000,
                    spillovers: 0,
                    throttled: 77,
                    load_peak_to_mean_p99: 1.05,
                    env_memory_gb_seconds: 360_000.0,
                    moved_on_membership_change: 1.0,
                    warm_starts: 834_567,
                    retries: 0,
                    wall_seconds: 1.0,
                    reserved_envs_placed: 600,
                    cold_starts_per_minute: vec![300, 280, 310],
                    ..StrategyResult::default()
                },
                StrategyResult {
                    name: "least-loaded".to_string(),
                    calls: 1_234_567,
                    cold_starts: 50_000,
                    cold_start_rate: 50_000.0 / 1_234_567.0,
                    reserved_calls: 100_000,
                    reserved_cold_starts: 400,
                    spillovers: 0,
                    throttled: 0,
                    load_peak_to_mean_p99: 1.01,
                    env_memory_gb_seconds: 90_000.0,
                    moved_on_membership_change: 0.5,
                    warm_starts: 1_184_567,
                    retries: 0,
                    wall_seconds: 3.0,
                    reserved_envs_placed: 0,
                    cold_starts_per_minute: vec![40, 42, 38, 41, 39, 44],
                    ..StrategyResult::default()
                },
            ],
        }
    }

    fn keys(v: &serde_json::Value) -> BTreeSet<&str> {
        v.as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn json_has_exactly_the_documented_keys_and_values() {
        let report = sample();
        let text = written(&report, write_json, "json", "json");
        assert!(text.contains("\n  \""), "pretty-printed: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();

        assert_eq!(keys(&v), BTreeSet::from(["workload", "strategies"]));
        let w = &v["workload"];
        assert_eq!(
            keys(w),
            BTreeSet::from(["functions", "calls", "minutes", "source"])
        );
        assert_eq!(w["functions"], 4_321);
        assert_eq!(w["calls"], 1_234_567);
        assert_eq!(w["minutes"], 1_440);
        assert_eq!(w["source"], "synthetic seed=7");

        let strategies = v["strategies"].as_array().unwrap();
        assert_eq!(strategies.len(), report.strategies.len());
        let expected = BTreeSet::from([
            "name",
            "calls",
            "cold_starts",
            "cold_start_rate",
            "reserved_calls",
            "reserved_cold_starts",
            "spillovers",
            "throttled",
            "load_peak_to_mean_p99",
            "env_memory_gb_seconds",
            "moved_on_membership_change",
            "warm_starts",
            "retries",
            "wall_seconds",
            "reserved_envs_placed",
        ]);
        for (j, s) in strategies.iter().zip(&report.strategies) {
            assert_eq!(keys(j), expected, "no cold_starts_per_minute, nothing else");
            assert_eq!(j["name"], s.name.as_str());
            assert_eq!(j["calls"], s.calls);
            assert_eq!(j["cold_starts"], s.cold_starts);
            assert_eq!(j["cold_start_rate"], s.cold_start_rate);
            assert_eq!(j["reserved_calls"], s.reserved_calls);
            assert_eq!(j["reserved_cold_starts"], s.reserved_cold_starts);
            assert_eq!(j["spillovers"], s.spillovers);
            assert_eq!(j["throttled"], s.throttled);
            assert_eq!(j["load_peak_to_mean_p99"], s.load_peak_to_mean_p99);
            assert_eq!(j["env_memory_gb_seconds"], s.env_memory_gb_seconds);
            assert_eq!(
                j["moved_on_membership_change"],
                s.moved_on_membership_change
            );
            assert_eq!(j["warm_starts"], s.warm_starts);
            assert_eq!(j["retries"], s.retries);
            assert_eq!(j["wall_seconds"], s.wall_seconds);
            assert_eq!(j["reserved_envs_placed"], s.reserved_envs_placed);
        }
    }

    #[test]
    fn a_cut_adds_its_window_to_the_json_and_a_table_of_its_own() {
        let mut report = sample();
        let mut out = Vec::new();
        print_cut_table(&report, &mut out).unwrap();
        assert!(out.is_empty(), "no cut, no table");
        report.strategies[0].after_cut = Some(Window {
            mode: "drain".into(),
            percent: 50,
            from_minute: 60,
            minutes: 10,
            calls: 12_000,
            reserved_calls: 800,
            reserved_cold_starts: 3,
            spillovers: 6_000,
            spilled: Some(2_500),
            cold_starts: 46,
            env_memory_gb_seconds: 3600.0 * 23.5,
            reserved_envs_before: 41,
            reserved_envs_after: 36,
        });
        print_cut_table(&report, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "after the cut at minute 60 to 50% of each reservation (minutes 60..70):"
        );
        assert_eq!(
            lines.len(),
            3,
            "title, header, the one run with a cut: {text}"
        );
        let cells: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "arcroute", "12,000", "800", "3", "6,000", "2,500", "46", "0.383", "23.50", "41",
                "36"
            ]
        );
        let v: serde_json::Value =
            serde_json::from_str(&written(&report, write_json, "cut", "json")).unwrap();
        assert_eq!(v["strategies"][0]["after_cut"]["reserved_envs_after"], 36);
        assert_eq!(v["strategies"][0]["after_cut"]["spilled"], 2_500);
        assert!(v["strategies"][1].get("after_cut").is_none());
    }

    #[test]
    fn the_frontend_table_shows_each_mode_and_its_report_traffic() {
        let report = sample();
        let row = |frontends, counting: &str, busy_rule, reports| FrontendRow {
            frontends,
            counting: counting.into(),
            busy_rule,
            result: report.strategies[0].clone(),
            routing: Routing {
                routed_reserved: 90_000,
                spilled: 40_000,
                over_admitted: 7,
                reports,
                uploads: 0,
            },
            reports_per_second: reports as f64 / 7200.0,
            uploads_per_second: f64::NAN,
        };
        let table = FrontendReport {
            workload: report.workload.clone(),
            rows: vec![
                row(1, "local", false, 0),
                row(16, "global", true, 2_304_000),
            ],
        };
        let mut out = Vec::new();
        print_frontend_table(&table, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("frontends  counting  busy rule  reserved calls"));
        let cells: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(&cells[..3], ["16", "global", "on"]);
        assert_eq!(&cells[cells.len() - 2..], ["320.0", "-"]);
        assert!(lines[3].starts_with("workload: synthetic seed=7"));
        let text = written(&table, write_frontend_json, "frontends", "json");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(keys(&v), BTreeSet::from(["workload", "rows"]));
        let r = &v["rows"][1];
        assert_eq!(
            (r["frontends"].clone(), r["busy_rule"].clone()),
            (16.into(), true.into())
        );
        assert_eq!(r["counting"], "global");
        assert_eq!(r["reserved_cold_starts"], 12);
        assert_eq!(r["routing"]["over_admitted"], 7);
        assert_eq!(r["reports_per_second"], 320.0);
        assert_eq!(r["uploads_per_second"], 0.0, "NaN written as 0");
    }

    #[test]
    fn json_writes_non_finite_floats_as_zero() {
        let mut report = sample();
        let s = &mut report.strategies[0];
        s.cold_start_rate = f64::NAN;
        s.load_peak_to_mean_p99 = f64::INFINITY;
        s.env_memory_gb_seconds = f64::NEG_INFINITY;
        s.moved_on_membership_change = f64::NAN;
        s.wall_seconds = f64::NAN;
        let text = written(&report, write_json, "nan", "json");
        assert!(!text.contains("null") && !text.contains("NaN"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let j = &v["strategies"][0];
        for key in [
            "cold_start_rate",
            "load_peak_to_mean_p99",
            "env_memory_gb_seconds",
            "moved_on_membership_change",
            "wall_seconds",
        ] {
            assert_eq!(j[key].as_f64(), Some(0.0), "{key}");
        }
        // The other strategies are untouched.
        assert_eq!(v["strategies"][1]["load_peak_to_mean_p99"], 1.05);
    }

    #[test]
    fn json_reports_an_unwritable_path() {
        let dir = TempFile::new("missing-dir", "d");
        let err = write_json(&sample(), &dir.0.join("x.json")).unwrap_err();
        assert!(err.contains("x.json"), "{err}");
    }

    #[test]
    fn table_lists_every_strategy_with_its_numbers_aligned() {
        let mut out = Vec::new();
        print_table(&sample(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 3 + 1, "{text}");
        for h in [
            "strategy",
            "cold starts",
            "cold %",
            "p99 peak/mean",
            "env GB·h",
        ] {
            assert!(lines[0].contains(h), "header lacks {h}: {}", lines[0]);
        }
        let row = |name: &str| {
            *lines
                .iter()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("no row for {name}:\n{text}"))
        };
        let cells = |name: &str| -> Vec<String> {
            row(name)[name.len()..]
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        // calls, cold, cold %, reserved calls, reserved cold, spillovers, throttled, p99,
        // GB·h, moved %.
        assert_eq!(
            cells("arcroute"),
            [
                "1,234,567",
                "9,876",
                "0.800",
                "100,000",
                "12",
                "3,456",
                "0",
                "1.75",
                "2.00",
                "12.50"
            ]
        );
        assert_eq!(
            cells("random"),
            [
                "1,234,567",
                "400,000",
                "32.400",
                "100,000",
                "30,000",
                "0",
                "77",
                "1.05",
                "100.00",
                "100.00"
            ]
        );
        assert_eq!(
            cells("least-loaded"),
            [
                "1,234,567",
                "50,000",
                "4.050",
                "100,000",
                "400",
                "0",
                "0",
                "1.01",
                "25.00",
                "50.00"
            ]
        );
        // Right-aligned columns: every row ends at the same column.
        let width = |l: &str| l.chars().count();
        for l in &lines[1..4] {
            assert_eq!(width(l), width(lines[0]), "{text}");
        }
        let last = lines[4];
        for part in [
            "synthetic seed=7",
            "4,321 functions",
            "1,234,567 calls",
            "1,440 minutes",
        ] {
            assert!(last.contains(part), "{last}");
        }
    }

    #[test]
    fn table_shows_non_finite_as_a_dash() {
        let mut report = sample();
        report.strategies[0].load_peak_to_mean_p99 = f64::NAN;
        let mut out = Vec::new();
        print_table(&report, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let row = text.lines().find(|l| l.starts_with("arcroute")).unwrap();
        assert_eq!(row.split_whitespace().nth(8), Some("-"), "{row}");
        assert_eq!(float(-0.001, 2), "0.00");
        assert_eq!(float(-1234.5, 1), "-1,234.5");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
    }

    #[test]
    fn svg_has_one_line_per_strategy_a_legend_and_the_caption() {
        let report = sample();
        let text = written(&report, write_svg, "svg", "svg");
        let body = text
            .trim_start()
            .strip_prefix("<?xml")
            .map_or(text.trim_start(), |rest| {
                rest.split_once("?>").unwrap().1.trim_start()
            });
        assert!(body.starts_with("<svg"), "{}", &text[..text.len().min(200)]);
        assert!(text.contains(r#"width="1000""#) && text.contains(r#"height="500""#));
        assert!(text.contains("Cold starts per minute"));
        let tags: Vec<&str> = text.split('<').collect();
        // Axes and ticks are thin black polylines too; the data lines are the coloured ones.
        let palette: Vec<String> = COLORS
            .iter()
            .map(|(r, g, b)| format!("stroke=\"#{r:02X}{g:02X}{b:02X}\""))
            .collect();
        let data_lines: Vec<&str> = tags
            .iter()
            .copied()
            .filter(|t| t.starts_with("polyline") || t.starts_with("path"))
            .filter(|t| {
                palette
                    .iter()
                    .any(|c| t.to_ascii_uppercase().contains(&c.to_ascii_uppercase()))
            })
            .collect();
        assert_eq!(data_lines.len(), report.strategies.len(), "{text}");
        let labels: Vec<&str> = tags
            .iter()
            .filter_map(|t| t.strip_prefix("text "))
            .map(|t| t.split_once('>').unwrap().1.trim())
            .collect();
        for (i, s) in report.strategies.iter().enumerate() {
            let color = &palette[i].to_ascii_uppercase();
            let line: Vec<&&str> = data_lines
                .iter()
                .filter(|l| l.to_ascii_uppercase().contains(color))
                .collect();
            assert_eq!(line.len(), 1, "one line in {color} for {}", s.name);
            assert!(line[0].contains(r#"stroke-width="2""#), "{}", line[0]);
            let points = line[0].split_once("points=\"").unwrap().1;
            let points = points.split_once('"').unwrap().0;
            assert_eq!(
                points.split_whitespace().count(),
                s.cold_starts_per_minute.len(),
                "{}",
                s.name
            );
            assert!(
                labels.contains(&s.name.as_str()),
                "legend lacks {}: {labels:?}",
                s.name
            );
        }
        for axis in ["minute", "cold starts"] {
            assert!(labels.contains(&axis), "no axis label {axis}: {labels:?}");
        }
    }

    #[test]
    fn svg_copes_with_no_data() {
        let mut report = sample();
        for s in &mut report.strategies {
            s.cold_starts_per_minute.clear();
        }
        let file = TempFile::new("svg-empty", "svg");
        write_svg(&report, &file.0).unwrap();
        report.strategies.clear();
        write_svg(&report, &file.0).unwrap();
        let text = std::fs::read_to_string(&file.0).unwrap();
        assert!(text.contains("Cold starts per minute"));
    }

    #[test]
    fn progress_counts_from_many_threads() {
        let p = Arc::new(Progress::new("replay", 8 * 1_000 * 4_096));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let p = Arc::clone(&p);
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        p.add(4_096);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(p.done.load(Ordering::Relaxed), 8 * 1_000 * 4_096);
        p.finish();
        p.finish(); // idempotent
        p.add(1); // after finish: counted, never drawn
        assert_eq!(p.done.load(Ordering::Relaxed), 8 * 1_000 * 4_096 + 1);
    }

    #[test]
    fn progress_renders_the_documented_bar() {
        let p = Progress::new("replay", 200);
        assert_eq!(
            p.render(84),
            format!("replay [{}{}] 42% (84/200)", "#".repeat(12), ".".repeat(18))
        );
        assert_eq!(
            p.render(500),
            format!("replay [{}] 100% (200/200)", "#".repeat(30))
        );
        assert!(Progress::new("x", 0).render(0).ends_with("100% (0/0)"));
        // Under `cargo test`, stderr is captured or redirected: nothing may be drawn.
        if !std::io::stderr().is_terminal() {
            assert!(!p.enabled);
        }
    }
}
