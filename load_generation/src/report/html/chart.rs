//! Charts as inline SVG, drawn by hand: lines over phase bands, with value and
//! time axes. Pure drawing: it knows lines, bands and a time span, not the
//! summary they came from (that is [`super::series`]).

use std::fmt::Write as _;

use super::escape;
use crate::fmt::compact;
use crate::stats::RunEvent;

/// The SVG's coordinate system (scaled to the page's width).
const VIEW_W: f64 = 1160.0;
const VIEW_H: f64 = 250.0;
const PAD_L: f64 = 58.0;
const PAD_R: f64 = 12.0;
const PAD_T: f64 = 22.0;
const PAD_B: f64 = 26.0;
const PLOT_W: f64 = VIEW_W - PAD_L - PAD_R;
const PLOT_H: f64 = VIEW_H - PAD_T - PAD_B;

/// Tableau 10: distinct, and readable on white.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7",
    "#bab0ac", "#e15759",
];

/// The colour of user type `i` (and of the i-th line where lines have no
/// colour of their own).
pub(super) fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// One line of a chart.
pub(super) struct Line {
    /// In the legend; an empty label is left out of it.
    pub label: String,
    pub color: &'static str,
    /// Dashed lines (targets) are drawn over the solid ones.
    pub dashed: bool,
    /// Runs of (seconds, value); a gap between runs is drawn as a gap.
    pub runs: Vec<Vec<(f64, f64)>>,
}

/// One chart: a title, lines, and how the tooltip script reads it.
pub(super) struct Chart {
    pub title: &'static str,
    /// What the tooltip script shows for this chart.
    pub kind: &'static str,
    pub lines: Vec<Line>,
    /// Extra legend entries (HTML).
    pub key: &'static str,
}

/// A phase occurrence behind the lines: a shaded band from `start_s` to
/// `end_s`, named by `label` where it fits and by `short_label` where only that
/// fits. Times are finite.
pub(super) struct Band {
    pub start_s: f64,
    pub end_s: f64,
    pub label: String,
    pub short_label: String,
}

/// At most this many events (control actions, reloads, restarts; the most
/// recent) are marked on a chart, each a dashed line with its kind and detail as
/// a tooltip; the Events table lists them all.
const MAX_EVENT_MARKS: usize = 200;

/// Draws `chart` as a `<figure>` with its legend and an SVG: the bands, the
/// value and time axes (0 to `t_max` seconds), then the lines. `has_samples`
/// says whether the run recorded any sample (an empty chart says which of
/// "no samples" and "no requests" it is).
pub(super) fn draw(
    out: &mut String,
    chart: &Chart,
    bands: &[Band],
    events: &[RunEvent],
    t_max: f64,
    has_samples: bool,
) {
    let (value_step, y_max) = nice_scale(highest_value(&chart.lines));
    let scale = Scale { t_max, y_max };
    open_figure(out, chart, t_max);
    draw_bands(out, &scale, bands);
    draw_events(out, &scale, events);
    draw_value_axis(out, &scale, value_step);
    draw_time_axis(out, &scale);
    let drawn = draw_lines(out, &scale, &chart.lines);
    if drawn == 0 || !has_samples {
        say_why_empty(out, has_samples);
    }
    close_figure(out);
}

/// The highest value of any line (0 if none): the value axis is fitted to it.
fn highest_value(lines: &[Line]) -> f64 {
    lines
        .iter()
        .flat_map(|l| l.runs.iter().flatten())
        .map(|&(_, v)| v)
        .fold(0.0, f64::max)
}

/// Where seconds and values land in the SVG: time from 0 to `t_max` across
/// the plot, values from 0 to `y_max` up it; anything outside is held at the
/// plot's edge.
struct Scale {
    t_max: f64,
    y_max: f64,
}

impl Scale {
    fn x(&self, t: f64) -> f64 {
        PAD_L + (t / self.t_max).clamp(0.0, 1.0) * PLOT_W
    }

    fn y(&self, v: f64) -> f64 {
        PAD_T + PLOT_H - (v / self.y_max).clamp(0.0, 1.0) * PLOT_H
    }
}

