//! The chart: daily cost by service over the last eight weeks as stacked areas, one panel per
//! currency, drawn with plotters into a PNG (twice the size it is shown at, so it stays sharp).
//! Amounts become f64 here only to place pixels. A day on which a service's net cost is negative
//! (credits larger than its spend) is drawn as zero; the CSV has the exact figure.
use std::ops::Range;
use std::sync::OnceLock;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::FontStyle;
use rust_decimal::prelude::ToPrimitive;

use super::format::{currency_label, short_day, whole};
use super::{DailySeries, WeeklyReport, OTHER};
use crate::AlertError;

/// DejaVu Sans (Bitstream Vera license: assets/DejaVuSans-LICENSE.txt).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

pub(crate) const WIDTH: u32 = 1152;
const PLOT_HEIGHT: u32 = 560;
/// Panels of further currencies are shorter: the first is the biggest.
const SECOND_PLOT_HEIGHT: u32 = 420;
const LEGEND_ROW: u32 = 40;
const LEGEND_COLUMNS: usize = 3;

/// Tableau 10: distinct, and readable by most colour-blind people; grey for "other".
const PALETTE: [RGBColor; 9] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
];
const GREY: RGBColor = RGBColor(0xba, 0xb0, 0xac);
const INK: RGBColor = RGBColor(0x1f, 0x29, 0x37);
const MUTED: RGBColor = RGBColor(0x6b, 0x72, 0x80);
const GRID: RGBColor = RGBColor(0xe5, 0xe7, 0xeb);
const WEEK_SHADE: RGBColor = RGBColor(0xfe, 0xf6, 0xe0);

fn register_font() -> Result<(), AlertError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(AlertError::Chart(
            "the embedded font could not be loaded".into(),
        ))
    }
}

/// Days of the chart as x coordinates, with a tick on every Monday.
struct DayAxis {
    days: usize,
}

impl Ranged for DayAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = (self.days.max(2) - 1) as f64;
        limit.0 + ((limit.1 - limit.0) as f64 * value / span).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        (0..self.days).step_by(7).map(|d| d as f64).collect()
    }

    fn range(&self) -> Range<f64> {
        0.0..(self.days.max(2) - 1) as f64
    }
}

impl ValueFormatter<f64> for DayAxis {
    /// Labels come from the chart's own formatter (the day's date).
    fn format(_value: &f64) -> String {
        String::new()
    }
}

/// A round upper bound for the y axis.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    (max / step).ceil() * step
}

fn legend_rows(series: usize) -> u32 {
    series.div_ceil(LEGEND_COLUMNS).max(1) as u32
}

fn plot_height(index: usize) -> u32 {
    if index == 0 {
        PLOT_HEIGHT
    } else {
        SECOND_PLOT_HEIGHT
    }
}

fn panel_height(index: usize, series: &DailySeries) -> u32 {
    plot_height(index) + 16 + LEGEND_ROW * legend_rows(series.series.len())
}

