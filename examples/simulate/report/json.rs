//! The JSON reports.

use std::path::Path;

use super::{FrontendReport, Report, StrategyResult};

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
    s.cold_or_rejected_rate = finite(s.cold_or_rejected_rate);
    s.function_cold_rate_p75 = finite(s.function_cold_rate_p75);
    s.slowdown_p50 = finite(s.slowdown_p50);
    s.slowdown_p99 = finite(s.slowdown_p99);
    s.overloaded_share = finite(s.overloaded_share);
    s.retries_per_call_mean = finite(s.retries_per_call_mean);
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