/// The caption (title and legend) and the SVG's opening tag, which tells the
/// tooltip script the chart's kind, the plot's left and right edges and the
/// time they span.
fn open_figure(out: &mut String, chart: &Chart, t_max: f64) {
    let _ = write!(
        out,
        "<figure class=\"chart\">\n<figcaption><h3>{}</h3><div class=\"legend\">",
        escape(chart.title)
    );
    for l in chart.lines.iter().filter(|l| !l.label.is_empty()) {
        let _ = write!(
            out,
            "<span class=\"key\"><span class=\"sw\" style=\"background:{}\"></span>{}</span>",
            l.color,
            escape(&l.label)
        );
    }
    out.push_str(chart.key);
    let _ = write!(
        out,
        "</div></figcaption>\n<svg viewBox=\"0 0 {VIEW_W} {VIEW_H}\" role=\"img\" aria-label=\"{}\" \
         data-kind=\"{}\" data-x0=\"{PAD_L}\" data-x1=\"{}\" data-tmax=\"{}\">\n",
        escape(chart.title),
        chart.kind,
        PAD_L + PLOT_W,
        t_max
    );
}

/// Phase occurrences, in alternating bands, labelled when there is room;
/// lines between them unless there are so many that the lines would crowd.
fn draw_bands(out: &mut String, scale: &Scale, bands: &[Band]) {
    let boundaries = (bands.len() as f64) < PLOT_W / 16.0;
    for (i, band) in bands.iter().enumerate() {
        let (x0, x1) = (scale.x(band.start_s), scale.x(band.end_s));
        let width = (x1 - x0).max(0.0);
        let _ = writeln!(
            out,
            "<rect class=\"band{}\" x=\"{x0:.1}\" y=\"{PAD_T}\" width=\"{width:.1}\" height=\"{PLOT_H}\"/>",
            i % 2
        );
        if i > 0 && boundaries {
            let _ = writeln!(
                out,
                "<line class=\"boundary\" x1=\"{x0:.1}\" y1=\"{PAD_T}\" x2=\"{x0:.1}\" y2=\"{}\"/>",
                PAD_T + PLOT_H
            );
        }
        let Some(label) = band_label(band, width) else {
            continue;
        };
        let _ = writeln!(
            out,
            "<text class=\"phase\" x=\"{:.1}\" y=\"{}\">{}</text>",
            x0 + 3.0,
            PAD_T - 7.0,
            escape(label)
        );
    }
}

/// The longest of a band's labels that fits in `width` pixels, if any does.
fn band_label(band: &Band, width: f64) -> Option<&str> {
    if width >= 6.2 * band.label.len() as f64 + 6.0 {
        Some(&band.label)
    } else if width >= 34.0 {
        Some(&band.short_label)
    } else {
        None
    }
}

/// The most recent events, as a dashed line with a marker at the top.
fn draw_events(out: &mut String, scale: &Scale, events: &[RunEvent]) {
    for e in events.iter().rev().take(MAX_EVENT_MARKS) {
        let xe = scale.x(e.at_s);
        let _ = writeln!(
            out,
            "<g class=\"event\"><title>{} at {}: {}</title>\
             <line x1=\"{xe:.1}\" y1=\"{PAD_T}\" x2=\"{xe:.1}\" y2=\"{}\"/>\
             <path d=\"M{:.1},{PAD_T}L{:.1},{PAD_T}L{xe:.1},{}Z\"/></g>",
            escape(&e.kind),
            escape(&crate::fmt::duration(e.at_s)),
            escape(&e.detail),
            PAD_T + PLOT_H,
            xe - 4.0,
            xe + 4.0,
            PAD_T + 6.0
        );
    }
}

/// The value grid: a line and a label every `step`, from 0 to the top.
fn draw_value_axis(out: &mut String, scale: &Scale, step: f64) {
    let mut v = 0.0;
    while v <= scale.y_max * (1.0 + 1e-9) {
        let yv = scale.y(v);
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{PAD_L}\" y1=\"{yv:.1}\" x2=\"{}\" y2=\"{yv:.1}\"/>\
             <text class=\"ytick\" x=\"{}\" y=\"{:.1}\">{}</text>",
            PAD_L + PLOT_W,
            PAD_L - 6.0,
            yv + 4.0,
            compact(v, step)
        );
        v += step;
    }
}

/// The time axis: a tick and a clock label every step (about a dozen in all),
/// then the axis line itself.
fn draw_time_axis(out: &mut String, scale: &Scale) {
    let t_max = scale.t_max;
    let t_step = time_step(t_max);
    let mut k = 0u64;
    loop {
        let t = k as f64 * t_step;
        if t > t_max * (1.0 + 1e-9) {
            break;
        }
        let xt = scale.x(t);
        let _ = writeln!(
            out,
            "<line class=\"tick\" x1=\"{xt:.1}\" y1=\"{}\" x2=\"{xt:.1}\" y2=\"{}\"/>\
             <text class=\"xtick\" x=\"{xt:.1}\" y=\"{}\">{}</text>",
            PAD_T + PLOT_H,
            PAD_T + PLOT_H + 4.0,
            PAD_T + PLOT_H + 16.0,
            clock(t, t_step)
        );
        k += 1;
    }
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"{PAD_L}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\"/>",
        PAD_T + PLOT_H,
        PAD_L + PLOT_W
    );
}

