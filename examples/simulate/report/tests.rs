use super::svg::COLORS;
use super::table::{float, thousands};
use super::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

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
        options: None,
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
                cold_or_rejected_rate: 9_876.0 / 1_234_567.0,
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
                managers: 100,
                function_cold_rate_p75: 0.0125,
                slowdown_p50: 1.0,
                slowdown_p99: 2.345,
                overloaded_share: 0.031,
                retries_per_call_mean: 0.25,
                retries_per_call_p99: 2,
                cold_starts_per_minute: vec![10, 20, 5, 0, 7],
                ..StrategyResult::default()
            },
            StrategyResult {
                name: "random".to_string(),
                calls: 1_234_567,
                cold_starts: 400_000,
                cold_start_rate: 400_000.0 / 1_234_567.0,
                cold_or_rejected_rate: 400_077.0 / 1_234_567.0,
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
                cold_or_rejected_rate: 50_000.0 / 1_234_567.0,
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
        "managers",
        "calls",
        "cold_starts",
        "cold_start_rate",
        "cold_or_rejected_rate",
        "function_cold_rate_p75",
        "reserved_calls",
        "reserved_cold_starts",
        "spillovers",
        "throttled",
        "load_peak_to_mean_p99",
        "env_memory_gb_seconds",
        "moved_on_membership_change",
        "warm_starts",
        "retries",
        "retries_per_call_mean",
        "retries_per_call_p99",
        "slowdown_p50",
        "slowdown_p99",
        "overloaded_share",
        "wall_seconds",
        "reserved_envs_placed",
    ]);
    for (j, s) in strategies.iter().zip(&report.strategies) {
        assert_eq!(keys(j), expected, "no cold_starts_per_minute, nothing else");
        assert_eq!(j["name"], s.name.as_str());
        assert_eq!(j["calls"], s.calls);
        assert_eq!(j["cold_starts"], s.cold_starts);
        assert_eq!(j["cold_start_rate"], s.cold_start_rate);
        assert_eq!(j["cold_or_rejected_rate"], s.cold_or_rejected_rate);
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
        ["arcroute", "12,000", "800", "3", "6,000", "2,500", "46", "0.383", "23.50", "41", "36"]
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
        options: None,
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
    s.cold_or_rejected_rate = f64::INFINITY;
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
        "cold_or_rejected_rate",
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
        "cold+rejected %",
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
    // managers, calls, cold, cold %, cold+rejected %, fn cold % p75, slowdown p50, p99, overloaded %,
    // p99 peak/mean, retries/call, retries p99, throttled, GB·h, reserved cold, moved %.
    assert_eq!(
        cells("arcroute"),
        [
            "100",
            "1,234,567",
            "9,876",
            "0.800",
            "0.800",
            "1.25",
            "1.00",
            "2.35",
            "3.10",
            "1.75",
            "0.250",
            "2",
            "0",
            "2.00",
            "12",
            "12.50"
        ]
    );
    assert_eq!(
        cells("random"),
        [
            "0",
            "1,234,567",
            "400,000",
            "32.400",
            "32.406",
            "0.00",
            "0.00",
            "0.00",
            "0.00",
            "1.05",
            "0.000",
            "0",
            "77",
            "100.00",
            "30,000",
            "100.00"
        ]
    );
    assert_eq!(
        cells("least-loaded"),
        [
            "0",
            "1,234,567",
            "50,000",
            "4.050",
            "4.050",
            "0.00",
            "0.00",
            "0.00",
            "0.00",
            "1.01",
            "0.000",
            "0",
            "0",
            "25.00",
            "400",
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
    assert_eq!(row.split_whitespace().nth(10), Some("-"), "{row}");
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
        // arcroute's line is thicker than the rivals', and drawn last (on top).
        let width = if s.name == "arcroute" { 3 } else { 2 };
        assert!(
            line[0].contains(&format!("stroke-width=\"{width}\"")),
            "{}",
            line[0]
        );
        if s.name == "arcroute" {
            assert_eq!(data_lines.last(), Some(line[0]), "arcroute on top");
        }
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
fn json_records_the_run_options() {
    let mut report = sample();
    let options = crate::scenario::Options::default();
    report.options = Some(serde_json::to_value(&options).unwrap());
    let v: serde_json::Value =
        serde_json::from_str(&written(&report, write_json, "options", "json")).unwrap();
    assert_eq!(
        keys(&v),
        BTreeSet::from(["workload", "options", "strategies"])
    );
    let o = &v["options"];
    assert_eq!(
        (o["seed"].as_u64(), o["sim"]["managers"].as_u64()),
        (Some(1), Some(20))
    );
    assert_eq!(o["minutes"]["start"].as_u64(), Some(480));
    assert_eq!(o["strategies"][0], "arcroute");
    assert_eq!(o["strategies"][2], "round-robin");
    assert_eq!(
        (&o["arrivals"], &o["sim"]["counting"]),
        (&"random".into(), &"local".into())
    );
    assert!(o["trace_dir"].is_null() && o["cut"].is_null());
}

#[test]
fn the_tradeoff_chart_has_one_labelled_point_per_strategy_per_fleet() {
    let mut report = sample();
    let mut larger = report.strategies.clone();
    for s in &mut larger {
        s.managers = 400;
        s.cold_start_rate /= 2.0;
        s.cold_or_rejected_rate /= 2.0;
    }
    report.strategies.extend(larger);
    let text = written(&report, write_tradeoff_svg, "tradeoff", "svg");
    assert!(text.contains("Cold starts and rejected calls against p99 slowdown"));
    assert!(text.contains("cold starts + rejected calls, % of calls"));
    let labels: Vec<&str> = text
        .split('<')
        .filter_map(|t| t.strip_prefix("text "))
        .map(|t| t.split_once('>').unwrap().1.trim())
        .collect();
    for s in &report.strategies {
        let label = format!("{} ({})", s.name, s.managers);
        assert_eq!(
            labels.iter().filter(|l| **l == label).count(),
            1,
            "{label} in {labels:?}"
        );
    }
    let circles = text.matches("<circle").count();
    assert_eq!(circles, report.strategies.len(), "{text}");
    // arcroute's points are drawn last, and larger.
    let last = text.rsplit("<circle").next().unwrap();
    assert!(last.contains(r#"r="7""#), "{last}");
}
