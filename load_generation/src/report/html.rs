//! `report.html`: the run on one self-contained page. Nothing is fetched: no CDN,
//! no fonts, no scripts or styles from elsewhere, so the file works offline and
//! can be mailed or archived as is. The charts are inline SVG drawn here; a few
//! lines of inline JavaScript add hover tooltips (the page reads fine without).
//!
//! Everything that comes from the run (request names, failure messages,
//! tracebacks, user type names) goes through [`escape`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::summary::{PhaseSummary, RequestSummary, Summary};
use crate::stats::{Figures, TimePoint};

/// `&`, `<`, `>`, `"` and `'` as HTML entities, so text is safe in element
/// content and in quoted attribute values alike.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn render(summary: &Summary) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let started = display_time(&summary.started_at);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>loadgen report · {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        escape(&started)
    );
    header(&mut out, summary, &started);
    verdict(&mut out, summary);
    plan(&mut out, summary);
    charts(&mut out, summary);
    occurrences(&mut out, summary);
    per_name(&mut out, summary);
    whole_run(&mut out, summary);
    failures(&mut out, summary);
    exceptions(&mut out, summary);
    events(&mut out, summary);
    let _ = write!(
        out,
        "<footer>Written by loadgen {} (summary schema {}). <code>summary.json</code> and \
         <code>stats.csv</code> beside this file hold the same figures.</footer>\n</main>\n\
         <div id=\"tip\" role=\"tooltip\"></div>\n",
        escape(env!("CARGO_PKG_VERSION")),
        summary.schema_version
    );
    tooltip_data(&mut out, summary);
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    out
}

// ---------------------------------------------------------------------------
// Sections

/// The verdict box: every threshold with its measured value, failures first.
fn verdict(out: &mut String, s: &Summary) {
    if s.thresholds.is_empty() {
        return;
    }
    let failed = s.thresholds.iter().filter(|t| !t.passed).count();
    let (class, title) = if failed > 0 {
        (
            "verdict bad",
            format!("FAILED: {failed} of {} thresholds", s.thresholds.len()),
        )
    } else {
        (
            "verdict good",
            format!("PASSED: all {} thresholds held", s.thresholds.len()),
        )
    };
    let _ = write!(out, "<section class=\"{class}\" id=\"verdict\">\n<h2>{}</h2>\n<table>\n<tr><th>threshold</th><th>scope</th><th>measured</th><th>result</th></tr>\n", escape(&title));
    let mut rows: Vec<_> = s.thresholds.iter().collect();
    rows.sort_by_key(|t| t.passed);
    for t in rows {
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td></tr>",
            escape(&t.expr),
            escape(&t.scope),
            escape(&t.shown),
            if t.passed { "good" } else { "bad" },
            if t.passed { "PASS" } else { "FAIL" }
        );
    }
    out.push_str("</table>\n</section>\n");
}

