//! Charts drawn on the server as SVG (plotters' SVG backend): bars across for categories (the
//! funnel, regions, SZPT groups) and bars up for days. The browser draws the text in its own fonts,
//! so Cyrillic and Kazakh letters need nothing here. Each chart stands beside a table of the same
//! figures, which is what a screen reader reads.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

/// What a bar means, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Neutral,
    Good,
    Bad,
    Muted,
}

impl Tone {
    fn colour(self) -> RGBColor {
        match self {
            Tone::Neutral => RGBColor(0x1f, 0x5f, 0x99),
            Tone::Good => RGBColor(0x2e, 0x7d, 0x32),
            Tone::Bad => RGBColor(0xc6, 0x28, 0x28),
            Tone::Muted => RGBColor(0x90, 0x9a, 0xa6),
        }
    }
}

/// One bar: its label, its length, the figure written beside it.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub text: String,
    pub tone: Tone,
}

impl Bar {
    pub fn new(label: impl Into<String>, value: i64, text: impl Into<String>, tone: Tone) -> Bar {
        Bar { label: label.into(), value, text: text.into(), tone }
    }
}

const WIDTH: u32 = 640;
const FONT: &str = "sans-serif";
const INK: RGBColor = RGBColor(0x22, 0x2b, 0x36);

// Integer ranges are inclusive in plotters: `0..n - 1` segmented is n rows, one per bar. A range
// of one value (`0..0`) has no width to map onto, so a single bar gets an empty second row.

/// Draws into an SVG string; an error of plotters (it has none for SVG text) gives no chart.
fn svg(size: (u32, u32), draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> Option<()>) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        if root.fill(&WHITE).is_err() || draw(&root).is_none() || root.present().is_err() {
            return String::new();
        }
    }
    // Readers of the page: the chart is an image described by its caption and table.
    out.replacen("<svg ", "<svg role=\"img\" aria-hidden=\"true\" focusable=\"false\" ", 1)
}

/// Bars across, one per category, the figure at each bar's end.
pub fn bars_across(bars: &[Bar]) -> String {
    let n = bars.len().max(2);
    let height = 16 + 32 * n as u32;
    // Labels are drawn by the browser; give them room by their length in characters.
    let longest = bars.iter().map(|b| b.label.chars().count()).max().unwrap_or(4);
    let label_area = (longest as u32 * 9 + 16).clamp(60, 300);
    // Room after the longest bar for its figure.
    let longest_text = bars.iter().map(|b| b.text.chars().count()).max().unwrap_or(1) as f64;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
    let plot = f64::from(WIDTH - label_area - 24);
    let room = ((longest_text * 9.0 + 12.0) / plot).min(0.6);
    // The first bar on top: rows are counted from the bottom.
    let row = |i: usize| n - 1 - i;
    svg((WIDTH, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .margin_right(16)
            .y_label_area_size(label_area)
            .x_label_area_size(0)
            .build_cartesian_2d(0f64..max / (1.0 - room), (0..n - 1).into_segmented())
            .ok()?;
        let labels: Vec<String> =
            (0..n).map(|r| bars.get(n - 1 - r).map(|b| b.label.clone()).unwrap_or_default()).collect();
        chart
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_labels(n)
            .y_label_style((FONT, 19).into_font().color(&INK))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .axis_style(RGBColor(0xcc, 0xd2, 0xd9))
            .draw()
            .ok()?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let mut r = Rectangle::new(
                    [(0.0, SegmentValue::Exact(row(i))), (b.value as f64, SegmentValue::Exact(row(i) + 1))],
                    b.tone.colour().filled(),
                );
                r.set_margin(6, 6, 0, 0);
                r
            }))
            .ok()?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                Text::new(
                    format!(" {}", b.text),
                    (b.value as f64, SegmentValue::CenterOf(row(i))),
                    (FONT, 18).into_font().color(&INK).pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Left,
                        plotters::style::text_anchor::VPos::Center,
                    )),
                )
            }))
            .ok()?;
        Some(())
    })
}

/// Bars up, one per day (labels are the days' numbers or dates as given).
pub fn bars_up(bars: &[Bar]) -> String {
    let n = bars.len().max(2);
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
    let every = n.div_ceil(16).max(1);
    svg((WIDTH, 260), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .margin_top(16)
            .y_label_area_size(0)
            .x_label_area_size(28)
            .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..max * 1.2)
            .ok()?;
        let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
        chart
            .configure_mesh()
            .disable_mesh()
            .disable_y_axis()
            .x_labels(n)
            .x_label_style((FONT, 16).into_font().color(&INK))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if i % every == 0 => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .axis_style(RGBColor(0xcc, 0xd2, 0xd9))
            .draw()
            .ok()?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let mut r = Rectangle::new(
                    [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), b.value as f64)],
                    b.tone.colour().filled(),
                );
                r.set_margin(0, 0, 3, 3);
                r
            }))
            .ok()?;
        if n <= 16 {
            chart
                .draw_series(bars.iter().enumerate().filter(|(_, b)| b.value > 0).map(|(i, b)| {
                    Text::new(
                        b.text.clone(),
                        (SegmentValue::CenterOf(i), b.value as f64),
                        (FONT, 15).into_font().color(&INK).pos(plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Center,
                            plotters::style::text_anchor::VPos::Bottom,
                        )),
                    )
                }))
                .ok()?;
        }
        Some(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_labels_escaped() {
        let svg = bars_across(&[Bar::new("Согласились", 9, "9", Tone::Good), Bar::new("<script>", 3, "3", Tone::Bad)]);
        assert!(svg.starts_with("<svg role=\"img\""), "{svg}");
        assert!(svg.contains("Согласились"));
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
        let days = bars_up(&[Bar::new("01", 0, "0", Tone::Neutral), Bar::new("02", 5, "5", Tone::Neutral)]);
        assert!(days.contains("<rect"), "{days}");
        // Nothing to draw is still a chart (empty axes), never a panic.
        assert!(bars_across(&[]).starts_with("<svg"));
        // One bar is drawn, with its label: no range without width, no NaN.
        let one = bars_across(&[Bar::new("Павлодар", 15_000, "150,00", Tone::Good)]);
        assert!(!one.contains("NaN") && one.contains("Павлодар") && one.contains("fill=\"#2E7D32\""), "{one}");
        let day = bars_up(&[Bar::new("06.12", 15_000, "150,00", Tone::Good)]);
        assert!(!day.contains("NaN") && day.contains("06.12") && day.contains("fill=\"#2E7D32\""), "{day}");
    }
}
