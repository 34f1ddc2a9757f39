//! The activity chart, drawn by the Events page and by the chat's `chart` widget.

use leptos::prelude::*;

use crate::protocol::LabelActivity;

/// Colours of the chart's series, in order.
const SERIES_COLOURS: [&str; 5] = ["#4f46e5", "#16a34a", "#ea580c", "#db2777", "#0891b2"];
/// The chart's drawing area, in SVG units.
const CHART_WIDTH: f64 = 600.0;
const CHART_HEIGHT: f64 = 140.0;

/// Counts per label over time: one line per label, a tooltip per time bucket, a legend.
pub fn activity_chart(activity: LabelActivity) -> impl IntoView {
    if activity.series.is_empty() {
        return view! { <p class="muted">"Nothing recognised in this time."</p> }.into_any();
    }
    let buckets = activity.series[0].counts.len().max(2);
    let peak = activity.series.iter().flat_map(|s| s.counts.iter().copied()).max().unwrap_or(1).max(1);
    let point = |(i, count): (usize, &u32)| {
        let x = i as f64 * CHART_WIDTH / (buckets - 1) as f64;
        let y = CHART_HEIGHT - f64::from(*count) * CHART_HEIGHT / f64::from(peak);
        format!("{x:.1},{y:.1}")
    };
    let lines = activity.series.iter().zip(SERIES_COLOURS).map(|(series, colour)| {
        let points = series.counts.iter().enumerate().map(point).collect::<Vec<_>>().join(" ");
        view! { <polyline points=points stroke=colour fill="none" stroke-width="2" /> }
    });
    let legend = activity.series.iter().zip(SERIES_COLOURS).map(|(series, colour)| {
        let total: u32 = series.counts.iter().sum();
        view! {
            <li>
                <span class="swatch" style=format!("background: {colour}")></span>
                {series.label.clone()} <span class="muted">" " {total}</span>
            </li>
        }
    });
    // One column per bucket, whose tooltip gives the bucket's time and every label's count.
    let bucket_start =
        |i: usize| activity.start + chrono::TimeDelta::minutes(i as i64 * i64::from(activity.bucket_minutes));
    let width = CHART_WIDTH / buckets as f64;
    let columns = (0..activity.series[0].counts.len()).map(|i| {
        let counts = activity
            .series
            .iter()
            .map(|series| format!("{} {}", series.label, series.counts.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", ");
        let from = bucket_start(i);
        let to = bucket_start(i + 1);
        let tip = format!("{}–{} UTC: {counts}", from.format("%H:%M"), to.format("%H:%M"));
        let centre = i as f64 * CHART_WIDTH / (buckets - 1) as f64;
        let (left, right) = ((centre - width / 2.0).max(0.0), (centre + width / 2.0).min(CHART_WIDTH));
        view! {
            <rect
                class="chart-bucket"
                x=format!("{left:.1}")
                y="-4"
                width=format!("{:.1}", right - left)
                height=CHART_HEIGHT + 8.0
            >
                <title>{tip}</title>
            </rect>
        }
    });
    let ticks = (0..=4).map(|quarter| {
        let i = quarter * (buckets - 1) / 4;
        view! { <span>{bucket_start(i).format("%H:%M").to_string()}</span> }
    });
    view! {
        <div class="chart-frame">
            <span class="chart-peak muted">{format!("{peak} per hour")}</span>
            <svg
                class="activity-chart"
                viewBox=format!("0 -4 {CHART_WIDTH} {}", CHART_HEIGHT + 8.0)
                preserveAspectRatio="none"
                role="img"
                aria-label=format!("Events per hour; busiest hour: {peak}")
            >
                {lines.collect_view()}
                {columns.collect_view()}
            </svg>
            <div class="chart-axis muted" aria-hidden="true">{ticks.collect_view()}" UTC"</div>
        </div>
        <ul class="legend">{legend.collect_view()}</ul>
    }
    .into_any()
}