/// Control actions, reloads and restarts, in order.
fn events(out: &mut String, s: &Summary) {
    if s.events.is_empty() {
        return;
    }
    out.push_str("<section id=\"events\">\n<h2>Events</h2>\n<table>\n<tr><th>at</th><th>what</th><th>detail</th></tr>\n");
    for e in &s.events {
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
            escape(&duration(e.at_s)),
            escape(&e.kind),
            escape(&e.detail)
        );
    }
    if s.events_dropped > 0 {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"3\">{} earlier events not kept</td></tr>",
            s.events_dropped
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn header(out: &mut String, s: &Summary, started: &str) {
    let _ = write!(
        out,
        "<header>\n<h1>loadgen report</h1>\n<p class=\"meta\">Started <b>{}</b> · ran <b>{}</b> \
         · <b{}>{} restart{}</b> · {} phase occurrence{} · user types: {}</p>\n",
        escape(started),
        escape(&duration(s.duration_s)),
        if s.restarts > 0 { " class=\"bad\"" } else { "" },
        s.restarts,
        plural(u64::from(s.restarts)),
        s.phases.len(),
        plural(s.phases.len() as u64),
        if s.user_types.is_empty() {
            "none".to_string()
        } else {
            s.user_types
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    format!(
                        "<span class=\"sw\" style=\"background:{}\"></span>{}",
                        color(i),
                        escape(short(c))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let t = &s.total.total;
    out.push_str("<div class=\"tiles\">\n");
    let tiles = [
        ("requests", big(t.requests), ""),
        (
            "failures",
            format!("{}{}", big(t.failures), share(t.failures, t.requests)),
            if t.failures > 0 { " bad" } else { "" },
        ),
        ("requests/s", dec(t.requests_per_s, 1), ""),
        ("mean", ms(t.mean_ms), ""),
        ("p50", ms(t.p50_ms as f64), ""),
        ("p95", ms(t.p95_ms as f64), ""),
        ("p99", ms(t.p99_ms as f64), ""),
        ("max", ms(t.max_ms as f64), ""),
    ];
    for (label, value, class) in tiles {
        let _ = writeln!(
            out,
            "<div class=\"tile{class}\"><span>{label}</span><b>{}</b></div>",
            escape(&value)
        );
    }
    out.push_str("</div>\n</header>\n");
}

fn plan(out: &mut String, s: &Summary) {
    let cycle: f64 = s.plan.iter().map(|p| p.duration_s).sum();
    let _ = write!(
        out,
        "<h2>Plan</h2>\n<p class=\"note\">{} phase{}, one loop every {}; the phases loop until the run time is spent.</p>\n\
         <table class=\"plan\">\n<thead><tr><th>phase</th><th class=\"n\">duration</th><th class=\"n\">hatch rate</th>",
        s.plan.len(),
        plural(s.plan.len() as u64),
        escape(&duration(cycle))
    );
    for (i, c) in s.user_types.iter().enumerate() {
        let _ = write!(
            out,
            "<th class=\"n\"><span class=\"sw\" style=\"background:{}\"></span>{}</th>",
            color(i),
            escape(short(c))
        );
    }
    out.push_str("<th class=\"n\">total users</th></tr></thead>\n<tbody>\n");
    for p in &s.plan {
        let _ = write!(
            out,
            "<tr><td>phase {}</td><td class=\"n\">{}</td><td class=\"n\">{}/s</td>",
            p.phase,
            escape(&duration(p.duration_s)),
            int(u64::from(p.hatch_rate_per_s))
        );
        let mut total = 0u64;
        for c in &s.user_types {
            let n = p.users.get(c).copied().unwrap_or(0);
            total += u64::from(n);
            let _ = write!(
                out,
                "<td class=\"n{}\">{}</td>",
                if n == 0 { " dim" } else { "" },
                int(u64::from(n))
            );
        }
        let _ = writeln!(out, "<td class=\"n\">{}</td></tr>", int(total));
    }
    out.push_str("</tbody>\n</table>\n");
}

fn occurrences(out: &mut String, s: &Summary) {
    out.push_str("<h2>Phase occurrences</h2>\n");
    if s.phases.is_empty() {
        out.push_str("<p class=\"empty\">No phase ran.</p>\n");
        return;
    }
    let restarts = s.restarts > 0 || s.phases.iter().any(|p| p.restarts > 0);
    out.push_str(
        "<p class=\"note\">Users per type: target / mean once ramped (plateau) / at the end of the occurrence.</p>\n\
         <table class=\"phases\">\n<thead><tr><th>occurrence</th><th class=\"n\">time (s)</th>",
    );
    out.push_str(FIGURE_HEADERS);
    out.push_str("<th>users: target / plateau / end</th>");
    if restarts {
        out.push_str("<th class=\"n\">restarts</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for p in &s.phases {
        // A saturated occurrence's figures are the generator's limit: flagged.
        let (row, flag) = if p.saturated {
            (
                " class=\"saturated\"",
                " <b class=\"bad\" title=\"Locust was CPU-bound: less load than planned, latencies unreliable\">saturated</b>",
            )
        } else {
            ("", "")
        };
        let _ = write!(
            out,
            "<tr{row}><td>{}{flag}</td><td class=\"n\">{}</td>{}<td class=\"users\">",
            occurrence(p),
            span(p),
            figure_cells(&p.total)
        );
        let mut any = false;
        for (i, c) in s.user_types.iter().enumerate() {
            let target = p.target_users.get(c).copied().unwrap_or(0);
            let end = p.actual_users_end.get(c).copied().unwrap_or(0);
            let plateau = p.actual_users_plateau.get(c).copied().unwrap_or(0.0);
            if target == 0 && end == 0 && plateau == 0.0 {
                continue;
            }
            any = true;
            let _ = write!(
                out,
                "<div><span class=\"sw\" style=\"background:{}\"></span>{} {} / {} / {}</div>",
                color(i),
                escape(short(c)),
                int(u64::from(target)),
                dec(plateau, 1),
                int(u64::from(end))
            );
        }
        if !any {
            out.push_str("<span class=\"dim\">none</span>");
        }
        out.push_str("</td>");
        if restarts {
            let _ = write!(
                out,
                "<td class=\"n{}\">{}</td>",
                if p.restarts > 0 { " bad" } else { "" },
                p.restarts
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

fn per_name(out: &mut String, s: &Summary) {
    out.push_str("<h2>Requests per name and phase occurrence</h2>\n");
    if s.phases.is_empty() {
        out.push_str("<p class=\"empty\">No phase ran.</p>\n");
        return;
    }
    for p in &s.phases {
        let _ = writeln!(
            out,
            "<details><summary>{} · {} s · {} name{} · {} request{}{}</summary>",
            occurrence(p),
            span(p),
            p.requests.len(),
            plural(p.requests.len() as u64),
            int(p.total.requests),
            plural(p.total.requests),
            if p.total.failures > 0 {
                format!(
                    " · <span class=\"bad\">{} failure{}</span>",
                    int(p.total.failures),
                    plural(p.total.failures)
                )
            } else {
                String::new()
            }
        );
        request_table(out, &p.requests, &p.total);
        out.push_str("</details>\n");
    }
}

fn whole_run(out: &mut String, s: &Summary) {
    let _ = writeln!(
        out,
        "<h2>Whole run</h2>\n<p class=\"note\">All {} of the run, per request name.</p>",
        escape(&duration(s.duration_s))
    );
    request_table(out, &s.total.requests, &s.total.total);
}

fn request_table(out: &mut String, requests: &[RequestSummary], total: &Figures) {
    out.push_str("<table class=\"names\">\n<thead><tr><th>method</th><th>name</th>");
    out.push_str(FIGURE_HEADERS);
    out.push_str("</tr></thead>\n<tbody>\n");
    for r in requests {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"name\">{}</td>{}</tr>",
            escape(&r.method),
            escape(&r.name),
            figure_cells(&r.figures)
        );
    }
    let _ = writeln!(
        out,
        "<tr class=\"total\"><td></td><td>all requests</td>{}</tr>",
        figure_cells(total)
    );
    out.push_str("</tbody>\n</table>\n");
}

fn failures(out: &mut String, s: &Summary) {
    out.push_str("<h2>Failures</h2>\n");
    // message -> (count, the occurrences it happened in)
    let mut all: BTreeMap<&str, (u64, Vec<String>)> = BTreeMap::new();
    for p in &s.phases {
        for (message, &count) in &p.errors {
            let entry = all.entry(message).or_default();
            entry.0 += count;
            entry.1.push(format!("{}.{}", p.phase, p.loop_number));
        }
    }
    if all.is_empty() {
        out.push_str("<p class=\"empty\">No failed requests.</p>\n");
        return;
    }
    let mut rows: Vec<_> = all.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    out.push_str(
        "<table class=\"failures\">\n<thead><tr><th class=\"n\">count</th><th>message</th>\
         <th>in phase.loop</th></tr></thead>\n<tbody>\n",
    );
    for (message, (count, places)) in rows {
        let shown = if places.len() > 12 {
            format!(
                "{} … ({} occurrences)",
                places[..12].join(", "),
                places.len()
            )
        } else {
            places.join(", ")
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"n\">{}</td><td class=\"msg\">{}</td><td>{}</td></tr>",
            int(count),
            escape(message),
            escape(&shown)
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn exceptions(out: &mut String, s: &Summary) {
    if s.exceptions.is_empty() {
        return;
    }
    out.push_str("<h2>Exceptions in the users' tasks</h2>\n");
    for e in &s.exceptions {
        let _ = writeln!(
            out,
            "<div class=\"exception\"><p><b class=\"bad\">{}×</b> {}</p><pre>{}</pre></div>",
            int(e.count),
            escape(&e.message),
            escape(e.traceback.trim_end())
        );
    }
}

const FIGURE_HEADERS: &str = "<th class=\"n\">requests</th><th class=\"n\">failures</th>\
    <th class=\"n\">req/s</th><th class=\"n\">mean ms</th><th class=\"n\">p50</th>\
    <th class=\"n\">p90</th><th class=\"n\">p95</th><th class=\"n\">p99</th><th class=\"n\">max ms</th>";

fn figure_cells(f: &Figures) -> String {
    format!(
        "<td class=\"n\">{}</td><td class=\"n{}\">{}{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
        int(f.requests),
        if f.failures > 0 { " bad" } else { "" },
        int(f.failures),
        share(f.failures, f.requests),
        dec(f.requests_per_s, 1),
        dec(f.mean_ms, 1),
        int(f.p50_ms),
        int(f.p90_ms),
        int(f.p95_ms),
        int(f.p99_ms),
        int(f.max_ms)
    )
}

fn occurrence(p: &PhaseSummary) -> String {
    format!("phase {} (loop {})", p.phase, p.loop_number)
}

fn span(p: &PhaseSummary) -> String {
    format!("{}–{}", dec(p.start_s, 1), dec(p.end_s, 1))
}

// ---------------------------------------------------------------------------
// Charts

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

fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

struct Line {
    label: String,
    color: &'static str,
    dashed: bool,
    /// Runs of (seconds, value); a gap between runs is drawn as a gap.
    runs: Vec<Vec<(f64, f64)>>,
}

struct Chart {
    title: &'static str,
    /// What the tooltip script shows for this chart.
    kind: &'static str,
    lines: Vec<Line>,
    /// Extra legend entries (HTML).
    key: &'static str,
}

/// One sample interval, made ready for charts: a sample taken right after the
/// previous one (the last one of a run, flushed at stop) is folded into it, so
/// that a few requests over a millisecond don't show as a spike.
#[derive(Debug, Clone)]
struct Point {
    t: f64,
    /// Seconds since the previous point.
    dt: f64,
    phase: usize,
    loop_number: u64,
    actual: Vec<u32>,
    target: Vec<u32>,
    requests: f64,
    failures: f64,
    p50: u64,
    p95: u64,
    p99: u64,
}

impl Point {
    fn per_s(&self, n: f64) -> f64 {
        if self.dt > 0.0 {
            n / self.dt
        } else {
            0.0
        }
    }
}

/// Intervals shorter than this are folded into the previous one.
const MIN_INTERVAL_S: f64 = 0.05;

fn points(series: &[TimePoint]) -> Vec<Point> {
    let mut out: Vec<Point> = Vec::with_capacity(series.len());
    let mut previous_t = 0.0;
    for s in series {
        let t = finite(s.t).max(previous_t);
        let dt = t - previous_t;
        previous_t = t;
        // stats.rs computes rates over at least 1 ms.
        let counted = dt.max(1e-3);
        let requests = finite(s.requests_per_s).max(0.0) * counted;
        let failures = finite(s.failures_per_s).max(0.0) * counted;
        match out.last_mut() {
            Some(last) if dt < MIN_INTERVAL_S => {
                if requests > last.requests {
                    (last.p50, last.p95, last.p99) = (s.p50_ms, s.p95_ms, s.p99_ms);
                }
                last.t = t;
                last.dt += dt;
                last.requests += requests;
                last.failures += failures;
                last.actual = s.actual_users.clone();
            }
            _ => out.push(Point {
                t,
                dt: counted,
                phase: s.phase_index + 1,
                loop_number: s.loop_index + 1,
                actual: s.actual_users.clone(),
                target: s.target_users.clone(),
                requests,
                failures,
                p50: s.p50_ms,
                p95: s.p95_ms,
                p99: s.p99_ms,
            }),
        }
    }
    out
}

fn charts(out: &mut String, s: &Summary) {
    let pts = points(&s.series);
    let t_max = [
        finite(s.duration_s),
        s.phases.last().map_or(0.0, |p| finite(p.end_s)),
        pts.last().map_or(0.0, |p| p.t),
    ]
    .into_iter()
    .fold(0.0, f64::max);
    let t_max = if t_max > 0.0 { t_max } else { 1.0 };

    let users = s
        .user_types
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            // The run starts with no users.
            let start = pts.first().filter(|p| p.t > 0.0).map(|_| (0.0, 0.0));
            let actual = Line {
                label: short(c).to_string(),
                color: color(i),
                dashed: false,
                runs: vec![start
                    .into_iter()
                    .chain(
                        pts.iter()
                            .map(|p| (p.t, f64::from(p.actual.get(i).copied().unwrap_or(0)))),
                    )
                    .collect()],
            };
            let target = Line {
                label: String::new(),
                color: color(i),
                dashed: true,
                runs: vec![s
                    .phases
                    .iter()
                    .flat_map(|p| {
                        let v = f64::from(p.target_users.get(c).copied().unwrap_or(0));
                        [(finite(p.start_s), v), (finite(p.end_s), v)]
                    })
                    .collect()],
            };
            [actual, target]
        })
        .collect();
    let rate = |label: &str, color: &'static str, f: fn(&Point) -> f64| Line {
        label: label.to_string(),
        color,
        dashed: false,
        runs: vec![pts.iter().map(|p| (p.t, f(p))).collect()],
    };
    // Latency is undefined where an interval had no requests: leave a gap.
    let latency = |label: &str, color: &'static str, f: fn(&Point) -> u64| {
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for p in &pts {
            if p.requests > 0.0 {
                runs.last_mut().unwrap().push((p.t, f(p) as f64));
            } else if !runs.last().unwrap().is_empty() {
                runs.push(Vec::new());
            }
        }
        Line {
            label: label.to_string(),
            color,
            dashed: false,
            runs,
        }
    };
    out.push_str("<h2>Over time</h2>\n");
    if pts.is_empty() {
        out.push_str("<p class=\"empty\">No samples were recorded: the run ended before the first one.</p>\n");
    }
    let charts = [
        Chart {
            title: "Users",
            kind: "users",
            lines: users,
            key: "<span class=\"key\"><svg width=\"26\" height=\"8\"><line x1=\"0\" y1=\"4\" x2=\"26\" y2=\"4\" stroke=\"#52606d\" stroke-width=\"2\"/></svg>actual</span>\
                  <span class=\"key\"><svg width=\"26\" height=\"8\"><line x1=\"0\" y1=\"4\" x2=\"26\" y2=\"4\" stroke=\"#52606d\" stroke-width=\"1.6\" stroke-dasharray=\"5 3\"/></svg>target</span>",
        },
        Chart {
            title: "Requests and failures per second",
            kind: "rate",
            lines: vec![
                rate("requests/s", "#4e79a7", |p| p.per_s(p.requests)),
                rate("failures/s", "#e15759", |p| p.per_s(p.failures)),
            ],
            key: "",
        },
        Chart {
            title: "Response time per sample interval (ms)",
            kind: "latency",
            lines: vec![
                latency("p50", "#59a14f", |p| p.p50),
                latency("p95", "#f28e2b", |p| p.p95),
                latency("p99", "#e15759", |p| p.p99),
            ],
            key: "",
        },
    ];
    for chart in charts {
        draw(out, s, t_max, &chart);
    }
}

fn draw(out: &mut String, s: &Summary, t_max: f64, chart: &Chart) {
    let top = chart
        .lines
        .iter()
        .flat_map(|l| l.runs.iter().flatten())
        .map(|&(_, v)| v)
        .fold(0.0, f64::max);
    let (step, y_max) = nice_scale(top);
    let x = |t: f64| PAD_L + (t / t_max).clamp(0.0, 1.0) * PLOT_W;
    let y = |v: f64| PAD_T + PLOT_H - (v / y_max).clamp(0.0, 1.0) * PLOT_H;

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

    // Phase occurrences, in alternating bands, labelled when there is room;
    // lines between them unless there are so many that the lines would crowd.
    let boundaries = (s.phases.len() as f64) < PLOT_W / 16.0;
    for (i, p) in s.phases.iter().enumerate() {
        let (x0, x1) = (x(finite(p.start_s)), x(finite(p.end_s)));
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
        let long = occurrence(p);
        let label = if width >= 6.2 * long.len() as f64 + 6.0 {
            long
        } else if width >= 34.0 {
            format!("{}.{}", p.phase, p.loop_number)
        } else {
            continue;
        };
        let _ = writeln!(
            out,
            "<text class=\"phase\" x=\"{:.1}\" y=\"{}\">{}</text>",
            x0 + 3.0,
            PAD_T - 7.0,
            escape(&label)
        );
    }

    // Value grid and axis.
    let mut v = 0.0;
    while v <= y_max * (1.0 + 1e-9) {
        let yv = y(v);
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
    // Time axis.
    let t_step = time_step(t_max);
    let mut k = 0u64;
    loop {
        let t = k as f64 * t_step;
        if t > t_max * (1.0 + 1e-9) {
            break;
        }
        let xt = x(t);
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

    // The lines: solid ones first, dashed targets over them.
    let mut drawn = 0;
    let mut ordered: Vec<&Line> = chart.lines.iter().collect();
    ordered.sort_by_key(|l| l.dashed);
    for l in ordered {
        for run in &l.runs {
            let px: Vec<(f64, f64)> = run.iter().map(|&(t, v)| (x(t), y(v))).collect();
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
            let mut d = String::with_capacity(px.len() * 14);
            for (j, (px, py)) in px.iter().enumerate() {
                let _ = write!(d, "{}{px:.1},{py:.1}", if j == 0 { 'M' } else { 'L' });
            }
            let _ = writeln!(
                out,
                "<path class=\"{}\" stroke=\"{}\" d=\"{d}\"/>",
                if l.dashed { "target" } else { "line" },
                l.color
            );
        }
    }
    if drawn == 0 || s.series.is_empty() {
        let _ = writeln!(
            out,
            "<text class=\"nodata\" x=\"{}\" y=\"{}\">{}</text>",
            PAD_L + PLOT_W / 2.0,
            PAD_T + PLOT_H / 2.0,
            if s.series.is_empty() {
                "no samples"
            } else {
                "no requests"
            }
        );
    }
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

/// An axis label: `250`, `2.5`, `12k`, `1.5M`.
fn compact(v: f64, step: f64) -> String {
    const UNITS: [(f64, &str); 6] = [
        (1e18, "E"),
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
    ];
    for (size, unit) in UNITS {
        if v >= size {
            return format!("{}{unit}", trim(&format!("{:.2}", v / size)));
        }
    }
    if step >= 1.0 && step.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        trim(&format!("{v:.4}"))
    }
}

/// `2.50` -> `2.5`, `3.00` -> `3`.
fn trim(number: &str) -> String {
    if number.contains('.') {
        number
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        number.to_string()
    }
}

// ---------------------------------------------------------------------------
// Tooltips

/// The samples for the tooltip script, as JSON in a non-executed script element.
/// JSON can't close the element: every `<` is written as `\u003c`.
fn tooltip_data(out: &mut String, s: &Summary) {
    let pts = points(&s.series);
    let stride = pts.len().div_ceil(3000).max(1);
    let rows: Vec<serde_json::Value> = pts
        .iter()
        .step_by(stride)
        .map(|p| {
            serde_json::json!([
                round(p.t, 2),
                p.phase,
                p.loop_number,
                p.actual,
                p.target,
                round(p.per_s(p.requests), 1),
                round(p.per_s(p.failures), 1),
                p.p50,
                p.p95,
                p.p99
            ])
        })
        .collect();
    let types: Vec<&str> = s.user_types.iter().map(|c| short(c)).collect();
    let json = serde_json::json!({ "types": types, "points": rows }).to_string();
    let _ = writeln!(
        out,
        "<script type=\"application/json\" id=\"series\">{}</script>",
        json.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
    );
}

// ---------------------------------------------------------------------------
// Formatting

fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (finite(v) * k).round() / k
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The type's name as the config writes it: `NormalUser` -> `Normal`.
fn short(class: &str) -> &str {
    match class.strip_suffix("User") {
        Some(name) if !name.is_empty() => name,
        _ => class,
    }
}

/// An integer with thousands separators.
fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number with `digits` decimals and thousands separators; `–` if not finite.
fn dec(v: f64, digits: usize) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    let text = format!("{:.*}", digits, v.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let whole = match whole.parse::<u64>() {
        Ok(n) => int(n),
        Err(_) => whole.to_string(),
    };
    let sign = if v < 0.0 && text.chars().any(|c| matches!(c, '1'..='9')) {
        "-"
    } else {
        ""
    };
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

/// A count for a summary tile: exact up to a billion, then `18.45E`.
fn big(n: u64) -> String {
    if n >= 1_000_000_000 {
        compact(n as f64, 1.0)
    } else {
        int(n)
    }
}

fn ms(v: f64) -> String {
    if v >= 1e9 {
        format!("{} ms", compact(v, 1.0))
    } else if v >= 10.0 || v == 0.0 {
        format!("{} ms", dec(v, 0))
    } else {
        format!("{} ms", dec(v, 1))
    }
}

/// ` (1.5%)` when there are failures.
fn share(part: u64, of: u64) -> String {
    if part == 0 || of == 0 {
        String::new()
    } else {
        format!(" ({:.1}%)", part as f64 * 100.0 / of as f64)
    }
}

/// `1m 40s`, `2h 5m 3s`, `0.4s`.
fn duration(seconds: f64) -> String {
    let seconds = finite(seconds).max(0.0);
    if seconds < 10.0 && seconds.fract() != 0.0 {
        return format!("{seconds:.1}s");
    }
    let secs = seconds.round() as u64;
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

/// `2026-01-31T12:00:00.123Z` -> `2026-01-31 12:00:00 UTC`.
fn display_time(rfc3339: &str) -> String {
    match rfc3339.strip_suffix('Z') {
        Some(t) if t.len() >= 19 && t.is_char_boundary(19) => {
            format!("{} UTC", t[..19].replacen('T', " ", 1))
        }
        _ => rfc3339.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Style and script

const CSS: &str = r#"
:root { --fg: #1f2933; --muted: #616e7c; --line: #dde3ea; --head: #f3f5f8; --bad: #c62828; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f8fa; color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 24px; margin: 0 0 2px; }
h2 { font-size: 18px; margin: 30px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 0; }
p { margin: 6px 0; }
.meta { color: var(--muted); }
.verdict { border: 2px solid; border-radius: 6px; padding: 4px 14px 10px; margin: 16px 0; }
.verdict.good { border-color: #2e7d32; background: #f1f8f1; }
.verdict.bad { border-color: var(--bad); background: #fdf1f1; }
.verdict h2 { border: 0; margin-top: 8px; }
tr.saturated td { background: #fff4e5; }
td.good { color: #2e7d32; font-weight: 600; } td.bad { color: var(--bad); font-weight: 600; }
.meta b { color: var(--fg); }
.note, .empty, footer { color: var(--muted); font-size: 13px; }
footer { margin-top: 32px; }
.bad, .meta b.bad { color: var(--bad); }
.dim { color: #9aa5b1; }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: baseline; }
.tiles { display: grid; grid-template-columns: repeat(8, 1fr); gap: 8px; margin-top: 14px; }
.tile { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
.tile span { display: block; color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .05em; }
.tile b { font-size: 18px; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.tile.bad b { color: var(--bad); }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line);
  font-variant-numeric: tabular-nums; font-size: 13px; }
table.plan { width: auto; min-width: 50%; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; font-size: 12px; color: #3e4c59; white-space: nowrap; }
.n { text-align: right; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
tr.total td { font-weight: 600; background: var(--head); }
td.name, td.msg { word-break: break-all; }
table.names { table-layout: fixed; }
table.names th:nth-child(1) { width: 64px; }
table.names th:nth-child(2) { width: 30%; }
td.users div { white-space: nowrap; }
figure.chart { margin: 12px 0 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px 4px; }
figcaption { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 18px; margin: 0 0 2px 4px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: #3e4c59; }
.key svg { vertical-align: middle; margin-right: 5px; }
figure.chart > svg { display: block; width: 100%; height: auto; }
svg text { font-size: 11px; fill: #52606d; }
svg .band0 { fill: #e9f0f8; }
svg .band1 { fill: #f6f8fb; }
svg .boundary { stroke: #c5cfdb; stroke-width: 1; }
svg .grid { stroke: #e4e8ee; stroke-width: 1; }
svg .axis, svg .tick { stroke: #9aa5b1; stroke-width: 1; }
svg .ytick { text-anchor: end; }
svg .xtick { text-anchor: middle; }
svg .phase { fill: #3e4c59; font-size: 11px; }
svg .nodata { text-anchor: middle; fill: #7b8794; font-size: 14px; paint-order: stroke; stroke: #fff; stroke-width: 6px; stroke-linejoin: round; }
svg .line { fill: none; stroke-width: 1.8; stroke-linejoin: round; }
svg .target { fill: none; stroke-width: 1.5; stroke-dasharray: 6 4; opacity: .9; }
svg .guide { stroke: #3e4c59; stroke-width: 1; stroke-dasharray: 2 2; }
details { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; }
details > summary { cursor: pointer; padding: 6px 10px; }
details[open] > summary { border-bottom: 1px solid var(--line); }
details table { border: 0; }
.exception { background: #fff; border: 1px solid var(--line); border-left: 3px solid var(--bad); border-radius: 4px; padding: 4px 12px; margin: 8px 0; }
pre { overflow-x: auto; font-size: 12px; background: #f6f8fa; padding: 8px; border-radius: 4px; }
#tip { position: fixed; display: none; pointer-events: none; z-index: 10; white-space: pre; background: #1f2933;
  color: #fff; font-size: 12px; line-height: 1.5; padding: 6px 9px; border-radius: 4px; font-variant-numeric: tabular-nums; }
@media (max-width: 900px) { .tiles { grid-template-columns: repeat(4, 1fr); } }
"#;

const SCRIPT: &str = r#"
(function () {
  var source = document.getElementById('series');
  var tip = document.getElementById('tip');
  if (!source || !tip) return;
  var data = JSON.parse(source.textContent);
  var points = data.points || [];
  var types = data.types || [];
  function num(v, digits) {
    return Number(v).toLocaleString('en-US', { maximumFractionDigits: digits });
  }
  function text(p, kind) {
    var lines = ['t = ' + num(p[0], 1) + ' s · phase ' + p[1] + ' (loop ' + p[2] + ')'];
    if (kind === 'users') {
      for (var i = 0; i < types.length; i++) {
        if (p[3][i] || p[4][i]) lines.push(types[i] + ': ' + num(p[3][i], 0) + ' (target ' + num(p[4][i], 0) + ')');
      }
      if (lines.length === 1) lines.push('no users');
    } else if (kind === 'rate') {
      lines.push('requests/s: ' + num(p[5], 1));
      lines.push('failures/s: ' + num(p[6], 1));
    } else {
      lines.push('p50: ' + num(p[7], 0) + ' ms');
      lines.push('p95: ' + num(p[8], 0) + ' ms');
      lines.push('p99: ' + num(p[9], 0) + ' ms');
    }
    return lines.join('\n');
  }
  function nearest(t) {
    var lo = 0, hi = points.length - 1;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (points[mid][0] < t) lo = mid + 1; else hi = mid;
    }
    if (lo > 0 && t - points[lo - 1][0] < points[lo][0] - t) lo -= 1;
    return points[lo];
  }
  var charts = document.querySelectorAll('svg[data-kind]');
  Array.prototype.forEach.call(charts, function (svg) {
    var x0 = Number(svg.getAttribute('data-x0'));
    var x1 = Number(svg.getAttribute('data-x1'));
    var tmax = Number(svg.getAttribute('data-tmax'));
    var kind = svg.getAttribute('data-kind');
    var guide = svg.querySelector('.guide');
    function hide() {
      tip.style.display = 'none';
      if (guide) guide.setAttribute('visibility', 'hidden');
    }
    svg.addEventListener('mouseleave', hide);
    svg.addEventListener('mousemove', function (ev) {
      var box = svg.getBoundingClientRect();
      var vx = (ev.clientX - box.left) * svg.viewBox.baseVal.width / box.width;
      if (!points.length || vx < x0 || vx > x1 || !(tmax > 0)) { hide(); return; }
      var p = nearest((vx - x0) / (x1 - x0) * tmax);
      var gx = x0 + (x1 - x0) * Math.min(1, p[0] / tmax);
      if (guide) {
        guide.setAttribute('x1', gx);
        guide.setAttribute('x2', gx);
        guide.setAttribute('visibility', 'visible');
      }
      tip.textContent = text(p, kind);
      tip.style.display = 'block';
      var x = ev.clientX + 14, y = ev.clientY + 14;
      if (x + tip.offsetWidth > window.innerWidth - 8) x = ev.clientX - 14 - tip.offsetWidth;
      if (y + tip.offsetHeight > window.innerHeight - 8) y = ev.clientY - 14 - tip.offsetHeight;
      tip.style.left = Math.max(4, x) + 'px';
      tip.style.top = Math.max(4, y) + 'px';
    });
  });
})();
"#;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::report::summary::{PlannedPhase, Totals};
    use crate::stats::ExceptionRecord;

    fn figures(requests: u64, failures: u64, seconds: f64) -> Figures {
        Figures {
            requests,
            failures,
            requests_per_s: requests as f64 / seconds,
            mean_ms: 12.5,
            p50_ms: 10,
            p90_ms: 20,
            p95_ms: 30,
            p99_ms: 50,
            max_ms: 120,
        }
    }

    fn users(types: &[&str], counts: &[u32]) -> BTreeMap<String, u32> {
        types
            .iter()
            .map(|t| t.to_string())
            .zip(counts.iter().copied())
            .collect()
    }

    /// Two phases of 10 s, run for 25 s (so phase 1 of loop 2 too), sampled
    /// every 0.5 s, with hostile request names and a failure message.
    fn summary(with_series: bool) -> Summary {
        let types = ["AUser", "BUser"];
        let evil = RequestSummary {
            method: "GET".into(),
            name: "/search?q=<script>alert('x')</script>&next=https://evil.example/".into(),
            figures: figures(40, 2, 10.0),
        };
        let plain = RequestSummary {
            method: "POST".into(),
            name: "/cart".into(),
            figures: figures(60, 0, 10.0),
        };
        let occurrence = |phase: usize, loop_number: u64, start_s: f64, end_s: f64| {
            let target = if phase == 1 { [3, 0] } else { [2, 2] };
            PhaseSummary {
                phase,
                loop_number,
                start_s,
                end_s,
                started_at: "2026-01-01T00:00:00.000Z".into(),
                ended_at: "2026-01-01T00:00:10.000Z".into(),
                target_users: users(&types, &target),
                actual_users_end: users(&types, &target),
                actual_users_plateau: types
                    .iter()
                    .map(|t| t.to_string())
                    .zip(target.iter().map(|&n| f64::from(n)))
                    .collect(),
                restarts: 0,
                requests: vec![evil.clone(), plain.clone()],
                total: figures(100, 2, end_s - start_s),
                errors: [(
                    "GET /search: HTTPError('500 Server Error: <b>oops</b> for url: http://127.0.0.1/search')".to_string(),
                    2,
                )]
                .into_iter()
                .collect(),
                errors_count: 0,
                name: None,
                saturated: false,
            }
        };
        let phases = vec![
            occurrence(1, 1, 0.0, 10.0),
            occurrence(2, 1, 10.0, 20.0),
            occurrence(1, 2, 20.0, 25.0),
        ];
        let series = if with_series {
            (1..=50)
                .map(|i| {
                    let t = i as f64 * 0.5;
                    let (phase_index, loop_index) = match t {
                        t if t <= 10.0 => (0, 0),
                        t if t <= 20.0 => (1, 0),
                        _ => (0, 1),
                    };
                    let target = if phase_index == 0 {
                        vec![3, 0]
                    } else {
                        vec![2, 2]
                    };
                    TimePoint {
                        t,
                        phase_index,
                        loop_index,
                        target_users: target.clone(),
                        actual_users: target,
                        requests_per_s: 10.0,
                        failures_per_s: if i % 10 == 0 { 2.0 } else { 0.0 },
                        p50_ms: 10,
                        p95_ms: 30,
                        p99_ms: 50,
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Summary {
            schema_version: 1,
            started_at: "2026-01-01T00:00:00.000Z".into(),
            duration_s: 25.0,
            restarts: 0,
            user_types: types.iter().map(|t| t.to_string()).collect(),
            plan: vec![
                PlannedPhase {
                    phase: 1,
                    duration_s: 10.0,
                    hatch_rate_per_s: 10,
                    users: users(&types, &[3, 0]),
                },
                PlannedPhase {
                    phase: 2,
                    duration_s: 10.0,
                    hatch_rate_per_s: 10,
                    users: users(&types, &[2, 2]),
                },
            ],
            phases,
            total: Totals {
                requests: vec![evil, plain],
                total: figures(250, 5, 25.0),
            },
            exceptions: vec![ExceptionRecord {
                message: "ValueError: <bad> & \"worse\"".into(),
                traceback: "Traceback (most recent call last):\n  File \"locustfile.py\", line 9\nValueError: <bad>".into(),
                count: 3,
            }],
            series,
            events: Vec::new(),
            events_dropped: 0,
            thresholds: Vec::new(),
        }
    }

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain /cart/{id} ü"), "plain /cart/{id} ü");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn run_text_is_escaped() {
        let html = render(&summary(true));
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;oops&lt;/b&gt;"));
        assert!(html.contains("ValueError: &lt;bad&gt; &amp; &quot;worse&quot;"));
        // Exactly the one inline script of ours, plus the JSON data element.
        assert_eq!(html.matches("<script").count(), 2);
        assert_eq!(html.matches("</script>").count(), 2);
    }

    #[test]
    fn renders_without_samples() {
        let html = render(&summary(false));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert!(html.contains("No samples were recorded"));
        assert_eq!(html.matches("<svg viewBox").count(), 3);
        assert!(html.contains("phase 2 (loop 1)"));
        assert!(!html.contains("NaN") && !html.contains(">inf"));
    }

    #[test]
    fn renders_the_charts_tables_and_sections() {
        let html = render(&summary(true));
        assert_eq!(html.matches("<svg viewBox").count(), 3);
        for needle in [
            "phase 1 (loop 1)",
            "phase 2 (loop 1)",
            "phase 1 (loop 2)",
            "class=\"target\"",
            "<details>",
            "Whole run",
            "Failures",
            "Exceptions in the users",
            "<pre>Traceback",
            "\"types\":[\"A\",\"B\"]",
        ] {
            assert!(html.contains(needle), "missing {needle}");
        }
        assert!(!html.contains("NaN"));
    }

    #[test]
    fn loads_nothing_from_elsewhere() {
        let s = summary(true);
        let mut html = render(&s);
        // Remove the run's own (escaped) text: what is left is ours.
        let mut texts: Vec<String> = Vec::new();
        for p in &s.phases {
            texts.extend(p.errors.keys().cloned());
            texts.extend(p.requests.iter().map(|r| r.name.clone()));
        }
        texts.extend(s.exceptions.iter().map(|e| e.traceback.clone()));
        for text in texts {
            html = html.replace(&escape(&text), "");
        }
        let lower = html.to_ascii_lowercase();
        for banned in [
            "http://", "https://", "//cdn", "src=", "href=", "@import", "url(", "<link", "<iframe",
            "<img",
        ] {
            assert!(!lower.contains(banned), "found {banned}");
        }
    }

    #[test]
    fn edge_cases_render() {
        // One sample, no requests at all.
        let mut s = summary(true);
        s.series.truncate(1);
        s.series[0].requests_per_s = 0.0;
        s.total.total = figures(0, 0, 25.0);
        s.total.requests.clear();
        let html = render(&s);
        assert!(html.contains("<circle"));
        assert!(html.contains("no requests") || html.contains("<circle"));
        // Huge values and a zero-length run.
        let mut s = summary(true);
        for p in &mut s.series {
            p.requests_per_s = 1e15;
            p.p99_ms = u64::MAX;
            p.actual_users = vec![u32::MAX, 0];
        }
        s.total.total.requests = u64::MAX;
        let html = render(&s);
        assert!(html.contains("18,446,744,073,709,551,615"));
        assert!(!html.contains("NaN") && !html.contains(">inf"));
        let mut s = summary(false);
        s.duration_s = 0.0;
        s.phases.clear();
        s.total.total = figures(0, 0, 1.0);
        let html = render(&s);
        assert!(html.contains("No phase ran"));
        assert!(!html.contains("NaN"));
    }

    #[test]
    fn a_stop_sample_right_after_the_last_is_folded_in() {
        let point = |t: f64, requests_per_s: f64| TimePoint {
            t,
            phase_index: 0,
            loop_index: 0,
            target_users: vec![1],
            actual_users: vec![1],
            requests_per_s,
            failures_per_s: 0.0,
            p50_ms: 1,
            p95_ms: 1,
            p99_ms: 1,
        };
        // 50 requests over 0.5 s, then 5 in the last millisecond.
        let pts = points(&[point(0.5, 100.0), point(0.5, 5000.0)]);
        assert_eq!(pts.len(), 1);
        assert!((pts[0].per_s(pts[0].requests) - 110.0).abs() < 1.0);
    }

    #[test]
    fn scales_and_labels() {
        assert_eq!(nice_scale(0.0), (0.2, 1.0));
        assert_eq!(nice_scale(100.0), (25.0, 125.0));
        let (step, top) = nice_scale(1e300);
        assert!(step.is_finite() && top >= 1e300);
        assert_eq!(compact(2500.0, 500.0), "2.5k");
        assert_eq!(compact(3_000_000.0, 1_000_000.0), "3M");
        assert_eq!(compact(0.4, 0.2), "0.4");
        assert_eq!(compact(7.5, 2.5), "7.5");
        assert_eq!(compact(10.0, 2.5), "10");
        assert_eq!(compact(40.0, 10.0), "40");
        assert_eq!(compact(u64::MAX as f64, 1.0), "18.45E");
        assert_eq!(big(999_999_999), "999,999,999");
        assert_eq!(clock(90.0, 10.0), "90s");
        assert_eq!(clock(150.0, 30.0), "2m30s");
        assert_eq!(clock(3900.0, 300.0), "1h05m");
        assert_eq!(int(1_234_567), "1,234,567");
        assert_eq!(dec(1234.56, 1), "1,234.6");
        assert_eq!(dec(f64::NAN, 1), "–");
        assert_eq!(
            display_time("2026-01-31T12:00:00.123Z"),
            "2026-01-31 12:00:00 UTC"
        );
        assert_eq!(duration(100.0), "1m 40s");
        assert_eq!(short("NormalUser"), "Normal");
        let many: Vec<(f64, f64)> = (0..100_000)
            .map(|i| (i as f64 / 90.0, (i % 7) as f64))
            .collect();
        assert!(thin(&many).len() <= 4 * PLOT_W as usize + 4);
    }
}