fn colour(index: usize, name: &str) -> RGBColor {
    if name == OTHER {
        GREY
    } else {
        PALETTE[index % PALETTE.len()]
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn chart_err<E: std::fmt::Display>(e: E) -> AlertError {
    AlertError::Chart(e.to_string())
}

/// The PNG of the report's chart (a short notice image when there is no cost to chart).
pub(crate) fn png(report: &WeeklyReport) -> Result<Vec<u8>, AlertError> {
    register_font()?;
    let height: u32 = if report.daily.is_empty() {
        200
    } else {
        report
            .daily
            .iter()
            .enumerate()
            .map(|(i, s)| panel_height(i, s))
            .sum()
    };
    let mut rgb = vec![0u8; (WIDTH * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        if report.daily.is_empty() {
            root.draw_text(
                "No allocated cost in these eight weeks.",
                &(FAMILY, 30).into_font().color(&MUTED),
                (40, 80),
            )
            .map_err(chart_err)?;
        }
        let mut top = 0i32;
        for (i, series) in report.daily.iter().enumerate() {
            let h = panel_height(i, series) as i32;
            let panel = root.clone().shrink((0, top), (WIDTH, h as u32));
            draw_panel(&panel, series, plot_height(i), report.daily.len() > 1)?;
            top += h;
        }
        root.present().map_err(chart_err)?;
    }
    encode(&rgb, WIDTH, height)
}

fn draw_panel(
    area: &Area<'_>,
    data: &DailySeries,
    plot_height: u32,
    titled: bool,
) -> Result<(), AlertError> {
    let days = data.days.len();
    let (plot, legend) = area.split_vertically(plot_height);
    // Stack the services, biggest at the bottom.
    let values: Vec<Vec<f64>> = data
        .series
        .iter()
        .map(|s| s.values.iter().map(|v| v.to_f64().unwrap_or(0.0)).collect())
        .collect();
    let mut bottoms = vec![vec![0.0f64; days]; values.len()];
    let mut tops = vec![vec![0.0f64; days]; values.len()];
    let mut running = vec![0.0f64; days];
    for (i, v) in values.iter().enumerate() {
        bottoms[i].copy_from_slice(&running);
        for (sum, value) in running.iter_mut().zip(v) {
            *sum += value.max(0.0);
        }
        tops[i].copy_from_slice(&running);
    }
    let ymax = nice_max(running.iter().cloned().fold(0.0, f64::max) * 1.05);
    let currency = currency_label(&data.currency).to_string();
    let caption = if titled {
        format!("Daily cost by service, {currency}")
    } else {
        String::new()
    };
    let mut builder = ChartBuilder::on(&plot);
    builder
        .margin_top(if titled { 10 } else { 24 })
        .margin_right(36)
        .margin_left(12)
        .x_label_area_size(64)
        .y_label_area_size(128);
    if titled {
        builder.caption(&caption, (FAMILY, 30).into_font().color(&INK));
    }
    let mut chart = builder
        .build_cartesian_2d(DayAxis { days }, 0f64..ymax)
        .map_err(chart_err)?;

    // The report's week, shaded, under everything else.
    let week_from = days.saturating_sub(7) as f64 - 0.5;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(week_from.max(0.0), 0.0), ((days - 1) as f64, ymax)],
            WEEK_SHADE.filled(),
        )))
        .map_err(chart_err)?;
    chart
        .draw_series(std::iter::once(Text::new(
            "this week",
            (week_from.max(0.0) + 0.4, ymax * 0.985),
            (FAMILY, 22).into_font().color(&MUTED),
        )))
        .map_err(chart_err)?;

    let labels = |x: &f64| {
        data.days
            .get(x.round() as usize)
            .map(|d| short_day(*d))
            .unwrap_or_default()
    };
    let money = |y: &f64| whole(*y);
    chart
        .configure_mesh()
        .x_labels(days)
        .x_label_formatter(&labels)
        .y_labels(6)
        .y_label_formatter(&money)
        .x_desc("Week starting (Monday, UTC)")
        .y_desc(format!("{currency} per day"))
        .axis_desc_style((FAMILY, 24).into_font().color(&MUTED))
        .label_style((FAMILY, 23).into_font().color(&INK))
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(MUTED)
        .draw()
        .map_err(chart_err)?;

    for (i, s) in data.series.iter().enumerate().rev() {
        let c = colour(i, &s.name);
        let mut points: Vec<(f64, f64)> = (0..days).map(|d| (d as f64, tops[i][d])).collect();
        points.extend((0..days).rev().map(|d| (d as f64, bottoms[i][d])));
        chart
            .draw_series(std::iter::once(Polygon::new(points, c.mix(0.85).filled())))
            .map_err(chart_err)?;
        chart
            .draw_series(LineSeries::new(
                (0..days).map(|d| (d as f64, tops[i][d])),
                WHITE.stroke_width(1),
            ))
            .map_err(chart_err)?;
    }

    // Legend under the plot, in columns.
    let column_width = (WIDTH as i32 - 160) / LEGEND_COLUMNS as i32;
    for (i, s) in data.series.iter().enumerate() {
        let (row, col) = (i / LEGEND_COLUMNS, i % LEGEND_COLUMNS);
        let x = 140 + col as i32 * column_width;
        let y = 8 + row as i32 * LEGEND_ROW as i32;
        legend
            .draw(&Rectangle::new(
                [(x, y + 4), (x + 22, y + 26)],
                colour(i, &s.name).filled(),
            ))
            .map_err(chart_err)?;
        legend
            .draw_text(
                &s.name,
                &(FAMILY, 22).into_font().color(&INK),
                (x + 32, y + 4),
            )
            .map_err(chart_err)?;
    }
    Ok(())
}

fn encode(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, AlertError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Best);
        let mut writer = encoder.write_header().map_err(chart_err)?;
        writer.write_image_data(rgb).map_err(chart_err)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_y_axis_ends_on_a_round_number() {
        assert_eq!(nice_max(1234.0), 1250.0);
        assert_eq!(nice_max(9.1), 10.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(48_200.0), 50_000.0);
    }
}
