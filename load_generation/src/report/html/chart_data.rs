//! The summary's samples made ready for charts: intervals folded, turned into
//! chart lines and phase bands, and the tooltip script's data.

use std::fmt::Write as _;

use super::chart::{color, Band, Chart, Line};
use super::{occurrence, short};
use crate::fmt::finite;
use crate::report::summary::Summary;
use crate::report::summary::TimePoint;

/// One sample interval, made ready for charts: a sample taken right after the
/// previous one (the last one of a run, flushed at stop) is folded into it, so
/// that a few requests over a millisecond don't show as a spike.
#[derive(Debug, Clone)]
pub(super) struct ChartSample {
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
    /// The p99 from the intended start, where a rate phase made requests.
    p99_intended: Option<u64>,
}

impl ChartSample {
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

pub(super) fn points(series: &[TimePoint]) -> Vec<ChartSample> {
    let mut out: Vec<ChartSample> = Vec::with_capacity(series.len());
    let mut previous_t = 0.0;
    for s in series {
        let t = finite(s.t).max(previous_t);
        let dt = t - previous_t;
        previous_t = t;
        // A point's rate is over its own span (at least 0.25 s, stats::window;
        // a summary of an older loadgen may hold shorter ones): floored at 1 ms.
        let counted = dt.max(1e-3);
        let requests = finite(s.requests_per_s).max(0.0) * counted;
        let failures = finite(s.failures_per_s).max(0.0) * counted;
        match out.last_mut() {
            Some(last) if dt < MIN_INTERVAL_S => {
                if requests > last.requests {
                    (last.p50, last.p95, last.p99) = (s.p50_ms, s.p95_ms, s.p99_ms);
                    last.p99_intended = s.p99_intended_ms;
                }
                last.t = t;
                last.dt += dt;
                last.requests += requests;
                last.failures += failures;
                last.actual = s.actual_users.clone();
            }
            _ => out.push(ChartSample {
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
                p99_intended: s.p99_intended_ms,
            }),
        }
    }
    out
}

/// The end of the time axis: the run's length, or its last occurrence or
/// sample if later (never 0).
pub(super) fn t_max(s: &Summary, pts: &[ChartSample]) -> f64 {
    let t_max = [
        finite(s.duration_s),
        s.phases.last().map_or(0.0, |p| finite(p.end_s)),
        pts.last().map_or(0.0, |p| p.t),
    ]
    .into_iter()
    .fold(0.0, f64::max);
    if t_max > 0.0 {
        t_max
    } else {
        1.0
    }
}

/// The phase occurrences as the charts' background bands.
pub(super) fn bands(s: &Summary) -> Vec<Band> {
    s.phases
        .iter()
        .map(|p| Band {
            start_s: finite(p.start_s),
            end_s: finite(p.end_s),
            label: occurrence(p),
            short_label: format!("{}.{}", p.phase, p.loop_number),
        })
        .collect()
}

/// The three charts: users (actual and target per type), requests and
/// failures per second, and latency percentiles.
pub(super) fn charts(s: &Summary, pts: &[ChartSample]) -> [Chart; 3] {
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
    let rate = |label: &str, color: &'static str, f: fn(&ChartSample) -> f64| Line {
        label: label.to_string(),
        color,
        dashed: false,
        runs: vec![pts.iter().map(|p| (p.t, f(p))).collect()],
    };
    // Latency is undefined where an interval had no requests (or, from the
    // intended start, none of a rate phase): leave a gap.
    let latency = |label: &str, color: &'static str, f: fn(&ChartSample) -> Option<u64>| {
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for p in pts {
            match f(p).filter(|_| p.requests > 0.0) {
                Some(v) => runs.last_mut().unwrap().push((p.t, v as f64)),
                None if !runs.last().unwrap().is_empty() => runs.push(Vec::new()),
                None => {}
            }
        }
        Line {
            label: label.to_string(),
            color,
            dashed: false,
            runs,
        }
    };
    let mut latencies = vec![
        latency("p50", "#59a14f", |p| Some(p.p50)),
        latency("p95", "#f28e2b", |p| Some(p.p95)),
        latency("p99", "#e15759", |p| Some(p.p99)),
    ];
    // Named apart from the response times: it measures from the scheduled
    // start of each iteration, so it includes the wait for a free user.
    let intended = pts.iter().any(|p| p.p99_intended.is_some());
    if intended {
        latencies.push(latency("p99 from intended start", "#b07aa1", |p| {
            p.p99_intended
        }));
    }
    let mut rates = vec![
        rate("requests/s", "#4e79a7", |p| p.per_s(p.requests)),
        rate("failures/s", "#e15759", |p| p.per_s(p.failures)),
    ];
    if let Some(planned) = planned_rate(s) {
        rates.push(planned);
    }
    [
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
            lines: rates,
            key: "",
        },
        Chart {
            title: if intended {
                "Response time, and latency from the intended start, per sample interval (ms)"
            } else {
                "Response time per sample interval (ms)"
            },
            kind: "latency",
            lines: latencies,
            key: "",
        },
    ]
}