/// The lines: solid ones first, dashed targets over them; a run of one point
/// is a dot. Returns how many runs had anything to draw.
fn draw_lines(out: &mut String, scale: &Scale, lines: &[Line]) -> usize {
    let mut drawn = 0;
    let mut ordered: Vec<&Line> = lines.iter().collect();
    ordered.sort_by_key(|l| l.dashed);
    for l in ordered {
        for run in &l.runs {
            let px: Vec<(f64, f64)> = run.iter().map(|&(t, v)| (scale.x(t), scale.y(v))).collect();
            let px = thin(&px);
            if px.is_empty() {
                continue;
            }
            drawn += 1;
            if px.len() == 1 {
                let _ = writeln!(
                    out,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"/>",
                    px[0].0, px[0].1, l.color
                );
                continue;
            }
            let _ = writeln!(
                out,
                "<path class=\"{}\" stroke=\"{}\" d=\"{}\"/>",
                if l.dashed { "target" } else { "line" },
                l.color,
                path_data(&px)
            );
        }
    }
    drawn
}

/// SVG path data through `px`: a move to the first point, a line to each next.
fn path_data(px: &[(f64, f64)]) -> String {
    let mut d = String::with_capacity(px.len() * 14);
    for (j, (px, py)) in px.iter().enumerate() {
        let _ = write!(d, "{}{px:.1},{py:.1}", if j == 0 { 'M' } else { 'L' });
    }
    d
}

/// In the middle of a chart with nothing drawn (or no samples at all): which
/// of the two it is.
fn say_why_empty(out: &mut String, has_samples: bool) {
    let _ = writeln!(
        out,
        "<text class=\"nodata\" x=\"{}\" y=\"{}\">{}</text>",
        PAD_L + PLOT_W / 2.0,
        PAD_T + PLOT_H / 2.0,
        if !has_samples {
            "no samples"
        } else {
            "no requests"
        }
    );
}

/// The hover guide (hidden until the tooltip script moves it), and the end of
/// the SVG and the figure.
fn close_figure(out: &mut String) {
    let _ = writeln!(
        out,
        "<line class=\"guide\" x1=\"0\" y1=\"{PAD_T}\" x2=\"0\" y2=\"{}\" visibility=\"hidden\"/>",
        PAD_T + PLOT_H
    );
    out.push_str("</svg>\n</figure>\n");
}

/// Keeps at most a few points per pixel column (first, lowest, highest, last),
/// so a long run draws the same shape from a fraction of its samples.
fn thin(px: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if px.len() <= 2 * PLOT_W as usize {
        return px.to_vec();
    }
    let mut out = Vec::with_capacity(4 * PLOT_W as usize);
    let mut i = 0;
    while i < px.len() {
        let column = px[i].0.floor();
        let mut j = i;
        let (mut low, mut high) = (i, i);
        while j < px.len() && px[j].0.floor() == column {
            if px[j].1 < px[low].1 {
                low = j;
            }
            if px[j].1 > px[high].1 {
                high = j;
            }
            j += 1;
        }
        let mut keep = [i, low, high, j - 1];
        keep.sort_unstable();
        let mut last = usize::MAX;
        for k in keep {
            if k != last {
                out.push(px[k]);
                last = k;
            }
        }
        i = j;
    }
    out
}

/// A step of 1, 2, 2.5 or 5 times a power of ten giving about five grid lines,
/// and the top of the scale (at least 1).
fn nice_scale(max: f64) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max * 1.04
    } else {
        1.0
    };
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    let step = nice * magnitude;
    let top = (max / step).ceil() * step;
    if step > 0.0 && top.is_finite() {
        (step, top)
    } else {
        (max, max)
    }
}

/// A time step giving at most about a dozen labels.
fn time_step(t_max: f64) -> f64 {
    const STEPS: [f64; 22] = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0,
        3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0, 172800.0,
    ];
    for step in STEPS {
        if t_max / step <= 12.0 {
            return step;
        }
    }
    let days = (t_max / 86400.0 / 12.0).ceil();
    days * 86400.0
}

