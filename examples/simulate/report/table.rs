//! The plain-text tables.

use std::io::Write;

use super::{FrontendReport, Report, WorkloadSummary};

/// `1234567` -> `"1,234,567"`.
pub(super) fn thousands(n: u64) -> String {
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
pub(super) fn float(x: f64, decimals: usize) -> String {
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

/// Prints the strategies side by side, one row per (fleet, strategy): a header, the rows,
/// then the workload.
pub fn print_table(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    const HEADER: [&str; 17] = [
        "strategy",
        "managers",
        "calls",
        "cold starts",
        "cold %",
        "cold+rejected %",
        "fn cold % p75",
        "slowdown p50",
        "slowdown p99",
        "overloaded %",
        "p99 peak/mean",
        "retries/call",
        "retries p99",
        "throttled",
        "env GB·h",
        "reserved cold",
        "moved %",
    ];
    let rows: Vec<[String; 17]> = report
        .strategies
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                thousands(s.managers as u64),
                thousands(s.calls),
                thousands(s.cold_starts),
                float(s.cold_start_rate * 100.0, 3),
                float(s.cold_or_rejected_rate * 100.0, 3),
                float(s.function_cold_rate_p75 * 100.0, 2),
                float(s.slowdown_p50, 2),
                float(s.slowdown_p99, 2),
                float(s.overloaded_share * 100.0, 2),
                float(s.load_peak_to_mean_p99, 2),
                float(s.retries_per_call_mean, 3),
                thousands(s.retries_per_call_p99),
                thousands(s.throttled),
                float(s.env_memory_gb_seconds / 3600.0, 2),
                thousands(s.reserved_cold_starts),
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