/// The rate the plan asks for, as the run played it: each occurrence of a
/// rate phase moves from the rate before it (0 after a phase of users) to its
/// own over its ramp, then holds it; phases of users leave a gap. Drawn
/// dashed beside the delivered requests/s, so a replayed curve (`loadgen
/// shape`) can be seen followed. `None` when no phase sets a rate.
fn planned_rate(s: &Summary) -> Option<Line> {
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    let mut before = 0.0;
    for occurrence in &s.phases {
        let planned = s.plan.iter().find(|p| p.phase == occurrence.phase);
        let Some((rate, ramp)) =
            planned.and_then(|p| Some((p.requests_per_s?, p.rate_ramp_s.unwrap_or(0.0))))
        else {
            if !runs.last().is_some_and(Vec::is_empty) {
                runs.push(Vec::new());
            }
            before = 0.0;
            continue;
        };
        let (start, end) = (finite(occurrence.start_s), finite(occurrence.end_s));
        let run = runs
            .last_mut()
            .unwrap_or_else(|| unreachable!("runs starts with one"));
        run.push((start, before));
        let ramp_end = (start + ramp).min(end);
        let reached = if ramp > 0.0 {
            before + (rate - before) * (ramp_end - start) / ramp
        } else {
            rate
        };
        run.push((ramp_end, reached));
        run.push((end, reached));
        before = reached;
    }
    runs.retain(|r| !r.is_empty());
    (!runs.is_empty()).then(|| Line {
        label: "planned iterations/s".to_string(),
        color: "#9c755f",
        dashed: true,
        runs,
    })
}

/// The samples for the tooltip script, as JSON in a non-executed script element.
/// JSON can't close the element: every `<` is written as `\u003c`.
pub(super) fn tooltip_data(out: &mut String, s: &Summary) {
    let pts = points(&s.series);
    let stride = pts.len().div_ceil(3000).max(1);
    let rows: Vec<serde_json::Value> = pts
        .iter()
        .step_by(stride)
        .map(|p| {
            let mut row = serde_json::json!([
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
            ]);
            // Only where there is one, so a run without rate phases writes
            // the rows it always did.
            if let (Some(v), Some(row)) = (p.p99_intended, row.as_array_mut()) {
                row.push(v.into());
            }
            row
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

fn round(v: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (finite(v) * k).round() / k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_sample_right_after_the_last_is_folded_in() {
        let point = |t: f64, requests_per_s: f64| TimePoint {
            t,
            seconds: 0.5,
            phase_index: 0,
            loop_index: 0,
            target_users: vec![1],
            actual_users: vec![1],
            requests_per_s,
            failures_per_s: 0.0,
            p50_ms: 1,
            p95_ms: 1,
            p99_ms: 1,
            p99_intended_ms: None,
        };
        // 50 requests over 0.5 s, then 5 in the last millisecond.
        let pts = points(&[point(0.5, 100.0), point(0.5, 5000.0)]);
        assert_eq!(pts.len(), 1);
        assert!((pts[0].per_s(pts[0].requests) - 110.0).abs() < 1.0);
    }

    #[test]
    fn the_intended_p99_is_a_line_of_its_own_with_gaps_where_none() {
        let s = crate::report::fixture::rate_summary();
        let pts = points(&s.series);
        let [_, _, latency] = charts(&s, &pts);
        let labels: Vec<&str> = latency.lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["p50", "p95", "p99", "p99 from intended start"]);
        assert!(latency.title.contains("intended start"));
        // Phase 2 (10-20 s) alone ran at a rate: one run, over its samples.
        let line = &latency.lines[3];
        let drawn: Vec<_> = line.runs.iter().filter(|r| !r.is_empty()).collect();
        assert_eq!(drawn.len(), 1, "{:?}", line.runs);
        assert!(drawn[0]
            .iter()
            .all(|&(t, v)| (10.0..=20.0).contains(&t) && v == 1900.0));
        // Without a rate phase, the chart is as it was.
        let plain = crate::report::fixture::summary(true);
        let [_, _, latency] = charts(&plain, &points(&plain.series));
        assert_eq!(latency.lines.len(), 3);
        assert_eq!(latency.title, "Response time per sample interval (ms)");
    }

    #[test]
    fn the_planned_rate_is_drawn_dashed_with_its_ramp_and_gaps_for_users() {
        let mut s = crate::report::fixture::rate_summary();
        s.plan[1].rate_ramp_s = Some(4.0);
        let [_, rate, _] = charts(&s, &points(&s.series));
        let planned = rate
            .lines
            .iter()
            .find(|l| l.label == "planned iterations/s")
            .unwrap();
        assert!(planned.dashed);
        // Phase 1 (users) leaves no line; phase 2 (10-20 s) ramps from 0 to
        // 40 over 4 s, then holds.
        assert_eq!(
            planned.runs,
            vec![vec![(10.0, 0.0), (14.0, 40.0), (20.0, 40.0)]]
        );
        let plain = crate::report::fixture::summary(true);
        let [_, rate, _] = charts(&plain, &points(&plain.series));
        assert_eq!(rate.lines.len(), 2);
    }
}