/// Seconds since the start as a short label: `40s`, `2m30s`, `1h05m`.
fn clock(t: f64, step: f64) -> String {
    if step < 1.0 {
        return format!("{t:.1}s");
    }
    let secs = t.round() as u64;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if secs < 120 && step < 60.0 {
        format!("{secs}s")
    } else if h == 0 {
        if s == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{s:02}s")
        }
    } else if m == 0 && s == 0 {
        format!("{h}h")
    } else {
        format!("{h}h{m:02}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_labels() {
        assert_eq!(nice_scale(0.0), (0.2, 1.0));
        assert_eq!(nice_scale(100.0), (25.0, 125.0));
        let (step, top) = nice_scale(1e300);
        assert!(step.is_finite() && top >= 1e300);
        assert_eq!(clock(90.0, 10.0), "90s");
        assert_eq!(clock(150.0, 30.0), "2m30s");
        assert_eq!(clock(3900.0, 300.0), "1h05m");
        assert_eq!(time_step(25.0), 5.0);
        assert_eq!(time_step(3.0 * 86400.0), 21600.0);
    }

    #[test]
    fn thins_to_a_few_points_per_pixel_column() {
        let many: Vec<(f64, f64)> = (0..100_000)
            .map(|i| (i as f64 / 90.0, (i % 7) as f64))
            .collect();
        let thinned = thin(&many);
        assert!(thinned.len() <= 4 * PLOT_W as usize + 4);
        // The extremes of every column survive.
        assert!(thinned.iter().any(|p| p.1 == 6.0) && thinned.iter().any(|p| p.1 == 0.0));
        let few = [(1.0, 2.0), (3.0, 4.0)];
        assert_eq!(thin(&few), few.to_vec());
    }

    fn band(start_s: f64, end_s: f64, n: usize) -> Band {
        Band {
            start_s,
            end_s,
            label: format!("phase {n} (loop 1)"),
            short_label: format!("{n}.1"),
        }
    }

    fn line(dashed: bool, runs: Vec<Vec<(f64, f64)>>) -> Line {
        Line {
            label: "a <b>".into(),
            color: "#000",
            dashed,
            runs,
        }
    }

    fn chart(lines: Vec<Line>) -> Chart {
        Chart {
            title: "T & t",
            kind: "rate",
            lines,
            key: "",
        }
    }

    #[test]
    fn draws_bands_lines_and_escaped_labels() {
        let mut out = String::new();
        let bands = [band(0.0, 50.0, 1), band(50.0, 100.0, 2)];
        let c = chart(vec![
            line(true, vec![vec![(0.0, 5.0), (100.0, 5.0)]]),
            line(
                false,
                vec![vec![(0.0, 1.0), (50.0, 10.0)], vec![(75.0, 3.0)]],
            ),
        ]);
        draw(&mut out, &c, &bands, &[], 100.0, true);
        assert_eq!(out.matches("<rect class=\"band").count(), 2);
        assert_eq!(out.matches("class=\"boundary\"").count(), 1);
        assert!(
            out.contains(">phase 1 (loop 1)</text>") && out.contains(">phase 2 (loop 1)</text>")
        );
        assert!(out.contains("aria-label=\"T &amp; t\"") && out.contains("a &lt;b&gt;"));
        // Solid first, dashed target over it; a lone point is a dot.
        let solid = out.find("class=\"line\"").unwrap();
        let dashed = out.find("class=\"target\"").unwrap();
        assert!(solid < dashed);
        assert_eq!(out.matches("<circle").count(), 1);
        assert!(!out.contains("nodata"));
        // The first band starts at the plot's left edge, the second halfway.
        assert!(out.contains(&format!("x=\"{PAD_L:.1}\"")));
        assert!(out.contains(&format!("x=\"{:.1}\"", PAD_L + PLOT_W / 2.0)));
    }

    #[test]
    fn narrow_bands_get_short_labels_or_none() {
        let mut out = String::new();
        // 100 s over ~1090 px: 4 s is ~44 px (short label), 1 s ~11 px (none).
        let bands = [band(0.0, 4.0, 1), band(4.0, 5.0, 2), band(5.0, 100.0, 3)];
        draw(&mut out, &chart(vec![]), &bands, &[], 100.0, true);
        assert!(out.contains(">1.1</text>"));
        assert!(!out.contains(">2.1</text>") && !out.contains("phase 2"));
        assert!(out.contains(">phase 3 (loop 1)</text>"));
    }

    #[test]
    fn says_why_a_chart_is_empty() {
        let mut out = String::new();
        draw(
            &mut out,
            &chart(vec![line(false, vec![vec![]])]),
            &[],
            &[],
            10.0,
            false,
        );
        assert!(out.contains(">no samples</text>"));
        let mut out = String::new();
        draw(
            &mut out,
            &chart(vec![line(false, vec![vec![]])]),
            &[],
            &[],
            10.0,
            true,
        );
        assert!(out.contains(">no requests</text>"));
    }
}
