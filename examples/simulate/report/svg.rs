//! The chart of cold starts per minute.

use std::path::Path;

use super::{Report, StrategyResult};

/// Tableau 10: distinct, readable on white, and kind to the common colour-vision deficiencies.
pub(super) const COLORS: [(u8, u8, u8); 10] = [
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
/// caption "Cold starts per minute". arcroute's lines (any run of it, in any mode) are drawn
/// last, on top of the rivals', and one pixel thicker, so that they stay visible where the
/// lines cross; every strategy keeps its colour by its place in the report.
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
    let is_arcroute = |s: &&StrategyResult| s.name.split(' ').next() == Some("arcroute");
    let (ours, rivals): (Vec<_>, Vec<_>) = report
        .strategies
        .iter()
        .enumerate()
        .partition(|(_, s)| is_arcroute(s));
    for (i, s) in rivals.into_iter().chain(ours) {
        let stroke = if is_arcroute(&s) { stroke + 1 } else { stroke };
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

/// Charts the trade-off, 1000×600: cold starts plus rejected calls (% of calls, the
/// `cold+rejected %` column, so that a router cannot look warmer by rejecting calls) against
/// p99 slowdown, one point per strategy per fleet, each labelled with the strategy and its fleet's managers. A strategy
/// keeps one colour over every fleet, and its points are joined in fleet order; arcroute's
/// are drawn last, larger, on top of the rivals'.
pub fn write_tradeoff_svg(report: &Report, path: &Path) -> Result<(), String> {
    use plotters::prelude::*;

    let err = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    let point = |s: &StrategyResult| (s.cold_or_rejected_rate * 100.0, s.slowdown_p99);
    let finite = |x: f64| if x.is_finite() { x } else { 0.0 };
    let (x_max, y_max) = report
        .strategies
        .iter()
        .map(point)
        .fold((0.0f64, 1.0f64), |(x, y), (a, b)| {
            (x.max(finite(a)), y.max(finite(b)))
        });
    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Cold starts and rejected calls against p99 slowdown",
            ("sans-serif", 24),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..(x_max * 1.1).max(0.1), 0.9..y_max * 1.1)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("cold starts + rejected calls, % of calls")
        .y_desc("p99 slowdown (response / service time)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.1))
        .draw()
        .map_err(|e| err(&e))?;
    let mut names: Vec<&str> = Vec::new();
    for s in &report.strategies {
        if !names.contains(&s.name.as_str()) {
            names.push(&s.name);
        }
    }
    let is_arcroute = |name: &str| name.split(' ').next() == Some("arcroute");
    let (ours, rivals): (Vec<_>, Vec<_>) =
        names.iter().enumerate().partition(|(_, n)| is_arcroute(n));
    for (i, &name) in rivals.into_iter().chain(ours) {
        let (r, g, b) = COLORS[i % COLORS.len()];
        let color = RGBColor(r, g, b);
        let size = if is_arcroute(name) { 7 } else { 4 };
        let points: Vec<(f64, f64, usize)> = report
            .strategies
            .iter()
            .filter(|s| s.name == name)
            .map(|s| {
                let (x, y) = point(s);
                (finite(x), finite(y), s.managers)
            })
            .collect();
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|&(x, y, _)| (x, y)),
                color.mix(0.5).stroke_width(1),
            ))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(points.iter().map(|&(x, y, managers)| {
                EmptyElement::at((x, y))
                    + Circle::new((0, 0), size, color.filled())
                    + Text::new(
                        format!("{name} ({managers})"),
                        (8, -14),
                        ("sans-serif", 12).into_font().color(&color),
                    )
            }))
            .map_err(|e| err(&e))?
            .label(name)
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
    root.present().map_err(|e| err(&e))
}
