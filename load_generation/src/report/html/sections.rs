//! The page's sections, one function each, in page order.
//!
//! Written with `write!` and [`escape`] rather than a template crate such as
//! askama. Tried and set aside: most of each section is loops over the run's
//! rows with per-cell classes and number formats, which in a template become
//! `{% for %}`/`{% if %}` with filters for every figure, and askama's whitespace
//! handling would change the page's bytes (the tests compare pages); a proc-macro
//! crate adds build time on every machine for about 400 lines of markup. The
//! escaping discipline is kept instead by having one [`escape`] and tests that
//! feed hostile names through every section (`run_text_is_escaped`,
//! `loads_nothing_from_elsewhere` in `mod.rs`, `tests/e2e/report.rs` in Chromium).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::chart::{self, color};
use super::{chart_data, escape, occurrence, short};
use crate::fmt::{big, dec, dec_or_dash, duration, int, ms, plural, share};
use crate::plan::Arrival;
use crate::report::summary::{PhaseSummary, PlannedPhase, RequestSummary, Summary};
use crate::stats::{Ended, Figures};

/// How a run that did not complete ended: its figures stop there.
pub(super) fn ending(out: &mut String, s: &Summary) {
    let (title, note) = match s.ended {
        Ended::Completed => return,
        Ended::Error => ("The run ended in an error", "Its figures stop where the error stopped it."),
        Ended::Interrupted => ("The run was stopped by a signal", "Its figures stop at the signal."),
        Ended::StoppedEarly => ("The run was stopped early", "Its figures stop there."),
        Ended::Running => (
            "A checkpoint of a run still going",
            "loadgen did not end this run here (it was killed, or still runs): the figures are those of its last checkpoint.",
        ),
    };
    let reason = s
        .ended_reason
        .as_ref()
        .map_or(String::new(), |r| format!("<pre>{}</pre>\n", escape(r)));
    let _ = write!(
        out,
        "<section class=\"verdict bad\" id=\"ending\">\n<h2>{title}</h2>\n<p>ended: <code>{}</code> after {}. {note}</p>\n{reason}</section>\n",
        s.ended.as_str(),
        escape(&duration(s.duration_s))
    );
}

/// The verdict box: every threshold with its measured value, failures first.
pub(super) fn verdict(out: &mut String, s: &Summary) {
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
pub(super) fn events(out: &mut String, s: &Summary) {
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

pub(super) fn header(out: &mut String, s: &Summary, started: &str, title: &str) {
    let _ = write!(
        out,
        "<header>\n<h1>{}</h1>\n<p class=\"meta\">Started <b>{}</b> · ran <b>{}</b> \
         · <b{}>{} restart{}</b> · {} phase occurrence{} · user types: {}</p>\n",
        escape(title),
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
    let t = &s.total.counted.total;
    out.push_str("<div class=\"tiles\">\n");
    let tiles = [
        ("requests", big(t.requests), ""),
        (
            "failures",
            format!("{}{}", big(t.failures), share(t.failures, t.requests)),
            if t.failures > 0 { " bad" } else { "" },
        ),
        ("requests/s", dec_or_dash(t.requests_per_s, 1), ""),
        ("mean", ms(t.mean_ms), ""),
        ("p50", ms(t.p50_ms as f64), ""),
        ("p95", ms(t.p95_ms as f64), ""),
        ("p99", ms(t.p99_ms as f64), ""),
        ("max", ms(t.max_ms as f64), ""),
    ];
    // A rate phase's figures, named apart from the response times above.
    let rate_tiles = s.has_rate_figures().then(|| {
        let dropped = s.total.counted.dropped_iterations;
        [
            (
                "p99 from intended start",
                t.intended.map_or("–".to_string(), |i| ms(i.p99_ms as f64)),
                "",
            ),
            (
                "dropped iterations",
                big(dropped),
                if dropped > 0 { " bad" } else { "" },
            ),
        ]
    });
    for (label, value, class) in tiles.into_iter().chain(rate_tiles.into_iter().flatten()) {
        let _ = writeln!(
            out,
            "<div class=\"tile{class}\"><span>{label}</span><b>{}</b></div>",
            escape(&value)
        );
    }
    out.push_str("</div>\n</header>\n");
}

pub(super) fn plan(out: &mut String, s: &Summary) {
    let cycle: f64 = s.plan.iter().map(|p| p.duration_s).sum();
    let _ = write!(
        out,
        "<h2>Plan</h2>\n<p class=\"note\">{} phase{}, one loop every {}; the phases loop until the run time is spent.</p>\n\
         <table class=\"plan\">\n<thead><tr><th>phase</th><th class=\"n\">duration</th><th class=\"n\">hatch rate</th>",
        s.plan.len(),
        plural(s.plan.len() as u64),
        escape(&duration(cycle))
    );
    // A rate phase's users are its pool (the users its iterations run on);
    // its rate is a column of its own.
    let rates = s.plan.iter().any(|p| p.requests_per_s.is_some());
    if rates {
        out.push_str("<th class=\"n\">iterations/s</th>");
    }
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
        if rates {
            plan_rate_cell(out, p);
        }
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

/// A planned phase's rate and arrivals (`40.0 poisson`), or `–` for a phase
/// of users.
fn plan_rate_cell(out: &mut String, p: &PlannedPhase) {
    let Some(per_s) = p.requests_per_s else {
        out.push_str("<td class=\"n dim\">–</td>");
        return;
    };
    let arrival = match p.arrival {
        Some(Arrival::Poisson) => " poisson",
        Some(Arrival::Uniform) => " uniform",
        None => "",
    };
    let _ = write!(out, "<td class=\"n\">{}{arrival}</td>", dec(per_s, 1));
}

/// Users, request rate and latency over time, over the phase occurrences.
pub(super) fn charts(out: &mut String, s: &Summary) {
    out.push_str("<h2>Over time</h2>\n");
    let pts = chart_data::points(&s.series);
    if pts.is_empty() {
        out.push_str("<p class=\"empty\">No samples were recorded: the run ended before the first one.</p>\n");
    }
    let t_max = chart_data::t_max(s, &pts);
    let bands = chart_data::bands(s);
    // Events are marked on the first chart (users), where what they did shows.
    for (i, chart) in chart_data::charts(s, &pts).iter().enumerate() {
        let events = if i == 0 { &s.events[..] } else { &[] };
        chart::draw(out, chart, &bands, events, t_max, !s.series.is_empty());
    }
}

pub(super) fn occurrences(out: &mut String, s: &Summary) {
    out.push_str("<h2>Phase occurrences</h2>\n");
    if s.phases.is_empty() {
        out.push_str("<p class=\"empty\">No phase ran.</p>\n");
        return;
    }
    let restarts = s.restarts > 0 || s.phases.iter().any(|p| p.counted.restarts > 0);
    out.push_str(
        "<p class=\"note\">Users per type: target / mean once ramped (plateau) / at the end of the occurrence.</p>\n\
         <table class=\"phases\">\n<thead><tr><th>occurrence</th><th class=\"n\">time (s)</th>",
    );
    out.push_str(FIGURE_HEADERS);
    let rate = s.has_rate_figures();
    if rate {
        out.push_str(INTENDED_HEADER);
        out.push_str(DROPPED_HEADER);
    }
    out.push_str("<th>users: target / plateau / end</th>");
    if restarts {
        out.push_str("<th class=\"n\">restarts</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for p in &s.phases {
        // A saturated occurrence's figures are the generator's limit: flagged.
        let (row, mut flag) = if p.saturated {
            (
                " class=\"saturated\"",
                " <b class=\"bad\" title=\"Locust was CPU-bound: less load than planned, latencies unreliable\">saturated</b>".to_string(),
            )
        } else {
            ("", String::new())
        };
        if p.too_short {
            flag.push_str(" <b title=\"a control action or a reload ended it within a second: its counts stand, its rates would be noise\">too short to measure</b>");
        }
        // Less than its users and waits imply was delivered: how much.
        if let Some(d) = p.delivery.filter(|_| p.short) {
            let _ = write!(
                flag,
                " <b class=\"bad\" title=\"delivered {:.1} of the {:.1} req/s its users and waits imply\">short {:.0}%</b>",
                d.delivered_requests_per_s,
                d.planned_requests_per_s,
                d.delivered_ratio * 100.0
            );
        }
        let _ = write!(
            out,
            "<tr{row}><td>{}{flag}</td><td class=\"n\">{}</td>{}{}<td class=\"users\">",
            occurrence(p),
            span(p),
            figure_cells(&p.counted.total),
            if rate {
                rate_cells(&p.counted.total, Some(p.counted.dropped_iterations))
            } else {
                String::new()
            }
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
                if p.counted.restarts > 0 { " bad" } else { "" },
                p.counted.restarts
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

pub(super) fn per_name(out: &mut String, s: &Summary) {
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
            p.counted.requests.len(),
            plural(p.counted.requests.len() as u64),
            int(p.counted.total.requests),
            plural(p.counted.total.requests),
            if p.counted.total.failures > 0 {
                format!(
                    " · <span class=\"bad\">{} failure{}</span>",
                    int(p.counted.total.failures),
                    plural(p.counted.total.failures)
                )
            } else {
                String::new()
            }
        );
        request_table(
            out,
            &p.counted.requests,
            &p.counted.total,
            s.has_rate_figures(),
        );
        out.push_str("</details>\n");
    }
}

pub(super) fn whole_run(out: &mut String, s: &Summary) {
    let _ = writeln!(
        out,
        "<h2>Whole run</h2>\n<p class=\"note\">All {} of the run, per request name.</p>",
        escape(&duration(s.duration_s))
    );
    request_table(
        out,
        &s.total.counted.requests,
        &s.total.counted.total,
        s.has_rate_figures(),
    );
}

/// A row per request name and one for all; with `rate`, the p99 from the
/// intended start too (dropped iterations have no name: they are per occurrence).
fn request_table(out: &mut String, requests: &[RequestSummary], total: &Figures, rate: bool) {
    out.push_str("<table class=\"names\">\n<thead><tr><th>method</th><th>name</th>");
    out.push_str(FIGURE_HEADERS);
    if rate {
        out.push_str(INTENDED_HEADER);
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let rate_cell = |f: &Figures| {
        if rate {
            rate_cells(f, None)
        } else {
            String::new()
        }
    };
    for r in requests {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"name\">{}</td>{}{}</tr>",
            escape(&r.method),
            escape(&r.name),
            figure_cells(&r.figures),
            rate_cell(&r.figures)
        );
    }
    let _ = writeln!(
        out,
        "<tr class=\"total\"><td></td><td>all requests</td>{}{}</tr>",
        figure_cells(total),
        rate_cell(total)
    );
    out.push_str("</tbody>\n</table>\n");
}

pub(super) fn failures(out: &mut String, s: &Summary) {
    out.push_str("<h2>Failures</h2>\n");
    // message -> (count, the occurrences it happened in)
    let mut all: BTreeMap<&str, (u64, Vec<String>)> = BTreeMap::new();
    for p in &s.phases {
        for (message, &count) in &p.counted.errors {
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

pub(super) fn exceptions(out: &mut String, s: &Summary) {
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
        dec_or_dash(f.requests_per_s, 1),
        dec(f.mean_ms, 1),
        int(f.p50_ms),
        int(f.p90_ms),
        int(f.p95_ms),
        int(f.p99_ms),
        int(f.max_ms)
    )
}

/// The columns a rate phase adds, named apart from the response times: the
/// p99 measured from each iteration's scheduled start, not from the request's,
/// and the iterations never sent.
const INTENDED_HEADER: &str = "<th class=\"n\" title=\"latency from each iteration&#39;s scheduled start, waiting for a free user included\">p99 from intended start</th>";
const DROPPED_HEADER: &str = "<th class=\"n\" title=\"iterations no user could start within 1 s of their time: never sent\">dropped</th>";

/// The p99 from the intended start (`–` where there were no such requests)
/// and, with `dropped`, the dropped iterations (`–` too for a span with
/// neither: a phase of users).
fn rate_cells(f: &Figures, dropped: Option<u64>) -> String {
    let p99 = f.intended.map_or("–".to_string(), |i| int(i.p99_ms));
    let mut out = format!("<td class=\"n\">{p99}</td>");
    if let Some(dropped) = dropped {
        let cell = if f.intended.is_none() && dropped == 0 {
            "<td class=\"n dim\">–</td>".to_string()
        } else {
            format!(
                "<td class=\"n{}\">{}</td>",
                if dropped > 0 { " bad" } else { "" },
                int(dropped)
            )
        };
        out.push_str(&cell);
    }
    out
}

fn span(p: &PhaseSummary) -> String {
    format!("{}–{}", dec(p.start_s, 1), dec(p.end_s, 1))
}
